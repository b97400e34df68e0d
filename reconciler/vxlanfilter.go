package reconciler

import (
	"maps"

	"github.com/netctl/netctl/model"
)

// vxlanFilter is the filter an overlay network's VXLAN endpoint needs on
// this node: only the file's other nodes may send to it (nil for a bridge
// network).
func vxlanFilter(ov *model.Overlay) *model.VXLANFilter {
	if ov == nil {
		return nil
	}
	return &model.VXLANFilter{Local: ov.Local, Port: ov.Port, Peers: ov.Peers}
}

// withoutVXLANFilters is want without its VXLAN filters when the observed
// backend does not render them (have.VXLANFiltered false), so that the
// plan neither asks for them nor reports their absence as drift forever.
func withoutVXLANFilters(want, have *model.Firewall) *model.Firewall {
	if have.VXLANFiltered {
		return want
	}
	out := *want
	out.Networks = make(map[string]*model.NetworkRules, len(want.Networks))
	for id, n := range maps.All(want.Networks) {
		if n.VXLAN != nil {
			c := *n
			c.VXLAN = nil
			n = &c
		}
		out.Networks[id] = n
	}
	return &out
}
