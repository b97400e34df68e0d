package netlink

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	vnl "github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/internal/nlraw"
	"github.com/netctl/netctl/model"
)

// An overlay network on one node is its bridge plus a VXLAN device
// enslaved to it. The device carries the bridge's mark (a second kind of
// port the bridge owns), learns remote MACs from traffic, and floods
// broadcast and unknown unicast to every other node through one all-zeros
// forwarding entry per node (head-end replication): the entries grow with
// the nodes, never with the containers.

// zeroMAC is the destination of head-end replication entries.
var zeroMAC = net.HardwareAddr{0, 0, 0, 0, 0, 0}

// ensureOverlay brings the VXLAN side of n to what n says, on bridge br: a
// device with n's VNI, local address and port, enslaved and up, and
// exactly one replication entry per peer. A bridge network has no device:
// one left from an earlier overlay is deleted.
func (l *Links) ensureOverlay(n *model.Network, br vnl.Link) error {
	ov := n.Overlay
	if ov == nil {
		return l.deleteVXLAN(n)
	}
	if err := checkIfName(ov.VXLAN); err != nil {
		return err
	}
	mark := l.bridgeMark(n)
	log := l.log.With().Str("vxlan", ov.VXLAN).Str("network", n.ID()).Logger()
	dev, err := linkByName(l.host, ov.VXLAN)
	if err != nil {
		return err
	}
	if dev != nil {
		if !ownedBy(dev, mark) || dev.Type() != "vxlan" {
			return fmt.Errorf("vxlan %s: %w", ov.VXLAN, notOwnedError(dev))
		}
		if vx, ok := dev.(*vnl.Vxlan); !ok || !vxlanMatches(vx, ov) {
			// VNI, local address and port cannot change on a live device.
			if err := l.host.LinkDel(dev); err != nil && !linkGone(err) {
				return fmt.Errorf("vxlan %s: delete to recreate: %w", ov.VXLAN, err)
			}
			log.Debug().Msg("deleted vxlan device to recreate it")
			dev = nil
		}
	}
	if dev == nil {
		la := vnl.NewLinkAttrs()
		la.Name = ov.VXLAN
		la.MTU = n.MTU
		la.Group = creationGroup
		la.MasterIndex = br.Attrs().Index
		vx := &vnl.Vxlan{
			LinkAttrs: la,
			VxlanId:   int(ov.VNI),
			SrcAddr:   net.IP(ov.Local.AsSlice()),
			Port:      int(ov.Port),
			Learning:  true,
		}
		if err := l.host.LinkAdd(vx); err != nil {
			return fmt.Errorf("vxlan %s: create (vni %d, local %s): %w", ov.VXLAN, ov.VNI, ov.Local, err)
		}
		if dev, err = linkByName(l.host, ov.VXLAN); err != nil || dev == nil {
			return fmt.Errorf("vxlan %s: vanished after creation: %w", ov.VXLAN, err)
		}
		log.Debug().Uint32("vni", ov.VNI).Msg("created vxlan device")
	}
	a := dev.Attrs()
	if a.Alias != mark {
		if err := l.host.LinkSetAlias(dev, mark); err != nil {
			return fmt.Errorf("vxlan %s: set mark: %w", ov.VXLAN, err)
		}
	}
	if n.MTU > 0 && a.MTU != n.MTU {
		if err := l.host.LinkSetMTU(dev, n.MTU); err != nil {
			return fmt.Errorf("vxlan %s: set mtu %d: %w", ov.VXLAN, n.MTU, err)
		}
	}
	if a.MasterIndex != br.Attrs().Index {
		if err := l.host.LinkSetMasterByIndex(dev, br.Attrs().Index); err != nil {
			return fmt.Errorf("vxlan %s: enslave to %s: %w", ov.VXLAN, n.Bridge, err)
		}
	}
	if !isUp(dev) {
		if err := l.host.LinkSetUp(dev); err != nil {
			return fmt.Errorf("vxlan %s: set up: %w", ov.VXLAN, err)
		}
	}
	return l.syncFlood(dev, ov.Peers)
}

func vxlanMatches(vx *vnl.Vxlan, ov *model.Overlay) bool {
	local, _ := netip.AddrFromSlice(vx.SrcAddr)
	return uint32(vx.VxlanId) == ov.VNI && local.Unmap() == ov.Local && vx.Port == int(ov.Port)
}

// syncFlood makes the device's all-zeros entries exactly one per peer.
func (l *Links) syncFlood(dev vnl.Link, peers []netip.Addr) error {
	have, err := l.floodPeers(dev.Attrs().Index)
	if err != nil {
		return err
	}
	for _, p := range peers {
		if slices.Contains(have, p) {
			continue
		}
		if err := l.host.NeighAppend(floodEntry(dev.Attrs().Index, p)); err != nil {
			return fmt.Errorf("vxlan %s: add peer %s: %w", dev.Attrs().Name, p, err)
		}
	}
	for _, p := range have {
		if slices.Contains(peers, p) {
			continue
		}
		if err := l.host.NeighDel(floodEntry(dev.Attrs().Index, p)); err != nil && !linkGone(err) {
			return fmt.Errorf("vxlan %s: remove peer %s: %w", dev.Attrs().Name, p, err)
		}
	}
	return nil
}

