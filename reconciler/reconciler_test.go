package reconciler

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netctl/netctl/internal/golden"

	"github.com/rs/zerolog"

	"github.com/netctl/netctl/model"
	"github.com/netctl/netctl/spec"
)

const testRoot = "/run/netctl"

func parse(t testing.TB, name, src string) *spec.Topology {
	t.Helper()
	topo, err := spec.Parse(name, []byte(src))
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	return topo
}

type harness struct {
	links *fakeHost
	files *fakeFiles
	names *fakeNames
	r     *Reconciler
}

func newHarness() *harness {
	h := &harness{links: newFakeHost(), files: newFakeFiles(), names: newFakeNames()}
	h.r = &Reconciler{
		Links:   h.links,
		Files:   h.files,
		Names:   h.names,
		Options: Options{Root: testRoot, HostResolv: []byte("nameserver 10.250.0.53\nnameserver 127.0.0.53\nsearch example.test\n")},
		Log:     zerolog.Nop(),
	}
	return h
}

func (h *harness) apply(t *testing.T, topo *spec.Topology) *Result {
	t.Helper()
	res, err := h.r.Apply(context.Background(), topo.Name, topo)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	return res
}

func (h *harness) plan(t *testing.T, topo *spec.Topology) *Plan {
	t.Helper()
	p, err := h.r.Plan(context.Background(), topo.Name, topo)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	return p
}

func (h *harness) container(t *testing.T, id string) *model.Container {
	t.Helper()
	c := h.links.st.Containers[id]
	if c == nil {
		t.Fatalf("container %s not in the fake kernel", id)
	}
	return c
}

func endpointAddr(t *testing.T, c *model.Container, network string) string {
	t.Helper()
	return endpointOf(t, c, network).Addr.String()
}

func endpointOf(t *testing.T, c *model.Container, network string) *model.Endpoint {
	t.Helper()
	ep := c.Endpoint(network)
	if ep == nil {
		t.Fatalf("container %s has no endpoint on %s", c.ID(), network)
	}
	return ep
}

// The Docker networking guide: my-bridge-network with db, web on the
// default bridge, one and two on my-net.
const guide = `
networks:
  my-bridge-network: {}
  my-net:
    subnet: 172.18.0.0/16
    gateway: 172.18.0.1
containers:
  db:
    networks: [my-bridge-network]
  web: {}
  one:
    networks: [my-net]
  two:
    networks: [my-net]
`

func TestApplyConvergesAndIsIdempotent(t *testing.T) {
	h := newHarness()
	topo := parse(t, "guide.yaml", guide)
	res := h.apply(t, topo)
	if res.Rounds != 1 {
		t.Errorf("rounds = %d, want 1", res.Rounds)
	}
	if got := endpointAddr(t, h.container(t, "guide/one"), "guide/my-net"); got != "172.18.0.2/16" {
		t.Errorf("one = %s, want 172.18.0.2/16", got)
	}
	if got := endpointAddr(t, h.container(t, "guide/two"), "guide/my-net"); got != "172.18.0.3/16" {
		t.Errorf("two = %s, want 172.18.0.3/16", got)
	}
	if got := endpointAddr(t, h.container(t, "guide/web"), "/bridge"); got != "172.17.0.2/16" {
		t.Errorf("web = %s, want 172.17.0.2/16 on the default bridge", got)
	}
	// my-bridge-network has no subnet: the pool skips my-net's 172.18/16.
	if got := endpointAddr(t, h.container(t, "guide/db"), "guide/my-bridge-network"); got != "172.19.0.2/16" {
		t.Errorf("db = %s, want 172.19.0.2/16", got)
	}
	if gw := h.container(t, "guide/one").DefaultGateway.String(); gw != "172.18.0.1" {
		t.Errorf("one's default gateway = %s", gw)
	}
	h.links.calls = nil
	if p := h.plan(t, topo); !p.Empty() {
		var b bytes.Buffer
		_ = p.WriteText(&b)
		t.Fatalf("second plan not empty:\n%s", b.String())
	}
	res = h.apply(t, topo)
	if len(res.Done) != 0 || len(h.links.calls) != 0 {
		t.Errorf("second apply changed things: %d actions, calls %v", len(res.Done), h.links.calls)
	}
}

