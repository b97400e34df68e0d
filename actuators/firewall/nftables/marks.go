package nftables

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"github.com/netctl/netctl/model"
)

// Marks are the comments on netctl's set elements: each names the object
// the element belongs to, in full, so that observation rebuilds networks,
// published ports (with the host port picked for a range or ephemeral
// mapping, kept nowhere else) and links from whichever of their elements
// survive.
//
// COMPATIBILITY: these texts are read back from live hosts. They are the
// iptables backend's rule comments, letter for letter, so that both
// backends speak one encoding; never change what an encode function
// writes or stop accepting what a decode function accepts.

const markPrefix = "netctl:"

// maxMark bounds a mark: the kernel keeps at most 256 bytes of user data
// per element, and the comment takes 3 of them (type, length, NUL).
const maxMark = 253

func networkMark(n *model.NetworkRules) string {
	c := fmt.Sprintf("%s%s:%s %s %s", markPrefix, n.Project, n.Name, n.Bridge, n.Subnet)
	if n.Internal {
		c += " internal"
	}
	if !n.ICC {
		c += " no-icc"
	}
	return c
}

var networkMarkRE = regexp.MustCompile(`^netctl:([A-Za-z0-9-]*):([A-Za-z0-9-]+) ([A-Za-z0-9_.-]+) ([0-9./]+)( internal)?( no-icc)?$`)

func parseNetworkMark(c string) (*model.NetworkRules, bool) {
	m := networkMarkRE.FindStringSubmatch(c)
	if m == nil {
		return nil, false
	}
	subnet, err := netip.ParsePrefix(m[4])
	if err != nil || !subnet.Addr().Is4() {
		return nil, false
	}
	n := &model.NetworkRules{Project: m[1], Name: m[2], Bridge: m[3], Subnet: subnet, Internal: m[5] != "", ICC: m[6] == ""}
	if (n.Project == "") != (n.Name == model.DefaultNetwork) {
		return nil, false
	}
	return n, true
}

func portMark(p *model.PortRule) string {
	return fmt.Sprintf("%s%s:%s %s:%d->%s:%d/%s", markPrefix, p.Project, p.Container,
		p.HostIPString(), p.HostPort, p.Target, p.ContainerPort, p.Proto)
}

var portMarkRE = regexp.MustCompile(`^netctl:([A-Za-z0-9-]+):([A-Za-z0-9-]+) ([0-9.]+):([0-9]+)->([0-9.]+):([0-9]+)/(tcp|udp|sctp)$`)

func parsePortMark(c string) (*model.PortRule, bool) {
	m := portMarkRE.FindStringSubmatch(c)
	if m == nil {
		return nil, false
	}
	hostIP, err1 := netip.ParseAddr(m[3])
	target, err2 := netip.ParseAddr(m[5])
	hp, err3 := strconv.ParseUint(m[4], 10, 16)
	cp, err4 := strconv.ParseUint(m[6], 10, 16)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || !hostIP.Is4() || !target.Is4() || hp == 0 || cp == 0 {
		return nil, false
	}
	if hostIP.IsUnspecified() {
		hostIP = netip.Addr{}
	}
	return &model.PortRule{
		Project: m[1], Container: m[2], Target: target,
		Port: model.Port{HostIP: hostIP, HostPort: uint16(hp), ContainerPort: uint16(cp), Proto: m[7]},
	}, true
}

func linkMark(l *model.LinkRule) string {
	return fmt.Sprintf("%s%s:%s link %s %s->%s:%d/%s %s", markPrefix, l.Project, l.Container, l.Target,
		l.Src, l.Dst, l.Port, l.Proto, l.Bridge)
}

var linkMarkRE = regexp.MustCompile(`^netctl:([A-Za-z0-9-]+):([A-Za-z0-9-]+) link ([A-Za-z0-9-]+) ([0-9.]+)->([0-9.]+):([0-9]+)/(tcp|udp|sctp) ([A-Za-z0-9_.-]+)$`)

func parseLinkMark(c string) (*model.LinkRule, bool) {
	m := linkMarkRE.FindStringSubmatch(c)
	if m == nil {
		return nil, false
	}
	src, err1 := netip.ParseAddr(m[4])
	dst, err2 := netip.ParseAddr(m[5])
	port, err3 := strconv.ParseUint(m[6], 10, 16)
	if err1 != nil || err2 != nil || err3 != nil || !src.Is4() || !dst.Is4() || port == 0 {
		return nil, false
	}
	return &model.LinkRule{Project: m[1], Container: m[2], Target: m[3], Src: src, Dst: dst, Port: uint16(port), Proto: m[7], Bridge: m[8]}, true
}

// markOwner is the project a mark names ("" for the shared default
// network, and for anything that is not a mark).
func markOwner(c string) string {
	rest, ok := strings.CutPrefix(c, markPrefix)
	if !ok {
		return ""
	}
	project, _, _ := strings.Cut(rest, ":")
	if !model.IsLabel(project) {
		return ""
	}
	return project
}
