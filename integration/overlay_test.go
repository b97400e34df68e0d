package integration

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/netctl/netctl/internal/sandbox"
	"github.com/netctl/netctl/model"
)

// overlayTopo spans nodes a, b and c (the cluster's hosts 0, 1, 2): app
// and other are overlays, local a bridge network every node has on its own.
const overlayTopo = `
name: mesh
networks:
  app: {driver: overlay, subnet: 10.60.0.0/16}
  other: {driver: overlay, subnet: 10.61.0.0/24}
  local: {subnet: 172.30.0.0/24}
containers:
  web: {networks: {app: {aliases: [www]}}, node: a, ports: ["8080:80"]}
  api: {networks: {app: {aliases: [backend]}}, node: b}
  pg: {networks: {other: {ipv4_address: 10.61.0.200}}, node: c}
  worker: {networks: {app: {aliases: [www]}, other: {}}, node: c}
  loner: {networks: [local]}
`

var overlayNodes = []string{"a", "b", "c"}

type overlayCluster struct {
	*sandbox.Cluster
	files []string // the topology's path in each host
}

func newOverlayCluster(t *testing.T) *overlayCluster {
	c := &overlayCluster{Cluster: sandbox.NewCluster(t, 3)}
	c.write(t, overlayTopo)
	return c
}

// write puts the same file on every host, as a Git checkout would; the
// nodes a, b, c are added unless topo has its own.
func (c *overlayCluster) write(t *testing.T, topo string) {
	t.Helper()
	if !strings.Contains(topo, "\nnodes:") {
		topo += c.NodesYAML(overlayNodes...)
	}
	c.files = nil
	for _, h := range c.Hosts {
		c.files = append(c.files, h.WriteFile(t, "mesh.yaml", topo))
	}
}

// apply runs apply on host i as node overlayNodes[i].
func (c *overlayCluster) apply(t *testing.T, i int) {
	t.Helper()
	c.Hosts[i].MustNetctl(t, "--node", overlayNodes[i], "apply", "-f", c.files[i])
}

// applyAll applies on every host, as their watchers would after a pull.
func (c *overlayCluster) applyAll(t *testing.T) {
	t.Helper()
	for i := range c.Hosts {
		c.apply(t, i)
	}
}

// ctrAddr is a container's IPv4 address on its interface ifname.
func ctrAddr(t *testing.T, h *sandbox.Host, container, ifname string) string {
	t.Helper()
	r := h.InContainer("mesh", container, "ip", "-j", "-4", "addr", "show", "dev", ifname)
	var out []struct {
		AddrInfo []struct{ Local string } `json:"addr_info"`
	}
	if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &out) != nil || len(out) != 1 || len(out[0].AddrInfo) != 1 {
		t.Fatalf("address of %s/%s: %s", container, ifname, r)
	}
	return out[0].AddrInfo[0].Local
}

// pingName pings a name from a container through netctl exec, so that the
// container's resolv.conf (the embedded DNS server) is used.
func pingName(t *testing.T, h *sandbox.Host, from, name string) bool {
	t.Helper()
	r := h.Netctl("exec", from, "--", "ping", "-c1", "-W2", "-n", name)
	if r.Code != 0 {
		t.Logf("ping %s -> %s: %s", from, name, r)
	}
	return r.Code == 0
}

