package model

import (
	"fmt"
	"net/netip"
	"testing"
)

// HostString and Key are built without fmt; they must read as fmt wrote
// them (keys are compared with observed ones).
func TestPortHostStringAsFmt(t *testing.T) {
	for _, ip := range []netip.Addr{{}, netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("0.0.0.0"),
		netip.IPv6Unspecified(), netip.MustParseAddr("fd00::2"), netip.MustParseAddr("::ffff:10.0.0.1"),
		netip.MustParseAddr("fe80::1%eth0")} {
		for _, port := range []uint16{0, 80, 65535} {
			p := Port{HostIP: ip, HostPort: port, ContainerPort: 5000, Proto: ProtoUDP}
			want := fmt.Sprintf("%s:%d", p.HostIPString(), p.HostPort)
			if ip.Is6() {
				want = netip.AddrPortFrom(ip, port).String()
			}
			if got := p.HostString(); got != want {
				t.Errorf("HostString %q, want %q", got, want)
			}
			r := &PortRule{Project: "shop", Port: p}
			if got, want := r.Key(), "shop "+want+"/udp"; got != want {
				t.Errorf("Key %q, want %q", got, want)
			}
		}
	}
}
