package main

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/netctl/netctl/cmd/netctl/internal/format"
	"github.com/netctl/netctl/internal/golden"
	"github.com/netctl/netctl/model"
)

// viewState is a host as Observe would report it: a project with a
// network of its own, the default network, host mode, and a second
// project reusing a container name.
func viewState() *model.State {
	st := model.NewState()
	back := &model.Network{Project: "shop", Name: "back", Driver: "bridge", Bridge: "br-aa4d12576c59",
		Subnet: netip.MustParsePrefix("172.18.0.0/16"), Gateway: netip.MustParseAddr("172.18.0.1"), MTU: 1500,
		ICC: true, Labels: map[string]string{"team": "pay"}, Up: true}
	def := &model.Network{Name: "bridge", Driver: "bridge", Bridge: "netctl0", Subnet: netip.MustParsePrefix("172.17.0.0/16"),
		Gateway: netip.MustParseAddr("172.17.0.1"), MTU: 1500, ICC: true, Up: true}
	st.Networks[back.ID()] = back
	st.Networks[def.ID()] = def
	ep := func(network, ifname, addr string, aliases ...string) *model.Endpoint {
		p := netip.MustParsePrefix(addr)
		return &model.Endpoint{Network: network, IfName: ifname, HostIf: "veth" + strings.ReplaceAll(p.Addr().String(), ".", ""),
			Addr: p, MAC: model.MACFor(p.Addr()), MTU: 1500, Aliases: aliases, HostOK: true, PeerOK: true}
	}
	add := func(c *model.Container) {
		if c.Mode != model.ModeHost {
			c.Netns = model.NetnsPath("/run/netctl", c.Project, c.Name)
			c.NetnsOK, c.LoUp, c.UTSHostname = true, true, c.Hostname
		}
		st.Containers[c.ID()] = c
	}
	add(&model.Container{Project: "shop", Name: "db", Hostname: "database", Mode: model.ModeBridge,
		Endpoints:  []*model.Endpoint{ep("shop/back", "eth0", "172.18.0.2/16", "postgres")},
		Ports:      []model.Port{{HostPort: 32768, ContainerPort: 5432, Proto: "tcp"}},
		Expose:     []model.PortProto{{Port: 5432, Proto: "tcp"}},
		DNS:        []netip.Addr{netip.MustParseAddr("9.9.9.9")},
		ExtraHosts: []model.HostEntry{{IP: netip.MustParseAddr("10.1.2.3"), Names: []string{"metrics"}}}})
	add(&model.Container{Project: "shop", Name: "web", Hostname: "web", Mode: model.ModeBridge,
		Endpoints: []*model.Endpoint{ep("/bridge", "eth0", "172.17.0.2/16"), ep("shop/back", "eth1", "172.18.0.3/16")},
		Ports: []model.Port{{HostPort: 8080, ContainerPort: 80, Proto: "tcp"},
			{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 8443, ContainerPort: 443, Proto: "tcp"},
			{HostPort: 53, ContainerPort: 53, Proto: "udp"}}})
	add(&model.Container{Project: "shop", Name: "tool", Hostname: "tool", Mode: model.ModeHost})
	add(&model.Container{Project: "blog", Name: "web", Hostname: "web", Mode: model.ModeNone})
	return st
}

