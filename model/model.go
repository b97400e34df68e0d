// Package model is the typed description of container networking that both
// the desired state (computed from a topology file) and the observed state
// (read back from the kernel and from netctl's own files) are expressed in.
// Diffing two States is then mechanical.
package model

import (
	"net"
	"net/netip"
	"sort"
	"strings"
)

// State is a set of networks and containers keyed by their IDs.
type State struct {
	Networks   map[string]*Network   // by Network.ID()
	Containers map[string]*Container // by Container.ID()

	// HostRoutes are the destinations routed in the host namespace through
	// links netctl does not own, both families (observed only). IPAM avoids
	// them when it picks a subnet, and a subnet_v6 may not overlap them.
	HostRoutes []netip.Prefix

	// DNS is the embedded DNS server's configuration, by project.
	DNS map[string]*DNS
	// Firewall is the packet filter's part of the state; nil when no
	// firewall is managed (observed with no firewall backend).
	Firewall *Firewall
}

// NewState returns an empty state.
func NewState() *State {
	return &State{Networks: map[string]*Network{}, Containers: map[string]*Container{}}
}

// Network is a bridge network.
type Network struct {
	// Project owning the network; "" for the shared default network.
	Project string
	Name    string
	Driver  string // DriverBridge or DriverOverlay
	Bridge  string // kernel link name, <= 15 bytes
	Subnet  netip.Prefix
	Gateway netip.Addr
	MTU     int

	// Settings the kernel cannot hold; they live in netctl's files.
	Internal bool
	ICC      bool
	IPRange  netip.Prefix
	Labels   map[string]string

	// Overlay is the VXLAN side of an overlay network on this node; nil
	// for a bridge network.
	Overlay *Overlay

	// Dual stack (enable_ipv6). SubnetV6 and GatewayV6 are set exactly when
	// EnableIPv6 is; observed, EnableIPv6 says the bridge carries a global
	// IPv6 address, and SubnetV6/GatewayV6 are that address when it is the
	// only one. The link actuator keys its IPv6 handling off EnableIPv6
	// (link-local addresses, DAD, sysctls): IPv4-only networks need none.
	EnableIPv6 bool
	SubnetV6   netip.Prefix
	GatewayV6  netip.Addr
	// MasqueradeV6: IPv6 traffic leaving the host from SubnetV6 is
	// masqueraded (the default, as Docker does; false routes it with the
	// containers' own addresses). Kept in netctl's files.
	MasqueradeV6 bool
	// LinkLocal is the bridge's IPv6 link-local address on a dual-stack
	// overlay: OverlayLinkLocal of this node's address, added nodad
	// (invalid on any other network). Observed, on every bridge: its only
	// link-local address, when it has the nodad flag, which the kernel's
	// own never have; the reconciler compares it on overlays only, where
	// netctl keeps the bridge's link-local addresses.
	LinkLocal netip.Prefix

	// Observed only.
	Up      bool
	Foreign []string // bridge ports netctl does not own, by name
}

// ID is the network's stable identity: "<project>/<name>", or "/bridge" for
// the default network shared by all projects.
func (n *Network) ID() string { return NetworkID(n.Project, n.Name) }

// Shared reports whether the network belongs to no single project.
func (n *Network) Shared() bool { return n.Project == "" }

// Mode says how a container is networked.
type Mode string

// Container network modes.
const (
	ModeBridge Mode = "bridge" // own namespace, one endpoint per network
	ModeNone   Mode = "none"   // own namespace with loopback only
	ModeHost   Mode = "host"   // the host's namespace; nothing to wire
)

