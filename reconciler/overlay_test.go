package reconciler

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/netctl/netctl/model"
)

const overlayFile = `
name: mesh
networks:
  app: {driver: overlay, subnet: 10.60.0.0/16}
  db: {driver: overlay, subnet: 10.61.0.0/24, vni: 4242}
  local: {}
containers:
  web: {networks: {app: {aliases: [www]}}, node: a}
  api: {networks: [app, db], node: b}
  pg: {networks: {db: {ipv4_address: 10.61.0.200}}, node: c}
  cache: {networks: [local]}
nodes:
  c: {address: 10.250.0.3}
  a: {address: 10.250.0.1}
  b: {address: 10.250.0.2}
`

// nodeHarness is one node of an overlay: a fake host that holds the
// node's address.
func nodeHarness(addr string) *harness {
	h := newHarness()
	h.r.Options.LocalAddrs = holds(addr)
	return h
}

// holds is a host's addresses: addr on a link of MTU 1500, and loopback.
func holds(addr string) func() (map[netip.Addr]int, error) {
	return func() (map[netip.Addr]int, error) {
		return map[netip.Addr]int{netip.MustParseAddr(addr): 1500, netip.MustParseAddr("127.0.0.1"): 65536}, nil
	}
}

func TestResolveNode(t *testing.T) {
	topo := parse(t, "mesh.yaml", overlayFile)
	local := func(addrs ...string) map[netip.Addr]int {
		m := map[netip.Addr]int{}
		for _, a := range addrs {
			m[netip.MustParseAddr(a)] = 1500
		}
		return m
	}
	for _, tc := range []struct {
		name, flag string
		local      map[netip.Addr]int
		want, err  string
	}{
		{"by address", "", local("10.250.0.2"), "b", ""},
		{"by flag", "c", local("10.250.0.3", "10.250.0.1"), "c", ""},
		{"flag without the host", "c", nil, "c", ""},
		{"none local", "", local("192.0.2.1"), "", "holds none of the addresses of mesh.yaml's nodes (c, a, b): use --node NAME"},
		{"ambiguous", "", local("10.250.0.1", "10.250.0.3"), "", "holds the addresses of several nodes (c, a): use --node NAME"},
		{"unknown flag", "d", local("10.250.0.1"), "", "--node d: not a node of mesh.yaml (nodes: c, a, b)"},
		{"flag not local", "a", local("10.250.0.2"), "", "does not hold the node's address 10.250.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := ResolveNode(topo, tc.flag, tc.local)
			switch {
			case tc.err != "":
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
			case err != nil:
				t.Fatal(err)
			case n.Name != tc.want:
				t.Fatalf("node = %s, want %s", n.Name, tc.want)
			}
		})
	}
	if _, err := ResolveNode(parse(t, "one.yaml", guide), "a", nil); err == nil {
		t.Fatal("--node with a file without nodes: no error")
	}
}

// TestHostAddrsOnlyForNodes: the host's addresses (a netlink read per
// link that holds one) are asked for only by a file with nodes, the only
// one that needs them, and a failure to read them names what failed.
func TestHostAddrsOnlyForNodes(t *testing.T) {
	h := newHarness()
	asked := 0
	h.r.Options.LocalAddrs = func() (map[netip.Addr]int, error) {
		asked++
		return nil, errors.New("netlink: permission denied")
	}
	if _, err := Desired(parse(t, "one.yaml", guide), nil, h.r.Options); err != nil || asked != 0 {
		t.Fatalf("file without nodes: %v, host addresses asked %d times", err, asked)
	}
	_, err := Desired(parse(t, "mesh.yaml", overlayFile), nil, h.r.Options)
	if asked != 1 || err == nil || !strings.Contains(err.Error(), "host addresses: netlink: permission denied") {
		t.Fatalf("file with nodes: %v, host addresses asked %d times", err, asked)
	}
}

