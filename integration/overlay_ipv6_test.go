package integration

import (
	"encoding/json"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netctl/netctl/internal/sandbox"
)

// overlayNet is what a test needs of `netctl inspect` of a network.
type overlayNet struct {
	EnableIPv6 bool
	IPAM       struct {
		Config []struct{ Subnet, Gateway string }
	}
	Options map[string]string
}

func inspectNetwork(t *testing.T, h *sandbox.Host, name string) overlayNet {
	t.Helper()
	return inspectAs[overlayNet](t, h, name)
}

// inspectAs decodes `netctl inspect name` (one object) into a T.
func inspectAs[T any](t *testing.T, h *sandbox.Host, name string) T {
	t.Helper()
	var v []T
	res := h.MustNetctl(t, "inspect", name)
	if err := json.Unmarshal([]byte(res.Stdout), &v); err != nil || len(v) != 1 {
		t.Fatalf("inspect %s: %v\n%s", name, err, res.Stdout)
	}
	return v[0]
}

// bridgeAddrs6 lists the IPv6 addresses of a bridge with their flags
// ("fe80::a0a:1/64 nodad"), as `ip -6 addr` shows them.
func bridgeAddrs6(t *testing.T, h *sandbox.Host, bridge string) []string {
	t.Helper()
	r := h.InHost("ip", "-j", "-6", "addr", "show", "dev", bridge)
	var out []struct {
		AddrInfo []struct {
			Local     string
			Prefixlen int
			Nodad     bool `json:"nodad"`
			Dadfailed bool `json:"dadfailed"`
			Tentative bool `json:"tentative"`
		} `json:"addr_info"`
	}
	if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &out) != nil || len(out) != 1 {
		t.Fatalf("addresses of %s: %s", bridge, r)
	}
	var addrs []string
	for _, a := range out[0].AddrInfo {
		s := netip.PrefixFrom(netip.MustParseAddr(a.Local), a.Prefixlen).String()
		for _, f := range []struct {
			name string
			on   bool
		}{{" nodad", a.Nodad}, {" dadfailed", a.Dadfailed}, {" tentative", a.Tentative}} {
			if f.on {
				s += f.name
			}
		}
		addrs = append(addrs, s)
	}
	return addrs
}

