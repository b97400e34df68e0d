package reconciler

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/netctl/netctl/model"
	"github.com/netctl/netctl/spec"
)

// ResolveNode says which node of the file this host is: the one named by
// node (--node), else the one whose address the host holds (local, with
// the MTU of the link that holds it). A file without nodes needs neither.
// local nil means the host is unknown (diff --from): --node is then
// required for a file with nodes, and its address is not checked.
func ResolveNode(t *spec.Topology, node string, local map[netip.Addr]int) (*spec.Node, error) {
	if len(t.Nodes) == 0 {
		if node != "" {
			return nil, fmt.Errorf("--node %s: %s has no nodes: section", node, t.File)
		}
		return nil, nil
	}
	if node != "" {
		for _, n := range t.Nodes {
			if n.Name == node {
				if _, ok := local[n.Address]; local != nil && !ok {
					return nil, fmt.Errorf("--node %s: this host does not hold the node's address %s (VXLAN needs it as the local endpoint)", node, n.Address)
				}
				return n, nil
			}
		}
		return nil, fmt.Errorf("--node %s: not a node of %s (nodes: %s)", node, t.File, nodeNames(t.Nodes))
	}
	var mine []*spec.Node
	for _, n := range t.Nodes {
		if _, ok := local[n.Address]; ok {
			mine = append(mine, n)
		}
	}
	switch len(mine) {
	case 1:
		return mine[0], nil
	case 0:
		return nil, fmt.Errorf("this host holds none of the addresses of %s's nodes (%s): use --node NAME", t.File, nodeNames(t.Nodes))
	}
	return nil, fmt.Errorf("this host holds the addresses of several nodes (%s): use --node NAME", nodeNames(mine))
}

func nodeNames(nodes []*spec.Node) string {
	names := make([]string, len(nodes))
	for i, n := range nodes {
		names[i] = n.Name
	}
	return strings.Join(names, ", ")
}

// runsHere reports whether the container belongs on this node: every
// container on one host, and on several those whose node is this one or
// that name no node (bridge-only containers run on every node, as each
// node's own bridge networks are its own).
func runsHere(sc *spec.Container, self *spec.Node) bool {
	return sc.Node == "" || self == nil || sc.Node == self.Name
}

// modelNodes converts the file's nodes.
func modelNodes(t *spec.Topology) []model.Node {
	out := make([]model.Node, len(t.Nodes))
	for i, n := range t.Nodes {
		out[i] = model.Node{Name: n.Name, Address: n.Address}
	}
	return out
}

// desireOverlays completes the overlay networks of d for this node: the
// VXLAN device (VNI, local address, peers), the node's address block and,
// unless the file sets one, the MTU the encapsulation leaves.
func desireOverlays(t *spec.Topology, self *spec.Node, underlayMTU int, observed, d *model.State) error {
	if self == nil {
		return nil
	}
	sorted := model.SortedNodes(modelNodes(t))
	index := slices.IndexFunc(sorted, func(n model.Node) bool { return n.Name == self.Name })
	var peers []netip.Addr
	for _, n := range sorted {
		if n.Name != self.Name {
			peers = append(peers, n.Address)
		}
	}
	slices.SortFunc(peers, func(a, b netip.Addr) int { return a.Compare(b) })
	for _, sn := range t.Networks {
		if sn.Driver != spec.DriverOverlay {
			continue
		}
		n := d.Networks[model.NetworkID(t.Name, sn.Name)]
		if n == nil {
			continue
		}
		vni := sn.VNI
		if vni == 0 {
			vni = model.DerivedVNI(t.Name, sn.Name)
		}
		rng := n.Subnet
		if n.IPRange.IsValid() {
			rng = n.IPRange
		}
		block, err := model.NodeBlock(rng, index, len(sorted))
		if err != nil {
			return fmt.Errorf("network %s: %w", sn.Name, err)
		}
		n.Overlay = &model.Overlay{
			VNI: vni, VXLAN: model.VXLANName(t.Name, sn.Name), Local: self.Address,
			Port: model.VXLANPort, Node: self.Name, Peers: peers, Block: block,
		}
		if n.EnableIPv6 {
			// subnet_v6 is cut like the IPv4 range, by the same node order.
			if n.Overlay.BlockV6, err = model.NodeBlock(n.SubnetV6, index, len(sorted)); err != nil {
				return fmt.Errorf("network %s: subnet_v6: %w", sn.Name, err)
			}
			n.LinkLocal = model.OverlayLinkLocal(self.Address)
		}
		if _, set := sn.FieldPos["mtu"]; !set {
			n.MTU = underlayMTU - model.VXLANOverhead
			// Inner IPv6 over the IPv4 underlay costs the same 50 bytes;
			// an explicit mtu below the minimum is spec's error.
			if n.EnableIPv6 && n.MTU < model.MinIPv6MTU {
				return fmt.Errorf("network %s: the overlay's mtu would be %d (the underlay's %d less %d of VXLAN), below the %d IPv6 needs: raise the underlay's MTU or drop enable_ipv6", sn.Name, n.MTU, underlayMTU, model.VXLANOverhead, model.MinIPv6MTU)
			}
		}
		for _, id := range observed.SortedNetworkIDs() {
			o := observed.Networks[id]
			if id != n.ID() && o.Overlay != nil && o.Overlay.VNI == vni {
				return fmt.Errorf("network %s: vni %d is already used by network %s on this host; set another vni", sn.Name, vni, id)
			}
		}
	}
	return nil
}

