package dns

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/rs/zerolog"

	"github.com/netctl/netctl/model"
)

// Two nodes' servers on loopback, one port: node 1 listens on 127.10.0.1
// (gateway) and 127.10.0.2 (underlay), node 2 on 127.20.0.1 and
// 127.20.0.2. The overlay's subnet is 127.50.0.0/16: a, b on node 1; c, d
// on node 2. a and c share the alias "svc". The overlay is dual stack:
// subnet_v6 fd00:50::/64, a and c have IPv6 addresses too. A node's query to another
// leaves from 127.0.0.1 (the kernel's choice on lo), so that is the peer
// address each server accepts.
func overlayPair(t *testing.T) (one, two string) {
	t.Helper()
	port := freePort(t)
	sub, sub6 := netip.MustParsePrefix("127.50.0.0/16"), netip.MustParsePrefix("fd00:50::/64")
	node := func(listen, gw string, recs []model.DNSRecord, remote []model.DNSRemote, clients []model.DNSClient) string {
		d := &model.DNS{
			Project:  "p",
			Networks: []model.DNSNetwork{{ID: "p/o", Subnet: sub, SubnetV6: sub6, Gateway: ip(gw), Records: recs, Remote: remote}},
			Clients:  clients,
			Peers:    &model.DNSPeers{Listen: ip(listen), Nodes: []netip.Addr{ip("127.0.0.1")}, Networks: []string{"p/o"}},
		}
		s := New(Options{Port: port, ForwardTimeout: time.Second, Log: zerolog.Nop()})
		t.Cleanup(s.Close)
		st := s.Reload(Config{Projects: []Project{{DNS: d, Hash: listen}}})
		for p, ps := range st.Projects {
			if len(ps.Problems) > 0 {
				t.Fatalf("project %s: %v", p, ps.Problems)
			}
		}
		return fmt.Sprintf("%s:%d", gw, port)
	}
	rec := func(c, a string, names ...string) model.DNSRecord {
		return model.DNSRecord{Container: c, Addr: ip(a), Names: append([]string{c}, names...)}
	}
	cli := func(c, a string) model.DNSClient {
		return model.DNSClient{Container: c, Addrs: []netip.Addr{ip(a)}, Networks: []string{"p/o"}}
	}
	one = node("127.10.0.2", "127.10.0.1",
		[]model.DNSRecord{rec("a", "127.50.0.2", "svc"), rec("a", "fd00:50::2", "svc"), rec("b", "127.50.0.3")},
		[]model.DNSRemote{{Container: "c", Node: ip("127.20.0.2"), Names: []string{"c", "svc"}}, {Container: "d", Node: ip("127.20.0.2"), Names: []string{"d"}}},
		[]model.DNSClient{cli("a", "127.50.0.2"), cli("b", "127.50.0.3")})
	two = node("127.20.0.2", "127.20.0.1",
		[]model.DNSRecord{rec("c", "127.50.16.2", "svc"), rec("c", "fd00:50:0:0:1000::2", "svc"), rec("d", "127.50.16.3")},
		[]model.DNSRemote{{Container: "a", Node: ip("127.10.0.2"), Names: []string{"a", "svc"}}, {Container: "b", Node: ip("127.10.0.2"), Names: []string{"b"}}},
		[]model.DNSClient{cli("c", "127.50.16.2"), cli("d", "127.50.16.3")})
	return one, two
}

func TestOverlayAliasAcrossNodesRoundRobin(t *testing.T) {
	one, two := overlayPair(t)
	for _, tc := range []struct{ server, src string }{{one, "127.50.0.3"}, {two, "127.50.16.3"}} {
		firsts := map[string]int{}
		for range 10 {
			got := answers(query(t, tc.server, "udp", tc.src, "svc", mdns.TypeA))
			if !sameSet(got, []string{"127.50.0.2", "127.50.16.2"}) {
				t.Fatalf("svc from %s = %v, want a's and c's addresses", tc.src, got)
			}
			firsts[got[0]]++
		}
		if firsts["127.50.0.2"] != 5 || firsts["127.50.16.2"] != 5 {
			t.Errorf("svc from %s: first answers %v, want each node's container first half the time", tc.src, firsts)
		}
	}
	// Over TCP too, and a name only the other node has.
	if got := answers(query(t, one, "tcp", "127.50.0.3", "d", mdns.TypeA)); !sameSet(got, []string{"127.50.16.3"}) {
		t.Errorf("d from b over TCP = %v", got)
	}
}

