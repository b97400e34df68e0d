package reconciler

import (
	"context"
	"errors"
	"testing"

	"github.com/netctl/netctl/spec"
)

// A file refused while the host was being read changes nothing, and is
// what the caller is told; a good one converges as Apply would, and diff
// plans it the same way.
func TestApplyLoading(t *testing.T) {
	h := newHarness()
	topo := parse(t, "shop.yaml", "networks:\n  back: {subnet: 172.20.0.0/24}\ncontainers:\n  db: {networks: [back]}\n")
	refused := errors.New("shop.yaml:3:5: no such network")
	project, res, err := h.r.ApplyLoading(context.Background(), func() (string, *spec.Topology, error) { return "", nil, refused })
	if !errors.Is(err, refused) || res != nil || project != "" {
		t.Fatalf("ApplyLoading of a refused file = %q, %+v, %v; want the file's error alone", project, res, err)
	}
	if n := len(h.links.st.Containers) + len(h.links.st.Networks); n != 0 {
		t.Fatalf("a refused file changed the fake kernel: %d objects", n)
	}

	good := func() (string, *spec.Topology, error) { return topo.Name, topo, nil }
	p, err := h.r.PlanLoading(context.Background(), good)
	if err != nil || p.Empty() {
		t.Fatalf("PlanLoading = %v, %v; want the creation of shop", p, err)
	}
	project, res, err = h.r.ApplyLoading(context.Background(), good)
	if err != nil || project != "shop" || res.Rounds != 1 || len(res.Done) != len(p.Actions) {
		t.Fatalf("ApplyLoading = %q, %+v, %v; want shop converged in one round of the %d planned actions", project, res, err, len(p.Actions))
	}
	h.container(t, "shop/db")
	if p, err := h.r.PlanLoading(context.Background(), good); err != nil || !p.Empty() {
		t.Errorf("PlanLoading after the apply = %v, %v; want no changes", p, err)
	}
}
