package iptables

import (
	"fmt"
	"net/netip"
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
	// The target says the family; the host address must be of it too.
	v6 := p.Target.Is6()
	if err := checkAddr("target", p.Target, v6); err != nil {
		return nil, err
	}
	if p.HostIP.IsValid() {
		if err := checkAddr("host address", p.HostIP, v6); err != nil {
			return nil, err
		}
	} else if v6 {
		return nil, fmt.Errorf("port %s: an IPv6 port names its host address ([::] for all)", p)
	}
	if p.HostPort == 0 || p.ContainerPort == 0 {
		return nil, fmt.Errorf("port %s: no host or container port", p)
	}
	chain, c := projectChain(inst, p.Project), model.InstanceComment(inst, model.EncodePortComment(p))
	hp, cp := strconv.Itoa(int(p.HostPort)), strconv.Itoa(int(p.ContainerPort))
	var dst []string
	if p.HostIP.IsValid() && !p.HostIP.IsUnspecified() {
		dst = []string{"-d", hostMatch(p.HostIP)}
	}
	dnat := append(append(dst[:len(dst):len(dst)], "-p", p.Proto), withComment(c, "-m", p.Proto, "--dport", hp,
		"-j", "DNAT", "--to-destination", netip.AddrPortFrom(p.Target, p.ContainerPort).String())...)
	accept := append([]string{"-d", hostMatch(p.Target), "-p", p.Proto, "-m", "conntrack", "--ctstate", "DNAT"},
		withComment(c, "-m", p.Proto, "--dport", cp, "-j", "ACCEPT")...)
	rules := []rule{r(tableNAT, chain, dnat...), r(tableFilter, chain, accept...)}
	if p.HostIP.IsLoopback() {
		drop := append(append(dst[:len(dst):len(dst)], "!", "-i", "lo", "-p", p.Proto), withComment(c, "-m", p.Proto, "--dport", hp, "-j", "DROP")...)
		rules = append(rules, r(tableRaw, chain, drop...))
	}
	return rules, checkAll(rules)
}
