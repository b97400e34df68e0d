package nftables

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/netctl/netctl/model"
)

// dualShopFirewall is shopFirewall with IPv6: backend dual stack
// (masqueraded), vault dual stack and internal, a routed network
// (masquerade_v6 off); web's ports on [::] and on one IPv6 address, the
// link over IPv6 too.
func dualShopFirewall() *model.Firewall {
	fw := shopFirewall()
	fw.Networks["shop/backend"].SubnetV6, fw.Networks["shop/backend"].MasqueradeV6 = netip.MustParsePrefix("fd00:18::/64"), true
	fw.Networks["shop/vault"].SubnetV6 = netip.MustParsePrefix("fd00:19::/64")
	routed := &model.NetworkRules{Project: "shop", Name: "routed", Bridge: "br-routed", Subnet: netip.MustParsePrefix("172.20.0.0/16"),
		SubnetV6: netip.MustParsePrefix("fd00:20::/64"), ICC: true}
	fw.Networks[routed.ID()] = routed
	for _, p := range []*model.PortRule{
		{Project: "shop", Container: "web", Target: netip.MustParseAddr("fd00:18::2"),
			Port: model.Port{HostIP: netip.IPv6Unspecified(), HostPort: 8080, ContainerPort: 5000, Proto: "tcp"}},
		{Project: "shop", Container: "web", Target: netip.MustParseAddr("fd00:18::2"),
			Port: model.Port{HostIP: netip.MustParseAddr("fd00:99::1"), HostPort: 8443, ContainerPort: 443, Proto: "tcp"}},
	} {
		fw.Ports[p.Key()] = p
	}
	l := &model.LinkRule{Project: "shop", Container: "app", Target: "db", Bridge: "br-vault",
		Src: netip.MustParseAddr("fd00:19::3"), Dst: netip.MustParseAddr("fd00:19::2"), Port: 5432, Proto: "tcp"}
	fw.Links[l.Key()] = l
	return fw
}

// An IPv6 half whose elements are gone leaves the network without
// SubnetV6, which the reconciler plans to repair.
func TestObserveLostIPv6Half(t *testing.T) {
	want := dualShopFirewall()
	r, err := tableFor(objectsOf(dualShopFirewall()))
	if err != nil {
		t.Fatal(err)
	}
	if removeElements(r, setSubnets6, "fd00:20::") == 0 {
		t.Fatal("no element removed")
	}
	s := classify(r)
	if n := s.fw.Networks["shop/routed"]; n == nil || n.SubnetV6.IsValid() || n.Subnet != want.Networks["shop/routed"].Subnet {
		t.Errorf("routed without its IPv6 half: %+v", n)
	}
}

// A batch adds the IPv6 elements and a batch without them takes them away
// (IPv6 turned off), leaving IPv4 as it is.
func TestPlanIPv6OnAndOff(t *testing.T) {
	v4 := shopFirewall()
	s := observed(t, v4)
	dual := dualShopFirewall()
	tx, err := plan(s, batchFor(dual, "shop"))
	if err != nil {
		t.Fatal(err)
	}
	if tx.build || len(tx.dels) != 0 {
		t.Errorf("turning IPv6 on rebuilds (%v) or deletes %q", tx.build, formatAll(tx.dels))
	}
	added := strings.Join(formatAll(tx.adds), "\n")
	for _, want := range []string{"fd00:18::/64", "fd00:19::/64", "fd00:20::/64", "tcp . 8080 : fd00:18::2 . 5000",
		`"br-vault" . fd00:19::3 . fd00:19::2 . tcp . 5432`} {
		if !strings.Contains(added, want) {
			t.Errorf("added elements lack %q:\n%s", want, added)
		}
	}
	tx, err = plan(observed(t, dual), batchFor(v4, "shop"))
	if err != nil {
		t.Fatal(err)
	}
	if len(tx.adds) != 0 || tx.build {
		t.Errorf("turning IPv6 off adds %q", formatAll(tx.adds))
	}
	for _, el := range tx.dels {
		if !strings.HasSuffix(el.set, "6") {
			t.Errorf("turning IPv6 off deletes %s: %s", el.set, formatElement(el))
		}
	}
}
