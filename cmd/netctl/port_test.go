package main

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/netctl/netctl/model"
)

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
	if got := strings.Join(portLines(ports, nil), "\n"); got != "53/udp -> 0.0.0.0:53\n5000/tcp -> 0.0.0.0:8080\n5000/tcp -> 127.0.0.1:8081\n5004/tcp -> 0.0.0.0:8300\n5005/tcp -> 0.0.0.0:8301" {
		t.Errorf("portLines = %q", got)
	}
	if got := portLines(ports, &model.PortProto{Port: 5000, Proto: "tcp"}); strings.Join(got, ",") != "0.0.0.0:8080,127.0.0.1:8081" {
		t.Errorf("portLines 5000/tcp = %q", got)
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
