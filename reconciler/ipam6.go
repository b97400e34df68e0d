package reconciler

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/netctl/netctl/model"
	"github.com/netctl/netctl/spec"
)

// The IPv6 pool. A network with enable_ipv6 and no subnet_v6 gets a /64 of
// a unique local /48 (RFC 4193) that belongs to its project:
//
//	fd | 40 bits of SHA-256("netctl/" + project) | 16-bit subnet ID | /64
//
// The /48 is derived from the project rather than drawn at random as the
// RFC suggests, so that every run computes the same prefix without state:
// `diff --from` (no kernel) shows the subnet `apply` will use, a network
// whose bridge address was deleted by hand gets its subnet back, and every
// node of a project gets the same prefixes (what an overlay network needs:
// overlaySubnetV6). Two projects get different /48s (a 40-bit collision is
// as unlikely as the RFC's random pick colliding); the same project name
// on two hosts gets the same /48, which only matters to traffic routed
// between them without masquerade (masquerade_v6: false), where a
// subnet_v6 of addresses the hosts actually route is the better choice
// anyway.
//
// The subnet ID is the first 16 bits of SHA-256(project/network), so that a
// network's /64 does not depend on the other networks of the file; when that
// /64 overlaps something (another network, a host route) the next free one
// is taken.

// ulaPrefix is a project's unique local /48. The shared default network
// ("" project) has one of its own.
func ulaPrefix(project string) netip.Prefix {
	sum := sha256.Sum256([]byte("netctl/" + project))
	var a [16]byte
	a[0] = 0xfd
	copy(a[1:6], sum[:5])
	return netip.PrefixFrom(netip.AddrFrom16(a), 48)
}

// ulaSubnet is the /64 with subnet ID id in a project's /48.
func ulaSubnet(project string, id uint16) netip.Prefix {
	a := ulaPrefix(project).Addr().As16()
	binary.BigEndian.PutUint16(a[6:8], id)
	return netip.PrefixFrom(netip.AddrFrom16(a), 64)
}

// pickSubnetV6 returns the network's /64 of its project's /48: the one its
// name hashes to, or the next that overlaps nothing taken.
func pickSubnetV6(project, network string, taken subnetTaken) (netip.Prefix, error) {
	sum := sha256.Sum256([]byte(project + "/" + network))
	start := binary.BigEndian.Uint16(sum[:2])
	for i := range 1 << 16 {
		p := ulaSubnet(project, start+uint16(i))
		if !taken.overlaps(p) {
			return p, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("IPv6 pool exhausted: every /64 of %s overlaps a route or another network; set `subnet_v6`", ulaPrefix(project))
}

// desireIPv6 gives each dual-stack network of d its IPv6 subnet and
// gateway: subnet_v6 from the file, else the one the network already has
// (sticky), else a pick from the pool; gateway_v6 from the file, else the
// one it has on a sticky subnet, else the subnet's first address. An
// overlay network's pick is overlaySubnetV6's instead.
func desireIPv6(t *spec.Topology, observed *model.State, d *model.State) error {
	var taken, fileTaken subnetTaken
	for _, n := range t.Networks {
		if n.EnableIPv6 && n.SubnetV6.IsValid() {
			fileTaken = append(fileTaken, n.SubnetV6)
		}
	}
	taken = append(taken, fileTaken...)
	for _, id := range observed.SortedNetworkIDs() {
		if o := observed.Networks[id]; o.SubnetV6.IsValid() && d.Networks[id] == nil {
			taken = append(taken, o.SubnetV6)
		}
	}
	taken = append(taken, observed.HostRoutes...)

	var pending, overlays []*model.Network
	for _, n := range t.Networks {
		m := d.Networks[model.NetworkID(t.Name, n.Name)]
		if m == nil || !n.EnableIPv6 {
			continue
		}
		m.EnableIPv6, m.MasqueradeV6 = true, n.MasqueradeV6
		m.SubnetV6, m.GatewayV6 = n.SubnetV6, n.GatewayV6
		if n.Driver == spec.DriverOverlay {
			overlays = append(overlays, m)
			continue
		}
		if o := observed.Networks[m.ID()]; o != nil {
			keepSubnet(&m.SubnetV6, &m.GatewayV6, o.SubnetV6, o.GatewayV6)
		}
		if m.SubnetV6.IsValid() {
			taken = append(taken, m.SubnetV6)
		}
		pending = append(pending, m)
	}
	// Overlays first: what they take is the file's alone, and the bridge
	// networks' picks go around it.
	for _, m := range overlays {
		if !m.SubnetV6.IsValid() {
			p, err := overlaySubnetV6(m, fileTaken, observed)
			if err != nil {
				return err
			}
			m.SubnetV6 = p
			fileTaken = append(fileTaken, p)
		}
		taken = append(taken, m.SubnetV6)
	}
	for _, m := range pending {
		if !m.SubnetV6.IsValid() {
			p, err := pickSubnetV6(m.Project, m.Name, taken)
			if err != nil {
				return fmt.Errorf("network %s: %w", m.Name, err)
			}
			m.SubnetV6 = p
			taken = append(taken, p)
		}
	}
	for _, m := range append(overlays, pending...) {
		if !m.GatewayV6.IsValid() || !m.SubnetV6.Contains(m.GatewayV6) {
			m.GatewayV6 = firstHost(m.SubnetV6)
		}
	}
	return nil
}

// overlaySubnetV6 is the subnet_v6 of an overlay network whose file names
// none. Every node must derive the same one, so it comes from the file
// alone: the pool's pick skipping only the file's own subnets (fileTaken),
// never this host's routes or networks, nor a subnet the network had
// before (a node applying for the first time could not know it). What it
// then overlaps on this host is an error to resolve in the file.
func overlaySubnetV6(m *model.Network, fileTaken subnetTaken, observed *model.State) (netip.Prefix, error) {
	p, err := pickSubnetV6(m.Project, m.Name, fileTaken)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("network %s: %w", m.Name, err)
	}
	for _, h := range holders(observed, true) {
		if h.network != m.ID() && h.prefix.Overlaps(p) {
			return netip.Prefix{}, fmt.Errorf("network %s: the overlay's subnet_v6 %s (derived from the file, the same on every node) overlaps %s on this host; set subnet_v6", m.Name, p, h.what)
		}
	}
	return p, nil
}
