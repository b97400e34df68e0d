package netlink

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/internal/nlraw"
	"github.com/netctl/netctl/model"
)

// Observe reads every netctl-owned bridge, container namespace and
// endpoint, of every project, plus the host's IPv4 routes; of the
// containers, only those in scope (nil: all).
//
// With a scope, the host's veths are not dumped: the kernel's cost of a
// link dump grows with the square of the containers (filling each veth's
// message walks every namespace id: 7 ms at 1,000 containers, 0.5-1 s at
// 10,000), and a verification needs only the scope's, which are read one
// by one. Network.Foreign, which needs every port, is then left empty for
// the caller to keep what it knew, and a host end left without its peer is
// found only by a full observation.
func (l *Links) Observe(ctx context.Context, scope model.Scope) (*model.State, error) {
	targets, err := l.listContainers(scope)
	if err != nil {
		return nil, err
	}
	// The host dump is the largest single read (a veth per endpoint); it
	// overlaps with the namespace reads instead of preceding them.
	type hostResult struct {
		v   *hostView
		err error
	}
	hostc := make(chan hostResult, 1)
	go func() {
		v, err := l.readHost(scope != nil)
		hostc <- hostResult{v, err}
	}()
	seen := make([]*nsView, len(targets))
	err = runWorkers(ctx, len(targets), observeWorkers(), func(next func() (int, bool)) error {
		t, err := nlraw.LockThread()
		if err != nil {
			return err
		}
		defer t.Release()
		for i, ok := next(); ok; i, ok = next() {
			if seen[i], err = l.readContainer(t, targets[i]); err != nil {
				return err
			}
		}
		return nil
	})
	hr := <-hostc
	if err != nil {
		return nil, err
	}
	if hr.err != nil {
		return nil, hr.err
	}
	if scope != nil {
		if err := l.readHostEnds(hr.v, seen); err != nil {
			return nil, err
		}
	}

	st := model.NewState()
	st.HostRoutes = hostRoutes(hr.v.routes, l.ownedLinks(hr.v.links))
	bridges := l.addNetworks(st, hr.v, scope == nil)
	if err := l.addOverlays(st, hr.v, bridges); err != nil {
		return nil, err
	}
	for _, v := range seen {
		st.Containers[v.c.ID()] = v.c
	}
	l.matchEndpoints(st, hr.v, bridges, seen, scope)
	for _, c := range st.Containers {
		slices.SortStableFunc(c.Endpoints, func(a, b *model.Endpoint) int {
			if c := compareIfNames(a.IfName, b.IfName); c != 0 {
				return c
			}
			return strings.Compare(a.HostIf, b.HostIf)
		})
	}
	if err := l.observeUTS(ctx, st); err != nil {
		return nil, err
	}
	return st, nil
}

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
	routes []nlraw.Route
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
	v4, v6 := addrsByIndex(addrs)
	return &hostView{links: links, addrs: v4, addrs6: v6, routes: routes}, nil
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
// IPv6 ones (link-local addresses are the kernel's, not netctl's).
func addrsByIndex(addrs []nlraw.Addr) (v4 map[int][]netip.Prefix, v6 map[int][]nlraw.Addr) {
	v4 = make(map[int][]netip.Prefix, len(addrs))
	v6 = map[int][]nlraw.Addr{}
	for _, a := range addrs {
		switch ip := a.Prefix.Addr(); {
		case ip.Is4():
			v4[a.Index] = append(v4[a.Index], a.Prefix)
		case !ip.IsLinkLocalUnicast() && !ip.IsLoopback():
			v6[a.Index] = append(v6[a.Index], a)
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

// target is a container namespace Observe will read: an owned mount or an
// External attachment (whose path is in the record).
type target struct {
	project, name string
	path          string // mount point, or the attachment record
	external      bool
}

// listContainers lists <root>/netns/*/* and <root>/attached/*/*. An owned
// namespace wins over a record of the same name, which only a hand edit
// produces.
func (l *Links) listContainers(scope model.Scope) ([]target, error) {
	if scope != nil {
		return l.scopedTargets(scope), nil
	}
	owned, err := listTwoLevels(l.netnsDir())
	if err != nil {
		return nil, err
	}
	attached, err := listTwoLevels(l.attachedDir())
	if err != nil {
		return nil, err
	}
	targets := make([]target, 0, len(owned)+len(attached))
	have := make(map[string]bool, len(owned))
	for _, pn := range owned {
		have[model.ContainerID(pn[0], pn[1])] = true
		targets = append(targets, target{project: pn[0], name: pn[1], path: l.ownedNetnsPath(pn[0], pn[1])})
	}
	for _, pn := range attached {
		if have[model.ContainerID(pn[0], pn[1])] {
			l.log.Warn().Str("container", model.ContainerID(pn[0], pn[1])).Msg("both owned and attached; ignoring the attachment")
			continue
		}
		targets = append(targets, target{project: pn[0], name: pn[1], path: l.attachedPath(pn[0], pn[1]), external: true})
	}
	return targets, nil
}

// scopedTargets finds the containers of scope without listing the
// directories, which at a thousand containers costs more than reading the
// few namespaces a verification needs.
func (l *Links) scopedTargets(scope model.Scope) []target {
	var targets []target
	for _, id := range slices.Sorted(maps.Keys(scope)) {
		project, name, ok := model.SplitID(id)
		if !ok || checkPathElem("project", project) != nil || checkPathElem("container", name) != nil {
			continue
		}
		if _, err := os.Lstat(l.ownedNetnsPath(project, name)); err == nil {
			targets = append(targets, target{project: project, name: name, path: l.ownedNetnsPath(project, name)})
		} else if _, err := os.Lstat(l.attachedPath(project, name)); err == nil {
			targets = append(targets, target{project: project, name: name, path: l.attachedPath(project, name), external: true})
		}
	}
	return targets
}

// listTwoLevels returns the [project, name] pairs of dir/<project>/<name>,
// skipping dot files (temp files of atomic writes).
func listTwoLevels(dir string) ([][2]string, error) {
	projects, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out [][2]string
	for _, p := range projects {
		if !p.IsDir() || strings.HasPrefix(p.Name(), ".") {
			continue
		}
		names, err := os.ReadDir(filepath.Join(dir, p.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			if n.IsDir() || strings.HasPrefix(n.Name(), ".") {
				continue
			}
			out = append(out, [2]string{p.Name(), n.Name()})
		}
	}
	return out, nil
}

// nsView is what Observe read in one container namespace.
type nsView struct {
	c     *model.Container
	peers []peerEnd
}

// peerEnd is a container-side veth end carrying this container's mark.
type peerEnd struct {
	ep        *model.Endpoint
	mark      string
	index     int // ifindex in the container's namespace
	peerIndex int // its partner's ifindex in the host namespace
}

// readContainer reads one namespace: one netlink socket, one dump each of
// links, addresses and main-table routes (both families each). A missing namespace is not an
// error: the container is reported with NetnsOK false.
func (l *Links) readContainer(t *nlraw.Thread, tg target) (*nsView, error) {
	c := &model.Container{Project: tg.project, Name: tg.name, Netns: tg.path, External: tg.external}
	v := &nsView{c: c}
	if tg.external {
		path, err := readRecord(l.root, tg.path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return v, nil // forgotten meanwhile
			}
			return nil, fmt.Errorf("container %s: read attachment: %w", c.ID(), err)
		}
		c.Netns = path
	}
	ns, id, err := openNetns(c.Netns, tg.external)
	if err != nil {
		if !noNetns(err) {
			l.log.Debug().Err(err).Str("container", c.ID()).Str("netns", c.Netns).Msg("cannot open namespace")
		}
		return v, nil
	}
	defer ns.Close()
	if id == l.hostID {
		return v, nil // a recycled PID's path now names the host itself
	}
	d, err := t.Open(ns)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", c.ID(), err)
	}
	defer d.Close()
	links, err := d.Links()
	if err != nil {
		return nil, fmt.Errorf("container %s: list links: %w", c.ID(), err)
	}
	addrs, err := d.Addrs()
	if err != nil {
		return nil, fmt.Errorf("container %s: list addresses: %w", c.ID(), err)
	}
	routes, err := d.Routes(unix.RT_TABLE_MAIN)
	if err != nil {
		return nil, fmt.Errorf("container %s: list routes: %w", c.ID(), err)
	}

	c.NetnsOK = true
	c.DefaultGateway = defaultGateway(routes, false)
	c.DefaultGatewayV6 = defaultGateway(routes, true)
	byIndex, byIndex6 := addrsByIndex(addrs)
	for _, ln := range links {
		c.IfNames = append(c.IfNames, ln.Name)
		if ln.Name == "lo" {
			c.LoUp = ln.Up
		}
		o, ok := l.owner(ln.Alias)
		if !ok || o.Container != c.Name || o.Project != c.Project {
			continue
		}
		ep := &model.Endpoint{
			Network: model.NetworkID(c.Project, o.Network),
			IfName:  ln.Name,
			MAC:     ln.MAC,
			MTU:     ln.MTU,
		}
		own := byIndex[ln.Index]
		if len(own) > 0 {
			ep.Addr = own[0]
		}
		own6 := byIndex6[ln.Index]
		ep.AddrV6 = onlyNodad(own6)
		ep.AcceptRA = ln.AcceptRA
		// A second global IPv6 address, or one with DAD, is not netctl's
		// doing: the endpoint is repaired.
		ep.PeerOK = ln.Up && len(own) == 1 && (len(own6) == 0 || ep.AddrV6.IsValid())
		v.peers = append(v.peers, peerEnd{ep: ep, mark: ln.Alias, index: ln.Index, peerIndex: ln.Peer})
	}
	slices.SortFunc(c.IfNames, compareIfNames)
	return v, nil
}

// matchEndpoints pairs the container-side ends read in the namespaces with
// the host-side ends carrying the same mark, and reports host-side ends
// left over (their namespace or peer is gone) as endpoints with PeerOK
// false, so that the reconciler deletes them.
func (l *Links) matchEndpoints(st *model.State, host *hostView, bridges map[string]int, seen []*nsView, scope model.Scope) {
	hostEnds := make(map[string][]nlraw.Link) // by mark
	for _, h := range host.links {
		o, ok := l.owner(h.Alias)
		if ok && o.Container != "" && h.Kind == "veth" {
			hostEnds[h.Alias] = append(hostEnds[h.Alias], h)
		}
	}
	used := make(map[int]bool) // host ifindex
	hostOK := func(h nlraw.Link, networkID string) bool {
		br, ok := bridges[networkID]
		return ok && h.Up && h.Master == br
	}

	for _, v := range seen {
		for _, p := range v.peers {
			cands := hostEnds[p.mark]
			i := slices.IndexFunc(cands, func(h nlraw.Link) bool { return h.Index == p.peerIndex && h.Peer == p.index })
			if i >= 0 {
				p.ep.HostIf = cands[i].Name
				p.ep.HostOK = hostOK(cands[i], p.ep.Network)
				used[cands[i].Index] = true
			} else if i = slices.IndexFunc(cands, func(h nlraw.Link) bool { return !used[h.Index] }); i >= 0 {
				// Same mark, but not this end's partner: name it so that the
				// reconciler can act on it; HostOK stays false.
				p.ep.HostIf = cands[i].Name
				used[cands[i].Index] = true
			}
			v.c.Endpoints = append(v.c.Endpoints, p.ep)
		}
	}

	for _, h := range host.links {
		o, ok := l.owner(h.Alias)
		if !ok || o.Container == "" || h.Kind != "veth" || used[h.Index] {
			continue
		}
		id := model.ContainerID(o.Project, o.Container)
		if !scope.Has(id) {
			continue
		}
		c := st.Containers[id]
		if c == nil {
			// Netns stays empty: there is no namespace to name.
			c = &model.Container{Project: o.Project, Name: o.Container}
			st.Containers[id] = c
		}
		netID := model.NetworkID(o.Project, o.Network)
		if c.Endpoint(netID) != nil {
			l.log.Debug().Str("container", id).Str("veth", h.Name).Msg("second host side for one endpoint; ignored")
			continue
		}
		c.Endpoints = append(c.Endpoints, &model.Endpoint{
			Network: netID,
			HostIf:  h.Name,
			MTU:     h.MTU,
			HostOK:  hostOK(h, netID),
		})
	}
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
