package firewall

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"

	"github.com/netctl/netctl/model"
)

// The layout mirrors Docker 28's, in chains of netctl's own:
//
//	filter FORWARD            -j NETCTL-FORWARD (after DOCKER-USER when present)
//	  NETCTL-FORWARD          fixed: -j NETCTL-CT, -j NETCTL-PROJECTS,
//	                          -j NETCTL-ISOLATION-1, -j NETCTL-NETWORKS
//	  NETCTL-CT               per network: -o br ctstate RELATED,ESTABLISHED ACCEPT
//	  NETCTL-PROJECTS         per project: -j NETCTL-P-<hash>
//	    NETCTL-P-<hash>       the project's published ports (DNAT'd traffic to
//	                          the container port) and links: ACCEPT
//	  NETCTL-ISOLATION-1      per network: -i br ! -o br -j NETCTL-ISOLATION-2
//	  NETCTL-ISOLATION-2      per network: -o br DROP
//	  NETCTL-NETWORKS         per network: icc (-i br -o br), outgoing
//	                          (-i br ! -o br), unpublished-port drop (! -i br -o br)
//	nat PREROUTING, OUTPUT    -m addrtype --dst-type LOCAL -j NETCTL
//	  NETCTL                  per project: -j NETCTL-P-<hash> (its DNATs)
//	nat POSTROUTING           -j NETCTL-POSTROUTING
//	  NETCTL-POSTROUTING      per network: masquerade going out, hairpin
//	                          (DNAT'd back into the bridge), from the host
//	raw PREROUTING            -j NETCTL-PREROUTING
//	  NETCTL-PREROUTING       per project: -j NETCTL-P-<hash> (drops of remote
//	                          traffic to its 127.0.0.1-bound ports)
//
// Rules within each of the shared chains match disjoint traffic, so their
// order does not matter and every project adds and deletes its own lines
// there without rewriting anybody else's. A project's ports and links live
// in chains of its own, rewritten in one go.
const (
	chainForward  = "NETCTL-FORWARD"
	chainCT       = "NETCTL-CT"
	chainProjects = "NETCTL-PROJECTS"
	chainIso1     = "NETCTL-ISOLATION-1"
	chainIso2     = "NETCTL-ISOLATION-2"
	chainNetworks = "NETCTL-NETWORKS"
	chainDNAT     = "NETCTL"
	chainPost     = "NETCTL-POSTROUTING"
	chainRaw      = "NETCTL-PREROUTING"

	projectChainPrefix = "NETCTL-P-"
	dockerUser         = "DOCKER-USER"
	baseComment        = "netctl"
	commentPrefix      = "netctl:"
)

// baseChains are the chains every project shares, by table.
var baseChains = map[string][]string{
	tableFilter: {chainForward, chainCT, chainProjects, chainIso1, chainIso2, chainNetworks},
	tableNAT:    {chainDNAT, chainPost},
	tableRaw:    {chainRaw},
}

// projectJumpChain is, per table, the shared chain holding the jumps to
// the projects' chains.
var projectJumpChain = map[string]string{
	tableFilter: chainProjects,
	tableNAT:    chainDNAT,
	tableRaw:    chainRaw,
}

// networkChains hold the per-network rules.
var networkChains = map[string]bool{
	tableFilter + " " + chainCT:       true,
	tableFilter + " " + chainIso1:     true,
	tableFilter + " " + chainIso2:     true,
	tableFilter + " " + chainNetworks: true,
	tableNAT + " " + chainPost:        true,
}

func isOurChain(name string) bool {
	return name == chainDNAT || len(name) > len("NETCTL-") && name[:len("NETCTL-")] == "NETCTL-"
}

// projectChain names a project's own chain (the same name in each table).
func projectChain(project string) string {
	sum := sha256.Sum256([]byte(project))
	return projectChainPrefix + hex.EncodeToString(sum[:])[:12]
}

func r(table, chain string, args ...string) rule {
	return newRule(table, chain, args, "")
}

func withComment(c string, args ...string) []string {
	return append([]string{"-m", "comment", "--comment", c}, args...)
}

// jump is a rule in a built-in chain that enters netctl's chains.
type jump struct {
	table, chain string
	rule         rule
}

// baseJumps are netctl's rules in the built-in chains.
func baseJumps() []jump {
	mk := func(table, chain, target string, pre ...string) jump {
		args := append(pre, withComment(baseComment, "-j", target)...)
		return jump{table: table, chain: chain, rule: r(table, chain, args...)}
	}
	return []jump{
		mk(tableRaw, "PREROUTING", chainRaw),
		mk(tableNAT, "PREROUTING", chainDNAT, "-m", "addrtype", "--dst-type", "LOCAL"),
		mk(tableNAT, "OUTPUT", chainDNAT, "-m", "addrtype", "--dst-type", "LOCAL"),
		mk(tableNAT, "POSTROUTING", chainPost),
		mk(tableFilter, "FORWARD", chainForward),
	}
}

// skeleton is NETCTL-FORWARD's fixed content: the order Docker 28 checks
// things in (conntrack, published ports and links, isolation, per-network
// policy).
func skeleton() []rule {
	var out []rule
	for _, c := range []string{chainCT, chainProjects, chainIso1, chainNetworks} {
		out = append(out, r(tableFilter, chainForward, withComment(baseComment, "-j", c)...))
	}
	return out
}

// projectJump is the jump from a shared chain to the project's chain.
func projectJump(table, project string) rule {
	return r(table, projectJumpChain[table], withComment(commentPrefix+project, "-j", projectChain(project))...)
}

