package iptables

import (
	"strconv"

	"github.com/netctl/netctl/model"
)

// linkRules renders a link's opening, both ways as Docker does (the
// answers would pass as ESTABLISHED anyway).
func linkRules(inst model.Instance, l *model.LinkRule) ([]rule, error) {
	if err := checkProject(l.Project, false); err != nil {
		return nil, err
	}
	for what, s := range map[string]string{"container": l.Container, "linked container": l.Target} {
		if err := checkName(what, s); err != nil {
			return nil, err
		}
	}
	if err := checkBridge(l.Bridge); err != nil {
		return nil, err
	}
	if err := checkProto(l.Proto); err != nil {
		return nil, err
	}
	if err := checkAddr("link source", l.Src, l.Dst.Is6()); err != nil {
		return nil, err
	}
	if err := checkAddr("link destination", l.Dst, l.Dst.Is6()); err != nil {
		return nil, err
	}
	chain, c, port := projectChain(inst, l.Project), model.InstanceComment(inst, model.EncodeLinkComment(l)), strconv.Itoa(int(l.Port))
	src, dst := hostMatch(l.Src), hostMatch(l.Dst)
	rules := []rule{
		r(tableFilter, chain, append([]string{"-s", src, "-d", dst, "-i", l.Bridge, "-o", l.Bridge, "-p", l.Proto},
			withComment(c, "-m", l.Proto, "--dport", port, "-j", "ACCEPT")...)...),
		r(tableFilter, chain, append([]string{"-s", dst, "-d", src, "-i", l.Bridge, "-o", l.Bridge, "-p", l.Proto},
			withComment(c, "-m", l.Proto, "--sport", port, "-j", "ACCEPT")...)...),
	}
	return rules, checkAll(rules)
}
