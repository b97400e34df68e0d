package iptables

import (
	"fmt"
	"strconv"

	"github.com/netctl/netctl/model"
)

// portRules renders a published port's rules: the DNAT, the accept of the
// DNAT'd traffic (which isolation would otherwise drop when it comes from
// another network) and, for a loopback host address, the drop of remote
// traffic to it (route_localnet would otherwise let it in).
func portRules(inst model.Instance, p *model.PortRule) ([]rule, error) {
	if err := checkProject(p.Project, false); err != nil {
		return nil, err
	}
	if err := checkName("container", p.Container); err != nil {
		return nil, err
	}
	if err := checkProto(p.Proto); err != nil {
		return nil, err
	}
	if err := checkAddr("target", p.Target); err != nil {
		return nil, err
	}
	if p.HostIP.IsValid() {
		if err := checkAddr("host address", p.HostIP); err != nil {
			return nil, err
		}
	}
	if p.HostPort == 0 || p.ContainerPort == 0 {
		return nil, fmt.Errorf("port %s: no host or container port", p)
	}
	chain, c := projectChain(inst, p.Project), model.InstanceComment(inst, model.EncodePortComment(p))
	hp, cp := strconv.Itoa(int(p.HostPort)), strconv.Itoa(int(p.ContainerPort))
	var dst []string
	if p.HostIP.IsValid() {
		dst = []string{"-d", p.HostIP.String() + "/32"}
	}
	dnat := append(append(dst[:len(dst):len(dst)], "-p", p.Proto), withComment(c, "-m", p.Proto, "--dport", hp,
		"-j", "DNAT", "--to-destination", p.Target.String()+":"+cp)...)
	accept := append([]string{"-d", p.Target.String() + "/32", "-p", p.Proto, "-m", "conntrack", "--ctstate", "DNAT"},
		withComment(c, "-m", p.Proto, "--dport", cp, "-j", "ACCEPT")...)
	rules := []rule{r(tableNAT, chain, dnat...), r(tableFilter, chain, accept...)}
	if p.HostIP.IsLoopback() {
		drop := append(append(dst[:len(dst):len(dst)], "!", "-i", "lo", "-p", p.Proto), withComment(c, "-m", p.Proto, "--dport", hp, "-j", "DROP")...)
		rules = append(rules, r(tableRaw, chain, drop...))
	}
	return rules, checkAll(rules)
}
