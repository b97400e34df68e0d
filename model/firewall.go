package model

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
)

// Firewall is what netctl programs in the packet filter, as objects rather
// than rules, so that a backend (iptables today, nftables later) is free to
// lay them out as it likes: per-network isolation and NAT, published ports,
// the openings legacy links make on icc=false networks, and the sysctls
// forwarding depends on. Observed, it also carries the host facts that port
// picks depend on (HostPorts, read by their own actuator).
type Firewall struct {
	Networks map[string]*NetworkRules // by network ID
	Ports    map[string]*PortRule     // by PortRule.Key()
	Links    map[string]*LinkRule     // by LinkRule.Key()
	// Sysctls: desired, the values netctl needs ("1"); observed, the current
	// value of every sysctl netctl may set (absent: does not exist).
	Sysctls map[string]string

	// Observed only.

	// BaseMissing says what is wrong with netctl's fixed chains and jumps
	// (empty when they are intact).
	BaseMissing []string
	// Stray lists rules in netctl's chains that belong to no object (added
	// or altered by hand), by the project that owns the chain they are in
	// ("" for the chains all projects share).
	Stray map[string][]string
	// OtherInstances: rules of other netctl instances (other --roots in
	// this network namespace) are in the chains all share; they are not
	// this instance's to change, and the shared chains stay for them.
	OtherInstances bool
	// Installed: something of netctl's is in the packet filter that a
	// teardown (FirewallBatch.Teardown) would remove: a fixed chain, a jump
	// from a built-in chain, a project's chain.
	Installed bool
	// Snapshot is the backend's own reading of the rules this was observed
	// from; the reconciler hands it back to the backend in the batch
	// (FirewallBatch.Observed). nil when not observed from a kernel.
	Snapshot FirewallSnapshot
	// HostPorts are the host facts port picks depend on.
	HostPorts
}

// HostPorts are the facts of the host namespace that picking a host port
// depends on (observed only).
type HostPorts struct {
	// Bound is every port some program has bound in the host namespace.
	Bound map[PortProto]bool
	// Listening holds, for each TCP and UDP port of Bound, the local
	// addresses its sockets are bound to (unspecified: every address), so
	// that a fixed mapping can be told whether it would shadow a program.
	Listening map[PortProto][]netip.Addr
	// EphemeralLow..EphemeralHigh is the host's ip_local_port_range, where
	// ephemeral host ports are picked (0 when unknown).
	EphemeralLow, EphemeralHigh uint16
}

// FirewallSnapshot is a backend's own reading of its rules (for iptables,
// the parsed iptables-save output), taken by Observe and handed back to
// Apply in the batch, so that Apply changes exactly what was read without
// reading it again and without the backend keeping it between calls. Only
// the backend that made it looks inside.
type FirewallSnapshot interface {
	// Backend names the backend that took the snapshot ("iptables").
	Backend() string
}

// NewFirewall returns an empty firewall state.
func NewFirewall() *Firewall {
	return &Firewall{
		Networks: map[string]*NetworkRules{},
		Ports:    map[string]*PortRule{},
		Links:    map[string]*LinkRule{},
		Sysctls:  map[string]string{},
		Stray:    map[string][]string{},
		HostPorts: HostPorts{
			Bound: map[PortProto]bool{},
		},
	}
}

// NetworkRules are one bridge network's rules: isolation from every other
// netctl bridge, icc, outgoing traffic, the drop of unpublished ports and,
// unless internal, masquerade (outgoing, hairpin, from the host).
type NetworkRules struct {
	Project  string // "" for the shared default network
	Name     string
	Bridge   string
	Subnet   netip.Prefix
	Internal bool
	ICC      bool
	// VXLAN is an overlay network's filter of its VXLAN endpoint (nil for
	// a bridge network).
	VXLAN *VXLANFilter
	// PeerDNS keeps the other nodes' DNS queries to this node out of the
	// DNATs (nil for a bridge network).
	PeerDNS *PeerDNS
	// SubnetV6 is valid on a dual-stack network: the same rules are then
	// rendered for IPv6 too, with MasqueradeV6 saying whether its outgoing
	// traffic is masqueraded (hairpin and from-the-host masquerade are
	// always there, as for IPv4).
	SubnetV6     netip.Prefix
	MasqueradeV6 bool

	// Damaged (observed only): some of the network's rules are missing.
	Damaged bool
}

// ID is the network's ID.
func (n *NetworkRules) ID() string { return NetworkID(n.Project, n.Name) }

// Equal reports whether two networks need the same rules.
func (n *NetworkRules) Equal(o *NetworkRules) bool {
	return n.Bridge == o.Bridge && n.Subnet == o.Subnet && n.Internal == o.Internal && n.ICC == o.ICC && n.VXLAN.Equal(o.VXLAN) && n.PeerDNS.Equal(o.PeerDNS) &&
		n.SubnetV6 == o.SubnetV6 && (!n.SubnetV6.IsValid() || n.MasqueradeV6 == o.MasqueradeV6)
}

// PortRule is one published port: HostIP:HostPort on the host forwarded to
// Target:ContainerPort. A port is of one family, its Target's: a port bound
// on every address of a dual-stack container is two PortRules, 0.0.0.0
// (HostIP invalid) to its IPv4 address and [::] to its IPv6 address.
type PortRule struct {
	Project   string
	Container string
	Port
	Target netip.Addr

	// Damaged (observed only): some of the port's rules are missing.
	Damaged bool
}