func TestAddressesAreSticky(t *testing.T) {
	h := newHarness()
	h.apply(t, parse(t, "shop.yaml", `
networks: {back: {}}
containers:
  b: {networks: [back]}
  c: {networks: [back]}
`))
	before := endpointAddr(t, h.container(t, "shop/c"), "shop/back")
	// a is new and comes first in the file: it must not take b's or c's address.
	h.apply(t, parse(t, "shop.yaml", `
networks: {back: {}}
containers:
  a: {networks: [back]}
  b: {networks: [back]}
  c: {networks: [back]}
`))
	if got := endpointAddr(t, h.container(t, "shop/c"), "shop/back"); got != before {
		t.Errorf("c renumbered: %s -> %s", before, got)
	}
	if got := endpointAddr(t, h.container(t, "shop/a"), "shop/back"); got != "172.18.0.4/16" {
		t.Errorf("a = %s, want the next free 172.18.0.4/16", got)
	}
}

func TestStaticAddressWins(t *testing.T) {
	h := newHarness()
	h.apply(t, parse(t, "shop.yaml", `
networks: {back: {subnet: 10.250.0.0/24}}
containers:
  a: {networks: [back]}
`))
	h.apply(t, parse(t, "shop.yaml", `
networks: {back: {subnet: 10.250.0.0/24}}
containers:
  a: {networks: [back]}
  b:
    networks:
      back: {ipv4_address: 10.250.0.2}
`))
	if got := endpointAddr(t, h.container(t, "shop/b"), "shop/back"); got != "10.250.0.2/24" {
		t.Errorf("b = %s, want its static 10.250.0.2/24", got)
	}
	if got := endpointAddr(t, h.container(t, "shop/a"), "shop/back"); got == "10.250.0.2/24" {
		t.Errorf("a still holds b's static address")
	}
}

func TestConnectDisconnectTouchesNothingElse(t *testing.T) {
	h := newHarness()
	h.apply(t, parse(t, "shop.yaml", `
networks: {front: {}, back: {}}
containers:
  web: {networks: [front]}
  db: {networks: [back]}
`))
	h.links.calls = nil
	res := h.apply(t, parse(t, "shop.yaml", `
networks: {front: {}, back: {}}
containers:
  web: {networks: [front, back]}
  db: {networks: [back]}
`))
	want := []string{"EnsureEndpoint shop/web@shop/back"}
	if strings.Join(h.links.calls, ";") != strings.Join(want, ";") {
		t.Errorf("connect calls = %v, want %v", h.links.calls, want)
	}
	if ep := h.container(t, "shop/web").Endpoint("shop/back"); ep == nil || ep.IfName != "eth1" {
		t.Errorf("web's new endpoint = %+v, want eth1", ep)
	}
	if len(res.Done) != 3 { // endpoint + files (hosts lists the new address) + dns (web's name on back)
		t.Errorf("actions = %d, want 3", len(res.Done))
	}
	h.links.calls = nil
	h.apply(t, parse(t, "shop.yaml", `
networks: {front: {}, back: {}}
containers:
  web: {networks: [back]}
  db: {networks: [back]}
`))
	want = []string{"DeleteEndpoint shop/web@shop/front", "EnsureDefaultRoute shop/web"}
	if strings.Join(h.links.calls, ";") != strings.Join(want, ";") {
		t.Errorf("disconnect calls = %v, want %v", h.links.calls, want)
	}
	if gw := h.container(t, "shop/web").DefaultGateway; gw != netip.MustParseAddr("172.19.0.1") {
		t.Errorf("web's default route = %s, want via back's gateway", gw)
	}
}

func TestDownRemovesOnlyTheProject(t *testing.T) {
	h := newHarness()
	shop := parse(t, "shop.yaml", "networks: {back: {}}\ncontainers:\n  db: {networks: [back]}\n  web: {}\n")
	lab := parse(t, "lab.yaml", "containers:\n  r1: {}\n")
	h.apply(t, shop)
	h.apply(t, lab)
	if _, err := h.r.Apply(context.Background(), "shop", nil); err != nil {
		t.Fatalf("down: %v", err)
	}
	for id := range h.links.st.Containers {
		if strings.HasPrefix(id, "shop/") {
			t.Errorf("down left container %s", id)
		}
	}
	if h.links.st.Networks["shop/back"] != nil {
		t.Error("down left network back")
	}
	if h.links.st.Networks["/bridge"] == nil || h.links.st.Containers["lab/r1"] == nil {
		t.Error("down removed what another project uses")
	}
	if len(h.files.containers) != 1 {
		t.Errorf("files left: %d containers, want lab's 1", len(h.files.containers))
	}
	// A second down is a no-op.
	res, err := h.r.Apply(context.Background(), "shop", nil)
	if err != nil || len(res.Done) != 0 {
		t.Errorf("second down: %v, %d actions", err, len(res.Done))
	}
}