// examples/overlay-dual-stack.yaml on three hosts: IPv6 across nodes by
// address and by name (AAAA, PTR), the isolation between two IPv6
// overlays, egress with masquerade_v6 and a published port on the node's
// IPv6 address, the anycast gateway on every node with nodad and a
// link-local of the node's own, and a re-apply that changes nothing.
func TestOverlayDualStack(t *testing.T) {
	c := sandbox.NewCluster(t, 3)
	a, b, cc := c.Hosts[0], c.Hosts[1], c.Hosts[2]
	// The outside: a machine on the underlay, IPv6 towards node a.
	out := a.AddNetns(t, "out")
	c.Plug(t, filepath.Base(out), "eth0", "10.250.0.100/24")
	a.InNetns(out, "ip", "-6", "addr", "add", "fd00:250::100/64", "dev", "eth0", "nodad")
	a.InHost("ip", "-6", "addr", "add", "fd00:250::1/64", "dev", "eth0", "nodad")

	topo := example(t, "overlay-dual-stack.yaml")
	files := make([]string, len(c.Hosts))
	for i, h := range c.Hosts {
		files[i] = h.WriteFile(t, "shop.yaml", topo)
		h.MustNetctl(t, "apply", "-f", files[i])
	}
	for i, h := range c.Hosts {
		if d := h.Netctl("diff", "-f", files[i]); d.Code != 0 {
			t.Errorf("host %d: diff right after apply: exit %d\n%s", i, d.Code, d.Stdout)
		}
	}

	// Every node derives the same subnet_v6 for app (the ULA pool) and
	// shows both IPAM entries.
	app := inspectNetwork(t, a, "app")
	if !app.EnableIPv6 || len(app.IPAM.Config) != 2 {
		t.Fatalf("inspect app on node-a = %+v, want EnableIPv6 and two IPAM entries", app)
	}
	sub6 := netip.MustParsePrefix(app.IPAM.Config[1].Subnet)
	for _, h := range []*sandbox.Host{b, cc} {
		if got := inspectNetwork(t, h, "app").IPAM.Config; len(got) != 2 || got[1] != app.IPAM.Config[1] {
			t.Errorf("app's IPv6 IPAM entry differs between nodes: %+v and %+v", got, app.IPAM.Config)
		}
	}
	web, api, apiData, db := v6of(t, a, "web", "app"), v6of(t, b, "api", "app"), v6of(t, b, "api", "data"), v6of(t, cc, "db", "data")
	if !sub6.Contains(netip.MustParseAddr(web)) || !sub6.Contains(netip.MustParseAddr(api)) || db != "fd00:61::200" {
		t.Errorf("addresses: web %s api %s (want in %s), db %s", web, api, sub6, db)
	}
	if gw := inspectContainer(t, a, "web").NetworkSettings.Networks["app"].IPv6Gateway; gw != app.IPAM.Config[1].Gateway {
		t.Errorf("web's IPv6Gateway = %s, want %s", gw, app.IPAM.Config[1].Gateway)
	}

	t.Run("ping6 across nodes and isolation", func(t *testing.T) {
		if !a.Ping(t, "shop", "web", api) || !b.Ping(t, "shop", "api", web) {
			t.Error("web (node-a) and api (node-b) cannot ping each other over IPv6")
		}
		if !b.Ping(t, "shop", "api", db) {
			t.Error("api (node-b) cannot ping db (node-c) over IPv6 on data")
		}
		// web is on app only: db, and api's address on data, are another
		// overlay's.
		if a.Ping(t, "shop", "web", db) || a.Ping(t, "shop", "web", apiData) {
			t.Error("web (app) reaches an address of the data overlay over IPv6")
		}
		if cc.Ping(t, "shop", "db", web) {
			t.Error("db (data) reaches web (app) over IPv6")
		}
	})

	t.Run("names across nodes", func(t *testing.T) {
		// AAAA of a remote container: only its address on a network the
		// asker shares (api's app address for web, not its data one).
		for _, q := range []struct {
			h          *sandbox.Host
			from, name string
			want       string
		}{{a, "web", "api", api}, {b, "api", "db", db}, {cc, "db", "api", apiData}, {b, "api", "www", web}} {
			r := q.h.Netctl("exec", q.from, "--", "dig", "+short", "+time=2", "+tries=1", "AAAA", q.name)
			if strings.TrimSpace(r.Stdout) != q.want {
				t.Errorf("AAAA %s from %s: %q (%s), want %s", q.name, q.from, r.Stdout, r.Stderr, q.want)
			}
		}
		if r := a.Netctl("exec", "web", "--", "dig", "+short", "+time=2", "+tries=1", "AAAA", "db"); strings.TrimSpace(r.Stdout) != "" {
			t.Errorf("web resolves db, which shares no network with it: %s", r.Stdout)
		}
		if r := a.Netctl("exec", "web", "--", "dig", "+short", "+time=2", "+tries=1", "-x", api); !strings.Contains(r.Stdout, "api.") {
			t.Errorf("ip6.arpa PTR of api's %s from web = %s, want api.", api, r)
		}
		if r := a.Netctl("exec", "web", "--", "ping", "-6", "-c1", "-W2", "-n", "api"); r.Code != 0 {
			t.Errorf("ping -6 api from web (by name): %s", r)
		}
	})

	t.Run("egress and published port over IPv6", func(t *testing.T) {
		// Node a forgets web's MAC, so that replies to web need a
		// neighbour solicitation from the bridge: the kernel sends none
		// without a usable link-local address there.
		br := app.Options["com.docker.network.bridge.name"]
		flush := func() {
			if r := a.InHost("ip", "-6", "neigh", "flush", "dev", br); r.Code != 0 {
				t.Fatalf("flush %s's neighbours: %s", br, r)
			}
		}
		flush()
		srv := serve(t, out, "tcp6", 9000, "outside")
		expectServed(t, "web (node-a) to the outside over IPv6", a.ContainerNetns("shop", "web"), "tcp6", "[fd00:250::100]:9000", "outside")
		if peers := srv.Peers(); len(peers) != 1 || !strings.HasPrefix(peers[0], "[fd00:250::1]:") {
			t.Errorf("the outside saw web as %v, want node-a's fd00:250::1 (masquerade_v6)", peers)
		}
		serve(t, a.ContainerNetns("shop", "web"), "tcp6", 80, "web")
		flush()
		expectServed(t, "web's port 8080 on node-a's IPv6 address", out, "tcp6", "[fd00:250::1]:8080", "web")
	})

	t.Run("anycast gateway and link-local", func(t *testing.T) {
		gw := app.IPAM.Config[1].Gateway + "/64"
		for i, h := range c.Hosts {
			br := inspectNetwork(t, h, "app").Options["com.docker.network.bridge.name"]
			got := strings.Join(bridgeAddrs6(t, h, br), ", ")
			ll := netip.PrefixFrom(netip.AddrFrom16([16]byte{0xfe, 0x80, 12: 10, 13: 250, 14: 0, 15: byte(i + 1)}), 64).String()
			for _, want := range []string{gw + " nodad", ll + " nodad"} {
				if !strings.Contains(got+", ", want+", ") {
					t.Errorf("node %d: %s's IPv6 addresses %q lack %q", i, br, got, want)
				}
			}
			if strings.Contains(got, "dadfailed") || strings.Contains(got, "tentative") || strings.Count(got, "fe80:") != 1 {
				t.Errorf("node %d: %s's IPv6 addresses %q: want exactly the gateway and one link-local, none failed", i, br, got)
			}
		}
	})

	for i, h := range c.Hosts {
		h.MustNetctl(t, "apply", "-f", files[i])
		if d := h.Netctl("diff", "-f", files[i]); d.Code != 0 {
			t.Errorf("host %d: diff after a re-apply: exit %d\n%s", i, d.Code, d.Stdout)
		}
	}
}
