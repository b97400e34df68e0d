package model

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// Rule comments mark netctl's packet-filter rules and carry the object each
// rule is built from. They are a persisted encoding: observation reads them
// back from live hosts to rebuild the networks, published ports (including
// the host port picked for a range or ephemeral mapping, which lives
// nowhere else) and links, and to tell netctl's rules from anybody else's.
//
// COMPATIBILITY: hosts running an older netctl carry these exact texts.
// Never change what an Encode function writes or stop accepting what a
// Decode function accepts; a new form may only be added beside the old one
// (decode both, encode the new one once every supported version decodes
// it). The golden tests in rulecomment_test.go hold the texts of live
// hosts. Display strings (PortRule.String, plan details) are separate and
// free to change.
//
// Every text is made of names the spec checked (DNS labels, interface
// names), addresses, ports, protocols and the fixed words below: no quote,
// backslash or newline, and at most a few dozen bytes, within xt_comment's
// 255 and nftables' 128.

// RuleCommentBase marks netctl's fixed chains and the jumps into them from
// the built-in chains, which belong to no project.
const RuleCommentBase = "netctl"

// ruleCommentPrefix starts every comment that names a project.
const ruleCommentPrefix = RuleCommentBase + ":"

// Instances. The comments of an instance other than the default one (a
// --root other than /run/netctl, see Instance) start "netctl@<instance>:"
// where the default instance's start "netctl:"; the rest is the same.
// Each instance reads back only its own; the fixed chains (base comment
// "netctl") are shared by all.

// InstanceComment turns a comment written by the Encode functions into
// inst's: "netctl:shop" becomes "netctl@0a1b2c3d:shop" (unchanged for the
// default instance and for the base comment).
func InstanceComment(inst Instance, c string) string {
	if inst == "" {
		return c
	}
	if rest, ok := strings.CutPrefix(c, ruleCommentPrefix); ok {
		return RuleCommentBase + instanceSep + string(inst) + ":" + rest
	}
	return c
}

// CommentInstance is the inverse of InstanceComment: the instance a
// netctl comment belongs to, and the comment as the Decode functions read
// it. ok is false for a comment naming no valid instance after "netctl@".
func CommentInstance(c string) (inst Instance, comment string, ok bool) {
	rest, found := strings.CutPrefix(c, RuleCommentBase+instanceSep)
	if !found {
		return "", c, true
	}
	id, rest, found := strings.Cut(rest, ":")
	if !found || !Instance(id).valid() {
		return "", c, false
	}
	return Instance(id), ruleCommentPrefix + rest, true
}

// EncodeProjectComment marks what belongs to a project as a whole (the jump
// to its own chain): "netctl:shop".
func EncodeProjectComment(project string) string {
	return ruleCommentPrefix + project
}

// DecodeProjectComment is the inverse of EncodeProjectComment.
func DecodeProjectComment(c string) (project string, ok bool) {
	project, ok = strings.CutPrefix(c, ruleCommentPrefix)
	if !ok || !IsLabel(project) {
		return "", false
	}
	return project, true
}

// RuleCommentOwner is the project a netctl comment of any kind names: ""
// and false for the base comment, a foreign comment, or one whose project
// is not a name netctl would write.
func RuleCommentOwner(c string) (project string, ok bool) {
	rest, ok := strings.CutPrefix(c, ruleCommentPrefix)
	if !ok {
		return "", false
	}
	project, _, _ = strings.Cut(rest, ":")
	if !IsLabel(project) {
		return "", false
	}
	return project, true
}

// CheckSharedNetwork refuses network rules the comments cannot carry: the
// default network "bridge" belongs to no project, and no other network is
// projectless (DecodeNetworkComment reads no other).
func CheckSharedNetwork(n *NetworkRules) error {
	if (n.Project == "") != (n.Name == DefaultNetwork) {
		return fmt.Errorf("network %q of project %q: only the default network %q belongs to no project", n.Name, n.Project, DefaultNetwork)
	}
	return nil
}

// EncodeNetworkComment marks a network's rules with what they are built
// from: "netctl:shop:backend br-1a2b 172.18.0.0/16[ internal][ no-icc]"
// ("netctl::bridge ..." for the shared default network).
func EncodeNetworkComment(n *NetworkRules) string {
	return encodeNetworkComment(n, n.Subnet.String(), false)
}

// EncodeNetworkCommentV6 marks the IPv6 rules of a dual-stack network the
// same way, with its IPv6 subnet and whether its IPv6 egress is left
// unmasqueraded: "netctl:shop:backend br-1a2b fd00:18::/64[ internal][
// no-icc][ no-masq]".
func EncodeNetworkCommentV6(n *NetworkRules) string {
	return encodeNetworkComment(n, n.SubnetV6.String(), !n.MasqueradeV6)
}