func TestOverlayAcrossNodes(t *testing.T) {
	c := newOverlayCluster(t)
	a, b, cc := c.Hosts[0], c.Hosts[1], c.Hosts[2]
	c.apply(t, 0)
	c.apply(t, 1)
	// Host c finds itself by its address, without --node.
	cc.MustNetctl(t, "apply", "-f", c.files[2])

	apiAddr := ctrAddr(t, b, "api", "eth0")
	if apiAddr != "10.60.16.0" {
		t.Errorf("api = %s, want 10.60.16.0 (the first address of b's block)", apiAddr)
	}
	if !a.Ping(t, "mesh", "web", apiAddr) {
		t.Fatal("web (a) cannot reach api (b) by address across the overlay")
	}
	for _, name := range []string{"api", "backend", "worker"} {
		if !pingName(t, a, "web", name) {
			t.Errorf("web (a) cannot reach %s by name", name)
		}
	}
	if !pingName(t, cc, "worker", "www") || !pingName(t, cc, "worker", "pg") {
		t.Error("worker (c) cannot reach www (a) or pg (c) by name")
	}
	// An alias on two nodes answers with both; PTR of a remote address.
	webAddr, workerAddr := ctrAddr(t, a, "web", "eth0"), ctrAddr(t, cc, "worker", "eth0")
	r := b.Netctl("exec", "api", "--", "dig", "+short", "+time=2", "+tries=1", "www")
	if got := strings.Fields(r.Stdout); len(got) != 2 || !slices.Contains(got, webAddr) || !slices.Contains(got, workerAddr) {
		t.Errorf("www from api (b) = %q, want web's %s (a) and worker's %s (c)", got, webAddr, workerAddr)
	}
	if r := a.Netctl("exec", "web", "--", "dig", "+short", "+time=2", "+tries=1", "-x", apiAddr); !strings.Contains(r.Stdout, "api.") {
		t.Errorf("PTR of api's %s from web (a) = %s, want api.", apiAddr, r)
	}
	// Isolation: another overlay, and the node's own bridge network.
	if a.Ping(t, "mesh", "web", "10.61.0.200") {
		t.Error("web (app) reaches pg on the other overlay")
	}
	if a.Ping(t, "mesh", "web", ctrAddr(t, a, "loner", "eth0")) {
		t.Error("web (overlay) reaches loner on the bridge network local")
	}
	if r := a.Netctl("exec", "web", "--", "dig", "+short", "+time=2", "+tries=1", "pg"); strings.TrimSpace(r.Stdout) != "" {
		t.Errorf("web resolves pg, which shares no network with it: %s", r)
	}
	// Egress and published ports go through the container's own node.
	out := a.AddNetns(t, "out")
	c.Plug(t, filepath.Base(out), "eth0", "10.250.0.100/24")
	outside := serve(t, out, "tcp", 9000, "outside")
	expectServed(t, "web (a) to the outside", a.ContainerNetns("mesh", "web"), "tcp", "10.250.0.100:9000", "outside")
	if peers := outside.Peers(); len(peers) != 1 || !strings.HasPrefix(peers[0], "10.250.0.1:") {
		t.Errorf("the outside saw web as %v, want node a's 10.250.0.1 (masquerade)", peers)
	}
	serve(t, a.ContainerNetns("mesh", "web"), "tcp", 80, "web")
	expectServed(t, "web's published port on node a", out, "tcp", "10.250.0.1:8080", "web")
	expectBlocked(t, "web's port on node b, which does not run it", out, "tcp", "10.250.0.2:8080")

	// The data plane as the kernel holds it: one VXLAN device per overlay,
	// local = the node, one flood entry per other node.
	vx := model.VXLANName("mesh", "app")
	r = a.InHost("ip", "-d", "link", "show", vx)
	for _, want := range []string{"vxlan id " + itoa(int(model.DerivedVNI("mesh", "app"))), "local 10.250.0.1", "dstport 4789", "mtu 1450"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("%s on a lacks %q:\n%s", vx, want, r)
		}
	}
	if got := floodPeers(t, a, vx); got != "10.250.0.2 10.250.0.3" {
		t.Errorf("a's flood entries = %q", got)
	}

	// ls, inspect and ps show the overlay in Docker's shape.
	ls := a.MustNetctl(t, "ls").Stdout
	if !regexp.MustCompile(`app\s+overlay\s+swarm`).MatchString(ls) {
		t.Errorf("ls does not show app as an overlay of scope swarm:\n%s", ls)
	}
	var nets []struct {
		Driver, Scope string
		Options       map[string]string
		Peers         []struct{ IP string }
	}
	if err := json.Unmarshal([]byte(a.MustNetctl(t, "inspect", "app").Stdout), &nets); err != nil || len(nets) != 1 {
		t.Fatalf("inspect app: %v", err)
	}
	if n := nets[0]; n.Driver != "overlay" || n.Scope != "swarm" || n.Options["com.docker.network.driver.overlay.vxlanid_list"] != itoa(int(model.DerivedVNI("mesh", "app"))) || len(n.Peers) != 2 {
		t.Errorf("inspect app = %+v", n)
	}
	if ps := a.MustNetctl(t, "ps").Stdout; !regexp.MustCompile(`(?m)^\S+\s+web\s.*\sa$`).MatchString(ps) {
		t.Errorf("ps does not show web's node a:\n%s", ps)
	}

	// Sticky: containers added on other nodes renumber nothing.
	c.write(t, strings.Replace(overlayTopo, "  loner:", "  extra1: {networks: [app], node: a}\n  extra2: {networks: [app], node: c}\n  loner:", 1))
	c.applyAll(t)
	if got := ctrAddr(t, b, "api", "eth0"); got != apiAddr {
		t.Errorf("api renumbered from %s to %s when others were added", apiAddr, got)
	}
	if !pingName(t, b, "api", "extra2") {
		t.Error("api (b) cannot reach the new extra2 (c) by name")
	}

	// Move api to c: b removes it, c creates it, the name follows.
	c.write(t, strings.Replace(overlayTopo, "aliases: [backend]}}, node: b", "aliases: [backend]}}, node: c", 1))
	c.applyAll(t)
	if r := b.InHost("test", "-e", b.ContainerNetns("mesh", "api")); r.Code == 0 {
		t.Error("api still has a namespace on b after moving to c")
	}
	if got := ctrAddr(t, cc, "api", "eth0"); !strings.HasPrefix(got, "10.60.32.") {
		t.Errorf("api on c = %s, want an address of c's block 10.60.32.0/20", got)
	}
	if !pingName(t, a, "web", "backend") {
		t.Error("web cannot reach api by alias after the move")
	}

	// down on b leaves a and c working.
	b.MustNetctl(t, "--node", "b", "down", "-f", c.files[1])
	if !pingName(t, a, "web", "api") {
		t.Error("web (a) lost api (c) when b went down")
	}

	// Node c leaves the file: a and b forget it.
	var kept []string
	for _, l := range strings.Split(overlayTopo, "\n") {
		if !strings.Contains(l, "node: c") {
			kept = append(kept, l)
		}
	}
	c.write(t, strings.Join(kept, "\n")+"\n"+c.NodesYAML("a", "b"))
	c.apply(t, 0)
	if got := floodPeers(t, a, vx); got != "10.250.0.2" {
		t.Errorf("a's flood entries after c left = %q, want only b", got)
	}
}

