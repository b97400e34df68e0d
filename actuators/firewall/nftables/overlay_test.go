package nftables

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/netctl/netctl/model"
)

// A peer's element deleted by hand: the overlay network is observed with
// the remaining peer (a filter that differs from the file, which the
// reconciler plans to update), and the repair adds exactly that element.
func TestVXLANFilterDriftIsRepaired(t *testing.T) {
	fw := shopFirewall()
	r, err := tableFor(objectsOf(fw))
	if err != nil {
		t.Fatal(err)
	}
	if n := removeElements(r, setVXLANPeers, "10.250.0.3"); n != 1 {
		t.Fatalf("removed %d", n)
	}
	s := classify(r)
	n := s.fw.Networks[model.NetworkID("shop", "mesh")]
	if n == nil || n.VXLAN == nil || n.VXLAN.VNI != 4242 ||
		!slices.Equal(n.VXLAN.Peers, []netip.Addr{netip.MustParseAddr("10.250.0.2")}) {
		t.Fatalf("mesh observed as %+v (%v)", n, n.VXLAN)
	}
	if len(s.fw.Stray) > 0 {
		t.Errorf("stray %q", s.fw.Stray)
	}
	tx, err := plan(s, &model.FirewallBatch{Project: "shop", Networks: []*model.NetworkRules{fw.Networks["shop/mesh"]}})
	if err != nil {
		t.Fatal(err)
	}
	if tx.build || len(tx.dels) != 0 || len(tx.adds) != 1 || formatElement(tx.adds[0]) != formatElement(element{
		set: setVXLANPeers, key: cat(addr(netip.MustParseAddr("10.250.0.1")), port(4789), vniKey(4242), addr(netip.MustParseAddr("10.250.0.3"))), comment: model.EncodeNetworkComment(fw.Networks["shop/mesh"])}) {
		t.Errorf("repair: build %v, dels %d, adds %v", tx.build, len(tx.dels), tx.adds)
	}
}

// A peer's exemption element deleted by hand: the overlay network is
// observed without that peer (an exemption that differs from the file,
// which the reconciler plans to update), and the repair adds exactly that
// element.
func TestPeerDNSDriftIsRepaired(t *testing.T) {
	fw := shopFirewall()
	r, err := tableFor(objectsOf(fw))
	if err != nil {
		t.Fatal(err)
	}
	if n := removeElements(r, setDNSPeers, "10.250.0.3"); n != 1 {
		t.Fatalf("removed %d", n)
	}
	s := classify(r)
	n := s.fw.Networks[model.NetworkID("shop", "mesh")]
	if n == nil || n.PeerDNS.String() != "udp/tcp 10.250.0.1:53 from 10.250.0.2 not DNATed" || n.Equal(fw.Networks["shop/mesh"]) {
		t.Fatalf("mesh observed as %+v (%v)", n, n.PeerDNS)
	}
	if len(s.fw.Stray) > 0 {
		t.Errorf("stray %q", s.fw.Stray)
	}
	tx, err := plan(s, &model.FirewallBatch{Project: "shop", Networks: []*model.NetworkRules{fw.Networks["shop/mesh"]}})
	if err != nil {
		t.Fatal(err)
	}
	want := `dns-peers 10.250.0.1 . 10.250.0.3 comment "netctl:shop:mesh br-mesh 10.60.0.0/16"`
	if tx.build || len(tx.dels) != 0 || len(tx.adds) != 1 || tx.adds[0].set+" "+formatElement(tx.adds[0]) != want {
		t.Errorf("repair: build %v, dels %d, adds %v; want the add of %s", tx.build, len(tx.dels), formatAll(tx.adds), want)
	}
}

// overlays is two projects on the same nodes, each with an overlay (shop
// two), so that every node pair's exemption element is needed by three
// networks and carries the mark of one.
func overlays() *model.Firewall {
	local, b, c := netip.MustParseAddr("10.250.0.1"), netip.MustParseAddr("10.250.0.2"), netip.MustParseAddr("10.250.0.3")
	fw := model.NewFirewall()
	for i, n := range []*model.NetworkRules{
		{Project: "shop", Name: "mesh", Bridge: "br-mesh", Subnet: netip.MustParsePrefix("10.60.0.0/16")},
		{Project: "shop", Name: "edge", Bridge: "br-edge", Subnet: netip.MustParsePrefix("10.61.0.0/16")},
		{Project: "blog", Name: "app", Bridge: "br-app", Subnet: netip.MustParsePrefix("10.62.0.0/16")},
	} {
		peers := []netip.Addr{b, c}
		if n.Project == "blog" {
			peers = peers[:1]
		}
		n.ICC = true
		n.VXLAN = &model.VXLANFilter{VNI: uint32(4242 + i), Local: local, Port: 4789, Peers: peers}
		n.PeerDNS = &model.PeerDNS{Listen: local, Peers: peers}
		fw.Networks[n.ID()] = n
	}
	return fw
}

// Each network reads back its whole exemption, though the set holds each
// element once, marked with one of the networks that need it; when that
// network goes, the element stays for the others with another's mark.
func TestPeerDNSSharedElements(t *testing.T) {
	fw := overlays()
	observeIntact(t, fw)
	s := observed(t, fw)
	if n := len(s.r.sets[setDNSPeers].elements); n != 2 {
		t.Errorf("%d exemption elements, want 2 (one per other node)", n)
	}
	b := &model.FirewallBatch{Project: "shop", DropNetworks: []*model.NetworkRules{fw.Networks["shop/edge"], fw.Networks["shop/mesh"]}}
	tx, err := plan(s, b)
	if err != nil {
		t.Fatal(err)
	}
	dels, adds := inSet(tx.dels, setDNSPeers), inSet(tx.adds, setDNSPeers)
	// blog's app needs 10.250.0.2 too, whose element carries its mark.
	wantDels := []string{`10.250.0.1 . 10.250.0.3 comment "netctl:shop:edge br-edge 10.61.0.0/16"`}
	if !slices.Equal(dels, wantDels) || len(adds) != 0 {
		t.Errorf("shop down: dels %q, adds %q", dels, adds)
	}

	// blog down: the element it marked stays for shop, under shop's mark.
	tx, err = plan(s, &model.FirewallBatch{Project: "blog", DropNetworks: []*model.NetworkRules{fw.Networks["blog/app"]}})
	if err != nil {
		t.Fatal(err)
	}
	dels, adds = inSet(tx.dels, setDNSPeers), inSet(tx.adds, setDNSPeers)
	if !slices.Equal(dels, []string{`10.250.0.1 . 10.250.0.2 comment "netctl:blog:app br-app 10.62.0.0/16"`}) ||
		!slices.Equal(adds, []string{`10.250.0.1 . 10.250.0.2 comment "netctl:shop:edge br-edge 10.61.0.0/16"`}) {
		t.Errorf("blog down: dels %q, adds %q", dels, adds)
	}
}

// inSet shows the elements of one set.
func inSet(els []element, set string) []string {
	var out []string
	for _, el := range els {
		if el.set == set {
			out = append(out, formatElement(el))
		}
	}
	return out
}
