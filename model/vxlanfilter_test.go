package model

import (
	"net/netip"
	"testing"
)

// The texts below are on live hosts: see the COMPATIBILITY note in
// rulecomment.go before changing them.
func TestVXLANCommentGolden(t *testing.T) {
	local, peer := netip.MustParseAddr("10.250.0.1"), netip.MustParseAddr("10.250.0.2")
	for text, r := range map[string]VXLANRule{
		"netctl:mesh:app vxlan 4242 10.250.0.1:4789 from 10.250.0.2": {Project: "mesh", Network: "app", VNI: 4242, Local: local, Port: 4789, Peer: peer},
		"netctl:mesh:app vxlan 4242 10.250.0.1:4789 drop":            {Project: "mesh", Network: "app", VNI: 4242, Local: local, Port: 4789},
	} {
		if got := EncodeVXLANComment(r); got != text {
			t.Errorf("EncodeVXLANComment(%+v) = %q, want %q", r, got, text)
		}
		if got, ok := DecodeVXLANComment(text); !ok || got != r {
			t.Errorf("DecodeVXLANComment(%q) = %+v, %v; want %+v", text, got, ok, r)
		}
		if owner, _ := RuleCommentOwner(text); owner != "mesh" {
			t.Errorf("RuleCommentOwner(%q) = %q, want mesh", text, owner)
		}
		if n, ok := DecodeNetworkComment(text); ok {
			t.Errorf("DecodeNetworkComment(%q) = %+v, want rejected", text, n)
		}
	}
	for _, bad := range []string{
		"netctl:mesh:app vxlan 4242 10.250.0.1:4789",
		"netctl:mesh:app vxlan 10.250.0.1:4789 drop",
		"netctl:mesh:app vxlan 16777216 10.250.0.1:4789 drop",
		"netctl:mesh:app vxlan 4242 10.250.0.1:0 drop",
		"netctl::app vxlan 4242 10.250.0.1:4789 drop",
		"netctl:mesh:app vxlan 4242 10.250.0.1:4789 from fd00::1",
		"netctl:mesh:app vxlan 4242 10.250.0.1:4789 from 10.250.0.2 drop",
	} {
		if r, ok := DecodeVXLANComment(bad); ok {
			t.Errorf("DecodeVXLANComment(%q) = %+v, want rejected", bad, r)
		}
	}
}

func TestVXLANFilterEqual(t *testing.T) {
	a := &VXLANFilter{Local: netip.MustParseAddr("10.250.0.1"), Port: 4789, Peers: []netip.Addr{netip.MustParseAddr("10.250.0.2")}}
	b := &VXLANFilter{Local: a.Local, Port: 4789}
	if !a.Equal(a) || a.Equal(b) || a.Equal(nil) || !(*VXLANFilter)(nil).Equal(nil) {
		t.Error("VXLANFilter.Equal is wrong")
	}
}
