package netlink

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
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
	type utsResult struct {
		names []string
		err   error
	}
	utsc := make(chan utsResult, 1)
	go func() {
		names, err := l.readUTS(ctx, targets)
		utsc <- utsResult{names, err}
	}()
	// A full observation reads only what the journal heard of; a scoped
	// one (a verification) reads its scope and saves that too, so that
	// the next command need not read it again.
	rs := l.openReadings(ctx, len(targets))
	full := scope == nil
	hostc := make(chan hostResult, 1)
	if v := l.cachedHost(rs, full); v != nil {
		hostc <- hostResult{v: v}
	} else {
		go func() {
			v, err := l.readHost(scope != nil)
			hostc <- hostResult{v, err}
		}()
	}
	seen := make([]*nsView, len(targets))
	err = runWorkers(ctx, len(targets), observeWorkers(), func(next func() (int, bool)) error {
		t, err := nlraw.LockThread()
		if err != nil {
			return err
		}
		defer t.Release()
		for i, ok := next(); ok; i, ok = next() {
			if full {
				if seen[i] = l.reuse(rs, i, targets[i]); seen[i] != nil {
					continue
				}
			}
			if seen[i], err = l.readContainer(t, targets[i]); err != nil {
				return err
			}
		}
		return nil
	})
	hr, uts := <-hostc, <-utsc
	if err != nil {
		return nil, err
	}
	if hr.err != nil {
		return nil, hr.err
	}
	if uts.err != nil {
		return nil, uts.err
	}
	for i, v := range seen {
		v.c.UTSHostname = uts.names[i]
	}
	if scope != nil {
		if err := l.readHostEnds(hr.v, seen); err != nil {
			return nil, err
		}
	}
	if rs != nil {
		if err := l.settleReadings(rs, hr.v, targets, seen, full); err != nil {
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
	return st, nil
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
	ns    nsID // the namespace read
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
	v.ns = id
	d, err := t.OpenAway(ns)
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
		own, own6 := linkAddrs(addrs, ln.Index)
		if len(own) > 0 {
			ep.Addr = own[0]
		}
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
				p.ep.Hairpin = cands[i].Hairpin
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
			Hairpin: h.Hairpin,
		})
	}
}
