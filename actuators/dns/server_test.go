package dns

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/rs/zerolog"

	"github.com/netctl/netctl/model"
)

// The in-process server listens on 127.0.0.1 with no bridge; containers
// are loopback addresses a client binds to (all of 127/8 is local), so the
// source-address scoping is exercised exactly as on a bridge.

var (
	netA = netip.MustParsePrefix("127.1.0.0/16")
	netB = netip.MustParsePrefix("127.2.0.0/16")
	netC = netip.MustParsePrefix("127.3.0.0/16")
)

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

// topology: x on a; y on a and b; z on b and c; w on c. x and y share the
// alias "shared" on a; x links to z as "ally".
func testConfig(upstreams ...netip.AddrPort) Config {
	rec := func(c, a string, names ...string) model.DNSRecord {
		return model.DNSRecord{Container: c, Addr: ip(a), Names: append([]string{c}, names...)}
	}
	d := &model.DNS{
		Project: "p",
		Networks: []model.DNSNetwork{
			{ID: "p/a", Subnet: netA, Gateway: ip("127.0.0.1"), Records: []model.DNSRecord{
				rec("x", "127.1.0.2", "x-host", "shared"), rec("y", "127.1.0.3", "shared")}},
			{ID: "p/b", Subnet: netB, Gateway: ip("127.0.0.1"), Records: []model.DNSRecord{
				rec("y", "127.2.0.3"), rec("z", "127.2.0.4")}},
			{ID: "p/c", Subnet: netC, Gateway: ip("127.0.0.1"), Records: []model.DNSRecord{
				rec("z", "127.3.0.4"), rec("w", "127.3.0.5")}},
		},
		Clients: []model.DNSClient{
			{Container: "w", Addrs: []netip.Addr{ip("127.3.0.5")}, Networks: []string{"p/c"}, Upstreams: upstreams},
			{Container: "x", Addrs: []netip.Addr{ip("127.1.0.2")}, Networks: []string{"p/a"}, Upstreams: upstreams,
				Links: []model.DNSRecord{{Container: "z", Addr: ip("127.2.0.4"), Names: []string{"ally"}}}},
			{Container: "y", Addrs: []netip.Addr{ip("127.1.0.3"), ip("127.2.0.3")}, Networks: []string{"p/a", "p/b"}, Upstreams: upstreams},
			{Container: "z", Addrs: []netip.Addr{ip("127.2.0.4"), ip("127.3.0.4")}, Networks: []string{"p/b", "p/c"}, Upstreams: upstreams},
		},
	}
	return Config{Projects: []Project{{DNS: d, Hash: "h1"}}}
}

// freePort finds a port free for both UDP and TCP on 127.0.0.1.
func freePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		pc.Close()
		ln, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			ln.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

type testServer struct {
	*Server
	addr string
}

func startServer(t *testing.T, cfg Config, timeout time.Duration) *testServer {
	t.Helper()
	port := freePort(t)
	s := New(Options{Port: port, ForwardTimeout: timeout, Log: zerolog.Nop()})
	t.Cleanup(s.Close)
	st := s.Reload(cfg)
	for p, ps := range st.Projects {
		if len(ps.Problems) > 0 {
			t.Fatalf("project %s: %v", p, ps.Problems)
		}
	}
	return &testServer{Server: s, addr: fmt.Sprintf("127.0.0.1:%d", port)}
}

// query asks the server from src.
func query(t *testing.T, server, netw, src, name string, qtype uint16) *mdns.Msg {
	t.Helper()
	m, err := tryQuery(server, netw, src, name, qtype)
	if err != nil {
		t.Fatalf("%s %s from %s: %v", netw, name, src, err)
	}
	return m
}

func tryQuery(server, netw, src, name string, qtype uint16) (*mdns.Msg, error) {
	var local net.Addr = &net.UDPAddr{IP: net.ParseIP(src)}
	if netw == "tcp" {
		local = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	c := &mdns.Client{Net: netw, Timeout: 5 * time.Second, Dialer: &net.Dialer{LocalAddr: local, Timeout: 5 * time.Second}}
	m := new(mdns.Msg)
	m.SetQuestion(mdns.Fqdn(name), qtype)
	r, _, err := c.Exchange(m, server)
	return r, err
}

func answers(m *mdns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		switch rr := rr.(type) {
		case *mdns.A:
			out = append(out, rr.A.String())
		case *mdns.AAAA:
			out = append(out, rr.AAAA.String())
		case *mdns.PTR:
			out = append(out, rr.Ptr)
		}
	}
	return out
}

