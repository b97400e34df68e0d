package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netctl/netctl/internal/sandbox"
)

// A VXLAN opening that a hand edit left below the drop in NETCTL-INPUT
// cuts the overlay: diff shows it, apply moves the opening back to the top
// and the overlay carries traffic again (iptables backend: nftables keeps
// the filter in a fixed chain, checked whole).
func TestMisorderedInputChainIsRepaired(t *testing.T) {
	t.Setenv("NETCTL_FIREWALL", "iptables")
	c := newOverlayCluster(t)
	c.applyAll(t)
	a, b := c.Hosts[0], c.Hosts[1]
	api := ctrAddr(t, b, "api", "eth0")
	if !a.Ping(t, "mesh", "web", api) {
		t.Fatal("web (a) cannot reach api (b) across the overlay")
	}

	// On a, every opening goes below the drop: delete, then append.
	save := a.InHost(sandbox.Iptables("iptables-save"), "-t", "filter")
	var moves []string
	for _, l := range strings.Split(save.Stdout, "\n") {
		if strings.HasPrefix(l, "-A NETCTL-INPUT ") && strings.HasSuffix(l, "-j RETURN") {
			moves = append(moves, "-D"+strings.TrimPrefix(l, "-A"), l)
		}
	}
	if len(moves) == 0 {
		t.Fatalf("no VXLAN opening in NETCTL-INPUT:\n%s", save.Stdout)
	}
	script := filepath.Join(t.TempDir(), "misorder")
	must(t, os.WriteFile(script, []byte("*filter\n"+strings.Join(moves, "\n")+"\nCOMMIT\n"), 0o600))
	if r := a.InHost(sandbox.Iptables("iptables-restore"), "--noflush", script); r.Code != 0 {
		t.Fatalf("misorder NETCTL-INPUT: %s", r)
	}
	if a.Ping(t, "mesh", "web", api) {
		t.Fatal("web (a) still reaches api (b) with the openings below the drop: the test misorders nothing")
	}

	if r := a.Netctl("--node", overlayNodes[0], "diff", "-f", c.files[0]); r.Code != 2 || !strings.Contains(r.Stdout, "firewall app") {
		t.Errorf("diff with NETCTL-INPUT misordered: want exit 2 and the network's firewall, got %s", r)
	}
	c.apply(t, 0)
	if !a.Ping(t, "mesh", "web", api) {
		t.Errorf("web (a) cannot reach api (b) after the repairing apply:\n%s", a.InHost(sandbox.Iptables("iptables-save"), "-t", "filter").Stdout)
	}
	if r := a.Netctl("--node", overlayNodes[0], "diff", "-f", c.files[0]); r.Code != 0 {
		t.Errorf("diff after the repair: want exit 0, got %s", r)
	}
}
