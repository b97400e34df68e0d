package model

import (
	"net/netip"
	"slices"
)

// DNS is one project's share of the embedded DNS server's configuration:
// the names on each of its user-defined networks and, per container, where
// its queries come from and what it may see. It is also the server's file
// format (JSON), so that what the reconciler plans is exactly what the
// server loads.
type DNS struct {
	Project string `json:"project"`
	// Networks the server listens on (their gateways) and answers for,
	// sorted by ID. The default network "bridge" is never here: names do
	// not resolve on it, as in Docker.
	Networks []DNSNetwork `json:"networks"`
	// Clients are the containers that may ask, sorted by name.
	Clients []DNSClient `json:"clients"`
	// Peers is set for a project with overlay networks.
	Peers *DNSPeers `json:"peers,omitempty"`

	// Serving is observed only: the server runs, has exactly this
	// configuration loaded and listens on every network's gateway.
	Serving bool `json:"-"`
	// Problem says why it is not serving, for the plan.
	Problem string `json:"-"`
}

// DNSNetwork is a user-defined network's names.
type DNSNetwork struct {
	ID       string       `json:"id"`     // network ID
	Bridge   string       `json:"bridge"` // the server binds its listeners to this device
	Subnet   netip.Prefix `json:"subnet"`
	SubnetV6 netip.Prefix `json:"subnet_v6,omitzero"` // dual stack: its ip6.arpa zone
	Gateway  netip.Addr   `json:"gateway"`            // listen address
	Internal bool         `json:"internal,omitempty"`
	Records  []DNSRecord  `json:"records"` // sorted by container, then address (IPv4 first)
	// Remote are the names of containers other nodes run on an overlay
	// network: the server asks their node for the address.
	Remote []DNSRemote `json:"remote,omitempty"`
}

// DNSRemote is a container on another node of an overlay network: its
// names there and the address of the node whose DNS server knows it.
type DNSRemote struct {
	Container string     `json:"container"`
	Node      netip.Addr `json:"node"`
	Names     []string   `json:"names"` // lower case, container name first
}

// DNSPeers is a project's side of the DNS servers of an overlay's nodes:
// the server listens on this node's underlay address and answers the
// other nodes (and nobody else) with the addresses of its own containers
// on the overlay networks.
type DNSPeers struct {
	Listen   netip.Addr   `json:"listen"`   // this node's underlay address
	Nodes    []netip.Addr `json:"nodes"`    // the other nodes, sorted
	Networks []string     `json:"networks"` // overlay network IDs, sorted
}

// DNSRecord is one container's names at one address: its name, hostname
// and aliases on a network, or a link alias.
type DNSRecord struct {
	Container string     `json:"container"`
	Addr      netip.Addr `json:"addr"`
	Names     []string   `json:"names"` // lower case, container name first
}

// DNSClient is a container as the server sees a query from it.
type DNSClient struct {
	Container string `json:"container"`
	// Addrs are its addresses on the networks above: a query's source
	// address identifies the container.
	Addrs []netip.Addr `json:"addrs"`
	// Networks are the IDs of the networks whose names it resolves.
	Networks []string `json:"networks"`
	// Links are the aliases of its legacy links, visible to it only.
	Links []DNSRecord `json:"links,omitempty"`
	// Upstreams get every other name: the container's `dns`, else the
	// host's resolvers. Empty: such names fail (internal networks).
	Upstreams []netip.AddrPort `json:"upstreams,omitempty"`
}

// Equal reports whether two configurations say the same (observed-only
// fields aside). A nil list and an empty one say the same: the server
// reads both as nothing.
func (d *DNS) Equal(o *DNS) bool {
	if d == nil || o == nil {
		return d == o
	}
	return d.Project == o.Project &&
		slices.EqualFunc(d.Networks, o.Networks, DNSNetwork.equal) &&
		slices.EqualFunc(d.Clients, o.Clients, DNSClient.equal) &&
		d.Peers.equal(o.Peers)
}

func (n DNSNetwork) equal(o DNSNetwork) bool {
	return n.ID == o.ID && n.Bridge == o.Bridge && n.Subnet == o.Subnet && n.SubnetV6 == o.SubnetV6 &&
		n.Gateway == o.Gateway && n.Internal == o.Internal &&
		slices.EqualFunc(n.Records, o.Records, DNSRecord.equal) &&
		slices.EqualFunc(n.Remote, o.Remote, DNSRemote.equal)
}

func (r DNSRemote) equal(o DNSRemote) bool {
	return r.Container == o.Container && r.Node == o.Node && slices.Equal(r.Names, o.Names)
}

func (r DNSRecord) equal(o DNSRecord) bool {
	return r.Container == o.Container && r.Addr == o.Addr && slices.Equal(r.Names, o.Names)
}

func (c DNSClient) equal(o DNSClient) bool {
	return c.Container == o.Container && slices.Equal(c.Addrs, o.Addrs) && slices.Equal(c.Networks, o.Networks) &&
		slices.EqualFunc(c.Links, o.Links, DNSRecord.equal) && slices.Equal(c.Upstreams, o.Upstreams)
}

func (p *DNSPeers) equal(o *DNSPeers) bool {
	if p == nil || o == nil {
		return p == o
	}
	return p.Listen == o.Listen && slices.Equal(p.Nodes, o.Nodes) && slices.Equal(p.Networks, o.Networks)
}
