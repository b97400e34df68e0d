package reconciler

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/netctl/netctl/internal/golden"
	"github.com/netctl/netctl/model"
)

// dualTopo: a dual-stack network from the pool, one with an explicit
// subnet_v6 and a static address, an IPv4-only one and an internal
// dual-stack one.
const dualTopo = `
networks:
  front: {enable_ipv6: true}
  back: {enable_ipv6: true, subnet_v6: "fd00:18::/64", icc: false}
  legacy: {}
  vault: {internal: true, enable_ipv6: true, subnet_v6: "fd00:19::/64"}
containers:
  web:
    networks: [front, back]
    ports: ["8080:80", "5000", "127.0.0.1:9000:90", "5300:53/udp"]
    links: [db]
  db:
    networks:
      back: {ipv6_address: "fd00:18::10"}
    expose: [5432]
  old:
    networks: [legacy, front]
  safe:
    networks: [vault]
`

func addrV6(t *testing.T, c *model.Container, network string) string {
	t.Helper()
	return endpointOf(t, c, network).AddrV6.String()
}

func TestIPv6AddressesRoutesAndStickiness(t *testing.T) {
	h, _ := newFirewallHarness()
	topo := parse(t, "shop.yaml", dualTopo)
	h.apply(t, topo)

	front := h.links.st.Networks["shop/front"]
	ula := ulaPrefix("shop")
	if !front.EnableIPv6 || front.SubnetV6.Bits() != 64 || !ula.Contains(front.SubnetV6.Addr()) {
		t.Fatalf("front's subnet_v6 = %s, want a /64 of the project's ULA %s", front.SubnetV6, ula)
	}
	if front.GatewayV6 != front.SubnetV6.Addr().Next() {
		t.Errorf("front's gateway_v6 = %s, want the first address", front.GatewayV6)
	}
	back := h.links.st.Networks["shop/back"]
	if back.SubnetV6.String() != "fd00:18::/64" || back.GatewayV6.String() != "fd00:18::1" {
		t.Errorf("back = %s gw %s", back.SubnetV6, back.GatewayV6)
	}
	if n := h.links.st.Networks["shop/legacy"]; n.EnableIPv6 || n.SubnetV6.IsValid() {
		t.Errorf("legacy got IPv6: %s", n.SubnetV6)
	}

	web, db, old, safe := h.container(t, "shop/web"), h.container(t, "shop/db"), h.container(t, "shop/old"), h.container(t, "shop/safe")
	first := front.SubnetV6.Addr().Next().Next()
	for _, c := range []struct{ got, want string }{
		{addrV6(t, web, "shop/front"), netip.PrefixFrom(first, 64).String()},
		{addrV6(t, web, "shop/back"), "fd00:18::2/64"}, // after db's static ::10 is claimed, the lowest free
		{addrV6(t, db, "shop/back"), "fd00:18::10/64"},
		{addrV6(t, old, "shop/front"), netip.PrefixFrom(first.Next(), 64).String()},
		{addrV6(t, old, "shop/legacy"), "invalid Prefix"},
		{addrV6(t, safe, "shop/vault"), "fd00:19::2/64"},
	} {
		if c.got != c.want {
			t.Errorf("address %s, want %s", c.got, c.want)
		}
	}
	// Default routes: IPv4 via the first network that is not internal,
	// IPv6 via the first dual-stack one that is not internal (old: legacy
	// for IPv4, front for IPv6), none on internal networks.
	if web.DefaultGatewayV6 != front.GatewayV6 || old.DefaultGatewayV6 != front.GatewayV6 {
		t.Errorf("IPv6 default routes: web %s, old %s; want %s", web.DefaultGatewayV6, old.DefaultGatewayV6, front.GatewayV6)
	}
	if old.DefaultGateway != h.links.st.Networks["shop/legacy"].Gateway {
		t.Errorf("old's IPv4 default route = %s", old.DefaultGateway)
	}
	if safe.DefaultGatewayV6.IsValid() || safe.DefaultGateway.IsValid() {
		t.Errorf("internal container has default routes %s %s", safe.DefaultGateway, safe.DefaultGatewayV6)
	}
	if !strings.Contains(h.files.containers["shop/web"].HostsFile, first.String()+"\tweb\n") {
		t.Errorf("web's hosts file lacks its IPv6 address:\n%s", h.files.containers["shop/web"].HostsFile)
	}

	// Sticky: a re-apply changes nothing; a container added in front of
	// the others takes a new address and moves nobody.
	if res := h.apply(t, topo); len(res.Done) != 0 {
		t.Errorf("re-apply did %d things, first: %s %s %s", len(res.Done), res.Done[0].Kind, res.Done[0].Name, res.Done[0].Details)
	}
	h.apply(t, parse(t, "shop.yaml", strings.Replace(dualTopo, "containers:\n", "containers:\n  aaa: {networks: [front]}\n", 1)))
	if got := addrV6(t, h.container(t, "shop/web"), "shop/front"); got != netip.PrefixFrom(first, 64).String() {
		t.Errorf("web renumbered to %s", got)
	}
	if got := addrV6(t, h.container(t, "shop/aaa"), "shop/front"); got != netip.PrefixFrom(first.Next().Next(), 64).String() {
		t.Errorf("aaa = %s, want the next free address", got)
	}
}

