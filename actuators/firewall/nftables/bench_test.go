package nftables

import (
	"testing"

	"github.com/netctl/netctl/internal/fwtest"
)

func BenchmarkClassify1000(b *testing.B) {
	r, err := tableFor(objectsOf(fwtest.BigFirewall(1000)))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		classify(r)
	}
}

func BenchmarkPlanNoChange1000(b *testing.B) {
	fw := fwtest.BigFirewall(1000)
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
