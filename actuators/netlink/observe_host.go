package netlink

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/internal/nlraw"
	"github.com/netctl/netctl/model"
)

// The host namespace's side of Observe and Settle: its bridges, their
// ports and addresses, its routes. Filling a veth's link message costs
// the kernel a walk over every namespace id of the host (peernet2id), so
// whatever reads the host's veths one by one or all at once is priced by
// the number of containers; these functions read only what they need.

// ownedLinks are the ifindexes of the links carrying this instance's
// mark. Another instance's bridges are the host's like anybody's: their
// routes keep this instance's subnets away from theirs.
func (l *Links) ownedLinks(links []nlraw.Link) map[int]bool {
	owned := map[int]bool{}
	for _, k := range links {
		if _, ok := l.owner(k.Alias); ok {
			owned[k.Index] = true
		}
	}
	return owned
}

// hostView is one dump each of the host's links, addresses and routes.
type hostView struct {
	links  []nlraw.Link
	addrs  map[int][]netip.Prefix // IPv4, by ifindex
	addrs6 map[int][]nlraw.Addr   // global IPv6, by ifindex
	// linkLocal are the bridges' IPv6 link-local addresses, by ifindex
	// (bridgeLinkLocals).
	linkLocal map[int][]nlraw.Addr
	routes    []nlraw.Route
	// dumps are what the view was made of, as the readings keep them.
	dumps hostDumps
}

// hostDumps are the host's links, addresses and routes as dumped.
type hostDumps struct {
	Links  []nlraw.Link
	Addrs  []nlraw.Addr
	Routes []nlraw.Route
}

// readHost dumps the host's links, addresses and routes; when scoped, of
// the links only the bridges (see Observe), and readHostEnds adds the
// scope's veths.
func (l *Links) readHost(scoped bool) (*hostView, error) {
	var links []nlraw.Link
	var err error
	if scoped {
		links, err = l.bridgesAndVXLANs()
	} else {
		links, err = l.hostDump.Links()
	}
	if err != nil {
		return nil, fmt.Errorf("host: list links: %w", err)
	}
	addrs, err := l.hostDump.Addrs()
	if err != nil {
		return nil, fmt.Errorf("host: list addresses: %w", err)
	}
	routes, err := l.hostDump.Routes(unix.RT_TABLE_UNSPEC)
	if err != nil {
		return nil, fmt.Errorf("host: list routes: %w", err)
	}
	return newHostView(links, addrs, routes), nil
}

// newHostView sorts the host's three dumps for Observe.
func newHostView(links []nlraw.Link, addrs []nlraw.Addr, routes []nlraw.Route) *hostView {
	v4, v6 := addrsByIndex(addrs)
	return &hostView{links: links, addrs: v4, addrs6: v6, linkLocal: bridgeLinkLocals(addrs, links), routes: routes,
		dumps: hostDumps{Links: links, Addrs: addrs, Routes: routes}}
}

// bridgesAndVXLANs lists the host's bridges and VXLAN devices (the
// networks and their overlays), by dumps the kernel filters by kind before
// filling any message.
func (l *Links) bridgesAndVXLANs() ([]nlraw.Link, error) {
	var links []nlraw.Link
	for _, kind := range []string{"bridge", "vxlan"} {
		k, err := l.hostDump.LinksOfKind(kind)
		if err != nil {
			return nil, err
		}
		// A kernel that cannot filter by kind answers with every link.
		links = append(links, slices.DeleteFunc(k, func(k nlraw.Link) bool { return k.Kind != kind })...)
	}
	return links, nil
}

// readHostEnds reads, one by one, the host ends of the container ends
// seen (a lookup by index costs the kernel one veth's message).
func (l *Links) readHostEnds(host *hostView, seen []*nsView) error {
	have := make(map[int]bool, len(host.links))
	for _, k := range host.links {
		have[k.Index] = true
	}
	for _, v := range seen {
		for _, p := range v.peers {
			if p.peerIndex == 0 {
				continue
			}
			k, err := l.hostDump.LinkByIndex(p.peerIndex)
			if errors.Is(err, nlraw.ErrNoLink) {
				continue
			}
			if err != nil {
				return fmt.Errorf("host: read the host end of %s %s: %w", v.c.ID(), p.ep.IfName, err)
			}
			if !have[k.Index] {
				have[k.Index] = true
				host.links = append(host.links, k)
			}
		}
	}
	return nil
}

// hostLinks dumps the host's links.
func (l *Links) hostLinks() ([]nlraw.Link, error) {
	links, err := l.hostDump.Links()
	if err != nil {
		return nil, fmt.Errorf("list host links: %w", err)
	}
	return links, nil
}

// addrsByIndex groups addresses by link: the IPv4 ones, and the global
// IPv6 ones (link-local addresses are the kernel's, not netctl's, but for
// an overlay's bridge: see bridgeLinkLocals).
func addrsByIndex(addrs []nlraw.Addr) (v4 map[int][]netip.Prefix, v6 map[int][]nlraw.Addr) {
	v4 = make(map[int][]netip.Prefix, len(addrs))
	v6 = map[int][]nlraw.Addr{}
	for _, a := range addrs {
		switch addrKind(a) {
		case 4:
			v4[a.Index] = append(v4[a.Index], a.Prefix)
		case 6:
			v6[a.Index] = append(v6[a.Index], a)
		}
	}
	return v4, v6
}

// addrKind is 4 for an IPv4 address, 6 for a global IPv6 one, 0 for
// the rest.
func addrKind(a nlraw.Addr) int {
	switch ip := a.Prefix.Addr(); {
	case ip.Is4():
		return 4
	case !ip.IsLinkLocalUnicast() && !ip.IsLoopback():
		return 6
	}
	return 0
}

