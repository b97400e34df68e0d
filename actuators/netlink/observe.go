package netlink

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	vnl "github.com/vishvananda/netlink"

	"github.com/netctl/netctl/reconciler/model"
)

// Observe reads every netctl-owned bridge, container namespace and
// endpoint, of every project, plus the host's IPv4 routes.
func (l *Links) Observe(ctx context.Context) (*model.State, error) {
	host, err := l.readHost()
	if err != nil {
		return nil, err
	}
	st := model.NewState()
	st.HostRoutes = hostRoutes(host.routes)
	bridges := l.addNetworks(st, host)

	targets, err := l.listContainers()
	if err != nil {
		return nil, err
	}
	seen := make([]*nsView, len(targets))
	err = forEach(ctx, len(targets), observeWorkers(), func(i int) error {
		v, err := l.readContainer(targets[i])
		seen[i] = v
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, v := range seen {
		st.Containers[v.c.ID()] = v.c
	}
	l.matchEndpoints(st, host, bridges, seen)
	for _, c := range st.Containers {
		slices.SortStableFunc(c.Endpoints, func(a, b *model.Endpoint) int {
			switch {
			case ifNameLess(a.IfName, b.IfName):
				return -1
			case ifNameLess(b.IfName, a.IfName):
				return 1
			}
			return strings.Compare(a.HostIf, b.HostIf)
		})
	}
	return st, nil
}

// hostView is one dump each of the host's links, addresses and routes.
type hostView struct {
	links  []vnl.Link
	addrs  map[int][]netip.Prefix // by ifindex
	routes []vnl.Route
}

func (l *Links) readHost() (*hostView, error) {
	links, err := linkList(l.host)
	if err != nil {
		return nil, fmt.Errorf("host: list links: %w", err)
	}
	addrs, err := addrList(l.host, nil)
	if err != nil {
		return nil, fmt.Errorf("host: list addresses: %w", err)
	}
	routes, err := allRoutes(l.host)
	if err != nil {
		return nil, fmt.Errorf("host: list routes: %w", err)
	}
	return &hostView{links: links, addrs: addrsByIndex(addrs), routes: routes}, nil
}

func addrsByIndex(addrs []vnl.Addr) map[int][]netip.Prefix {
	m := make(map[int][]netip.Prefix)
	for _, a := range addrs {
		if p := addrPrefix(a); p.Addr().Is4() {
			m[a.LinkIndex] = append(m[a.LinkIndex], p)
		}
	}
	return m
}

// addNetworks adds a Network for every bridge carrying a bridge mark, and
// returns the bridges' ifindexes by network ID.
func (l *Links) addNetworks(st *model.State, host *hostView) map[string]int {
	bridges := make(map[string]int)
	for _, link := range host.links {
		a := link.Attrs()
		o, ok := model.ParseOwner(a.Alias)
		if !ok || o.Container != "" || link.Type() != "bridge" {
			continue
		}
		n := &model.Network{
			Project: o.Project,
			Name:    o.Network,
			Driver:  "bridge",
			Bridge:  a.Name,
			MTU:     a.MTU,
			Up:      isUp(link),
		}
		// Only a single address says which subnet the bridge serves; with
		// none or several, Gateway stays invalid so the reconciler sees a
		// difference and EnsureBridge fixes it.
		if addrs := host.addrs[a.Index]; len(addrs) == 1 {
			n.Gateway = addrs[0].Addr()
			n.Subnet = addrs[0].Masked()
		}
		n.Foreign = foreignPorts(host.links, a.Index, n.ID())
		if old, dup := st.Networks[n.ID()]; dup {
			l.log.Warn().Str("network", n.ID()).Str("bridge", a.Name).Str("other", old.Bridge).
				Msg("two bridges carry the same mark; ignoring one")
			continue
		}
		st.Networks[n.ID()] = n
		bridges[n.ID()] = a.Index
	}
	return bridges
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
func (l *Links) listContainers() ([]target, error) {
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
// links, IPv4 addresses and IPv4 routes. A missing namespace is not an
// error: the container is reported with NetnsOK false.
func (l *Links) readContainer(t target) (*nsView, error) {
	c := &model.Container{Project: t.project, Name: t.name, Netns: t.path, External: t.external}
	v := &nsView{c: c}
	if t.external {
		path, err := readRecord(t.path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return v, nil // forgotten meanwhile
			}
			return nil, fmt.Errorf("container %s: read attachment: %w", c.ID(), err)
		}
		c.Netns = path
	}
	ns, id, err := openNetns(c.Netns, t.external)
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
	h, err := newHandle(ns)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", c.ID(), err)
	}
	defer h.Close()
	links, err := linkList(h)
	if err != nil {
		return nil, fmt.Errorf("container %s: list links: %w", c.ID(), err)
	}
	addrs, err := addrList(h, nil)
	if err != nil {
		return nil, fmt.Errorf("container %s: list addresses: %w", c.ID(), err)
	}
	routes, err := mainRoutes(h)
	if err != nil {
		return nil, fmt.Errorf("container %s: list routes: %w", c.ID(), err)
	}

	c.NetnsOK = true
	c.DefaultGateway = defaultGateway(routes)
	byIndex := addrsByIndex(addrs)
	for _, link := range links {
		a := link.Attrs()
		c.IfNames = append(c.IfNames, a.Name)
		if a.Name == "lo" {
			c.LoUp = isUp(link)
		}
		o, ok := model.ParseOwner(a.Alias)
		if !ok || o.Container != c.Name || o.Project != c.Project {
			continue
		}
		ep := &model.Endpoint{
			Network: model.NetworkID(c.Project, o.Network),
			IfName:  a.Name,
			MAC:     a.HardwareAddr,
			MTU:     a.MTU,
		}
		own := byIndex[a.Index]
		if len(own) > 0 {
			ep.Addr = own[0]
		}
		ep.PeerOK = isUp(link) && len(own) == 1
		v.peers = append(v.peers, peerEnd{ep: ep, mark: a.Alias, index: a.Index, peerIndex: a.ParentIndex})
	}
	slices.SortFunc(c.IfNames, func(a, b string) int {
		if ifNameLess(a, b) {
			return -1
		}
		if ifNameLess(b, a) {
			return 1
		}
		return 0
	})
	return v, nil
}

// matchEndpoints pairs the container-side ends read in the namespaces with
// the host-side ends carrying the same mark, and reports host-side ends
// left over (their namespace or peer is gone) as endpoints with PeerOK
// false, so that the reconciler deletes them.
func (l *Links) matchEndpoints(st *model.State, host *hostView, bridges map[string]int, seen []*nsView) {
	hostEnds := make(map[string][]vnl.Link) // by mark
	for _, link := range host.links {
		o, ok := model.ParseOwner(link.Attrs().Alias)
		if ok && o.Container != "" && link.Type() == "veth" {
			hostEnds[link.Attrs().Alias] = append(hostEnds[link.Attrs().Alias], link)
		}
	}
	used := make(map[int]bool) // host ifindex
	hostOK := func(link vnl.Link, networkID string) bool {
		br, ok := bridges[networkID]
		return ok && isUp(link) && link.Attrs().MasterIndex == br
	}

	for _, v := range seen {
		for _, p := range v.peers {
			cands := hostEnds[p.mark]
			i := slices.IndexFunc(cands, func(h vnl.Link) bool {
				return h.Attrs().Index == p.peerIndex && h.Attrs().ParentIndex == p.index
			})
			if i >= 0 {
				p.ep.HostIf = cands[i].Attrs().Name
				p.ep.HostOK = hostOK(cands[i], p.ep.Network)
				used[cands[i].Attrs().Index] = true
			} else if i = slices.IndexFunc(cands, func(h vnl.Link) bool { return !used[h.Attrs().Index] }); i >= 0 {
				// Same mark, but not this end's partner: name it so that the
				// reconciler can act on it; HostOK stays false.
				p.ep.HostIf = cands[i].Attrs().Name
				used[cands[i].Attrs().Index] = true
			}
			v.c.Endpoints = append(v.c.Endpoints, p.ep)
		}
	}

	for _, link := range host.links {
		a := link.Attrs()
		o, ok := model.ParseOwner(a.Alias)
		if !ok || o.Container == "" || link.Type() != "veth" || used[a.Index] {
			continue
		}
		id := model.ContainerID(o.Project, o.Container)
		c := st.Containers[id]
		if c == nil {
			c = &model.Container{Project: o.Project, Name: o.Container}
			st.Containers[id] = c
		}
		netID := model.NetworkID(o.Project, o.Network)
		if c.Endpoint(netID) != nil {
			l.log.Debug().Str("container", id).Str("veth", a.Name).Msg("second host side for one endpoint; ignored")
			continue
		}
		c.Endpoints = append(c.Endpoints, &model.Endpoint{
			Network: netID,
			HostIf:  a.Name,
			MTU:     a.MTU,
			HostOK:  hostOK(link, netID),
		})
	}
}
