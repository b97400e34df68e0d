package reconciler

import (
	"fmt"
	"net/netip"
	"strconv"

	"github.com/netctl/netctl/model"
	"github.com/netctl/netctl/spec"
)

// Options are the host facts the desired state depends on besides the file.
type Options struct {
	// Root is netctl's state directory (--root): owned namespaces are
	// mounted under Root/netns.
	Root string
	// Instance is the instance Root is (files.Instance): kernel names
	// are derived with it.
	Instance model.Instance
	// HostResolv is the host's resolv.conf, the base of the containers'.
	HostResolv []byte

	// Node names this host among the file's nodes (--node); "" picks the
	// node whose address LocalAddrs holds. LocalAddrs maps each address of
	// the host to the MTU of its link; nil when the host is unknown (diff
	// --from). It is asked only of a file with nodes: the only one that
	// needs the host's addresses.
	Node       string
	LocalAddrs func() (map[netip.Addr]int, error)

	// NetnsTaken says what the network namespace at a path already is
	// to netctl (the host's, or a container's it owns), "" when neither;
	// nil when there is no host (diff --from). A netns_path naming such a
	// namespace is refused before anything changes.
	NetnsTaken func(path string) (string, error)

	self *spec.Node // the resolved node; nil on one host
}

// localAddrs reads the host's addresses for a file with nodes (nil
// otherwise, or when the host is unknown).
func (o Options) localAddrs(t *spec.Topology) (map[netip.Addr]int, error) {
	if len(t.Nodes) == 0 || o.LocalAddrs == nil {
		return nil, nil
	}
	local, err := o.LocalAddrs()
	if err != nil {
		return nil, fmt.Errorf("host addresses: %w", err)
	}
	return local, nil
}

// Desired computes the state the topology asks for. observed makes it
// sticky: subnets, addresses and interface names already in use are kept,
// and nothing another project holds is handed out again.
func Desired(t *spec.Topology, observed *model.State, opt Options) (*model.State, error) {
	if observed == nil {
		observed = model.NewState()
	}
	d := model.NewState()
	used := usedNetworks(t)
	local, err := opt.localAddrs(t)
	if err != nil {
		return nil, err
	}
	self, err := ResolveNode(t, opt.Node, local)
	if err != nil {
		return nil, err
	}
	opt.self = self

	if err := conflicts(t, observed, opt.NetnsTaken); err != nil {
		return nil, err
	}
	if err := desireNetworks(t, used, observed, d, opt.Instance); err != nil {
		return nil, err
	}
	// IPv6 first: an overlay's node blocks cut both subnets.
	if err := desireIPv6(t, observed, d); err != nil {
		return nil, err
	}
	if err := desireOverlays(t, self, underlayMTU(self, local), observed, d); err != nil {
		return nil, err
	}
	if err := desireContainers(t, observed, d, opt); err != nil {
		return nil, err
	}
	if err := desirePorts(t, observed, d); err != nil {
		return nil, err
	}
	desireHairpin(d)
	hr := parseHostResolv(opt.HostResolv)
	desireNames(t, self, d, hr)
	desireFiles(d, hr)
	d.Firewall = desireFirewall(d)
	return d, nil
}

// usedNetworks is the set of networks to create: every declared one, plus
// the default network when some container is on it.
func usedNetworks(t *spec.Topology) map[string]bool {
	used := map[string]bool{}
	for _, n := range t.Networks {
		if !n.Implicit {
			used[n.Name] = true
		}
	}
	for _, c := range t.Containers {
		for _, a := range c.Networks {
			used[a.Network] = true
		}
	}
	return used
}

func desireNetworks(t *spec.Topology, used map[string]bool, observed *model.State, d *model.State, inst model.Instance) error {
	var taken subnetTaken
	for _, n := range t.Networks {
		if n.Subnet.IsValid() {
			taken = append(taken, n.Subnet)
		}
	}
	// An observed network's subnet is taken unless it is one of ours,
	// whose subnet stays with it.
	for _, id := range observed.SortedNetworkIDs() {
		o := observed.Networks[id]
		ours := (o.Shared() || o.Project == t.Name) && used[o.Name]
		if o.Subnet.IsValid() && !ours {
			taken = append(taken, o.Subnet)
		}
	}
	taken = append(taken, observed.HostRoutes...)

	// Networks with a subnet (explicit or sticky) first, so that a pool
	// pick never takes what a later network of the file already holds.
	pending := []*model.Network{}
	for _, n := range t.Networks {
		if !used[n.Name] {
			continue
		}
		m := &model.Network{
			Project:  t.Name,
			Name:     n.Name,
			Driver:   n.Driver,
			Bridge:   n.BridgeName,
			Subnet:   n.Subnet.Masked(),
			Gateway:  n.Gateway,
			MTU:      n.MTU,
			Internal: n.Internal,
			ICC:      n.ICC,
			IPRange:  n.IPRange,
			Labels:   n.Labels,
		}
		if n.Name == model.DefaultNetwork {
			m.Project = ""
		}
		if m.Bridge == "" {
			m.Bridge = inst.BridgeName(t.Name, n.Name)
		}
		if o := observed.Networks[m.ID()]; o != nil {
			keepSubnet(&m.Subnet, &m.Gateway, o.Subnet, o.Gateway)
		}
		if m.Subnet.IsValid() {
			taken = append(taken, m.Subnet)
		}
		d.Networks[m.ID()] = m
		pending = append(pending, m)
	}
	for _, m := range pending {
		if !m.Subnet.IsValid() {
			switch {
			case m.Name == model.DefaultNetwork && !taken.overlaps(defaultBridgeSubnet):
				m.Subnet = defaultBridgeSubnet
			default:
				p, err := pickSubnet(taken)
				if err != nil {
					return fmt.Errorf("network %s: %w", m.Name, err)
				}
				m.Subnet = p
			}
			taken = append(taken, m.Subnet)
		}
		if !m.Gateway.IsValid() {
			m.Gateway = firstHost(m.Subnet)
		}
	}
	return nil
}

