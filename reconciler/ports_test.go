package reconciler

import (
	"bytes"
	"context"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/netctl/netctl/internal/golden"
	"github.com/netctl/netctl/model"
)

func hostPorts(t *testing.T, fw *fakeFirewall, project string) []string {
	t.Helper()
	var out []string
	for _, p := range fw.ports {
		if p.Project == project {
			out = append(out, p.Container+" "+p.Port.String())
		}
	}
	slices.Sort(out)
	return out
}

const portsTopo = `
networks:
  front: {}
containers:
  web:
    networks: [front]
    ports: ["80:5000", "8000-8002:5001", "5002", "127.0.0.1::5003", "9000-9001:6000-6001/udp"]
`

// Picks skip ports the host has bound and stay put once made, even when
// a lower port frees up; a new entry takes the lowest free one.
func TestPortsArePickedAndSticky(t *testing.T) {
	h, fw := newFirewallHarness()
	fw.bound[model.PortProto{Port: 8000, Proto: "tcp"}] = true
	fw.bound[model.PortProto{Port: 32768, Proto: "tcp"}] = true
	h.apply(t, parse(t, "shop.yaml", portsTopo))
	want := []string{
		"web 0.0.0.0:32769->5002/tcp", "web 0.0.0.0:80->5000/tcp", "web 0.0.0.0:8001->5001/tcp",
		"web 0.0.0.0:9000->6000/udp", "web 0.0.0.0:9001->6001/udp", "web 127.0.0.1:32770->5003/tcp",
	}
	if got := hostPorts(t, fw, "shop"); !slices.Equal(got, want) {
		t.Errorf("ports = %q\nwant %q", got, want)
	}

	delete(fw.bound, model.PortProto{Port: 8000, Proto: "tcp"})
	delete(fw.bound, model.PortProto{Port: 32768, Proto: "tcp"})
	if res := h.apply(t, parse(t, "shop.yaml", portsTopo)); len(res.Done) != 0 {
		t.Errorf("re-apply after ports freed changed %d things: %v", len(res.Done), res.Done[0])
	}
	h.apply(t, parse(t, "shop.yaml", strings.Replace(portsTopo, `"5002",`, `"5002", "5004",`, 1)))
	got := hostPorts(t, fw, "shop")
	if !slices.Contains(got, "web 0.0.0.0:32768->5004/tcp") || !slices.Contains(got, "web 0.0.0.0:32769->5002/tcp") {
		t.Errorf("after adding 5004: %q", got)
	}

	// An entry whose range no longer holds the sticky port picks again.
	h.apply(t, parse(t, "shop.yaml", strings.Replace(portsTopo, "8000-8002:5001", "8100-8102:5001", 1)))
	if got := hostPorts(t, fw, "shop"); !slices.Contains(got, "web 0.0.0.0:8100->5001/tcp") {
		t.Errorf("after moving the range: %q", got)
	}
}

// Observed ports of other projects are taken: picks go around them, a
// fixed port on them is an error with its position, before any change.
func TestPortsOfOtherProjectsAreTaken(t *testing.T) {
	h, fw := newFirewallHarness()
	other := &model.PortRule{Project: "blog", Container: "app", Target: netip.MustParseAddr("172.17.0.9"),
		Port: model.Port{HostPort: 32768, ContainerPort: 80, Proto: "tcp"}}
	fw.ports[other.Key()] = other
	h.apply(t, parse(t, "shop.yaml", "containers:\n  web:\n    ports: [\"80\"]\n"))
	if got := hostPorts(t, fw, "shop"); !slices.Equal(got, []string{"web 0.0.0.0:32769->80/tcp"}) {
		t.Errorf("ports = %q", got)
	}
	_, err := h.r.Apply(context.Background(), "shop", parse(t, "shop.yaml", "containers:\n  web:\n    ports: [\"127.0.0.1:32768:80\"]\n"))
	if err == nil || !strings.Contains(err.Error(), "shop.yaml:3:") || !strings.Contains(err.Error(), "already published by project blog (container app)") {
		t.Errorf("fixed port of another project: %v", err)
	}
	// The same port on another protocol is free.
	h.apply(t, parse(t, "shop.yaml", "containers:\n  web:\n    ports: [\"32768:80/udp\"]\n"))
}

