package nftables

import (
	"testing"

	"github.com/vishvananda/netns"

	"github.com/netctl/netctl/internal/sandbox"
)

func generationOf(t *testing.T, h *sandbox.Host) Generation {
	t.Helper()
	ns, err := netns.GetFromPath(h.NetnsPath())
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	g, err := ReadGeneration(ns)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// The generation moves with every transaction, whoever commits it
// (iptables-nft here, as the iptables backend's saved reading relies on),
// stays while nothing is committed, and tells namespaces apart.
func TestGenerationFollowsTheRuleset(t *testing.T) {
	h := sandbox.New(t)
	g1 := generationOf(t, h)
	if g1.Boot == "" || g1.NetNS == 0 {
		t.Fatalf("generation without its boot or namespace: %+v", g1)
	}
	if g2 := generationOf(t, h); g2 != g1 {
		t.Errorf("generation moved without a transaction: %+v then %+v", g1, g2)
	}
	for _, cmd := range [][]string{
		{"iptables-nft", "-N", "GENTEST"},
		{"nft", "add", "table", "inet", "gentest"},
		{"iptables-nft", "-A", "GENTEST", "-j", "ACCEPT"},
	} {
		if r := h.InHost(cmd...); r.Code != 0 {
			t.Fatalf("%v: %s", cmd, r)
		}
		g2 := generationOf(t, h)
		if g2.ID == g1.ID || g2.NetNS != g1.NetNS || g2.Boot != g1.Boot {
			t.Errorf("after %v: generation %+v, before %+v", cmd, g2, g1)
		}
		g1 = g2
	}
	// Reading the rules commits nothing.
	if r := h.InHost("iptables-nft-save"); r.Code != 0 {
		t.Fatal(r)
	}
	if g2 := generationOf(t, h); g2 != g1 {
		t.Errorf("iptables-save moved the generation: %+v then %+v", g1, g2)
	}
	if other := generationOf(t, sandbox.New(t)); other.NetNS == g1.NetNS {
		t.Errorf("two namespaces with one cookie: %+v, %+v", other, g1)
	}
}
