package dns

import (
	"net"
	"net/netip"
	"strconv"
	"strings"

	mdns "github.com/miekg/dns"
)

// ttl of container names: 0, as aardvark-dns (containers/aardvark-dns#511)
// — a container can come back at another address, and a cached answer
// would outlive it.
const ttl = 0

// ServeDNS answers one query (miekg/dns Handler).
func (s *Server) ServeDNS(w mdns.ResponseWriter, r *mdns.Msg) {
	udp := isUDP(w.LocalAddr())
	resp := s.answer(r, sourceAddr(w.RemoteAddr()), udp)
	if udp {
		resp.Truncate(udpSize(r))
	}
	if err := w.WriteMsg(resp); err != nil {
		s.log.Debug().Err(err).Str("client", w.RemoteAddr().String()).Msg("write answer")
	}
}

// answer computes the reply to r from src.
func (s *Server) answer(r *mdns.Msg, src netip.Addr, udp bool) *mdns.Msg {
	m, cl := s.local(r, src)
	if m == nil {
		return s.forward(r, cl, udp)
	}
	return m
}

// local answers r from what the server knows; a nil reply means the
// query goes to cl's upstreams.
func (s *Server) local(r *mdns.Msg, src netip.Addr) (*mdns.Msg, *client) {
	snap := s.snap.Load()
	cl := snap.clients[src]
	if cl == nil {
		// Not a container of ours: no names, and no open resolver.
		return reply(r, mdns.RcodeRefused), nil
	}
	if r.Opcode != mdns.OpcodeQuery || len(r.Question) != 1 {
		return reply(r, mdns.RcodeNotImplemented), cl
	}
	q := r.Question[0]
	if q.Qclass != mdns.ClassINET {
		return nil, cl
	}
	name := normalize(q.Name)
	if q.Qtype == mdns.TypePTR {
		if addr, ok := reverseAddr(name); ok {
			names, inZone := cl.reverse(addr)
			switch {
			case len(names) > 0:
				m := authoritative(r)
				for _, n := range names {
					m.Answer = append(m.Answer, &mdns.PTR{Hdr: header(q.Name, mdns.TypePTR), Ptr: n})
				}
				return m, cl
			case inZone && len(cl.reverseNodes(addr)) > 0:
				// Maybe a container on another node: askNodes.
				return nil, cl
			case inZone:
				m := authoritative(r)
				m.Rcode = mdns.RcodeNameError
				return m, cl
			}
		}
		return nil, cl
	}
	if nodes, _ := cl.remote(name); len(nodes) > 0 {
		// Containers on other nodes answer to it too: askNodes merges
		// their addresses with the local ones.
		return nil, cl
	}
	addrs, ok := cl.lookup(name)
	if !ok {
		if cl.peer {
			// Another node asks only for our containers; nothing else is
			// ever forwarded for it.
			m := authoritative(r)
			m.Rcode = mdns.RcodeNameError
			return m, cl
		}
		return nil, cl
	}
	m := authoritative(r)
	if q.Qtype == mdns.TypeA || q.Qtype == mdns.TypeANY {
		m.Answer = s.roundRobin(q.Name, addrs)
	}
	// Compression only pays for long answers; computing it costs more
	// than it saves on the usual one or two records.
	m.Compress = len(m.Answer) > 4
	// AAAA and other types of a container name: no data, but the name
	// exists (NOERROR), and it is never asked upstream.
	return m, cl
}

// roundRobin lists addrs as A records of qname, every call starting one
// further along the list.
func (s *Server) roundRobin(qname string, addrs []netip.Addr) []mdns.RR {
	n := len(addrs)
	start := 0
	if n > 1 {
		start = int(s.rr.Add(1) % uint64(n))
	}
	out := make([]mdns.RR, 0, n)
	for i := range n {
		a := addrs[(start+i)%n]
		out = append(out, &mdns.A{Hdr: header(qname, mdns.TypeA), A: a.AsSlice()})
	}
	return out
}

func header(name string, t uint16) mdns.RR_Header {
	return mdns.RR_Header{Name: name, Rrtype: t, Class: mdns.ClassINET, Ttl: ttl}
}

func reply(r *mdns.Msg, rcode int) *mdns.Msg {
	m := new(mdns.Msg)
	m.SetRcode(r, rcode)
	m.RecursionAvailable = true
	return m
}

func authoritative(r *mdns.Msg) *mdns.Msg {
	m := new(mdns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	m.RecursionAvailable = true
	m.Compress = true
	if opt := r.IsEdns0(); opt != nil {
		m.SetEdns0(opt.UDPSize(), false)
	}
	return m
}

// udpSize is how large a UDP answer to r may be.
func udpSize(r *mdns.Msg) int {
	if opt := r.IsEdns0(); opt != nil {
		return int(opt.UDPSize())
	}
	return mdns.MinMsgSize
}

func isUDP(a net.Addr) bool {
	_, ok := a.(*net.UDPAddr)
	return ok
}

func sourceAddr(a net.Addr) netip.Addr {
	var ip net.IP
	switch a := a.(type) {
	case *net.UDPAddr:
		ip = a.IP
	case *net.TCPAddr:
		ip = a.IP
	}
	addr, _ := netip.AddrFromSlice(ip)
	return addr.Unmap()
}

// reverseAddr parses "4.3.2.1.in-addr.arpa" into 1.2.3.4.
func reverseAddr(name string) (netip.Addr, bool) {
	rest, ok := strings.CutSuffix(name, ".in-addr.arpa")
	if !ok {
		return netip.Addr{}, false
	}
	labels := strings.Split(rest, ".")
	if len(labels) != 4 {
		return netip.Addr{}, false
	}
	var b [4]byte
	for i, l := range labels {
		v, err := strconv.ParseUint(l, 10, 8)
		if err != nil || (len(l) > 1 && l[0] == '0') {
			return netip.Addr{}, false
		}
		b[3-i] = byte(v)
	}
	return netip.AddrFrom4(b), true
}