// floodPeers lists the destinations of a VXLAN device's all-zeros entries.
func floodPeers(t *testing.T, h *sandbox.Host, dev string) string {
	t.Helper()
	r := h.InHost("bridge", "fdb", "show", "dev", dev)
	var peers []string
	for _, l := range strings.Split(r.Stdout, "\n") {
		f := strings.Fields(l)
		if len(f) > 2 && f[0] == "00:00:00:00:00:00" && f[1] == "dst" {
			peers = append(peers, f[2])
		}
	}
	return strings.Join(peers, " ")
}

// examples/overlay.yaml does what its comments say, on three hosts that
// find themselves by address.
func TestOverlayExample(t *testing.T) {
	c := sandbox.NewCluster(t, 3)
	topo := example(t, "overlay.yaml")
	for _, h := range c.Hosts {
		h.MustNetctl(t, "apply", "-f", h.WriteFile(t, "overlay.yaml", topo))
	}
	a, b := c.Hosts[0], c.Hosts[1]
	if !pingName(t, a, "web", "api") {
		t.Error("web (node-a) cannot reach api (node-b) by name")
	}
	if !b.Ping(t, "shop", "api", "10.61.0.200") || !pingName(t, b, "api", "db") {
		t.Error("api (node-b) cannot reach db (node-c) on data")
	}
	if pingName(t, a, "web", "db") {
		t.Error("web reaches db, which is on data only")
	}
}