// Published ports on every address of a dual-stack container are published
// on [::] too, with the same host port even when it is picked; icc: false
// links open both families.
func TestIPv6PortsAndLinks(t *testing.T) {
	h, fw := newFirewallHarness()
	h.apply(t, parse(t, "shop.yaml", dualTopo))
	got := hostPorts(t, fw, "shop")
	want := []string{
		"web 0.0.0.0:32768->5000/tcp", "web 0.0.0.0:5300->53/udp", "web 0.0.0.0:8080->80/tcp", "web 127.0.0.1:9000->90/tcp",
		"web [::]:32768->5000/tcp", "web [::]:5300->53/udp", "web [::]:8080->80/tcp",
	}
	if !slices.Equal(got, want) {
		t.Errorf("ports = %q\nwant %q", got, want)
	}
	for _, p := range fw.ports {
		if p.Port.IPv6() != p.Target.Is6() {
			t.Errorf("port %s leads to %s", p.Port, p.Target)
		}
	}
	var links []string
	for _, l := range fw.links {
		links = append(links, l.String())
	}
	slices.Sort(links)
	br := h.links.st.Networks["shop/back"].Bridge
	wantLinks := []string{
		"172.19.0.2->172.19.0.3:5432/tcp on " + br, // web->db over IPv4
		"fd00:18::2->[fd00:18::10]:5432/tcp on " + br,
	}
	if !slices.Equal(links, wantLinks) {
		t.Errorf("links = %q\nwant %q", links, wantLinks)
	}
	for _, key := range []string{model.SysctlIPv6Forward, model.SysctlBridgeNFCallV6} {
		if fw.sysctls[key] != "1" {
			t.Errorf("sysctl %s = %q", key, fw.sysctls[key])
		}
	}
	if n := fw.networks["shop/back"]; n.SubnetV6.String() != "fd00:18::/64" || !n.MasqueradeV6 {
		t.Errorf("back's rules: %+v", n)
	}

	// The UDP port's conntrack entries are flushed in both families.
	var flushed []string
	for _, b := range fw.batches {
		for _, p := range b.Flush {
			flushed = append(flushed, p.HostString())
		}
	}
	if !slices.Equal(flushed, []string{"0.0.0.0:5300", "[::]:5300"}) {
		t.Errorf("conntrack flushes: %v", flushed)
	}

	// A port taken on [::] by another project only moves the IPv6 twin.
	h2, fw2 := newFirewallHarness()
	fw2.ports["blog [::]:32768/tcp"] = &model.PortRule{Project: "blog", Container: "x",
		Port: model.Port{HostIP: netip.IPv6Unspecified(), HostPort: 32768, ContainerPort: 1, Proto: "tcp"}, Target: netip.MustParseAddr("fd00:99::2")}
	h2.apply(t, parse(t, "shop.yaml", dualTopo))
	got = hostPorts(t, fw2, "shop")
	if !slices.Contains(got, "web 0.0.0.0:32768->5000/tcp") || !slices.Contains(got, "web [::]:32769->5000/tcp") {
		t.Errorf("ports around blog's [::]:32768: %q", got)
	}
}

