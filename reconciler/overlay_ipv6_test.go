package reconciler

import (
	"bytes"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/netctl/netctl/model"
	"github.com/netctl/netctl/spec"
)

// overlayV6File is overlayFile dual stack: app from the project's ULA pool
// (no subnet_v6), db with an explicit subnet_v6 and a static address of a
// container on c that falls in a's block.
const overlayV6File = `
name: mesh
networks:
  app: {driver: overlay, subnet: 10.60.0.0/16, enable_ipv6: true}
  db: {driver: overlay, subnet: 10.61.0.0/24, enable_ipv6: true, subnet_v6: "fd00:61::/64"}
  local: {enable_ipv6: true}
containers:
  web: {networks: {app: {aliases: [www]}}, node: a}
  api: {networks: [app, db], node: b}
  pg: {networks: {db: {ipv6_address: "fd00:61::2"}}, node: c}
  cache: {networks: [local]}
nodes:
  c: {address: 10.250.0.3}
  a: {address: 10.250.0.1}
  b: {address: 10.250.0.2}
`

func endpointAddrV6(t *testing.T, c *model.Container, network string) string {
	t.Helper()
	return endpointOf(t, c, network).AddrV6.String()
}

func TestNodeBlockIPv6(t *testing.T) {
	for _, tc := range []struct {
		rng  string
		i, n int
		want string
	}{
		{"fd00:61::/64", 0, 3, "fd00:61::/68"},
		{"fd00:61::/64", 1, 3, "fd00:61:0:0:1000::/68"},
		{"fd00:61::/64", 15, 16, "fd00:61:0:0:f000::/68"},
		{"fd00:61::/64", 16, 17, "fd00:61:0:0:8000::/69"}, // 17 nodes: 32 blocks
		{"fd00:61::/120", 2, 3, "fd00:61::20/124"},
		{"10.60.0.0/16", 2, 3, "10.60.32.0/20"}, // IPv4 cut as before
	} {
		got, err := model.NodeBlock(netip.MustParsePrefix(tc.rng), tc.i, tc.n)
		if err != nil || got.String() != tc.want {
			t.Errorf("NodeBlock(%s, %d, %d) = %s, %v; want %s", tc.rng, tc.i, tc.n, got, err, tc.want)
		}
	}
	for _, rng := range []string{"fd00:61::/123", "10.60.0.0/27"} {
		if _, err := model.NodeBlock(netip.MustParsePrefix(rng), 0, 3); err == nil || !strings.Contains(err.Error(), "too small for 16 address blocks") {
			t.Errorf("NodeBlock(%s): err = %v, want too small", rng, err)
		}
	}
}