func listOutput(t *testing.T, rows func(*catalog, filters, *listFlags) []any, def string, headers format.Headers,
	f listFlags, filterArgs []string, allowed ...string) string {
	t.Helper()
	flt, err := parseFilters(filterArgs, allowed...)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := f.list(def, headers).Write(&b, rows(newCatalog(viewState()), flt, &f)); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

var (
	psFilterKeys = []string{"id", "name", "network", "label", "project"}
	lsFilterKeys = []string{"id", "name", "driver", "label", "project", "type", "scope"}
)

// The list formats against the shapes docker ps and docker network ls
// document: the default table (columns at least 10 wide, 3 spaces apart),
// `table` with a template, `json` (one object a line, keys sorted, string
// values), -q, --no-trunc, and filters.
func TestListGolden(t *testing.T) {
	var out strings.Builder
	ps := func(title string, f listFlags, filterArgs ...string) {
		out.WriteString("$ netctl ps " + title + "\n")
		out.WriteString(listOutput(t, psRows, psDefault, psHeaders, f, filterArgs, psFilterKeys...))
	}
	ls := func(title string, f listFlags, filterArgs ...string) {
		out.WriteString("$ netctl ls " + title + "\n")
		out.WriteString(listOutput(t, lsRows, lsDefault, lsHeaders, f, filterArgs, lsFilterKeys...))
	}
	ps("", listFlags{})
	ps("--format json", listFlags{format: "json"})
	ps("-q", listFlags{quiet: true})
	ps("-q --no-trunc --format '{{.Names}}' (-q wins)", listFlags{quiet: true, noTrunc: true, format: "{{.Names}}"})
	ps(`--format 'table {{.Names}}\t{{.Ports}}\t{{.Label "com.docker.compose.project"}}'`,
		listFlags{format: `table {{.Names}}\t{{.Ports}}\t{{.Label "com.docker.compose.project"}}`})
	ps(`--format '{{.ID}}: {{upper .Names}} {{json .Networks}}'`, listFlags{format: `{{.ID}}: {{upper .Names}} {{json .Networks}}`})
	ps("--filter network=back", listFlags{}, "network=back")
	ps("--filter network=host --filter network=none", listFlags{}, "network=host", "network=none")
	ps("--filter name=^w --filter project=shop", listFlags{}, "name=^w", "project=shop")
	ps("--filter label=com.docker.compose.project=blog", listFlags{}, "label=com.docker.compose.project=blog")
	ps("--filter id=50fb", listFlags{}, "id=50fb")
	ls("", listFlags{})
	ls("--format json", listFlags{format: "json"})
	ls("-q", listFlags{quiet: true})
	ls("--no-trunc --filter type=custom", listFlags{noTrunc: true}, "type=custom")
	ls("--filter driver=null --filter driver=host", listFlags{}, "driver=null", "driver=host")
	ls("--filter label=team --format '{{.Name}} {{.Labels}}'", listFlags{format: "{{.Name}} {{.Labels}}"}, "label=team")
	golden.File(t, "testdata/list.txt", out.String())
}

func TestInspectGolden(t *testing.T) {
	st := viewState()
	var out strings.Builder
	run := func(tpl string, refs ...string) {
		out.WriteString("$ netctl inspect " + strings.Join(refs, " "))
		if tpl != "" {
			out.WriteString(" --format '" + tpl + "'")
		}
		out.WriteString("\n")
		err := inspect(&out, st, refs, "", "", tpl)
		for _, l := range errorLines(err) {
			out.WriteString("[stderr] " + l + "\n")
		}
	}
	run("", "db")
	run("", "back", "host")
	run("json", "none")
	run("{{.Name}} {{.Id}}", "shop/web", "blog/web", "9f99a00f2ac1", "d880c6", "missing")
	run("{{range .NetworkSettings.Networks}}{{println .IPAddress}}{{end}}", "shop/web")
	run("{{join .NetworkSettings.Networks.back.Aliases \",\"}} {{json .NetworkSettings.Ports}} {{.HostConfig.Dns}}", "db")
	run("{{.NoSuchField}}", "db", "back")
	run("{{.Name", "db")
	run("", "web")
	golden.File(t, "testdata/inspect.txt", out.String())
}

func TestLookup(t *testing.T) {
	cat := newCatalog(viewState())
	for _, tc := range []struct{ ref, kind, project, want, err string }{
		{ref: "db", want: "container shop/db"},
		{ref: "web", err: "web is ambiguous (container blog/web, container shop/web): use PROJECT/NAME, --project or the ID"},
		{ref: "web", project: "blog", want: "container blog/web"},
		{ref: "shop/web", want: "container shop/web"},
		{ref: "back", want: "network shop/back"},
		{ref: "bridge", want: "network bridge"},
		{ref: "shop/bridge", want: "network bridge"},
		{ref: "host", want: "network host"},
		{ref: "none", want: "network none"},
		{ref: model.ContainerObjectID("shop", "web"), want: "container shop/web"},
		{ref: "50fbb7", want: "container shop/web"},
		{ref: "9", err: "9 is ambiguous: 3 objects have an ID starting with it"},
		{ref: "db", kind: kindNetwork, err: "no such object: db"},
		{ref: "nope", err: "no such object: nope"},
		{ref: "", err: "no such object: empty name"},
	} {
		o, err := cat.find(tc.ref, tc.kind, tc.project)
		switch {
		case tc.err != "":
			if err == nil || err.Error() != tc.err {
				t.Errorf("find(%q) error = %v, want %q", tc.ref, err, tc.err)
			}
		case err != nil:
			t.Errorf("find(%q): %v", tc.ref, err)
		case o.kind+" "+o.qualified() != tc.want:
			t.Errorf("find(%q) = %s %s, want %s", tc.ref, o.kind, o.qualified(), tc.want)
		}
	}
}

func TestFilterErrors(t *testing.T) {
	for _, tc := range []struct{ arg, want string }{
		{"colour=red", "invalid filter 'colour'"},
		{"name", "bad format of filter"},
		{"name=(", "invalid filter 'name=('"},
	} {
		if _, err := parseFilters([]string{tc.arg}, psFilterKeys...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("--filter %s: %v, want %q", tc.arg, err, tc.want)
		}
	}
}