// fakeUpstream is a resolver standing in for the host's: ext.test has
// one address, big.test sixty (more than 512 bytes), anything else
// NXDOMAIN. It counts the queries it gets.
type fakeUpstream struct {
	addr    netip.AddrPort
	queries atomic.Int64
}

func startUpstream(t *testing.T) *fakeUpstream {
	t.Helper()
	f := &fakeUpstream{}
	port := freePort(t)
	f.addr = netip.AddrPortFrom(ip("127.0.0.1"), uint16(port))
	h := mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		f.queries.Add(1)
		m := new(mdns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		switch strings.ToLower(q.Name) {
		case "ext.test.":
			m.Answer = append(m.Answer, &mdns.A{Hdr: header(q.Name, mdns.TypeA), A: net.IPv4(192, 0, 2, 1)})
		case "big.test.":
			for i := range 60 {
				m.Answer = append(m.Answer, &mdns.A{Hdr: header(q.Name, mdns.TypeA), A: net.IPv4(192, 0, 2, byte(i+1))})
			}
		default:
			m.Rcode = mdns.RcodeNameError
		}
		if _, ok := w.LocalAddr().(*net.UDPAddr); ok {
			m.Truncate(udpSize(r))
		}
		_ = w.WriteMsg(m)
	})
	for _, netw := range []string{"udp", "tcp"} {
		srv := &mdns.Server{Addr: f.addr.String(), Net: netw, Handler: h}
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ListenAndServe() }()
		<-started
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return f
}

