package iptables

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/netctl/netctl/internal/golden"
	"github.com/netctl/netctl/model"
)

// dualShop is shop() with IPv6: backend dual stack (masqueraded), vault
// dual stack and internal, a routed network (masquerade_v6: false); web's
// ports on [::] too, the link over IPv6 as well.
func dualShop() *model.Firewall {
	fw := shop()
	fw.Networks["shop/backend"].SubnetV6, fw.Networks["shop/backend"].MasqueradeV6 = prefix("fd00:18::/64"), true
	fw.Networks["shop/vault"].SubnetV6 = prefix("fd00:19::/64")
	routed := &model.NetworkRules{Project: "shop", Name: "routed", Bridge: "br-routed", Subnet: prefix("172.20.0.0/16"),
		SubnetV6: prefix("fd00:20::/64"), ICC: true}
	fw.Networks[routed.ID()] = routed
	for _, p := range []*model.PortRule{
		{Project: "shop", Container: "web", Target: addr("fd00:18::3"), Port: model.Port{HostIP: addr("::"), HostPort: 80, ContainerPort: 5000, Proto: "tcp"}},
		{Project: "shop", Container: "web", Target: addr("fd00:18::3"), Port: model.Port{HostIP: addr("fd00:99::1"), HostPort: 32768, ContainerPort: 5001, Proto: "tcp"}},
		{Project: "shop", Container: "web", Target: addr("fd00:18::3"), Port: model.Port{HostIP: addr("::"), HostPort: 53, ContainerPort: 53, Proto: "udp"}},
	} {
		fw.Ports[p.Key()] = p
	}
	l := &model.LinkRule{Project: "shop", Container: "web", Target: "db", Bridge: "br-backend",
		Src: addr("fd00:18::3"), Dst: addr("fd00:18::2"), Port: 5432, Proto: "tcp"}
	fw.Links[l.Key()] = l
	return fw
}

func TestRender6Golden(t *testing.T) {
	out, err := Render6(dualShop())
	if err != nil {
		t.Fatal(err)
	}
	golden.File(t, filepath.Join("testdata", "shop.ip6tables-save"), out)
	// IPv4 is what it was: the IPv6 objects stay out of iptables.
	v4, err := Render(dualShop())
	if err != nil {
		t.Fatal(err)
	}
	want, err := Render(shop())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(v4, "fd00:") || !strings.Contains(v4, "br-routed") || strings.Replace(v4, "br-routed", "", -1) == want {
		t.Errorf("IPv4 rules of a dual-stack firewall:\n%s", v4)
	}
}

// Both families read back, merged, are the objects rendered: nothing
// damaged or stray; a family's half missing shows in the merged object.
func TestDualStackObserveMerge(t *testing.T) {
	fw := dualShop()
	read := func(v6 bool) *observation {
		out, err := render(map[model.Instance]*model.Firewall{"": fw}, v6)
		if err != nil {
			t.Fatal(err)
		}
		d, err := parseSave(out)
		if err != nil {
			t.Fatal(err)
		}
		return classify(d, "", v6)
	}
	o4, o6 := read(false), read(true)
	got := merge(o4.fw, o6.fw)
	if len(got.BaseMissing) > 0 || len(got.Stray) > 0 {
		t.Errorf("base %v, stray %v", got.BaseMissing, got.Stray)
	}
	for id, n := range fw.Networks {
		g := got.Networks[id]
		if g == nil || !g.Equal(n) || g.Damaged {
			t.Errorf("network %s read back as %+v, want %+v", id, g, n)
		}
	}
	for key, p := range fw.Ports {
		if g := got.Ports[key]; g == nil || g.String() != p.String() || g.Damaged {
			t.Errorf("port %s read back as %+v", key, g)
		}
	}
	for key, l := range fw.Links {
		if g := got.Links[key]; g == nil || g.String() != l.String() || g.Damaged {
			t.Errorf("link %s read back as %+v", key, g)
		}
	}

	// Without ip6tables' half: the networks lose their SubnetV6 and
	// the IPv6 ports and links are gone, which the reconciler plans to
	// repair; the base of ip6tables is missing.
	empty, _ := parseSave(emptySave)
	got = merge(read(false).fw, classify(empty, "", true).fw)
	if n := got.Networks["shop/backend"]; n.SubnetV6.IsValid() || n.Damaged {
		t.Errorf("backend without IPv6 rules: %+v", n)
	}
	if len(got.Ports) != len(shop().Ports) || len(got.BaseMissing) != 1 || !strings.HasPrefix(got.BaseMissing[0], "ip6tables: ") {
		t.Errorf("ports %d, base %v", len(got.Ports), got.BaseMissing)
	}
}

