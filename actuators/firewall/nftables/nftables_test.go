package nftables

import (
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/netctl/netctl/internal/golden"
	"github.com/netctl/netctl/model"
)

func objectsOf(fw *model.Firewall) objects {
	return objects{networks: fw.Networks, ports: fw.Ports, links: fw.Links}
}

// observed is what Observe makes of a table holding exactly fw.
func observed(t *testing.T, fw *model.Firewall) *state {
	t.Helper()
	r, err := tableFor(objectsOf(fw))
	if err != nil {
		t.Fatal(err)
	}
	return classify(r)
}

func TestRender(t *testing.T) {
	for name, fw := range map[string]*model.Firewall{"shop.nft": shopFirewall(), "dual.nft": dualShopFirewall()} {
		out, err := Render(fw)
		if err != nil {
			t.Fatal(err)
		}
		golden.File(t, filepath.Join("testdata", name), out)
	}
}

func TestObserveIntactTable(t *testing.T) {
	t.Run("IPv4", func(t *testing.T) { observeIntact(t, shopFirewall()) })
	// The two halves of a dual-stack network read back as one object.
	t.Run("dual stack", func(t *testing.T) { observeIntact(t, dualShopFirewall()) })
}

func observeIntact(t *testing.T, want *model.Firewall) {
	s := observed(t, want)
	if len(s.fw.BaseMissing) > 0 || len(s.fw.Stray) > 0 {
		t.Fatalf("base missing %q, stray %q", s.fw.BaseMissing, s.fw.Stray)
	}
	for id, n := range want.Networks {
		if g := s.fw.Networks[id]; g == nil || !g.Equal(n) || g.ID() != n.ID() || g.Damaged {
			t.Errorf("network %s: got %+v, want %+v", id, g, n)
		}
	}
	for k, p := range want.Ports {
		if g := s.fw.Ports[k]; g == nil || *g != *p {
			t.Errorf("port %s: got %+v, want %+v", k, g, p)
		}
	}
	for k, l := range want.Links {
		if g := s.fw.Links[k]; g == nil || *g != *l {
			t.Errorf("link %s: got %+v", k, g)
		}
	}
	if len(s.fw.Networks) != len(want.Networks) || len(s.fw.Ports) != len(want.Ports) || len(s.fw.Links) != len(want.Links) {
		t.Errorf("objects: %d networks, %d ports, %d links", len(s.fw.Networks), len(s.fw.Ports), len(s.fw.Links))
	}
}

// removeElements drops the elements of a set whose text contains substr.
func removeElements(r *reading, set, substr string) int {
	sr := r.sets[set]
	n := len(sr.elements)
	sr.elements = slices.DeleteFunc(sr.elements, func(el element) bool { return strings.Contains(formatElement(el), substr) })
	r.sets[set] = sr
	return n - len(sr.elements)
}

func TestObserveDamageAndStray(t *testing.T) {
	fw := shopFirewall()
	r, err := tableFor(objectsOf(fw))
	if err != nil {
		t.Fatal(err)
	}
	// A port's DNAT element deleted by hand: the port is still observed
	// (from its other element), damaged, with its pick.
	if n := removeElements(r, mapPortsAny, "tcp . 8080"); n != 1 {
		t.Fatalf("removed %d", n)
	}
	// An element added by hand, and one of netctl's with another target.
	sr := r.sets[setBridges]
	sr.elements = append(sr.elements, element{set: setBridges, key: ifnameBytes("docker0"), comment: "hand made"})
	r.sets[setBridges] = sr
	sr = r.sets[mapPortsAny]
	for i, el := range sr.elements {
		if strings.Contains(formatElement(el), "udp . 53") {
			sr.elements[i].data = cat(addr(netip.MustParseAddr("172.18.0.9")), port(53))
		}
	}
	s := classify(r)
	web := s.fw.Ports["shop 0.0.0.0:8080/tcp"]
	if web == nil || !web.Damaged || web.HostPort != 8080 {
		t.Errorf("web 8080: %+v", web)
	}
	dns := s.fw.Ports["shop 0.0.0.0:53/udp"]
	if dns == nil || !dns.Damaged {
		t.Errorf("dns 53: %+v", dns)
	}
	if p := s.fw.Ports["shop 127.0.0.1:32768/tcp"]; p == nil || p.Damaged {
		t.Errorf("untouched port: %+v", p)
	}
	if got := s.fw.Stray[""]; len(got) != 1 || !strings.Contains(got[0], `"docker0" comment "hand made"`) {
		t.Errorf("shared stray: %q", got)
	}
	if got := s.fw.Stray["shop"]; len(got) != 1 || !strings.Contains(got[0], "udp . 53 : 172.18.0.9 . 53") {
		t.Errorf("shop stray: %q", got)
	}
	if len(s.fw.BaseMissing) > 0 {
		t.Errorf("base: %q", s.fw.BaseMissing)
	}
}

