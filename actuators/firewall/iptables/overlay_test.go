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

// The peer DNS exemption round-trips through its comments; a peer's pair
// deleted by hand is observed as an exemption without that peer (which
// the reconciler plans to update), and the repair inserts exactly that
// pair at the top of nat NETCTL, above every project's DNATs.
func TestPeerDNSDriftIsRepaired(t *testing.T) {
	out, err := Render(shop())
	if err != nil {
		t.Fatal(err)
	}
	want := shop().Networks["shop/mesh"]
	if n := observeText(t, out).fw.Networks["shop/mesh"]; n == nil || !n.PeerDNS.Equal(want.PeerDNS) || n.Damaged {
		t.Fatalf("intact mesh observed as %+v", n)
	}
	var kept []string
	for _, l := range strings.Split(out, "\n") {
		if !strings.Contains(l, "dns 10.250.0.1:53 from 10.250.0.3") {
			kept = append(kept, l)
		}
	}
	o := observeText(t, strings.Join(kept, "\n"))
	n := o.fw.Networks[model.NetworkID("shop", "mesh")]
	if n == nil || n.PeerDNS == nil || !slices.Equal(n.PeerDNS.Peers, want.PeerDNS.Peers[:1]) || n.Equal(want) {
		t.Fatalf("mesh observed as %+v (%v)", n, n.PeerDNS)
	}
	if len(o.fw.Stray) > 0 {
		t.Errorf("stray %q", o.fw.Stray)
	}
	s, err := buildScript(o, &model.FirewallBatch{Project: "shop", Networks: []*model.NetworkRules{want}})
	if err != nil {
		t.Fatal(err)
	}
	wantScript := "*nat\n" +
		"-I NETCTL 1 -s 10.250.0.3/32 -d 10.250.0.1/32 -p udp -m comment --comment \"netctl:shop:mesh dns 10.250.0.1:53 from 10.250.0.3\" -m udp --dport 53 -j RETURN\n" +
		"-I NETCTL 1 -s 10.250.0.3/32 -d 10.250.0.1/32 -p tcp -m comment --comment \"netctl:shop:mesh dns 10.250.0.1:53 from 10.250.0.3\" -m tcp --dport 53 -j RETURN\n" +
		"COMMIT\n"
	if s != wantScript {
		t.Errorf("repair script:\n%s\nwant:\n%s", s, wantScript)
	}
}

// Only one of a peer's pair deleted: the exemption still names the peer,
// so the network is damaged (rules missing) and the repair puts the
// missing rule back.
func TestPeerDNSHalfPairIsDamage(t *testing.T) {
	out, err := Render(shop())
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, l := range strings.Split(out, "\n") {
		if !strings.Contains(l, "dns 10.250.0.1:53 from 10.250.0.2\" -m tcp") {
			kept = append(kept, l)
		}
	}
	n := observeText(t, strings.Join(kept, "\n")).fw.Networks["shop/mesh"]
	if n == nil || !n.Equal(shop().Networks["shop/mesh"]) || !n.Damaged {
		t.Errorf("mesh observed as %+v, want equal to the file and damaged", n)
	}
}

// An exemption rule whose network has no other rule left is stray, not a
// network.
func TestPeerDNSRuleWithoutItsNetworkIsStray(t *testing.T) {
	o := observeText(t, emptySave+"*nat\n:PREROUTING ACCEPT [0:0]\n:NETCTL - [0:0]\n"+
		"-A NETCTL -s 10.250.0.2/32 -d 10.250.0.1/32 -p udp -m comment --comment \"netctl:shop:mesh dns 10.250.0.1:53 from 10.250.0.2\" -m udp --dport 53 -j RETURN\nCOMMIT\n")
	if len(o.fw.Networks) != 0 || len(o.fw.Stray["shop"]) != 1 {
		t.Errorf("networks %v, stray %q", o.fw.Networks, o.fw.Stray)
	}
}

// Dropping an overlay network (down, or the network gone from the file)
// deletes its peer DNS exemption with its other rules.
func TestPeerDNSGoesWithItsNetwork(t *testing.T) {
	out, err := Render(shop())
	if err != nil {
		t.Fatal(err)
	}
	o := observeText(t, out)
	s, err := buildScript(o, &model.FirewallBatch{Project: "shop", DropNetworks: []*model.NetworkRules{o.fw.Networks["shop/mesh"]}})
	if err != nil {
		t.Fatal(err)
	}
	for _, peer := range []string{"10.250.0.2", "10.250.0.3"} {
		for _, proto := range []string{"udp", "tcp"} {
			del := "-D NETCTL -s " + peer + "/32 -d 10.250.0.1/32 -p " + proto + " -m comment --comment \"netctl:shop:mesh dns 10.250.0.1:53 from " + peer + "\" -m " + proto + " --dport 53 -j RETURN\n"
			if !strings.Contains(s, del) {
				t.Errorf("drop of mesh lacks %q:\n%s", del, s)
			}
		}
	}
}
