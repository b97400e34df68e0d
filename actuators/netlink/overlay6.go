package netlink

import (
	"github.com/rs/zerolog"
	vnl "github.com/vishvananda/netlink"

	"github.com/netctl/netctl/model"
)

// A dual-stack overlay's bridges share one L2 segment through VXLAN, and
// every node's bridge holds the same anycast gateway: the same IPv4 and
// IPv6 address and the same MAC. Duplicate address detection would fail
// the shared address on every node but the first, so it is added with
// nodad (setOnlyAddr6). The kernel's own link-local address would be
// derived from the shared MAC, identical on every node, and fail its DAD
// too, and without a usable link-local address the kernel sends no
// neighbour solicitations on the bridge (ndisc_send_ns gives up): the node
// could not reach its own containers' IPv6 addresses. So an overlay bridge
// comes up with no generated link-local address (addr_gen_mode none, as
// an IPv4-only bridge), and gets one netctl derives from the node's
// underlay address instead, unique among the nodes, also nodad.

// noBridgeLinkLocal reports whether n's bridge should come up without a
// kernel-generated IPv6 link-local address.
func noBridgeLinkLocal(n *model.Network) bool { return noIPv6LinkLocal(n) || n.Overlay != nil }

// ensureOverlayLinkLocal makes n.LinkLocal (model.OverlayLinkLocal of the
// node's address) the only link-local address of an overlay's bridge
// (none on an IPv4-only overlay): one left from an earlier node address or
// from IPv6 turned off goes. A bridge network's link-local address is the
// kernel's and is not touched.
func ensureOverlayLinkLocal(h *vnl.Handle, br vnl.Link, n *model.Network, log zerolog.Logger) error {
	if n.Overlay == nil {
		return nil
	}
	return setOnlyNodad(h, br, n.LinkLocal, true, log)
}
