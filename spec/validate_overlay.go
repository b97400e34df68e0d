package spec

import (
	"fmt"

	"github.com/netctl/netctl/model"
)

// overlay checks what an overlay network needs so that every node builds
// the same network from the file alone.
func (v *validator) overlay(n *Network, explicitSubnet bool) {
	fp := n.FieldPos
	ctx := fmt.Sprintf("network %q", n.Name)
	if len(v.t.Nodes) == 0 && !v.info.brokenNodes {
		v.c.Addf(fp["driver"], "%s: an overlay network needs nodes: (the hosts it spans)", ctx)
	}
	if _, has := fp["subnet"]; !has && !explicitSubnet {
		// A subnet picked from the pool would depend on each node's routes,
		// and the nodes would disagree.
		v.c.Addf(fp["driver"], "%s: an overlay network needs subnet: (every node must derive the same addresses)", ctx)
	}
	vni, pos := n.VNI, fp["vni"]
	if vni == 0 {
		vni, pos = model.DerivedVNI(v.t.Name, n.Name), fp["driver"]
	}
	if v.vnis == nil {
		v.vnis = map[uint32]*Network{}
	}
	if first, dup := v.vnis[vni]; dup {
		how := "set"
		if n.VNI == 0 {
			how = "derived"
		}
		v.c.Addf(pos, "%s: vni %d (%s) is already network %q's (at %s); set another vni", ctx, vni, how, first.Name, at(first.Pos))
		return
	}
	v.vnis[vni] = n
}

// onOtherNodes reports whether two containers run on different nodes, so
// that they can publish the same host port.
func onOtherNodes(a, b *Container) bool {
	return a.Node != "" && b.Node != "" && a.Node != b.Node
}

// linkAcrossNodes reports whether a link from ct to target would cross
// nodes: a link writes the target's address into ct's hosts file and
// environment and opens the target's ports to ct's address, at apply time,
// and a node learns a remote container's address only by asking its node's
// DNS server. A container on no node runs on every node, so a link to a
// container that has a node crosses nodes everywhere but there.
func linkAcrossNodes(ct, target *Container) bool {
	return target.Node != "" && ct.Node != target.Node
}

// nodeOf says where ct runs, for messages.
func nodeOf(ct *Container) string {
	if ct.Node == "" {
		return "on every node"
	}
	return fmt.Sprintf("on node %q", ct.Node)
}
