package integration

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/internal/sandbox"
)

// Separate --roots in one network namespace are independent instances
// (issue 10, item 2): the same project applied under a second root makes
// a second set of objects and touches none of the first's; down and
// prune under one root leave the others' alone.
func TestSeparateRootsDoNotCollide(t *testing.T) {
	h := sandbox.New(t)
	topo := `
name: same
networks:
  n: {}
containers:
  a:
    networks: [n]
  b:
    networks: [n]
  legacy:
    ports: ["5000"]
`
	file := h.WriteFile(t, "same.yaml", topo)
	other, empty := extraRoot(t), extraRoot(t)
	reaches := func(root, from, to, network string) bool {
		t.Helper()
		ip := strings.TrimSpace(h.MustNetctl(t, "--root", root, "inspect", to, "--format",
			"{{(index .NetworkSettings.Networks \""+network+"\").IPAddress}}").Stdout)
		return h.MustNetctl(t, "--root", root, "exec", from, "--", "ping", "-c1", "-W2", ip).Code == 0
	}

	converged := func(when string, roots ...string) {
		t.Helper()
		for _, root := range roots {
			if r := h.Netctl("--root", root, "diff", "-f", file); r.Code != 0 {
				t.Errorf("%s: diff under %s: %s", when, root, r)
			}
		}
	}
	h.MustNetctl(t, "apply", "-f", file)
	first := hostLinks(t, h)
	h.MustNetctl(t, "--root", other, "apply", "-f", file)
	both := hostLinks(t, h)
	// Each root's rules too: its networks', its published port's.
	converged("after both applies", h.Root(), other)
	if n := strings.Count(both, "veth"); n != 2*strings.Count(first, "veth") {
		t.Errorf("%d veths after both applies, want twice the first root's:\n%s", n, both)
	}
	for _, line := range strings.Split(strings.TrimSpace(first), "\n") {
		if !strings.Contains(both, strings.Fields(line)[0]) {
			t.Errorf("the second root's apply removed %s", strings.Fields(line)[0])
		}
	}
	for _, root := range []string{h.Root(), other} {
		if !reaches(root, "a", "b", "n") || !reaches(root, "legacy", "legacy", "bridge") {
			t.Errorf("under %s: a cannot reach b, or legacy its own default network", root)
		}
	}
	// A root with nothing: prune removes nothing of the others'.
	h.MustNetctl(t, "--root", empty, "prune")
	if got := hostLinks(t, h); got != both {
		t.Errorf("prune under an empty root changed links:\n%s", diffLines(both, got))
	}
	converged("after prune under an empty root", h.Root(), other)
	// down + prune under the second root leave the first's as they were.
	h.MustNetctl(t, "--root", other, "down", "-f", file)
	h.MustNetctl(t, "--root", other, "prune")
	if got := hostLinks(t, h); got != first {
		t.Errorf("down + prune of the second root changed the first's links:\n%s", diffLines(first, got))
	}
	converged("after the second root's down and prune", h.Root())
	if rules := h.InHost("iptables-save").Stdout; strings.Contains(rules, "netctl@") {
		t.Errorf("the second root's rules outlive its down and prune:\n%s", rules)
	}
	if tables := h.InHost("nft", "list", "tables").Stdout; strings.Contains(tables, "netctl-") {
		t.Errorf("the second root's nftables table outlives its down and prune:\n%s", tables)
	}
	if !reaches(h.Root(), "a", "b", "n") {
		t.Errorf("first root after the second's down: a cannot reach b")
	}
}

// extraRoot makes a --root beside the sandbox's own, for tests of several
// roots, and undoes at cleanup whatever a failed test left mounted there
// (the sandbox cleans its own root only).
func extraRoot(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "root")
	must(t, os.MkdirAll(root, 0o700))
	t.Cleanup(func() {
		for _, m := range slices.Backward(mountsUnder(root)) {
			_ = unix.Unmount(m, unix.MNT_DETACH)
		}
	})
	return root
}
