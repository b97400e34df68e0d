package spec

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/netctl/netctl/model"
	"github.com/netctl/netctl/spec/internal/yamlwalk"
)

// minIPv6MTU is the smallest link MTU IPv6 works on (RFC 8200).
const minIPv6MTU = model.MinIPv6MTU

func at(p Pos) string { return fmt.Sprintf("%d:%d", p.Line, p.Column) }

// validate checks what relates values to each other: references,
// overlaps, conflicts. What concerns a single value was checked while
// parsing, at the value; errors here point at the key that holds the
// offending value, or at the entry for list items.
func validate(t *Topology, c *yamlwalk.Collector, info *parseInfo) {
	v := &validator{t: t, c: c, info: info, containers: map[string]*Container{}, nets: map[string]*Network{}, netnsPaths: map[string]*Container{}}
	for _, ct := range t.Containers {
		v.containers[ct.Name] = ct
	}
	for _, n := range t.Networks {
		v.nets[n.Name] = n
	}
	v.caseClashes()
	v.networks()
	for _, ct := range t.Containers {
		v.container(ct)
	}
	v.statics()
	v.nodes()
	v.publishedPorts()
}

type validator struct {
	t          *Topology
	c          *yamlwalk.Collector
	info       *parseInfo
	containers map[string]*Container
	nets       map[string]*Network
	netnsPaths map[string]*Container
	vnis       map[uint32]*Network // overlay networks by VNI
}

// caseClashes rejects names that differ only in case: DNS would answer
// both with the same records.
func (v *validator) caseClashes() {
	nets := map[string]*Network{}
	for _, n := range v.t.Networks {
		k := strings.ToLower(n.Name)
		if first, ok := nets[k]; ok && first.Name != n.Name {
			v.c.Addf(n.Pos, "network %q differs from network %q (at %s) only in case; names are case-insensitive", n.Name, first.Name, at(first.Pos))
		} else if !ok {
			nets[k] = n
		}
	}
	ctrs := map[string]*Container{}
	for _, ct := range v.t.Containers {
		k := strings.ToLower(ct.Name)
		if first, ok := ctrs[k]; ok && first.Name != ct.Name {
			v.c.Addf(ct.Pos, "container %q differs from container %q (at %s) only in case; names are case-insensitive", ct.Name, first.Name, at(first.Pos))
		} else if !ok {
			ctrs[k] = ct
		}
	}
}

