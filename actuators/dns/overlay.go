package dns

import (
	"context"
	"net/netip"
	"slices"

	mdns "github.com/miekg/dns"

	"github.com/netctl/netctl/model"
)

// Overlay networks span nodes, and only the node that runs a container
// knows its address (it allocated it, sticky, from its own block). So the
// server answers a name of a container on another node by asking that
// node's server, on the underlay, and keeps from the answer the addresses
// in the subnets the asking container shares with the target. Each server
// listens on its node's underlay address too, and answers there only the
// file's other nodes, only with its own containers on the overlay networks,
// and never forwards: it is no open resolver.

// indexRemote adds a network's remote names: name -> owning nodes.
func indexRemote(idx *netIndex, remote []model.DNSRemote) {
	for _, r := range remote {
		if idx.remote == nil {
			idx.remote = map[string][]netip.Addr{}
		}
		for _, name := range r.Names {
			name = normalize(name)
			if !hasAddr(idx.remote[name], r.Node) {
				idx.remote[name] = append(idx.remote[name], r.Node)
			}
		}
	}
}

// addPeers registers the project's other nodes as clients that see its
// overlay networks' local names, and asks for the underlay listener. A
// node that serves several projects answers a peer from all of them.
func addPeers(snap *snapshot, wanted map[listenKey]string, d *model.DNS, nets map[string]*netIndex) {
	p := d.Peers
	if p == nil || !p.Listen.IsValid() {
		return
	}
	wanted[listenKey{addr: p.Listen}] = d.Project
	var idxs []*netIndex
	for _, id := range p.Networks {
		if idx := nets[id]; idx != nil {
			idxs = append(idxs, idx)
		}
	}
	for _, node := range p.Nodes {
		cl := snap.clients[node]
		if cl == nil {
			cl = &client{project: d.Project, name: "node " + node.String(), peer: true}
			snap.clients[node] = cl
		}
		if cl.peer {
			cl.nets = append(cl.nets, idxs...)
		}
	}
}

// remote returns the nodes that run a container answering to name on the
// client's networks, and the subnets an answer must lie in.
func (c *client) remote(name string) (nodes []netip.Addr, subnets []netip.Prefix) {
	if c.peer {
		return nil, nil
	}
	for _, n := range c.nets {
		if found := n.remote[name]; len(found) > 0 {
			nodes = appendNew(nodes, found)
			subnets = append(subnets, n.subnet)
		}
	}
	return nodes, subnets
}

// askNodes answers r for cl from the nodes that run the containers it
// names, or returns nil when no remote container has the name.
func (s *Server) askNodes(r *mdns.Msg, cl *client) *mdns.Msg {
	if cl == nil || len(r.Question) != 1 {
		return nil
	}
	q := r.Question[0]
	nodes, subnets := cl.remote(normalize(q.Name))
	if len(nodes) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.opts.ForwardTimeout)
	defer cancel()
	ask := new(mdns.Msg)
	ask.SetQuestion(mdns.Fqdn(normalize(q.Name)), q.Qtype)
	m := authoritative(r)
	answered := false
	for _, node := range nodes {
		c := &mdns.Client{Net: "udp", Timeout: s.opts.ForwardTimeout}
		resp, _, err := c.ExchangeContext(ctx, ask, netip.AddrPortFrom(node, uint16(s.opts.Port)).String())
		if err != nil || resp.Rcode != mdns.RcodeSuccess {
			s.log.Debug().Err(err).Str("node", node.String()).Str("name", q.Name).Msg("ask node")
			continue
		}
		answered = true
		for _, rr := range resp.Answer {
			a, ok := rr.(*mdns.A)
			if !ok {
				continue
			}
			addr, ok := netip.AddrFromSlice(a.A)
			if !ok || !slices.ContainsFunc(subnets, func(p netip.Prefix) bool { return p.Contains(addr.Unmap()) }) {
				continue
			}
			m.Answer = append(m.Answer, &mdns.A{Hdr: header(q.Name, mdns.TypeA), A: a.A})
		}
	}
	if !answered {
		// The node is down or unreachable: a failure, not an answer, so
		// the client tries again rather than caching a negative.
		return reply(r, mdns.RcodeServerFailure)
	}
	return m
}