// Turning IPv6 on for an existing network changes it in place: the bridge
// and the endpoints get their IPv6 addresses, nothing is recreated.
func TestEnableIPv6InPlace(t *testing.T) {
	h := newHarness()
	v4 := "networks: {a: {subnet: 10.250.1.0/24}}\ncontainers:\n  x: {networks: [a]}\n"
	h.apply(t, parse(t, "shop.yaml", v4))
	v6 := strings.Replace(v4, "subnet: 10.250.1.0/24", `subnet: 10.250.1.0/24, enable_ipv6: true, subnet_v6: "fd00:7::/64"`, 1)
	p := h.plan(t, parse(t, "shop.yaml", v6))
	for _, a := range p.Actions {
		if a.Op == OpDelete {
			t.Errorf("enabling IPv6 deletes %s %s", a.Kind, a.Name)
		}
	}
	h.apply(t, parse(t, "shop.yaml", v6))
	x := h.container(t, "shop/x")
	if got := addrV6(t, x, "shop/a"); got != "fd00:7::2/64" || x.DefaultGatewayV6.String() != "fd00:7::1" {
		t.Errorf("x = %s via %s", got, x.DefaultGatewayV6)
	}
	if got := endpointAddr(t, x, "shop/a"); got != "10.250.1.2/24" {
		t.Errorf("x's IPv4 address moved to %s", got)
	}
	h.apply(t, parse(t, "shop.yaml", v4))
	if x := h.container(t, "shop/x"); x.Endpoint("shop/a").AddrV6.IsValid() || x.DefaultGatewayV6.IsValid() {
		t.Errorf("IPv6 left after disabling it: %s via %s", x.Endpoint("shop/a").AddrV6, x.DefaultGatewayV6)
	}
}

