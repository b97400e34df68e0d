package model

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/bits"
	"net/netip"
	"slices"
	"strings"
)

// Overlay networks span several hosts ("nodes"). Every node applies the
// same file; what each one builds follows from the file and from its own
// kernel alone, so nothing here may depend on anything else.

// Driver names, as in Docker.
const (
	DriverBridge  = "bridge"
	DriverOverlay = "overlay"
)

// VXLAN facts of the overlay data plane.
const (
	// VXLANPort is the IANA VXLAN port (Docker's default too).
	VXLANPort = 4789
	// VXLANOverhead is what encapsulation adds to a frame over IPv4: outer
	// IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14). An overlay's
	// MTU defaults to the underlay's minus this.
	VXLANOverhead = 50
	// MaxVNI is the largest 24-bit VXLAN network identifier.
	MaxVNI = 1<<24 - 1
	// minDerivedVNI keeps derived VNIs clear of the small numbers people
	// pick by hand (and of Docker's 4096+ range's start).
	minDerivedVNI = 1 << 16
)

// Overlay is what an overlay network adds to a network on one node: the
// VXLAN device enslaved to the network's bridge, and where it sends.
type Overlay struct {
	VNI   uint32
	VXLAN string     // kernel name of the VXLAN device (<= 15 bytes)
	Local netip.Addr // this node's underlay address (VXLAN `local`)
	Port  uint16     // UDP destination port
	// Node is this node's name and Block the part of the range it
	// allocates dynamic addresses from, BlockV6 that of subnet_v6 on a
	// dual-stack overlay (desired only).
	Node    string
	Block   netip.Prefix
	BlockV6 netip.Prefix
	// Peers are the other nodes' underlay addresses, sorted: one all-zeros
	// forwarding entry each (head-end replication).
	Peers []netip.Addr

	// Observed only: the device exists, is up and enslaved to the bridge.
	DeviceOK bool
}

// Node is a host of the file's overlay networks.
type Node struct {
	Name    string
	Address netip.Addr
}

// VXLANName derives an overlay network's VXLAN device name (15 bytes).
func VXLANName(project, network string) string {
	return "vx-" + shortHash(project+"/"+network, 12)
}

// DerivedVNI is an overlay network's VNI when the file sets none: a hash of
// the project and network, in [2^16, 2^24), so that every node derives the
// same one and two projects rarely meet (a clash is refused, not shared).
func DerivedVNI(project, network string) uint32 {
	sum := sha256.Sum256([]byte("vni:" + project + "/" + network))
	v := binary.BigEndian.Uint32(sum[:4])
	return minDerivedVNI + v%(MaxVNI+1-minDerivedVNI)
}

// SortedNodes returns the nodes ordered by name: the order address blocks
// are handed out in, the same on every node whatever the file's order.
func SortedNodes(nodes []Node) []Node {
	out := slices.Clone(nodes)
	slices.SortFunc(out, func(a, b Node) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// minBlocks is the fewest blocks an overlay's range is cut into, so that
// adding nodes up to that count moves no block.
const minBlocks = 16

// NodeBlock is the part of an overlay's dynamic range rng from which the
// node at index i of n sorted nodes allocates: rng cut into a power of two
// (at least 16, at least n) of equal blocks, block i. It is a pure function
// of the file, so nodes never hand out the same address and never need to
// talk to each other to avoid it. The same cut serves both families: an
// IPv4 subnet or ip_range, and an IPv6 subnet_v6.
func NodeBlock(rng netip.Prefix, i, n int) (netip.Prefix, error) {
	blocks := max(n, minBlocks)
	extra := bits.Len(uint(blocks - 1)) // log2, rounded up
	if rng.Bits()+extra > rng.Addr().BitLen()-2 {
		return netip.Prefix{}, fmt.Errorf("range %s is too small for %d address blocks of at least 4 addresses (one per node, at least %d): use a larger subnet or ip_range", rng, 1<<extra, minBlocks)
	}
	// Block i is rng with i written into the extra bits after its prefix.
	b := rng.Masked().Addr().AsSlice()
	for k := range extra {
		if i>>(extra-1-k)&1 == 1 {
			bit := rng.Bits() + k
			b[bit/8] |= 1 << (7 - bit%8)
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return netip.PrefixFrom(a, rng.Bits()+extra), nil
}

// OverlayLinkLocal is the IPv6 link-local address of a dual-stack
// overlay's bridge on the node with underlay address node:
// fe80::<node>/64 (fe80::a0a:1 on node 10.10.0.1). The bridges of all the
// nodes share one MAC, so the kernel's address derived from it would be
// the same on every node and fail its duplicate address detection; this
// one is unique among the nodes, and no EUI-64 address (ff:fe in its
// middle) can be it. Invalid for a node address that is not IPv4.
func OverlayLinkLocal(node netip.Addr) netip.Prefix {
	if !node.Is4() {
		return netip.Prefix{}
	}
	a := [16]byte{0: 0xfe, 1: 0x80}
	v4 := node.As4()
	copy(a[12:], v4[:])
	return netip.PrefixFrom(netip.AddrFrom16(a), 64)
}
