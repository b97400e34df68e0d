package netlink

import (
	"context"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	vnl "github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/netctl/netctl/model"
)

// twoContainers wires shop/web (10.250.1.10) and shop/db (10.250.1.11) on
// one bridge.
func twoContainers(t *testing.T) (s *sandbox, n *model.Network, web, db *model.Container) {
	s = newSandbox(t)
	n = s.network("shop", "backend", "nct-br0", "10.250.1.0/24")
	s.ensureBridge(n)
	web, db = s.container("shop", "web"), s.container("shop", "db")
	s.wire(web, n, endpoint(n, "eth0", "nct-web0", "10.250.1.10"))
	s.wire(db, n, endpoint(n, "eth0", "nct-db0", "10.250.1.11"))
	return s, n, web, db
}

func TestEndpointsPing(t *testing.T) {
	s, n, web, db := twoContainers(t)
	s.ping(web.Netns, "10.250.1.11")
	s.ping(db.Netns, "10.250.1.10")
	s.ping(web.Netns, n.Gateway.String())
	s.ping(web.Netns, "127.0.0.1") // lo is up
}

// TestIPv4OnlyNetworkHasNoLinkLocal: on an IPv4-only network neither
// veth end nor the bridge gets an IPv6 link-local address (the kernel is
// spared its configuration and duplicate address detection), and IPv4
// works as before.
func TestIPv4OnlyNetworkHasNoLinkLocal(t *testing.T) {
	s, n, web, _ := twoContainers(t)
	s.ping(web.Netns, "10.250.1.11")
	for _, c := range []struct{ ns, dev string }{
		{web.Netns, "eth0"}, {s.hostPath, "nct-web0"}, {s.hostPath, n.Bridge},
	} {
		if out := s.mustIn(c.ns, "ip", "-6", "addr", "show", "dev", c.dev); strings.Contains(out, "fe80") {
			t.Errorf("%s has an IPv6 link-local address:\n%s", c.dev, out)
		}
		if out := s.mustIn(c.ns, "ip", "-d", "link", "show", "dev", c.dev); !strings.Contains(out, "addrgenmode none") {
			t.Errorf("%s: addrgenmode is not none:\n%s", c.dev, out)
		}
	}
}

func TestObserveReportsWhatWasMade(t *testing.T) {
	s, n, web, db := twoContainers(t)
	st := s.observe()

	got := st.Networks[n.ID()]
	if got == nil {
		t.Fatalf("network %s not observed; have %v", n.ID(), st.SortedNetworkIDs())
	}
	if got.Bridge != n.Bridge || got.Subnet != n.Subnet || got.Gateway != n.Gateway || got.MTU != n.MTU ||
		!got.Up || got.Driver != "bridge" || len(got.Foreign) != 0 || got.Project != "shop" || got.Name != "backend" {
		t.Errorf("network = %+v", *got)
	}
	// The bridge's own prefix route is netctl's subnet, not a route of the
	// host's that a subnet could collide with.
	if slices.Contains(st.HostRoutes, n.Subnet) {
		t.Errorf("HostRoutes %v hold the bridge's own %s", st.HostRoutes, n.Subnet)
	}
	if len(st.Containers) != 2 {
		t.Errorf("containers = %v", st.SortedContainerIDs())
	}
	for _, want := range []*model.Container{web, db} {
		c := st.Containers[want.ID()]
		if c == nil {
			t.Fatalf("container %s not observed", want.ID())
		}
		if !c.NetnsOK || !c.LoUp || c.External || c.Netns != want.Netns || c.DefaultGateway != n.Gateway {
			t.Errorf("%s: %+v", c.ID(), *c)
		}
		if !slices.Equal(c.IfNames, []string{"eth0", "lo"}) {
			t.Errorf("%s: IfNames = %v", c.ID(), c.IfNames)
		}
		if len(c.Endpoints) != 1 {
			t.Fatalf("%s: endpoints = %v", c.ID(), c.Endpoints)
		}
		ep, wep := c.Endpoints[0], want.Endpoints[0]
		if ep.Network != n.ID() || ep.IfName != "eth0" || ep.HostIf != wep.HostIf || ep.Addr != wep.Addr ||
			ep.MAC.String() != wep.MAC.String() || ep.MTU != n.MTU || !ep.HostOK || !ep.PeerOK {
			t.Errorf("%s: endpoint = %+v, want %+v", c.ID(), *ep, *wep)
		}
	}
}

// linkState is what must not change when Ensure* is called again.
type linkState struct {
	index  int
	mac    string
	master int
}

func snapshot(l vnl.Link) linkState {
	return linkState{l.Attrs().Index, l.Attrs().HardwareAddr.String(), l.Attrs().MasterIndex}
}

