package model

import (
	"net/netip"
	"reflect"
	"testing"
)

// The texts below are what live hosts carry in their rules' comments
// (written by every netctl release so far). They are the compatibility
// contract of rulecomment.go: never edit them; add a case for a new form.

func TestNetworkCommentGolden(t *testing.T) {
	for _, tc := range []struct {
		n    NetworkRules
		text string
	}{
		{NetworkRules{Project: "shop", Name: "backend", Bridge: "br-backend", Subnet: netip.MustParsePrefix("172.18.0.0/16"), ICC: true},
			"netctl:shop:backend br-backend 172.18.0.0/16"},
		{NetworkRules{Project: "shop", Name: "vault", Bridge: "br-1a2b3c4d5e6f", Subnet: netip.MustParsePrefix("172.19.0.0/16"), Internal: true, ICC: true},
			"netctl:shop:vault br-1a2b3c4d5e6f 172.19.0.0/16 internal"},
		{NetworkRules{Project: "shop", Name: "db", Bridge: "br.x_y-z", Subnet: netip.MustParsePrefix("10.1.0.0/24")},
			"netctl:shop:db br.x_y-z 10.1.0.0/24 no-icc"},
		{NetworkRules{Project: "shop", Name: "both", Bridge: "br-b", Subnet: netip.MustParsePrefix("10.2.0.0/24"), Internal: true},
			"netctl:shop:both br-b 10.2.0.0/24 internal no-icc"},
		{NetworkRules{Name: "bridge", Bridge: "netctl0", Subnet: netip.MustParsePrefix("172.17.0.0/16"), ICC: true},
			"netctl::bridge netctl0 172.17.0.0/16"},
		// The IPv6 half of a dual-stack network (EncodeNetworkCommentV6).
		{NetworkRules{Project: "shop", Name: "backend", Bridge: "br-backend", SubnetV6: netip.MustParsePrefix("fd00:18::/64"), ICC: true, MasqueradeV6: true},
			"netctl:shop:backend br-backend fd00:18::/64"},
		{NetworkRules{Project: "shop", Name: "back", Bridge: "br-b", SubnetV6: netip.MustParsePrefix("fdab:cdef:1234:5::/64"), Internal: true},
			"netctl:shop:back br-b fdab:cdef:1234:5::/64 internal no-icc no-masq"},
		{NetworkRules{Name: "bridge", Bridge: "netctl0", SubnetV6: netip.MustParsePrefix("fd00:17::/64"), ICC: true},
			"netctl::bridge netctl0 fd00:17::/64 no-masq"},
	} {
		encode := EncodeNetworkComment
		if tc.n.SubnetV6.IsValid() {
			encode = EncodeNetworkCommentV6
		}
		if got := encode(&tc.n); got != tc.text {
			t.Errorf("encoding %+v = %q, want %q", tc.n, got, tc.text)
		}
		got, ok := DecodeNetworkComment(tc.text)
		if !ok || !reflect.DeepEqual(*got, tc.n) {
			t.Errorf("DecodeNetworkComment(%q) = %+v, %v; want %+v", tc.text, got, ok, tc.n)
		}
	}
	for _, bad := range []string{
		"netctl:shop:backend br-backend 172.18.0.0/16 no-icc internal", // words in the wrong order
		"netctl::backend br-x 172.18.0.0/16",                           // no project, not the default network
		"netctl:shop:bridge br-x 172.18.0.0/16",                        // a project's network named like the default one
		"netctl:shop:backend br-backend 172.18.0.0/33",
		"netctl:shop:backend br-backend 172.18.0.0/16 no-masq", // no-masq is IPv6's
		"netctl:shop:backend br-backend fd00:18::1/64",         // host bits
		"netctl:shop:backend br-backend FD00:18::/64",          // netctl writes lower case
		"netctl:shop:backend br-backend ::ffff:10.0.0.0/120",
		"netctl:shop:web 0.0.0.0:8080->172.18.0.2:5000/tcp",
		"netctl",
		"hand made",
	} {
		if n, ok := DecodeNetworkComment(bad); ok {
			t.Errorf("DecodeNetworkComment(%q) = %+v, want rejected", bad, n)
		}
	}
}

