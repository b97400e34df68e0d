package iptables

import (
	"fmt"

	"github.com/netctl/netctl/model"
)

// networkRules renders a network's rules.
func networkRules(inst model.Instance, n *model.NetworkRules) ([]rule, error) {
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
	if !n.Subnet.IsValid() || !n.Subnet.Addr().Is4() {
		return nil, fmt.Errorf("network %s: subnet %s is not IPv4", n.Name, n.Subnet)
	}
	c, br, subnet := model.InstanceComment(inst, model.EncodeNetworkComment(n)), n.Bridge, n.Subnet.Masked().String()
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
	if !n.Internal {
		rules = append(rules,
			r(tableNAT, chainPost, append([]string{"-s", subnet, "!", "-o", br}, withComment(c, "-j", "MASQUERADE")...)...),
			r(tableNAT, chainPost, append([]string{"-s", subnet, "-o", br, "-m", "conntrack", "--ctstate", "DNAT"}, withComment(c, "-j", "MASQUERADE")...)...),
			r(tableNAT, chainPost, append([]string{"-o", br, "-m", "addrtype", "--src-type", "LOCAL"}, withComment(c, "-j", "MASQUERADE")...)...),
		)
	}
	vx, err := vxlanRules(inst, n)
	if err != nil {
		return nil, err
	}
	rules = append(rules, vx...)
	return rules, checkAll(rules)
}
