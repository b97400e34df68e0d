package spec

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// dump renders a topology as text, every field that is set, so that the
// defaulted result of a fixture can be compared as a whole.
func dump(top *Topology) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	pos := func(x Pos) string { return fmt.Sprintf("%d:%d", x.Line, x.Column) }
	fields := func(fp map[string]Pos) string {
		var ks []string
		for k, v := range fp {
			ks = append(ks, k+"@"+pos(v))
		}
		sort.Strings(ks)
		return strings.Join(ks, " ")
	}
	kv := func(m map[string]string) string {
		var ks []string
		for k, v := range m {
			ks = append(ks, k+"="+v)
		}
		sort.Strings(ks)
		return strings.Join(ks, ",")
	}
	p("name %s file %s", top.Name, top.File)
	for _, n := range top.Networks {
		p("network %s @%s driver=%s subnet=%v gateway=%v ip_range=%v internal=%v icc=%v mtu=%d bridge_name=%q ipv6=%v subnet_v6=%v gateway_v6=%v labels={%s} implicit=%v",
			n.Name, pos(n.Pos), n.Driver, n.Subnet, n.Gateway, n.IPRange, n.Internal, n.ICC, n.MTU, n.BridgeName, n.EnableIPv6, n.SubnetV6, n.GatewayV6, kv(n.Labels), n.Implicit)
		p("  keys %s", fields(n.FieldPos))
	}
	for _, c := range top.Containers {
		p("container %s @%s hostname=%s mode=%q netns=%q node=%q dns=%v env={%s} expose=%v",
			c.Name, pos(c.Pos), c.Hostname, c.NetworkMode, c.NetnsPath, c.Node, c.DNS, kv(c.Env), c.Expose)
		p("  keys %s", fields(c.FieldPos))
		for _, a := range c.Networks {
			p("  net %s @%s ip=%v aliases=%v keys=%s", a.Network, pos(a.Pos), a.IPv4Address, a.Aliases, fields(a.FieldPos))
		}
		for _, m := range c.Ports {
			p("  port %q @%s host=%v %d-%d ctr=%d-%d %s", m.Raw, pos(m.Pos), m.HostIP, m.HostPortStart, m.HostPortEnd, m.ContainerPortStart, m.ContainerPortEnd, m.Proto)
		}
		for _, h := range c.ExtraHosts {
			p("  host %s=%v @%s", h.Name, h.IP, pos(h.Pos))
		}
		for _, l := range c.Links {
			p("  link %s:%s @%s", l.Container, l.Alias, pos(l.Pos))
		}
	}
	for _, n := range top.Nodes {
		p("node %s @%s %v", n.Name, pos(n.Pos), n.Address)
	}
	return b.String()
}

