package iptables

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/netctl/netctl/model"
)

// bigFirewall is n containers on 4 networks, each publishing 2 ports.
func bigFirewall(n int) *model.Firewall {
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

func BenchmarkBuildScriptCold(b *testing.B) {
	fw := bigFirewall(1000)
	d, _ := parseSave(emptySave)
	o := classify(d)
	batch := batchFor("bench", fw)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := buildScript(o, batch); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkObserve(b *testing.B) {
	out, err := Render(bigFirewall(1000))
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d, err := parseSave(out)
		if err != nil {
			b.Fatal(err)
		}
		classify(d)
	}
}
