package reconciler

import (
	"bytes"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/netctl/netctl/model"
)

// Diff computes the plan that takes observed to desired for one project.
// Objects of other projects are never touched; the shared default network
// is created when needed but never deleted here (prune does that).
func Diff(project string, desired, observed *model.State) *Plan {
	p := &Plan{Project: project}
	recreated := diffNetworks(p, project, desired, observed)
	diffContainers(p, project, desired, observed, recreated)
	diffNames(p, project, desired, observed)
	diffFirewall(p, project, desired, observed)
	p.sort()
	p.describe(desired, observed)
	return p
}

// sort orders actions by phase; within the detach phase, the containers'
// deletions read first and the bridges' last, as they happen in the kernel.
func (p *Plan) sort() {
	rank := func(a *Action) int {
		r := int(a.phase) * 2
		if a.phase == phaseDetach && a.Kind == KindNetwork {
			r++
		}
		return r
	}
	sort.SliceStable(p.Actions, func(i, j int) bool { return rank(p.Actions[i]) < rank(p.Actions[j]) })
}

func diffNetworks(p *Plan, project string, desired, observed *model.State) map[string]bool {
	recreated := map[string]bool{}
	for _, id := range unionKeys(desired.Networks, observed.Networks) {
		d, o := desired.Networks[id], observed.Networks[id]
		if d == nil && (o.Project != project || o.Shared()) {
			continue
		}
		switch {
		case d == nil:
			deleteNetwork(p, o, "not in the file")
		case o == nil || o.Bridge == "":
			p.add(&Action{Op: OpCreate, Kind: KindNetwork, Reason: "not present", Details: networkDetails(d), phase: phaseNetwork, network: d})
		default:
			changes := networkRecreate(d, o)
			v6 := networkIPv6Changes(d, o)
			if len(changes)+len(v6) > 0 && o.Shared() && otherProjectsOn(observed, id, project) {
				p.Blocked = append(p.Blocked, Blocked{Kind: KindNetwork, Name: d.Name,
					Reason: fmt.Sprintf("cannot change %s: other projects have containers on it", strings.Join(append(changes, v6...), ", "))})
				continue
			}
			if len(changes) > 0 {
				if deleteNetwork(p, o, "replaced: "+strings.Join(changes, ", ")) {
					p.add(&Action{Op: OpCreate, Kind: KindNetwork, Reason: "replaces the old bridge", Details: networkDetails(d), phase: phaseNetwork, network: d})
					recreated[id] = true
				}
				continue
			}
			if changes := append(v6, networkUpdate(d, o)...); len(changes) > 0 {
				p.add(&Action{Op: OpUpdate, Kind: KindNetwork, Reason: "differs from the file", Details: changes, phase: phaseNetwork, network: d})
			}
		}
	}
	return recreated
}

// deleteNetwork plans the deletion of o, or records why it can't be done.
func deleteNetwork(p *Plan, o *model.Network, reason string) bool {
	if len(o.Foreign) > 0 {
		p.Blocked = append(p.Blocked, Blocked{Kind: KindNetwork, Name: o.Name,
			Reason: fmt.Sprintf("not removed: bridge %s has active endpoints netctl does not own: %s", o.Bridge, strings.Join(o.Foreign, ", "))})
		return false
	}
	p.add(&Action{Op: OpDelete, Kind: KindNetwork, Reason: reason, Details: []string{"bridge " + o.Bridge}, phase: phaseDetach, network: o})
	return true
}

func otherProjectsOn(st *model.State, networkID, project string) bool {
	for _, c := range st.Containers {
		if c.Project != project && c.Endpoint(networkID) != nil {
			return true
		}
	}
	return false
}

func networkDetails(n *model.Network) []string {
	d := []string{
		"bridge " + n.Bridge,
		fmt.Sprintf("subnet %s gateway %s", n.Subnet, n.Gateway),
	}
	if n.EnableIPv6 {
		d = append(d, fmt.Sprintf("subnet_v6 %s gateway_v6 %s", n.SubnetV6, n.GatewayV6))
	}
	if n.LinkLocal.IsValid() {
		d = append(d, fmt.Sprintf("link-local %s (this node's, nodad)", n.LinkLocal))
	}
	return append(append(d, fmt.Sprintf("mtu %d", n.MTU)), overlayDetails(n)...)
}