func TestEphemeralRangeExhausted(t *testing.T) {
	h, fw := newFirewallHarness()
	fw.lo, fw.hi = 40000, 40001
	_, err := h.r.Apply(context.Background(), "shop", parse(t, "shop.yaml", "containers:\n  web:\n    ports: [\"1\", \"2\", \"3\"]\n"))
	if err == nil || !strings.Contains(err.Error(), "no free host port in 40000-40001") {
		t.Errorf("err = %v", err)
	}
	if len(fw.batches) != 0 || len(h.links.calls) != 0 {
		t.Errorf("a failed pick changed things: %d batches, calls %v", len(fw.batches), h.links.calls)
	}
}

const firewallTopo = `
networks:
  front: {}
  back: {icc: false, subnet: 172.30.0.0/24}
  vault: {internal: true}
containers:
  web:
    networks: [front, back]
    ports: ["8080:80", "127.0.0.1:8443:443", "53:53/udp"]
  db:
    networks:
      back: {ipv4_address: 172.30.0.10}
    expose: [5432]
  app:
    networks: [back]
    links: ["db:database"]
  secret:
    networks: [vault]
  legacy: {}
`

// The whole firewall of a project, planned against an empty host, and
// converged in one batch with the rules first and the sysctls after.
func TestFirewallPlanGolden(t *testing.T) {
	h, fw := newFirewallHarness()
	topo := parse(t, "shop.yaml", firewallTopo)
	p := h.plan(t, topo)
	var text bytes.Buffer
	must(t, p.WriteText(&text))
	golden.File(t, filepath.Join("testdata", "firewall-create.txt"), text.String())

	res := h.apply(t, topo)
	if res.Rounds != 1 || len(fw.batches) != 1 {
		t.Fatalf("rounds %d, batches %d; want everything in one batch", res.Rounds, len(fw.batches))
	}
	b := fw.batches[0]
	if !b.Base || !b.Rewrite || len(b.Networks) != 4 || len(b.Ports) != 3 || len(b.Links) != 1 || len(b.Flush) != 1 {
		t.Errorf("batch = base %v rewrite %v, %d networks, %d ports, %d links, %d flushes",
			b.Base, b.Rewrite, len(b.Networks), len(b.Ports), len(b.Links), len(b.Flush))
	}
	for _, want := range []string{model.SysctlIPForward, model.SysctlRouteLocalnet(model.BridgeName("shop", "front"))} {
		if fw.sysctls[want] != "1" {
			t.Errorf("sysctl %s = %q, want 1", want, fw.sysctls[want])
		}
	}
	if l := fw.links["shop app->db "+model.BridgeName("shop", "back")+" 5432/tcp"]; l == nil || l.Src.String() != "172.30.0.3" || l.Dst.String() != "172.30.0.10" {
		t.Errorf("link rule = %+v (links %v)", l, fw.links)
	}
	if res := h.apply(t, topo); len(res.Done) != 0 {
		t.Errorf("second apply did %d things", len(res.Done))
	}

	// Moving db moves the link's opening; moving web's address re-targets
	// its ports (and flushes the UDP one).
	fw.batches = nil
	moved := strings.Replace(firewallTopo, "172.30.0.10", "172.30.0.20", 1)
	p = h.plan(t, parse(t, "shop.yaml", moved))
	text.Reset()
	must(t, p.WriteText(&text))
	golden.File(t, filepath.Join("testdata", "firewall-move.txt"), text.String())
	h.apply(t, parse(t, "shop.yaml", moved))
	if len(fw.batches) != 1 || !fw.batches[0].Rewrite || fw.batches[0].Base || len(fw.batches[0].Networks) != 0 {
		t.Errorf("moving db: batches %+v", fw.batches)
	}
}

