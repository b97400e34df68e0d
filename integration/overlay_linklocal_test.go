package integration

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/netctl/netctl/internal/sandbox"
)

// linkLocalTopo is a dual-stack overlay on two nodes, web publishing a
// port on node a.
const linkLocalTopo = `
name: ll
networks:
  app: {driver: overlay, subnet: 10.62.0.0/24, enable_ipv6: true, subnet_v6: "fd00:62::/64"}
containers:
  web: {node: a, networks: [app], ports: ["8080:80"]}
  api: {node: b, networks: [app]}
`

// The overlay bridge's own link-local address (fe80::afa:1 on node a),
// deleted by hand, is drift like any other: without it the node sends no
// neighbour solicitation on the bridge for forwarded traffic, so a
// published port stops answering over IPv6 once the node forgets the
// container's MAC; `diff` names it, `apply` puts it back and the port
// answers again, and `watch` hears of it at once and repairs it.
func TestOverlayLinkLocalRepaired(t *testing.T) {
	c := &overlayCluster{Cluster: sandbox.NewCluster(t, 2)}
	c.write(t, linkLocalTopo+c.NodesYAML("a", "b"))
	a := c.Hosts[0]
	c.applyAll(t)
	// The outside: a machine on the underlay, IPv6 towards node a.
	out := a.AddNetns(t, "out")
	c.Plug(t, filepath.Base(out), "eth0", "10.250.0.100/24")
	if r := a.InNetns(out, "ip", "-6", "addr", "add", "fd00:250::100/64", "dev", "eth0", "nodad"); r.Code != 0 {
		t.Fatalf("the outside's IPv6 address: %s", r)
	}
	inHost(t, a, "ip", "-6", "addr", "add", "fd00:250::1/64", "dev", "eth0", "nodad")
	serve(t, a.ContainerNetns("ll", "web"), "tcp6", 80, "web")

	br := inspectNetwork(t, a, "app").Options["com.docker.network.bridge.name"]
	const ll = "fe80::afa:1/64"
	// published answers on web's port from the outside after node a has
	// forgotten web's MAC, so that the answer needs a neighbour
	// solicitation from the bridge.
	published := func() (string, error) {
		if r := a.InHost("ip", "-6", "neigh", "flush", "dev", br); r.Code != 0 {
			t.Fatalf("flush %s's neighbours: %s", br, r)
		}
		return request(out, "tcp6", "[fd00:250::1]:8080", 2*time.Second)
	}
	hasLinkLocal := func() bool { return slices.Contains(bridgeAddrs6(t, a, br), ll+" nodad") }
	if got, err := published(); err != nil || !strings.HasPrefix(got, "web ") {
		t.Fatalf("web's port 8080 on node a's IPv6 address: %q, %v", got, err)
	}
	if !hasLinkLocal() {
		t.Fatalf("%s's IPv6 addresses %q lack %s nodad", br, bridgeAddrs6(t, a, br), ll)
	}

	inHost(t, a, "ip", "-6", "addr", "del", ll, "dev", br)
	if got, err := published(); err == nil {
		t.Errorf("without %s on %s, the published port still answered %q: the test proves nothing", ll, br, got)
	}
	d := a.Netctl("--node", "a", "diff", "-f", c.files[0])
	if d.Code != 2 || !strings.Contains(d.Stdout, "~ network app: ") || !strings.Contains(d.Stdout, "link-local: (none) -> "+ll) {
		t.Errorf("diff after deleting %s: exit %d, want 2 and the network's update naming it:\n%s", ll, d.Code, d.Stdout)
	}
	c.apply(t, 0)
	if !hasLinkLocal() {
		t.Errorf("after apply: %s's IPv6 addresses %q lack %s nodad", br, bridgeAddrs6(t, a, br), ll)
	}
	if got, err := published(); err != nil || !strings.HasPrefix(got, "web ") {
		t.Errorf("after apply: web's port 8080 on node a's IPv6 address: %q, %v", got, err)
	}
	if d := a.Netctl("--node", "a", "diff", "-f", c.files[0]); d.Code != 0 {
		t.Errorf("diff after the repair: exit %d\n%s", d.Code, d.Stdout)
	}

	// No periodic resync: only the address's announcement can wake it.
	w := startWatch(t, a, c.files[0], "--node", "a", "--resync", "0")
	defer w.stop()
	w.next(isDrift("app"), "watch's repair of the link-local address", func() {
		inHost(t, a, "ip", "-6", "addr", "del", ll, "dev", br)
	})
	if !hasLinkLocal() {
		t.Errorf("after watch's repair: %s's IPv6 addresses %q lack %s nodad", br, bridgeAddrs6(t, a, br), ll)
	}
	if got, err := published(); err != nil || !strings.HasPrefix(got, "web ") {
		t.Errorf("after watch's repair: web's port 8080 on node a's IPv6 address: %q, %v", got, err)
	}
}
