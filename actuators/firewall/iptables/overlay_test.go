package iptables

import (
	"slices"
	"strings"
	"testing"

	"github.com/netctl/netctl/model"
)

// A peer's opening deleted by hand: the overlay network is observed with
// the remaining peer (a filter that differs from the file, which the
// reconciler plans to update), and the repair inserts the opening at the
// top of NETCTL-INPUT (above the drop) and touches nothing else.
func TestVXLANFilterDriftIsRepaired(t *testing.T) {
	out, err := Render(shop())
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, l := range strings.Split(out, "\n") {
		if !strings.Contains(l, "vxlan 4242 10.250.0.1:4789 from 10.250.0.3") {
			kept = append(kept, l)
		}
	}
	o := observeText(t, strings.Join(kept, "\n"))
	n := o.fw.Networks[model.NetworkID("shop", "mesh")]
	if n == nil || n.VXLAN == nil || !slices.Equal(n.VXLAN.Peers, shop().Networks["shop/mesh"].VXLAN.Peers[:1]) {
		t.Fatalf("mesh observed as %+v (%v)", n, n.VXLAN)
	}
	s, err := buildScript(o, &model.FirewallBatch{Project: "shop", Networks: []*model.NetworkRules{shop().Networks["shop/mesh"]}})
	if err != nil {
		t.Fatal(err)
	}
	want := "*filter\n-I NETCTL-INPUT 1 -s 10.250.0.3/32 -d 10.250.0.1/32 -p udp -m udp --dport 4789 -m u32 --u32 \"0x0>>0x16&0x3c@0xc>>0x8=0x1092\" -m comment --comment \"netctl:shop:mesh vxlan 4242 10.250.0.1:4789 from 10.250.0.3\" -j RETURN\nCOMMIT\n"
	if s != want {
		t.Errorf("repair script:\n%s\nwant:\n%s", s, want)
	}
}

// A filter rule whose network has no other rule left is stray, not a
// network.
func TestVXLANRuleWithoutItsNetworkIsStray(t *testing.T) {
	o := observeText(t, emptySave[:len(emptySave)-len("COMMIT\n")]+
		":NETCTL-INPUT - [0:0]\n"+
		"-A NETCTL-INPUT -d 10.250.0.1/32 -p udp -m udp --dport 4789 -m comment --comment \"netctl:shop:mesh vxlan 4242 10.250.0.1:4789 drop\" -j DROP\nCOMMIT\n")
	if len(o.fw.Networks) != 0 || len(o.fw.Stray["shop"]) != 1 {
		t.Errorf("networks %v, stray %q", o.fw.Networks, o.fw.Stray)
	}
}