func (v *validator) networks() {
	type held struct {
		n      *Network
		subnet netip.Prefix
		pos    Pos
		ok     bool // pos is where the subnet is written
	}
	var v4, v6 []held
	ifnames := map[string]*Network{}
	hasOverlay := false
	for _, n := range v.t.Networks {
		fp := n.FieldPos
		ctx := fmt.Sprintf("network %q", n.Name)
		subnet, explicit, haveSubnet := subnetOf(n)

		if n.Name == NetworkBridge {
			if n.Driver != DriverBridge {
				v.c.Addf(fp["driver"], "%s: the default network uses the bridge driver", ctx)
			}
			if pos, ok := fp["bridge_name"]; ok {
				v.c.Addf(pos, "%s: bridge_name cannot be set; the default network's bridge is always %s, shared by every project", ctx, DefaultBridgeIfname)
			}
		}
		if n.BridgeName != "" {
			if n.BridgeName == DefaultBridgeIfname && n.Name != NetworkBridge {
				v.c.Addf(fp["bridge_name"], "%s: bridge_name %s is reserved for the default network bridge", ctx, DefaultBridgeIfname)
			} else if first, ok := ifnames[n.BridgeName]; ok {
				v.c.Addf(fp["bridge_name"], "%s: bridge_name %s is already used by network %q (at %s)", ctx, n.BridgeName, first.Name, at(first.FieldPos["bridge_name"]))
			} else {
				ifnames[n.BridgeName] = n
			}
		}
		if n.Driver == DriverOverlay {
			hasOverlay = true
			if n.Name != NetworkBridge {
				v.overlay(n, explicit)
			}
		} else if pos, ok := fp["vni"]; ok {
			v.c.Addf(pos, "%s: vni needs driver: overlay", ctx)
		}

		if pos, ok := fp["gateway"]; ok && n.Gateway.IsValid() {
			switch {
			case !haveSubnet && !explicit:
				v.c.Addf(pos, "%s: gateway needs an explicit subnet", ctx)
			case haveSubnet:
				if why := hostAddrProblem(subnet, n.Gateway); why != "" {
					v.c.Addf(pos, "%s: gateway %s %s", ctx, n.Gateway, why)
				}
			}
		}
		if pos, ok := fp["ip_range"]; ok && n.IPRange.IsValid() {
			switch {
			case !haveSubnet && !explicit:
				v.c.Addf(pos, "%s: ip_range needs an explicit subnet", ctx)
			case haveSubnet && (n.IPRange.Bits() < subnet.Bits() || !subnet.Contains(n.IPRange.Addr())):
				v.c.Addf(pos, "%s: ip_range %s is not inside the subnet %s", ctx, n.IPRange, subnet)
			}
		}

		if pos, ok := fp["mtu"]; ok && n.EnableIPv6 && n.MTU < minIPv6MTU {
			v.c.Addf(pos, "%s: mtu %d is below %d, the least IPv6 needs (the kernel turns IPv6 off on such a link)", ctx, n.MTU, minIPv6MTU)
		}
		if !n.EnableIPv6 {
			for _, k := range []string{"subnet_v6", "gateway_v6", "masquerade_v6"} {
				if pos, ok := fp[k]; ok {
					v.c.Addf(pos, "%s: %s needs enable_ipv6: true", ctx, k)
				}
			}
		}
		if pos, ok := fp["gateway_v6"]; ok && n.GatewayV6.IsValid() {
			_, hasV6 := fp["subnet_v6"]
			switch {
			case !hasV6:
				v.c.Addf(pos, "%s: gateway_v6 needs subnet_v6", ctx)
			case n.SubnetV6.IsValid():
				if why := hostAddrProblem(n.SubnetV6, n.GatewayV6); why != "" {
					v.c.Addf(pos, "%s: gateway_v6 %s %s", ctx, n.GatewayV6, why)
				}
			}
		}

		if haveSubnet {
			v4 = append(v4, held{n, subnet, fp["subnet"], explicit})
		}
		if n.SubnetV6.IsValid() {
			v6 = append(v6, held{n, n.SubnetV6, fp["subnet_v6"], true})
		}
	}

	overlaps := func(list []held, key string) {
		for i, b := range list {
			for _, a := range list[:i] {
				if !a.subnet.Overlaps(b.subnet) {
					continue
				}
				// Report at the later subnet written in the file, naming
				// the other; the implied default subnet has no place.
				switch {
				case b.ok && a.ok:
					v.c.Addf(b.pos, "network %q: %s %s overlaps %s %s of network %q (at %s)", b.n.Name, key, b.subnet, key, a.subnet, a.n.Name, at(a.pos))
				case b.ok:
					v.c.Addf(b.pos, "network %q: %s %s overlaps the default network bridge's %s; choose another, or move bridge with networks.bridge.subnet", b.n.Name, key, b.subnet, a.subnet)
				case a.ok:
					v.c.Addf(a.pos, "network %q: %s %s overlaps the default network bridge's %s; choose another, or move bridge with networks.bridge.subnet", a.n.Name, key, a.subnet, b.subnet)
				}
			}
		}
	}
	overlaps(v4, "subnet")
	overlaps(v6, "subnet_v6")

	if len(v.t.Nodes) > 0 && !hasOverlay && !v.info.brokenNetworks {
		v.c.Addf(v.info.nodesPos, "nodes: only overlay networks use nodes, and no network has driver: overlay")
	}
}

// networkModeExcludes are the keys a container with network_mode may not
// have: they all configure networking netctl would do for it. extra_hosts
// stays allowed: it only writes the container's hosts file, and Docker
// accepts --add-host with --network host too.
var networkModeExcludes = []string{"networks", "ports", "publish_all", "links", "dns", "netns_path", "node"}