func TestPortCommentGolden(t *testing.T) {
	for _, tc := range []struct {
		p    PortRule
		text string
	}{
		{PortRule{Project: "shop", Container: "web", Target: netip.MustParseAddr("172.18.0.2"),
			Port: Port{HostPort: 8080, ContainerPort: 5000, Proto: "tcp"}},
			"netctl:shop:web 0.0.0.0:8080->172.18.0.2:5000/tcp"},
		{PortRule{Project: "shop", Container: "web", Target: netip.MustParseAddr("172.18.0.2"),
			Port: Port{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 32768, ContainerPort: 5001, Proto: "udp"}},
			"netctl:shop:web 127.0.0.1:32768->172.18.0.2:5001/udp"},
		{PortRule{Project: "a-1", Container: "b-2", Target: netip.MustParseAddr("10.0.0.9"),
			Port: Port{HostIP: netip.MustParseAddr("10.250.0.1"), HostPort: 9000, ContainerPort: 9000, Proto: "sctp"}},
			"netctl:a-1:b-2 10.250.0.1:9000->10.0.0.9:9000/sctp"},
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
		"netctl::web 0.0.0.0:8080->172.18.0.2:5000/tcp", // ports always belong to a project
		"netctl:shop:web 0.0.0.0:0->172.18.0.2:5000/tcp",
		"netctl:shop:web 0.0.0.0:8080->172.18.0.2:0/tcp",
		"netctl:shop:web 0.0.0.0:70000->172.18.0.2:5000/tcp",
		"netctl:shop:web 0.0.0.0:8080->172.18.0.2:5000/icmp",
		"netctl:shop:web 0.0.0.0:8080->5000/tcp", // the display form, without target
		"netctl:shop:web 0.0.0.0:8080->172.18.0.2:5000/tcp ",
		"netctl:shop:web [::]:8080->172.18.0.2:5000/tcp", // families mixed
		"netctl:shop:web 0.0.0.0:8080->[fd00::2]:5000/tcp",
		"netctl:shop:web ::8080->fd00::2:5000/tcp",
	} {
		if p, ok := DecodePortComment(bad); ok {
			t.Errorf("DecodePortComment(%q) = %+v, want rejected", bad, p)
		}
	}
}

func TestLinkCommentGolden(t *testing.T) {
	for _, tc := range []struct {
		l    LinkRule
		text string
	}{
		{LinkRule{Project: "shop", Container: "web", Target: "db", Bridge: "br-1a2b",
			Src: netip.MustParseAddr("172.18.0.3"), Dst: netip.MustParseAddr("172.18.0.2"), Port: 5432, Proto: "tcp"},
			"netctl:shop:web link db 172.18.0.3->172.18.0.2:5432/tcp br-1a2b"},
		{LinkRule{Project: "shop", Container: "web", Target: "db", Bridge: "br-b",
			Src: netip.MustParseAddr("fd00:18::3"), Dst: netip.MustParseAddr("fd00:18::2"), Port: 5432, Proto: "tcp"},
			"netctl:shop:web link db fd00:18::3->[fd00:18::2]:5432/tcp br-b"},
	} {
		if got := EncodeLinkComment(&tc.l); got != tc.text {
			t.Errorf("EncodeLinkComment = %q, want %q", got, tc.text)
		}
		got, ok := DecodeLinkComment(tc.text)
		if !ok || !reflect.DeepEqual(*got, tc.l) {
			t.Errorf("DecodeLinkComment(%q) = %+v, %v; want %+v", tc.text, got, ok, tc.l)
		}
	}
	for _, bad := range []string{
		"netctl:shop:web link db 172.18.0.3->[fd00:18::2]:5432/tcp br-b", // families mixed
		"netctl:shop:web link db 172.18.0.3->172.18.0.2:5432/tcp",
		"netctl:shop:web link db 172.18.0.3->172.18.0.2:0/tcp br-1a2b",
		"netctl:shop:web 172.18.0.3->172.18.0.2:5432/tcp on br-1a2b", // the display form
	} {
		if l, ok := DecodeLinkComment(bad); ok {
			t.Errorf("DecodeLinkComment(%q) = %+v, want rejected", bad, l)
		}
	}
}

func TestProjectAndBaseCommentGolden(t *testing.T) {
	if RuleCommentBase != "netctl" {
		t.Errorf("RuleCommentBase = %q, want netctl", RuleCommentBase)
	}
	if got := EncodeProjectComment("shop"); got != "netctl:shop" {
		t.Errorf("EncodeProjectComment = %q", got)
	}
	if p, ok := DecodeProjectComment("netctl:shop"); !ok || p != "shop" {
		t.Errorf("DecodeProjectComment(netctl:shop) = %q, %v", p, ok)
	}
	for _, bad := range []string{"netctl", "netctl:", "netctl:shop:web", "netctl:-x", "hand made"} {
		if p, ok := DecodeProjectComment(bad); ok {
			t.Errorf("DecodeProjectComment(%q) = %q, want rejected", bad, p)
		}
	}
	for c, want := range map[string]string{
		"netctl:shop":                                       "shop",
		"netctl:shop:backend br-b 1.0.0.0/8":                "shop",
		"netctl:shop:web link db 1.1.1.1->1.1.1.2:1/tcp br": "shop",
		"netctl::bridge netctl0 172.17.0.0/16":              "",
		"netctl":                                            "",
		"other:shop":                                        "",
	} {
		if got, _ := RuleCommentOwner(c); got != want {
			t.Errorf("RuleCommentOwner(%q) = %q, want %q", c, got, want)
		}
	}
}
