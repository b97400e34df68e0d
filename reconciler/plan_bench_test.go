package reconciler

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// BenchmarkPlanNoChange1000 plans a topology of 1,000 containers (one
// published port each, on 4 networks) against a host that already has it:
// the desire and diff a no-op apply pays.
func BenchmarkPlanNoChange1000(b *testing.B) {
	var src strings.Builder
	src.WriteString("name: bench\nnetworks:\n")
	for n := 1; n <= 4; n++ {
		fmt.Fprintf(&src, "  net%d: {}\n", n)
	}
	src.WriteString("containers:\n")
	for i := 1; i <= 1000; i++ {
		fmt.Fprintf(&src, "  c%d:\n    networks: [net%d]\n    ports: [\"%d:80\"]\n", i, i%4+1, 20000+i)
	}
	h := newHarness()
	topo := parse(b, "bench.yaml", src.String())
	if _, err := h.r.Apply(context.Background(), topo.Name, topo); err != nil {
		b.Fatal(err)
	}
	observed, err := h.r.Observe(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	b.ReportAllocs()
	for b.Loop() {
		p, err := h.r.plan(topo.Name, topo, observed)
		if err != nil {
			b.Fatal(err)
		}
		if len(p.Actions) != 0 {
			b.Fatalf("no-op planned %d actions", len(p.Actions))
		}
	}
}
