package main

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/netctl/netctl/cmd/netctl/internal/format"
	"github.com/netctl/netctl/model"
)

func portOutput(t *testing.T, ports []model.Port, want *model.PortProto, tpl string) string {
	t.Helper()
	def := "{{.PrivatePort}}/{{.Type}} -> {{.HostPort}}"
	if want != nil {
		def = "{{.HostPort}}"
	}
	var b strings.Builder
	if err := (format.List{Format: tpl, Default: def, Headers: portHeaders}).Write(&b, portRows(ports, want)); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestPortViews(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	ports := []model.Port{
		{HostPort: 8301, ContainerPort: 5005, Proto: "tcp"},
		{HostPort: 8080, ContainerPort: 5000, Proto: "tcp"},
		{HostIP: lo, HostPort: 8081, ContainerPort: 5000, Proto: "tcp"},
		{HostPort: 8300, ContainerPort: 5004, Proto: "tcp"},
		{HostPort: 53, ContainerPort: 53, Proto: "udp"},
	}
	if got, want := displayPorts(ports), "0.0.0.0:53->53/udp, 0.0.0.0:8080->5000/tcp, 127.0.0.1:8081->5000/tcp, 0.0.0.0:8300-8301->5004-5005/tcp"; got != want {
		t.Errorf("displayPorts = %q\nwant %q", got, want)
	}
	// docker port's lines.
	if got := portOutput(t, ports, nil, ""); got != "53/udp -> 0.0.0.0:53\n5000/tcp -> 0.0.0.0:8080\n5000/tcp -> 127.0.0.1:8081\n5004/tcp -> 0.0.0.0:8300\n5005/tcp -> 0.0.0.0:8301\n" {
		t.Errorf("port = %q", got)
	}
	if got := portOutput(t, ports, &model.PortProto{Port: 5000, Proto: "tcp"}, ""); got != "0.0.0.0:8080\n127.0.0.1:8081\n" {
		t.Errorf("port 5000/tcp = %q", got)
	}
	if got := portOutput(t, ports[:1], nil, "json"); got != `{"HostPort":"0.0.0.0:8301","IP":"0.0.0.0","PrivatePort":5005,"PublicPort":8301,"Type":"tcp"}`+"\n" {
		t.Errorf("port --format json = %q", got)
	}
	if got := portOutput(t, ports[1:3], nil, "{{.IP}} {{.PublicPort}}"); got != "0.0.0.0 8080\n127.0.0.1 8081\n" {
		t.Errorf("port --format template = %q", got)
	}
	c := &model.Container{Ports: ports, Expose: []model.PortProto{{Port: 9999, Proto: "tcp"}}}
	b := portBindings(c)
	if v, ok := b["9999/tcp"]; !ok || v != nil {
		t.Errorf("exposed, unpublished port: %v %v", v, ok)
	}
	if v := b["5000/tcp"]; len(v) != 2 || v[1].HostIp != "127.0.0.1" || v[1].HostPort != "8081" {
		t.Errorf("5000/tcp bindings = %+v", v)
	}
	for _, bad := range []string{"x", "0", "70000", "80/icmp"} {
		if _, err := parsePortArg(bad); err == nil {
			t.Errorf("parsePortArg(%q) accepted", bad)
		}
	}
	if pp, err := parsePortArg("53/udp"); err != nil || pp.Port != 53 || pp.Proto != "udp" {
		t.Errorf("parsePortArg(53/udp) = %v, %v", pp, err)
	}
}