func TestForeignEndpointBlocksOnlyItsNetwork(t *testing.T) {
	h := newHarness()
	h.apply(t, parse(t, "shop.yaml", "networks: {back: {}, front: {}}\ncontainers:\n  db: {networks: [back]}\n"))
	h.links.st.Networks["shop/back"].Foreign = []string{"vethforeign"}
	_, err := h.r.Apply(context.Background(), "shop", nil)
	var blocked *BlockedError
	if !errors.As(err, &blocked) || !strings.Contains(err.Error(), "vethforeign") {
		t.Fatalf("down error = %v, want a blocked error naming vethforeign", err)
	}
	if h.links.st.Networks["shop/back"] == nil {
		t.Error("bridge with a foreign endpoint was deleted")
	}
	if h.links.st.Networks["shop/front"] != nil || h.links.st.Containers["shop/db"] != nil {
		t.Error("the rest of the plan did not converge")
	}
}

func TestFailedRoundIsRetried(t *testing.T) {
	h := newHarness()
	h.links.fail["EnsureEndpoint shop/db@shop/back"] = true
	res := h.apply(t, parse(t, "shop.yaml", "networks: {back: {}}\ncontainers:\n  db: {networks: [back]}\n"))
	if res.Rounds != 2 {
		t.Errorf("rounds = %d, want 2 (one failure, one repair)", res.Rounds)
	}
	if h.container(t, "shop/db").Endpoint("shop/back") == nil {
		t.Error("endpoint not repaired")
	}
}

func TestSubnetPoolSkipsHostRoutes(t *testing.T) {
	h := newHarness()
	h.links.st.HostRoutes = []netip.Prefix{netip.MustParsePrefix("172.17.0.0/16"), netip.MustParsePrefix("172.18.5.0/24")}
	h.apply(t, parse(t, "shop.yaml", "networks: {back: {}}\ncontainers:\n  db: {networks: [back]}\n  web: {}\n"))
	if got := h.links.st.Networks["shop/back"].Subnet.String(); got != "172.19.0.0/16" {
		t.Errorf("back = %s, want 172.19.0.0/16 (172.18/16 overlaps a route)", got)
	}
	if got := h.links.st.Networks["/bridge"].Subnet.String(); got != "172.18.0.0/16" && got != "172.20.0.0/16" {
		t.Errorf("default bridge = %s, want a pool subnet since 172.17/16 is routed", got)
	}
}

func TestDriftIsRepaired(t *testing.T) {
	h := newHarness()
	topo := parse(t, "shop.yaml", "networks: {back: {}}\ncontainers:\n  db: {networks: [back]}\n")
	h.apply(t, topo)
	h.container(t, "shop/db").Endpoints[0].HostOK = false
	h.container(t, "shop/db").LoUp = false
	h.links.st.Networks["shop/back"].Up = false
	h.links.calls = nil
	h.apply(t, topo)
	want := "EnsureBridge shop/back;EnsureNamespace shop/db;EnsureEndpoint shop/db@shop/back"
	if got := strings.Join(h.links.calls, ";"); got != want {
		t.Errorf("repair calls = %s, want %s", got, want)
	}
}