// Drift of the IPv6 side is planned and repaired: a lost address, router
// advertisements accepted again, a lost default route, a lost bridge
// address (whose subnet is drawn again from the pool: the same one).
func TestIPv6DriftIsRepaired(t *testing.T) {
	h := newHarness()
	topo := parse(t, "shop.yaml", "networks: {a: {enable_ipv6: true}}\ncontainers:\n  x: {networks: [a]}\n")
	h.apply(t, topo)
	want := *h.links.st.Networks["shop/a"]
	x := h.container(t, "shop/x")
	wantAddr := x.Endpoints[0].AddrV6
	x.Endpoints[0].AddrV6 = netip.Prefix{}
	x.Endpoints[0].AcceptRA = true
	x.DefaultGatewayV6 = netip.Addr{}
	n := h.links.st.Networks["shop/a"]
	n.EnableIPv6, n.SubnetV6, n.GatewayV6 = false, netip.Prefix{}, netip.Addr{}

	p := h.plan(t, topo)
	var text bytes.Buffer
	_ = p.WriteText(&text)
	for _, s := range []string{"~ network a", "enable_ipv6: false -> true", "ipv6 address: (none) -> " + wantAddr.String(),
		"accept_ra: 1 -> 0", "+ route x", "default via " + want.GatewayV6.String()} {
		if !strings.Contains(text.String(), s) {
			t.Errorf("plan lacks %q:\n%s", s, text.String())
		}
	}
	// The JSON plan names the same changes.
	var js bytes.Buffer
	if err := p.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Actions []struct {
			Object  struct{ Kind, Name string }
			Before  map[string]any
			After   map[string]any
			Changed []string
		}
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	changed := map[string][]string{}
	for _, a := range doc.Actions {
		changed[a.Object.Kind+" "+a.Object.Name] = a.Changed
		if a.Object.Kind == "route" && a.After["family"] == "ipv6" && a.After["default_gateway"] != want.GatewayV6.String() {
			t.Errorf("IPv6 route's JSON: %v, want default_gateway %s", a.After, want.GatewayV6)
		}
	}
	for obj, fields := range map[string][]string{
		"network a":    {"enable_ipv6", "gateway_v6", "masquerade_v6", "subnet_v6"},
		"endpoint x/a": {"accept_ra", "address_v6"},
	} {
		if !slices.Equal(changed[obj], fields) {
			t.Errorf("JSON plan: %s changes %v, want %v:\n%s", obj, changed[obj], fields, js.String())
		}
	}
	h.apply(t, topo)
	if got := *h.links.st.Networks["shop/a"]; got.SubnetV6 != want.SubnetV6 || got.GatewayV6 != want.GatewayV6 {
		t.Errorf("network after repair: %s %s, want %s %s", got.SubnetV6, got.GatewayV6, want.SubnetV6, want.GatewayV6)
	}
	if x := h.container(t, "shop/x"); x.Endpoints[0].AddrV6 != wantAddr || x.Endpoints[0].AcceptRA || !x.DefaultGatewayV6.IsValid() {
		t.Errorf("endpoint after repair: %s accept_ra %v via %s", x.Endpoints[0].AddrV6, x.Endpoints[0].AcceptRA, x.DefaultGatewayV6)
	}
}

func TestULAPool(t *testing.T) {
	a, b := ulaPrefix("shop"), ulaPrefix("blog")
	if a.Bits() != 48 || a.Addr().As16()[0] != 0xfd || a == b || a != ulaPrefix("shop") {
		t.Errorf("ULA prefixes: shop %s, blog %s", a, b)
	}
	p1, err := pickSubnetV6("shop", "front", nil)
	if err != nil || !a.Contains(p1.Addr()) || p1.Bits() != 64 {
		t.Fatalf("pick = %s, %v", p1, err)
	}
	p2, _ := pickSubnetV6("shop", "front", subnetTaken{p1})
	if p2 == p1 || !a.Contains(p2.Addr()) {
		t.Errorf("pick around %s = %s", p1, p2)
	}
	if p3, _ := pickSubnetV6("shop", "back", nil); p3 == p1 {
		t.Errorf("front and back hash to the same /64 %s", p3)
	}
}