func TestObserveBase(t *testing.T) {
	s := classify(&reading{})
	if !slices.Equal(s.fw.BaseMissing, []string{"table inet netctl missing"}) || s.installed() {
		t.Errorf("no table: %q", s.fw.BaseMissing)
	}
	r, err := tableFor(objectsOf(shopFirewall()))
	if err != nil {
		t.Fatal(err)
	}
	fwd := r.chains[chainForward]
	fwd.rules = fwd.rules[1:]
	r.chains[chainForward] = fwd
	delete(r.chains, chainRaw)
	r.chains["mine"] = chainReading{}
	sr := r.sets[setLinks]
	sr.keyLen = 4
	r.sets[setLinks] = sr
	s = classify(r)
	want := []string{"set links: type differs", "chain forward: rules differ", "chain raw-prerouting missing"}
	if !slices.Equal(s.fw.BaseMissing, want) {
		t.Errorf("base missing %q, want %q", s.fw.BaseMissing, want)
	}
	if !slices.Equal(s.fw.Stray[""], []string{"chain mine is not netctl's"}) {
		t.Errorf("stray %q", s.fw.Stray)
	}
	// The link's set is not read: the link is not observed.
	if len(s.fw.Links) != 0 || len(s.fw.Ports) != 3 {
		t.Errorf("%d links, %d ports", len(s.fw.Links), len(s.fw.Ports))
	}
}

func formatAll(els []element) []string {
	var out []string
	for _, el := range els {
		out = append(out, el.set+" "+formatElement(el))
	}
	return out
}

func TestPlanNoChange(t *testing.T) {
	fw := shopFirewall()
	tx, err := plan(observed(t, fw), batchFor(fw, "shop"))
	if err != nil {
		t.Fatal(err)
	}
	if !tx.empty() {
		t.Errorf("a batch of what is there changes %+v", tx)
	}
}

// twoProjects is shop's objects plus another project's network and port,
// on the same subnet as shop's backend (another host's static choice).
func twoProjects() *model.Firewall {
	fw := shopFirewall()
	n := &model.NetworkRules{Project: "blog", Name: "web", Bridge: "br-blog", Subnet: netip.MustParsePrefix("172.18.0.0/16"), ICC: true}
	fw.Networks[n.ID()] = n
	p := &model.PortRule{Project: "blog", Container: "www", Target: netip.MustParseAddr("172.18.0.2"),
		Port: model.Port{HostPort: 80, ContainerPort: 5000, Proto: "tcp"}}
	fw.Ports[p.Key()] = p
	return fw
}

func TestPlanTouchesOnlyTheBatch(t *testing.T) {
	fw := twoProjects()
	s := observed(t, fw)
	// shop goes down: its networks and ports go; blog's stay, shared
	// elements (blog's port has the same target as shop's web) too.
	b := &model.FirewallBatch{Project: "shop", Rewrite: true}
	for _, id := range sortedKeys(fw.Networks) {
		if n := fw.Networks[id]; n.Project == "shop" {
			b.DropNetworks = append(b.DropNetworks, n)
		}
	}
	tx, err := plan(s, b)
	if err != nil {
		t.Fatal(err)
	}
	if tx.build || tx.deleteTable {
		t.Fatalf("rebuild: %+v", tx)
	}
	golden.File(t, filepath.Join("testdata", "plan-shop-down.txt"), "del:\n"+strings.Join(formatAll(tx.dels), "\n")+"\nadd:\n"+strings.Join(formatAll(tx.adds), "\n")+"\n")
	for _, el := range tx.dels {
		if strings.Contains(el.comment, "blog") || strings.Contains(el.comment, "netctl::bridge") {
			t.Errorf("deletes another's element %s", formatElement(el))
		}
	}
}

func TestPlanRetarget(t *testing.T) {
	fw := shopFirewall()
	s := observed(t, fw)
	b := batchFor(fw, "shop")
	b.Base = false
	for i, p := range b.Ports {
		if p.Proto == "udp" {
			c := *p
			c.Target = netip.MustParseAddr("172.18.0.20")
			b.Ports[i] = &c
		}
	}
	tx, err := plan(s, b)
	if err != nil {
		t.Fatal(err)
	}
	golden.File(t, filepath.Join("testdata", "plan-retarget.txt"), "del:\n"+strings.Join(formatAll(tx.dels), "\n")+"\nadd:\n"+strings.Join(formatAll(tx.adds), "\n")+"\n")
}

func TestPlanRebuildsADamagedBase(t *testing.T) {
	fw := twoProjects()
	r, err := tableFor(objectsOf(fw))
	if err != nil {
		t.Fatal(err)
	}
	delete(r.chains, chainForward)
	s := classify(r)
	tx, err := plan(s, &model.FirewallBatch{Project: "shop", Base: true})
	if err != nil {
		t.Fatal(err)
	}
	all, _ := tableFor(objectsOf(fw))
	n := 0
	for _, sr := range all.sets {
		n += len(sr.elements)
	}
	if !tx.build || !tx.deleteTable || len(tx.adds) != n {
		t.Errorf("rebuild: build %v delete %v, %d adds of %d", tx.build, tx.deleteTable, len(tx.adds), n)
	}
	// Without Base (a plan that did not ask for the repair) only the
	// elements change, in the sets that are intact.
	tx, err = plan(s, &model.FirewallBatch{Project: "shop", Stray: true})
	if err != nil || !tx.empty() {
		t.Errorf("stray-only batch: %+v, %v", tx, err)
	}
}