// Golden plans: representative edits rendered as a reviewer sees them.
func TestGoldenPlans(t *testing.T) {
	cases := []struct{ name, old, new string }{
		{"create-guide", "", guide},
		{"connect-and-add", guide, guide + "  three:\n    networks: [my-net, my-bridge-network]\n"},
		{"remove-network", "networks: {a: {}, b: {}}\ncontainers:\n  x: {networks: [a, b]}\n", "networks: {a: {}}\ncontainers:\n  x: {networks: [a]}\n"},
		{"change-subnet", "networks: {a: {subnet: 10.250.1.0/24}}\ncontainers:\n  x: {networks: [a]}\n", "networks: {a: {subnet: 10.250.2.0/24}}\ncontainers:\n  x: {networks: [a]}\n"},
		{"static-and-mtu", "networks: {a: {subnet: 10.250.1.0/24}}\ncontainers:\n  x: {networks: [a]}\n", "networks: {a: {subnet: 10.250.1.0/24, mtu: 9000}}\ncontainers:\n  x:\n    networks:\n      a: {ipv4_address: 10.250.1.50}\n"},
		{"host-and-none", "containers:\n  x: {}\n", "containers:\n  x: {network_mode: none}\n  y: {network_mode: host, extra_hosts: [\"metrics:10.250.9.9\"]}\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := parse(t, "demo.yaml", "containers: {}\n")
			if tc.old != "" {
				old = parse(t, "demo.yaml", tc.old)
			}
			p, err := DiffFiles(old, parse(t, "demo.yaml", tc.new), Options{Root: testRoot})
			if err != nil {
				t.Fatal(err)
			}
			var text, js bytes.Buffer
			if err := p.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			if err := p.WriteJSON(&js); err != nil {
				t.Fatal(err)
			}
			golden.File(t, filepath.Join("testdata", tc.name+".txt"), text.String())
			golden.File(t, filepath.Join("testdata", tc.name+".json"), js.String())
		})
	}
}

// A file-to-file diff of a file against itself is empty: what diff --from
// shows is only what the edit changes.
func TestDiffFilesSameFileIsEmpty(t *testing.T) {
	topo := parse(t, "guide.yaml", guide)
	p, err := DiffFiles(topo, topo, Options{Root: testRoot})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Empty() {
		t.Errorf("plan not empty: %d actions", len(p.Actions))
	}
}

func TestUnsupportedFieldsAreRefusedWithPositions(t *testing.T) {
	topo := parse(t, "shop.yaml", `
networks:
  back: {icc: false, enable_ipv6: true, subnet_v6: "fd00:1::/64"}
  over: {driver: overlay, subnet: 10.250.8.0/24, enable_ipv6: true}
containers:
  web:
    networks: [back, over]
    ports: ["80:5000"]
    node: a
nodes:
  a: {address: 10.250.0.1}
  b: {address: "fd00:250::2"}
`)
	err := Unsupported(topo)
	if err == nil {
		t.Fatal("no error for an IPv6 underlay address")
	}
	for _, want := range []string{"shop.yaml:12:3:", "node b: address fd00:250::2: an IPv6 underlay: not implemented yet"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	for _, n := range []string{"back", "over", "node a"} {
		if strings.Contains(err.Error(), n) {
			t.Errorf("error %q refuses %s, which is implemented (IPv6 on bridge and overlay networks)", err, n)
		}
	}
}

// TestVerifiedRoundIsNotDesiredAgain: a round that went through is checked
// against the desired state it set out to reach (a fixed point of
// Desired) instead of desiring again; a round that failed is planned
// afresh.
func TestVerifiedRoundIsNotDesiredAgain(t *testing.T) {
	h := newHarness()
	var log bytes.Buffer
	h.r.Log = zerolog.New(&log).Level(zerolog.DebugLevel)
	topo := parse(t, "shop.yaml", "networks:\n  backend: {}\ncontainers:\n  db: {networks: [backend]}\n")
	res := h.apply(t, topo)
	if res.Rounds != 1 {
		t.Fatalf("%d rounds", res.Rounds)
	}
	if n := strings.Count(log.String(), `"message":"planned"`); n != 1 {
		t.Errorf("one round that went through was desired %d times, want once", n)
	}

	log.Reset()
	h.links.mu.Lock()
	h.links.st.Containers["shop/db"].LoUp = false
	h.links.fail["EnsureNamespace shop/db"] = true
	h.links.mu.Unlock()
	res = h.apply(t, topo)
	if res.Rounds != 2 {
		t.Fatalf("a failed round then a good one took %d rounds", res.Rounds)
	}
	if n := strings.Count(log.String(), `"message":"planned"`); n != 2 {
		t.Errorf("after a failed round: desired %d times, want twice", n)
	}
}
