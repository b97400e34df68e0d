package integration

import (
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/netctl/netctl/internal/sandbox"
)

// dualExample is examples/dual-stack.yaml: front is dual stack from the
// ULA pool, back has an explicit subnet_v6 and icc off (web reaches db's
// 5432 through its link), routed leaves IPv6 unmasqueraded, vault is IPv4
// only.
const dualExample = "../examples/dual-stack.yaml"

// otherTopo is a second project, dual stack too.
const otherTopo = `name: blog
networks:
  site: {enable_ipv6: true, subnet_v6: "fd00:28::/64"}
containers:
  app:
    networks: [site]
`

// inspected is what a test needs of `netctl inspect` of a container.
type inspected struct {
	NetworkSettings struct {
		Networks map[string]struct {
			IPAddress           string
			GlobalIPv6Address   string
			GlobalIPv6PrefixLen int
			IPv6Gateway         string
		}
	}
}

func inspectContainer(t *testing.T, h *sandbox.Host, name string) inspected {
	t.Helper()
	return inspectAs[inspected](t, h, name)
}

// v6of is a container's IPv6 address on a network, from inspect.
func v6of(t *testing.T, h *sandbox.Host, name, network string) string {
	t.Helper()
	a := inspectContainer(t, h, name).NetworkSettings.Networks[network].GlobalIPv6Address
	if _, err := netip.ParseAddr(a); err != nil {
		t.Fatalf("%s has no IPv6 address on %s (%q)", name, network, a)
	}
	return a
}