// bridgeLinkLocals groups the IPv6 link-local addresses of the bridges
// among links by ifindex. A dual-stack overlay's bridge holds one of
// netctl's (fe80::<node>, see overlay6.go), which the reconciler compares
// like any address; the link-local addresses of other links (one per host
// end of a veth on a dual-stack network) are the kernel's and not kept.
func bridgeLinkLocals(addrs []nlraw.Addr, links []nlraw.Link) map[int][]nlraw.Addr {
	bridges := map[int]bool{}
	for _, k := range links {
		if k.Kind == "bridge" {
			bridges[k.Index] = true
		}
	}
	out := map[int][]nlraw.Addr{}
	for _, a := range addrs {
		if bridges[a.Index] && a.Prefix.Addr().Is6() && a.Prefix.Addr().IsLinkLocalUnicast() {
			out[a.Index] = append(out[a.Index], a)
		}
	}
	return out
}

// linkAddrs is addrsByIndex for one link, without maps: a container has a
// handful of addresses, and two maps per container were a tenth of what an
// observation allocates.
func linkAddrs(addrs []nlraw.Addr, index int) (v4 []netip.Prefix, v6 []nlraw.Addr) {
	for _, a := range addrs {
		if a.Index != index {
			continue
		}
		switch addrKind(a) {
		case 4:
			v4 = append(v4, a.Prefix)
		case 6:
			v6 = append(v6, a)
		}
	}
	return v4, v6
}

// onlyNodad returns the address when it is the only one and was added
// without duplicate address detection, as netctl adds IPv6 addresses.
func onlyNodad(addrs []nlraw.Addr) netip.Prefix {
	if len(addrs) == 1 && addrs[0].Flags&unix.IFA_F_NODAD != 0 {
		return addrs[0].Prefix
	}
	return netip.Prefix{}
}

// addNetworks adds a Network for every bridge carrying a bridge mark, and
// returns the bridges' ifindexes by network ID. Foreign ports are listed
// only when the host view has every link (withForeign).
func (l *Links) addNetworks(st *model.State, host *hostView, withForeign bool) map[string]int {
	bridges := make(map[string]int)
	for _, br := range host.links {
		o, ok := l.owner(br.Alias)
		if !ok || o.Container != "" || br.Kind != "bridge" {
			continue
		}
		n := &model.Network{
			Project: o.Project,
			Name:    o.Network,
			Driver:  "bridge",
			Bridge:  br.Name,
			MTU:     br.MTU,
			Up:      br.Up,
		}
		// Only a single address says which subnet the bridge serves; with
		// none or several, Gateway stays invalid so the reconciler sees a
		// difference and EnsureBridge fixes it.
		if addrs := host.addrs[br.Index]; len(addrs) == 1 {
			n.Gateway = addrs[0].Addr()
			n.Subnet = addrs[0].Masked()
		}
		// Likewise for IPv6: any global address says dual stack; only one
		// (nodad) says which subnet.
		if addrs := host.addrs6[br.Index]; len(addrs) > 0 {
			n.EnableIPv6 = true
			if p := onlyNodad(addrs); p.IsValid() {
				n.GatewayV6, n.SubnetV6 = p.Addr(), p.Masked()
			}
		}
		// netctl's own link-local address (an overlay's), alone and nodad;
		// the kernel's, added with DAD, reads as none.
		n.LinkLocal = onlyNodad(host.linkLocal[br.Index])
		if withForeign {
			n.Foreign = l.foreignPorts(host.links, br.Index, n.ID())
		}
		if old, dup := st.Networks[n.ID()]; dup {
			l.log.Warn().Str("network", n.ID()).Str("bridge", br.Name).Str("other", old.Bridge).
				Msg("two bridges carry the same mark; ignoring one")
			continue
		}
		st.Networks[n.ID()] = n
		bridges[n.ID()] = br.Index
	}
	return bridges
}

// foreignPorts returns, sorted, the names of the ports of the bridge with
// index brIndex that are not endpoints of the network networkID.
func (l *Links) foreignPorts(links []nlraw.Link, brIndex int, networkID string) []string {
	var foreign []string
	for _, p := range links {
		if p.Master != brIndex || l.isOverlayPort(p, networkID) {
			continue
		}
		o, ok := l.owner(p.Alias)
		if ok && o.Container != "" && model.NetworkID(o.Project, o.Network) == networkID {
			continue
		}
		foreign = append(foreign, p.Name)
	}
	slices.Sort(foreign)
	return foreign
}

// stillPresent drops from pending, in order, the host ends that are gone,
// up to the first one still there (all of them when all is set): the
// kernel destroys the namespaces of a batch together, so while one is
// there the rest mostly are too. A lookup of a name that is gone costs the
// kernel next to nothing; of one still there, a veth's message, which
// costs a walk over every namespace id (see Observe): so a poll costs one
// such walk, not one per container, nor a dump of them all.
func (l *Links) stillPresent(pending []pendingEnd, all bool) ([]pendingEnd, error) {
	left := pending[:0]
	for i, p := range pending {
		_, err := l.hostDump.LinkByName(p.name)
		switch {
		case errors.Is(err, nlraw.ErrNoLink):
			continue
		case err != nil:
			return nil, fmt.Errorf("look up %s: %w", p.name, err)
		case !all:
			return append(left, pending[i:]...), nil
		}
		left = append(left, p)
	}
	return left, nil
}
