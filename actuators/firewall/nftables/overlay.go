package nftables

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"github.com/netctl/netctl/model"
)

// An overlay network's VXLAN filter: UDP to the node's VXLAN endpoint for
// the network's VNI is dropped unless its source is one of the file's
// other nodes.
//
//	input   filter hook input, priority filter+10
//	  ip daddr . udp dport . vni @vxlan-endpoints ip daddr . udp dport . vni . ip saddr != @vxlan-peers drop
//
// The VNI (the 24 bits after the VXLAN header's flags, at UDP payload
// offset 4) is part of both keys so that each element belongs to exactly
// one network (a host refuses two overlays with one VNI), even though
// every overlay of a node shares its endpoint: the mark on an element then
// says whose it is, and observation rebuilds each network's filter from
// its own elements. A packet to an endpoint with a VNI no network has is
// not this rule's business (the kernel has no device to hand it to).
// Peers are elements: the rule does not grow with nodes.
const (
	setVXLANEndpoints = "vxlan-endpoints"
	setVXLANPeers     = "vxlan-peers"
	chainInput        = "input"
)

// typeVNI holds a VNI as loaded from the packet: 3 bytes, zero-padded to
// the register's 4. A type of fixed length is needed: nft (1.0.6) aborts
// listing a concatenation with an "integer" field, which has none; "mark"
// is 4 bytes and only changes how nft prints the value.
var typeVNI = nftables.TypeMark

var vxlanSetDefs = []setDef{
	{name: setVXLANEndpoints, key: []nftables.SetDatatype{typeIPv4, typeService, typeVNI},
		comment: "overlay VXLAN endpoints on this node: local address . port . vni"},
	{name: setVXLANPeers, key: []nftables.SetDatatype{typeIPv4, typeService, typeVNI, typeIPv4},
		comment: "the nodes an overlay takes VXLAN from: local address . port . vni . peer"},
}

// fVNI is the VXLAN header's VNI (UDP header 8 bytes + flags 4).
var fVNI = field{payload(expr.PayloadBaseTransportHeader, 8+4, 3), 3}

func vxlanChain() chainDef {
	udp := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{protoNumbers[model.ProtoUDP]}},
	}
	notPeer := append(load(fDaddr, fDport, fVNI, fSaddr), &expr.Lookup{SourceRegister: reg32, SetName: setVXLANPeers, Invert: true})
	return chainDef{name: chainInput, typ: nftables.ChainTypeFilter, hook: nftables.ChainHookRef(*nftables.ChainHookInput), priority: prioFilter,
		rules: []ruleDef{
			rule("VXLAN only from the overlay's nodes", ipv4(), udp, lookup(setVXLANEndpoints, fDaddr, fDport, fVNI), notPeer, one(verdict(expr.VerdictDrop))),
		}}
}

// An overlay network's peer DNS exemption: the other nodes' DNS servers
// ask this node's on its underlay address, and a port 53 published on
// every host address must not DNAT their queries to the publishing
// container (anybody else asking there still reaches it).
//
//	nat-prerouting
//	  ip daddr . ip saddr @dns-peers udp dport 53 return
//	  ip daddr . ip saddr @dns-peers tcp dport 53 return
//
// Each element (local address . peer) is marked with one of the networks
// that need it: overlays on the same nodes (of one project or several)
// need the same elements, and a set holds each key once.
const setDNSPeers = "dns-peers"

var peerDNSSetDef = setDef{name: setDNSPeers, key: []nftables.SetDatatype{typeIPv4, typeIPv4},
	comment: "overlay nodes whose DNS queries to this node are not DNATed: local address . peer"}

// peerDNSElements are a network's exemption elements (none for a bridge).
func peerDNSElements(n *model.NetworkRules) ([]element, error) {
	p := n.PeerDNS
	if p == nil {
		return nil, nil
	}
	if !p.Listen.Is4() {
		return nil, fmt.Errorf("dns listen address %s is not IPv4", p.Listen)
	}
	var els []element
	for _, peer := range p.Peers {
		if !peer.Is4() {
			return nil, fmt.Errorf("dns peer %s is not IPv4", peer)
		}
		els = append(els, element{set: setDNSPeers, key: cat(addr(p.Listen), addr(peer))})
	}
	return els, nil
}