func TestScopingAcrossThreeNetworks(t *testing.T) {
	up := startUpstream(t)
	s := startServer(t, testConfig(up.addr), 2*time.Second)
	cases := []struct {
		from, name string
		want       []string // nil: not a local name (forwarded: NXDOMAIN)
	}{
		{"127.1.0.2", "y", []string{"127.1.0.3"}},              // x sees y on a only
		{"127.1.0.2", "z", nil},                                // x shares no network with z
		{"127.1.0.2", "w", nil},                                //
		{"127.1.0.2", "x-host", []string{"127.1.0.2"}},         // hostname
		{"127.1.0.2", "X.", []string{"127.1.0.2"}},             // case-insensitive
		{"127.1.0.3", "z", []string{"127.2.0.4"}},              // y sees z on b
		{"127.1.0.3", "w", nil},                                // but not w on c
		{"127.2.0.3", "x", []string{"127.1.0.2"}},              // from y's other address: same view
		{"127.2.0.4", "y", []string{"127.2.0.3"}},              // z sees y on b
		{"127.3.0.4", "w", []string{"127.3.0.5"}},              // and w on c
		{"127.2.0.4", "x", nil},                                // not x
		{"127.3.0.5", "z", []string{"127.3.0.4"}},              // w sees z on c only
		{"127.1.0.2", "ally", []string{"127.2.0.4"}},           // x's link alias
		{"127.1.0.3", "ally", nil},                             // only x sees it
		{"127.3.0.4", "y", []string{"127.2.0.3"}},              //
		{"127.1.0.3", "y", []string{"127.1.0.3", "127.2.0.3"}}, // itself, on both networks
	}
	for _, c := range cases {
		for _, netw := range []string{"udp", "tcp"} {
			m := query(t, s.addr, netw, c.from, c.name, mdns.TypeA)
			got := answers(m)
			if c.want == nil {
				if m.Rcode != mdns.RcodeNameError || len(got) > 0 {
					t.Errorf("%s from %s (%s): %s %v, want NXDOMAIN from the upstream", c.name, c.from, netw, mdns.RcodeToString[m.Rcode], got)
				}
				continue
			}
			if m.Rcode != mdns.RcodeSuccess || !m.Authoritative || !sameSet(got, c.want) {
				t.Errorf("%s from %s (%s): %s aa=%v %v, want %v", c.name, c.from, netw, mdns.RcodeToString[m.Rcode], m.Authoritative, got, c.want)
			}
		}
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, x := range a {
		seen[x]++
	}
	for _, x := range b {
		seen[x]--
	}
	for _, n := range seen {
		if n != 0 {
			return false
		}
	}
	return true
}

func TestRoundRobin(t *testing.T) {
	s := startServer(t, testConfig(), time.Second)
	firsts := map[string]int{}
	for range 10 {
		got := answers(query(t, s.addr, "udp", "127.1.0.2", "shared", mdns.TypeA))
		if !sameSet(got, []string{"127.1.0.2", "127.1.0.3"}) {
			t.Fatalf("shared = %v", got)
		}
		firsts[got[0]]++
	}
	if firsts["127.1.0.2"] != 5 || firsts["127.1.0.3"] != 5 {
		t.Errorf("first answers %v, want each address first half the time", firsts)
	}
}

func TestPTRAndOtherTypes(t *testing.T) {
	up := startUpstream(t)
	s := startServer(t, testConfig(up.addr), time.Second)
	m := query(t, s.addr, "udp", "127.1.0.2", "3.0.1.127.in-addr.arpa", mdns.TypePTR)
	if got := answers(m); !sameSet(got, []string{"y.", "shared."}) || !m.Authoritative {
		t.Errorf("PTR of y from x = %v, want y. and shared.", got)
	}
	// In x's subnet but nobody's: authoritative NXDOMAIN, not asked upstream.
	before := up.queries.Load()
	m = query(t, s.addr, "udp", "127.1.0.2", "99.0.1.127.in-addr.arpa", mdns.TypePTR)
	if m.Rcode != mdns.RcodeNameError || !m.Authoritative || up.queries.Load() != before {
		t.Errorf("PTR of an unused address in x's subnet: %s aa=%v, upstream asked %d times",
			mdns.RcodeToString[m.Rcode], m.Authoritative, up.queries.Load()-before)
	}
	// w's address is on a network x is not on: not answered locally.
	m = query(t, s.addr, "udp", "127.1.0.2", "5.0.3.127.in-addr.arpa", mdns.TypePTR)
	if len(answers(m)) != 0 {
		t.Errorf("PTR of w from x = %v, want nothing (other network)", answers(m))
	}
	// AAAA of a container name: the name exists, with no IPv6 address.
	before = up.queries.Load()
	m = query(t, s.addr, "udp", "127.1.0.2", "y", mdns.TypeAAAA)
	if m.Rcode != mdns.RcodeSuccess || len(m.Answer) != 0 || up.queries.Load() != before {
		t.Errorf("AAAA y = %s %v, want NOERROR with no data, not forwarded", mdns.RcodeToString[m.Rcode], m.Answer)
	}
	// Unknown source: refused, nothing forwarded (no open resolver).
	m = query(t, s.addr, "udp", "127.9.9.9", "ext.test", mdns.TypeA)
	if m.Rcode != mdns.RcodeRefused {
		t.Errorf("query from a stranger: %s, want REFUSED", mdns.RcodeToString[m.Rcode])
	}
}

func TestForwardingAndTruncation(t *testing.T) {
	up := startUpstream(t)
	s := startServer(t, testConfig(up.addr), 2*time.Second)
	for _, netw := range []string{"udp", "tcp"} {
		m := query(t, s.addr, netw, "127.1.0.2", "ext.test", mdns.TypeA)
		if got := answers(m); len(got) != 1 || got[0] != "192.0.2.1" || m.Authoritative {
			t.Errorf("%s ext.test = %v aa=%v, want 192.0.2.1 from the upstream", netw, got, m.Authoritative)
		}
	}
	m := query(t, s.addr, "udp", "127.1.0.2", "big.test", mdns.TypeA)
	if !m.Truncated {
		t.Errorf("big.test over UDP: TC not set (%d answers)", len(m.Answer))
	}
	m = query(t, s.addr, "tcp", "127.1.0.2", "big.test", mdns.TypeA)
	if m.Truncated || len(m.Answer) != 60 {
		t.Errorf("big.test over TCP: tc=%v %d answers, want 60", m.Truncated, len(m.Answer))
	}
	// With EDNS0 and a large buffer, UDP carries it all.
	c := &mdns.Client{Net: "udp", Dialer: &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP("127.1.0.2")}}}
	q := new(mdns.Msg)
	q.SetQuestion("big.test.", mdns.TypeA)
	q.SetEdns0(4096, false)
	m, _, err := c.Exchange(q, s.addr)
	if err != nil || m.Truncated || len(m.Answer) != 60 {
		t.Errorf("big.test with EDNS0 4096: err=%v tc=%v", err, m != nil && m.Truncated)
	}
}