// subnet_v6 overlapping another project's network or a host route is an
// error at the key, before anything changes; the project's own network is
// not.
func TestSubnetV6OverlapsOnTheHost(t *testing.T) {
	h := newHarness()
	h.links.st.Networks["blog/web"] = &model.Network{Project: "blog", Name: "web", Bridge: "br-blog", Up: true,
		Subnet: netip.MustParsePrefix("10.250.9.0/24"), Gateway: netip.MustParseAddr("10.250.9.1"),
		EnableIPv6: true, SubnetV6: netip.MustParsePrefix("fd00:1::/64"), GatewayV6: netip.MustParseAddr("fd00:1::1")}
	h.links.st.HostRoutes = []netip.Prefix{netip.MustParsePrefix("fd00:2::/56"), netip.MustParsePrefix("fd00:3::/64")}
	src := `networks:
  a: {enable_ipv6: true, subnet_v6: "fd00:1::/64"}
  b: {enable_ipv6: true, subnet_v6: "fd00:2:0:1::/64"}
  c: {enable_ipv6: true, subnet_v6: "fd00:4::/64"}
  d: {enable_ipv6: true}
`
	_, err := h.r.Apply(t.Context(), "shop", parse(t, "shop.yaml", src))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`shop.yaml:2:26: network "a": subnet_v6 fd00:1::/64 overlaps network blog/web (fd00:1::/64)`,
		`shop.yaml:3:26: network "b": subnet_v6 fd00:2:0:1::/64 overlaps the host route fd00:2::/56`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), `network "c"`) || strings.Contains(err.Error(), "route fd00:3") {
		t.Errorf("too many errors:\n%v", err)
	}
	if len(h.links.calls) != 0 {
		t.Errorf("changes made before the error: %v", h.links.calls)
	}

	// Our own network, observed with its subnet_v6 (its bridge's route is
	// not among the host's routes): no error on re-apply.
	h = newHarness()
	h.apply(t, parse(t, "shop.yaml", "networks: {c: {enable_ipv6: true, subnet_v6: \"fd00:4::/64\"}}\n"))
	h.apply(t, parse(t, "shop.yaml", "networks: {c: {enable_ipv6: true, subnet_v6: \"fd00:4::/64\"}}\n"))
}

func TestIPv6NamesAndHosts(t *testing.T) {
	d, err := Desired(parse(t, "shop.yaml", dualTopo), nil, Options{Root: testRoot})
	if err != nil {
		t.Fatal(err)
	}
	var back *model.DNSNetwork
	for i := range d.DNS["shop"].Networks {
		if d.DNS["shop"].Networks[i].ID == "shop/back" {
			back = &d.DNS["shop"].Networks[i]
		}
	}
	if back == nil || back.SubnetV6.String() != "fd00:18::/64" {
		t.Fatalf("back's DNS network: %+v", back)
	}
	var dbAddrs []string
	for _, r := range back.Records {
		if r.Container == "db" {
			dbAddrs = append(dbAddrs, r.Addr.String())
		}
	}
	if !slices.Equal(dbAddrs, []string{"172.19.0.3", "fd00:18::10"}) {
		t.Errorf("db's records on back: %v", dbAddrs)
	}
	// web links to db: a hosts line per family.
	hosts := d.Containers["shop/web"].HostsFile
	for _, line := range []string{"172.19.0.3\tdb\n", "fd00:18::10\tdb\n"} {
		if !strings.Contains(hosts, line) {
			t.Errorf("web's hosts file lacks %q:\n%s", line, hosts)
		}
	}
}

func TestIPv6GoldenPlan(t *testing.T) {
	p, err := DiffFiles(parse(t, "demo.yaml", "containers: {}\n"), parse(t, "demo.yaml", dualTopo), Options{Root: testRoot})
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	if err := p.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	golden.File(t, filepath.Join("testdata", "create-dual-stack.txt"), text.String())
}

// The default network is shared: a project may turn IPv6 on for it, and
// another project that says otherwise is refused the change while the
// first has containers there, as for any setting of the shared bridge.
func TestIPv6OnTheSharedDefaultNetwork(t *testing.T) {
	h := newHarness()
	h.apply(t, parse(t, "a.yaml", "networks: {bridge: {enable_ipv6: true, subnet_v6: \"fd00:17::/64\"}}\ncontainers:\n  x: {}\n"))
	x := h.container(t, "a/x")
	if x.Endpoint("/bridge").AddrV6.String() != "fd00:17::2/64" || x.DefaultGatewayV6.String() != "fd00:17::1" {
		t.Fatalf("x on the default network: %s via %s", x.Endpoint("/bridge").AddrV6, x.DefaultGatewayV6)
	}
	p := h.plan(t, parse(t, "b.yaml", "containers:\n  y: {}\n"))
	if len(p.Blocked) != 1 || !strings.Contains(p.Blocked[0].Reason, "enable_ipv6: true -> false") {
		t.Errorf("blocked: %+v", p.Blocked)
	}
}
