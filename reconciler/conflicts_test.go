package reconciler

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/netctl/netctl/model"
)

// A static subnet that overlaps another project's network or a route of
// the host is refused before anything changes, at its position, naming
// the clash (issue 10, item 3); a network keeps its own subnet.
func TestSubnetClashesWithTheHost(t *testing.T) {
	observed := model.NewState()
	observed.Networks["blog/web"] = &model.Network{Project: "blog", Name: "web", Bridge: "br-blog",
		Subnet: netip.MustParsePrefix("172.26.0.0/16"), Gateway: netip.MustParseAddr("172.26.0.1")}
	observed.Networks["shop/own"] = &model.Network{Project: "shop", Name: "own", Bridge: "br-own",
		Subnet: netip.MustParsePrefix("172.27.0.0/16"), Gateway: netip.MustParseAddr("172.27.0.1")}
	observed.HostRoutes = []netip.Prefix{
		netip.MustParsePrefix("10.10.0.0/16"),  // somebody's
		netip.MustParsePrefix("172.26.0.0/16"), // blog/web's own route
		netip.MustParsePrefix("172.27.0.0/16"), // shop/own's
	}
	topo := parse(t, "shop.yaml", `name: shop
networks:
  a: {subnet: 172.26.0.0/24}
  b: {subnet: 10.10.5.0/24}
  own: {subnet: 172.27.0.0/24}
  fine: {subnet: 172.28.0.0/16}
  pool: {}
containers:
  c: {networks: [a, b, own, fine, pool]}
`)
	_, err := Desired(topo, observed, Options{Root: testRoot})
	if err == nil {
		t.Fatal("clashing subnets accepted")
	}
	want := []string{
		`shop.yaml:3:7: network "a": subnet 172.26.0.0/24 overlaps network blog/web (172.26.0.0/16): pool overlaps with other one on this address space`,
		`shop.yaml:4:7: network "b": subnet 10.10.5.0/24 overlaps the host route 10.10.0.0/16: pool overlaps with other one on this address space`,
	}
	if got := strings.Split(err.Error(), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", err, strings.Join(want, "\n"))
	}
	// Without the clashes, the same host is fine: a network keeps its own
	// subnet, and a pool pick avoids what is taken.
	topo = parse(t, "shop.yaml", `name: shop
networks:
  own: {subnet: 172.27.0.0/24}
  pool: {}
containers:
  c: {networks: [own, pool]}
`)
	d, err := Desired(topo, observed, Options{Root: testRoot})
	if err != nil {
		t.Fatal(err)
	}
	if p := d.Networks["shop/pool"].Subnet; p.Overlaps(netip.MustParsePrefix("172.26.0.0/16")) || p.Overlaps(netip.MustParsePrefix("10.10.0.0/16")) {
		t.Errorf("pool subnet %s overlaps something taken", p)
	}
}
