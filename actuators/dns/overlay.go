package dns

import (
	"context"
	"net/netip"
	"slices"
	"sync"

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
	k := listenKey{addr: p.Listen}
	wanted[k] = d.Project
	var idxs []*netIndex
	for _, id := range p.Networks {
		if idx := nets[id]; idx != nil {
			idxs = append(idxs, idx)
		}
	}
	for _, node := range p.Nodes {
		// Nodes may ask on the underlay listener only.
		cl := snap.scopes[k][node]
		if cl == nil {
			cl = &client{project: d.Project, name: "node " + node.String(), peer: true}
			snap.add(k, node, cl)
		}
		if cl.peer {
			cl.nets = append(cl.nets, idxs...)
		}
	}
}

// remote returns the nodes that run a container answering to name on the
// client's networks, and the subnets an answer must lie in (subnet_v6 too
// on a dual-stack network).
func (c *client) remote(name string) (nodes []netip.Addr, subnets []netip.Prefix) {
	if c.peer {
		return nil, nil
	}
	for _, n := range c.nets {
		if found := n.remote[name]; len(found) > 0 {
			nodes = appendNew(nodes, found)
			subnets = append(subnets, n.subnet)
			if n.subnetV6.IsValid() {
				subnets = append(subnets, n.subnetV6)
			}
		}
	}
	return nodes, subnets
}

// reverseNodes returns the nodes that run containers on the client's
// networks whose subnet holds addr: one of them may have it.
func (c *client) reverseNodes(addr netip.Addr) []netip.Addr {
	if c.peer {
		return nil
	}
	var nodes []netip.Addr
	for _, n := range c.nets {
		if !n.subnet.Contains(addr) && !n.subnetV6.Contains(addr) {
			continue
		}
		for _, found := range n.remote {
			nodes = appendNew(nodes, found)
		}
	}
	slices.SortFunc(nodes, func(a, b netip.Addr) int { return a.Compare(b) })
	return nodes
}

// remoteName reports whether node may answer name for the client: a
// container there has the name on a network the client shares.
func (c *client) remoteName(name string, node netip.Addr) bool {
	return slices.ContainsFunc(c.nets, func(n *netIndex) bool { return hasAddr(n.remote[name], node) })
}

// askNodes answers r for cl with what other nodes know, or returns nil
// when no container on another node concerns the question. A name shared
// by containers here and on other nodes answers with all of them, in one
// round robin, like a name shared by local containers; the addresses of
// a node that does not answer are left out (a down node costs its own
// containers, not the others'). A PTR of an address in a shared overlay
// subnet is asked of the nodes that run containers there.
func (s *Server) askNodes(r *mdns.Msg, cl *client) *mdns.Msg {
	if cl == nil || len(r.Question) != 1 {
		return nil
	}
	q := r.Question[0]
	name := normalize(q.Name)
	if q.Qtype == mdns.TypePTR {
		return s.askReverse(r, cl, name)
	}
	nodes, subnets := cl.remote(name)
	if len(nodes) == 0 {
		return nil
	}
	local, _ := cl.lookup(name)
	addrs := slices.Clone(local)
	answered := false
	for _, resp := range s.exchange(name, q.Qtype, nodes) {
		if resp == nil {
			continue
		}
		answered = true
		for _, rr := range resp.Answer {
			addr, ok := answerAddr(rr)
			if ok && slices.ContainsFunc(subnets, func(p netip.Prefix) bool { return p.Contains(addr) }) && !hasAddr(addrs, addr) {
				addrs = append(addrs, addr)
			}
		}
	}
	if !answered && len(local) == 0 {
		// The nodes are down or unreachable: a failure, not an answer,
		// so the client tries again rather than caching a negative.
		return reply(r, mdns.RcodeServerFailure)
	}
	m := authoritative(r)
	m.Answer = s.addrAnswers(q.Name, q.Qtype, addrs)
	m.Compress = len(m.Answer) > 4
	return m
}

// answerAddr is the address of an A or AAAA record: a node answers A,
// AAAA or ANY questions with both kinds.
func answerAddr(rr mdns.RR) (netip.Addr, bool) {
	var ip []byte
	switch r := rr.(type) {
	case *mdns.A:
		ip = r.A.To4()
	case *mdns.AAAA:
		ip = r.AAAA.To16()
	}
	// No Unmap: an IPv4-mapped AAAA is in no IPv4 subnet, nor in an
	// IPv6 one of ours.
	return netip.AddrFromSlice(ip)
}

// askReverse answers a PTR query for an address in a shared overlay
// subnet that no local container holds, from the nodes that run
// containers there; it keeps only the names the client may see (names
// that node's containers have on the client's networks).
func (s *Server) askReverse(r *mdns.Msg, cl *client, name string) *mdns.Msg {
	addr, ok := reverseAddr(name)
	if !ok {
		return nil
	}
	if names, _ := cl.reverse(addr); len(names) > 0 {
		return nil // local, answered before
	}
	nodes := cl.reverseNodes(addr)
	if len(nodes) == 0 {
		return nil
	}
	q := r.Question[0]
	m := authoritative(r)
	answered := false
	for i, resp := range s.exchange(name, mdns.TypePTR, nodes) {
		if resp == nil {
			continue
		}
		answered = true
		for _, rr := range resp.Answer {
			p, ok := rr.(*mdns.PTR)
			if ok && cl.remoteName(normalize(p.Ptr), nodes[i]) {
				m.Answer = append(m.Answer, &mdns.PTR{Hdr: header(q.Name, mdns.TypePTR), Ptr: p.Ptr})
			}
		}
	}
	switch {
	case !answered:
		return reply(r, mdns.RcodeServerFailure)
	case len(m.Answer) == 0:
		m.Rcode = mdns.RcodeNameError
	}
	return m
}

// exchange asks every node the question at once, within ForwardTimeout,
// and returns their answers in the nodes' order: nil for a node that did
// not answer, or answered neither NOERROR nor NXDOMAIN.
func (s *Server) exchange(name string, qtype uint16, nodes []netip.Addr) []*mdns.Msg {
	ctx, cancel := context.WithTimeout(s.ctx, s.opts.ForwardTimeout)
	defer cancel()
	out := make([]*mdns.Msg, len(nodes))
	var wg sync.WaitGroup
	for i, node := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ask := new(mdns.Msg) // a fresh random id per node
			ask.SetQuestion(mdns.Fqdn(name), qtype)
			c := &mdns.Client{Net: "udp", Timeout: s.opts.ForwardTimeout}
			resp, _, err := c.ExchangeContext(ctx, ask, netip.AddrPortFrom(node, uint16(s.opts.Port)).String())
			if err != nil || resp.Rcode != mdns.RcodeSuccess && resp.Rcode != mdns.RcodeNameError {
				s.log.Debug().Err(err).Str("node", node.String()).Str("name", name).Msg("ask node")
				return
			}
			out[i] = resp
		}()
	}
	wg.Wait()
	return out
}
