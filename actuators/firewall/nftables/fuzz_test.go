package nftables

import (
	"net/netip"
	"testing"

	"github.com/netctl/netctl/model"
)

// FuzzTableInput builds netctl's table from arbitrary objects (names,
// addresses, ports, flags, as a file or a hand-edited host could make
// them) through the nftables input builders. Whenever they accept the
// objects: reading the table back gives exactly those objects (nothing
// damaged, nothing stray), and planning the same objects against it
// changes nothing (the builders are idempotent).
func FuzzTableInput(f *testing.F) {
	f.Add("shop", "backend", "web", "db", "br-backend", []byte{172, 18, 0, 0}, uint8(16), []byte{127, 0, 0, 1}, uint16(8080), uint16(80), uint8(0), false, true)
	f.Add("", "bridge", "app", "x", "netctl0", []byte{172, 17, 0, 0}, uint8(16), []byte{}, uint16(53), uint16(53), uint8(1), false, true)
	f.Add("p", "n", "c", "d", "br-1a2b3c4d5e6f", []byte{10, 250, 0, 0}, uint8(24), []byte{10, 250, 0, 1}, uint16(9000), uint16(9000), uint8(2), true, false)
	f.Add("a\"b", "n\n-A X", "c' --x", "d", "br x", []byte{1, 2, 3, 4}, uint8(33), []byte{0, 0, 0, 0}, uint16(0), uint16(65535), uint8(9), true, true)

	f.Fuzz(func(t *testing.T, project, network, container, target, bridge string, subnet []byte, bits uint8,
		hostIP []byte, hostPort, containerPort uint16, proto uint8, internal, icc bool) {
		a4, ok := netip.AddrFromSlice(subnet)
		if !ok || !a4.Is4() {
			return
		}
		pfx, err := a4.Prefix(int(bits))
		if err != nil || pfx.Bits() > 30 {
			return
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

		r, err := tableFor(objectsOf(fw))
		if err != nil {
			return // refused: fine
		}
		s := classify(r)
		if len(s.fw.BaseMissing) > 0 || len(s.fw.Stray) > 0 {
			t.Fatalf("the table reads back with base missing %v, strays %v", s.fw.BaseMissing, s.fw.Stray)
		}
		if got := s.fw.Networks[n.ID()]; got == nil || *got != *n {
			t.Fatalf("network read back as %+v, want %+v", got, n)
		}
		if got := s.fw.Ports[p.Key()]; got == nil || *got != *p {
			t.Fatalf("port read back as %+v, want %+v", got, p)
		}
		if got := s.fw.Links[l.Key()]; got == nil || *got != *l {
			t.Fatalf("link read back as %+v, want %+v", got, l)
		}
		tx, err := plan(s, batchFor(fw, project))
		if err != nil {
			t.Fatalf("planning the objects again: %v", err)
		}
		if !tx.empty() {
			t.Fatalf("planning the objects again changes %+v", tx)
		}
	})
}
