package netlink

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/netctl/netctl/model"
)

// dualStack wires shop/web (::10) and shop/db (::11) on one dual-stack
// bridge, with their IPv6 default routes.
func dualStack(t *testing.T) (s *sandbox, n *model.Network, web, db *model.Container) {
	s = newSandbox(t)
	// IPv6 delivers to the host's own addresses through lo, which a real
	// host always has up (IPv4 does without).
	s.mustIn(s.hostPath, "ip", "link", "set", "lo", "up")
	n = s.network("shop", "backend", "nct-br6", "10.250.6.0/24")
	n.EnableIPv6, n.SubnetV6, n.GatewayV6 = true, netip.MustParsePrefix("fd00:6::/64"), netip.MustParseAddr("fd00:6::1")
	s.ensureBridge(n)
	web, db = s.container("shop", "web"), s.container("shop", "db")
	for _, x := range []struct {
		c      *model.Container
		hostIf string
		v4, v6 string
	}{{web, "nct-web6", "10.250.6.10", "fd00:6::10"}, {db, "nct-db6", "10.250.6.11", "fd00:6::11"}} {
		ep := endpoint(n, "eth0", x.hostIf, x.v4)
		ep.AddrV6 = netip.PrefixFrom(netip.MustParseAddr(x.v6), 64)
		s.wire(x.c, n, ep)
		if err := s.links.EnsureDefaultRouteV6(context.Background(), x.c, n.GatewayV6); err != nil {
			t.Fatal(err)
		}
		x.c.DefaultGatewayV6 = n.GatewayV6
	}
	return s, n, web, db
}

func TestDualStackPingAndObserve(t *testing.T) {
	s, n, web, db := dualStack(t)
	// nodad: usable at once, no second of tentative state.
	s.ping(web.Netns, "fd00:6::11")
	s.ping(db.Netns, "fd00:6::1")
	s.ping(web.Netns, "10.250.6.11")

	st := s.observe()
	got := st.Networks[n.ID()]
	if !got.EnableIPv6 || got.SubnetV6 != n.SubnetV6 || got.GatewayV6 != n.GatewayV6 {
		t.Errorf("network = %v %s %s", got.EnableIPv6, got.SubnetV6, got.GatewayV6)
	}
	// The host's IPv6 routes count, but for link-locals, multicast and the
	// bridge's own prefix route.
	s.mustIn(s.hostPath, "ip", "-6", "route", "add", "fd00:66::/48", "dev", "lo")
	st = s.observe()
	if !slices.Contains(st.HostRoutes, netip.MustParsePrefix("fd00:66::/48")) {
		t.Errorf("HostRoutes %v lack fd00:66::/48", st.HostRoutes)
	}
	for _, r := range st.HostRoutes {
		if r.Addr().IsLinkLocalUnicast() || r.Addr().IsMulticast() || r == n.SubnetV6 {
			t.Errorf("host route %s observed", r)
		}
	}
	for _, want := range []*model.Container{web, db} {
		c := st.Containers[want.ID()]
		ep := c.Endpoints[0]
		if ep.AddrV6 != want.Endpoints[0].AddrV6 || ep.AcceptRA || !ep.PeerOK || !ep.HostOK {
			t.Errorf("%s: endpoint %s accept_ra %v peer %v host %v", c.ID(), ep.AddrV6, ep.AcceptRA, ep.PeerOK, ep.HostOK)
		}
		if c.DefaultGatewayV6 != n.GatewayV6 || c.DefaultGateway != n.Gateway {
			t.Errorf("%s: default routes %s %s", c.ID(), c.DefaultGateway, c.DefaultGatewayV6)
		}
	}
	out := s.mustIn(web.Netns, "ip", "-6", "-o", "addr", "show", "dev", "eth0", "scope", "global")
	if !strings.Contains(out, "fd00:6::10/64") || !strings.Contains(out, "nodad") {
		t.Errorf("web's eth0: %s", out)
	}
	if v := strings.TrimSpace(s.mustIn(web.Netns, "cat", "/proc/sys/net/ipv6/conf/eth0/accept_ra")); v != "0" {
		t.Errorf("accept_ra = %s", v)
	}
}

