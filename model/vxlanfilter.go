package model

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"sync"
)

// VXLANFilter is the packet-filter side of an overlay network on one
// node: UDP to the node's VXLAN endpoint (Local:Port) is accepted only from
// the other nodes of the file (Peers, sorted) and dropped from anybody
// else, so that no other host can inject frames into the overlay. The
// overlay itself is unencrypted; this only keeps strangers out.
type VXLANFilter struct {
	VNI   uint32 // the network's (a backend may filter per VNI)
	Local netip.Addr
	Port  uint16
	Peers []netip.Addr
}

// Equal reports whether two filters need the same rules (nil: no filter).
func (v *VXLANFilter) Equal(o *VXLANFilter) bool {
	if v == nil || o == nil {
		return v == o
	}
	return v.VNI == o.VNI && v.Local == o.Local && v.Port == o.Port && slices.Equal(v.Peers, o.Peers)
}

// String describes the filter for plans: "vni 4242 udp 10.250.0.1:4789 only
// from 10.250.0.2,10.250.0.3".
func (v *VXLANFilter) String() string {
	if v == nil {
		return "(none)"
	}
	s := fmt.Sprintf("vni %d udp %s:%d only from", v.VNI, v.Local, v.Port)
	if len(v.Peers) == 0 {
		return s + " (nobody)"
	}
	for i, p := range v.Peers {
		if i == 0 {
			s += " " + p.String()
		} else {
			s += "," + p.String()
		}
	}
	return s
}

// VXLANRule is what one VXLAN filter rule's comment carries: the network
// it belongs to, the endpoint, and the peer it lets in (invalid: the drop
// of everybody else).
type VXLANRule struct {
	Project, Network string
	VNI              uint32
	Local            netip.Addr
	Port             uint16
	Peer             netip.Addr
}

// NetworkID is the ID of the network the rule belongs to.
func (r VXLANRule) NetworkID() string { return NetworkID(r.Project, r.Network) }

// EncodeVXLANComment marks one rule of a network's VXLAN filter (see the
// COMPATIBILITY note in rulecomment.go): "netctl:mesh:app vxlan 4242
// 10.250.0.1:4789 from 10.250.0.2" for a peer's opening, "netctl:mesh:app
// vxlan 4242 10.250.0.1:4789 drop" for the drop of everybody else (VNI,
// endpoint, peer).
func EncodeVXLANComment(r VXLANRule) string {
	c := fmt.Sprintf("%s%s:%s vxlan %d %s:%d", ruleCommentPrefix, r.Project, r.Network, r.VNI, r.Local, r.Port)
	if r.Peer.IsValid() {
		return c + " from " + r.Peer.String()
	}
	return c + " drop"
}

var vxlanCommentRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^netctl:([A-Za-z0-9-]+):([A-Za-z0-9-]+) vxlan ([0-9]+) ([0-9.]+):([0-9]+) (?:from ([0-9.]+)|drop)$`)
})

// DecodeVXLANComment is the inverse of EncodeVXLANComment.
func DecodeVXLANComment(c string) (VXLANRule, bool) {
	m := vxlanCommentRE().FindStringSubmatch(c)
	if m == nil || !IsLabel(m[1]) || !IsLabel(m[2]) {
		return VXLANRule{}, false
	}
	vni, err0 := strconv.ParseUint(m[3], 10, 32)
	local, err1 := netip.ParseAddr(m[4])
	port, err2 := strconv.ParseUint(m[5], 10, 16)
	if err0 != nil || err1 != nil || err2 != nil || vni == 0 || vni > MaxVNI || !local.Is4() || port == 0 {
		return VXLANRule{}, false
	}
	r := VXLANRule{Project: m[1], Network: m[2], VNI: uint32(vni), Local: local, Port: uint16(port)}
	if m[6] != "" {
		peer, err := netip.ParseAddr(m[6])
		if err != nil || !peer.Is4() {
			return VXLANRule{}, false
		}
		r.Peer = peer
	}
	return r, true
}