// Container is a network namespace and its endpoints.
type Container struct {
	Project  string
	Name     string
	Hostname string
	Mode     Mode
	// Node runs the container (overlay topologies); "" on one host.
	Node string

	// Netns is the path of the namespace: a bind mount netctl owns under
	// --root, or the user's netns_path when External.
	Netns    string
	External bool

	// Endpoints in interface order (eth0, eth1, ...).
	Endpoints []*Endpoint
	// DefaultGateway is the container's default route; invalid for none.
	DefaultGateway netip.Addr
	// DefaultGatewayV6 is its IPv6 default route: the gateway_v6 of the
	// first network that is not internal, when that network is dual stack.
	DefaultGatewayV6 netip.Addr

	// Settings the kernel cannot hold (names, links, hosts and resolv files).
	ExtraHosts []HostEntry
	DNS        []netip.Addr
	// PublishAll is the file's publish_all (docker run -P), kept for
	// inspect's HostConfig.PublishAllPorts: the ports it publishes look
	// like any ephemeral ones in the rules.
	PublishAll bool
	// Legacy links to other containers of the same project, the ports the
	// container exposes (what links see) and its env (what links show as
	// <ALIAS>_ENV_<NAME>).
	Links  []Link
	Expose []PortProto
	Env    map[string]string
	// Ports are the published ports, each resolved to a concrete host port
	// (ephemeral and range picks included). Observed: read back from the
	// firewall rules that carry them.
	Ports []Port

	// Contents of the container's hosts and resolv.conf files.
	HostsFile  string
	ResolvFile string
	// EnvFile holds the env vars exec sets: the legacy link env vars and
	// the container's own env, one NAME=value a line.
	EnvFile string

	// Observed only.
	NetnsOK bool // the namespace exists and is a network namespace
	LoUp    bool // loopback is up
	// UTSHostname is the hostname in the container's UTS namespace under
	// --root; "" when it has none (host mode and netns_path containers
	// never have one).
	UTSHostname string
	IfNames     []string // every interface name in the namespace, owned or not
}

// ID is the container's stable identity: "<project>/<name>".
func (c *Container) ID() string { return ContainerID(c.Project, c.Name) }

// Endpoint returns the container's endpoint on the network, or nil.
func (c *Container) Endpoint(networkID string) *Endpoint {
	for _, ep := range c.Endpoints {
		if ep.Network == networkID {
			return ep
		}
	}
	return nil
}

// Link is a legacy link: Container (same project) seen under Alias.
type Link struct {
	Container string
	Alias     string
}

// PortProto is a port and protocol ("tcp", "udp", "sctp").
type PortProto struct {
	Port  uint16
	Proto string
}

// Port is one published port: HostIP:HostPort -> ContainerPort/Proto.
// HostIP is invalid when the port is bound on every host address.
type Port struct {
	HostIP        netip.Addr
	HostPort      uint16
	ContainerPort uint16
	Proto         string
}

// HostEntry is one /etc/hosts line.
type HostEntry struct {
	IP    netip.Addr
	Names []string
}

// Endpoint is a container's attachment to one network: a veth pair whose
// host side is enslaved to the network's bridge.
type Endpoint struct {
	Network string // network ID
	IfName  string // inside the container: eth0, eth1, ...
	HostIf  string // host side of the veth
	Addr    netip.Prefix
	// AddrV6 is the IPv6 address on a dual-stack network (invalid
	// otherwise), added without duplicate address detection. Observed: the
	// interface's only global IPv6 address, when it has the nodad flag.
	AddrV6  netip.Prefix
	MAC     net.HardwareAddr
	MTU     int
	Aliases []string // DNS aliases (kept in netctl's files)
	// Hairpin is the hairpin mode of the host side's bridge port: frames
	// may leave by the port they came in, which a container needs to
	// reach its own published ports through the host (the DNAT turns them
	// back towards it). On exactly for the endpoint a container's
	// published ports lead to. Observed: the port's mode.
	Hairpin bool

	// Observed only: both halves present and wired as they should be.
	HostOK bool // host side exists, is up and enslaved to the right bridge
	PeerOK bool // container side exists and is up
	// AcceptRA: the container side accepts router advertisements, which a
	// dual-stack endpoint must not (a container could otherwise give its
	// neighbours routes and addresses).
	AcceptRA bool
}

