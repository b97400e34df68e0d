package reconciler

import (
	"fmt"
	"slices"
	"strings"

	"github.com/netctl/netctl/model"
)

// fwBase, fwStray and fwTeardown are the fwObject of the actions that
// repair netctl's fixed chains, remove stray rules, and remove everything
// of netctl's once no project is left.
type (
	fwBase     struct{}
	fwStray    struct{}
	fwTeardown struct{}
)

// diffFirewall plans the firewall and sysctl actions of one project: its
// networks' rules (and the shared default network's when the project uses
// it), its published ports and links, stray rules in netctl's chains, and
// the sysctls forwarding needs. Nothing is planned when the firewall is not
// observed (no backend).
func diffFirewall(p *Plan, project string, desired, observed *model.State) {
	have := observed.Firewall
	if have == nil {
		return
	}
	want := desired.Firewall
	if want == nil {
		want = model.NewFirewall()
	}
	p.firewall, p.fwHave = want, have
	add := func(a *Action) {
		a.Kind, a.phase, a.group = KindFirewall, phaseFirewall, "firewall"
		if _, ok := a.fwObject.(model.Sysctl); ok {
			a.Kind = KindSysctl
		}
		p.add(a)
	}

	if len(have.BaseMissing) > 0 && len(want.Networks) > 0 {
		op, reason := OpUpdate, "incomplete"
		if len(have.Networks) == 0 && len(have.Ports) == 0 && len(have.Links) == 0 {
			op, reason = OpCreate, "not present"
		}
		add(&Action{Op: op, Project: project, Name: "netctl chains", Reason: reason,
			Details: slices.Clone(have.BaseMissing), fwObject: fwBase{}})
	}

	for _, id := range unionKeys(want.Networks, have.Networks) {
		d, o := want.Networks[id], have.Networks[id]
		switch {
		case d == nil:
			if o.Project != project || o.Project == "" {
				continue
			}
			add(&Action{Op: OpDelete, Project: o.Project, Name: o.Name, Reason: "not in the file",
				Details: networkRuleDetails(o), fwObject: o})
		case o == nil:
			add(&Action{Op: OpCreate, Project: d.Project, Name: d.Name, Reason: "not present",
				Details: networkRuleDetails(d), fwObject: d})
		default:
			var c changes
			c.str("bridge", o.Bridge, d.Bridge)
			c.str("subnet", prefixString(o.Subnet), prefixString(d.Subnet))
			c.str("internal", fmt.Sprint(o.Internal), fmt.Sprint(d.Internal))
			c.str("icc", fmt.Sprint(o.ICC), fmt.Sprint(d.ICC))
			c.str("vxlan filter", o.VXLAN.String(), d.VXLAN.String())
			c.str("peer dns", o.PeerDNS.String(), d.PeerDNS.String())
			c.str("subnet_v6", prefixString(o.SubnetV6), prefixString(d.SubnetV6))
			if d.SubnetV6.IsValid() {
				c.str("masquerade_v6", fmt.Sprint(o.MasqueradeV6), fmt.Sprint(d.MasqueradeV6))
			}
			reason := "differs from the file"
			if len(c) == 0 && o.Damaged {
				reason, c = "rules missing", networkRuleDetails(d)
			}
			if len(c) > 0 {
				add(&Action{Op: OpUpdate, Project: d.Project, Name: d.Name, Reason: reason, Details: c, fwObject: d})
			}
		}
	}

	for _, key := range unionKeys(want.Ports, have.Ports) {
		d, o := want.Ports[key], have.Ports[key]
		switch {
		case d == nil:
			if o.Project != project {
				continue
			}
			add(&Action{Op: OpDelete, Project: o.Project, Name: portName(o), Reason: "not in the file",
				Details: []string{"publish " + o.String()}, fwObject: o})
		case o == nil:
			add(&Action{Op: OpCreate, Project: d.Project, Name: portName(d), Reason: "not present",
				Details: []string{"publish " + d.String()}, fwObject: d})
		case portRuleMoved(o, d) || o.Container != d.Container:
			details := []string{"publish " + o.String() + " -> " + d.String()}
			if o.Container != d.Container {
				details = append(details, fmt.Sprintf("container: %s -> %s", o.Container, d.Container))
			}
			add(&Action{Op: OpUpdate, Project: d.Project, Name: portName(d), Reason: "target changed",
				Details: details, fwObject: d})
		case o.Damaged:
			add(&Action{Op: OpUpdate, Project: d.Project, Name: portName(d), Reason: "rules missing",
				Details: []string{"publish " + d.String()}, fwObject: d})
		}
	}

	for _, key := range unionKeys(want.Links, have.Links) {
		d, o := want.Links[key], have.Links[key]
		switch {
		case d == nil:
			if o.Project != project {
				continue
			}
			add(&Action{Op: OpDelete, Project: o.Project, Name: linkName(o), Reason: "not in the file",
				Details: []string{"open " + o.String()}, fwObject: o})
		case o == nil:
			add(&Action{Op: OpCreate, Project: d.Project, Name: linkName(d), Reason: "not present",
				Details: []string{"open " + d.String()}, fwObject: d})
		case o.String() != d.String():
			add(&Action{Op: OpUpdate, Project: d.Project, Name: linkName(d), Reason: "differs from the file",
				Details: []string{"open " + o.String() + " -> " + d.String()}, fwObject: d})
		case o.Damaged:
			add(&Action{Op: OpUpdate, Project: d.Project, Name: linkName(d), Reason: "rules missing",
				Details: []string{"open " + d.String()}, fwObject: d})
		}
	}

	// Stray rules in the chains all projects share are anybody's to remove.
	stray := slices.Clone(have.Stray[""])
	if project != "" {
		stray = append(stray, have.Stray[project]...)
	}
	if len(stray) > 0 {
		add(&Action{Op: OpDelete, Project: project, Name: "stray rules", Reason: "in netctl's chains but not netctl's",
			Details: stray, fwObject: fwStray{}})
	}

	if len(want.Networks)+len(want.Ports)+len(want.Links) == 0 {
		planTeardown(p, observed, func(owner, _ string) bool { return owner == project && owner != "" })
	}

	for _, key := range sortedMapKeys(want.Sysctls) {
		v := want.Sysctls[key]
		old, ok := have.Sysctls[key]
		if ok && old == v {
			continue
		}
		op, detail := OpUpdate, fmt.Sprintf("%s -> %s", old, v)
		if !ok {
			op, detail = OpCreate, "= "+v
		}
		add(&Action{Op: op, Project: project, Name: key, Reason: sysctlReason(key),
			Details: []string{detail}, fwObject: model.Sysctl{Key: key, Value: v}})
	}
}