func desireContainers(t *spec.Topology, observed *model.State, d *model.State, opt Options) error {
	pools, pools6 := addressPools(t, observed, d)

	// First the static addresses, then the addresses containers already
	// have, then new ones: a new container never takes a running one's
	// address, and a running container is never renumbered unless the file
	// asks for its address.
	type slot struct {
		c   *model.Container
		ep  *model.Endpoint
		net *model.Network
	}
	var dynamic, dynamic6 []slot
	for _, sc := range t.Containers {
		if !runsHere(sc, opt.self) {
			continue
		}
		c := &model.Container{
			Project:  t.Name,
			Name:     sc.Name,
			Hostname: sc.Hostname,
			Mode:     model.ModeBridge,
			Node:     sc.Node,
			DNS:      sc.DNS,

			PublishAll: sc.PublishAll,
		}
		for _, h := range sc.ExtraHosts {
			c.ExtraHosts = append(c.ExtraHosts, model.HostEntry{IP: h.IP, Names: []string{h.Name}})
		}
		for _, l := range sc.Links {
			c.Links = append(c.Links, model.Link{Container: l.Container, Alias: l.Alias})
		}
		for _, e := range sc.Expose {
			c.Expose = append(c.Expose, model.PortProto{Port: e.Port, Proto: e.Proto})
		}
		c.Env = sc.Env
		switch sc.NetworkMode {
		case spec.NetworkHost:
			c.Mode = model.ModeHost
		case spec.NetworkNone:
			c.Mode = model.ModeNone
		}
		if c.Mode != model.ModeHost {
			if sc.NetnsPath != "" {
				c.Netns, c.External = sc.NetnsPath, true
			} else {
				c.Netns = model.NetnsPath(opt.Root, t.Name, sc.Name)
			}
		}
		o := observed.Containers[c.ID()]
		names := newIfNames(o)
		defaultSet := false
		for _, a := range sc.Networks {
			n := d.Networks[model.NetworkID(t.Name, a.Network)]
			if n == nil {
				return fmt.Errorf("container %s: network %s is not declared", sc.Name, a.Network)
			}
			ep := &model.Endpoint{
				Network: n.ID(),
				HostIf:  opt.Instance.HostVethName(t.Name, sc.Name, a.Network),
				MTU:     n.MTU,
				Aliases: a.Aliases,
			}
			var oep *model.Endpoint
			if o != nil {
				oep = o.Endpoint(n.ID())
			}
			if oep != nil && oep.IfName != "" {
				ep.IfName = oep.IfName
				names.take(oep.IfName)
			}
			c.Endpoints = append(c.Endpoints, ep)
			pool := pools[n.ID()]
			switch {
			case a.IPv4Address.IsValid():
				// spec checked it against the file's subnet, or 172.17.0.0/16
				// for the default network, which may have moved to the pool.
				if !n.Subnet.Contains(a.IPv4Address) {
					return fmt.Errorf("container %s: ipv4_address %s is outside network %s's subnet %s (172.17.0.0/16 is routed on this host: set networks.%s.subnet)",
						sc.Name, a.IPv4Address, a.Network, n.Subnet, a.Network)
				}
				ep.Addr = netip.PrefixFrom(a.IPv4Address, n.Subnet.Bits())
			case oep != nil && oep.Addr.IsValid() && pool.claim(oep.Addr.Addr()):
				ep.Addr = netip.PrefixFrom(oep.Addr.Addr(), n.Subnet.Bits())
			default:
				dynamic = append(dynamic, slot{c, ep, n})
			}
			if !defaultSet && !n.Internal {
				c.DefaultGateway = n.Gateway
				defaultSet = true
			}
			if !n.EnableIPv6 {
				continue
			}
			switch {
			case a.IPv6Address.IsValid():
				// spec checked it against the file's subnet_v6, which it needs.
				ep.AddrV6 = netip.PrefixFrom(a.IPv6Address, n.SubnetV6.Bits())
			case oep != nil && oep.AddrV6.IsValid() && pools6[n.ID()].claim(oep.AddrV6.Addr()):
				ep.AddrV6 = netip.PrefixFrom(oep.AddrV6.Addr(), n.SubnetV6.Bits())
			default:
				dynamic6 = append(dynamic6, slot{c, ep, n})
			}
			// IPv6 picks its gateway network on its own, as Docker does:
			// the first dual-stack network that is not internal.
			if !c.DefaultGatewayV6.IsValid() && !n.Internal {
				c.DefaultGatewayV6 = n.GatewayV6
			}
		}
		for _, ep := range c.Endpoints {
			if ep.IfName == "" {
				ep.IfName = names.next()
			}
		}
		sortEndpoints(c.Endpoints)
		d.Containers[c.ID()] = c
	}
	for _, s := range dynamic {
		a, ok := pools[s.net.ID()].allocate()
		if !ok {
			return fmt.Errorf("container %s: network %s: no free address in %s", s.c.Name, s.net.Name, pools[s.net.ID()].rng)
		}
		s.ep.Addr = netip.PrefixFrom(a, s.net.Subnet.Bits())
	}
	for _, s := range dynamic6 {
		a, ok := pools6[s.net.ID()].allocate()
		if !ok {
			return fmt.Errorf("container %s: network %s: no free IPv6 address in %s", s.c.Name, s.net.Name, pools6[s.net.ID()].rng)
		}
		s.ep.AddrV6 = netip.PrefixFrom(a, s.net.SubnetV6.Bits())
	}
	for _, c := range d.Containers {
		for _, ep := range c.Endpoints {
			ep.MAC = model.MACFor(ep.Addr.Addr())
		}
	}
	return nil
}