// remoteRecords are the DNS names of the containers other nodes run on
// the overlay network n, each with its node's address: this node's DNS
// server asks that node for their addresses, which only it knows (it
// allocated them, and they are sticky there).
func remoteRecords(t *spec.Topology, self *spec.Node, n *model.Network) []model.DNSRemote {
	if self == nil || n.Overlay == nil {
		return nil
	}
	addrOf := map[string]netip.Addr{}
	for _, nd := range t.Nodes {
		addrOf[nd.Name] = nd.Address
	}
	var out []model.DNSRemote
	for _, sc := range t.Containers {
		if runsHere(sc, self) {
			continue
		}
		for _, a := range sc.Networks {
			if a.Network != n.Name {
				continue
			}
			c := &model.Container{Name: sc.Name, Hostname: sc.Hostname}
			out = append(out, model.DNSRemote{Container: sc.Name, Node: addrOf[sc.Node],
				Names: recordNames(c, &model.Endpoint{Aliases: a.Aliases})})
		}
	}
	slices.SortFunc(out, func(a, b model.DNSRemote) int { return strings.Compare(a.Container, b.Container) })
	return out
}

// underlayMTU is the MTU of the link holding this node's address, or the
// default when the host is unknown.
func underlayMTU(self *spec.Node, local map[netip.Addr]int) int {
	if self != nil {
		if mtu, ok := local[self.Address]; ok && mtu > 0 {
			return mtu
		}
	}
	return model.DefaultMTU
}

// addOverlayNames lets the project's DNS configuration reach across
// nodes: remote containers' names on each overlay network, and the
// underlay listener other nodes ask.
func addOverlayNames(t *spec.Topology, self *spec.Node, d *model.State, cfg *model.DNS) {
	if cfg == nil || self == nil {
		return
	}
	peers := &model.DNSPeers{Listen: self.Address}
	for _, n := range t.Nodes {
		if n.Name != self.Name {
			peers.Nodes = append(peers.Nodes, n.Address)
		}
	}
	slices.SortFunc(peers.Nodes, func(a, b netip.Addr) int { return a.Compare(b) })
	for i := range cfg.Networks {
		dn := &cfg.Networks[i]
		n := d.Networks[dn.ID]
		if n == nil || n.Overlay == nil {
			continue
		}
		dn.Remote = remoteRecords(t, self, n)
		peers.Networks = append(peers.Networks, dn.ID)
	}
	if len(peers.Networks) > 0 {
		cfg.Peers = peers
	}
}

// overlayDetails describe an overlay network's VXLAN side in a plan.
func overlayDetails(n *model.Network) []string {
	ov := n.Overlay
	if ov == nil {
		return nil
	}
	return []string{
		fmt.Sprintf("vxlan %s vni %d local %s dstport %d", ov.VXLAN, ov.VNI, ov.Local, ov.Port),
		"peers " + addrList(ov.Peers),
		fmt.Sprintf("node %s allocates from %s", ov.Node, blocks(ov)),
	}
}

// blocks names the node's address blocks, both families on dual stack.
func blocks(ov *model.Overlay) string {
	if ov.BlockV6.IsValid() {
		return ov.Block.String() + " and " + ov.BlockV6.String()
	}
	return ov.Block.String()
}

// overlayChanges lists the differences of the VXLAN side, fixed in place.
func overlayChanges(d, o *model.Overlay) []string {
	var c changes
	switch {
	case d == nil && o == nil:
		return nil
	case d == nil:
		return []string{"vxlan " + o.VXLAN + ": not an overlay any more"}
	case o == nil || !o.DeviceOK:
		return []string{"vxlan " + d.VXLAN + ": missing, down or not on the bridge"}
	}
	c.str("vxlan", o.VXLAN, d.VXLAN)
	c.str("vni", fmt.Sprint(o.VNI), fmt.Sprint(d.VNI))
	c.str("local", addrString(o.Local), addrString(d.Local))
	c.str("dstport", fmt.Sprint(o.Port), fmt.Sprint(d.Port))
	c.str("peers", addrList(o.Peers), addrList(d.Peers))
	return c
}

func addrList(addrs []netip.Addr) string {
	if len(addrs) == 0 {
		return "(none)"
	}
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return strings.Join(s, ",")
}

// planNode is the node a desired state was computed for, or "".
func planNode(d *model.State) string {
	for _, n := range d.Networks {
		if n.Overlay != nil {
			return n.Overlay.Node
		}
	}
	return ""
}

// nodeBefore adapts a per-node review to the old file: a node the old file
// did not have ran nothing of it (ok false), and an old file without nodes
// ran on the host whatever its name.
func nodeBefore(old *spec.Topology, opt Options) (Options, bool) {
	if opt.Node == "" {
		return opt, true
	}
	if len(old.Nodes) == 0 {
		opt.Node = ""
		return opt, true
	}
	return opt, slices.ContainsFunc(old.Nodes, func(n *spec.Node) bool { return n.Name == opt.Node })
}

// NodeNames lists the file's nodes by name, sorted: a review without
// --node shows one plan per node.
func NodeNames(t *spec.Topology) []string {
	var out []string
	for _, n := range model.SortedNodes(modelNodes(t)) {
		out = append(out, n.Name)
	}
	return out
}