// AAAA and ip6.arpa PTR of containers on the other node, on a dual-stack
// overlay; A answers stay IPv4 only.
func TestOverlayIPv6AcrossNodes(t *testing.T) {
	one, two := overlayPair(t)
	if got := answers(query(t, one, "udp", "127.50.0.3", "c", mdns.TypeAAAA)); !sameSet(got, []string{"fd00:50::1000:0:0:2"}) {
		t.Errorf("AAAA c from b (node 1) = %v, want c's fd00:50::1000:0:0:2", got)
	}
	if got := answers(query(t, two, "udp", "127.50.16.3", "svc", mdns.TypeAAAA)); !sameSet(got, []string{"fd00:50::2", "fd00:50::1000:0:0:2"}) {
		t.Errorf("AAAA svc from d (node 2) = %v, want a's and c's", got)
	}
	if got := answers(query(t, one, "udp", "127.50.0.3", "c", mdns.TypeA)); !sameSet(got, []string{"127.50.16.2"}) {
		t.Errorf("A c from b = %v, want c's IPv4 address only", got)
	}
	// d has no IPv6 address: no data, but the name exists.
	if m := query(t, one, "udp", "127.50.0.3", "d", mdns.TypeAAAA); m.Rcode != mdns.RcodeSuccess || len(m.Answer) != 0 {
		t.Errorf("AAAA d from b = %s %v, want NOERROR without data", mdns.RcodeToString[m.Rcode], answers(m))
	}
	rev, err := mdns.ReverseAddr("fd00:50:0:0:1000::2")
	if err != nil {
		t.Fatal(err)
	}
	if m := query(t, one, "udp", "127.50.0.3", rev, mdns.TypePTR); !sameSet(answers(m), []string{"c.", "svc."}) {
		t.Errorf("ip6.arpa PTR of c from b = %v, want c. and svc.", answers(m))
	}
}

func TestOverlayPTRAcrossNodes(t *testing.T) {
	one, _ := overlayPair(t)
	m := query(t, one, "udp", "127.50.0.3", "2.16.50.127.in-addr.arpa", mdns.TypePTR)
	if got := answers(m); !sameSet(got, []string{"c.", "svc."}) || !m.Authoritative {
		t.Errorf("PTR of c from b = %v (aa=%v), want c. and svc.", got, m.Authoritative)
	}
	// In the overlay's subnet but nobody's, on either node: NXDOMAIN.
	m = query(t, one, "udp", "127.50.0.3", "99.16.50.127.in-addr.arpa", mdns.TypePTR)
	if m.Rcode != mdns.RcodeNameError || len(m.Answer) != 0 {
		t.Errorf("PTR of an unused overlay address = %s %v, want NXDOMAIN", mdns.RcodeToString[m.Rcode], answers(m))
	}
}

// The other node down: its containers fail (SERVFAIL, retried), a shared
// name still answers with the local containers.
func TestOverlayNodeDown(t *testing.T) {
	port := freePort(t)
	sub := netip.MustParsePrefix("127.50.0.0/16")
	d := &model.DNS{
		Project: "p",
		Networks: []model.DNSNetwork{{ID: "p/o", Subnet: sub, Gateway: ip("127.10.0.1"),
			Records: []model.DNSRecord{{Container: "a", Addr: ip("127.50.0.2"), Names: []string{"a", "svc"}}},
			Remote:  []model.DNSRemote{{Container: "c", Node: ip("127.30.0.2"), Names: []string{"c", "svc"}}}}},
		Clients: []model.DNSClient{{Container: "a", Addrs: []netip.Addr{ip("127.50.0.2")}, Networks: []string{"p/o"}}},
	}
	s := New(Options{Port: port, ForwardTimeout: 300 * time.Millisecond, Log: zerolog.Nop()})
	t.Cleanup(s.Close)
	s.Reload(Config{Projects: []Project{{DNS: d, Hash: "h"}}})
	server := fmt.Sprintf("127.10.0.1:%d", port)
	if got := answers(query(t, server, "udp", "127.50.0.2", "svc", mdns.TypeA)); !sameSet(got, []string{"127.50.0.2"}) {
		t.Errorf("svc with its other node down = %v, want the local container", got)
	}
	if m := query(t, server, "udp", "127.50.0.2", "c", mdns.TypeA); m.Rcode != mdns.RcodeServerFailure {
		t.Errorf("c with its node down = %s, want SERVFAIL", mdns.RcodeToString[m.Rcode])
	}
}