// Drift made by hand is seen, and EnsureEndpoint/EnsureBridge/the route
// repair it: a second address, an address re-added with DAD, accept_ra
// back on, a deleted default route, the bridge's address deleted.
func TestDualStackDriftRepaired(t *testing.T) {
	s, n, web, _ := dualStack(t)
	ctx := context.Background()
	s.mustIn(web.Netns, "ip", "-6", "addr", "add", "fd00:6::99/64", "dev", "eth0", "nodad")
	s.mustIn(web.Netns, "sysctl", "-qw", "net.ipv6.conf.eth0.accept_ra=1")
	s.mustIn(web.Netns, "ip", "-6", "route", "del", "default")
	s.mustIn(s.hostPath, "ip", "-6", "addr", "flush", "dev", n.Bridge, "scope", "global")

	st := s.observe()
	c := st.Containers[web.ID()]
	if ep := c.Endpoints[0]; ep.AddrV6.IsValid() || ep.PeerOK || !ep.AcceptRA || c.DefaultGatewayV6.IsValid() {
		t.Errorf("drift not seen: %s peer %v accept_ra %v route %s", ep.AddrV6, ep.PeerOK, ep.AcceptRA, c.DefaultGatewayV6)
	}
	if got := st.Networks[n.ID()]; got.EnableIPv6 || got.SubnetV6.IsValid() {
		t.Errorf("bridge without IPv6 observed as %v %s", got.EnableIPv6, got.SubnetV6)
	}

	s.ensureBridge(n)
	if err := s.links.EnsureEndpoint(ctx, web, n, web.Endpoints[0]); err != nil {
		t.Fatal(err)
	}
	if err := s.links.EnsureDefaultRouteV6(ctx, web, n.GatewayV6); err != nil {
		t.Fatal(err)
	}
	st = s.observe()
	c = st.Containers[web.ID()]
	if ep := c.Endpoints[0]; ep.AddrV6 != web.Endpoints[0].AddrV6 || !ep.PeerOK || ep.AcceptRA || c.DefaultGatewayV6 != n.GatewayV6 {
		t.Errorf("not repaired: %s peer %v accept_ra %v route %s", ep.AddrV6, ep.PeerOK, ep.AcceptRA, c.DefaultGatewayV6)
	}
	if got := st.Networks[n.ID()]; got.SubnetV6 != n.SubnetV6 {
		t.Errorf("bridge = %s", got.SubnetV6)
	}
	s.ping(web.Netns, "fd00:6::11")

	// IPv6 turned off: addresses and route go, IPv4 stays.
	v4 := *web.Endpoints[0]
	v4.AddrV6 = netip.Prefix{}
	if err := s.links.EnsureEndpoint(ctx, web, n, &v4); err != nil {
		t.Fatal(err)
	}
	if err := s.links.EnsureDefaultRouteV6(ctx, web, netip.Addr{}); err != nil {
		t.Fatal(err)
	}
	c = s.observe().Containers[web.ID()]
	if ep := c.Endpoints[0]; ep.AddrV6.IsValid() || !ep.PeerOK || c.DefaultGatewayV6.IsValid() || c.DefaultGateway != n.Gateway {
		t.Errorf("after turning IPv6 off: %s peer %v routes %s %s", ep.AddrV6, ep.PeerOK, c.DefaultGateway, c.DefaultGatewayV6)
	}
}

// A namespace whose defaults have IPv6 off (as a container runtime may
// make one) still gets its endpoint's IPv6 address.
func TestDualStackInNamespaceWithIPv6Off(t *testing.T) {
	s := newSandbox(t)
	s.mustIn(s.hostPath, "ip", "link", "set", "lo", "up")
	n := s.network("shop", "backend", "nct-br6", "10.250.6.0/24")
	n.EnableIPv6, n.SubnetV6, n.GatewayV6 = true, netip.MustParsePrefix("fd00:6::/64"), netip.MustParseAddr("fd00:6::1")
	s.ensureBridge(n)
	c := s.container("shop", "web")
	if err := s.links.EnsureNamespace(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	s.mustIn(c.Netns, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1", "net.ipv6.conf.all.disable_ipv6=1")
	ep := endpoint(n, "eth0", "nct-web6", "10.250.6.10")
	ep.AddrV6 = netip.MustParsePrefix("fd00:6::10/64")
	s.wire(c, n, ep)
	s.ping(c.Netns, "fd00:6::1")
}

// The watcher hears of a dual-stack bridge's IPv6 address going, not of
// the kernel's link-local addresses finishing their DAD.
func TestSubscribeIPv6Addresses(t *testing.T) {
	s, n, _, _ := dualStack(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, err := s.links.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Link-locals of the bridge and the host ends settle within ~2 s of
	// their creation; none of that is an event.
	time.Sleep(2500 * time.Millisecond)
	drain(events)
	s.mustIn(s.hostPath, "ip", "-6", "addr", "add", "fe80::99/64", "dev", n.Bridge)
	expectNoEvent(t, events, "a link-local address added")
	s.mustIn(s.hostPath, "ip", "-6", "addr", "del", n.GatewayV6.String()+"/64", "dev", n.Bridge)
	expectEvent(t, events, "the bridge's IPv6 address deleted")
}
