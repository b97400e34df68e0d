//go:build overlaybench

// Package overlay measures overlay networks at scale (issue 13), in sandbox
// hosts joined by an underlay switch (internal/sandbox.Cluster). It is a
// benchmark, not a test: it only builds with -tags overlaybench, and prints
// markdown tables for docs/benchmarks.md. Rerun:
//
//	make bench-overlay   # or: go test -tags overlaybench -v -timeout 60m ./bench/overlay/
//
// REPS (default 3) sets the repetitions; the median is reported.
package overlay

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netctl/netctl/internal/sandbox"
	"github.com/netctl/netctl/model"
)

func TestMain(m *testing.M) { sandbox.Main(m) }

func reps() int {
	if n, err := strconv.Atoi(os.Getenv("REPS")); err == nil && n > 0 {
		return n
	}
	return 3
}

// topo is a project of perNode containers on each of nodes nodes, on the
// overlay app; bridge: the same containers of the first node alone, on a
// bridge network of the same subnet, and no nodes.
func topo(nodes, perNode int, bridge bool) string {
	var b strings.Builder
	b.WriteString("name: bench\nnetworks:\n")
	if bridge {
		b.WriteString("  app: {subnet: 10.60.0.0/16}\n")
	} else {
		b.WriteString("  app: {driver: overlay, subnet: 10.60.0.0/16}\n")
	}
	b.WriteString("containers:\n")
	for i := range nodes * perNode {
		node := i % nodes
		if bridge && node != 0 {
			continue
		}
		fmt.Fprintf(&b, "  c%04d: {networks: {app: {aliases: [svc%d]}}", i, i%10)
		if !bridge {
			fmt.Fprintf(&b, ", node: %s", nodeName(node))
		}
		b.WriteString("}\n")
	}
	return b.String()
}

func nodeName(i int) string { return fmt.Sprintf("n%02d", i) }

func nodeNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = nodeName(i)
	}
	return out
}

