package dns

import (
	"net/netip"
	"sort"
	"strings"

	"github.com/rs/zerolog"
)

// snapshot is an immutable index of a Config, built once per reload and
// read lock-free by every query.
//
// Clients are indexed per listener: a listener is bound to one bridge, so
// it only ever sees queries that arrived on that bridge, and only the
// addresses containers hold on the networks of that bridge may ask there.
// A container that sends from another network's address (spoofing it, or
// holding it by hand) is not found, and its query is dropped: the source
// address alone never decides the scope.
type snapshot struct {
	scopes map[listenKey]map[netip.Addr]*client
	// known are every client address, whatever the listener: a source
	// found here but not in the listener's scope is a mismatch (dropped),
	// one found nowhere is a stranger (REFUSED, as before).
	known map[netip.Addr]bool
}

// verdict is what a listener makes of a query's source address.
type verdict int

const (
	stranger verdict = iota // no container of ours: REFUSED
	mismatch                // a container address of another bridge: dropped
	member                  // a container on this listener's bridge
)

// client returns the container that may ask on listener k from src.
func (s *snapshot) client(k listenKey, src netip.Addr) (*client, verdict) {
	if cl := s.scopes[k][src]; cl != nil {
		return cl, member
	}
	if s.known[src] {
		return nil, mismatch
	}
	return nil, stranger
}

// add lets cl ask on listener k from addr.
func (s *snapshot) add(k listenKey, addr netip.Addr, cl *client) {
	s.known[addr] = true
	scope := s.scopes[k]
	if scope == nil {
		scope = map[netip.Addr]*client{}
		s.scopes[k] = scope
	}
	scope[addr] = cl
}

func emptySnapshot() *snapshot {
	return &snapshot{scopes: map[listenKey]map[netip.Addr]*client{}, known: map[netip.Addr]bool{}}
}

// netIndex is one network's names.
type netIndex struct {
	subnet   netip.Prefix
	subnetV6 netip.Prefix            // invalid on an IPv4-only network
	names    map[string][]netip.Addr // lower-case name without the final dot
	ptr      map[netip.Addr][]string // fully qualified names
	// remote: names of containers on other nodes (overlay), by the
	// addresses of the nodes that know them.
	remote map[string][]netip.Addr
}

// client is what one container may see.
type client struct {
	project, name string
	nets          []*netIndex
	links         map[string][]netip.Addr
	upstreams     []netip.AddrPort
	// peer: another node of an overlay, which sees local names only.
	peer bool
}

// lookup returns the addresses of name on the client's networks and its
// links, without repeats, in a stable order; ok is false when no network
// of the client knows the name.
func (c *client) lookup(name string) (addrs []netip.Addr, ok bool) {
	for _, n := range c.nets {
		if a, found := n.names[name]; found {
			addrs = appendNew(addrs, a)
			ok = true
		}
	}
	if a, found := c.links[name]; found {
		addrs = appendNew(addrs, a)
		ok = true
	}
	return addrs, ok
}

// reverse returns the names at addr on the client's networks; inZone is
// true when addr lies in one of their subnets (then the server, not an
// upstream, has the last word about it).
func (c *client) reverse(addr netip.Addr) (names []string, inZone bool) {
	for _, n := range c.nets {
		if n.subnet.Contains(addr) || n.subnetV6.Contains(addr) {
			inZone = true
		}
		for _, name := range n.ptr[addr] {
			if !contains(names, name) {
				names = append(names, name)
			}
		}
	}
	return names, inZone
}

func appendNew(dst, src []netip.Addr) []netip.Addr {
	if len(dst) == 0 {
		return src
	}
	out := append([]netip.Addr(nil), dst...)
	for _, a := range src {
		if !hasAddr(out, a) {
			out = append(out, a)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// build indexes cfg and lists the listeners it needs, each with the
// project that owns it.
func build(cfg Config, port int, log zerolog.Logger) (*snapshot, map[listenKey]string) {
	snap := emptySnapshot()
	wanted := map[listenKey]string{}
	self := map[netip.AddrPort]bool{} // our own listeners
	projects := append([]Project(nil), cfg.Projects...)
	sort.Slice(projects, func(i, j int) bool { return projectName(projects[i]) < projectName(projects[j]) })
	for _, p := range projects {
		if p.DNS == nil {
			continue
		}
		for _, n := range p.DNS.Networks {
			if n.Gateway.IsValid() {
				self[netip.AddrPortFrom(n.Gateway, uint16(port))] = true
			}
		}
	}
	for _, p := range projects {
		d := p.DNS
		if d == nil {
			continue
		}
		nets := map[string]*netIndex{}
		keys := map[string]listenKey{} // network ID -> its listener
		for _, n := range d.Networks {
			if !n.Gateway.IsValid() {
				continue
			}
			k := listenKey{addr: n.Gateway, dev: n.Bridge}
			wanted[k] = d.Project
			keys[n.ID] = k
			idx := &netIndex{subnet: n.Subnet, subnetV6: n.SubnetV6, names: map[string][]netip.Addr{}, ptr: map[netip.Addr][]string{}}
			for _, r := range n.Records {
				for _, name := range r.Names {
					name = normalize(name)
					if !hasAddr(idx.names[name], r.Addr) {
						idx.names[name] = append(idx.names[name], r.Addr)
					}
					fq := name + "."
					if !contains(idx.ptr[r.Addr], fq) {
						idx.ptr[r.Addr] = append(idx.ptr[r.Addr], fq)
					}
				}
			}
			indexRemote(idx, n.Remote)
			nets[n.ID] = idx
		}
		addPeers(snap, wanted, d, nets)
		for _, c := range d.Clients {
			cl := &client{project: d.Project, name: c.Container, links: map[string][]netip.Addr{}}
			for _, id := range c.Networks {
				if idx := nets[id]; idx != nil {
					cl.nets = append(cl.nets, idx)
				}
			}
			for _, l := range c.Links {
				for _, name := range l.Names {
					name = normalize(name)
					cl.links[name] = appendNew(cl.links[name], []netip.Addr{l.Addr})
				}
			}
			for _, u := range c.Upstreams {
				// Asking ourselves would loop until the timeout.
				if u.IsValid() && !self[u] {
					cl.upstreams = append(cl.upstreams, u)
				}
			}
			for _, a := range c.Addrs {
				snap.known[a] = true
				// The address may ask on the listener of each of the
				// client's networks whose subnet holds it.
				for _, id := range c.Networks {
					k, ok := keys[id]
					if !ok || nets[id] == nil || !nets[id].subnet.Contains(a) {
						continue
					}
					if prev := snap.scopes[k][a]; prev != nil && prev != cl {
						log.Warn().Str("addr", a.String()).Str("project", d.Project).Str("container", c.Container).
							Str("holder", prev.project+"/"+prev.name).Msg("address claimed twice; first project wins")
						continue
					}
					snap.add(k, a, cl)
				}
			}
		}
	}
	return snap, wanted
}

func projectName(p Project) string {
	if p.DNS == nil {
		return ""
	}
	return p.DNS.Project
}

func hasAddr(list []netip.Addr, a netip.Addr) bool {
	for _, x := range list {
		if x == a {
			return true
		}
	}
	return false
}

// normalize is the form names are matched in: lower case, no final dot.
func normalize(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, "."))
}
