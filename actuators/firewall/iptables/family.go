package iptables

import (
	"maps"

	"github.com/netctl/netctl/model"
)

// IPv6 goes in ip6tables, with the same layout as IPv4 in iptables: the
// same chains, the same rules, IPv6 addresses. Each family is observed and
// changed on its own (ip6tables-save, ip6tables-restore), and the objects
// of the two are one model.Firewall: a dual-stack network is one
// NetworkRules whose Subnet is read from iptables and SubnetV6 from
// ip6tables, a port or link is of the family of its addresses.

// familyOf is the part of a firewall one family holds: every network (its
// IPv6 rules only when dual stack), the ports and links of that family.
func familyOf(fw *model.Firewall, v6 bool) *model.Firewall {
	out := model.NewFirewall()
	for id, n := range fw.Networks {
		if !v6 || n.SubnetV6.IsValid() {
			out.Networks[id] = n
		}
	}
	for k, p := range fw.Ports {
		if p.Target.Is6() == v6 {
			out.Ports[k] = p
		}
	}
	for k, l := range fw.Links {
		if l.Dst.Is6() == v6 {
			out.Links[k] = l
		}
	}
	return out
}

// familyBatch is the part of a batch one family carries out. A network
// whose IPv6 side is gone (IPv6 turned off) has its ip6tables rules
// dropped; the project's ports and links are those of the family.
func familyBatch(b *model.FirewallBatch, v6 bool) *model.FirewallBatch {
	fb := *b
	fb.Networks, fb.DropNetworks, fb.Ports, fb.Links = nil, b.DropNetworks, nil, nil
	for _, n := range b.Networks {
		if !v6 || n.SubnetV6.IsValid() {
			fb.Networks = append(fb.Networks, n)
		} else {
			fb.DropNetworks = append(fb.DropNetworks, n)
		}
	}
	for _, p := range b.Ports {
		if p.Target.Is6() == v6 {
			fb.Ports = append(fb.Ports, p)
		}
	}
	for _, l := range b.Links {
		if l.Dst.Is6() == v6 {
			fb.Links = append(fb.Links, l)
		}
	}
	return &fb
}

// merge puts the IPv6 observation's objects into the IPv4 one's. A
// network's two halves must agree on what both carry (bridge, internal,
// icc): otherwise it is damaged and its rules are rewritten. What only
// one family has is reported as it is; the difference from the desired
// state (a missing Subnet or SubnetV6) plans the repair.
func merge(fw4, fw6 *model.Firewall) *model.Firewall {
	fw := fw4
	for id, n6 := range fw6.Networks {
		n := fw.Networks[id]
		if n == nil {
			c := *n6
			fw.Networks[id] = &c
			continue
		}
		n.SubnetV6, n.MasqueradeV6 = n6.SubnetV6, n6.MasqueradeV6
		if n6.Damaged || n.Bridge != n6.Bridge || n.Internal != n6.Internal || n.ICC != n6.ICC {
			n.Damaged = true
		}
	}
	maps.Copy(fw.Ports, fw6.Ports)
	maps.Copy(fw.Links, fw6.Links)
	for owner, rules := range fw6.Stray {
		for _, r := range rules {
			fw.Stray[owner] = append(fw.Stray[owner], "ip6tables "+r)
		}
	}
	for _, m := range fw6.BaseMissing {
		fw.BaseMissing = append(fw.BaseMissing, "ip6tables: "+m)
	}
	fw.Installed = fw4.Installed || fw6.Installed
	return fw
}
