package dns

import (
	"net/netip"
	"slices"
	"testing"

	mdns "github.com/miekg/dns"
	"github.com/rs/zerolog"

	"github.com/netctl/netctl/model"
)

// Dual stack: x and y on the dual-stack network d, v on the IPv4-only
// network e (with y). Answers are built without sockets. Containers ask
// over IPv4 (the server listens on the IPv4 gateways) for both families.
func dualStackServer(t *testing.T) *Server {
	t.Helper()
	d := &model.DNS{
		Project: "p",
		Networks: []model.DNSNetwork{
			{ID: "p/d", Subnet: netip.MustParsePrefix("10.250.1.0/24"), SubnetV6: netip.MustParsePrefix("fd00:1::/64"),
				Gateway: ip("10.250.1.1"), Records: []model.DNSRecord{
					{Container: "x", Addr: ip("10.250.1.2"), Names: []string{"x", "x-host", "db"}},
					{Container: "x", Addr: ip("fd00:1::2"), Names: []string{"x", "x-host", "db"}},
					{Container: "y", Addr: ip("10.250.1.3"), Names: []string{"y"}},
					{Container: "y", Addr: ip("fd00:1::3"), Names: []string{"y"}},
				}},
			{ID: "p/e", Subnet: netip.MustParsePrefix("10.250.2.0/24"), Gateway: ip("10.250.2.1"), Records: []model.DNSRecord{
				{Container: "v", Addr: ip("10.250.2.4"), Names: []string{"v"}},
				{Container: "y", Addr: ip("10.250.2.3"), Names: []string{"y"}},
			}},
		},
		Clients: []model.DNSClient{
			{Container: "v", Addrs: []netip.Addr{ip("10.250.2.4")}, Networks: []string{"p/e"}},
			{Container: "x", Addrs: []netip.Addr{ip("10.250.1.2"), ip("fd00:1::2")}, Networks: []string{"p/d"}},
			{Container: "y", Addrs: []netip.Addr{ip("10.250.1.3"), ip("10.250.2.3"), ip("fd00:1::3")}, Networks: []string{"p/d", "p/e"}},
		},
	}
	s := New(Options{Log: zerolog.Nop()})
	t.Cleanup(s.Close)
	snap, _ := build(Config{Projects: []Project{{DNS: d}}}, 53, zerolog.Nop())
	s.snap.Store(snap)
	return s
}

func localAnswer(t *testing.T, s *Server, src, name string, qtype uint16) (rcode int, out []string, local bool) {
	t.Helper()
	r := new(mdns.Msg)
	r.SetQuestion(mdns.Fqdn(name), qtype)
	// Asked on the listener of the source's network (its gateway).
	var k listenKey
	for key, scope := range s.snap.Load().scopes {
		if scope[ip(src)] != nil {
			k = key
		}
	}
	m, _, _ := s.local(r, k, ip(src))
	if m == nil {
		return 0, nil, false
	}
	out = answers(m)
	slices.Sort(out)
	return m.Rcode, out, true
}

func TestAAAAAndIP6ARPA(t *testing.T) {
	s := dualStackServer(t)
	rev := func(a string) string {
		n, err := mdns.ReverseAddr(a)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	cases := []struct {
		from, name string
		qtype      uint16
		rcode      int
		want       []string
		forwarded  bool
	}{
		{"10.250.1.3", "x", mdns.TypeAAAA, mdns.RcodeSuccess, []string{"fd00:1::2"}, false},
		{"10.250.1.3", "db", mdns.TypeAAAA, mdns.RcodeSuccess, []string{"fd00:1::2"}, false},   // alias
		{"10.250.1.3", "x-host", mdns.TypeA, mdns.RcodeSuccess, []string{"10.250.1.2"}, false}, // A stays IPv4
		{"10.250.1.3", "x", mdns.TypeANY, mdns.RcodeSuccess, []string{"10.250.1.2", "fd00:1::2"}, false},
		{"10.250.1.2", "y", mdns.TypeAAAA, mdns.RcodeSuccess, []string{"fd00:1::3"}, false}, // only d's addresses
		{"10.250.2.4", "y", mdns.TypeAAAA, mdns.RcodeSuccess, nil, false},                   // on e, y has no IPv6: NODATA
		{"10.250.2.4", "x", mdns.TypeAAAA, 0, nil, true},                                    // scoping: v does not share d
		{"10.250.1.3", rev("fd00:1::2"), mdns.TypePTR, mdns.RcodeSuccess, []string{"db.", "x-host.", "x."}, false},
		{"10.250.1.3", rev("fd00:1::99"), mdns.TypePTR, mdns.RcodeNameError, nil, false}, // in the zone, nobody
		{"10.250.2.4", rev("fd00:1::2"), mdns.TypePTR, 0, nil, true},                     // not v's network
		{"10.250.1.3", rev("fd00:9::2"), mdns.TypePTR, 0, nil, true},                     // elsewhere: upstream
	}
	for _, c := range cases {
		rcode, got, local := localAnswer(t, s, c.from, c.name, c.qtype)
		if local == c.forwarded {
			t.Errorf("%s %s from %s: answered locally %v, want %v", mdns.TypeToString[c.qtype], c.name, c.from, local, !c.forwarded)
			continue
		}
		if !local {
			continue
		}
		if rcode != c.rcode || !slices.Equal(got, c.want) {
			t.Errorf("%s %s from %s: rcode %d %v, want %d %v", mdns.TypeToString[c.qtype], c.name, c.from, rcode, got, c.rcode, c.want)
		}
	}
}

func TestReverseAddr6(t *testing.T) {
	for _, a := range []string{"fd00:1::2", "fdab:cdef:1234:5678:9abc:def0:1234:5678", "::1"} {
		name, _ := mdns.ReverseAddr(a)
		got, ok := reverseAddr(normalize(name))
		if !ok || got != ip(a) {
			t.Errorf("%s: %v %v", name, got, ok)
		}
	}
	for _, bad := range []string{"2.ip6.arpa", "g.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa",
		"2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.f.ip6.arpa"} {
		if _, ok := reverseAddr(bad); ok {
			t.Errorf("%s parsed", bad)
		}
	}
}