// Addrs returns the endpoint's addresses, IPv4 first.
func (ep *Endpoint) Addrs() []netip.Addr {
	out := make([]netip.Addr, 0, 2)
	for _, p := range []netip.Prefix{ep.Addr, ep.AddrV6} {
		if p.IsValid() {
			out = append(out, p.Addr())
		}
	}
	return out
}

// Scope limits an observation to some containers, by ID; networks and host
// routes are always read in full. A nil Scope is everything.
type Scope map[string]bool

// Has reports whether the container is in scope.
func (s Scope) Has(containerID string) bool { return s == nil || s[containerID] }

// Owner marks a kernel object as netctl's (IFLA_IFALIAS). Only objects
// carrying such a mark, of the instance at hand, are ever modified or
// deleted. Marks are read back from live hosts: EncodeOwner and
// ParseOwner never change incompatibly (golden tests in owner_test.go).
type Owner struct {
	// Instance is the netctl instance (one per --root) that owns the
	// object: "" for the default root, whose marks are those netctl wrote
	// before instances existed.
	Instance  Instance
	Project   string // "" for the shared default bridge
	Network   string
	Container string // "" for a bridge
}

// ownerPrefix starts every mark; instanceSep follows it in the marks of
// any instance but the default one.
const (
	ownerPrefix = "netctl"
	instanceSep = "@"
)

// String renders the mark (EncodeOwner).
func (o Owner) String() string { return EncodeOwner(o) }

// EncodeOwner renders a mark:
//
//	netctl:<project>:<network>                       a bridge
//	netctl:<project>:<network>/<container>           both ends of an endpoint
//	netctl@<instance>:<project>:<network>[/<c>]      the same, of an instance
//	                                                 other than the default
func EncodeOwner(o Owner) string {
	s := ownerPrefix
	if o.Instance != "" {
		s += instanceSep + string(o.Instance)
	}
	s += ":" + o.Project + ":" + o.Network
	if o.Container != "" {
		s += "/" + o.Container
	}
	return s
}

// ParseOwner reads a mark written by EncodeOwner, of any instance.
func ParseOwner(alias string) (Owner, bool) {
	rest, ok := strings.CutPrefix(alias, ownerPrefix)
	if !ok {
		return Owner{}, false
	}
	var o Owner
	if inst, r, ok := strings.Cut(rest, ":"); ok && strings.HasPrefix(inst, instanceSep) {
		o.Instance = Instance(inst[len(instanceSep):])
		if !o.Instance.valid() {
			return Owner{}, false
		}
		rest = ":" + r
	}
	rest, ok = strings.CutPrefix(rest, ":")
	if !ok {
		return Owner{}, false
	}
	project, rest, ok := strings.Cut(rest, ":")
	if !ok || rest == "" {
		return Owner{}, false
	}
	network, container, hasContainer := strings.Cut(rest, "/")
	// Only what netctl writes: names it validated (a hand-made alias with
	// other bytes is not netctl's, and never touched).
	if (project != "" && !IsLabel(project)) || !IsLabel(network) || (hasContainer && !IsLabel(container)) {
		return Owner{}, false
	}
	o.Project, o.Network, o.Container = project, network, container
	return o, true
}

// MACFor derives an endpoint's MAC from its IPv4 address as Docker does
// (02:42 followed by the four address bytes): stable and predictable.
func MACFor(a netip.Addr) net.HardwareAddr {
	b := a.As4()
	return net.HardwareAddr{0x02, 0x42, b[0], b[1], b[2], b[3]}
}

// SortedNetworkIDs returns the state's network IDs in order.
func (s *State) SortedNetworkIDs() []string { return sortedKeys(s.Networks) }

// SortedContainerIDs returns the state's container IDs in order.
func (s *State) SortedContainerIDs() []string { return sortedKeys(s.Containers) }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
