package integration

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/netctl/netctl/internal/sandbox"
)

// overlayDNS53Topo runs a container publishing port 53 (udp and tcp) on
// every host address of node a, and a client on node b.
const overlayDNS53Topo = `
name: mesh
networks:
  app: {driver: overlay, subnet: 10.60.0.0/16}
containers:
  resolver: {networks: [app], node: a, ports: ["53:53/udp", "53:53/tcp"]}
  client: {networks: [app], node: b}
`

// A container publishing 53 on every host address of node a does not
// take the other node's DNS queries to a's underlay address (netctl's DNS
// server answers them there): names of a's containers keep resolving on
// b, over UDP and TCP. Anybody else on the underlay asking a's address
// still reaches the published port: it is the user's service.
func TestOverlayPublishedDNSPortKeepsNamesResolving(t *testing.T) {
	c := &overlayCluster{Cluster: sandbox.NewCluster(t, 2)}
	c.write(t, overlayDNS53Topo+c.NodesYAML("a", "b"))
	c.applyAll(t)
	a, b := c.Hosts[0], c.Hosts[1]
	resolverNetns := a.ContainerNetns("mesh", "resolver")
	serve(t, resolverNetns, "udp", 53, "published")
	serve(t, resolverNetns, "tcp", 53, "published")
	resolver := ctrAddr(t, a, "resolver", "eth0")

	// b's DNS server asks a's (UDP) for the container a runs.
	r := b.Netctl("exec", "client", "--", "dig", "+time=2", "+tries=2", "+short", "resolver")
	if got := strings.TrimSpace(r.Stdout); got != resolver {
		t.Errorf("client (b) resolving resolver (a) while a publishes 53: %s, want %s", r, resolver)
	}
	// The exemption holds for TCP too: node b asking a's underlay
	// listener directly, as a peer server may.
	for _, transport := range []string{"+notcp", "+tcp"} {
		r := b.InHost("dig", "@"+c.Addrs[0], "+time=2", "+tries=2", "+short", transport, "resolver")
		if got := strings.TrimSpace(r.Stdout); got != resolver {
			t.Errorf("node b asking %s:53 (%s) for resolver: %s, want %s", c.Addrs[0], transport, r, resolver)
		}
	}

	// A host on the underlay that is no node of the file reaches the
	// published port on a's address.
	out := a.AddNetns(t, "out")
	c.Plug(t, filepath.Base(out), "eth0", "10.250.0.100/24")
	for _, proto := range []string{"udp", "tcp"} {
		expectServed(t, "the published port 53 from outside", out, proto, c.Addrs[0]+":53", "published")
	}
	// So does node a itself (the published port on 127.0.0.1).
	expectServed(t, "the published port 53 from node a", a.NetnsPath(), "udp", "127.0.0.1:53", "published")

	// A second apply finds nothing to change: the exemption reads back as
	// it was made.
	if r := a.Netctl("--node", "a", "diff", "-f", c.files[0]); r.Code != 0 {
		t.Errorf("diff on a after apply: %s", r)
	}

	// Drift: the exemption of b's UDP queries removed by hand shows in
	// the plan and the next apply puts it back.
	del := []string{sandbox.Iptables("iptables"), "-t", "nat", "-D", "NETCTL", "-s", c.Addrs[1] + "/32", "-d", c.Addrs[0] + "/32", "-p", "udp",
		"-m", "comment", "--comment", "netctl:mesh:app dns " + c.Addrs[0] + ":53 from " + c.Addrs[1], "-m", "udp", "--dport", "53", "-j", "RETURN"}
	if sandbox.Firewall() == "nftables" {
		del = []string{"nft", "delete", "element", "inet", "netctl", "dns-peers", "{ " + c.Addrs[0] + " . " + c.Addrs[1] + " }"}
	}
	if r := a.InHost(del...); r.Code != 0 {
		t.Fatalf("removing the exemption by hand: %s", r)
	}
	if r := a.Netctl("--node", "a", "diff", "-f", c.files[0]); r.Code != 2 || !strings.Contains(r.Stdout, "peer dns") {
		t.Errorf("diff on a after the exemption was removed: %s", r)
	}
	c.apply(t, 0)
	if r := b.Netctl("exec", "client", "--", "dig", "+time=2", "+tries=2", "+short", "resolver"); strings.TrimSpace(r.Stdout) != resolver {
		t.Errorf("client (b) resolving resolver (a) after the repair: %s, want %s", r, resolver)
	}

	// down takes the exemption with the rest.
	a.MustNetctl(t, "--node", "a", "down", "-f", c.files[0])
	if rules := firewallRules(t, a); strings.Contains(rules, "dns "+c.Addrs[0]+":53") || strings.Contains(rules, c.Addrs[0]+" . "+c.Addrs[1]) {
		t.Errorf("the exemption is left after down:\n%s", rules)
	}
}
