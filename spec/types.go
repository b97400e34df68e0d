// Package spec parses, defaults and validates topology files. It is pure:
// no kernel, no file other than the one it is asked to read.
package spec

import (
	"net/netip"

	"github.com/netctl/netctl/model"
	"github.com/netctl/netctl/spec/internal/yamlwalk"
)

// Built-in networks, as in Docker.
const (
	NetworkBridge = model.DefaultNetwork // the default network (kernel bridge netctl0)
	NetworkHost   = model.HostNetwork
	NetworkNone   = model.NoneNetwork
)

// Drivers.
const (
	DriverBridge  = "bridge"
	DriverOverlay = "overlay"
)

// Pos is a position in the topology file (1-based). It is the walker's,
// so that spec's errors and the walker's are one type.
type Pos = yamlwalk.Pos

// Topology is a loaded, defaulted and validated topology file.
type Topology struct {
	// Name is the project name: `name:`, or the file's base name without
	// extension.
	Name string
	// File is the path the topology was read from.
	File string

	// Networks in file order. The default network "bridge" is always
	// present (from the file's `networks.bridge` when it has one, else
	// implicit with Implicit set); "host" and "none" never appear here.
	Networks []*Network
	// Containers in file order.
	Containers []*Container
	// Nodes in file order (overlay networks only).
	Nodes []*Node
}

// Network is one entry of `networks:`.
type Network struct {
	Name string
	Pos  Pos

	Driver     string       // DriverBridge (default) or DriverOverlay
	Subnet     netip.Prefix // invalid when absent (IPAM picks one)
	Gateway    netip.Addr   // invalid when absent (first host address)
	IPRange    netip.Prefix // invalid when absent
	Internal   bool
	ICC        bool // default true
	MTU        int  // default 1500
	BridgeName string
	EnableIPv6 bool
	SubnetV6   netip.Prefix // invalid when absent (from the ULA pool)
	GatewayV6  netip.Addr   // invalid when absent (first address)
	// MasqueradeV6 (masquerade_v6, default true): IPv6 egress is
	// masqueraded, as Docker does; false routes the containers' own
	// addresses (for a subnet_v6 the outside routes to this host).
	MasqueradeV6 bool
	Labels       map[string]string
	// VNI is an overlay network's VXLAN network identifier; 0 when absent
	// (derived from the project and network name).
	VNI uint32

	// Implicit is set for the default network "bridge" when the file does
	// not mention it.
	Implicit bool
	// FieldPos holds the position of each key present in the file
	// ("subnet", "icc", ...), for errors found after loading.
	FieldPos map[string]Pos
}

// Container is one entry of `containers:`.
type Container struct {
	Name string
	Pos  Pos

	Hostname    string // default: Name
	NetworkMode string // "" (bridge networking), NetworkHost or NetworkNone
	// Networks in file order. A container with neither `networks` nor
	// `network_mode` is attached to "bridge".
	Networks   []*Attachment
	Expose     []PortProto
	Env        map[string]string
	Ports      []*PortMapping
	PublishAll bool // publish_all (docker run -P): every Expose port Ports lacks, ephemeral
	DNS        []netip.Addr
	ExtraHosts []*ExtraHost
	Links      []*Link
	NetnsPath  string
	Node       string

	FieldPos map[string]Pos
}

// Attachment is a container's membership in one network.
type Attachment struct {
	Network     string
	Pos         Pos
	IPv4Address netip.Addr // invalid when absent
	IPv6Address netip.Addr // invalid when absent
	Aliases     []string

	// FieldPos holds the position of each key of the map form
	// ("ipv4_address", "ipv6_address", "aliases"); empty for the list form.
	FieldPos map[string]Pos
}

// PortProto is a container port and protocol, as in `expose`.
type PortProto struct {
	Port  uint16
	Proto string // "tcp", "udp" or "sctp"
}

// PortMapping is one `ports:` entry in Docker's -p syntax.
type PortMapping struct {
	Raw string
	Pos Pos

	// HostIP is invalid when the mapping binds every host address.
	HostIP netip.Addr
	// HostPortStart..HostPortEnd is the host port or range; both 0 means
	// an ephemeral port. A range with a single container port means "the
	// first free port of the range"; a range with a container range of the
	// same length maps port to port.
	HostPortStart, HostPortEnd           uint16
	ContainerPortStart, ContainerPortEnd uint16
	Proto                                string // "tcp" (default), "udp" or "sctp"
}

// ExtraHost is one `extra_hosts` entry, "name:ip".
type ExtraHost struct {
	Name string
	IP   netip.Addr
	Pos  Pos
}

// Link is one legacy `links` entry, "<container>[:<alias>]".
type Link struct {
	Container string
	Alias     string // default: Container
	Pos       Pos
}

// Node is one entry of `nodes:`.
type Node struct {
	Name    string
	Address netip.Addr
	Pos     Pos
}

// Network returns the topology's network by name, or nil.
func (t *Topology) Network(name string) *Network {
	for _, n := range t.Networks {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// Container returns the topology's container by name, or nil.
func (t *Topology) Container(name string) *Container {
	for _, c := range t.Containers {
		if c.Name == name {
			return c
		}
	}
	return nil
}