const fullWant = `name shop file testdata/full.yaml
network backend @8:3 driver=bridge subnet=172.18.0.0/16 gateway=172.18.0.1 ip_range=172.18.5.0/24 internal=false icc=true mtu=1500 bridge_name="br-backend" ipv6=false subnet_v6=invalid Prefix gateway_v6=invalid IP labels={team=payments} implicit=false
  keys bridge_name@17:5 driver@9:5 enable_ipv6@18:5 gateway@11:5 icc@14:5 internal@13:5 ip_range@12:5 labels@19:5 mtu@16:5 subnet@10:5
network frontend @20:3 driver=bridge subnet=invalid Prefix gateway=invalid IP ip_range=invalid Prefix internal=false icc=true mtu=1500 bridge_name="" ipv6=false subnet_v6=invalid Prefix gateway_v6=invalid IP labels={} implicit=false
  keys 
network mesh @21:3 driver=overlay subnet=10.20.0.0/24 gateway=invalid IP ip_range=invalid Prefix internal=false icc=true mtu=1500 bridge_name="" ipv6=false subnet_v6=invalid Prefix gateway_v6=invalid IP labels={} implicit=false
  keys driver@22:5 subnet@23:5
network bridge @0:0 driver=bridge subnet=invalid Prefix gateway=invalid IP ip_range=invalid Prefix internal=false icc=true mtu=1500 bridge_name="" ipv6=false subnet_v6=invalid Prefix gateway_v6=invalid IP labels={} implicit=true
  keys 
container db @25:3 hostname=db mode="" netns="" node="" dns=[] env={POSTGRES_DB=shop} expose=[{5432 tcp}]
  keys env@33:5 expose@32:5 hostname@26:5 networks@27:5
  net backend @28:7 ip=172.18.0.10 aliases=[postgres primary] keys=aliases@30:9 ipv4_address@29:9
  net bridge @31:7 ip=invalid IP aliases=[] keys=
container web @34:3 hostname=web mode="" netns="" node="" dns=[9.9.9.9] env={} expose=[]
  keys dns@43:5 extra_hosts@44:5 networks@35:5 ports@36:5
  net frontend @35:16 ip=invalid IP aliases=[] keys=
  net backend @35:26 ip=invalid IP aliases=[] keys=
  port "80:5000" @37:9 host=invalid IP 80-80 ctr=5000-5000 tcp
  port "127.0.0.1:8080:5000" @38:9 host=127.0.0.1 8080-8080 ctr=5000-5000 tcp
  port "127.0.0.1::5001" @39:9 host=127.0.0.1 0-0 ctr=5001-5001 tcp
  port "8000-9000:5002" @40:9 host=invalid IP 8000-9000 ctr=5002-5002 tcp
  port "5003" @41:9 host=invalid IP 0-0 ctr=5003-5003 tcp
  port "53:53/udp" @42:9 host=invalid IP 53-53 ctr=53-53 udp
  host metrics=10.1.2.3 @44:19
container legacy @45:3 hostname=legacy mode="" netns="" node="" dns=[] env={} expose=[]
  keys links@48:5
  net bridge @45:3 ip=invalid IP aliases=[] keys=
  link db:webdb @48:13
container tool @49:3 hostname=tool mode="host" netns="" node="" dns=[] env={} expose=[]
  keys network_mode@50:5
container sidecar @51:3 hostname=sidecar mode="" netns="/proc/4242/ns/net" node="" dns=[] env={} expose=[]
  keys netns_path@52:5 networks@53:5
  net backend @53:16 ip=invalid IP aliases=[] keys=
container worker @54:3 hostname=worker mode="" netns="" node="node-a" dns=[] env={} expose=[]
  keys networks@55:5 node@56:5
  net mesh @55:16 ip=invalid IP aliases=[] keys=
node node-a @58:3 10.10.0.1
node node-b @59:3 10.10.0.2
`

func TestLoadFull(t *testing.T) {
	top, err := Load("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := dump(top); got != fullWant {
		t.Errorf("defaulted topology differs.\ngot:\n%s\nwant:\n%s", got, fullWant)
	}
}

// The example exactly as TOPOLOGY.md prints it is invalid: `legacy` (on
// the default network) links to `db` (only on backend), and nodes serve no
// overlay network.
func TestLoadFullAsDocumented(t *testing.T) {
	data, err := os.ReadFile("testdata/full_as_documented.yaml")
	if err != nil {
		t.Fatal(err)
	}
	checkErrors(t, "testdata/full_as_documented.yaml", string(data), []string{
		`40:13 container "legacy": cannot link to container "db": they share no network`,
		`46:1 nodes: only overlay networks use nodes`,
	})
}

// Every file under testdata/valid parses without error.
func TestLoadValidFixtures(t *testing.T) {
	files, _ := filepath.Glob("testdata/valid/*.yaml")
	if len(files) == 0 {
		t.Fatal("no fixtures")
	}
	for _, f := range files {
		if _, err := Load(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/does-not-exist.yaml")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err = %v, want fs.ErrNotExist", err)
	}
}

