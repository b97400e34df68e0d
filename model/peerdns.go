package model

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"sync"
)

// DNSPort is where netctl's DNS server listens: on each network's gateway
// and, on an overlay node, on the node's underlay address for the other
// nodes' servers.
const DNSPort = 53

// PeerDNS is the NAT side of the DNS between an overlay's nodes on one
// node: queries from the file's other nodes (Peers, sorted) to this node's
// underlay address (Listen), UDP and TCP port 53, are kept out of every
// DNAT, so that a container publishing port 53 on every host address does
// not take them from netctl's DNS server. Anybody else asking there still
// reaches the published port. It is the underlay counterpart of the
// gateway's port-53 exemption, which every bridge network has.
type PeerDNS struct {
	Listen netip.Addr
	Peers  []netip.Addr
}

// Equal reports whether two exemptions need the same rules (nil: none).
func (p *PeerDNS) Equal(o *PeerDNS) bool {
	if p == nil || o == nil {
		return p == o
	}
	return p.Listen == o.Listen && slices.Equal(p.Peers, o.Peers)
}

// String describes the exemption for plans: "udp/tcp 10.250.0.1:53 from
// 10.250.0.2,10.250.0.3 not DNATed".
func (p *PeerDNS) String() string {
	if p == nil {
		return "(none)"
	}
	s := fmt.Sprintf("udp/tcp %s:%d from ", p.Listen, DNSPort)
	if len(p.Peers) == 0 {
		return s + "(nobody) not DNATed"
	}
	for i, a := range p.Peers {
		if i > 0 {
			s += ","
		}
		s += a.String()
	}
	return s + " not DNATed"
}

// PeerDNSRule is what one rule of a network's peer DNS exemption carries
// in its comment: the network it belongs to, this node's listen address
// and the peer whose queries it exempts.
type PeerDNSRule struct {
	Project, Network string
	Listen, Peer     netip.Addr
}

// NetworkID is the ID of the network the rule belongs to.
func (r PeerDNSRule) NetworkID() string { return NetworkID(r.Project, r.Network) }

// EncodePeerDNSComment marks one peer's exemption (see the COMPATIBILITY
// note in rulecomment.go): "netctl:mesh:app dns 10.250.0.1:53 from
// 10.250.0.2" (listen address and port, peer).
func EncodePeerDNSComment(r PeerDNSRule) string {
	return fmt.Sprintf("%s%s:%s dns %s:%d from %s", ruleCommentPrefix, r.Project, r.Network, r.Listen, DNSPort, r.Peer)
}

var peerDNSCommentRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^netctl:([A-Za-z0-9-]+):([A-Za-z0-9-]+) dns ([0-9.]+):53 from ([0-9.]+)$`)
})

// DecodePeerDNSComment is the inverse of EncodePeerDNSComment.
func DecodePeerDNSComment(c string) (PeerDNSRule, bool) {
	m := peerDNSCommentRE().FindStringSubmatch(c)
	if m == nil || !IsLabel(m[1]) || !IsLabel(m[2]) {
		return PeerDNSRule{}, false
	}
	listen, err1 := netip.ParseAddr(m[3])
	peer, err2 := netip.ParseAddr(m[4])
	if err1 != nil || err2 != nil || !listen.Is4() || !peer.Is4() {
		return PeerDNSRule{}, false
	}
	return PeerDNSRule{Project: m[1], Network: m[2], Listen: listen, Peer: peer}, true
}