// addressPools prepares one pool per desired network and family (IPv6 for
// dual-stack networks only), with the gateway, every static address of the
// file and every address held by another project's container (on the
// shared network) already claimed.
func addressPools(t *spec.Topology, observed *model.State, d *model.State) (v4, v6 map[string]*addrPool) {
	v4, v6 = map[string]*addrPool{}, map[string]*addrPool{}
	for id, n := range d.Networks {
		rng, rng6 := n.IPRange, netip.Prefix{}
		if n.Overlay != nil {
			rng, rng6 = n.Overlay.Block, n.Overlay.BlockV6
		}
		v4[id] = newAddrPool(n.Subnet, rng, n.Gateway)
		if n.EnableIPv6 {
			v6[id] = newAddrPool(n.SubnetV6, rng6, n.GatewayV6)
		}
	}
	for _, sc := range t.Containers {
		for _, a := range sc.Networks {
			id := model.NetworkID(t.Name, a.Network)
			if a.IPv4Address.IsValid() {
				v4[id].claim(a.IPv4Address)
			}
			if p := v6[id]; p != nil && a.IPv6Address.IsValid() {
				p.claim(a.IPv6Address)
			}
		}
	}
	for _, id := range observed.SortedContainerIDs() {
		o := observed.Containers[id]
		if o.Project == t.Name {
			continue
		}
		for _, ep := range o.Endpoints {
			if p := v4[ep.Network]; p != nil && ep.Addr.IsValid() {
				p.claim(ep.Addr.Addr())
			}
			if p := v6[ep.Network]; p != nil && ep.AddrV6.IsValid() {
				p.claim(ep.AddrV6.Addr())
			}
		}
	}
	return v4, v6
}

// ifNames hands out eth<N> names not present in a container's namespace.
type ifNames struct{ used map[string]bool }

func newIfNames(o *model.Container) *ifNames {
	n := &ifNames{used: map[string]bool{}}
	if o != nil {
		for _, name := range o.IfNames {
			n.used[name] = true
		}
		for _, ep := range o.Endpoints {
			n.used[ep.IfName] = true
		}
	}
	return n
}

func (n *ifNames) take(name string) { n.used[name] = true }

func (n *ifNames) next() string {
	for i := 0; ; i++ {
		name := "eth" + strconv.Itoa(i)
		if !n.used[name] {
			n.used[name] = true
			return name
		}
	}
}

// sortEndpoints orders endpoints by interface name, numerically (eth2 < eth10).
func sortEndpoints(eps []*model.Endpoint) {
	key := func(name string) (string, int) {
		i := len(name)
		for i > 0 && name[i-1] >= '0' && name[i-1] <= '9' {
			i--
		}
		n, _ := strconv.Atoi(name[i:])
		return name[:i], n
	}
	for i := 1; i < len(eps); i++ {
		for j := i; j > 0; j-- {
			pa, na := key(eps[j-1].IfName)
			pb, nb := key(eps[j].IfName)
			if pa < pb || (pa == pb && na <= nb) {
				break
			}
			eps[j-1], eps[j] = eps[j], eps[j-1]
		}
	}
}