// Dual stack end to end: addresses, routes and names over IPv6, the same
// isolation and icc as IPv4, published ports on the host's IPv6 addresses
// from another machine, hairpin and egress masquerade, sticky addresses,
// no diff after apply, drift repaired, nothing left after down.
func TestDualStack(t *testing.T) {
	h := sandbox.New(t)
	out := outside(t, h)
	h.InHost("ip", "-6", "addr", "add", "fd00:99::1/64", "dev", "vout", "nodad")
	h.InNetns(out, "ip", "-6", "addr", "add", "fd00:99::2/64", "dev", "eth0", "nodad")
	h.InNetns(out, "ip", "-6", "route", "add", "default", "via", "fd00:99::1")

	example, err := os.ReadFile(dualExample)
	if err != nil {
		t.Fatal(err)
	}
	dualTopo := string(example)
	file := h.WriteFile(t, "dual.yaml", dualTopo)
	res := h.MustNetctl(t, "apply", "-f", file)
	for _, want := range []string{"subnet_v6 fd00:18::/64 gateway_v6 fd00:18::1", "publish [::]:8080->[", "sysctl net.ipv6.conf.all.forwarding"} {
		if !strings.Contains(res.Stdout, want) {
			t.Errorf("apply output lacks %q:\n%s", want, res.Stdout)
		}
	}
	if d := h.Netctl("diff", "-f", file); d.Code != 0 {
		t.Fatalf("diff right after apply: exit %d\n%s", d.Code, d.Stdout)
	}
	blog := h.WriteFile(t, "blog.yaml", otherTopo)
	h.MustNetctl(t, "apply", "-f", blog)

	web, db, peer := v6of(t, h, "web", "front"), v6of(t, h, "db", "back"), v6of(t, h, "peer", "front")
	webBack, app := v6of(t, h, "web", "back"), v6of(t, h, "app", "site")
	if db != "fd00:18::10" || !strings.HasPrefix(web, "fd") || inspectContainer(t, h, "web").NetworkSettings.Networks["back"].IPv6Gateway != "fd00:18::1" {
		t.Errorf("addresses: web %s db %s", web, db)
	}
	if inspectContainer(t, h, "safe").NetworkSettings.Networks["vault"].GlobalIPv6Address != "" {
		t.Error("safe has an IPv6 address on an IPv4-only network")
	}

	t.Run("ping6 and isolation", func(t *testing.T) {
		if !h.Ping(t, "dual", "peer", web) || !h.Ping(t, "dual", "web", peer) {
			t.Error("ping6 on front failed")
		}
		// icc: false over IPv6 too.
		if h.Ping(t, "dual", "web", db) || h.Ping(t, "dual", "db", webBack) {
			t.Error("ping6 across icc: false passed")
		}
		// Other networks and other projects, both ways.
		for _, c := range []struct{ project, from, to string }{
			{"dual", "peer", db}, {"dual", "db", peer}, {"dual", "web", app}, {"blog", "app", web}, {"blog", "app", db},
		} {
			if h.Ping(t, c.project, c.from, c.to) {
				t.Errorf("%s/%s reached %s over IPv6 across networks", c.project, c.from, c.to)
			}
		}
	})

	t.Run("link through icc false", func(t *testing.T) {
		serve(t, h.ContainerNetns("dual", "db"), "tcp6", 5432, "db")
		serve(t, h.ContainerNetns("dual", "db"), "tcp6", 5433, "db-other")
		expectServed(t, "web->db 5432 (linked)", h.ContainerNetns("dual", "web"), "tcp6", "[fd00:18::10]:5432", "db")
		expectBlocked(t, "web->db 5433 (not linked)", h.ContainerNetns("dual", "web"), "tcp6", "[fd00:18::10]:5433")
		expectBlocked(t, "peer->db", h.ContainerNetns("dual", "peer"), "tcp6", "[fd00:18::10]:5432")
	})

	t.Run("names", func(t *testing.T) {
		for name, want := range map[string]string{"db": db, "postgres": db, "peer": peer} {
			r := h.Netctl("exec", "web", "--", "dig", "+short", "+time=2", "+tries=1", "AAAA", name)
			if strings.TrimSpace(r.Stdout) != want {
				t.Errorf("AAAA %s from web: %q (%s), want %s", name, r.Stdout, r.Stderr, want)
			}
		}
		// Scoping: peer shares no network with db.
		if r := h.Netctl("exec", "peer", "--", "dig", "+short", "+time=2", "+tries=1", "AAAA", "db"); strings.Contains(r.Stdout, db) {
			t.Errorf("peer resolved db: %s", r.Stdout)
		}
		r := h.Netctl("exec", "web", "--", "dig", "+short", "+time=2", "+tries=1", "-x", db)
		if !strings.Contains(r.Stdout, "db.") || !strings.Contains(r.Stdout, "postgres.") {
			t.Errorf("ip6.arpa PTR of %s: %q", db, r.Stdout)
		}
		r = h.Netctl("exec", "web", "--", "getent", "ahostsv6", "db")
		if r.Code != 0 || !strings.HasPrefix(strings.TrimSpace(r.Stdout), db+" ") {
			t.Errorf("getent ahostsv6 db in web: %s", r)
		}
		// The link's hosts lines, both families.
		hosts := h.Netctl("exec", "web", "--", "cat", "/etc/hosts").Stdout
		if !strings.Contains(hosts, db+"\tdb\n") || !strings.Contains(hosts, webBack+"\tweb\n") {
			t.Errorf("web's hosts file:\n%s", hosts)
		}
	})

	t.Run("published port over IPv6", func(t *testing.T) {
		srv := serve(t, h.ContainerNetns("dual", "web"), "tcp6", 8000, "web")
		expectServed(t, "outside -> [host]:8080", out, "tcp6", "[fd00:99::1]:8080", "web")
		expectServed(t, "host -> [host]:8080", h.NetnsPath(), "tcp6", "[fd00:99::1]:8080", "web")
		expectServed(t, "hairpin web -> [host]:8080", h.ContainerNetns("dual", "web"), "tcp6", "[fd00:99::1]:8080", "web")
		expectServed(t, "db (other network) -> [host]:8080", h.ContainerNetns("dual", "db"), "tcp6", "[fd00:99::1]:8080", "web")
		expectServed(t, "blog/app (other project) -> [host]:8080", h.ContainerNetns("blog", "app"), "tcp6", "[fd00:99::1]:8080", "web")
		// Straight to the container's address: dropped, as for IPv4.
		expectBlocked(t, "outside -> container", out, "tcp6", "["+web+"]:8000")
		// [::1] is refused at once rather than DNATed to nowhere.
		if _, err := request(h.NetnsPath(), "tcp6", "[::1]:8080", 2e9); err == nil || !strings.Contains(err.Error(), "refused") {
			t.Errorf("[::1]:8080 from the host: %v, want refused", err)
		}
		for _, p := range srv.Peers() {
			if strings.HasPrefix(p, "[fd00:99::2]") {
				return // the outside machine's own address: DNAT only, no masquerade
			}
		}
		t.Errorf("outside's request seen from %v", srv.Peers())
	})

	t.Run("egress masquerade", func(t *testing.T) {
		srv := serve(t, out, "tcp6", 9000, "out")
		expectServed(t, "web -> outside", h.ContainerNetns("dual", "web"), "tcp6", "[fd00:99::2]:9000", "out")
		if p := srv.Peers(); len(p) != 1 || !strings.HasPrefix(p[0], "[fd00:99::1]:") {
			t.Errorf("outside saw %v, want the host's address", p)
		}
		// masquerade_v6: false: edge's own address reaches the outside,
		// which routes its subnet back through the host.
		h.InNetns(out, "ip", "-6", "route", "add", "fd00:30::/64", "via", "fd00:99::1")
		srv2 := serve(t, out, "tcp6", 9001, "out")
		expectServed(t, "edge -> outside", h.ContainerNetns("dual", "edge"), "tcp6", "[fd00:99::2]:9001", "out")
		if p := srv2.Peers(); len(p) != 1 || !strings.HasPrefix(p[0], "[fd00:30::2]:") {
			t.Errorf("outside saw %v from edge, want its own address fd00:30::2", p)
		}
	})

	t.Run("ps and port", func(t *testing.T) {
		if r := h.MustNetctl(t, "port", "web", "8000"); r.Stdout != "0.0.0.0:8080\n[::]:8080\n" {
			t.Errorf("port web 8000: %q", r.Stdout)
		}
		if r := h.MustNetctl(t, "ps"); !strings.Contains(r.Stdout, "0.0.0.0:8080->8000/tcp, [::]:8080->8000/tcp") {
			t.Errorf("ps:\n%s", r.Stdout)
		}
	})

	t.Run("sticky", func(t *testing.T) {
		if r := h.MustNetctl(t, "apply", "-f", file); !strings.Contains(r.Stdout, "no changes") {
			t.Errorf("re-apply:\n%s", r.Stdout)
		}
		more := strings.Replace(dualTopo, "containers:\n", "containers:\n  aaa: {networks: [front, back]}\n", 1)
		h.MustNetctl(t, "apply", "-f", h.WriteFile(t, "dual.yaml", more))
		if got := v6of(t, h, "web", "front"); got != web {
			t.Errorf("web renumbered %s -> %s", web, got)
		}
		if got := v6of(t, h, "peer", "front"); got != peer {
			t.Errorf("peer renumbered %s -> %s", peer, got)
		}
		if aaa := v6of(t, h, "aaa", "front"); aaa == web || aaa == peer {
			t.Errorf("aaa got a running container's address %s", aaa)
		}
	})

	t.Run("drift", func(t *testing.T) {
		h.InContainer("dual", "peer", "ip", "-6", "addr", "flush", "dev", "eth0", "scope", "global")
		h.InContainer("dual", "web", "ip", "-6", "route", "del", "default")
		h.InContainer("dual", "web", "sysctl", "-qw", "net.ipv6.conf.eth0.accept_ra=1")
		// The IPv6 half of back's rules goes.
		if sandbox.Firewall() == "nftables" {
			h.InHost("nft", "delete", "element", "inet", "netctl", "masq-subnets6", "{", "fd00:18::/64", "}")
		} else {
			h.InHost(sandbox.Iptables("ip6tables"), "-F", "NETCTL-NETWORKS")
		}
		d := h.Netctl("diff", "-f", h.WriteFile(t, "dual.yaml", strings.Replace(dualTopo, "containers:\n", "containers:\n  aaa: {networks: [front, back]}\n", 1)))
		for _, want := range []string{"~ endpoint peer/front", "ipv6 address: (none) -> " + peer, "accept_ra: 1 -> 0", "+ route web", "rules missing"} {
			if !strings.Contains(d.Stdout, want) {
				t.Errorf("diff lacks %q:\n%s", want, d.Stdout)
			}
		}
		h.MustNetctl(t, "apply", "-f", h.WriteFile(t, "dual.yaml", strings.Replace(dualTopo, "containers:\n", "containers:\n  aaa: {networks: [front, back]}\n", 1)))
		// Two tries: the repaired address's multicast group (neighbour
		// solicitations go there) may take the bridge's snooping a moment.
		reached := false
		for range 2 {
			if reached = h.Ping(t, "dual", "web", peer); reached {
				break
			}
		}
		if !reached {
			t.Errorf("ping6 after the repair failed\nweb's neighbours:\n%s\npeer:\n%s\nmdb:\n%s", h.InContainer("dual", "web", "ip", "-6", "neigh").Stdout,
				h.InContainer("dual", "peer", "ip", "-6", "addr").Stdout, h.InHost("bridge", "mdb", "show").Stdout)
		}
	})

	h.MustNetctl(t, "down", "-f", file)
	h.MustNetctl(t, "down", "-f", blog)
	if r := h.InHost(sandbox.Iptables("ip6tables-save")); strings.Contains(r.Stdout, "netctl") {
		t.Errorf("ip6tables rules left after down:\n%s", r.Stdout)
	}
	if r := h.InHost("nft", "list", "tables"); strings.Contains(r.Stdout, "netctl") {
		t.Errorf("nftables table left after down:\n%s", r.Stdout)
	}
}

