package nftables

import (
	"testing"

	"github.com/netctl/netctl/internal/fwtest"
)

// FuzzTableInput builds netctl's table from arbitrary objects (names,
// addresses, ports, flags, as a file or a hand-edited host could make
// them) through the nftables input builders. Whenever they accept the
// objects: reading the table back gives exactly those objects (nothing
// damaged, nothing stray), and planning the same objects against it
// changes nothing (the builders are idempotent).
func FuzzTableInput(f *testing.F) {
	fwtest.Fuzz(f, func(t *testing.T, obj fwtest.Fuzzed) {
		fw, n, p, l, project := obj.FW, obj.Network, obj.Port, obj.Link, obj.Project

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
