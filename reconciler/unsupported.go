package reconciler

import (
	"sort"

	"github.com/netctl/netctl/spec"
)

// Unsupported lists the settings of a valid topology that this build cannot
// carry out yet, each at its position. Apply refuses them rather than
// silently ignoring them.
func Unsupported(t *spec.Topology) error {
	var errs spec.Errors
	add := func(pos spec.Pos, what string) {
		errs = append(errs, &spec.Error{File: t.File, Pos: pos, Msg: what + ": not implemented yet"})
	}
	for _, n := range t.Nodes {
		// The VXLAN devices, their filter and the DNS between nodes speak
		// IPv4 on the underlay; an overlay carries IPv6 inside it.
		if n.Address.Is6() {
			add(n.Pos, "node "+n.Name+": address "+n.Address.String()+": an IPv6 underlay")
		}
	}
	if len(errs) == 0 {
		return nil
	}
	sort.SliceStable(errs, func(i, j int) bool {
		if errs[i].Pos.Line != errs[j].Pos.Line {
			return errs[i].Pos.Line < errs[j].Pos.Line
		}
		return errs[i].Pos.Column < errs[j].Pos.Column
	})
	return errs
}
