package model

import (
	"net/netip"
	"testing"
)

func TestOverlayLinkLocal(t *testing.T) {
	for node, want := range map[string]string{
		"10.250.0.1":   "fe80::afa:1/64",
		"10.10.0.1":    "fe80::a0a:1/64",
		"192.168.1.17": "fe80::c0a8:111/64",
		"fd00::2":      "invalid Prefix", // no IPv6 underlay
	} {
		if got := OverlayLinkLocal(netip.MustParseAddr(node)).String(); got != want {
			t.Errorf("OverlayLinkLocal(%s) = %s, want %s", node, got, want)
		}
	}
}
