package netlink

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/netctl/netctl/model"
)

// A dual-stack overlay's bridge: the anycast gateway and a link-local
// address of the node's own, both nodad, and no kernel link-local from
// the shared MAC; the link-local follows the node's address and goes with
// IPv6.
func TestOverlayBridgeLinkLocal(t *testing.T) {
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
	addrs := func() string {
		return s.mustIn(s.hostPath, "ip", "-6", "-o", "addr", "show", "dev", n.Bridge)
	}
	s.ensureBridge(n)
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
	s.ensureBridge(n)
	if got := addrs(); !strings.Contains(got, "fe80::afa:9/64") || strings.Count(got, "fe80:") != 1 {
		t.Errorf("after the node's address changed:\n%s", got)
	}
	// IPv6 turned off: no IPv6 address left.
	n.EnableIPv6 = false
	s.ensureBridge(n)
	if got := addrs(); strings.TrimSpace(got) != "" {
		t.Errorf("IPv6 addresses left on an IPv4-only overlay bridge:\n%s", got)
	}
}