// timed runs netctl on h and returns its wall clock; a failure ends the run.
func timed(t *testing.T, h *sandbox.Host, args ...string) time.Duration {
	t.Helper()
	start := time.Now()
	h.MustNetctl(t, args...)
	return time.Since(start)
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

// floodEntries counts the permanent forwarding entries of a VXLAN device:
// the ones netctl installs (learned entries are dynamic and age out).
func floodEntries(t *testing.T, h *sandbox.Host, dev string) (zero, all int) {
	t.Helper()
	r := h.InHost("bridge", "fdb", "show", "dev", dev)
	if r.Code != 0 {
		t.Fatalf("bridge fdb show dev %s: %s", dev, r)
	}
	for _, l := range strings.Split(r.Stdout, "\n") {
		if !strings.Contains(l, " dst ") || !strings.Contains(l, "permanent") {
			continue
		}
		all++
		if strings.HasPrefix(l, "00:00:00:00:00:00 dst ") {
			zero++
		}
	}
	return zero, all
}

// One node's apply of its 100 containers in a 3-node, 300-container
// overlay, against the same 100 containers on a bridge network, both in
// the same run, alternating, so that the machine's load hits both alike.
func TestOverlayVsBridge(t *testing.T) {
	const nodes, perNode = 3, 100
	c := sandbox.NewCluster(t, nodes)
	ovTopo := topo(nodes, perNode, false) + c.NodesYAML(nodeNames(nodes)...)
	files := make([]string, nodes)
	for i, h := range c.Hosts {
		files[i] = h.WriteFile(t, "bench.yaml", ovTopo)
	}
	// The other nodes run their containers: node 0's DNS then really
	// holds the remote names, as in a live cluster.
	for i := 1; i < nodes; i++ {
		c.Hosts[i].MustNetctl(t, "--node", nodeName(i), "apply", "-f", files[i])
	}
	br := sandbox.New(t)
	brFile := br.WriteFile(t, "bench.yaml", topo(nodes, perNode, true))
	a := c.Hosts[0]

	var ovCold, ovNoop, ovDown, brCold, brNoop, brDown []time.Duration
	loadBefore := loadavg()
	for range reps() {
		ovCold = append(ovCold, timed(t, a, "--node", nodeName(0), "apply", "-f", files[0]))
		ovNoop = append(ovNoop, timed(t, a, "--node", nodeName(0), "apply", "-f", files[0]))
		ovDown = append(ovDown, timed(t, a, "--node", nodeName(0), "down", "-f", files[0]))
		brCold = append(brCold, timed(t, br, "apply", "-f", brFile))
		brNoop = append(brNoop, timed(t, br, "apply", "-f", brFile))
		brDown = append(brDown, timed(t, br, "down", "-f", brFile))
	}
	ratio := func(o, b []time.Duration) string {
		return fmt.Sprintf("%.2f×", float64(median(o))/float64(median(b)))
	}
	fmt.Printf("\n### One node of 3, 100 of 300 containers (median of %d; load %s -> %s)\n\n", reps(), loadBefore, loadavg())
	fmt.Println("| | overlay (node n00) | bridge (same 100) | ratio |")
	fmt.Println("|---|---:|---:|---:|")
	fmt.Printf("| cold apply | %s | %s | %s |\n", ms(median(ovCold)), ms(median(brCold)), ratio(ovCold, brCold))
	fmt.Printf("| no-op re-apply | %s | %s | %s |\n", ms(median(ovNoop)), ms(median(brNoop)), ratio(ovNoop, brNoop))
	fmt.Printf("| down | %s | %s | %s |\n", ms(median(ovDown)), ms(median(brDown)), ratio(ovDown, brDown))
	fmt.Printf("\nraw: overlay cold %v noop %v down %v; bridge cold %v noop %v down %v\n", ovCold, ovNoop, ovDown, brCold, brNoop, brDown)
}

// How one node's work grows with the number of nodes, at a fixed number of
// containers per node: the flood entries must be one per other node,
// whatever the containers.
func TestOverlayNodeScaling(t *testing.T) {
	const perNode = 20
	vx := model.VXLANName("bench", "app")
	fmt.Printf("\n### Nodes: one node's apply, %d containers per node (median of %d)\n\n", perNode, reps())
	fmt.Println("| nodes | containers in the file | cold apply (node n00) | no-op re-apply | flood entries | permanent fdb entries | load |")
	fmt.Println("|---:|---:|---:|---:|---:|---:|---|")
	for _, nodes := range []int{2, 5, 10, 16} {
		c := sandbox.NewCluster(t, nodes)
		file := topo(nodes, perNode, false) + c.NodesYAML(nodeNames(nodes)...)
		files := make([]string, nodes)
		for i, h := range c.Hosts {
			files[i] = h.WriteFile(t, "bench.yaml", file)
		}
		for i := 1; i < nodes; i++ {
			c.Hosts[i].MustNetctl(t, "--node", nodeName(i), "apply", "-f", files[i])
		}
		a := c.Hosts[0]
		var cold, noop []time.Duration
		for range reps() {
			cold = append(cold, timed(t, a, "--node", nodeName(0), "apply", "-f", files[0]))
			noop = append(noop, timed(t, a, "--node", nodeName(0), "apply", "-f", files[0]))
			if len(cold) < reps() {
				timed(t, a, "--node", nodeName(0), "down", "-f", files[0])
			}
		}
		// Traffic across the overlay: learned entries are dynamic and
		// do not count; what netctl installs must not grow with it.
		if !a.Ping(t, "bench", "c0000", "10.60.16.0") {
			t.Errorf("%d nodes: c0000 (n00) cannot reach n01's first container", nodes)
		}
		zero, all := floodEntries(t, a, vx)
		if zero != nodes-1 || all != nodes-1 {
			t.Errorf("%d nodes, %d containers: %d flood entries, %d permanent entries; want %d each (one per other node)", nodes, nodes*perNode, zero, all, nodes-1)
		}
		fmt.Printf("| %d | %d | %s | %s | %d | %d | %s |\n", nodes, nodes*perNode, ms(median(cold)), ms(median(noop)), zero, all, loadavg())
		for i := range c.Hosts {
			c.Hosts[i].MustNetctl(t, "--node", nodeName(i), "down", "-f", files[i])
		}
	}
}

// The flood entries do not grow with the containers: 3 nodes with 10 and
// with 100 containers each.
func TestOverlayFDBIndependentOfContainers(t *testing.T) {
	vx := model.VXLANName("bench", "app")
	for _, perNode := range []int{10, 100} {
		c := sandbox.NewCluster(t, 3)
		file := topo(3, perNode, false) + c.NodesYAML(nodeNames(3)...)
		a := c.Hosts[0]
		a.MustNetctl(t, "--node", nodeName(0), "apply", "-f", a.WriteFile(t, "bench.yaml", file))
		zero, all := floodEntries(t, a, vx)
		fmt.Printf("3 nodes, %d containers per node: %d flood entries, %d permanent entries\n", perNode, zero, all)
		if zero != 2 || all != 2 {
			t.Errorf("3 nodes, %d containers per node: %d flood / %d permanent entries, want 2", perNode, zero, all)
		}
		a.MustNetctl(t, "--node", nodeName(0), "down", "-f", a.WriteFile(t, "bench.yaml", file))
	}
}
