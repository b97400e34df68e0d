package reconciler

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/netctl/netctl/model"
)

// Every batch is applied relative to the observation its plan was made
// from, which it carries: the backend keeps nothing between calls.
func TestFirewallBatchCarriesItsObservation(t *testing.T) {
	h, fw := newFirewallHarness()
	topo := parse(t, "shop.yaml", firewallTopo)
	h.apply(t, topo)
	fw.networks["shop/front"].Damaged = true
	h.apply(t, topo)
	if _, err := h.r.Apply(context.Background(), "shop", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := h.r.Prune(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(fw.batches) < 3 || fw.stale != 0 {
		t.Errorf("%d batches, %d of them without the snapshot of the latest observation", len(fw.batches), fw.stale)
	}
}

func lastBatchTearsDown(fw *fakeFirewall) bool {
	return len(fw.batches) > 0 && fw.batches[len(fw.batches)-1].Teardown
}

// Once no project has anything left, netctl's chains and jumps go: down of
// the last project takes them when it used no shared network, prune when
// the default network was the last thing left. Nothing is torn down while
// another project still has rules.
func TestTeardownOnceNoProjectIsLeft(t *testing.T) {
	h, fw := newFirewallHarness()
	h.apply(t, parse(t, "shop.yaml", "networks:\n  front: {}\ncontainers:\n  web:\n    networks: [front]\n    ports: [\"8080:80\"]\n"))
	h.apply(t, parse(t, "blog.yaml", "containers:\n  app:\n    ports: [\"8000:80\"]\n"))

	down := func(project string) {
		t.Helper()
		if _, err := h.r.Apply(context.Background(), project, nil); err != nil {
			t.Fatal(err)
		}
	}
	down("shop")
	if lastBatchTearsDown(fw) || !fw.base {
		t.Fatalf("shop's down tore netctl's chains down while blog has rules")
	}
	down("blog")
	if lastBatchTearsDown(fw) || !fw.base {
		t.Fatalf("blog's down tore netctl's chains down while the default network is left")
	}
	p, err := h.r.Prune(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	must(t, p.WriteText(&text))
	if !strings.Contains(text.String(), "- firewall netctl chains (shared): no project has rules left") {
		t.Errorf("prune plan lacks the teardown:\n%s", text.String())
	}
	if !lastBatchTearsDown(fw) || fw.base || len(fw.networks) != 0 {
		t.Errorf("after prune: teardown %v, base %v, networks %v", lastBatchTearsDown(fw), fw.base, fw.networks)
	}
	if p, err := h.r.Prune(context.Background()); err != nil || !p.Empty() {
		t.Errorf("second prune: %v, %+v", err, p)
	}

	// The only project, on a network of its own: its down is the last.
	h.apply(t, parse(t, "shop.yaml", "networks:\n  front: {}\ncontainers:\n  web:\n    networks: [front]\n"))
	if !fw.base {
		t.Fatal("apply did not install the base")
	}
	down("shop")
	if !lastBatchTearsDown(fw) || fw.base {
		t.Errorf("down of the last project left netctl's chains")
	}
}

// A teardown's settle (the kernel removing the deleted namespaces and
// bridges: most of a small down) runs while the firewall's transaction
// does, and is over before the reconcile verifies. A plan that makes
// links after deleting some waits for it first (they may reuse its names).
func TestTeardownSettlesAlongsideTheFirewall(t *testing.T) {
	h, fw := newFirewallHarness()
	topo := parse(t, "shop.yaml", firewallTopo)
	h.apply(t, topo)

	applied := make(chan struct{})
	var once sync.Once
	fw.onApply = func() { once.Do(func() { close(applied) }) }
	var settled atomic.Bool
	h.links.settle = func() {
		select {
		case <-applied:
		case <-time.After(5 * time.Second):
			t.Error("the teardown's settle held the firewall's transaction back")
		}
		settled.Store(true)
	}
	if _, err := h.r.Apply(context.Background(), "shop", nil); err != nil {
		t.Fatal(err)
	}
	if !settled.Load() {
		t.Error("down returned before its teardown settled")
	}

	// Apply again, then replace a container: its deletion settles
	// before anything is created.
	h.links.settle = nil
	h.apply(t, topo)
	var order []string
	h.links.settle = func() { order = append(order, fmt.Sprintf("settle after %d calls", len(h.links.calls))) }
	renamed := parse(t, "shop.yaml", strings.Replace(firewallTopo, "  legacy: {}", "  legacy2: {}", 1))
	h.links.calls = nil
	h.apply(t, renamed)
	del := slices.IndexFunc(h.links.calls, func(c string) bool { return strings.HasPrefix(c, "DeleteNamespace shop/legacy") })
	add := slices.IndexFunc(h.links.calls, func(c string) bool { return strings.HasPrefix(c, "EnsureNamespace shop/legacy2") })
	if del < 0 || add < 0 || len(order) == 0 || order[0] != fmt.Sprintf("settle after %d calls", del+1) {
		t.Errorf("calls %q, settles %q: want a settle right after the deletion, before the creation", h.links.calls, order)
	}
}

// A plan's firewall batch runs while its containers are wired, and its
// rules are read back as soon as the batch is done, while the wiring goes
// on: the verification takes that reading instead of reading the rules
// again after everything (the read-back is most of an add-one's
// verification at thousands of published ports).
func TestFirewallReadBackOverlapsTheContainers(t *testing.T) {
	h, fw := newFirewallHarness()
	topo := parse(t, "shop.yaml", firewallTopo)
	h.apply(t, topo)

	var applied atomic.Bool
	readBack := make(chan struct{})
	var once sync.Once
	fw.onApply = func() { applied.Store(true) }
	fw.onObserve = func() {
		if applied.Load() {
			once.Do(func() { close(readBack) })
		}
	}
	h.links.onCall = func(call string) {
		if call != "EnsureNamespace shop/extra" {
			return
		}
		select {
		case <-readBack:
		case <-time.After(5 * time.Second):
			t.Error("the firewall's batch and read-back waited for the containers' wiring")
		}
	}
	fw.mu.Lock()
	before := fw.gen
	fw.mu.Unlock()
	grown := parse(t, "shop.yaml", firewallTopo+"  extra:\n    networks: [front]\n    ports: [\"9090:90\"]\n")
	res := h.apply(t, grown)

	fw.mu.Lock()
	reads := fw.gen - before
	fw.mu.Unlock()
	if reads != 2 {
		t.Errorf("the rules were read %d times: want 2 (before the plan, and once after the batch)", reads)
	}
	c := res.Observed.Containers["shop/extra"]
	if c == nil || !slices.ContainsFunc(c.Ports, func(p model.Port) bool { return p.HostPort == 9090 }) {
		t.Errorf("the verified state lacks extra's published port: %+v", c)
	}
	if p := h.plan(t, grown); !p.Empty() {
		t.Errorf("not converged: %d actions left", len(p.Actions))
	}
}

// Beside a containers' phase that keeps every worker busy (a cold apply),
// the firewall's batch would only take CPU from it: it starts with the
// names phase instead.
func TestFirewallWaitsForABusyContainersPhase(t *testing.T) {
	h, fw := newFirewallHarness()
	topo := parse(t, "shop.yaml", firewallTopo)
	h.apply(t, topo)

	h.r.Workers = 1
	var mu sync.Mutex
	var wiring [2]time.Time // the new container's namespace: begun, done
	var applied time.Time
	fw.onApply = func() {
		mu.Lock()
		applied = time.Now()
		mu.Unlock()
	}
	h.links.onCall = func(call string) {
		if call != "EnsureNamespace shop/extra" {
			return
		}
		mu.Lock()
		wiring[0] = time.Now()
		mu.Unlock()
		// A busy phase: a batch started beside it would run now.
		time.Sleep(50 * time.Millisecond)
		mu.Lock()
		wiring[1] = time.Now()
		mu.Unlock()
	}
	grown := parse(t, "shop.yaml", firewallTopo+"  extra:\n    networks: [front]\n    ports: [\"9090:90\"]\n")
	h.apply(t, grown)
	mu.Lock()
	defer mu.Unlock()
	switch {
	case applied.IsZero() || wiring[0].IsZero():
		t.Errorf("the batch (%v) or the wiring (%v) never ran", applied, wiring[0])
	case applied.Before(wiring[1]):
		t.Errorf("the firewall's batch ran beside a containers' phase with no idle worker")
	}
}
