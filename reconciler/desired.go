package reconciler

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
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
	desireFiles(d, observed, hr)
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
	if len(d.Containers) == 0 {
		d.Containers = make(map[string]*model.Container, len(t.Containers))
	}
	netnsDir := filepath.Join(model.NetnsDir(opt.Root), t.Name)
	// Each network's ID is built once and shared by every endpoint on it,
	// rather than concatenated again per endpoint and lookup.
	type netRef struct {
		n  *model.Network
		id string
	}
	nets := map[string]netRef{}
	network := func(name string) netRef {
		r, ok := nets[name]
		if !ok {
			r.id = model.NetworkID(t.Name, name)
			r.n = d.Networks[r.id]
			nets[name] = r
		}
		return r
	}
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
				c.Netns = netnsPath(netnsDir, opt.Root, t.Name, sc.Name)
			}
		}
		id := c.ID()
		o := observed.Containers[id]
		defaultSet := false
		if len(sc.Networks) > 0 {
			c.Endpoints = make([]*model.Endpoint, 0, len(sc.Networks))
		}
		for _, a := range sc.Networks {
			ref := network(a.Network)
			n := ref.n
			if n == nil {
				return fmt.Errorf("container %s: network %s is not declared", sc.Name, a.Network)
			}
			ep := &model.Endpoint{
				Network: ref.id,
				HostIf:  opt.Instance.HostVethName(t.Name, sc.Name, a.Network),
				MTU:     n.MTU,
				Aliases: a.Aliases,
			}
			var oep *model.Endpoint
			if o != nil {
				oep = o.Endpoint(ref.id)
			}
			if oep != nil && oep.IfName != "" {
				ep.IfName = oep.IfName
			}
			c.Endpoints = append(c.Endpoints, ep)
			pool := pools[ref.id]
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
			case oep != nil && oep.AddrV6.IsValid() && pools6[ref.id].claim(oep.AddrV6.Addr()):
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
				ep.IfName = nextIfName(o, c.Endpoints)
			}
		}
		sortEndpoints(c.Endpoints)
		d.Containers[id] = c
	}
	for _, s := range dynamic {
		pool := pools[s.ep.Network]
		a, ok := pool.allocate()
		if !ok {
			return fmt.Errorf("container %s: network %s: no free address in %s", s.c.Name, s.net.Name, pool.rng)
		}
		s.ep.Addr = netip.PrefixFrom(a, s.net.Subnet.Bits())
	}
	for _, s := range dynamic6 {
		pool := pools6[s.ep.Network]
		a, ok := pool.allocate()
		if !ok {
			return fmt.Errorf("container %s: network %s: no free IPv6 address in %s", s.c.Name, s.net.Name, pool.rng)
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
	// Sized for the endpoints the file puts on each network, so the pools
	// do not grow one rehash at a time.
	size := map[string]int{}
	for _, sc := range t.Containers {
		for _, a := range sc.Networks {
			size[a.Network]++
		}
	}
	for id, n := range d.Networks {
		hint := size[n.Name] + 3
		rng, rng6 := n.IPRange, netip.Prefix{}
		if n.Overlay != nil {
			rng, rng6 = n.Overlay.Block, n.Overlay.BlockV6
		}
		v4[id] = newAddrPool(n.Subnet, rng, n.Gateway, hint)
		if n.EnableIPv6 {
			v6[id] = newAddrPool(n.SubnetV6, rng6, n.GatewayV6, hint)
		}
	}
	for _, sc := range t.Containers {
		for _, a := range sc.Networks {
			if !a.IPv4Address.IsValid() && !a.IPv6Address.IsValid() {
				continue
			}
			id := model.NetworkID(t.Name, a.Network)
			if a.IPv4Address.IsValid() {
				v4[id].claim(a.IPv4Address)
			}
			if p := v6[id]; p != nil && a.IPv6Address.IsValid() {
				p.claim(a.IPv6Address)
			}
		}
	}
	// In map order: a claim only marks the address used, so the order
	// changes nothing, and sorting a thousand IDs was a visible cost.
	for _, o := range observed.Containers {
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

// nextIfName hands out the lowest eth<N> name not present in a
// container's namespace (o, the observed container, nil when there is
// none) nor on one of its endpoints eps. The endpoints hold every name
// handed out so far, so no set of names is kept per container.
func nextIfName(o *model.Container, eps []*model.Endpoint) string {
	used := func(name string) bool {
		if slices.ContainsFunc(eps, func(ep *model.Endpoint) bool { return ep.IfName == name }) {
			return true
		}
		if o == nil {
			return false
		}
		return slices.Contains(o.IfNames, name) ||
			slices.ContainsFunc(o.Endpoints, func(ep *model.Endpoint) bool { return ep.IfName == name })
	}
	for i := 0; ; i++ {
		if name := "eth" + strconv.Itoa(i); !used(name) {
			return name
		}
	}
}

// netnsPath is model.NetnsPath(root, project, container), with dir its
// project's directory (joined and cleaned once): a DNS label has nothing
// to clean, so appending it to a clean directory is the same path, without
// a Join per container.
func netnsPath(dir, root, project, container string) string {
	if model.IsLabel(container) && dir != "/" && dir != "." {
		return dir + "/" + container
	}
	return model.NetnsPath(root, project, container)
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