// The same dual-stack project under two roots: the pool gives both the
// same ULA /48, and the second root's network takes another /64 (it sees
// the first root's bridge as a route of the host); each reaches its own
// containers over IPv6 and reports no difference.
func TestDualStackUnderTwoRoots(t *testing.T) {
	h := sandbox.New(t)
	file := h.WriteFile(t, "same6.yaml", "name: same6\nnetworks:\n  n: {enable_ipv6: true}\ncontainers:\n  a: {networks: [n]}\n  b: {networks: [n]}\n")
	other := extraRoot(t)
	subnets := map[string]bool{}
	for _, root := range []string{h.Root(), other} {
		h.MustNetctl(t, "--root", root, "apply", "-f", file)
	}
	for _, root := range []string{h.Root(), other} {
		if r := h.Netctl("--root", root, "diff", "-f", file); r.Code != 0 {
			t.Errorf("diff under %s: %s", root, r)
		}
		subnet := strings.TrimSpace(h.MustNetctl(t, "--root", root, "inspect", "n", "--format", "{{(index .IPAM.Config 1).Subnet}}").Stdout)
		subnets[subnet] = true
		b := strings.TrimSpace(h.MustNetctl(t, "--root", root, "inspect", "b", "--format", "{{.NetworkSettings.Networks.n.GlobalIPv6Address}}").Stdout)
		if r := h.Netctl("--root", root, "exec", "a", "--", "ping", "-6", "-c1", "-w2", "-i0.2", b); r.Code != 0 {
			t.Errorf("under %s: a cannot reach b at %s: %s", root, b, r)
		}
	}
	if len(subnets) != 2 {
		t.Errorf("both roots got the same IPv6 subnet: %v", subnets)
	}
	for _, root := range []string{other, h.Root()} {
		h.MustNetctl(t, "--root", root, "down", "-f", file)
	}
}
