package model

import (
	"net/netip"
	"testing"
)

// The texts below are on live hosts: see the COMPATIBILITY note in
// rulecomment.go before changing them.
func TestPeerDNSCommentGolden(t *testing.T) {
	r := PeerDNSRule{Project: "mesh", Network: "app", Listen: netip.MustParseAddr("10.250.0.1"), Peer: netip.MustParseAddr("10.250.0.2")}
	const text = "netctl:mesh:app dns 10.250.0.1:53 from 10.250.0.2"
	if got := EncodePeerDNSComment(r); got != text {
		t.Errorf("EncodePeerDNSComment(%+v) = %q, want %q", r, got, text)
	}
	if got, ok := DecodePeerDNSComment(text); !ok || got != r {
		t.Errorf("DecodePeerDNSComment(%q) = %+v, %v; want %+v", text, got, ok, r)
	}
	if owner, _ := RuleCommentOwner(text); owner != "mesh" {
		t.Errorf("RuleCommentOwner(%q) = %q, want mesh", text, owner)
	}
	if n, ok := DecodeNetworkComment(text); ok {
		t.Errorf("DecodeNetworkComment(%q) = %+v, want rejected", text, n)
	}
	if v, ok := DecodeVXLANComment(text); ok {
		t.Errorf("DecodeVXLANComment(%q) = %+v, want rejected", text, v)
	}
	if p, ok := DecodePortComment(text); ok {
		t.Errorf("DecodePortComment(%q) = %+v, want rejected", text, p)
	}
	for _, bad := range []string{
		"netctl:mesh:app dns 10.250.0.1:53",
		"netctl:mesh:app dns 10.250.0.1:54 from 10.250.0.2",
		"netctl::app dns 10.250.0.1:53 from 10.250.0.2",
		"netctl:mesh:app dns 10.250.0.1:53 from fd00::1",
		"netctl:mesh:app dns 10.250.0.300:53 from 10.250.0.2",
		"netctl:mesh:app dns 10.250.0.1:53 from 10.250.0.2 drop",
	} {
		if r, ok := DecodePeerDNSComment(bad); ok {
			t.Errorf("DecodePeerDNSComment(%q) = %+v, want rejected", bad, r)
		}
	}
}

func TestPeerDNSEqualAndString(t *testing.T) {
	a := &PeerDNS{Listen: netip.MustParseAddr("10.250.0.1"), Peers: []netip.Addr{netip.MustParseAddr("10.250.0.2"), netip.MustParseAddr("10.250.0.3")}}
	b := &PeerDNS{Listen: a.Listen, Peers: a.Peers[:1]}
	if !a.Equal(a) || a.Equal(b) || a.Equal(nil) || !(*PeerDNS)(nil).Equal(nil) {
		t.Error("PeerDNS.Equal is wrong")
	}
	if got, want := a.String(), "udp/tcp 10.250.0.1:53 from 10.250.0.2,10.250.0.3 not DNATed"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
