package iptables

import (
	"testing"

	"github.com/netctl/netctl/internal/fwtest"
)

func BenchmarkBuildScriptCold(b *testing.B) {
	fw := fwtest.BigFirewall(1000)
	d, _ := parseSave(emptySave)
	o := classify(d, "", false)
	batch := batchFor("bench", fw)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := buildScript(o, batch); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkObserve(b *testing.B) {
	out, err := Render(fwtest.BigFirewall(1000))
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d, err := parseSave(out)
		if err != nil {
			b.Fatal(err)
		}
		classify(d, "", false)
	}
}