// Key identifies a published port by its host side, which is what two
// mappings can't share.
func (p *PortRule) Key() string {
	// Appended into one buffer: planning keys every published port.
	b := make([]byte, 0, 64)
	b = append(b, p.Project...)
	b = append(b, ' ')
	b = p.Port.appendHost(b)
	b = append(b, '/')
	b = append(b, p.Proto...)
	return string(b)
}

// String renders the mapping as Docker does, with its target:
// "0.0.0.0:8080->172.18.0.2:5000/tcp", "[::]:8080->[fd00::2]:5000/tcp".
func (p *PortRule) String() string {
	return fmt.Sprintf("%s->%s/%s", p.Port.HostString(), netip.AddrPortFrom(p.Target, p.ContainerPort), p.Proto)
}

// HostString is the host side, "0.0.0.0:8080" when bound on every address,
// "[::]:8080" on every IPv6 address.
func (p Port) HostString() string {
	return string(p.appendHost(make([]byte, 0, 48)))
}

func (p Port) appendHost(b []byte) []byte {
	if p.HostIP.Is6() {
		return netip.AddrPortFrom(p.HostIP, p.HostPort).AppendTo(b)
	}
	if p.HostIP.IsValid() {
		b = p.HostIP.AppendTo(b)
	} else {
		b = append(b, "0.0.0.0"...)
	}
	b = append(b, ':')
	return strconv.AppendUint(b, uint64(p.HostPort), 10)
}

// IPv6 reports whether the port is published on IPv6 host addresses.
func (p Port) IPv6() bool { return p.HostIP.Is6() }

// HostIPString is the host address, "0.0.0.0" for every address.
func (p Port) HostIPString() string {
	if !p.HostIP.IsValid() {
		return "0.0.0.0"
	}
	return p.HostIP.String()
}

// String renders the mapping as docker ps does: "0.0.0.0:8080->5000/tcp".
func (p Port) String() string {
	return fmt.Sprintf("%s->%d/%s", p.HostString(), p.ContainerPort, p.Proto)
}

// SortPorts orders ports by container port, protocol, host address and
// host port: the order docker port lists them in.
func SortPorts(ps []Port) {
	sort.Slice(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if a.ContainerPort != b.ContainerPort {
			return a.ContainerPort < b.ContainerPort
		}
		if a.Proto != b.Proto {
			return a.Proto < b.Proto
		}
		if a.HostIP != b.HostIP {
			return a.HostIP.Less(b.HostIP)
		}
		return a.HostPort < b.HostPort
	})
}

// LinkRule opens, on an icc=false network, one port of a linked container
// to the container linking to it (Docker's legacy links): Src may reach
// Dst:Port, and Dst may answer from it.
type LinkRule struct {
	Project   string
	Container string // the linking container
	Target    string // the linked container
	Bridge    string
	Src, Dst  netip.Addr
	Port      uint16
	Proto     string

	// Damaged (observed only): some of the link's rules are missing.
	Damaged bool
}

// Key identifies the opening; an IPv6 opening is one of its own.
func (l *LinkRule) Key() string {
	k := fmt.Sprintf("%s %s->%s %s %d/%s", l.Project, l.Container, l.Target, l.Bridge, l.Port, l.Proto)
	if l.Dst.Is6() {
		k += " ipv6"
	}
	return k
}

// String describes the opening: "172.18.0.3->172.18.0.2:5432/tcp on br-x",
// "fd00::3->[fd00::2]:5432/tcp on br-x".
func (l *LinkRule) String() string {
	return fmt.Sprintf("%s->%s/%s on %s", l.Src, netip.AddrPortFrom(l.Dst, l.Port), l.Proto, l.Bridge)
}

// Sysctl is one kernel setting of the host namespace.
type Sysctl struct {
	Key, Value string
}

// FirewallBatch is every firewall change of one reconcile, carried out in
// one transaction per table.
type FirewallBatch struct {
	Project string
	// Observed is the snapshot of the observation the batch was planned
	// from (Firewall.Snapshot): the backend changes the rules relative to
	// it. nil (a batch made by hand, a plan from files): the backend reads
	// the rules itself first.
	Observed FirewallSnapshot
	// Base installs or repairs netctl's fixed chains and jumps.
	Base bool
	// Networks have their rules created or rewritten; DropNetworks have
	// them removed.
	Networks     []*NetworkRules
	DropNetworks []*NetworkRules
	// Rewrite: the project's published ports and links changed; Ports and
	// Links are then the project's complete set, written over the chains it
	// owns (empty: the chains go).
	Rewrite bool
	Ports   []*PortRule
	Links   []*LinkRule
	// Stray removes the stray rules of the project's chains and of the
	// shared ones.
	Stray bool
	// Teardown removes everything of netctl's from the packet filter: its
	// chains and its jumps from the built-in chains. Planned once no project
	// has anything left in it.
	Teardown bool
	// Flush lists the ports whose conntrack entries must go so that
	// connectionless traffic follows a new target at once.
	Flush []Port
	// Sysctls are set after the rules are in place, so that forwarding is
	// never on without isolation.
	Sysctls []Sysctl
}

// Empty reports whether the batch changes nothing.
func (b *FirewallBatch) Empty() bool {
	return !b.Base && len(b.Networks) == 0 && len(b.DropNetworks) == 0 && !b.Rewrite && !b.Stray && !b.Teardown &&
		len(b.Flush) == 0 && len(b.Sysctls) == 0
}
