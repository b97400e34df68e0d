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

// A fixed host port a program of the host listens on is refused where the
// mapping would take its traffic (issue 10, item 10); picks, other
// addresses, ports the project already publishes and netctl's own DNS
// are no clash.
func TestPortClashesWithTheHost(t *testing.T) {
	observed := model.NewState()
	observed.Networks["shop/n"] = &model.Network{Project: "shop", Name: "n", Bridge: "br-n",
		Subnet: netip.MustParsePrefix("172.27.0.0/16"), Gateway: netip.MustParseAddr("172.27.0.1")}
	fw := model.NewFirewall()
	listen := func(port uint16, proto string, addrs ...string) {
		pp := model.PortProto{Port: port, Proto: proto}
		fw.Bound[pp] = true
		for _, a := range addrs {
			fw.Listening[pp] = append(fw.Listening[pp], netip.MustParseAddr(a))
		}
	}
	fw.Listening = map[model.PortProto][]netip.Addr{}
	listen(80, "tcp", "0.0.0.0")     // a web server on every address
	listen(8080, "tcp", "127.0.0.1") // on loopback only
	listen(9000, "tcp", "10.1.2.3")  // on one address
	listen(53, "udp", "172.27.0.1")  // netctl's DNS on the gateway
	listen(7000, "tcp", "0.0.0.0")   // already published by shop: came after
	listen(30000, "tcp", "0.0.0.0")  // in a range shop picks from
	fw.Ports["shop 0.0.0.0:7000/tcp"] = &model.PortRule{Project: "shop", Container: "c",
		Port: model.Port{HostPort: 7000, ContainerPort: 7000, Proto: "tcp"}, Target: netip.MustParseAddr("172.27.0.2")}
	observed.Firewall = fw
	topo := parse(t, "shop.yaml", `name: shop
networks:
  n: {subnet: 172.27.0.0/16}
containers:
  c:
    networks: [n]
    ports:
      - "80:80"
      - "127.0.0.1:8080:80"
      - "10.9.9.9:9000:80"
      - "53:53/udp"
      - "7000:7000"
      - "30000-30010:80"
`)
	_, err := Desired(topo, observed, Options{Root: testRoot})
	want := []string{
		`shop.yaml:8:9: container "c": ports "80:80": host port 80/tcp is in use by a program listening on 0.0.0.0:80: address already in use`,
		`shop.yaml:9:9: container "c": ports "127.0.0.1:8080:80": host port 8080/tcp is in use by a program listening on 127.0.0.1:8080: address already in use`,
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Errorf("errors:\n%v\nwant:\n%s", err, strings.Join(want, "\n"))
	}
}