func TestOverlayDualStack(t *testing.T) {
	topo := parse(t, "mesh.yaml", overlayV6File)
	nodes := map[string]*harness{"a": nodeHarness("10.250.0.1"), "b": nodeHarness("10.250.0.2"), "c": nodeHarness("10.250.0.3")}
	want, err := pickSubnetV6("mesh", "app", nil)
	if err != nil {
		t.Fatal(err)
	}
	// Node b's host routes the /64 its bridge network local would have
	// taken: local's subnet_v6 moves there, app's must not.
	localPick, err := pickSubnetV6("mesh", "local", subnetTaken{want})
	if err != nil {
		t.Fatal(err)
	}
	nodes["b"].links.st.HostRoutes = []netip.Prefix{localPick}
	for _, h := range nodes {
		h.apply(t, topo)
	}
	if a, b := nodes["a"].links.st.Networks["mesh/local"].SubnetV6, nodes["b"].links.st.Networks["mesh/local"].SubnetV6; a != localPick || b == localPick {
		t.Errorf("bridge network local: a %s, b %s; want a %s and b another", a, b, localPick)
	}

	// Every node derives the same subnet_v6 and gateway from the file.
	for name, h := range nodes {
		app := h.links.st.Networks["mesh/app"]
		if !app.EnableIPv6 || app.SubnetV6 != want || app.GatewayV6 != firstHost(want) {
			t.Errorf("node %s: app v6 = %v %s gw %s, want %s", name, app.EnableIPv6, app.SubnetV6, app.GatewayV6, want)
		}
		if db := h.links.st.Networks["mesh/db"]; db.SubnetV6.String() != "fd00:61::/64" || db.GatewayV6.String() != "fd00:61::1" {
			t.Errorf("node %s: db v6 = %s gw %s", name, db.SubnetV6, db.GatewayV6)
		}
	}

	// Dynamic IPv6 addresses come from each node's block of subnet_v6
	// (a, b, c: blocks 0, 1, 2 of 16); the gateway follows the IPv4 one.
	block := func(i int) netip.Prefix {
		p, err := model.NodeBlock(want, i, 3)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	web := nodes["a"].container(t, "mesh/web")
	if got := endpointAddrV6(t, web, "mesh/app"); got != netip.PrefixFrom(block(0).Addr().Next().Next(), 64).String() {
		t.Errorf("web v6 = %s, want the first free address of a's block %s", got, block(0))
	}
	if web.DefaultGatewayV6 != firstHost(want) {
		t.Errorf("web's IPv6 default gateway = %s", web.DefaultGatewayV6)
	}
	api := nodes["b"].container(t, "mesh/api")
	if got := endpointAddrV6(t, api, "mesh/app"); got != netip.PrefixFrom(block(1).Addr(), 64).String() {
		t.Errorf("api v6 on app = %s, want the first of b's block %s", got, block(1))
	}
	if got := endpointAddrV6(t, api, "mesh/db"); got != "fd00:61:0:0:1000::/64" {
		t.Errorf("api v6 on db = %s, want b's block of fd00:61::/64", got)
	}
	// A static address is claimed on every node: pg's fd00:61::2, on c,
	// lies in a's block; a container of a on db would skip it.
	if got := endpointAddrV6(t, nodes["c"].container(t, "mesh/pg"), "mesh/db"); got != "fd00:61::2/64" {
		t.Errorf("pg = %s, want its static fd00:61::2/64", got)
	}
	more := parse(t, "mesh.yaml", strings.Replace(overlayV6File, "  cache:", "  dba: {networks: [db], node: a}\n  cache:", 1))
	for _, h := range nodes {
		h.apply(t, more)
	}
	if got := endpointAddrV6(t, nodes["a"].container(t, "mesh/dba"), "mesh/db"); got != "fd00:61::3/64" {
		t.Errorf("dba (a) = %s, want fd00:61::3/64 (::1 gateway, ::2 pg's on c)", got)
	}
	if got := endpointAddrV6(t, nodes["a"].container(t, "mesh/web"), "mesh/app"); got != netip.PrefixFrom(block(0).Addr().Next().Next(), 64).String() {
		t.Errorf("web renumbered to %s", got)
	}

	// A second apply is a no-op; the plan says where the node allocates.
	for name, h := range nodes {
		h.expectEmptyPlan(t, "node "+name, more)
	}
	d, err := Desired(more, nil, Options{Node: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(overlayDetails(d.Networks["mesh/db"]), "; "); !strings.Contains(got, "node b allocates from 10.61.0.16/28 and fd00:61:0:0:1000::/68") {
		t.Errorf("plan details = %s", got)
	}
}

func TestOverlaySubnetV6ClashesWithTheHost(t *testing.T) {
	h := nodeHarness("10.250.0.1")
	p, err := pickSubnetV6("mesh", "app", nil)
	if err != nil {
		t.Fatal(err)
	}
	h.links.st.HostRoutes = []netip.Prefix{p}
	topo := parse(t, "mesh.yaml", overlayV6File)
	if _, err := h.r.Plan(t.Context(), topo.Name, topo); err == nil || !strings.Contains(err.Error(), "the overlay's subnet_v6 "+p.String()+" (derived from the file, the same on every node) overlaps the host route") {
		t.Fatalf("err = %v", err)
	}
}

func TestOverlayIPv6NeedsTheMinimumMTU(t *testing.T) {
	h := newHarness()
	h.r.Options.LocalAddrs = func() (map[netip.Addr]int, error) {
		return map[netip.Addr]int{netip.MustParseAddr("10.250.0.1"): 1300}, nil
	}
	topo := parse(t, "mesh.yaml", overlayV6File)
	if _, err := h.r.Plan(t.Context(), topo.Name, topo); err == nil || !strings.Contains(err.Error(), "mtu would be 1250 (the underlay's 1300 less 50 of VXLAN), below the 1280 IPv6 needs") {
		t.Fatalf("err = %v", err)
	}
}

// expectEmptyPlan fails the test unless planning topo changes nothing.
func (h *harness) expectEmptyPlan(t *testing.T, what string, topo *spec.Topology) {
	t.Helper()
	if p := h.plan(t, topo); !p.Empty() {
		var b bytes.Buffer
		_ = p.WriteText(&b)
		t.Errorf("%s: plan not empty:\n%s", what, b.String())
	}
}

// A dual-stack overlay's bridge carries a link-local address of the
// node's own (fe80::<node address>): desired on every dual-stack overlay,
// compared on observation like any address, so that one deleted by hand
// is planned back; never on a bridge network, where it is the kernel's.
func TestOverlayLinkLocal(t *testing.T) {
	topo := parse(t, "mesh.yaml", overlayV6File)
	for node, want := range map[string]string{"a": "fe80::afa:1/64", "b": "fe80::afa:2/64"} {
		d, err := Desired(topo, nil, Options{Node: node})
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"mesh/app", "mesh/db"} {
			if got := d.Networks[id].LinkLocal.String(); got != want {
				t.Errorf("node %s: %s's link-local = %s, want %s", node, id, got, want)
			}
		}
		if got := d.Networks["mesh/local"].LinkLocal; got.IsValid() {
			t.Errorf("node %s: bridge network local desired with link-local %s", node, got)
		}
	}
	d, err := Desired(parse(t, "mesh.yaml", overlayFile), nil, Options{Node: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Networks["mesh/app"].LinkLocal; got.IsValid() {
		t.Errorf("IPv4-only overlay desired with link-local %s", got)
	}

	h := nodeHarness("10.250.0.1")
	res := h.apply(t, topo)
	if got := strings.Join(actionFor(t, res.Plan, OpCreate, KindNetwork, "app").Details, "\n"); !strings.Contains(got, "link-local fe80::afa:1/64") {
		t.Errorf("creating app: details lack its link-local:\n%s", got)
	}
	h.expectEmptyPlan(t, "after apply", topo)

	// Deleted by hand: an update of the network names it, and apply puts
	// it back.
	h.links.st.Networks["mesh/app"].LinkLocal = netip.Prefix{}
	p := h.plan(t, topo)
	if len(p.Actions) != 1 {
		var b bytes.Buffer
		_ = p.WriteText(&b)
		t.Fatalf("link-local deleted: want one action, got:\n%s", b.String())
	}
	if a := p.Actions[0]; a.Op != OpUpdate || a.Kind != KindNetwork || a.Name != "app" ||
		!slices.Equal(a.Details, []string{"link-local: (none) -> fe80::afa:1/64"}) {
		t.Errorf("link-local deleted: action %s %s %s %q", a.Op, a.Kind, a.Name, a.Details)
	}
	h.apply(t, topo)
	if got := h.links.st.Networks["mesh/app"].LinkLocal.String(); got != "fe80::afa:1/64" {
		t.Errorf("after apply: app's link-local = %s", got)
	}
	h.expectEmptyPlan(t, "after the repair", topo)

	// A stray one on an overlay goes; a bridge network's is the kernel's.
	h.links.st.Networks["mesh/db"].LinkLocal = netip.MustParsePrefix("fe80::99/64")
	if a := actionFor(t, h.plan(t, topo), OpUpdate, KindNetwork, "db"); !slices.Equal(a.Details, []string{"link-local: fe80::99/64 -> fe80::afa:1/64"}) {
		t.Errorf("a stray link-local on db: details %q", a.Details)
	}
	h.apply(t, topo)
	h.links.st.Networks["mesh/local"].LinkLocal = netip.MustParsePrefix("fe80::99/64")
	h.expectEmptyPlan(t, "a link-local on a bridge network", topo)
}

// actionFor returns the plan's one action of that op, kind and name.
func actionFor(t *testing.T, p *Plan, op Op, kind Kind, name string) *Action {
	t.Helper()
	for _, a := range p.Actions {
		if a.Op == op && a.Kind == kind && a.Name == name {
			return a
		}
	}
	var b bytes.Buffer
	_ = p.WriteText(&b)
	t.Fatalf("no %s %s %s in the plan:\n%s", op, kind, name, b.String())
	return nil
}
