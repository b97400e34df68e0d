package reconciler

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netctl/netctl/internal/golden"
	"github.com/netctl/netctl/model"
)

// The contract's example, names part: db with aliases, env and expose on
// backend; web on frontend and backend linking to db; legacy on the
// default bridge linking to old; an internal-only container.
const namesTopo = `
networks:
  backend:
    subnet: 172.18.0.0/16
  frontend:
    subnet: 172.19.0.0/16
  vault:
    subnet: 172.20.0.0/16
    internal: true
containers:
  db:
    hostname: database
    networks:
      backend:
        aliases: [postgres, Primary]
    expose: ["5432", "53/udp", "53", "6000/sctp"]
    env: {POSTGRES_DB: shop, LANG: C.UTF-8}
  web:
    hostname: web-1
    networks: [frontend, backend]
    links: ["db:webdb", "db:my-db"]
    dns: [10.250.0.9]
  legacy:
    links: ["old"]
  old:
    hostname: old-host
    expose: ["80"]
    env: {MODE: "a b=c"}
  secret:
    networks: [vault]
`

func TestNamesDesired(t *testing.T) {
	h := newHarness()
	d, err := Desired(parse(t, "shop.yaml", namesTopo), nil, h.r.Options)
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.MarshalIndent(d.DNS["shop"], "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden.File(t, filepath.Join("testdata", "names-dns.json"), string(got)+"\n")

	var env strings.Builder
	for _, name := range []string{"web", "legacy"} {
		c := d.Containers["shop/"+name]
		env.WriteString("# " + name + " env\n" + c.EnvFile)
		env.WriteString("# " + name + " hosts\n" + c.HostsFile)
		env.WriteString("# " + name + " resolv.conf\n" + c.ResolvFile)
	}
	golden.File(t, filepath.Join("testdata", "names-links.txt"), env.String())
}

func TestLinkEnvExactly(t *testing.T) {
	h := newHarness()
	d, err := Desired(parse(t, "shop.yaml", namesTopo), nil, h.r.Options)
	if err != nil {
		t.Fatal(err)
	}
	web := d.Containers["shop/web"]
	ip := web.Endpoint("shop/backend")
	if ip == nil {
		t.Fatal("web not on backend")
	}
	db := d.Containers["shop/db"].Endpoint("shop/backend").Addr.Addr().String()
	for _, want := range []string{
		"WEBDB_NAME=/web/webdb",
		"WEBDB_PORT=tcp://" + db + ":53", // lowest port, tcp before udp
		"WEBDB_PORT_53_TCP=tcp://" + db + ":53",
		"WEBDB_PORT_53_UDP=udp://" + db + ":53",
		"WEBDB_PORT_53_UDP_ADDR=" + db,
		"WEBDB_PORT_53_UDP_PORT=53",
		"WEBDB_PORT_53_UDP_PROTO=udp",
		"WEBDB_PORT_5432_TCP_PROTO=tcp",
		"WEBDB_PORT_6000_SCTP=sctp://" + db + ":6000",
		"WEBDB_ENV_POSTGRES_DB=shop",
		"WEBDB_ENV_LANG=C.UTF-8",
		"MY_DB_NAME=/web/my-db",
	} {
		if !strings.Contains("\n"+web.EnvFile, "\n"+want+"\n") {
			t.Errorf("web's env lacks %s:\n%s", want, web.EnvFile)
		}
	}
	if !strings.Contains(web.HostsFile, db+"\twebdb db database\n") {
		t.Errorf("web's hosts lacks the link line:\n%s", web.HostsFile)
	}
}

func TestNamesConvergeAndFollowAddresses(t *testing.T) {
	h := newHarness()
	topo := parse(t, "shop.yaml", namesTopo)
	h.apply(t, topo)
	if got := strings.Join(h.names.calls, ";"); got != "EnsureDNS shop" {
		t.Errorf("dns calls = %s", got)
	}
	// Nothing changed: no action, in particular no reload.
	h.names.calls = nil
	if p := h.plan(t, topo); !p.Empty() {
		var b strings.Builder
		_ = p.WriteText(&b)
		t.Errorf("second plan not empty:\n%s", b.String())
	}
	// The server died: the plan restarts it, and only that.
	h.names.stopped = true
	p := h.plan(t, topo)
	if len(p.Actions) != 1 || p.Actions[0].Kind != KindDNS || !strings.Contains(strings.Join(p.Actions[0].Details, "\n"), "not running") {
		t.Errorf("plan with the server down = %+v", p.Actions)
	}
	h.apply(t, topo)

	// db moves: web's hosts line, env and the DNS records follow.
	moved := parse(t, "shop.yaml", strings.Replace(namesTopo, "        aliases: [postgres, Primary]",
		"        aliases: [postgres, Primary]\n        ipv4_address: 172.18.0.50", 1))
	h.apply(t, moved)
	web := h.files.containers["shop/web"]
	if !strings.Contains(web.HostsFile, "172.18.0.50\twebdb db database\n") || !strings.Contains(web.EnvFile, "WEBDB_PORT=tcp://172.18.0.50:53\n") {
		t.Errorf("web did not follow db's move:\n%s\n%s", web.HostsFile, web.EnvFile)
	}
	found := false
	for _, n := range h.names.cfg["shop"].Networks {
		for _, r := range n.Records {
			if r.Container == "db" && r.Addr.String() == "172.18.0.50" {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("DNS records did not follow db's move: %+v", h.names.cfg["shop"].Networks)
	}

	// down forgets the project's names.
	h.names.calls = nil
	if _, err := h.r.Apply(t.Context(), "shop", nil); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(h.names.calls, ";"); got != "RemoveDNS shop" || len(h.names.cfg) != 0 {
		t.Errorf("down: dns calls = %s, left %v", got, h.names.cfg)
	}
}

func TestNoNamesOnTheDefaultBridge(t *testing.T) {
	h := newHarness()
	d, err := Desired(parse(t, "x.yaml", `
containers:
  a: {}
  b: {dns: [10.250.0.9]}
`), nil, h.r.Options)
	if err != nil {
		t.Fatal(err)
	}
	if d.DNS != nil {
		t.Errorf("DNS config for a bridge-only project: %+v", d.DNS)
	}
	// The host's non-loopback resolver directly, or the container's own.
	if got := d.Containers["x/a"].ResolvFile; got != "nameserver 10.250.0.53\nsearch example.test\n" {
		t.Errorf("a's resolv.conf:\n%s", got)
	}
	if got := d.Containers["x/b"].ResolvFile; !strings.HasPrefix(got, "nameserver 10.250.0.9\n") {
		t.Errorf("b's resolv.conf:\n%s", got)
	}
}

func TestReverseAndRecordNames(t *testing.T) {
	c := &model.Container{Name: "web", Hostname: "Web"}
	ep := &model.Endpoint{Aliases: []string{"api", "API.", "web"}}
	if got := strings.Join(recordNames(c, ep), ","); got != "web,api" {
		t.Errorf("recordNames = %s, want web,api", got)
	}

}

func TestHostResolvParsedOnce(t *testing.T) {
	hr := parseHostResolv([]byte("# c\nnameserver 127.0.0.53\nnameserver  10.0.0.1 \nnameserver bogus\nnameserver fe80::1%eth0\nsearch  a.test b.test\r\noptions edns0\n#options ndots:5\n"))
	if got := fmt.Sprint(hr.upstreams()); got != "[127.0.0.53:53 10.0.0.1:53 [fe80::1%eth0]:53]" {
		t.Errorf("upstreams = %s", got)
	}
	if got := strings.Join(hr.lines, "|"); got != "search a.test b.test|options edns0" || hr.ndots {
		t.Errorf("lines = %q, ndots = %v", got, hr.ndots)
	}
	if !parseHostResolv([]byte("options rotate ndots:2\n")).ndots {
		t.Error("ndots:2 not seen")
	}
	if parseHostResolv(nil).upstreams() != nil {
		t.Error("no resolv.conf gives upstreams")
	}
}

func TestRenderResolv(t *testing.T) {
	d := model.NewState()
	back := &model.Network{Project: "x", Name: "back", Gateway: netip.MustParseAddr("172.18.0.1")}
	def := &model.Network{Name: model.DefaultNetwork, Gateway: netip.MustParseAddr("172.17.0.1")}
	d.Networks[back.ID()], d.Networks[def.ID()] = back, def
	onBack := &model.Container{Mode: model.ModeBridge, Endpoints: []*model.Endpoint{{Network: def.ID()}, {Network: back.ID()}}, DNS: []netip.Addr{netip.MustParseAddr("9.9.9.9")}}
	onDefault := &model.Container{Mode: model.ModeBridge, Endpoints: []*model.Endpoint{{Network: def.ID()}}}
	own := &model.Container{Mode: model.ModeBridge, DNS: []netip.Addr{netip.MustParseAddr("9.9.9.9")}}
	host := &model.Container{Mode: model.ModeHost}
	hr := parseHostResolv([]byte("nameserver 127.0.0.53\nnameserver 1.1.1.1\nsearch a.test\noptions edns0\n"))
	for _, tc := range []struct {
		name string
		c    *model.Container
		hr   hostResolv
		want string
	}{
		{"user-defined network: the embedded server, ndots:0", onBack, hr, "nameserver 172.18.0.1\nsearch a.test\noptions edns0\noptions ndots:0\n"},
		{"the host's ndots wins", onBack, parseHostResolv([]byte("options ndots:2\n")), "nameserver 172.18.0.1\noptions ndots:2\n"},
		{"default network: the host's servers but loopback", onDefault, hr, "nameserver 1.1.1.1\nsearch a.test\noptions edns0\n"},
		{"own dns servers", own, hr, "nameserver 9.9.9.9\nsearch a.test\noptions edns0\n"},
		{"host namespace keeps loopback", host, hr, "nameserver 127.0.0.53\nnameserver 1.1.1.1\nsearch a.test\noptions edns0\n"},
	} {
		if got := renderResolv(tc.c, d, tc.hr); got != tc.want {
			t.Errorf("%s:\n%s\nwant:\n%s", tc.name, got, tc.want)
		}
	}
}

// The link env vars and the firewall's link openings list the same ports
// in the same order: by number, tcp before udp before sctp, no repeats.
func TestLinkedPorts(t *testing.T) {
	c := &model.Container{
		Expose: []model.PortProto{{Port: 53, Proto: "sctp"}, {Port: 5432, Proto: "tcp"}, {Port: 53, Proto: "udp"}},
		Ports:  []model.Port{{HostPort: 8053, ContainerPort: 53, Proto: "tcp"}, {HostPort: 8054, ContainerPort: 53, Proto: "udp"}, {ContainerPort: 80, Proto: "tcp"}},
	}
	if got := fmt.Sprint(linkedPorts(c)); got != "[{53 tcp} {53 udp} {53 sctp} {80 tcp} {5432 tcp}]" {
		t.Errorf("linkedPorts = %s", got)
	}
}