func TestPlanSharedElementChangesHands(t *testing.T) {
	fw := shopFirewall()
	// A second mapping to web's port 5000: both need one "published"
	// element. Dropping the first hands the element to the second.
	extra := &model.PortRule{Project: "shop", Container: "web", Target: netip.MustParseAddr("172.18.0.2"),
		Port: model.Port{HostPort: 9090, ContainerPort: 5000, Proto: "tcp"}}
	fw.Ports[extra.Key()] = extra
	s := observed(t, fw)
	b := batchFor(fw, "shop")
	b.Base = false
	b.Ports = slices.DeleteFunc(b.Ports, func(p *model.PortRule) bool { return p.HostPort == 8080 || p.HostPort == 32768 })
	tx, err := plan(s, b)
	if err != nil {
		t.Fatal(err)
	}
	var changed []element
	for _, el := range tx.adds {
		if el.set == setPublished {
			changed = append(changed, el)
		}
	}
	if len(changed) != 1 || !strings.Contains(changed[0].comment, "9090") {
		t.Errorf("published adds: %q", formatAll(changed))
	}
}

func TestPlanRejectsForeignObjects(t *testing.T) {
	fw := shopFirewall()
	b := batchFor(fw, "blog")
	if _, err := plan(observed(t, fw), b); err == nil || !strings.Contains(err.Error(), "belongs to project shop") {
		t.Errorf("err = %v", err)
	}
	b = &model.FirewallBatch{Project: "x y"}
	if _, err := plan(observed(t, fw), b); err == nil {
		t.Error("a bad project name was accepted")
	}
}

func TestCoverSubnets(t *testing.T) {
	mk := func(name, subnet string) *model.NetworkRules {
		return &model.NetworkRules{Project: "p", Name: name, Bridge: "br-" + name, Subnet: netip.MustParsePrefix(subnet)}
	}
	got := coverSubnets([]*model.NetworkRules{mk("a", "10.1.2.0/24"), mk("b", "10.1.0.0/16"), mk("c", "10.2.0.0/16"), mk("d", "10.1.0.0/16")}, false)
	var s []string
	for _, c := range got {
		var names []string
		for _, n := range c.networks {
			names = append(names, n.Name)
		}
		s = append(s, c.prefix.String()+"="+strings.Join(names, ","))
	}
	if want := []string{"10.1.0.0/16=b,d,a", "10.2.0.0/16=c"}; !slices.Equal(s, want) {
		t.Errorf("covers %q, want %q", s, want)
	}
	if got := formatElement(subnetElement(setMasq, netip.MustParsePrefix("255.255.255.0/24"))); got != "255.255.255.0/24" {
		t.Errorf("last subnet: %s", got)
	}
}

func TestElementsRefuseWhatCannotGoIn(t *testing.T) {
	for _, bad := range []*model.PortRule{
		{Project: "shop", Container: "web", Target: netip.MustParseAddr("fd00::1"), Port: model.Port{HostPort: 1, ContainerPort: 1, Proto: "tcp"}},
		{Project: "shop", Container: "w b", Target: netip.MustParseAddr("10.0.0.1"), Port: model.Port{HostPort: 1, ContainerPort: 1, Proto: "tcp"}},
		{Project: "shop", Container: "web", Target: netip.MustParseAddr("10.0.0.1"), Port: model.Port{HostPort: 0, ContainerPort: 1, Proto: "tcp"}},
		{Project: "shop", Container: "web", Target: netip.MustParseAddr("10.0.0.1"), Port: model.Port{HostPort: 1, ContainerPort: 1, Proto: "icmp"}},
	} {
		if _, err := portElements(bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	if _, err := networkElements(&model.NetworkRules{Project: "p", Name: "n", Bridge: "br\"x", Subnet: netip.MustParsePrefix("10.0.0.0/8")}); err == nil {
		t.Error("a bad bridge name was accepted")
	}
}

func TestPlanMakesNoEmptyTable(t *testing.T) {
	n := shopFirewall().Networks["shop/backend"]
	tx, err := plan(classify(&reading{}), &model.FirewallBatch{Project: "shop", Rewrite: true, DropNetworks: []*model.NetworkRules{n}})
	if err != nil || !tx.empty() {
		t.Errorf("down with no table: %+v, %v", tx, err)
	}
	tx, err = plan(classify(&reading{}), &model.FirewallBatch{Project: "shop", Base: true, Networks: []*model.NetworkRules{n}})
	if err != nil || !tx.build || tx.deleteTable || len(tx.adds) != 4 {
		t.Errorf("first apply: %+v, %v", tx, err)
	}
}
