package iptables

import (
	"fmt"
	"net/netip"
	"strconv"

	"github.com/netctl/netctl/model"
)

// networkRules renders a network's rules of one family: from Subnet for
// iptables, from SubnetV6 for ip6tables (a dual-stack network has both).
// IPv6 masquerades going out only with MasqueradeV6; hairpin and
// from-the-host masquerade are the same in both.
func networkRules(inst model.Instance, n *model.NetworkRules, v6 bool) ([]rule, error) {
	if err := checkProject(n.Project, true); err != nil {
		return nil, err
	}
	if err := checkName("network", n.Name); err != nil {
		return nil, err
	}
	if err := model.CheckSharedNetwork(n); err != nil {
		return nil, err
	}
	if err := checkBridge(n.Bridge); err != nil {
		return nil, err
	}
	c, subnet, masq := model.EncodeNetworkComment(n), n.Subnet, true
	if v6 {
		c, subnet, masq = model.EncodeNetworkCommentV6(n), n.SubnetV6, n.MasqueradeV6
	}
	c = model.InstanceComment(inst, c)
	if !subnet.IsValid() || subnet.Addr().Is6() != v6 || subnet.Addr().Is4In6() {
		return nil, fmt.Errorf("network %s: subnet %s is not of the family", n.Name, subnet)
	}
	br := n.Bridge
	icc, out := "ACCEPT", "ACCEPT"
	if !n.ICC {
		icc = "DROP"
	}
	if n.Internal {
		out = "DROP"
	}
	rules := []rule{
		r(tableFilter, chainCT, append([]string{"-o", br, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED"}, withComment(c, "-j", "ACCEPT")...)...),
		r(tableFilter, chainIso1, append([]string{"-i", br, "!", "-o", br}, withComment(c, "-j", chainIso2)...)...),
		r(tableFilter, chainIso2, append([]string{"-o", br}, withComment(c, "-j", "DROP")...)...),
		r(tableFilter, chainNetworks, append([]string{"-i", br, "-o", br}, withComment(c, "-j", icc)...)...),
		r(tableFilter, chainNetworks, append([]string{"-i", br, "!", "-o", br}, withComment(c, "-j", out)...)...),
		r(tableFilter, chainNetworks, append([]string{"!", "-i", br, "-o", br}, withComment(c, "-j", "DROP")...)...),
	}
	if v6 && !n.ICC {
		// Neighbour discovery is ICMPv6, which a bridge hands to
		// ip6tables like any other packet: icc: false would drop the
		// containers' neighbour solicitations and advertisements, and
		// with them every opening a link makes. Those two pass (router
		// advertisements do not); NETCTL-CT comes before the icc drop.
		for _, typ := range []string{"135", "136"} {
			rules = append(rules, r(tableFilter, chainCT, append([]string{"-i", br, "-o", br, "-p", "ipv6-icmp"},
				withComment(c, "-m", "icmp6", "--icmpv6-type", typ, "-j", "ACCEPT")...)...))
		}
	}
	if !n.Internal {
		src := subnet.Masked().String()
		if masq {
			rules = append(rules, r(tableNAT, chainPost, append([]string{"-s", src, "!", "-o", br}, withComment(c, "-j", "MASQUERADE")...)...))
		}
		rules = append(rules,
			r(tableNAT, chainPost, append([]string{"-s", src, "-o", br, "-m", "conntrack", "--ctstate", "DNAT"}, withComment(c, "-j", "MASQUERADE")...)...),
			r(tableNAT, chainPost, append([]string{"-o", br, "-m", "addrtype", "--src-type", "LOCAL"}, withComment(c, "-j", "MASQUERADE")...)...),
		)
	}
	if !v6 {
		rules = append(rules, dnsExemptions(br, subnet, c)...)
		// The VXLAN underlay is IPv4 (an IPv6 underlay is refused); an
		// overlay's IPv6 rules are a bridge network's, inside it.
		vx, err := vxlanRules(inst, n)
		if err != nil {
			return nil, err
		}
		rules = append(rules, vx...)
		pd, err := peerDNSRules(inst, n)
		if err != nil {
			return nil, err
		}
		rules = append(rules, pd...)
	}
	return rules, checkAll(rules)
}

// dnsPort is where netctl's DNS server listens on each gateway (and on
// an overlay node's underlay address).
var dnsPort = strconv.Itoa(model.DNSPort)

// dnsExemptions keep the network's containers' queries to netctl's DNS
// server, which listens on the gateway's port 53, out of the DNATs: a
// port 53 published on every host address would otherwise take them to
// the publishing container, and every name would stop resolving (Docker's
// resolver is at 127.0.0.11 inside the container and never meets its
// DNATs). NETCTL is only entered for local destinations, so the bridge's
// subnet names its gateway. The RETURNs sit at the top of NETCTL, before
// every project's jump (Apply inserts them there). Only IPv4: the DNS
// server does not listen on IPv6 gateways.
func dnsExemptions(br string, subnet netip.Prefix, comment string) []rule {
	var out []rule
	for _, proto := range []string{"udp", "tcp"} {
		out = append(out, r(tableNAT, chainDNAT, append([]string{"-d", subnet.Masked().String(), "-i", br, "-p", proto},
			withComment(comment, "-m", proto, "--dport", dnsPort, "-j", "RETURN")...)...))
	}
	return out
}