func TestEnsureIsIdempotent(t *testing.T) {
	s, n, web, _ := twoContainers(t)
	ctx := context.Background()
	inside := func() string {
		return s.mustIn(web.Netns, "ip", "-d", "-j", "link") + s.mustIn(web.Netns, "ip", "-j", "addr") +
			s.mustIn(web.Netns, "ip", "-j", "route")
	}
	// The kernel settles a new link on its own time (carrier through
	// linkwatch, the link-local addresses, the bridge's too, through DAD):
	// wait for it, so that only changes of ours can differ.
	bridgeAddrs := func() string { return s.mustIn(s.hostPath, "ip", "-j", "addr", "show", "dev", n.Bridge) }
	before, brAddrs := inside(), bridgeAddrs()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) &&
		(strings.Contains(before, "NO-CARRIER") || strings.Contains(before+brAddrs, `"tentative":true`)); before, brAddrs = inside(), bridgeAddrs() {
		time.Sleep(50 * time.Millisecond)
	}
	br, veth := snapshot(s.hostLink(n.Bridge)), snapshot(s.hostLink("nct-web0"))

	for range 2 {
		s.ensureBridge(n)
		if err := s.links.EnsureNamespace(ctx, web); err != nil {
			t.Fatal(err)
		}
		if err := s.links.EnsureEndpoint(ctx, web, n, web.Endpoints[0]); err != nil {
			t.Fatal(err)
		}
		if err := s.links.EnsureDefaultRoute(ctx, web, n.Gateway); err != nil {
			t.Fatal(err)
		}
	}
	if after := inside(); after != before {
		t.Errorf("container namespace changed:\nbefore %s\nafter  %s", before, after)
	}
	if got := snapshot(s.hostLink(n.Bridge)); got != br {
		t.Errorf("bridge changed: %+v -> %+v", br, got)
	}
	if got := snapshot(s.hostLink("nct-web0")); got != veth {
		t.Errorf("host veth changed: %+v -> %+v", veth, got)
	}
	if got := bridgeAddrs(); got != brAddrs {
		t.Errorf("bridge addresses changed:\n%s\n%s", brAddrs, got)
	}
}

func TestEnsureEndpointRepairs(t *testing.T) {
	s, n, web, db := twoContainers(t)
	ctx := context.Background()
	ep := web.Endpoints[0]
	peerBefore := snapshot(s.nsLink(web.Netns, "eth0"))
	hostBefore := s.hostLink("nct-web0").Attrs().Index

	// Break it the ways people do by hand.
	s.mustIn(web.Netns, "ip", "addr", "flush", "dev", "eth0")
	s.mustIn(web.Netns, "ip", "addr", "add", "10.250.1.99/24", "dev", "eth0")
	s.mustIn(web.Netns, "ip", "link", "set", "eth0", "mtu", "1400")
	s.mustIn(web.Netns, "ip", "link", "set", "eth0", "alias", "")
	s.mustIn(web.Netns, "ip", "link", "set", "eth0", "down")
	s.mustIn(web.Netns, "ip", "link", "set", "eth0", "address", "02:00:00:00:00:99")
	s.mustIn(s.hostPath, "ip", "link", "set", "nct-web0", "down")
	s.mustIn(s.hostPath, "ip", "link", "set", "nct-web0", "nomaster")
	s.noPing(db.Netns, "10.250.1.10")

	// The unmarked peer is no endpoint any more; what is left is the host
	// side, down and off the bridge, with no peer matched to it.
	c := s.observe().Containers[web.ID()]
	if len(c.Endpoints) != 1 || c.Endpoints[0].HostIf != "nct-web0" || c.Endpoints[0].IfName != "" ||
		c.Endpoints[0].HostOK || c.Endpoints[0].PeerOK {
		t.Errorf("broken endpoint observed as %+v", *c.Endpoints[0])
	}

	if err := s.links.EnsureEndpoint(ctx, web, n, ep); err != nil {
		t.Fatal(err)
	}
	s.ping(db.Netns, "10.250.1.10")
	if got := snapshot(s.nsLink(web.Netns, "eth0")); got != peerBefore { // index and MAC
		t.Errorf("peer recreated instead of repaired: %+v -> %+v", peerBefore, got)
	}
	if got := s.hostLink("nct-web0").Attrs().Index; got != hostBefore {
		t.Errorf("host side recreated instead of repaired: %d -> %d", hostBefore, got)
	}
	addrs := s.mustIn(web.Netns, "ip", "-4", "-o", "addr", "show", "dev", "eth0")
	if !strings.Contains(addrs, "10.250.1.10/24") || strings.Contains(addrs, "10.250.1.99") {
		t.Errorf("addresses after repair: %s", addrs)
	}
	c = s.observe().Containers[web.ID()]
	if len(c.Endpoints) != 1 || !c.Endpoints[0].HostOK || !c.Endpoints[0].PeerOK || c.Endpoints[0].MTU != 1500 {
		t.Errorf("after repair: %+v", c.Endpoints)
	}
}