// networkIPv6Changes lists the IPv6 differences, all fixed in place: the
// bridge's IPv6 addresses change, and the containers' with them.
func networkIPv6Changes(d, o *model.Network) []string {
	var c changes
	c.str("enable_ipv6", fmt.Sprint(o.EnableIPv6), fmt.Sprint(d.EnableIPv6))
	if d.EnableIPv6 {
		c.str("subnet_v6", prefixString(o.SubnetV6), prefixString(d.SubnetV6))
		c.str("gateway_v6", prefixString(o.GatewayV6), prefixString(d.GatewayV6))
		c.str("masquerade_v6", fmt.Sprint(o.MasqueradeV6), fmt.Sprint(d.MasqueradeV6))
	}
	// Only an overlay's bridge has netctl's link-local address (none when
	// IPv4-only); a bridge network's is the kernel's.
	if d.Overlay != nil {
		c.str("link-local", prefixString(o.LinkLocal), prefixString(d.LinkLocal))
	}
	return c
}

// networkRecreate lists the differences that need a new bridge.
func networkRecreate(d, o *model.Network) []string {
	var c changes
	c.str("bridge", o.Bridge, d.Bridge)
	c.str("subnet", o.Subnet.String(), d.Subnet.String())
	c.str("gateway", o.Gateway.String(), d.Gateway.String())
	return c
}

// networkUpdate lists the differences fixed in place.
func networkUpdate(d, o *model.Network) []string {
	var c changes
	if o.MTU != d.MTU {
		c.str("mtu", fmt.Sprint(o.MTU), fmt.Sprint(d.MTU))
	}
	if !o.Up {
		c = append(c, "state: down -> up")
	}
	c.str("internal", fmt.Sprint(o.Internal), fmt.Sprint(d.Internal))
	c.str("icc", fmt.Sprint(o.ICC), fmt.Sprint(d.ICC))
	c.str("ip_range", prefixString(o.IPRange), prefixString(d.IPRange))
	c.str("labels", labelString(o.Labels), labelString(d.Labels))
	return append(c, overlayChanges(d.Overlay, o.Overlay)...)
}

func diffContainers(p *Plan, project string, desired, observed *model.State, recreated map[string]bool) {
	for _, id := range unionKeys(desired.Containers, observed.Containers) {
		d, o := desired.Containers[id], observed.Containers[id]
		if d == nil && o.Project != project {
			continue
		}
		switch {
		case d == nil:
			deleteContainer(p, o, "not in the file")
		case o == nil:
			createContainer(p, desired, d, "not present")
		case d.External != o.External || (d.Mode != model.ModeHost && o.Netns != "" && d.Netns != o.Netns):
			deleteContainer(p, o, fmt.Sprintf("namespace %s -> %s", o.Netns, d.Netns))
			createContainer(p, desired, d, "replaces the old namespace")
		default:
			updateContainer(p, desired, d, o, recreated)
		}
	}
}

// needsNamespace reports whether the container lives in a namespace of its own.
func needsNamespace(c *model.Container) bool { return c.Mode != model.ModeHost }

// ownsUTS reports whether netctl keeps a UTS namespace (the hostname) for
// the container: for every namespace it owns.
func ownsUTS(c *model.Container) bool { return needsNamespace(c) && !c.External }

func createContainer(p *Plan, desired *model.State, d *model.Container, reason string) {
	if needsNamespace(d) {
		detail := "namespace " + d.Netns
		if d.External {
			detail = "existing namespace " + d.Netns + " (never deleted)"
		}
		p.add(&Action{Op: OpCreate, Kind: KindContainer, Reason: reason, Details: []string{detail}, phase: phaseContainer, container: d})
	}
	for _, ep := range d.Endpoints {
		p.add(endpointAction(OpCreate, d, ep, "not present", endpointDetails(ep)).withNetwork(desired))
	}
	if d.DefaultGateway.IsValid() {
		p.add(&Action{Op: OpCreate, Kind: KindRoute, Reason: "not present", Details: []string{"default via " + d.DefaultGateway.String()}, phase: phaseContainer, container: d, gateway: d.DefaultGateway})
	}
	if d.DefaultGatewayV6.IsValid() {
		p.add(&Action{Op: OpCreate, Kind: KindRoute, Reason: "not present", Details: []string{"default via " + d.DefaultGatewayV6.String()}, phase: phaseContainer, container: d, gateway: d.DefaultGatewayV6, ipv6: true})
	}
	p.add(&Action{Op: OpCreate, Kind: KindFiles, Reason: "not present", Details: []string{"hosts, resolv.conf, hostname " + d.Hostname}, phase: phaseContainer, container: d})
}

