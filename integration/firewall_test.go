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
			before := iptablesState(t, h, save)

			shop := h.WriteFile(t, "shop.yaml", `name: shop
networks:
  back: {icc: false}
  vault: {internal: true}
containers:
  web:
    networks: [back]
    ports: ["8080:80", "127.0.0.1::81", "5353:53/udp"]
  db:
    networks: [back, vault]
    expose: [5432]
  app:
    networks: [back]
    links: [db]
`)
			blog := h.WriteFile(t, "blog.yaml", "name: blog\ncontainers:\n  app:\n    ports: [\"8000:80\"]\n")
			h.MustNetctl(t, "apply", "-f", shop)
			h.MustNetctl(t, "apply", "-f", blog)
			if during := iptablesState(t, h, save); !strings.Contains(during, "NETCTL-P-") || !strings.Contains(during, "netctl::bridge") {
				t.Fatalf("rules missing after apply:\n%s", during)
			}
			h.MustNetctl(t, "down", "-f", shop)
			h.MustNetctl(t, "down", "-f", blog)
			h.MustNetctl(t, "prune")
			if after := iptablesState(t, h, save); after != before {
				t.Errorf("iptables after down and prune differs from before the first apply:\n%s",
					diffLines(before, after))
			}
			if r := h.MustNetctl(t, "prune"); strings.Contains(r.Stdout, "firewall") {
				t.Errorf("second prune plans firewall work:\n%s", r.Stdout)
			}

			// And the same once more, with down of the last project
			// taking everything when no default network is in use.
			h.MustNetctl(t, "apply", "-f", shop)
			h.MustNetctl(t, "down", "-f", shop)
			if after := iptablesState(t, h, save); after != before {
				t.Errorf("iptables after the last project's down differs from before:\n%s", diffLines(before, after))
			}
		})
	}
}