func checkProject(p string, shared bool) error {
	if (shared && p == "") || model.IsLabel(p) {
		return nil
	}
	return fmt.Errorf("project name %q cannot go into a rule", p)
}

func checkName(what, s string) error {
	if model.IsLabel(s) {
		return nil
	}
	return fmt.Errorf("%s name %q cannot go into a rule", what, s)
}

func checkBridge(s string) error {
	if model.IsIfname(s) {
		return nil
	}
	return fmt.Errorf("bridge name %q cannot go into a rule", s)
}

func checkProto(p string) error {
	if model.IsProto(p) {
		return nil
	}
	return fmt.Errorf("protocol %q is not tcp, udp or sctp", p)
}

func checkAddr(what string, a netip.Addr) error {
	if a.Is4() {
		return nil
	}
	return fmt.Errorf("%s %s is not an IPv4 address", what, a)
}

// networkComment marks a network's rules and carries what they are built
// from: "netctl:shop:backend br-1a2b 172.18.0.0/16[ internal][ no-icc]".
func networkComment(n *model.NetworkRules) string {
	c := fmt.Sprintf("%s%s:%s %s %s", commentPrefix, n.Project, n.Name, n.Bridge, n.Subnet)
	if n.Internal {
		c += " internal"
	}
	if !n.ICC {
		c += " no-icc"
	}
	return c
}

var networkCommentRE = regexp.MustCompile(`^netctl:([A-Za-z0-9-]*):([A-Za-z0-9-]+) ([A-Za-z0-9_.-]+) ([0-9./]+)( internal)?( no-icc)?$`)

func parseNetworkComment(c string) (*model.NetworkRules, bool) {
	m := networkCommentRE.FindStringSubmatch(c)
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

// networkRules renders a network's rules.
func networkRules(n *model.NetworkRules) ([]rule, error) {
	if err := checkProject(n.Project, true); err != nil {
		return nil, err
	}
	if err := checkName("network", n.Name); err != nil {
		return nil, err
	}
	if err := checkBridge(n.Bridge); err != nil {
		return nil, err
	}
	if !n.Subnet.IsValid() || !n.Subnet.Addr().Is4() {
		return nil, fmt.Errorf("network %s: subnet %s is not IPv4", n.Name, n.Subnet)
	}
	c, br, subnet := networkComment(n), n.Bridge, n.Subnet.Masked().String()
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
	return rules, checkAll(rules)
}

// portComment marks a published port's rules and carries the mapping:
// "netctl:shop:web 0.0.0.0:8080->172.18.0.2:5000/tcp". It is where the
// host port picked for a range or ephemeral mapping is read back from.
func portComment(p *model.PortRule) string {
	return fmt.Sprintf("%s%s:%s %s", commentPrefix, p.Project, p.Container, p.String())
}

var portCommentRE = regexp.MustCompile(`^netctl:([A-Za-z0-9-]+):([A-Za-z0-9-]+) ([0-9.]+):([0-9]+)->([0-9.]+):([0-9]+)/(tcp|udp|sctp)$`)

func parsePortComment(c string) (*model.PortRule, bool) {
	m := portCommentRE.FindStringSubmatch(c)
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

// portRules renders a published port's rules: the DNAT, the accept of the
// DNAT'd traffic (which isolation would otherwise drop when it comes from
// another network) and, for a loopback host address, the drop of remote
// traffic to it (route_localnet would otherwise let it in).
func portRules(p *model.PortRule) ([]rule, error) {
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
	chain, c := projectChain(p.Project), portComment(p)
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

// linkComment marks a link's rules:
// "netctl:shop:web link db 172.18.0.3->172.18.0.2:5432/tcp br-1a2b".
func linkComment(l *model.LinkRule) string {
	return fmt.Sprintf("%s%s:%s link %s %s->%s:%d/%s %s", commentPrefix, l.Project, l.Container, l.Target, l.Src, l.Dst, l.Port, l.Proto, l.Bridge)
}

var linkCommentRE = regexp.MustCompile(`^netctl:([A-Za-z0-9-]+):([A-Za-z0-9-]+) link ([A-Za-z0-9-]+) ([0-9.]+)->([0-9.]+):([0-9]+)/(tcp|udp|sctp) ([A-Za-z0-9_.-]+)$`)

func parseLinkComment(c string) (*model.LinkRule, bool) {
	m := linkCommentRE.FindStringSubmatch(c)
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

// linkRules renders a link's opening, both ways as Docker does (the
// answers would pass as ESTABLISHED anyway).
func linkRules(l *model.LinkRule) ([]rule, error) {
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
	if err := checkAddr("link source", l.Src); err != nil {
		return nil, err
	}
	if err := checkAddr("link destination", l.Dst); err != nil {
		return nil, err
	}
	chain, c, port := projectChain(l.Project), linkComment(l), strconv.Itoa(int(l.Port))
	src, dst := l.Src.String()+"/32", l.Dst.String()+"/32"
	rules := []rule{
		r(tableFilter, chain, append([]string{"-s", src, "-d", dst, "-i", l.Bridge, "-o", l.Bridge, "-p", l.Proto},
			withComment(c, "-m", l.Proto, "--dport", port, "-j", "ACCEPT")...)...),
		r(tableFilter, chain, append([]string{"-s", dst, "-d", src, "-i", l.Bridge, "-o", l.Bridge, "-p", l.Proto},
			withComment(c, "-m", l.Proto, "--sport", port, "-j", "ACCEPT")...)...),
	}
	return rules, checkAll(rules)
}

func checkAll(rules []rule) error {
	for _, r := range rules {
		if err := checkArgs(r.args); err != nil {
			return fmt.Errorf("%s %s: %w", r.table, r.chain, err)
		}
	}
	return nil
}