func (v *validator) container(ct *Container) {
	fp := ct.FieldPos
	ctx := fmt.Sprintf("container %q", ct.Name)
	if ct.NetworkMode != "" {
		for _, k := range networkModeExcludes {
			if pos, ok := fp[k]; ok {
				v.c.Addf(pos, "%s: %s is not allowed with network_mode: %s (no other network settings)", ctx, k, ct.NetworkMode)
			}
		}
		return
	}
	if ct.NetnsPath != "" {
		if other, dup := v.netnsPaths[ct.NetnsPath]; dup {
			v.c.Addf(fp["netns_path"], "%s: netns_path %s is already wired as container %q (at %s)", ctx, ct.NetnsPath, other.Name, at(other.FieldPos["netns_path"]))
		} else {
			v.netnsPaths[ct.NetnsPath] = ct
		}
	}

	seen := map[string]*Attachment{}
	onOverlay := (*Attachment)(nil)
	allInternal := len(ct.Networks) > 0
	for _, a := range ct.Networks {
		if a.Network == NetworkHost || a.Network == NetworkNone {
			v.c.Addf(a.Pos, "%s: %q is not a network to join; use network_mode: %s", ctx, a.Network, a.Network)
			allInternal = false
			continue
		}
		if first, dup := seen[a.Network]; dup {
			v.c.Addf(a.Pos, "%s: network %q listed twice (first at %s)", ctx, a.Network, at(first.Pos))
			continue
		}
		seen[a.Network] = a
		n := v.nets[a.Network]
		if n == nil {
			allInternal = false
			if !v.info.brokenNetworks {
				v.c.Addf(a.Pos, "%s: unknown network %q%s", ctx, a.Network, yamlwalk.Suggest(a.Network, v.networkNames()))
			}
			continue
		}
		if !n.Internal {
			allInternal = false
		}
		if n.Driver == DriverOverlay && onOverlay == nil {
			onOverlay = a
		}
		if pos, ok := a.FieldPos["aliases"]; ok && n.Name == NetworkBridge && len(a.Aliases) > 0 {
			v.c.Addf(pos, "%s: aliases need a user-defined network; names do not resolve on the default network bridge (use links)", ctx)
		}
	}

	if pos, ok := fp["ports"]; ok && len(ct.Ports) > 0 && allInternal {
		v.c.Addf(pos, "%s: published ports need a network that is not internal; every network of this container is internal", ctx)
	}
	if pos, ok := fp["publish_all"]; ok && ct.PublishAll && len(ct.Expose) > 0 && allInternal {
		v.c.Addf(pos, "%s: publish_all needs a network that is not internal; every network of this container is internal", ctx)
	}
	v.ipv6Ports(ct)

	if pos, ok := fp["node"]; ok && ct.Node != "" {
		switch {
		case !v.hasNode(ct.Node):
			if !v.info.brokenNodes {
				v.c.Addf(pos, "%s: unknown node %q%s", ctx, ct.Node, yamlwalk.Suggest(ct.Node, v.nodeNames()))
			}
		case onOverlay == nil:
			v.c.Addf(pos, "%s: node only applies to containers on an overlay network", ctx)
		}
	}
	if _, ok := fp["node"]; !ok && onOverlay != nil {
		v.c.Addf(onOverlay.Pos, "%s: on overlay network %q, the container needs node: to say which host runs it", ctx, onOverlay.Network)
	}

	aliases := map[string]*Link{}
	for _, l := range ct.Links {
		if first, dup := aliases[l.Alias]; dup {
			v.c.Addf(l.Pos, "%s: link alias %q is already used (at %s)", ctx, l.Alias, at(first.Pos))
			continue
		}
		aliases[l.Alias] = l
		if l.Container == ct.Name {
			v.c.Addf(l.Pos, "%s: a container cannot link to itself", ctx)
			continue
		}
		target := v.containers[l.Container]
		switch {
		case target == nil:
			if !v.info.brokenContainers {
				v.c.Addf(l.Pos, "%s: link to unknown container %q%s", ctx, l.Container, yamlwalk.Suggest(l.Container, v.containerNames()))
			}
		case !shareNetwork(ct, target):
			v.c.Addf(l.Pos, "%s: cannot link to container %q: they share no network (on the default network, both must be on bridge)", ctx, l.Container)
		case linkAcrossNodes(ct, target):
			v.c.Addf(l.Pos, "%s: cannot link to container %q: it runs on node %q, this container %s; links need the target's address at apply time, which only its node knows (use its name or an alias on the overlay network: DNS resolves them across nodes)", ctx, l.Container, target.Node, nodeOf(ct))
		}
	}
}

