package iptables

import (
	"strings"
	"testing"

	"github.com/netctl/netctl/internal/fwtest"
)

// FuzzRestoreInput builds netctl's rules from arbitrary objects (names,
// addresses, ports, flags, as a file or a hand-edited host could make
// them) through the restore-input builders. Whenever they accept the
// objects: the text parses back line by line (no name may split a
// comment, a rule or a line), iptables-save's reading of it is exactly
// those objects (nothing damaged, nothing stray), and planning the same
// objects against it writes nothing (the builders are idempotent).
func FuzzRestoreInput(f *testing.F) {
	fwtest.Fuzz(f, func(t *testing.T, obj fwtest.Fuzzed) {
		fw, n, p, l, project := obj.FW, obj.Network, obj.Port, obj.Link, obj.Project

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
		o := classify(d, "", false)
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