// portRuleMoved reports whether two rules of one key publish differently.
// Rules with the same port and target render the same: the rendering is
// left out of a no-op plan's thousand comparisons.
func portRuleMoved(o, d *model.PortRule) bool {
	if o.Port == d.Port && o.Target == d.Target {
		return false
	}
	return o.String() != d.String()
}

func sysctlReason(key string) string {
	switch {
	case key == model.SysctlIPForward:
		return "containers reach other networks and the outside through the host"
	case key == model.SysctlBridgeNFCallV4:
		return "icc: false filters traffic within a bridge"
	case key == model.SysctlIPv6Forward:
		return "containers reach other networks and the outside over IPv6 through the host"
	case key == model.SysctlBridgeNFCallV6:
		return "icc: false filters IPv6 traffic within a bridge"
	case strings.HasSuffix(key, ".route_localnet"):
		return "published ports answer on 127.0.0.1"
	}
	return "needed"
}

func networkRuleDetails(n *model.NetworkRules) []string {
	d := []string{fmt.Sprintf("isolate bridge %s from other networks", n.Bridge)}
	if n.ICC {
		d = append(d, "icc: accept between containers")
	} else {
		d = append(d, "icc: drop between containers (links excepted)")
	}
	if n.Internal {
		d = append(d, "internal: drop traffic to and from outside")
	} else {
		d = append(d, "masquerade "+n.Subnet.String()+" going out, hairpin and from the host")
	}
	if n.VXLAN != nil {
		d = append(d, "vxlan filter: "+n.VXLAN.String())
	}
	if n.PeerDNS != nil {
		d = append(d, "peer dns: "+n.PeerDNS.String())
	}
	switch {
	case !n.SubnetV6.IsValid():
	case n.Internal:
		d = append(d, "the same for IPv6 "+n.SubnetV6.String())
	case n.MasqueradeV6:
		d = append(d, "the same for IPv6: masquerade "+n.SubnetV6.String()+" going out, hairpin and from the host")
	default:
		d = append(d, "the same for IPv6: "+n.SubnetV6.String()+" routed out unmasqueraded, hairpin and from the host masqueraded")
	}
	return d
}

// portName names a published port by container and host side:
// "web 0.0.0.0:8080/tcp".
func portName(p *model.PortRule) string {
	return p.Container + " " + p.Port.HostString() + "/" + p.Proto
}