func TestDefaults(t *testing.T) {
	top := mustParse(t, lines(
		`containers:`,
		`  a: {}`,
		`  b:`,
		`    netns_path: /proc/1/ns/net`,
		`  c:`,
		`    network_mode: none`,
	))
	if top.Name != "t" {
		t.Errorf("project name = %q, want the file's base name t", top.Name)
	}
	if len(top.Networks) != 1 {
		t.Fatalf("networks = %d, want the implicit bridge only", len(top.Networks))
	}
	br := top.Networks[0]
	if br.Name != NetworkBridge || !br.Implicit || br.Driver != DriverBridge || !br.ICC || br.MTU != 1500 || br.Subnet.IsValid() {
		t.Errorf("implicit bridge = %+v", br)
	}
	for _, name := range []string{"a", "b"} {
		c := top.Container(name)
		if c.Hostname != name {
			t.Errorf("%s: hostname = %q", name, c.Hostname)
		}
		if len(c.Networks) != 1 || c.Networks[0].Network != NetworkBridge || c.Networks[0].Pos != c.Pos {
			t.Errorf("%s: networks = %+v, want the default network at the container", name, c.Networks)
		}
	}
	if c := top.Container("c"); len(c.Networks) != 0 {
		t.Errorf("network_mode container joined %v", c.Networks)
	}
}

func TestProjectName(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"shop.yaml", "shop"},
		{"/etc/netctl/Shop-2.yml", "Shop-2"},
		{"topology", "topology"},
	} {
		top, err := Parse(tc.file, nil)
		if err != nil || top.Name != tc.want {
			t.Errorf("Parse(%q): name %v, err %v; want %q", tc.file, top, err, tc.want)
		}
	}
	checkErrors(t, "shop.prod.yaml", "", []string{`0:0 the file name gives the project name "shop.prod", which is not a DNS label`})
	checkErrors(t, "my_shop.yaml", "", []string{`0:0 set name: in the file`})
	checkErrors(t, "", "", []string{`0:0 no project name: set name: in the file`})
	if top := mustParse(t, "name: Shop\n"); top.Name != "Shop" {
		t.Errorf("name = %q; names keep their case", top.Name)
	}
}

func TestExplicitBridge(t *testing.T) {
	top := mustParse(t, lines(
		`networks:`,
		`  front: {}`,
		`  bridge:`,
		`    subnet: 10.99.0.0/16`,
		`    mtu: 9000`,
		`    icc: false`,
	))
	if len(top.Networks) != 2 || top.Networks[1].Name != NetworkBridge {
		t.Fatalf("networks = %v", top.Networks)
	}
	br := top.Network(NetworkBridge)
	if br.Implicit || br.Subnet != netip.MustParsePrefix("10.99.0.0/16") || br.MTU != 9000 || br.ICC || br.Pos != (Pos{Line: 3, Column: 3}) {
		t.Errorf("bridge = %+v", br)
	}
}

func TestNetworkForms(t *testing.T) {
	top := mustParse(t, lines(
		`networks: {a: {subnet: 10.1.0.0/24}, b: {}, c: }`,
		`containers:`,
		`  list:`,
		`    networks: [a, b]`,
		`  map:`,
		`    networks:`,
		`      a: {ipv4_address: 10.1.0.5, aliases: [x, x.y, x]}`,
		`      b:`,
		`      c: {}`,
	))
	l := top.Container("list").Networks
	if len(l) != 2 || l[0].Network != "a" || l[0].Pos != (Pos{Line: 4, Column: 16}) || l[1].Network != "b" || l[1].Pos != (Pos{Line: 4, Column: 19}) {
		t.Errorf("list form: %+v %+v", l[0], l[1])
	}
	m := top.Container("map").Networks
	if len(m) != 3 || m[0].Network != "a" || m[1].Network != "b" || m[2].Network != "c" {
		t.Fatalf("map form: %v", m)
	}
	if m[0].IPv4Address != netip.MustParseAddr("10.1.0.5") || !slices.Equal(m[0].Aliases, []string{"x", "x.y"}) {
		t.Errorf("map form a: %+v", m[0])
	}
	if m[0].Pos != (Pos{Line: 7, Column: 7}) || m[0].FieldPos["ipv4_address"] != (Pos{Line: 7, Column: 11}) || m[0].FieldPos["aliases"] != (Pos{Line: 7, Column: 35}) {
		t.Errorf("map form positions: %+v", m[0])
	}
}