func shareNetwork(a, b *Container) bool {
	for _, x := range a.Networks {
		for _, y := range b.Networks {
			if x.Network == y.Network {
				return true
			}
		}
	}
	return false
}

// statics checks static addresses against their network and each other,
// both families alike.
func (v *validator) statics() {
	type owner struct {
		ct  *Container
		pos Pos
	}
	type family struct {
		key    string // "ipv4_address"
		addr   func(*Attachment) netip.Addr
		subnet func(*Network) (subnet netip.Prefix, explicit, ok bool)
		// enabled says why a network takes no address of the family, or "".
		enabled func(*Network) string
		gateway func(*Network, netip.Prefix) netip.Addr
	}
	families := []family{
		{"ipv4_address", func(a *Attachment) netip.Addr { return a.IPv4Address }, subnetOf,
			func(*Network) string { return "" }, gatewayOf},
		{"ipv6_address", func(a *Attachment) netip.Addr { return a.IPv6Address }, subnetV6Of,
			func(n *Network) string {
				if !n.EnableIPv6 {
					return "needs enable_ipv6: true on"
				}
				return ""
			}, gatewayV6Of},
	}
	for _, f := range families {
		taken := map[string]map[netip.Addr]owner{}
		for _, ct := range v.t.Containers {
			if ct.NetworkMode != "" {
				continue
			}
			for _, a := range ct.Networks {
				n := v.nets[a.Network]
				addr := f.addr(a)
				if !addr.IsValid() || n == nil {
					continue
				}
				pos := a.FieldPos[f.key]
				ctx := fmt.Sprintf("container %q: network %q", ct.Name, a.Network)
				if why := f.enabled(n); why != "" {
					v.c.Addf(pos, "%s: %s %s network %q", ctx, f.key, why, a.Network)
					continue
				}
				subnet, explicit, ok := f.subnet(n)
				switch {
				case !ok && !explicit:
					v.c.Addf(pos, "%s: %s needs an explicit %s on network %q", ctx, f.key, subnetKey(f.key), a.Network)
					continue
				case !ok:
					continue // the subnet itself is invalid, and reported
				}
				if why := hostAddrProblem(subnet, addr); why != "" {
					v.c.Addf(pos, "%s: %s %s %s", ctx, f.key, addr, why)
					continue
				}
				if addr == f.gateway(n, subnet) {
					v.c.Addf(pos, "%s: %s %s is the network's gateway", ctx, f.key, addr)
					continue
				}
				if taken[n.Name] == nil {
					taken[n.Name] = map[netip.Addr]owner{}
				}
				if first, dup := taken[n.Name][addr]; dup {
					v.c.Addf(pos, "%s: %s %s is already container %q's (at %s)", ctx, f.key, addr, first.ct.Name, at(first.pos))
					continue
				}
				taken[n.Name][addr] = owner{ct, pos}
			}
		}
	}
}

func (v *validator) nodes() {
	seen := map[netip.Addr]*Node{}
	for _, n := range v.t.Nodes {
		if !n.Address.IsValid() {
			continue
		}
		if first, dup := seen[n.Address]; dup {
			v.c.Addf(n.Pos, "node %q: address %s is already node %q's (at %s)", n.Name, n.Address, first.Name, at(first.Pos))
			continue
		}
		seen[n.Address] = n
	}
}

func before(a, b Pos) bool {
	return a.Line < b.Line || a.Line == b.Line && a.Column < b.Column
}

func (v *validator) hasNode(name string) bool {
	return slices.ContainsFunc(v.t.Nodes, func(n *Node) bool { return n.Name == name })
}

func (v *validator) networkNames() []string {
	var out []string
	for _, n := range v.t.Networks {
		out = append(out, n.Name)
	}
	return out
}

func (v *validator) containerNames() []string {
	var out []string
	for _, c := range v.t.Containers {
		out = append(out, c.Name)
	}
	return out
}

func (v *validator) nodeNames() []string {
	var out []string
	for _, n := range v.t.Nodes {
		out = append(out, n.Name)
	}
	return out
}