func deleteContainer(p *Plan, o *model.Container, reason string) {
	// Host veths whose namespace is gone would outlive a namespace
	// deletion: remove them one by one.
	if !o.NetnsOK {
		for _, ep := range o.Endpoints {
			a := endpointAction(OpDelete, o, ep, "namespace gone", []string{"veth " + ep.HostIf})
			a.phase = phaseDetach
			p.add(a)
		}
	}
	details := []string{}
	if o.Netns != "" {
		details = append(details, "namespace "+o.Netns)
	}
	for _, ep := range o.Endpoints {
		details = append(details, fmt.Sprintf("%s on %s %s", ep.IfName, model.IDName(ep.Network), endpointAddrs(ep)))
	}
	p.add(&Action{Op: OpDelete, Kind: KindContainer, Reason: reason, Details: details, phase: phaseDetach, container: o})
}

func updateContainer(p *Plan, desired *model.State, d, o *model.Container, recreated map[string]bool) {
	if needsNamespace(d) && !o.NetnsOK {
		createContainer(p, desired, d, "namespace missing")
		return
	}
	if !needsNamespace(d) && o.NetnsOK {
		p.add(&Action{Op: OpDelete, Kind: KindContainer, Reason: "network_mode host: own namespace no longer needed", Details: []string{"namespace " + o.Netns}, phase: phaseDetach, container: o, namespaceOnly: true})
	}
	if needsNamespace(d) {
		var why []string
		var c changes
		if !o.LoUp {
			why = append(why, "loopback is down")
		}
		if ownsUTS(d) && o.UTSHostname != d.Hostname {
			why = append(why, "hostname differs")
			c.str("hostname (UTS namespace)", o.UTSHostname, d.Hostname)
		}
		if len(why) > 0 {
			p.add(&Action{Op: OpUpdate, Kind: KindContainer, Reason: strings.Join(why, ", "), Details: c, phase: phaseContainer, container: d})
		}
	}
	for _, oep := range o.Endpoints {
		if d.Endpoint(oep.Network) == nil {
			a := endpointAction(OpDelete, o, oep, "not in the file", []string{fmt.Sprintf("%s %s", oep.IfName, endpointAddrs(oep))})
			a.phase = phaseDetach
			p.add(a)
		}
	}
	for _, dep := range d.Endpoints {
		oep := o.Endpoint(dep.Network)
		switch {
		case oep == nil:
			p.add(endpointAction(OpCreate, d, dep, "not present", endpointDetails(dep)).withNetwork(desired))
		case recreated[dep.Network]:
			p.add(endpointAction(OpUpdate, d, dep, "network replaced", endpointDetails(dep)).withNetwork(desired))
		default:
			if c := endpointChanges(dep, oep); len(c) > 0 {
				p.add(endpointAction(OpUpdate, d, dep, "differs from the file", c).withNetwork(desired))
			}
		}
	}
	diffRoute(p, d, o.DefaultGateway, d.DefaultGateway, false)
	diffRoute(p, d, o.DefaultGatewayV6, d.DefaultGatewayV6, true)
	if c := settingsChanges(d, o); len(c) > 0 {
		p.add(&Action{Op: OpUpdate, Kind: KindFiles, Reason: "differs from the file", Details: c, phase: phaseContainer, container: d})
	}
}

// diffRoute plans the change of a container's default route of one family.
func diffRoute(p *Plan, d *model.Container, have, want netip.Addr, ipv6 bool) {
	if have == want {
		return
	}
	op, detail := OpUpdate, fmt.Sprintf("default via %s -> %s", addrString(have), addrString(want))
	switch {
	case !have.IsValid():
		op, detail = OpCreate, "default via "+want.String()
	case !want.IsValid():
		op, detail = OpDelete, "default via "+have.String()
	}
	p.add(&Action{Op: op, Kind: KindRoute, Reason: "differs from the file", Details: []string{detail}, phase: phaseContainer, container: d, gateway: want, ipv6: ipv6})
}

func endpointAction(op Op, c *model.Container, ep *model.Endpoint, reason string, details []string) *Action {
	return &Action{Op: op, Kind: KindEndpoint, Reason: reason, Details: details, phase: phaseContainer, container: c, endpoint: ep}
}

// withNetwork attaches the endpoint's network, which wiring it needs.
func (a *Action) withNetwork(st *model.State) *Action {
	a.network = st.Networks[a.endpoint.Network]
	return a
}

func endpointDetails(ep *model.Endpoint) []string {
	d := []string{fmt.Sprintf("%s %s mac %s veth %s", ep.IfName, endpointAddrs(ep), ep.MAC, ep.HostIf)}
	if ep.Hairpin {
		d = append(d, "hairpin mode on "+whyHairpinOn)
	}
	return d
}