func TestScalarForms(t *testing.T) {
	top := mustParse(t, lines(
		`containers:`,
		`  a:`,
		`    expose: [5432, "5433", "53/udp", 5432, 0x50]`,
		`    env: {S: text, I: 42, F: 1.5, B: true, E: "", Q: "a b"}`,
		`    dns: 9.9.9.9`,
		`    ports: [5003, "5004", 0x50]`,
		`    extra_hosts: ["v6:fe80::1", "v4:10.0.0.1", "b:[::1]", "d.e.f:1.2.3.4"]`,
		`    links: []`,
		`  b:`,
		`    dns: [1.1.1.1, "2606:4700::1111"]`,
		`    links: [a, "a:other"]`,
		`    hostname: b.example.com`,
	))
	a := top.Container("a")
	wantExpose := []PortProto{{5432, "tcp"}, {5433, "tcp"}, {53, "udp"}, {80, "tcp"}}
	if !slices.Equal(a.Expose, wantExpose) {
		t.Errorf("expose = %v, want %v", a.Expose, wantExpose)
	}
	wantEnv := map[string]string{"S": "text", "I": "42", "F": "1.5", "B": "true", "E": "", "Q": "a b"}
	if fmt.Sprint(a.Env) != fmt.Sprint(wantEnv) {
		t.Errorf("env = %v, want %v", a.Env, wantEnv)
	}
	if len(a.DNS) != 1 || a.DNS[0] != netip.MustParseAddr("9.9.9.9") {
		t.Errorf("dns = %v", a.DNS)
	}
	var raws []string
	for _, m := range a.Ports {
		raws = append(raws, m.Raw)
	}
	if !slices.Equal(raws, []string{"5003", "5004", "80"}) {
		t.Errorf("ports = %v", raws)
	}
	var hosts []string
	for _, h := range a.ExtraHosts {
		hosts = append(hosts, h.Name+"="+h.IP.String())
	}
	if want := []string{"v6=fe80::1", "v4=10.0.0.1", "b=::1", "d.e.f=1.2.3.4"}; !slices.Equal(hosts, want) {
		t.Errorf("extra_hosts = %v, want %v", hosts, want)
	}
	b := top.Container("b")
	if len(b.DNS) != 2 || b.DNS[1] != netip.MustParseAddr("2606:4700::1111") {
		t.Errorf("dns = %v", b.DNS)
	}
	if len(b.Links) != 2 || *b.Links[0] != (Link{"a", "a", Pos{Line: 11, Column: 13}}) || *b.Links[1] != (Link{"a", "other", Pos{Line: 11, Column: 16}}) {
		t.Errorf("links = %+v %+v", b.Links[0], b.Links[1])
	}
	if b.Hostname != "b.example.com" {
		t.Errorf("hostname = %q", b.Hostname)
	}
}

func TestPortForms(t *testing.T) {
	ip := netip.MustParseAddr("127.0.0.1")
	for _, tc := range []struct {
		raw  string
		want PortMapping
	}{
		{"80:5000", PortMapping{HostPortStart: 80, HostPortEnd: 80, ContainerPortStart: 5000, ContainerPortEnd: 5000, Proto: "tcp"}},
		{"127.0.0.1:8080:5000", PortMapping{HostIP: ip, HostPortStart: 8080, HostPortEnd: 8080, ContainerPortStart: 5000, ContainerPortEnd: 5000, Proto: "tcp"}},
		{"127.0.0.1::5001", PortMapping{HostIP: ip, ContainerPortStart: 5001, ContainerPortEnd: 5001, Proto: "tcp"}},
		{"8000-9000:5002", PortMapping{HostPortStart: 8000, HostPortEnd: 9000, ContainerPortStart: 5002, ContainerPortEnd: 5002, Proto: "tcp"}},
		{"5003", PortMapping{ContainerPortStart: 5003, ContainerPortEnd: 5003, Proto: "tcp"}},
		{"53:53/udp", PortMapping{HostPortStart: 53, HostPortEnd: 53, ContainerPortStart: 53, ContainerPortEnd: 53, Proto: "udp"}},
		{"8000-8002:5000-5002", PortMapping{HostPortStart: 8000, HostPortEnd: 8002, ContainerPortStart: 5000, ContainerPortEnd: 5002, Proto: "tcp"}},
		{"5000-5002", PortMapping{ContainerPortStart: 5000, ContainerPortEnd: 5002, Proto: "tcp"}},
		{"0.0.0.0:80:80/sctp", PortMapping{HostPortStart: 80, HostPortEnd: 80, ContainerPortStart: 80, ContainerPortEnd: 80, Proto: "sctp"}},
		{":80:80", PortMapping{HostPortStart: 80, HostPortEnd: 80, ContainerPortStart: 80, ContainerPortEnd: 80, Proto: "tcp"}},
		{"65535:1", PortMapping{HostPortStart: 65535, HostPortEnd: 65535, ContainerPortStart: 1, ContainerPortEnd: 1, Proto: "tcp"}},
		{"080:00080", PortMapping{HostPortStart: 80, HostPortEnd: 80, ContainerPortStart: 80, ContainerPortEnd: 80, Proto: "tcp"}},
	} {
		m, why := parsePortMapping(tc.raw)
		if why != "" {
			t.Errorf("%q: %s", tc.raw, why)
			continue
		}
		tc.want.Raw = tc.raw
		if *m != tc.want {
			t.Errorf("%q: got %+v, want %+v", tc.raw, *m, tc.want)
		}
	}
	if m, _ := parsePortMapping("8000-9000:5002"); !m.FirstFree() {
		t.Errorf("host range to one port is not FirstFree")
	}
	if m, _ := parsePortMapping("8000-8002:5000-5002"); m.FirstFree() {
		t.Errorf("range to range is FirstFree")
	}
}

