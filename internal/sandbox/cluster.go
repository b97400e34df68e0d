package sandbox

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Cluster is several sandbox hosts on one underlay: a "switch" namespace
// holding a bridge, and a veth from each host's eth0 to it. It stands in
// for the machines an overlay network spans.
type Cluster struct {
	Hosts []*Host
	// Addrs are the hosts' underlay addresses, in Hosts' order.
	Addrs []string
	// Switch is the switch namespace's path.
	Switch string

	ports int
}

// underlayPrefix is the underlay's subnet: inside 10.250.0.0/16, where
// tests may address anything.
const underlayPrefix = "10.250.0."

// NewCluster creates n sandbox hosts with underlay addresses 10.250.0.1,
// 10.250.0.2, ... (on eth0, /24) joined by a switch; all are removed when t
// ends.
func NewCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	c := &Cluster{}
	for i := range n {
		c.Hosts = append(c.Hosts, New(t))
		c.Addrs = append(c.Addrs, fmt.Sprintf("%s%d", underlayPrefix, i+1))
	}
	c.Switch = c.Hosts[0].AddNetns(t, "sw")
	sw := filepath.Base(c.Switch)
	mustIP(t, "ip", "-n", sw, "link", "add", "br0", "type", "bridge")
	mustIP(t, "ip", "-n", sw, "link", "set", "br0", "up")
	for i, h := range c.Hosts {
		c.Plug(t, h.Name(), "eth0", c.Addrs[i]+"/24")
	}
	return c
}

// Plug connects the namespace named ns (under /run/netns) to the switch
// with a veth whose end in ns is ifname, with cidr on it.
func (c *Cluster) Plug(t testing.TB, ns, ifname, cidr string) {
	t.Helper()
	sw := filepath.Base(c.Switch)
	c.ports++
	port := fmt.Sprintf("p%d", c.ports)
	mustIP(t, "ip", "-n", sw, "link", "add", port, "type", "veth", "peer", "name", ifname, "netns", ns)
	mustIP(t, "ip", "-n", sw, "link", "set", port, "master", "br0", "up")
	mustIP(t, "ip", "-n", ns, "addr", "add", cidr, "dev", ifname)
	mustIP(t, "ip", "-n", ns, "link", "set", ifname, "up")
}

// Unplug takes host i off the underlay (its eth0 down): a node that
// crashed or lost its network.
func (c *Cluster) Unplug(t testing.TB, i int) {
	t.Helper()
	mustIP(t, "ip", "-n", c.Hosts[i].Name(), "link", "set", "eth0", "down")
}

// NodesYAML is the `nodes:` section naming the hosts names[i] at their
// underlay addresses.
func (c *Cluster) NodesYAML(names ...string) string {
	var b strings.Builder
	b.WriteString("nodes:\n")
	for i, n := range names {
		fmt.Fprintf(&b, "  %s: {address: %s}\n", n, c.Addrs[i])
	}
	return b.String()
}

func mustIP(t testing.TB, argv ...string) {
	t.Helper()
	if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("sandbox: %s: %v\n%s", strings.Join(argv, " "), err, out)
	}
}
