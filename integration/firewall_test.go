package integration

import (
	"strings"
	"testing"

	"github.com/netctl/netctl/internal/sandbox"
)

// iptablesState is what iptables-save shows of the tables' contents: user
// chains and rules, per table, without comments, counters and the built-in
// chains' policy lines (iptables-nft creates a table and its built-in
// chains on first use, and they are not netctl's to remove).
func iptablesState(t *testing.T, h *sandbox.Host, save string) string {
	t.Helper()
	r := h.InHost(save)
	if r.Code != 0 {
		t.Fatalf("%s: %s", save, r)
	}
	var out []string
	table := ""
	for _, l := range strings.Split(r.Stdout, "\n") {
		switch {
		case strings.HasPrefix(l, "*"):
			table = l
		case strings.HasPrefix(l, "-A "), strings.HasPrefix(l, ":") && strings.Contains(l, " - ["):
			if strings.HasPrefix(l, ":") {
				l, _, _ = strings.Cut(l, " ")
			}
			out = append(out, table+" "+l)
		}
	}
	return strings.Join(out, "\n")
}

// down of every project followed by prune leaves iptables as netctl found
// it: no NETCTL chain, no jump, and the hand-made rules and chains as they
// were. Both iptables flavours.
func TestDownAndPruneLeaveIptablesAsFound(t *testing.T) {
	for _, flavour := range []string{"nft", "legacy"} {
		t.Run(flavour, func(t *testing.T) {
			t.Setenv("NETCTL_FIREWALL", "iptables")
			t.Setenv("NETCTL_IPTABLES", flavour)
			h := sandbox.New(t)
			ipt := "iptables-" + flavour
			for _, args := range [][]string{
				{ipt, "-N", "HANDMADE"},
				{ipt, "-A", "FORWARD", "-j", "HANDMADE"},
				{ipt, "-A", "HANDMADE", "-s", "10.9.9.9/32", "-m", "comment", "--comment", "hand made", "-j", "DROP"},
				{ipt, "-t", "nat", "-A", "POSTROUTING", "-s", "10.8.8.0/24", "-j", "MASQUERADE"},
			} {
				if r := h.InHost(args...); r.Code != 0 {
					t.Fatalf("%v: %s", args, r)
				}
			}
			save := ipt + "-save"
			leaveAsFound(t, h, func() string { return iptablesState(t, h, save) }, func(rules string) bool {
				return strings.Contains(rules, "NETCTL-P-") && strings.Contains(rules, "netctl::bridge")
			})
		})
	}
}
