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

// scoped is the miekg/dns handler of one listener's TCP socket: it knows
// which bridge the connection came in on.
type scoped struct {
	s   *Server
	key listenKey
}

// ServeDNS answers one query (miekg/dns Handler).
func (h scoped) ServeDNS(w mdns.ResponseWriter, r *mdns.Msg) {
	s := h.s
	src := sourceAddr(w.RemoteAddr())
	m, cl, drop := s.local(r, h.key, src)
	if drop {
		s.log.Debug().Str("client", src.String()).Str("listen", h.key.String()).Msg("source address of another network: dropped")
		_ = w.Close()
		return
	}
	if m == nil {
		m = s.forwardLimited(r, src, cl, false)
	}
	if err := w.WriteMsg(m); err != nil {
		s.log.Debug().Err(err).Str("client", w.RemoteAddr().String()).Msg("write answer")
	}
}

// forwardLimited forwards r unless src or the whole server already has
// as many forwards in flight as allowed: then SERVFAIL at once, so that a
// flood of outside names (at an upstream that never answers) costs a
// bounded number of sockets and goroutines and never delays local names.
func (s *Server) forwardLimited(r *mdns.Msg, src netip.Addr, cl *client, udp bool) *mdns.Msg {
	if !s.forwards.acquire(src) {
		s.overLimit.Add(1)
		return reply(r, mdns.RcodeServerFailure)
	}
	defer s.forwards.release(src)
	return s.forward(r, cl, udp)
}

// local answers r from what the server knows, for a query that arrived on
// listener k from src. drop: send nothing (the source address belongs to
// a container of another network). A nil reply otherwise means the query
// goes to cl's upstreams.
func (s *Server) local(r *mdns.Msg, k listenKey, src netip.Addr) (*mdns.Msg, *client, bool) {
	cl, v := s.snap.Load().client(k, src)
	switch v {
	case mismatch:
		return nil, nil, true
	case stranger:
		// Not a container of ours: no names, and no open resolver.
		return reply(r, mdns.RcodeRefused), nil, false
	}
	if r.Opcode != mdns.OpcodeQuery || len(r.Question) != 1 {
		return reply(r, mdns.RcodeNotImplemented), cl, false
	}
	q := r.Question[0]
	if q.Qclass != mdns.ClassINET {
		return nil, cl, false
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
				return m, cl, false
			case inZone && len(cl.reverseNodes(addr)) > 0:
				// Maybe a container on another node: askNodes.
				return nil, cl, false
			case inZone:
				m := authoritative(r)
				m.Rcode = mdns.RcodeNameError
				return m, cl, false
			}
		}
		return nil, cl, false
	}
	if nodes, _ := cl.remote(name); len(nodes) > 0 {
		// Containers on other nodes answer to it too: askNodes merges
		// their addresses with the local ones.
		return nil, cl, false
	}
	addrs, ok := cl.lookup(name)
	if !ok {
		if cl.peer {
			// Another node asks only for our containers; nothing else is
			// ever forwarded for it.
			m := authoritative(r)
			m.Rcode = mdns.RcodeNameError
			return m, cl, false
		}
		return nil, cl, false
	}
	m := authoritative(r)
	m.Answer = s.addrAnswers(q.Name, q.Qtype, addrs)
	// Compression only pays for long answers; computing it costs more
	// than it saves on the usual one or two records.
	m.Compress = len(m.Answer) > 4
	// Other types of a container name, and AAAA of one without IPv6: no
	// data, but the name exists (NOERROR), and it is never asked upstream.
	return m, cl, false
}

// addrAnswers answers an A, AAAA or ANY question for qname with the
// addresses of the family asked (both for ANY): no record of the other
// family, so AAAA of a name without IPv6 is NOERROR with no data.
func (s *Server) addrAnswers(qname string, qtype uint16, addrs []netip.Addr) []mdns.RR {
	var out []mdns.RR
	if qtype == mdns.TypeA || qtype == mdns.TypeANY {
		out = s.roundRobin(out, qname, addrs, false)
	}
	if qtype == mdns.TypeAAAA || qtype == mdns.TypeANY {
		out = s.roundRobin(out, qname, addrs, true)
	}
	return out
}

// roundRobin appends an A (or, v6, AAAA) record of qname for each address
// of that family, every call starting one further along the list.
func (s *Server) roundRobin(rrs []mdns.RR, qname string, addrs []netip.Addr, v6 bool) []mdns.RR {
	fam := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		if a.Is6() == v6 {
			fam = append(fam, a)
		}
	}
	n := len(fam)
	start := 0
	if n > 1 {
		start = int(s.rr.Add(1) % uint64(n))
	}
	for i := range n {
		a := fam[(start+i)%n]
		if v6 {
			rrs = append(rrs, &mdns.AAAA{Hdr: header(qname, mdns.TypeAAAA), AAAA: a.AsSlice()})
		} else {
			rrs = append(rrs, &mdns.A{Hdr: header(qname, mdns.TypeA), A: a.AsSlice()})
		}
	}
	return rrs
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

// reverseAddr parses "4.3.2.1.in-addr.arpa" into 1.2.3.4, and the 32
// nibbles of an ip6.arpa name into an IPv6 address.
func reverseAddr(name string) (netip.Addr, bool) {
	if rest, ok := strings.CutSuffix(name, ".ip6.arpa"); ok {
		return reverseAddr6(rest)
	}
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

// reverseAddr6 parses the nibbles of an ip6.arpa name, least significant
// first: "2.0.0.0. ... .d.f" (32 single hex digits).
func reverseAddr6(nibbles string) (netip.Addr, bool) {
	if len(nibbles) != 63 {
		return netip.Addr{}, false
	}
	var b [16]byte
	for i := range 32 {
		c := nibbles[2*i]
		if i < 31 && nibbles[2*i+1] != '.' {
			return netip.Addr{}, false
		}
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		default:
			return netip.Addr{}, false
		}
		// Nibble i counts from the end of the address.
		pos := 31 - i
		if pos%2 == 0 {
			b[pos/2] |= v << 4
		} else {
			b[pos/2] |= v
		}
	}
	return netip.AddrFrom16(b), true
}