func TestUpstreamDownIsAQuickServfail(t *testing.T) {
	// A port nobody listens on (refused at once) and a blackhole that
	// reads and never answers.
	closed := netip.AddrPortFrom(ip("127.0.0.1"), uint16(freePort(t)))
	hole, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	holeAddr := netip.MustParseAddrPort(hole.LocalAddr().String())
	const budget = 800 * time.Millisecond
	s := startServer(t, testConfig(closed, holeAddr), budget)
	start := time.Now()
	m := query(t, s.addr, "udp", "127.1.0.2", "ext.test", mdns.TypeA)
	took := time.Since(start)
	if m.Rcode != mdns.RcodeServerFailure {
		t.Errorf("rcode %s, want SERVFAIL", mdns.RcodeToString[m.Rcode])
	}
	if took > budget+500*time.Millisecond {
		t.Errorf("SERVFAIL took %s, want within the %s budget", took, budget)
	}
}

func TestReloadUnderLoadDropsNothing(t *testing.T) {
	up := startUpstream(t)
	cfg := testConfig(up.addr)
	s := startServer(t, cfg, 2*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			netw := []string{"udp", "tcp"}[w%2]
			for ctx.Err() == nil {
				m, err := tryQuery(s.addr, netw, "127.1.0.2", "y", mdns.TypeA)
				if err != nil || len(answers(m)) != 1 {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%s: %v %v", netw, err, m))
					continue
				}
				ok.Add(1)
			}
		}()
	}
	// Reload again and again: alternately with and without a new
	// container; the listener on 127.0.0.1 is wanted throughout.
	for i := 0; ctx.Err() == nil; i++ {
		next := testConfig(up.addr)
		if i%2 == 0 {
			n := &next.Projects[0].DNS.Networks[0]
			n.Records = append(n.Records, model.DNSRecord{Container: "new", Addr: ip("127.1.0.9"), Names: []string{"new"}})
		}
		next.Projects[0].Hash = fmt.Sprint(i)
		s.Reload(next)
		time.Sleep(5 * time.Millisecond)
	}
	wg.Wait()
	if failed.Load() > 0 || ok.Load() < 100 {
		t.Errorf("%d queries failed, %d answered during reloads; first failure: %v", failed.Load(), ok.Load(), firstErr.Load())
	}
}

func TestReloadAddsAndRemovesListeners(t *testing.T) {
	port := freePort(t)
	s := New(Options{Port: port, Log: zerolog.Nop()})
	defer s.Close()
	cfg := testConfig()
	cfg.Projects[0].DNS.Networks[1].Gateway = ip("127.0.0.2")
	s.Reload(cfg)
	if n := len(s.listeners); n != 2 {
		t.Fatalf("%d listeners, want 2 (127.0.0.1, 127.0.0.2)", n)
	}
	kept := s.listeners[listenKey{addr: ip("127.0.0.1")}]
	m := query(t, fmt.Sprintf("127.0.0.2:%d", port), "udp", "127.2.0.3", "z", mdns.TypeA)
	if got := answers(m); len(got) != 1 {
		t.Fatalf("query on the second listener: %v", got)
	}
	st := s.Reload(testConfig())
	if n := len(s.listeners); n != 1 || s.listeners[listenKey{addr: ip("127.0.0.1")}] != kept {
		t.Errorf("after reload: %d listeners (kept the wanted one: %v), want 1, untouched", n, s.listeners[listenKey{addr: ip("127.0.0.1")}] == kept)
	}
	if st.Projects["p"].Hash != "h1" || len(st.Projects["p"].Problems) > 0 {
		t.Errorf("status = %+v", st)
	}
	if _, err := tryQuery(fmt.Sprintf("127.0.0.2:%d", port), "tcp", "127.2.0.3", "z", mdns.TypeA); err == nil {
		t.Errorf("127.0.0.2 still answers after its network went away")
	}
}