func TestOverlayNodes(t *testing.T) {
	topo := parse(t, "mesh.yaml", overlayFile)
	nodes := map[string]*harness{"a": nodeHarness("10.250.0.1"), "b": nodeHarness("10.250.0.2"), "c": nodeHarness("10.250.0.3")}
	for _, h := range nodes {
		h.apply(t, topo)
	}

	// Each node runs its own containers, plus the bridge-only one.
	want := map[string][]string{"a": {"mesh/cache", "mesh/web"}, "b": {"mesh/api", "mesh/cache"}, "c": {"mesh/cache", "mesh/pg"}}
	for name, h := range nodes {
		if got := strings.Join(h.links.st.SortedContainerIDs(), " "); got != strings.Join(want[name], " ") {
			t.Errorf("node %s runs %s, want %v", name, got, want[name])
		}
	}

	// The data plane: one VXLAN device per overlay, towards the others.
	app := nodes["b"].links.st.Networks["mesh/app"]
	if app.Overlay == nil || app.Overlay.Local.String() != "10.250.0.2" || addrList(app.Overlay.Peers) != "10.250.0.1,10.250.0.3" {
		t.Fatalf("b's app overlay = %+v", app.Overlay)
	}
	if app.MTU != 1450 || app.Overlay.VNI != model.DerivedVNI("mesh", "app") {
		t.Errorf("b's app: mtu %d vni %d", app.MTU, app.Overlay.VNI)
	}
	if vni := nodes["c"].links.st.Networks["mesh/db"].Overlay.VNI; vni != 4242 {
		t.Errorf("db vni = %d, want the file's 4242", vni)
	}
	if n := nodes["a"].links.st.Networks["mesh/local"]; n.Overlay != nil {
		t.Errorf("bridge network local has an overlay: %+v", n.Overlay)
	}

	// Addresses come from each node's block: a, b, c sort to blocks 0, 1, 2
	// of 16 (/20 in a /16).
	if got := endpointAddr(t, nodes["a"].container(t, "mesh/web"), "mesh/app"); got != "10.60.0.2/16" {
		t.Errorf("web = %s, want 10.60.0.2/16 (block 0, after the gateway)", got)
	}
	if got := endpointAddr(t, nodes["b"].container(t, "mesh/api"), "mesh/app"); got != "10.60.16.0/16" {
		t.Errorf("api = %s, want 10.60.16.0/16 (block 1)", got)
	}
	if got := endpointAddr(t, nodes["c"].container(t, "mesh/pg"), "mesh/db"); got != "10.61.0.200/24" {
		t.Errorf("pg = %s, want its static 10.61.0.200/24", got)
	}

	// Names of remote containers point at their node.
	dns := nodes["a"].names.cfg["mesh"]
	if dns == nil || dns.Peers == nil || dns.Peers.Listen.String() != "10.250.0.1" {
		t.Fatalf("a's dns = %+v", dns)
	}
	var remote []string
	for _, n := range dns.Networks {
		for _, r := range n.Remote {
			remote = append(remote, n.ID+":"+r.Container+"@"+r.Node.String()+"="+strings.Join(r.Names, ","))
		}
	}
	if got := strings.Join(remote, " "); got != "mesh/app:api@10.250.0.2=api" {
		t.Errorf("a's remote names = %s", got)
	}

	// Adding containers on other nodes renumbers nothing here (sticky), and
	// a second apply changes nothing.
	more := parse(t, "mesh.yaml", strings.Replace(overlayFile, "  cache:", "  new1: {networks: [app], node: a}\n  new2: {networks: [app], node: b}\n  cache:", 1))
	for _, h := range nodes {
		h.apply(t, more)
	}
	if got := endpointAddr(t, nodes["b"].container(t, "mesh/api"), "mesh/app"); got != "10.60.16.0/16" {
		t.Errorf("api moved to %s after containers were added", got)
	}
	if got := endpointAddr(t, nodes["b"].container(t, "mesh/new2"), "mesh/app"); got != "10.60.16.1/16" {
		t.Errorf("new2 = %s, want 10.60.16.1/16", got)
	}
	for name, h := range nodes {
		h.expectEmptyPlan(t, "node "+name+": second plan", more)
	}

	// Moving web to c: a deletes it, c creates it in its own block.
	movedSrc := strings.Replace(overlayFile, "aliases: [www]}}, node: a", "aliases: [www]}}, node: c", 1)
	moved := parse(t, "mesh.yaml", movedSrc)
	nodes["a"].apply(t, moved)
	nodes["c"].apply(t, moved)
	if _, ok := nodes["a"].links.st.Containers["mesh/web"]; ok {
		t.Error("web still on a after the move")
	}
	if got := endpointAddr(t, nodes["c"].container(t, "mesh/web"), "mesh/app"); got != "10.60.32.0/16" {
		t.Errorf("moved web = %s, want 10.60.32.0/16 (c's block)", got)
	}

	// Removing node c from the file removes it from the others' peers.
	var kept []string
	for _, l := range strings.Split(movedSrc, "\n") {
		if !strings.Contains(l, "node: c") && !strings.Contains(l, "c: {address") {
			kept = append(kept, l)
		}
	}
	noC := parse(t, "mesh.yaml", strings.Join(kept, "\n"))
	p := nodes["a"].plan(t, noC)
	var b bytes.Buffer
	_ = p.WriteText(&b)
	if !strings.Contains(b.String(), "peers: 10.250.0.2,10.250.0.3 -> 10.250.0.2") {
		t.Errorf("plan without node c does not drop its peer:\n%s", b.String())
	}
	nodes["a"].apply(t, noC)
	if got := addrList(nodes["a"].links.st.Networks["mesh/app"].Overlay.Peers); got != "10.250.0.2" {
		t.Errorf("a's peers after c left = %s", got)
	}
}

func TestOverlayVNIClashWithAnotherProject(t *testing.T) {
	h := nodeHarness("10.250.0.1")
	h.apply(t, parse(t, "mesh.yaml", overlayFile))
	other := parse(t, "other.yaml", `
networks:
  x: {driver: overlay, subnet: 10.70.0.0/24, vni: 4242}
nodes: {a: {address: 10.250.0.1}}
`)
	if _, err := h.r.Plan(t.Context(), other.Name, other); err == nil || !strings.Contains(err.Error(), "vni 4242 is already used by network mesh/db") {
		t.Fatalf("err = %v", err)
	}
}
