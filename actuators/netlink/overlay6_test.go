package netlink

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/netctl/netctl/model"
)

// overlay6 makes a dual-stack overlay network of node 10.250.0.1 (its
// underlay address on a veth, next to 10.250.0.9) and its bridge.
func overlay6(t *testing.T) (*sandbox, *model.Network) {
	s := newSandbox(t)
	s.mustIn(s.hostPath, "ip", "link", "add", "nct-under", "type", "veth", "peer", "name", "nct-under-p")
	s.mustIn(s.hostPath, "ip", "addr", "add", "10.250.0.1/24", "dev", "nct-under")
	s.mustIn(s.hostPath, "ip", "addr", "add", "10.250.0.9/24", "dev", "nct-under")
	s.mustIn(s.hostPath, "ip", "link", "set", "nct-under", "up")
	n := s.network("mesh", "app", "nct-ov6", "10.250.60.0/24")
	n.Driver = model.DriverOverlay
	n.EnableIPv6, n.SubnetV6, n.GatewayV6 = true, netip.MustParsePrefix("fd00:60::/64"), netip.MustParseAddr("fd00:60::1")
	n.Overlay = &model.Overlay{VNI: 4260, VXLAN: model.VXLANName("mesh", "app"), Local: netip.MustParseAddr("10.250.0.1"), Port: model.VXLANPort,
		Peers: []netip.Addr{netip.MustParseAddr("10.250.0.2")}}
	n.LinkLocal = model.OverlayLinkLocal(n.Overlay.Local)
	s.ensureBridge(n)
	return s, n
}

// A dual-stack overlay's bridge: the anycast gateway and a link-local
// address of the node's own, both nodad, and no kernel link-local from
// the shared MAC; the link-local follows the node's address and goes with
// IPv6.
func TestOverlayBridgeLinkLocal(t *testing.T) {
	s, n := overlay6(t)
	addrs := func() string {
		return s.mustIn(s.hostPath, "ip", "-6", "-o", "addr", "show", "dev", n.Bridge)
	}
	got := addrs()
	for _, want := range []string{"fd00:60::1/64 scope global nodad", "fe80::afa:1/64 scope link nodad"} {
		if !strings.Contains(got, want) {
			t.Errorf("bridge addresses lack %q:\n%s", want, got)
		}
	}
	if strings.Count(got, "fe80:") != 1 {
		t.Errorf("bridge has a link-local address besides the node's:\n%s", got)
	}

	// Another node address (the file changed it): the old link-local goes.
	n.Overlay.Local = netip.MustParseAddr("10.250.0.9")
	n.LinkLocal = model.OverlayLinkLocal(n.Overlay.Local)
	s.ensureBridge(n)
	if got := addrs(); !strings.Contains(got, "fe80::afa:9/64") || strings.Count(got, "fe80:") != 1 {
		t.Errorf("after the node's address changed:\n%s", got)
	}
	// IPv6 turned off: no IPv6 address left.
	n.EnableIPv6, n.LinkLocal = false, netip.Prefix{}
	s.ensureBridge(n)
	if got := addrs(); strings.TrimSpace(got) != "" {
		t.Errorf("IPv6 addresses left on an IPv4-only overlay bridge:\n%s", got)
	}
}

// Observation reads an overlay bridge's own link-local address, so that
// one deleted, doubled or re-added with DAD by hand is drift; the kernel's
// link-local address of a dual-stack bridge network reads as none.
func TestObserveOverlayLinkLocal(t *testing.T) {
	s, n := overlay6(t)
	br := s.network("mesh", "local", "nct-br6", "10.250.61.0/24")
	br.EnableIPv6, br.SubnetV6, br.GatewayV6 = true, netip.MustParsePrefix("fd00:61::/64"), netip.MustParseAddr("fd00:61::1")
	s.ensureBridge(br)
	linkLocal := func() netip.Prefix {
		t.Helper()
		got := s.observe().Networks[n.ID()]
		if got == nil {
			t.Fatalf("network %s not observed", n.ID())
		}
		return got.LinkLocal
	}
	if got := linkLocal(); got != n.LinkLocal {
		t.Fatalf("observed link-local %s, want %s", got, n.LinkLocal)
	}
	// The kernel's link-local address is not netctl's. A bridge without
	// ports has no carrier and gets none yet: one added with DAD, as the
	// kernel adds its own, stands in.
	s.mustIn(s.hostPath, "ip", "-6", "addr", "add", "fe80::5/64", "dev", br.Bridge)
	if got := s.observe().Networks[br.ID()].LinkLocal; got.IsValid() {
		t.Errorf("bridge network observed with link-local %s, want none (the kernel's)", got)
	}

	ll := n.LinkLocal.String()
	for _, drift := range []struct {
		what      string
		do, after []string
	}{
		{"deleted", []string{"del", ll}, nil},
		{"with DAD", []string{"add", ll}, nil},
		{"beside another", []string{"add", ll, "nodad"}, []string{"add", "fe80::99/64", "nodad"}},
	} {
		s.mustIn(s.hostPath, "ip", "-6", "addr", "flush", "dev", n.Bridge, "scope", "link")
		if drift.what != "deleted" {
			s.mustIn(s.hostPath, append(append([]string{"ip", "-6", "addr"}, drift.do...), "dev", n.Bridge)...)
		}
		if drift.after != nil {
			s.mustIn(s.hostPath, append(append([]string{"ip", "-6", "addr"}, drift.after...), "dev", n.Bridge)...)
		}
		if got := linkLocal(); got.IsValid() {
			t.Errorf("link-local %s: observed %s, want none", drift.what, got)
		}
		s.ensureBridge(n)
		if got := linkLocal(); got != n.LinkLocal {
			t.Errorf("link-local %s, then repaired: observed %s, want %s", drift.what, got, n.LinkLocal)
		}
	}
}

// The watcher hears of an overlay bridge's own link-local address going,
// and not of a link-local address added with DAD (as the kernel adds its
// own).
func TestSubscribeOverlayLinkLocal(t *testing.T) {
	s, n := overlay6(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, err := s.links.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	drain(events)
	s.mustIn(s.hostPath, "ip", "-6", "addr", "add", "fe80::99/64", "dev", n.Bridge)
	expectNoEvent(t, events, "a link-local address with DAD added")
	// Its DAD ends within ~2 s, announced too; not an event either.
	time.Sleep(2500 * time.Millisecond)
	expectNoEvent(t, events, "a link-local address finishing DAD")
	s.mustIn(s.hostPath, "ip", "-6", "addr", "del", n.LinkLocal.String(), "dev", n.Bridge)
	if got := expectEvent(t, events, "the overlay bridge's link-local address deleted"); len(got) != 0 {
		t.Errorf("the overlay bridge's link-local address deleted: containers %v, want none (the network)", got)
	}
}