// A batch splits by family: the IPv6 half of a network whose IPv6 is gone
// is dropped from ip6tables; ports and links go to their family.
func TestFamilyBatch(t *testing.T) {
	fw := dualShop()
	b := batchFor("shop", fw)
	b.Networks = append(b.Networks, &model.NetworkRules{Project: "shop", Name: "was6", Bridge: "br-was6", Subnet: prefix("172.21.0.0/16"), ICC: true})
	b4, b6 := familyBatch(b, false), familyBatch(b, true)
	if len(b4.Networks) != len(b.Networks) || len(b4.DropNetworks) != 0 {
		t.Errorf("IPv4 batch: %d networks, %d drops", len(b4.Networks), len(b4.DropNetworks))
	}
	var v4only int // the default bridge, was6 and the overlay network have no IPv6
	for _, n := range b.Networks {
		if !n.SubnetV6.IsValid() {
			v4only++
		}
	}
	if len(b6.Networks) != 3 || len(b6.DropNetworks) != v4only || v4only < 2 {
		t.Errorf("IPv6 batch: %d networks, %d drops, want 3 and %d", len(b6.Networks), len(b6.DropNetworks), v4only)
	}
	for _, p := range b6.Ports {
		if !p.Target.Is6() {
			t.Errorf("IPv4 port %s in the IPv6 batch", p.Key())
		}
	}
	if len(b6.Links) != 1 || len(b4.Links) != 1 || !b6.Base || !b6.Rewrite {
		t.Errorf("links %d/%d, base %v rewrite %v", len(b4.Links), len(b6.Links), b6.Base, b6.Rewrite)
	}
	s, err := buildScript(func() *observation { d, _ := parseSave(emptySave); return classify(d, "", true) }(), b6)
	if err != nil {
		t.Fatal(err)
	}
	golden.File(t, filepath.Join("testdata", "shop-create.ip6tables-restore"), s)
}

// IPv6 objects are held to IPv6 addresses, and an IPv6 port to an explicit
// host address.
func TestIPv6RulesRefuseMixedFamilies(t *testing.T) {
	for _, p := range []*model.PortRule{
		{Project: "shop", Container: "web", Target: addr("fd00::2"), Port: model.Port{HostIP: addr("10.0.0.1"), HostPort: 1, ContainerPort: 1, Proto: "tcp"}},
		{Project: "shop", Container: "web", Target: addr("fd00::2"), Port: model.Port{HostPort: 1, ContainerPort: 1, Proto: "tcp"}},
		{Project: "shop", Container: "web", Target: addr("10.0.0.2"), Port: model.Port{HostIP: addr("::"), HostPort: 1, ContainerPort: 1, Proto: "tcp"}},
	} {
		if _, err := portRules("", p); err == nil {
			t.Errorf("portRules(%s) accepted", p)
		}
	}
	l := &model.LinkRule{Project: "shop", Container: "a", Target: "b", Bridge: "br", Src: addr("10.0.0.1"), Dst: addr("fd00::2"), Port: 1, Proto: "tcp"}
	if _, err := linkRules("", l); err == nil {
		t.Error("mixed link accepted")
	}
	if _, err := networkRules("", &model.NetworkRules{Project: "shop", Name: "n", Bridge: "br", Subnet: prefix("10.0.0.0/8")}, true); err == nil {
		t.Error("IPv6 rules of a network without SubnetV6 rendered")
	}
}