// Why an endpoint's hairpin mode is on or off, in the plan's lines.
const (
	whyHairpinOn  = "(the container reaches its own published ports through the host)"
	whyHairpinOff = "(no published ports lead to this endpoint)"
)

// endpointAddrs renders an endpoint's addresses: "172.18.0.2/16", or
// "172.18.0.2/16 fd00:1::2/64" on a dual-stack network.
func endpointAddrs(ep *model.Endpoint) string {
	if ep.AddrV6.IsValid() {
		return ep.Addr.String() + " " + ep.AddrV6.String()
	}
	return ep.Addr.String()
}

// endpointChanges and the other comparisons below render a field only
// when its values differ: equal values render equal, so the lines are the
// same, and a no-op plan of a thousand endpoints formats nothing.
func endpointChanges(d, o *model.Endpoint) []string {
	var c changes
	c.str("interface", o.IfName, d.IfName)
	if o.Addr != d.Addr {
		c.str("address", o.Addr.String(), d.Addr.String())
	}
	if o.AddrV6 != d.AddrV6 {
		c.str("ipv6 address", prefixString(o.AddrV6), prefixString(d.AddrV6))
	}
	if d.AddrV6.IsValid() && o.AcceptRA {
		c = append(c, "accept_ra: 1 -> 0")
	}
	if !bytes.Equal(o.MAC, d.MAC) {
		c.str("mac", o.MAC.String(), d.MAC.String())
	}
	if o.MTU != d.MTU {
		c.str("mtu", fmt.Sprint(o.MTU), fmt.Sprint(d.MTU))
	}
	c.str("veth", o.HostIf, d.HostIf)
	switch {
	case d.Hairpin && !o.Hairpin:
		c = append(c, "hairpin mode: off -> on "+whyHairpinOn)
	case !d.Hairpin && o.Hairpin:
		c = append(c, "hairpin mode: on -> off "+whyHairpinOff)
	}
	if !o.HostOK {
		c = append(c, "host side: not attached to the bridge or down")
	}
	if !o.PeerOK {
		c = append(c, "container side: missing, down or wrongly addressed")
	}
	return c
}

// settingsChanges compares what lives in netctl's files.
func settingsChanges(d, o *model.Container) []string {
	var c changes
	c.str("hostname", o.Hostname, d.Hostname)
	c.str("node", o.Node, d.Node)
	c.str("mode", string(o.Mode), string(d.Mode))
	c.str("publish_all", strconv.FormatBool(o.PublishAll), strconv.FormatBool(d.PublishAll))
	for _, dep := range d.Endpoints {
		var old []string
		if oep := o.Endpoint(dep.Network); oep != nil {
			old = oep.Aliases
		}
		if !slices.Equal(old, dep.Aliases) {
			c.str("aliases on "+model.IDName(dep.Network), strings.Join(old, ","), strings.Join(dep.Aliases, ","))
		}
	}
	if o.HostsFile != d.HostsFile {
		c = append(c, "hosts file")
	}
	if o.ResolvFile != d.ResolvFile {
		c = append(c, "resolv.conf")
	}
	if o.EnvFile != d.EnvFile {
		c = append(c, "link env")
	}
	return c
}

// changes collects "field: old -> new" lines.
type changes []string

func (c *changes) str(field, old, new string) {
	if old != new {
		*c = append(*c, fmt.Sprintf("%s: %s -> %s", field, orNone(old), orNone(new)))
	}
}

func orNone(s string) string {
	if s == "" || s == "invalid Prefix" || s == "invalid IP" {
		return "(none)"
	}
	return s
}

func (p *Plan) add(a *Action) {
	switch {
	case a.container != nil:
		a.Project, a.Name = a.container.Project, a.container.Name
		if a.endpoint != nil {
			a.Name += "/" + model.IDName(a.endpoint.Network)
		}
		if a.group == "" {
			a.group = "container " + a.container.ID()
		}
	case a.network != nil:
		a.Project, a.Name = a.network.Project, a.network.Name
		if a.group == "" {
			a.group = "network " + a.network.ID()
		}
	}
	p.Actions = append(p.Actions, a)
}

func unionKeys[A, B any](a map[string]A, b map[string]B) []string {
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

func prefixString(p interface{ IsValid() bool }) string {
	if !p.IsValid() {
		return ""
	}
	return fmt.Sprint(p)
}

func addrString(a interface{ IsValid() bool }) string {
	if !a.IsValid() {
		return "(none)"
	}
	return fmt.Sprint(a)
}

func labelString(l map[string]string) string {
	keys := slices.Sorted(maps.Keys(l))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + l[k]
	}
	return strings.Join(parts, ",")
}
