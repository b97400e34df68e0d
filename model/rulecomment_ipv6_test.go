package model

import (
	"net/netip"
	"reflect"
	"testing"
)

// The IPv6 forms of the rule comments (see rulecomment_test.go: never edit
// these texts once released; add a case for a new form).
func TestIPv6RuleCommentsGolden(t *testing.T) {
	for _, tc := range []struct {
		n    NetworkRules
		text string
	}{
		{NetworkRules{Project: "shop", Name: "backend", Bridge: "br-backend", SubnetV6: netip.MustParsePrefix("fd00:18::/64"), ICC: true, MasqueradeV6: true},
			"netctl:shop:backend br-backend fd00:18::/64"},
		{NetworkRules{Project: "shop", Name: "back", Bridge: "br-b", SubnetV6: netip.MustParsePrefix("fdab:cdef:1234:5::/64"), Internal: true},
			"netctl:shop:back br-b fdab:cdef:1234:5::/64 internal no-icc no-masq"},
		{NetworkRules{Name: "bridge", Bridge: "netctl0", SubnetV6: netip.MustParsePrefix("fd00:17::/64"), ICC: true},
			"netctl::bridge netctl0 fd00:17::/64 no-masq"},
	} {
		if got := EncodeNetworkCommentV6(&tc.n); got != tc.text {
			t.Errorf("EncodeNetworkCommentV6(%+v) = %q, want %q", tc.n, got, tc.text)
		}
		got, ok := DecodeNetworkComment(tc.text)
		if !ok || !reflect.DeepEqual(*got, tc.n) {
			t.Errorf("DecodeNetworkComment(%q) = %+v, %v; want %+v", tc.text, got, ok, tc.n)
		}
	}
	for _, bad := range []string{
		"netctl:shop:backend br-backend 172.18.0.0/16 no-masq", // no-masq is IPv6's
		"netctl:shop:backend br-backend fd00:18::1/64",         // host bits
		"netctl:shop:backend br-backend FD00:18::/64",          // netctl writes lower case
		"netctl:shop:backend br-backend ::ffff:10.0.0.0/120",
	} {
		if n, ok := DecodeNetworkComment(bad); ok {
			t.Errorf("DecodeNetworkComment(%q) = %+v, want rejected", bad, n)
		}
	}

	for _, tc := range []struct {
		p    PortRule
		text string
	}{
		{PortRule{Project: "shop", Container: "web", Target: netip.MustParseAddr("fd00:18::2"),
			Port: Port{HostIP: netip.IPv6Unspecified(), HostPort: 8080, ContainerPort: 5000, Proto: "tcp"}},
			"netctl:shop:web [::]:8080->[fd00:18::2]:5000/tcp"},
		{PortRule{Project: "shop", Container: "dns", Target: netip.MustParseAddr("fd00:18::3"),
			Port: Port{HostIP: netip.MustParseAddr("fd00:99::1"), HostPort: 53, ContainerPort: 53, Proto: "udp"}},
			"netctl:shop:dns [fd00:99::1]:53->[fd00:18::3]:53/udp"},
	} {
		if got := EncodePortComment(&tc.p); got != tc.text {
			t.Errorf("EncodePortComment(%+v) = %q, want %q", tc.p, got, tc.text)
		}
		got, ok := DecodePortComment(tc.text)
		if !ok || !reflect.DeepEqual(*got, tc.p) {
			t.Errorf("DecodePortComment(%q) = %+v, %v; want %+v", tc.text, got, ok, tc.p)
		}
	}
	for _, bad := range []string{
		"netctl:shop:web [::]:8080->172.18.0.2:5000/tcp", // families mixed
		"netctl:shop:web 0.0.0.0:8080->[fd00::2]:5000/tcp",
		"netctl:shop:web ::8080->fd00::2:5000/tcp",
	} {
		if p, ok := DecodePortComment(bad); ok {
			t.Errorf("DecodePortComment(%q) = %+v, want rejected", bad, p)
		}
	}

	l := LinkRule{Project: "shop", Container: "web", Target: "db", Bridge: "br-b",
		Src: netip.MustParseAddr("fd00:18::3"), Dst: netip.MustParseAddr("fd00:18::2"), Port: 5432, Proto: "tcp"}
	text := "netctl:shop:web link db fd00:18::3->[fd00:18::2]:5432/tcp br-b"
	if got := EncodeLinkComment(&l); got != text {
		t.Errorf("EncodeLinkComment = %q, want %q", got, text)
	}
	if got, ok := DecodeLinkComment(text); !ok || !reflect.DeepEqual(*got, l) {
		t.Errorf("DecodeLinkComment(%q) = %+v, %v", text, got, ok)
	}
	if got, ok := DecodeLinkComment("netctl:shop:web link db 172.18.0.3->[fd00:18::2]:5432/tcp br-b"); ok {
		t.Errorf("mixed families decoded: %+v", got)
	}
}
