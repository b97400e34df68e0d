package reconciler

import (
	"bytes"
	"context"
	"strings"
	"testing"
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
