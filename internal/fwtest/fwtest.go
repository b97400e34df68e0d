// Package fwtest holds the firewall objects the backends' tests and
// benchmarks share.
package fwtest

import (
	"fmt"
	"net/netip"
	"testing"

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

// Fuzzed is one network, one published port and one link built from a
// fuzzer's values, as a file or a hand-edited host could make them.
type Fuzzed struct {
	FW      *model.Firewall
	Network *model.NetworkRules
	Port    *model.PortRule
	Link    *model.LinkRule
	Project string
}

// Fuzz runs check on the objects built from each set of the fuzzer's
// values, seeded with valid objects of each kind and one made of what must
// never reach a rule.
func Fuzz(f *testing.F, check func(t *testing.T, o Fuzzed)) {
	f.Add("shop", "backend", "web", "db", "br-backend", []byte{172, 18, 0, 0}, uint8(16), []byte{127, 0, 0, 1}, uint16(8080), uint16(80), uint8(0), false, true)
	f.Add("", "bridge", "app", "x", "netctl0", []byte{172, 17, 0, 0}, uint8(16), []byte{}, uint16(53), uint16(53), uint8(1), false, true)
	f.Add("p", "n", "c", "d", "br-1a2b3c4d5e6f", []byte{10, 250, 0, 0}, uint8(24), []byte{10, 250, 0, 1}, uint16(9000), uint16(9000), uint8(2), true, false)
	f.Add("a\"b", "n\n-A X", "c' --x", "d", "br x", []byte{1, 2, 3, 4}, uint8(33), []byte{0, 0, 0, 0}, uint16(0), uint16(65535), uint8(9), true, true)
	f.Fuzz(func(t *testing.T, project, network, container, target, bridge string, subnet []byte, bits uint8,
		hostIP []byte, hostPort, containerPort uint16, proto uint8, internal, icc bool) {
		if o, ok := fuzzObjects(project, network, container, target, bridge, subnet, bits, hostIP, hostPort, containerPort, proto, internal, icc); ok {
			check(t, o)
		}
	})
}

// fuzzObjects builds the objects from a fuzzer's values; ok is false when
// they make no IPv4 subnet at all.
func fuzzObjects(project, network, container, target, bridge string, subnet []byte, bits uint8,
	hostIP []byte, hostPort, containerPort uint16, proto uint8, internal, icc bool) (Fuzzed, bool) {
	a4, ok := netip.AddrFromSlice(subnet)
	if !ok || !a4.Is4() {
		return Fuzzed{}, false
	}
	pfx, err := a4.Prefix(int(bits))
	if err != nil || pfx.Bits() > 30 {
		return Fuzzed{}, false
	}
	fw := model.NewFirewall()
	n := &model.NetworkRules{Project: project, Name: network, Bridge: bridge, Subnet: pfx, Internal: internal, ICC: icc}
	fw.Networks[n.ID()] = n
	inside := pfx.Addr().Next().Next()
	p := &model.PortRule{Project: project, Container: container, Target: inside,
		Port: model.Port{HostPort: hostPort, ContainerPort: containerPort, Proto: []string{"tcp", "udp", "sctp", "icmp"}[proto%4]}}
	if ip, ok := netip.AddrFromSlice(hostIP); ok {
		p.HostIP = ip
	}
	fw.Ports[p.Key()] = p
	l := &model.LinkRule{Project: project, Container: container, Target: target, Bridge: bridge,
		Src: inside, Dst: inside.Next(), Port: containerPort, Proto: p.Proto}
	fw.Links[l.Key()] = l
	return Fuzzed{FW: fw, Network: n, Port: p, Link: l, Project: project}, true
}
