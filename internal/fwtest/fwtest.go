// Package fwtest holds the firewall objects the backends' tests and
// benchmarks share.
package fwtest

import (
	"fmt"
	"net/netip"

	"github.com/netctl/netctl/model"
)

// BigFirewall is n containers of project bench on 4 networks, each
// publishing 2 TCP ports (a fixed one and an ephemeral pick): the objects
// of the published-ports benchmarks' topology.
func BigFirewall(n int) *model.Firewall {
	fw := model.NewFirewall()
	for i := 0; i < 4; i++ {
		nw := &model.NetworkRules{Project: "bench", Name: fmt.Sprintf("net%d", i+1), Bridge: fmt.Sprintf("br-bench%d", i),
			Subnet: netip.MustParsePrefix(fmt.Sprintf("172.%d.0.0/16", 20+i)), ICC: true}
		fw.Networks[nw.ID()] = nw
	}
	for i := 0; i < n; i++ {
		target := netip.AddrFrom4([4]byte{172, byte(20 + i%4), byte((i / 4) / 250), byte(2 + (i/4)%250)})
		for j, hp := range []uint16{uint16(10000 + 2*i), uint16(32768 + i)} {
			p := &model.PortRule{Project: "bench", Container: fmt.Sprintf("c%d", i+1), Target: target,
				Port: model.Port{HostPort: hp, ContainerPort: uint16(8080 + j), Proto: "tcp"}}
			fw.Ports[p.Key()] = p
		}
	}
	return fw
}
