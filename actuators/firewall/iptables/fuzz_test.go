package iptables

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/netctl/netctl/model"
)

// FuzzRestoreInput builds netctl's rules from arbitrary objects (names,
// addresses, ports, flags, as a file or a hand-edited host could make
// them) through the restore-input builders. Whenever they accept the
// objects: the text parses back line by line (no name may split a
// comment, a rule or a line), iptables-save's reading of it is exactly
// those objects (nothing damaged, nothing stray), and planning the same
// objects against it writes nothing (the builders are idempotent).
func FuzzRestoreInput(f *testing.F) {
	f.Add("shop", "backend", "web", "db", "br-backend", []byte{172, 18, 0, 0}, uint8(16), []byte{127, 0, 0, 1}, uint16(8080), uint16(80), uint8(0), false, true)
	f.Add("", "bridge", "app", "x", "netctl0", []byte{172, 17, 0, 0}, uint8(16), []byte{}, uint16(53), uint16(53), uint8(1), false, true)
	f.Add("p", "n", "c", "d", "br-1a2b3c4d5e6f", []byte{10, 250, 0, 0}, uint8(24), []byte{10, 250, 0, 1}, uint16(9000), uint16(9000), uint8(2), true, false)
	f.Add("a\"b", "n\n-A X", "c' --x", "d", "br x", []byte{1, 2, 3, 4}, uint8(33), []byte{0, 0, 0, 0}, uint16(0), uint16(65535), uint8(9), true, true)

	f.Fuzz(func(t *testing.T, project, network, container, target, bridge string, subnet []byte, bits uint8,
		hostIP []byte, hostPort, containerPort uint16, proto uint8, internal, icc bool) {
		fw := model.NewFirewall()
		a4, ok := netip.AddrFromSlice(subnet)
		if !ok || !a4.Is4() {
			return
		}
		pfx, err := a4.Prefix(int(bits))
		if err != nil || pfx.Bits() > 30 {
			return
		}
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

		text, err := Render(fw)
		if err != nil {
			return // refused: fine, as long as nothing was written
		}
		for _, line := range strings.Split(text, "\n") {
			if strings.Count(line, `"`)%2 != 0 {
				t.Fatalf("unbalanced quotes in %q", line)
			}
		}
		d, err := parseSave(text)
		if err != nil {
			t.Fatalf("rendered text does not parse back: %v\n%s", err, text)
		}
		o := classify(d, "")
		// (Render declares only chains with rules, so an empty base chain
		// may read back as missing; the objects are what is checked.)
		if len(o.fw.Stray) > 0 {
			t.Fatalf("rendered rules read back with strays %v\n%s", o.fw.Stray, text)
		}
		if got := o.fw.Networks[n.ID()]; got == nil || !got.Equal(n) || got.Damaged {
			t.Fatalf("network read back as %+v, want %+v\n%s", got, n, text)
		}
		if got := o.fw.Ports[p.Key()]; got == nil || got.String() != p.String() || got.Damaged {
			t.Fatalf("port read back as %+v, want %+v\n%s", got, p, text)
		}
		if got := o.fw.Links[l.Key()]; got == nil || got.String() != l.String() || got.Damaged {
			t.Fatalf("link read back as %+v, want %+v\n%s", got, l, text)
		}
		batch := batchFor(project, fw)
		batch.Base = false
		again, err := buildScript(o, batch)
		if err != nil {
			t.Fatalf("planning the rendered objects again: %v", err)
		}
		if again != "" {
			t.Fatalf("planning the rendered objects again writes:\n%s", again)
		}
	})
}