func TestMergeKeysAndAliases(t *testing.T) {
	top := mustParse(t, lines(
		`x-net: &net {subnet: 10.1.0.0/24, mtu: 1400}`,
		`x-more: &more {icc: false, mtu: 1300}`,
		`name: p`,
		`networks:`,
		`  a:`,
		`    <<: [*net, *more]`,
		`    mtu: 9000`,
		`  b: {<<: *more, subnet: 10.2.0.0/24}`,
		`containers:`,
		`  c: &ctr`,
		`    networks: [a]`,
		`    env: {X: "1"}`,
		`  d: *ctr`,
	))
	a, b := top.Network("a"), top.Network("b")
	if a.Subnet.String() != "10.1.0.0/24" || a.MTU != 9000 || a.ICC {
		t.Errorf("a = %+v", a)
	}
	if b.Subnet.String() != "10.2.0.0/24" || b.MTU != 1300 || b.ICC {
		t.Errorf("b = %+v", b)
	}
	if d := top.Container("d"); d == nil || len(d.Networks) != 1 || d.Env["X"] != "1" {
		t.Errorf("d = %+v", d)
	}
}

func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("x-a: &a [\"80\",\"80\",\"80\",\"80\",\"80\",\"80\",\"80\",\"80\",\"80\",\"80\"]\n")
	b.WriteString("x-c: &c {ports: *a, expose: *a}\n")
	b.WriteString("containers:\n")
	for i := range 2000 {
		fmt.Fprintf(&b, "  c%d: *c\n", i)
	}
	_, err := Parse("t.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "too many nodes through aliases") {
		t.Errorf("err = %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	runErrorCases(t, []errorCase{
		{"syntax", lines(`name: p`, `networks:`, `  a: {`), []string{`3:0 invalid YAML: did not find expected node content`}},
		{"syntax-indent", lines(`name: p`, `  x: y`), []string{`2:0 invalid YAML: mapping values are not allowed`}},
		{"tab", "\t", []string{`0:0 invalid YAML`}},
		{"two documents", lines(`name: p`, `---`, `name: q`), []string{`3:1 a second YAML document`}},
		{"top not mapping", lines(`- a`), []string{`1:1 topology: expected a mapping, got a list`}},
		{"top scalar", lines(`hello`), []string{`1:1 topology: expected a mapping, got "hello"`}},
		{"unknown top", lines(`name: p`, `netwroks: {}`), []string{`2:1 unknown key "netwroks" at top level (did you mean "networks"?)`}},
		{"x- keys ignored only at top", lines(`x-a: 1`, `networks: {n: {x-b: 1}}`), []string{`2:16 unknown key "x-b" in network "n"`}},
		{"unknown network key", lines(`networks:`, `  n:`, `    foo: 1`, `    subnett: 10.0.0.0/24`), []string{
			`3:5 unknown key "foo" in network "n"`,
			`4:5 unknown key "subnett" in network "n" (did you mean "subnet"?)`,
		}},
		{"unknown container key", lines(`containers:`, `  web:`, `    foo: 1`, `    environment: {}`, `    image: nginx`), []string{
			`3:5 unknown key "foo" in container "web"`,
			`4:5 unknown key "environment" in container "web"; netctl calls it "env"`,
			`5:5 does not run images`,
		}},
		{"unknown attachment key", lines(`networks: {n: {}}`, `containers:`, `  web:`, `    networks:`, `      n: {priority: 1}`), []string{
			`5:11 unknown key "priority" in network "n" of container "web"`,
		}},
		{"unknown node key", lines(`nodes:`, `  a: {address: 10.0.0.1, port: 1}`), []string{
			`1:1 nodes: only overlay networks use nodes`,
			`2:26 unknown key "port" in node "a"`,
		}},
		{"duplicates", lines(
			`name: p`,
			`networks:`,
			`  a: {}`,
			`  a: {}`,
			`containers:`,
			`  web: {}`,
			`  db: {}`,
			`  web: {}`,
			`name: q`,
		), []string{
			`4:3 networks: duplicate network "a" (first at 3:3)`,
			`8:3 containers: duplicate container "web" (first at 6:3)`,
			`9:1 topology: duplicate key "name" (first at 1:1)`,
		}},
		{"duplicate field", lines(`networks:`, `  a:`, `    mtu: 1400`, `    mtu: 1500`), []string{`4:5 network "a": duplicate key "mtu" (first at 3:5)`}},
		{"non-string key", lines(`networks:`, `  ? [a]`, `  : {}`), []string{`2:5 networks: keys must be strings`}},
		{"wrong types", lines(
			`name: {a: b}`,
			`networks:`,
			`  n:`,
			`    mtu: abc`,
			`    icc: yes`,
			`    internal: 1`,
			`    subnet: [10.0.0.0/8]`,
			`    labels: [a]`,
			`    driver:`,
			`containers:`,
			`  c:`,
			`    ports: {a: 1}`,
			`    expose: "80"`,
			`    networks: n`,
			`    env: [A=1]`,
			`    links: a`,
			`    extra_hosts: "a:1.2.3.4"`,
			`  d: [a]`,
		), []string{
			`1:7 name: expected a string, got a mapping`,
			`4:10 network "n": mtu: expected an integer, got "abc"`,
			`5:10 network "n": icc: expected true or false, got "yes"`,
			`6:15 network "n": internal: expected true or false, got "1"`,
			`7:13 network "n": subnet: expected a string, got a list`,
			`8:13 network "n": labels: expected a mapping, got a list`,
			`9:12 network "n": driver: expected a string, got nothing`,
			`12:12 container "c": ports: expected a list, got a mapping`,
			`13:13 container "c": expose: expected a list, got "80"`,
			`14:15 container "c": networks: expected a mapping, got "n"`,
			`15:10 container "c": env: expected a mapping, got a list`,
			`16:12 container "c": links: expected a list, got "a"`,
			`17:18 container "c": extra_hosts: expected a list, got "a:1.2.3.4"`,
			`18:6 container "d": expected a mapping, got a list`,
		}},
		{"sections of the wrong type", lines(`networks: [a, b]`, `containers: [web]`, `nodes: x`), []string{
			`1:11 networks: expected a mapping, got a list`,
			`2:13 containers: expected a mapping, got a list`,
			`3:8 nodes: expected a mapping, got "x"`,
		}},
		{"broken networks give no unknown-network cascade", lines(`networks: [a]`, `containers:`, `  c: {networks: [a]}`), []string{
			`1:11 networks: expected a mapping, got a list`,
		}},
		{"port entry types", lines(`containers:`, `  c:`, `    ports: [80.5, true, {a: 1}, -1, 70000]`), []string{
			`3:13 expected a port as a string or number, got "80.5"`,
			`3:19 expected a port as a string or number, got "true"`,
			`3:25 expected a port as a string or number, got a mapping`,
			`3:33 "-1": container port "" is not a number`,
			`3:37 "70000": container port 70000 is out of range 1-65535`,
		}},
		{"merge cycle", lines(`x-a: &a {<<: *a}`, `networks: {n: *a}`), []string{`1:6 merge keys nested too deeply`}},
	})
}
