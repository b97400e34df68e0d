package nftables

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/netctl/netctl/model"
)

// bigFirewall is n containers on 4 networks, each publishing 2 ports: the
// objects of bench/nftables.sh's topology.
func bigFirewall(n int) *model.Firewall {
	fw := model.NewFirewall()
	for i := 0; i < 4; i++ {
		nw := &model.NetworkRules{Project: "bench", Name: fmt.Sprintf("net%d", i+1), Bridge: fmt.Sprintf("br-%d", i),
			Subnet: netip.MustParsePrefix(fmt.Sprintf("172.%d.0.0/16", 20+i)), ICC: true}
		fw.Networks[nw.ID()] = nw
	}
	for i := 0; i < n; i++ {
		target := netip.AddrFrom4([4]byte{172, byte(20 + i%4), byte((i / 4) >> 8), byte(2 + (i/4)&0xff)})
		for k, hp := range []uint16{uint16(10000 + 2*i), uint16(32768 + i)} {
			p := &model.PortRule{Project: "bench", Container: fmt.Sprintf("c%d", i+1), Target: target,
				Port: model.Port{HostPort: hp, ContainerPort: uint16(8080 + k), Proto: "tcp"}}
			fw.Ports[p.Key()] = p
		}
	}
	return fw
}

func BenchmarkClassify1000(b *testing.B) {
	r, err := tableFor(objectsOf(bigFirewall(1000)))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		classify(r)
	}
}

func BenchmarkPlanNoChange1000(b *testing.B) {
	fw := bigFirewall(1000)
	r, err := tableFor(objectsOf(fw))
	if err != nil {
		b.Fatal(err)
	}
	s := classify(r)
	batch := batchFor(fw, "bench")
	for b.Loop() {
		if _, err := plan(s, batch); err != nil {
			b.Fatal(err)
		}
	}
}
