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
