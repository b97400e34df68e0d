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

// peerDNS is the exemption from the DNATs an overlay network needs on this
// node: the other nodes' DNS servers ask this node's on its underlay
// address (addOverlayNames' DNSPeers: Listen is the VXLAN local address,
// Nodes the VXLAN peers), and a port 53 published on every host address
// must not take those queries (nil for a bridge network).
func peerDNS(ov *model.Overlay) *model.PeerDNS {
	if ov == nil {
		return nil
	}
	return &model.PeerDNS{Listen: ov.Local, Peers: ov.Peers}
}
