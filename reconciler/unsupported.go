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
	for _, n := range t.Networks {
		// An overlay's dynamic addresses come from per-node blocks of its
		// subnet; IPv6 has no such blocks yet, so two nodes would hand out
		// the same IPv6 address.
		if n.EnableIPv6 && n.Driver == spec.DriverOverlay {
			add(fieldPos(n.FieldPos, "enable_ipv6", n.Pos), "network "+n.Name+": enable_ipv6 on an overlay network")
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

func fieldPos(m map[string]spec.Pos, key string, def spec.Pos) spec.Pos {
	if p, ok := m[key]; ok {
		return p
	}
	return def
}