func TestEnsureEndpointRecreatesLostPeer(t *testing.T) {
	s, n, web, db := twoContainers(t)
	// The container side wanders off to another namespace: the host side
	// is left without a partner in the container.
	elsewhere := s.dir + "/elsewhere"
	s.newNetns(elsewhere)
	s.mustIn(web.Netns, "ip", "link", "set", "eth0", "netns", elsewhere)
	if err := s.links.EnsureEndpoint(context.Background(), web, n, web.Endpoints[0]); err != nil {
		t.Fatal(err)
	}
	s.ping(db.Netns, "10.250.1.10")
	if s.nsLink(elsewhere, "eth0") != nil {
		t.Error("the stray old pair survived")
	}
}

func TestEnsureEndpointAdoptsHalfCreatedPair(t *testing.T) {
	s := newSandbox(t)
	n := s.network("p", "net", "nct-br1", "172.29.0.0/16")
	s.ensureBridge(n)
	c := s.container("p", "c")
	if err := s.links.EnsureNamespace(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	// What a crash right after the create request leaves: the pair exists,
	// in the creation group, without marks.
	ns, err := netns.GetFromPath(c.Netns)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	la := vnl.NewLinkAttrs()
	la.Name, la.Group = "nct-c0", creationGroup
	ep := endpoint(n, "eth0", "nct-c0", "172.29.0.5")
	if err := s.host.LinkAdd(&vnl.Veth{LinkAttrs: la, PeerName: "eth0", PeerNamespace: vnl.NsFd(int(ns)), PeerHardwareAddr: ep.MAC, PeerTxQLen: -1}); err != nil {
		t.Fatal(err)
	}
	index := s.hostLink("nct-c0").Attrs().Index
	if err := s.links.EnsureEndpoint(context.Background(), c, n, ep); err != nil {
		t.Fatal(err)
	}
	host := s.hostLink("nct-c0")
	if host.Attrs().Index != index {
		t.Error("half-created pair was recreated, not adopted")
	}
	if host.Attrs().Alias != "netctl:p:net/c" || s.nsLink(c.Netns, "eth0").Attrs().Alias != "netctl:p:net/c" {
		t.Error("pair not marked")
	}
	s.ping(c.Netns, n.Gateway.String())
}

func TestEnsureEndpointRefusesForeignNames(t *testing.T) {
	s := newSandbox(t)
	n := s.network("p", "net", "nct-br2", "172.30.0.0/24")
	s.ensureBridge(n)
	c := s.container("p", "c")
	if err := s.links.EnsureNamespace(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	// The host side's name is taken by someone else's interface.
	s.mustIn(s.hostPath, "ip", "link", "add", "nct-c0", "type", "veth", "peer", "name", "nct-c0p")
	err := s.links.EnsureEndpoint(context.Background(), c, n, endpoint(n, "eth0", "nct-c0", "172.30.0.5"))
	if err == nil || !strings.Contains(err.Error(), "nct-c0: exists and is not owned by netctl") {
		t.Errorf("host name taken: err = %v", err)
	}
	if l := s.hostLink("nct-c0"); l.Attrs().Alias != "" || l.Attrs().MasterIndex != 0 {
		t.Error("foreign host link was changed")
	}
	// The container already has an eth0 of its own.
	s.mustIn(c.Netns, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p")
	err = s.links.EnsureEndpoint(context.Background(), c, n, endpoint(n, "eth0", "nct-c1", "172.30.0.6"))
	if err == nil || !strings.Contains(err.Error(), "eth0: exists and is not owned by netctl") {
		t.Errorf("ifname taken: err = %v", err)
	}
	if s.hostLink("nct-c1") != nil {
		t.Error("host side created although the container side is taken")
	}
	if l := s.nsLink(c.Netns, "eth0"); l.Attrs().Alias != "" || isUp(l) {
		t.Error("foreign container link was changed")
	}
	if out := s.mustIn(c.Netns, "ip", "-4", "-o", "addr", "show", "dev", "eth0"); out != "" {
		t.Errorf("foreign container link got an address: %s", out)
	}

	// eth1 is netctl's, but another network's endpoint: the reconciler must
	// delete it before reusing the name.
	other := s.network("p", "other", "nct-br3", "172.30.1.0/24")
	s.ensureBridge(other)
	if err := s.links.EnsureEndpoint(context.Background(), c, other, endpoint(other, "eth1", "nct-c2", "172.30.1.5")); err != nil {
		t.Fatal(err)
	}
	err = s.links.EnsureEndpoint(context.Background(), c, n, endpoint(n, "eth1", "nct-c1", "172.30.0.6"))
	if err == nil || !strings.Contains(err.Error(), "eth1: exists and belongs to netctl:p:other/c") {
		t.Errorf("ifname used by another endpoint: err = %v", err)
	}
}

func TestDeleteEndpoint(t *testing.T) {
	s, _, web, db := twoContainers(t)
	ctx := context.Background()
	ep := web.Endpoints[0]
	if err := settled(ctx, s.links, s.links.DeleteEndpoint(ctx, web, ep)); err != nil {
		t.Fatal(err)
	}
	if s.hostLink(ep.HostIf) != nil || s.nsLink(web.Netns, "eth0") != nil {
		t.Error("veth pair still there")
	}
	if err := settled(ctx, s.links, s.links.DeleteEndpoint(ctx, web, ep)); err != nil {
		t.Errorf("second delete: %v", err)
	}
	s.noPing(db.Netns, "10.250.1.10")
	if c := s.observe().Containers[web.ID()]; len(c.Endpoints) != 0 {
		t.Errorf("endpoints after delete: %+v", c.Endpoints)
	}
}

func TestDefaultRoute(t *testing.T) {
	s, n, web, _ := twoContainers(t)
	ctx := context.Background()
	gw := func() string { return s.mustIn(web.Netns, "ip", "-4", "route", "show", "default") }

	// A second default with another metric must go too.
	s.mustIn(web.Netns, "ip", "route", "add", "default", "via", "10.250.1.11", "metric", "100")
	other := netip.MustParseAddr("10.250.1.11")
	if err := s.links.EnsureDefaultRoute(ctx, web, other); err != nil {
		t.Fatal(err)
	}
	if got := gw(); strings.TrimSpace(got) != "default via 10.250.1.11 dev eth0" {
		t.Errorf("default routes = %q", got)
	}
	if err := s.links.EnsureDefaultRoute(ctx, web, n.Gateway); err != nil {
		t.Fatal(err)
	}
	if got := s.observe().Containers[web.ID()].DefaultGateway; got != n.Gateway {
		t.Errorf("DefaultGateway = %v", got)
	}
	if err := s.links.EnsureDefaultRoute(ctx, web, netip.Addr{}); err != nil {
		t.Fatal(err)
	}
	if got := gw(); got != "" {
		t.Errorf("default routes after removal = %q", got)
	}
	if got := s.observe().Containers[web.ID()].DefaultGateway; got.IsValid() {
		t.Errorf("DefaultGateway = %v", got)
	}
}

func TestDefaultNetworkMarks(t *testing.T) {
	s := newSandbox(t)
	n := s.network("", model.DefaultNetwork, "nct-default", "172.31.250.0/24")
	s.ensureBridge(n)
	a, b := s.container("one", "a"), s.container("two", "b")
	s.wire(a, n, endpoint(n, "eth0", "nct-a0", "172.31.250.2"))
	s.wire(b, n, endpoint(n, "eth0", "nct-b0", "172.31.250.3"))
	s.ping(a.Netns, "172.31.250.3")
	st := s.observe()
	if got := st.Networks["/bridge"]; got == nil || len(got.Foreign) != 0 {
		t.Fatalf("default network = %+v", got)
	}
	for _, id := range []string{"one/a", "two/b"} {
		c := st.Containers[id]
		if len(c.Endpoints) != 1 || c.Endpoints[0].Network != "/bridge" || !c.Endpoints[0].HostOK {
			t.Errorf("%s: %+v", id, c.Endpoints)
		}
	}
}

func TestObserveEndpointOrder(t *testing.T) {
	s := newSandbox(t)
	c := s.container("p", "multi")
	var nets []*model.Network
	for i := range 11 {
		n := s.network("p", "n"+strconv.Itoa(i), "nct-b"+strconv.Itoa(i), "10.250."+strconv.Itoa(10+i)+".0/24")
		s.ensureBridge(n)
		nets = append(nets, n)
	}
	if err := s.links.EnsureNamespace(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	for i, n := range nets {
		ep := endpoint(n, "eth"+strconv.Itoa(i), "nct-m"+strconv.Itoa(i), "10.250."+strconv.Itoa(10+i)+".2")
		if err := s.links.EnsureEndpoint(context.Background(), c, n, ep); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	for _, ep := range s.observe().Containers[c.ID()].Endpoints {
		names = append(names, ep.IfName)
	}
	want := []string{"eth0", "eth1", "eth2", "eth3", "eth4", "eth5", "eth6", "eth7", "eth8", "eth9", "eth10"}
	if !slices.Equal(names, want) {
		t.Errorf("endpoint order = %v", names)
	}
}