func floodEntry(index int, peer netip.Addr) *vnl.Neigh {
	return &vnl.Neigh{
		LinkIndex:    index,
		Family:       unix.AF_BRIDGE,
		State:        unix.NUD_PERMANENT | unix.NUD_NOARP,
		Flags:        unix.NTF_SELF,
		IP:           net.IP(peer.AsSlice()),
		HardwareAddr: zeroMAC,
	}
}

// floodPeers lists the destinations of the device's all-zeros entries.
func (l *Links) floodPeers(index int) ([]netip.Addr, error) {
	entries, err := l.host.NeighList(index, unix.AF_BRIDGE)
	if err != nil {
		return nil, fmt.Errorf("list forwarding entries: %w", err)
	}
	var out []netip.Addr
	for _, e := range entries {
		if e.LinkIndex != index || !bytes.Equal(e.HardwareAddr, zeroMAC) || e.IP == nil {
			continue
		}
		if a, ok := netip.AddrFromSlice(e.IP); ok && !slices.Contains(out, a.Unmap()) {
			out = append(out, a.Unmap())
		}
	}
	slices.SortFunc(out, func(a, b netip.Addr) int { return a.Compare(b) })
	return out, nil
}

// deleteVXLAN deletes n's VXLAN device; absent is success. Deleting a
// bridge leaves its ports, so DeleteBridge calls this first.
func (l *Links) deleteVXLAN(n *model.Network) error {
	name := model.VXLANName(n.Project, n.Name)
	dev, err := linkByName(l.host, name)
	if err != nil || dev == nil {
		return err
	}
	if !ownedBy(dev, l.bridgeMark(n)) || dev.Type() != "vxlan" {
		return nil // not ours: never touched
	}
	if err := l.host.LinkDel(dev); err != nil && !linkGone(err) {
		return fmt.Errorf("vxlan %s: delete: %w", name, err)
	}
	l.log.Debug().Str("vxlan", name).Str("network", n.ID()).Msg("deleted vxlan device")
	return nil
}

// isOverlayPort reports whether a bridge port is the network's own VXLAN
// device, which is no foreign port.
func (l *Links) isOverlayPort(p nlraw.Link, networkID string) bool {
	o, ok := l.owner(p.Alias)
	return ok && o.Container == "" && p.Kind == "vxlan" && model.NetworkID(o.Project, o.Network) == networkID
}

// addOverlays reads the VXLAN side of every observed network whose bridge
// has its VXLAN device: VNI, local address, port (one request per device)
// and the replication entries.
func (l *Links) addOverlays(st *model.State, host *hostView, bridges map[string]int) error {
	for _, p := range host.links {
		if p.Kind != "vxlan" {
			continue
		}
		o, ok := l.owner(p.Alias)
		if !ok || o.Container != "" {
			continue
		}
		n := st.Networks[model.NetworkID(o.Project, o.Network)]
		if n == nil {
			continue
		}
		dev, err := l.host.LinkByIndex(p.Index)
		if err != nil {
			if linkGone(err) {
				continue
			}
			return fmt.Errorf("vxlan %s: %w", p.Name, err)
		}
		vx, ok := dev.(*vnl.Vxlan)
		if !ok {
			continue
		}
		local, _ := netip.AddrFromSlice(vx.SrcAddr)
		ov := &model.Overlay{
			VNI: uint32(vx.VxlanId), VXLAN: p.Name, Local: local.Unmap(), Port: uint16(vx.Port),
			DeviceOK: p.Up && p.Master == bridges[n.ID()] && p.Master != 0,
		}
		if ov.Peers, err = l.floodPeers(p.Index); err != nil {
			return fmt.Errorf("vxlan %s: %w", p.Name, err)
		}
		n.Overlay = ov
	}
	return nil
}

// LocalAddrs maps every IPv4 address of the host namespace to the MTU of
// the link that holds it: how a node recognises itself in a file's nodes
// and what its overlays' MTU is derived from. Only the links holding an
// address are asked for, one by one: a dump of every host link costs the
// kernel a walk over the namespace ids per veth (7 ms at 1,000
// containers, most of a second at 10,000), for the MTU of a handful.
func (l *Links) LocalAddrs() (map[netip.Addr]int, error) {
	addrs, err := l.hostDump.Addrs()
	if err != nil {
		return nil, fmt.Errorf("list host addresses: %w", err)
	}
	mtu := map[int]int{}
	out := make(map[netip.Addr]int, len(addrs))
	for _, a := range addrs {
		m, ok := mtu[a.Index]
		if !ok {
			k, err := l.hostDump.LinkByIndex(a.Index)
			if err != nil && !errors.Is(err, nlraw.ErrNoLink) {
				return nil, fmt.Errorf("host link %d: %w", a.Index, err)
			}
			m = k.MTU // 0 when the link went away meanwhile
			mtu[a.Index] = m
		}
		out[a.Prefix.Addr()] = m
	}
	return out, nil
}
