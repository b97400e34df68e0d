package iptables

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

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
//	filter INPUT              -j NETCTL-INPUT
//	  NETCTL-INPUT            per overlay network: its VXLAN filter (overlay.go)
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
)

// baseChains are the chains every project shares, by table.
var baseChains = map[string][]string{
	tableFilter: {chainForward, chainCT, chainProjects, chainIso1, chainIso2, chainNetworks, chainInput},
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

// projectChain names a project's own chain (the same name in each table),
// of the instance's: another --root's project of the same name has
// another chain.
func projectChain(inst model.Instance, project string) string {
	id := project
	if inst != "" {
		id = string(inst) + " " + project
	}
	sum := sha256.Sum256([]byte(id))
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

// baseJumps are netctl's rules in the built-in chains, of iptables or (v6)
// ip6tables. The host's own connections to [::1] are left out of the
// DNATs: IPv6 has no route_localnet, so a ::1 DNATed to a container would
// hang until it times out, where without the DNAT it is refused at once.
func baseJumps(v6 bool) []jump {
	mk := func(table, chain, target string, pre ...string) jump {
		args := append(pre, withComment(model.RuleCommentBase, "-j", target)...)
		return jump{table: table, chain: chain, rule: r(table, chain, args...)}
	}
	var notLoopback []string
	if v6 {
		notLoopback = []string{"!", "-d", "::1/128"}
	}
	return []jump{
		mk(tableRaw, "PREROUTING", chainRaw),
		mk(tableNAT, "PREROUTING", chainDNAT, "-m", "addrtype", "--dst-type", "LOCAL"),
		mk(tableNAT, "OUTPUT", chainDNAT, append(notLoopback, "-m", "addrtype", "--dst-type", "LOCAL")...),
		mk(tableNAT, "POSTROUTING", chainPost),
		mk(tableFilter, "INPUT", chainInput),
		mk(tableFilter, "FORWARD", chainForward),
	}
}

// skeleton is NETCTL-FORWARD's fixed content: the order Docker 28 checks
// things in (conntrack, published ports and links, isolation, per-network
// policy).
func skeleton() []rule {
	var out []rule
	for _, c := range []string{chainCT, chainProjects, chainIso1, chainNetworks} {
		out = append(out, r(tableFilter, chainForward, withComment(model.RuleCommentBase, "-j", c)...))
	}
	return out
}

// projectJump is the jump from a shared chain to the project's chain.
func projectJump(inst model.Instance, table, project string) rule {
	c := model.InstanceComment(inst, model.EncodeProjectComment(project))
	return r(table, projectJumpChain[table], withComment(c, "-j", projectChain(inst, project))...)
}

// checkBase lists what is wrong with netctl's fixed chains and jumps.
func (o *observation) checkBase() []string {
	var missing []string
	present := 0
	total := 0
	for _, table := range tables {
		for _, c := range baseChains[table] {
			total++
			if o.dump.hasChain(table, c) {
				present++
			} else {
				missing = append(missing, fmt.Sprintf("chain %s %s missing", table, c))
			}
		}
	}
	for _, j := range baseJumps(o.v6) {
		total++
		switch n := o.jumpCount(j); {
		case n == 0:
			missing = append(missing, fmt.Sprintf("jump %s %s -> %s missing", j.table, j.chain, j.rule.target()))
			continue
		case n > 1:
			missing = append(missing, fmt.Sprintf("jump %s %s -> %s present %d times", j.table, j.chain, j.rule.target(), n))
		}
		present++
		if j.chain == "FORWARD" && !o.forwardJumpPlaced() {
			missing = append(missing, "jump filter FORWARD -> "+chainForward+" comes before "+dockerUser)
		}
	}
	if o.dump.hasChain(tableFilter, chainForward) && !sameRules(o.dump.rules[tableFilter][chainForward], skeleton()) {
		missing = append(missing, "chain filter "+chainForward+": rules differ")
	}
	if present == 0 {
		return []string{fmt.Sprintf("none of netctl's %d chains and jumps exist", total)}
	}
	return missing
}

// jumpCount counts the exact copies of a base jump in its chain.
func (o *observation) jumpCount(j jump) int {
	n := 0
	for _, r := range o.dump.rules[j.table][j.chain] {
		if r.key() == j.rule.key() {
			n++
		}
	}
	return n
}

// forwardJumpPlaced reports whether netctl's FORWARD jump comes after
// DOCKER-USER's (when there is one): the user's own policy goes first.
func (o *observation) forwardJumpPlaced() bool {
	jumps := baseJumps(o.v6)
	want := jumps[len(jumps)-1].rule.key()
	user := -1
	for i, r := range o.dump.rules[tableFilter]["FORWARD"] {
		if r.target() == dockerUser && user < 0 {
			user = i
		}
		if r.key() == want {
			return user >= 0 || !o.hasDockerUserJump()
		}
	}
	return true
}

func (o *observation) hasDockerUserJump() bool {
	for _, r := range o.dump.rules[tableFilter]["FORWARD"] {
		if r.target() == dockerUser {
			return true
		}
	}
	return false
}

func sameRules(a, b []rule) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].key() != b[i].key() {
			return false
		}
	}
	return true
}

// writeBase creates netctl's fixed chains that are missing, rewrites
// NETCTL-FORWARD when it differs, and puts every jump from a built-in chain
// back in place, exactly once (FORWARD's after DOCKER-USER's).
func writeBase(s *script, o *observation) {
	d := o.dump
	for _, t := range tables {
		for _, c := range baseChains[t] {
			if !d.hasChain(t, c) {
				s.declare(t, c)
			}
		}
	}
	if !d.hasChain(tableFilter, chainForward) || !sameRules(d.rules[tableFilter][chainForward], skeleton()) {
		s.declare(tableFilter, chainForward)
		for _, r := range skeleton() {
			s.append(r)
		}
	}
	for _, j := range baseJumps(o.v6) {
		if o.jumpCount(j) == 1 && (j.chain != "FORWARD" || o.forwardJumpPlaced()) {
			continue
		}
		rules := d.rules[j.table][j.chain]
		pos := 1
		kept := 0
		for i := range rules {
			if rules[i].key() == j.rule.key() {
				s.remove(&rules[i])
				continue
			}
			kept++
			if j.chain == "FORWARD" && rules[i].target() == dockerUser && pos == 1 {
				pos = kept + 1
			}
		}
		if j.chain == "FORWARD" {
			s.insert(j.rule, pos)
		} else {
			s.append(j.rule)
		}
	}
}