// linkName names a link opening: "web->db 5432/tcp on br-x" ("... tcp6
// on br-x" for its IPv6 twin).
func linkName(l *model.LinkRule) string {
	proto := l.Proto
	if l.Dst.Is6() {
		proto += "6"
	}
	return fmt.Sprintf("%s->%s %d/%s on %s", l.Container, l.Target, l.Port, proto, l.Bridge)
}

// firewallBatch gathers the plan's firewall and sysctl actions into the
// one batch the backend applies.
func firewallBatch(p *Plan, actions []*Action) *model.FirewallBatch {
	b := &model.FirewallBatch{Project: p.Project}
	if p.fwHave != nil {
		b.Observed = p.fwHave.Snapshot
	}
	// Once per host port, protocol and family (conntrack keeps IPv6
	// entries apart).
	type flushKey struct {
		pp model.PortProto
		v6 bool
	}
	flushed := map[flushKey]bool{}
	flush := func(pt model.Port) {
		k := flushKey{model.PortProto{Port: pt.HostPort, Proto: pt.Proto}, pt.IPv6()}
		if pt.Proto != "tcp" && !flushed[k] {
			flushed[k] = true
			b.Flush = append(b.Flush, pt)
		}
	}
	for _, a := range actions {
		switch o := a.fwObject.(type) {
		case fwBase:
			b.Base = true
		case fwStray:
			b.Stray, b.Rewrite = true, true
		case fwTeardown:
			b.Teardown = true
		case *model.NetworkRules:
			if a.Op == OpDelete {
				b.DropNetworks = append(b.DropNetworks, o)
			} else {
				b.Networks = append(b.Networks, o)
			}
		case *model.PortRule:
			b.Rewrite = true
			flush(o.Port)
		case *model.LinkRule:
			b.Rewrite = true
		case model.Sysctl:
			b.Sysctls = append(b.Sysctls, o)
		}
	}
	if b.Rewrite && p.firewall != nil {
		for _, key := range sortedMapKeys(p.firewall.Ports) {
			if pr := p.firewall.Ports[key]; pr.Project == p.Project {
				b.Ports = append(b.Ports, pr)
			}
		}
		for _, key := range sortedMapKeys(p.firewall.Links) {
			if l := p.firewall.Links[key]; l.Project == p.Project {
				b.Links = append(b.Links, l)
			}
		}
	}
	return b
}

// pruneNetworkRules plans the removal of a pruned network's rules.
func pruneNetworkRules(p *Plan, st *model.State, id string) {
	if st.Firewall == nil || st.Firewall.Networks[id] == nil {
		return
	}
	p.fwHave = st.Firewall
	o := st.Firewall.Networks[id]
	p.add(&Action{Op: OpDelete, Kind: KindFirewall, Project: o.Project, Name: o.Name, Reason: "its bridge is pruned",
		Details: networkRuleDetails(o), fwObject: o, phase: phaseFirewall, group: "firewall"})
}

// pruneFirewall plans the teardown of netctl's packet filter when the
// prune leaves no network and no rule of any project: removed are the
// networks the prune deletes.
func pruneFirewall(p *Plan, st *model.State, removed map[string]bool) {
	planTeardown(p, st, func(_, networkID string) bool { return removed[networkID] })
}

// planTeardown plans the removal of everything netctl has in the packet
// filter (its chains, its jumps) once nothing observed needs it any more:
// no bridge network and no network, port or link rules of any project,
// leaving aside what gone says the plan removes (by owning project, and
// network ID for networks). Without it, `down` of the last project and
// `prune` would leave empty chains and jumps behind.
func planTeardown(p *Plan, st *model.State, gone func(project, networkID string) bool) {
	fw := st.Firewall
	if fw == nil || !fw.Installed || fw.OtherInstances {
		return
	}
	for id, n := range st.Networks {
		if !gone(n.Project, id) {
			return
		}
	}
	for id, n := range fw.Networks {
		if !gone(n.Project, id) {
			return
		}
	}
	for _, pr := range fw.Ports {
		if !gone(pr.Project, "") {
			return
		}
	}
	for _, l := range fw.Links {
		if !gone(l.Project, "") {
			return
		}
	}
	p.fwHave = fw
	p.add(&Action{Op: OpDelete, Kind: KindFirewall, Project: "", Name: "netctl chains", Reason: "no project has rules left",
		Details: []string{"remove netctl's chains and its jumps from the built-in chains"}, fwObject: fwTeardown{},
		phase: phaseFirewall, group: "firewall"})
}
