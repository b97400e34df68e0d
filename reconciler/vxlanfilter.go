package reconciler

import "github.com/netctl/netctl/model"

// vxlanFilter is the filter an overlay network's VXLAN endpoint needs on
// this node: only the file's other nodes may send to it (nil for a bridge
// network).
func vxlanFilter(ov *model.Overlay) *model.VXLANFilter {
	if ov == nil {
		return nil
	}
	return &model.VXLANFilter{VNI: ov.VNI, Local: ov.Local, Port: ov.Port, Peers: ov.Peers}
}
