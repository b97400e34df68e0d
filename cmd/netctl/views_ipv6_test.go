package main

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/netctl/netctl/model"
)

func TestIPv6Views(t *testing.T) {
	st := model.NewState()
	n := &model.Network{Project: "shop", Name: "front", Driver: "bridge", Bridge: "br-x", MTU: 1500, ICC: true,
		Subnet: netip.MustParsePrefix("172.18.0.0/16"), Gateway: netip.MustParseAddr("172.18.0.1"),
		EnableIPv6: true, SubnetV6: netip.MustParsePrefix("fd00:18::/64"), GatewayV6: netip.MustParseAddr("fd00:18::1")}
	st.Networks[n.ID()] = n
	any6 := netip.IPv6Unspecified()
	c := &model.Container{Project: "shop", Name: "web", Hostname: "web", Mode: model.ModeBridge,
		Endpoints: []*model.Endpoint{{Network: n.ID(), IfName: "eth0",
			Addr: netip.MustParsePrefix("172.18.0.2/16"), AddrV6: netip.MustParsePrefix("fd00:18::2/64")}},
		Ports: []model.Port{
			{HostIP: any6, HostPort: 8080, ContainerPort: 8000, Proto: "tcp"},
			{HostPort: 8080, ContainerPort: 8000, Proto: "tcp"},
			{HostIP: any6, HostPort: 9001, ContainerPort: 7001, Proto: "udp"},
			{HostIP: any6, HostPort: 9000, ContainerPort: 7000, Proto: "udp"},
		}}
	st.Containers[c.ID()] = c

	nv := networkView(st, n)
	if !nv.EnableIPv6 || len(nv.IPAM.Config) != 2 || nv.IPAM.Config[1].Subnet != "fd00:18::/64" || nv.IPAM.Config[1].Gateway != "fd00:18::1" {
		t.Errorf("network view: %+v", nv)
	}
	for _, ev := range nv.Containers {
		if ev.IPv6Address != "fd00:18::2/64" {
			t.Errorf("endpoint IPv6Address = %q", ev.IPv6Address)
		}
	}
	cv := containerView(st, c)
	ep := cv.NetworkSettings.Networks["front"]
	if ep.GlobalIPv6Address != "fd00:18::2" || ep.GlobalIPv6PrefixLen != 64 || ep.IPv6Gateway != "fd00:18::1" {
		t.Errorf("container view: %+v", ep)
	}
	b, _ := json.Marshal(cv.NetworkSettings.Ports["8000/tcp"])
	if string(b) != `[{"HostIp":"0.0.0.0","HostPort":"8080"},{"HostIp":"::","HostPort":"8080"}]` {
		t.Errorf("Ports[8000/tcp] = %s", b)
	}
	if got, want := displayPorts(c.Ports), "[::]:9000-9001->7000-7001/udp, 0.0.0.0:8080->8000/tcp, [::]:8080->8000/tcp"; got != want {
		t.Errorf("displayPorts = %q\nwant %q", got, want)
	}
	var lines []string
	for _, r := range portRows(c.Ports, &model.PortProto{Port: 8000, Proto: "tcp"}) {
		lines = append(lines, r.(portRow).HostPort)
	}
	if got := strings.Join(lines, ","); got != "0.0.0.0:8080,[::]:8080" {
		t.Errorf("port 8000 = %q", got)
	}

	if r, _ := lsRowOf(object{kind: kindNetwork, id: "x", project: "shop", name: "front", network: n}, filters{}, &listFlags{}); r.IPv6 != "true" {
		t.Errorf("ls IPv6 = %q", r.IPv6)
	}

	// An IPv4-only network shows neither.
	n4 := *n
	n4.EnableIPv6, n4.SubnetV6, n4.GatewayV6 = false, netip.Prefix{}, netip.Addr{}
	if v := networkView(st, &n4); v.EnableIPv6 || len(v.IPAM.Config) != 1 {
		t.Errorf("IPv4-only network view: %+v", v)
	}
}
