package iptables

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"

	"github.com/netctl/netctl/model"
)

// An overlay network's VXLAN filter lives in NETCTL-INPUT, jumped to from
// filter INPUT:
//
//	-s peer -d local -p udp --dport 4789 -m u32 <vni> -j RETURN    per peer, at the top
//	-d local -p udp --dport 4789 -m u32 <vni> -j DROP              after every RETURN
//
// The u32 match reads the VNI from the VXLAN header (the 3 bytes after its
// 4 bytes of flags, behind the UDP header, wherever IP options put it), so
// that a node of one overlay cannot send into another overlay of this
// host whose nodes it is not among: every overlay of a node shares one
// endpoint, and without the VNI each one's openings would let in the
// others' nodes. The nftables backend keys its sets by the VNI for the
// same reason; a VNI no network has passes (the kernel has no device for
// it). Docker's encrypted overlay matches the VNI the same way.
//
// RETURN rather than ACCEPT, so that the host's own INPUT rules after the
// jump still see the peers' packets. The RETURNs are inserted at the top
// and the drops appended, so that every network's openings come before any
// network's drop (two overlays share one endpoint: the kernel's VXLAN
// devices with one local address and port share one socket).
const chainInput = "NETCTL-INPUT"

// vxlanRules renders a network's VXLAN filter (none for a bridge network).
func vxlanRules(inst model.Instance, n *model.NetworkRules) ([]rule, error) {
	v := n.VXLAN
	if v == nil {
		return nil, nil
	}
	if !v.Local.Is4() || v.Port == 0 {
		return nil, fmt.Errorf("network %s: vxlan endpoint %s:%d is not an IPv4 address and port", n.Name, v.Local, v.Port)
	}
	vr := model.VXLANRule{Project: n.Project, Network: n.Name, VNI: v.VNI, Local: v.Local, Port: v.Port}
	if v.VNI == 0 || v.VNI > model.MaxVNI {
		return nil, fmt.Errorf("network %s: vxlan vni %d is out of range", n.Name, v.VNI)
	}
	match := []string{"-d", v.Local.String() + "/32", "-p", "udp", "-m", "udp", "--dport", strconv.Itoa(int(v.Port)),
		"-m", "u32", "--u32", vniMatch(v.VNI)}
	var out []rule
	for _, p := range v.Peers {
		if !p.Is4() {
			return nil, fmt.Errorf("network %s: vxlan peer %s is not IPv4", n.Name, p)
		}
		vr.Peer = p
		args := append([]string{"-s", p.String() + "/32"}, match...)
		out = append(out, r(tableFilter, chainInput, append(args, withComment(model.InstanceComment(inst, model.EncodeVXLANComment(vr)), "-j", "RETURN")...)...))
	}
	vr.Peer = netip.Addr{}
	out = append(out, r(tableFilter, chainInput, append(slices.Clone(match), withComment(model.InstanceComment(inst, model.EncodeVXLANComment(vr)), "-j", "DROP")...)...))
	return out, nil
}

// An overlay network's peer DNS exemption lives in nat NETCTL, beside the
// gateway's (network.go), one pair per other node:
//
//	-s peer -d local -p udp --dport 53 -j RETURN
//	-s peer -d local -p tcp --dport 53 -j RETURN
//
// The other nodes' DNS servers ask this node's on its underlay address;
// a port 53 published on every host address would otherwise DNAT their
// queries to the publishing container, and no name of this node's
// containers would resolve on the others. Anybody else asking there
// still reaches the published port.

// peerDNSRules renders a network's peer DNS exemption (none for a bridge
// network).
func peerDNSRules(inst model.Instance, n *model.NetworkRules) ([]rule, error) {
	p := n.PeerDNS
	if p == nil {
		return nil, nil
	}
	if !p.Listen.Is4() {
		return nil, fmt.Errorf("network %s: dns listen address %s is not IPv4", n.Name, p.Listen)
	}
	pr := model.PeerDNSRule{Project: n.Project, Network: n.Name, Listen: p.Listen}
	var out []rule
	for _, peer := range p.Peers {
		if !peer.Is4() {
			return nil, fmt.Errorf("network %s: dns peer %s is not IPv4", n.Name, peer)
		}
		pr.Peer = peer
		c := model.InstanceComment(inst, model.EncodePeerDNSComment(pr))
		for _, proto := range []string{"udp", "tcp"} {
			out = append(out, r(tableNAT, chainDNAT, append([]string{"-s", peer.String() + "/32", "-d", p.Listen.String() + "/32", "-p", proto},
				withComment(c, "-m", proto, "--dport", dnsPort, "-j", "RETURN")...)...))
		}
	}
	return out, nil
}

