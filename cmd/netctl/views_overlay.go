package main

import (
	"fmt"

	"github.com/netctl/netctl/model"
)

// networkScope is Docker's scope of a network: "swarm" for an overlay
// (it spans nodes), "local" otherwise.
func networkScope(n *model.Network) string {
	if n.Driver == model.DriverOverlay {
		return "swarm"
	}
	return "local"
}

// addOverlayView adds what docker network inspect shows of an overlay:
// its scope, VXLAN id and peers.
func addOverlayView(v *NetworkView, n *model.Network) {
	v.Scope = networkScope(n)
	ov := n.Overlay
	if ov == nil {
		return
	}
	v.Options["com.docker.network.driver.overlay.vxlanid_list"] = fmt.Sprint(ov.VNI)
	v.Options["netctl.overlay.vxlan"] = ov.VXLAN
	v.Options["netctl.overlay.local"] = ov.Local.String()
	for _, p := range ov.Peers {
		v.Peers = append(v.Peers, PeerView{Name: p.String(), IP: p.String()})
	}
}

// anyNode reports whether some container runs as a node of an overlay
// topology: ps then shows a NODE column.
func anyNode(st *model.State) bool {
	for _, c := range st.Containers {
		if c.Node != "" {
			return true
		}
	}
	return false
}
