package integration

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/vishvananda/netns"

	"github.com/netctl/netctl/actuators/firewall/nftables"
	"github.com/netctl/netctl/internal/sandbox"
)

// iptables-nft: a no-op apply takes the rules from the reading saved
// under --root (no iptables-save runs) while the nf_tables generation has
// not moved; any change to the ruleset, by anyone, makes the next command
// read the rules again, so drift is still reported and repaired; and a
// reading saved in another namespace is never taken, even at the same
// generation id.
func TestSavedIptablesReading(t *testing.T) {
	t.Setenv("NETCTL_FIREWALL", "iptables")
	t.Setenv("NETCTL_IPTABLES", "nft")
	h := sandbox.New(t)
	out := outside(t, h)
	file := h.WriteFile(t, "sv.yaml", "name: sv\ncontainers:\n  web:\n    ports: [\"8080:80\"]\n")
	h.MustNetctl(t, "apply", "-f", file)
	serve(t, h.ContainerNetns("sv", "web"), "tcp", 80, "web")
	expectServed(t, "published", out, "tcp", "10.250.0.1:8080", "web")

	r := h.MustNetctl(t, "--log-level", "debug", "apply", "-f", file)
	if !strings.Contains(r.Stderr, `"saved":true`) || strings.Contains(r.Stderr, `"saved":false`) {
		t.Errorf("no-op apply did not take the saved reading:\n%s", r.Stderr)
	}
	for _, d := range []drift{
		{"flushed project chain", []string{"sh", "-c", "iptables-nft -t nat -F $(iptables-nft -t nat -S | awk '/^-N NETCTL-P-/{print $2; exit}')"}, "firewall web 0.0.0.0:8080/tcp: rules missing"},
		{"deleted FORWARD jump", []string{"iptables-nft", "-D", "FORWARD", "-m", "comment", "--comment", "netctl", "-j", "NETCTL-FORWARD"}, "jump filter FORWARD -> NETCTL-FORWARD missing"},
	} {
		// Converged, and the reading saved at the current generation.
		if r := h.Netctl("diff", "-f", file); r.Code != 0 {
			t.Fatalf("%s: not converged before the drift:\n%s", d.name, r)
		}
		d.check(t, h, file, out)
	}

	// The same saved reading, given the generation of a fresh namespace
	// whose ruleset is empty: only the namespace tells them apart.
	saved, err := os.ReadFile(filepath.Join(h.Root(), "cache", "iptables-save"))
	if err != nil {
		t.Fatal(err)
	}
	h2 := sandbox.New(t)
	ns, err := netns.GetFromPath(h2.NetnsPath())
	if err != nil {
		t.Fatal(err)
	}
	gen, err := nftables.ReadGeneration(ns)
	ns.Close()
	if err != nil {
		t.Fatal(err)
	}
	forged := regexp.MustCompile(`(?m)^genid \d+$`).ReplaceAll(saved, []byte("genid "+strconv.FormatUint(uint64(gen.ID), 10)))
	if err := os.MkdirAll(filepath.Join(h2.Root(), "cache"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h2.Root(), "cache", "iptables-save"), forged, 0o600); err != nil {
		t.Fatal(err)
	}
	file2 := h2.WriteFile(t, "sv.yaml", "name: sv\ncontainers:\n  web:\n    ports: [\"8080:80\"]\n")
	r = h2.Netctl("--log-level", "debug", "diff", "-f", file2)
	if r.Code != 2 || strings.Contains(r.Stderr, `"saved":true`) {
		t.Errorf("another namespace's reading was taken:\n%s", r)
	}
}