// topFirst are the chains whose RETURN rules must come before the rest:
// NETCTL-INPUT's VXLAN openings before any network's drop, nat NETCTL's
// DNS exemptions (network.go, and the peers' above) before any project's
// DNATs.
var topFirst = map[string]bool{tableFilter + " " + chainInput: true, tableNAT + " " + chainDNAT: true}

// vniMatch is the u32 test of a VXLAN packet's VNI, in the form
// iptables-save prints it (hexadecimal), so that observing compares it
// word for word: skip the IP header (its length from IHL), then the UDP
// header and the VXLAN flags (12 bytes), and take the 3 bytes of VNI.
func vniMatch(vni uint32) string {
	return fmt.Sprintf("0x0>>0x16&0x3c@0xc>>0x8=0x%x", vni)
}

// addNetworkRule puts a missing network rule in place: a RETURN of a
// topFirst chain at its top, anything else at its chain's end.
func addNetworkRule(s *script, r rule) {
	if topRank(r) == 0 {
		s.insert(r, 1)
		return
	}
	s.append(r)
}

// topRank orders a chain as Apply leaves it: in a topFirst chain, the
// RETURNs (0) before the rest (1).
func topRank(r rule) int {
	if topFirst[r.table+" "+r.chain] && r.target() == "RETURN" {
		return 0
	}
	return 1
}

// vxlanPiece is a network's filter rules found in NETCTL-INPUT.
type vxlanPiece struct {
	filter *model.VXLANFilter
	rules  []rule
}

// peerDNSPiece is a network's peer DNS exemption rules found in nat
// NETCTL.
type peerDNSPiece struct {
	exemption *model.PeerDNS
	rules     []rule
}

// addPeerDNSRule files a rule of nat NETCTL under the network its peer DNS
// comment names; false when the comment is not one.
func addPeerDNSRule(pieces map[string]*peerDNSPiece, c string, r rule) bool {
	pr, ok := model.DecodePeerDNSComment(c)
	if !ok {
		return false
	}
	p := pieces[pr.NetworkID()]
	if p == nil {
		p = &peerDNSPiece{exemption: &model.PeerDNS{Listen: pr.Listen}}
		pieces[pr.NetworkID()] = p
	}
	// A rule with another listen address than the first does not render
	// from the exemption and turns up as stray.
	if pr.Listen == p.exemption.Listen && !slices.Contains(p.exemption.Peers, pr.Peer) {
		p.exemption.Peers = append(p.exemption.Peers, pr.Peer)
		slices.SortFunc(p.exemption.Peers, func(a, b netip.Addr) int { return a.Compare(b) })
	}
	p.rules = append(p.rules, r)
	return true
}

// classifyVXLAN sorts NETCTL-INPUT's rules by network; what carries no
// filter mark is stray, what carries another instance's is left alone
// (comment reads a rule's comment as classify does).
func classifyVXLAN(rules []rule, addStray func(string, rule), comment func(rule) (string, bool)) map[string]*vxlanPiece {
	out := map[string]*vxlanPiece{}
	for _, r := range rules {
		c, theirs := comment(r)
		if theirs {
			continue
		}
		vr, ok := model.DecodeVXLANComment(c)
		if !ok {
			addStray(commentOwner(c), r)
			continue
		}
		p := out[vr.NetworkID()]
		if p == nil {
			p = &vxlanPiece{filter: &model.VXLANFilter{VNI: vr.VNI, Local: vr.Local, Port: vr.Port}}
			out[vr.NetworkID()] = p
		}
		// A rule with another endpoint than the first does not render
		// from the filter and turns up as stray.
		if vr.Peer.IsValid() && vr.VNI == p.filter.VNI && vr.Local == p.filter.Local && vr.Port == p.filter.Port && !slices.Contains(p.filter.Peers, vr.Peer) {
			p.filter.Peers = append(p.filter.Peers, vr.Peer)
		}
		p.rules = append(p.rules, r)
	}
	for _, p := range out {
		slices.SortFunc(p.filter.Peers, func(a, b netip.Addr) int { return a.Compare(b) })
	}
	return out
}