// rebuildPeerDNS gives the observed networks the exemptions the elements
// describe. An element two networks need (two overlays of a project, or of
// two projects, on the same nodes) is in the set once, marked with one of
// them: a network's exemption is therefore the elements marked with it and
// those, whoever's mark they carry, that exempt a node of its VXLAN filter
// (rebuildVXLAN runs first). Its own elements with another listen address
// than the first do not fit and are left to turn up as stray.
func (s *state) rebuildPeerDNS() {
	var els []element
	for _, id := range sortedKeys(s.elements) {
		if el := s.elements[id]; el.set == setDNSPeers && len(el.key) == 8 {
			els = append(els, el)
		}
	}
	for _, n := range s.objs.networks {
		for _, el := range els {
			listen, peer := netip.AddrFrom4([4]byte(el.key[0:4])), netip.AddrFrom4([4]byte(el.key[4:8]))
			own := s.byMark[el.comment] == n
			shared := n.VXLAN != nil && n.VXLAN.Local == listen && slices.Contains(n.VXLAN.Peers, peer)
			switch {
			case !own && !shared:
			case n.PeerDNS == nil:
				n.PeerDNS = &model.PeerDNS{Listen: listen, Peers: []netip.Addr{peer}}
			case n.PeerDNS.Listen == listen && !slices.Contains(n.PeerDNS.Peers, peer):
				n.PeerDNS.Peers = append(n.PeerDNS.Peers, peer)
			}
		}
		if n.PeerDNS != nil {
			slices.SortFunc(n.PeerDNS.Peers, func(a, b netip.Addr) int { return a.Compare(b) })
		}
	}
}

// vniKey is a VNI as the register holds it after loading 3 bytes.
func vniKey(vni uint32) []byte { return []byte{byte(vni >> 16), byte(vni >> 8), byte(vni), 0} }

// vxlanElements are a network's filter elements (none for a bridge).
func vxlanElements(n *model.NetworkRules) ([]element, error) {
	v := n.VXLAN
	if v == nil {
		return nil, nil
	}
	if !v.Local.Is4() || v.Port == 0 || v.VNI == 0 || v.VNI > model.MaxVNI {
		return nil, fmt.Errorf("vxlan endpoint %s:%d vni %d is not an IPv4 address, port and VNI", v.Local, v.Port, v.VNI)
	}
	ep := cat(addr(v.Local), port(v.Port), vniKey(v.VNI))
	els := []element{{set: setVXLANEndpoints, key: ep}}
	for _, p := range v.Peers {
		if !p.Is4() {
			return nil, fmt.Errorf("vxlan peer %s is not IPv4", p)
		}
		els = append(els, element{set: setVXLANPeers, key: cat(ep, addr(p))})
	}
	return els, nil
}

// rebuildVXLAN gives the observed networks the filters their marks'
// elements describe: the endpoint first, then its peers. Elements that do
// not fit (a second endpoint for one network, a peer of none) are left to
// turn up as stray.
func (s *state) rebuildVXLAN() {
	for _, set := range []string{setVXLANEndpoints, setVXLANPeers} {
		for _, id := range sortedKeys(s.elements) {
			el := s.elements[id]
			n, ok := s.byMark[el.comment].(*model.NetworkRules)
			if el.set != set || !ok || len(el.key) < 12 {
				continue
			}
			local := netip.AddrFrom4([4]byte(el.key[0:4]))
			prt := binary.BigEndian.Uint16(el.key[4:6])
			vni := uint32(el.key[8])<<16 | uint32(el.key[9])<<8 | uint32(el.key[10])
			switch {
			case set == setVXLANEndpoints && n.VXLAN == nil:
				n.VXLAN = &model.VXLANFilter{VNI: vni, Local: local, Port: prt}
			case set == setVXLANPeers && len(el.key) == 16 && n.VXLAN != nil &&
				n.VXLAN.VNI == vni && n.VXLAN.Local == local && n.VXLAN.Port == prt:
				n.VXLAN.Peers = append(n.VXLAN.Peers, netip.AddrFrom4([4]byte(el.key[12:16])))
			}
		}
	}
	for _, n := range s.objs.networks {
		if n.VXLAN != nil {
			slices.SortFunc(n.VXLAN.Peers, func(a, b netip.Addr) int { return a.Compare(b) })
		}
	}
}