// down removes the project's rules and leaves another project's and the
// shared network's in place.
func TestDownRemovesTheProjectsFirewall(t *testing.T) {
	h, fw := newFirewallHarness()
	h.apply(t, parse(t, "shop.yaml", firewallTopo))
	h.apply(t, parse(t, "blog.yaml", "containers:\n  app:\n    ports: [\"8000:80\"]\n"))
	if _, err := h.r.Apply(context.Background(), "shop", nil); err != nil {
		t.Fatal(err)
	}
	for k, n := range fw.networks {
		if n.Project == "shop" {
			t.Errorf("network rules %s left after down", k)
		}
	}
	if got := hostPorts(t, fw, "shop"); len(got) != 0 {
		t.Errorf("ports left after down: %q", got)
	}
	if len(fw.links) != 0 {
		t.Errorf("links left after down: %v", fw.links)
	}
	if got := hostPorts(t, fw, "blog"); !slices.Equal(got, []string{"app 0.0.0.0:8000->80/tcp"}) || fw.networks["/bridge"] == nil {
		t.Errorf("blog's ports %q, shared network %v after shop's down", got, fw.networks["/bridge"])
	}
	// prune takes the shared network's rules along with its bridge.
	if _, err := h.r.Apply(context.Background(), "blog", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := h.r.Prune(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(fw.networks) != 0 {
		t.Errorf("network rules after prune: %v", fw.networks)
	}
}

// Drift the backend reports (damaged objects, stray rules, broken base)
// is planned and repaired.
func TestFirewallDriftIsPlanned(t *testing.T) {
	h, fw := newFirewallHarness()
	topo := parse(t, "shop.yaml", firewallTopo)
	h.apply(t, topo)
	for _, p := range fw.ports {
		p.Damaged = true
		break
	}
	fw.networks["shop/front"].Damaged = true
	fw.stray[""] = []string{"filter -A NETCTL-CT -j ACCEPT"}
	fw.base = false
	p := h.plan(t, topo)
	var text bytes.Buffer
	must(t, p.WriteText(&text))
	for _, want := range []string{"~ firewall netctl chains: incomplete", "~ firewall front: rules missing", ": rules missing",
		"- firewall stray rules", "filter -A NETCTL-CT -j ACCEPT"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("plan lacks %q:\n%s", want, text.String())
		}
	}
	fw.ports[firstKey(fw.ports)].Damaged = false // Apply re-creates them; the fake keeps the flag otherwise
	h.apply(t, topo)
	if len(fw.stray) != 0 || !fw.base {
		t.Errorf("not repaired: stray %v, base %v", fw.stray, fw.base)
	}
}

func firstKey[V any](m map[string]V) string {
	return sortedMapKeys(m)[0]
}

// Without a firewall backend nothing about the firewall is planned.
func TestNoFirewallBackendPlansNoFirewall(t *testing.T) {
	h := newHarness()
	p := h.plan(t, parse(t, "shop.yaml", firewallTopo))
	for _, a := range p.Actions {
		if a.Kind == KindFirewall || a.Kind == KindSysctl {
			t.Errorf("planned %s %s without a firewall backend", a.Kind, a.Name)
		}
	}
}

// A failed batch fails all its actions; the next round repairs.
func TestFailedFirewallBatchIsRetried(t *testing.T) {
	h, fw := newFirewallHarness()
	fw.fail = true
	res := h.apply(t, parse(t, "shop.yaml", firewallTopo))
	if res.Rounds != 2 || len(fw.ports) != 3 {
		t.Errorf("rounds %d, ports %d", res.Rounds, len(fw.ports))
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// publish_all publishes every exposed port no ports entry covers on an
// ephemeral port of every address (docker run -P); picks are sticky, and a
// link sees the ports.
func TestPublishAll(t *testing.T) {
	h, fw := newFirewallHarness()
	fw.bound[model.PortProto{Port: 32768, Proto: "tcp"}] = true
	topo := `
containers:
  web:
    expose: [5000, "5001/udp", 5002]
    ports: ["8080:5002"]
    publish_all: true
  client:
    links: [web]
`
	h.apply(t, parse(t, "shop.yaml", topo))
	want := []string{"web 0.0.0.0:32768->5001/udp", "web 0.0.0.0:32769->5000/tcp", "web 0.0.0.0:8080->5002/tcp"}
	if got := hostPorts(t, fw, "shop"); !slices.Equal(got, want) {
		t.Errorf("ports = %q\nwant %q", got, want)
	}
	d, err := Desired(parse(t, "shop.yaml", topo), nil, h.r.Options)
	if err != nil {
		t.Fatal(err)
	}
	env := d.Containers["shop/client"].EnvFile
	for _, v := range []string{"WEB_PORT_5000_TCP_PORT=5000", "WEB_PORT_5001_UDP_PROTO=udp", "WEB_PORT_5002_TCP_ADDR="} {
		if !strings.Contains(env, v) {
			t.Errorf("client's env lacks %s:\n%s", v, env)
		}
	}
	// Sticky: a freed lower port does not move the picks.
	delete(fw.bound, model.PortProto{Port: 32768, Proto: "tcp"})
	if res := h.apply(t, parse(t, "shop.yaml", topo)); len(res.Done) != 0 {
		t.Errorf("re-apply changed %d things, first %+v", len(res.Done), res.Done[0])
	}
	// Off again: the picked ports go, the fixed one stays.
	h.apply(t, parse(t, "shop.yaml", strings.Replace(topo, "publish_all: true", "publish_all: false", 1)))
	if got := hostPorts(t, fw, "shop"); !slices.Equal(got, []string{"web 0.0.0.0:8080->5002/tcp"}) {
		t.Errorf("ports after publish_all: false = %q", got)
	}
}

// TestVerifyReadsWhatThePlanTouched: after a round that changed only links,
// the verification keeps the firewall's observation (no read-back of the
// ruleset) and still converges; after one that changed rules, it reads
// the firewall again.
func TestVerifyReadsWhatThePlanTouched(t *testing.T) {
	h, fw := newFirewallHarness()
	topo := "containers:\n  web:\n    ports: [\"8080:80\"]\n  db: {}\n"
	h.apply(t, parse(t, "shop.yaml", topo))

	h.links.mu.Lock()
	h.links.st.Containers["shop/db"].LoUp = false // drift in a namespace
	h.links.mu.Unlock()
	before := fw.gen
	res := h.apply(t, parse(t, "shop.yaml", topo))
	if len(res.Done) != 1 || res.Done[0].Kind != KindContainer || res.Rounds != 1 {
		t.Fatalf("drift repair did %v in %d rounds", res.Done, res.Rounds)
	}
	if n := fw.gen - before; n != 1 {
		t.Errorf("links-only round: the firewall was observed %d times, want once (before planning)", n)
	}
	if got := hostPorts(t, fw, "shop"); !slices.Equal(got, []string{"web 0.0.0.0:8080->80/tcp"}) {
		t.Errorf("ports = %q", got)
	}

	before = fw.gen
	h.apply(t, parse(t, "shop.yaml", strings.Replace(topo, "8080:80", "8081:80", 1)))
	if n := fw.gen - before; n != 2 {
		t.Errorf("a round that changed rules: the firewall was observed %d times, want twice", n)
	}
}

// TestApplyFromReadsTheFirewallForRuleChanges: starting from an earlier
// observation, the rules are read only when the plan changes them, and
// then before it is carried out.
func TestApplyFromReadsTheFirewallForRuleChanges(t *testing.T) {
	h, fw := newFirewallHarness()
	ctx := context.Background()
	topo := "containers:\n  web:\n    ports: [\"8080:80\"]\n"
	res, err := h.r.ApplyFrom(ctx, "shop", parse(t, "shop.yaml", topo), nil, Changes{})
	if err != nil {
		t.Fatal(err)
	}

	before := fw.gen
	topo += "  db: {}\n"
	res, err = h.r.ApplyFrom(ctx, "shop", parse(t, "shop.yaml", topo), res.Observed, Changes{})
	if err != nil || len(res.Done) == 0 {
		t.Fatalf("adding a container: %v, %v", res.Done, err)
	}
	if n := fw.gen - before; n != 0 {
		t.Errorf("a change without rules read the firewall %d times", n)
	}

	before = fw.gen
	topo = strings.Replace(topo, "8080:80", "8081:80", 1)
	res, err = h.r.ApplyFrom(ctx, "shop", parse(t, "shop.yaml", topo), res.Observed, Changes{})
	if err != nil {
		t.Fatal(err)
	}
	if n := fw.gen - before; n != 2 {
		t.Errorf("a change of rules read the firewall %d times, want before planning it and after", n)
	}
	if fw.stale != 0 {
		t.Errorf("%d batches were planned from an older reading", fw.stale)
	}
	if got := hostPorts(t, fw, "shop"); !slices.Equal(got, []string{"web 0.0.0.0:8081->80/tcp"}) {
		t.Errorf("ports = %q", got)
	}
	if res, err = h.r.ApplyFrom(ctx, "shop", parse(t, "shop.yaml", topo), res.Observed, Changes{}); err != nil || len(res.Done) != 0 {
		t.Errorf("then a no-op: %v, %v", res.Done, err)
	}

	// The rules announced a change (nftables): they are read, and what
	// someone removed is put back.
	fw.mu.Lock()
	clear(fw.ports)
	fw.mu.Unlock()
	before = fw.gen
	res, err = h.r.ApplyFrom(ctx, "shop", parse(t, "shop.yaml", topo), res.Observed, Changes{Firewall: true})
	if err != nil || len(res.Done) == 0 || fw.gen == before {
		t.Errorf("after an announced change of rules: %v, %v, %d reads", res.Done, err, fw.gen-before)
	}
	if got := hostPorts(t, fw, "shop"); !slices.Equal(got, []string{"web 0.0.0.0:8081->80/tcp"}) {
		t.Errorf("ports = %q", got)
	}
}