func encodeNetworkComment(n *NetworkRules, subnet string, noMasq bool) string {
	c := fmt.Sprintf("%s%s:%s %s %s", ruleCommentPrefix, n.Project, n.Name, n.Bridge, subnet)
	if n.Internal {
		c += " internal"
	}
	if !n.ICC {
		c += " no-icc"
	}
	if noMasq {
		c += " no-masq"
	}
	return c
}

var networkCommentRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^netctl:([A-Za-z0-9-]*):([A-Za-z0-9-]+) ([A-Za-z0-9_.-]+) ([0-9./]+|[0-9a-f:]+/[0-9]+)( internal)?( no-icc)?( no-masq)?$`)
})

// DecodeNetworkComment is the inverse of EncodeNetworkComment and of
// EncodeNetworkCommentV6: the network comes back with Subnet set, or with
// SubnetV6 (and MasqueradeV6) set for the IPv6 form. Damaged is left false.
func DecodeNetworkComment(c string) (*NetworkRules, bool) {
	m := networkCommentRE().FindStringSubmatch(c)
	if m == nil {
		return nil, false
	}
	subnet, err := netip.ParsePrefix(m[4])
	if err != nil || subnet.Addr().Is4In6() || subnet != subnet.Masked() {
		return nil, false
	}
	n := &NetworkRules{Project: m[1], Name: m[2], Bridge: m[3], Internal: m[5] != "", ICC: m[6] == ""}
	switch {
	case subnet.Addr().Is4() && m[7] == "":
		n.Subnet = subnet
	case subnet.Addr().Is6():
		n.SubnetV6, n.MasqueradeV6 = subnet, m[7] == ""
	default:
		return nil, false
	}
	if (n.Project == "") != (n.Name == DefaultNetwork) {
		return nil, false
	}
	return n, true
}

// EncodePortComment marks a published port's rules with the mapping:
// "netctl:shop:web 0.0.0.0:8080->172.18.0.2:5000/tcp" (0.0.0.0: every
// host address), "netctl:shop:web [::]:8080->[fd00::2]:5000/tcp" for an
// IPv6 port ([::]: every IPv6 host address). It is where the host port
// picked for a range or ephemeral mapping is read back from.
//
// Observation renders it for every published port it reads back, so it is
// built in one buffer rather than with fmt; the text is the same as the
// fmt.Sprintf("%s%s:%s %s->%s/%s", ...) it replaced, byte for byte.
func EncodePortComment(p *PortRule) string {
	var buf [160]byte
	b := append(buf[:0], ruleCommentPrefix...)
	b = append(append(append(append(b, p.Project...), ':'), p.Container...), ' ')
	if p.Target.Is6() {
		b = appendAddrPort(b, p.HostIP, p.HostPort)
		b = append(b, "->"...)
		b = appendAddrPort(b, p.Target, p.ContainerPort)
	} else {
		if p.HostIP.IsValid() {
			b = p.HostIP.AppendTo(b)
		} else {
			b = append(b, "0.0.0.0"...)
		}
		b = strconv.AppendUint(append(b, ':'), uint64(p.HostPort), 10)
		b = append(b, "->"...)
		b = appendAddr(b, p.Target)
		b = strconv.AppendUint(append(b, ':'), uint64(p.ContainerPort), 10)
	}
	return string(append(append(b, '/'), p.Proto...))
}

// appendAddr appends a.String(): AppendTo writes nothing for the zero
// address, String "invalid IP".
func appendAddr(b []byte, a netip.Addr) []byte {
	if !a.IsValid() {
		return append(b, a.String()...)
	}
	return a.AppendTo(b)
}

// appendAddrPort appends netip.AddrPortFrom(a, port).String(), which
// AppendTo writes but for the zero address.
func appendAddrPort(b []byte, a netip.Addr, port uint16) []byte {
	if !a.IsValid() {
		return append(b, netip.AddrPortFrom(a, port).String()...)
	}
	return netip.AddrPortFrom(a, port).AppendTo(b)
}

// DecodePortComment is the inverse of EncodePortComment; Damaged is left
// false. It reads every published port's rule on each observation (a
// thousand of them at a thousand containers), so it cuts the text by hand
// where a regular expression took 13 % of the firewall's observation;
// rulecomment_test.go holds it to the expression it replaced.
func DecodePortComment(c string) (*PortRule, bool) {
	rest, ok := strings.CutPrefix(c, ruleCommentPrefix)
	if !ok {
		return nil, false
	}
	owner, rest, ok := strings.Cut(rest, " ")
	if !ok {
		return nil, false
	}
	project, container, ok := strings.Cut(owner, ":")
	if !ok || project == "" || container == "" || !labelChars(project) || !labelChars(container) {
		return nil, false
	}
	from, rest, ok := strings.Cut(rest, "->")
	if !ok {
		return nil, false
	}
	to, proto, ok := strings.Cut(rest, "/")
	if !ok || (proto != "tcp" && proto != "udp" && proto != "sctp") {
		return nil, false
	}
	v6 := strings.HasPrefix(from, "[")
	hostIP, hp, ok1 := cutAddrPort(from, v6)
	target, cp, ok2 := cutAddrPort(to, v6)
	if !ok1 || !ok2 || hp == 0 || cp == 0 ||
		hostIP.Is6() != v6 || target.Is6() != v6 || hostIP.Is4In6() || target.Is4In6() {
		return nil, false
	}
	if !v6 && hostIP.IsUnspecified() {
		hostIP = netip.Addr{}
	}
	return &PortRule{
		Project: project, Container: container, Target: target,
		Port: Port{HostIP: hostIP, HostPort: hp, ContainerPort: cp, Proto: proto},
	}, true
}

// cutAddrPort reads "172.18.0.2:5000" or, v6, "[fd00::2]:5000" as the
// port comments write them: dotted digits, or lower-case hex and colons.
func cutAddrPort(s string, v6 bool) (netip.Addr, uint16, bool) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return netip.Addr{}, 0, false
	}
	addr, port := s[:i], s[i+1:]
	if v6 {
		inner, open := strings.CutPrefix(addr, "[")
		inner, closed := strings.CutSuffix(inner, "]")
		if !open || !closed || inner == "" {
			return netip.Addr{}, 0, false
		}
		for j := 0; j < len(inner); j++ {
			if c := inner[j]; !isDigit(c) && c != ':' && !('a' <= c && c <= 'f') {
				return netip.Addr{}, 0, false
			}
		}
		addr = inner
	} else {
		if addr == "" {
			return netip.Addr{}, 0, false
		}
		for j := 0; j < len(addr); j++ {
			if c := addr[j]; !isDigit(c) && c != '.' {
				return netip.Addr{}, 0, false
			}
		}
	}
	if port == "" {
		return netip.Addr{}, 0, false
	}
	for j := 0; j < len(port); j++ {
		if !isDigit(port[j]) {
			return netip.Addr{}, 0, false
		}
	}
	ip, err := netip.ParseAddr(addr)
	n, perr := strconv.ParseUint(port, 10, 16)
	if err != nil || perr != nil {
		return netip.Addr{}, 0, false
	}
	return ip, uint16(n), true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// EncodeLinkComment marks a link's rules with the opening:
// "netctl:shop:web link db 172.18.0.3->172.18.0.2:5432/tcp br-1a2b"
// (the linking container, the linked one, source, destination and port,
// bridge); "... fd00::3->[fd00::2]:5432/tcp br-1a2b" for IPv6.
func EncodeLinkComment(l *LinkRule) string {
	return fmt.Sprintf("%s%s:%s link %s %s->%s/%s %s", ruleCommentPrefix, l.Project, l.Container, l.Target,
		l.Src, netip.AddrPortFrom(l.Dst, l.Port), l.Proto, l.Bridge)
}

var (
	linkCommentRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^netctl:([A-Za-z0-9-]+):([A-Za-z0-9-]+) link ([A-Za-z0-9-]+) ([0-9.]+)->([0-9.]+):([0-9]+)/(tcp|udp|sctp) ([A-Za-z0-9_.-]+)$`)
	})
	linkCommentV6RE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^netctl:([A-Za-z0-9-]+):([A-Za-z0-9-]+) link ([A-Za-z0-9-]+) ([0-9a-f:]+)->\[([0-9a-f:]+)\]:([0-9]+)/(tcp|udp|sctp) ([A-Za-z0-9_.-]+)$`)
	})
)

// DecodeLinkComment is the inverse of EncodeLinkComment; Damaged is left
// false.
func DecodeLinkComment(c string) (*LinkRule, bool) {
	m := linkCommentRE().FindStringSubmatch(c)
	v6 := m == nil
	if v6 {
		m = linkCommentV6RE().FindStringSubmatch(c)
	}
	if m == nil {
		return nil, false
	}
	src, err1 := netip.ParseAddr(m[4])
	dst, err2 := netip.ParseAddr(m[5])
	port, err3 := strconv.ParseUint(m[6], 10, 16)
	if err1 != nil || err2 != nil || err3 != nil || src.Is6() != v6 || dst.Is6() != v6 || src.Is4In6() || dst.Is4In6() || port == 0 {
		return nil, false
	}
	return &LinkRule{Project: m[1], Container: m[2], Target: m[3], Src: src, Dst: dst, Port: uint16(port), Proto: m[7], Bridge: m[8]}, true
}
