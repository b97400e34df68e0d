package dns

import (
	"errors"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
)

// UDP is served by a loop of its own rather than miekg/dns's server, which
// starts a goroutine per packet: here a few readers (one per CPU) answer
// container names inline, with buffers they reuse, and only forwarded
// queries get a goroutine, which relays the client's bytes as they are
// (new id, same EDNS buffer size) and the upstream's answer likewise.
// That halves the work per query and keeps the latency tail short.

// udpListener serves one UDP socket.
type udpListener struct {
	key  listenKey
	conn *net.UDPConn
	wg   sync.WaitGroup // readers and forwarders
}

func (s *Server) serveUDP(k listenKey, conn *net.UDPConn) *udpListener {
	u := &udpListener{key: k, conn: conn}
	for range max(1, runtime.GOMAXPROCS(0)) {
		u.wg.Add(1)
		go func() {
			defer u.wg.Done()
			s.readUDP(u)
		}()
	}
	return u
}

// close stops the readers and waits (briefly) for forwarded queries to
// be answered.
func (u *udpListener) close() {
	_ = u.conn.SetReadDeadline(time.Unix(1, 0))
	done := make(chan struct{})
	go func() { u.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
	}
	u.conn.Close()
}

func (s *Server) readUDP(u *udpListener) {
	in := make([]byte, mdns.MaxMsgSize)
	out := make([]byte, 0, mdns.MaxMsgSize)
	for {
		n, from, err := u.conn.ReadFromUDPAddrPort(in)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		src := from.Addr().Unmap()
		p := s.packet(u.key, in[:n], src, out)
		if p.forward != nil {
			if !s.forwards.acquire(src) {
				s.overLimit.Add(1)
				p.answer = servfail(p.forward, out)
			} else {
				raw := append([]byte(nil), in[:n]...)
				u.wg.Add(1)
				go func() {
					defer u.wg.Done()
					defer s.forwards.release(src)
					s.forwardUDP(u.conn, from, raw, p.forward, p.client)
				}()
				continue
			}
		}
		if p.answer == nil {
			continue
		}
		if _, err := u.conn.WriteToUDPAddrPort(p.answer, from); err != nil {
			s.log.Debug().Err(err).Str("client", from.String()).Msg("write answer")
		}
	}
}

// packetResult is what the server does with one UDP packet: send answer,
// forward the query (to client's upstreams), or neither (drop).
type packetResult struct {
	answer  []byte
	forward *mdns.Msg
	client  *client
}

// packet handles one UDP packet that arrived on listener k from src,
// without touching a socket: everything a client controls goes through
// here (FuzzPacket feeds it garbage). Local names are answered inline, in
// out's storage.
func (s *Server) packet(k listenKey, pkt []byte, src netip.Addr, out []byte) packetResult {
	req := new(mdns.Msg)
	if err := req.Unpack(pkt); err != nil || req.Response || len(req.Question) == 0 {
		return packetResult{} // not a query we can parse: no answer, as miekg/dns does
	}
	resp, cl, drop := s.local(req, k, src)
	switch {
	case drop:
		s.log.Debug().Str("client", src.String()).Str("listen", k.String()).Msg("source address of another network: dropped")
		return packetResult{}
	case resp == nil:
		return packetResult{forward: req, client: cl}
	}
	resp.Truncate(udpSize(req))
	b, err := resp.PackBuffer(out)
	if err != nil {
		s.log.Debug().Err(err).Msg("pack answer")
		return packetResult{}
	}
	return packetResult{answer: b}
}

// servfail is the answer to a query the server will not forward.
func servfail(req *mdns.Msg, out []byte) []byte {
	b, err := reply(req, mdns.RcodeServerFailure).PackBuffer(out)
	if err != nil {
		return nil
	}
	return b
}

var relayBufs = sync.Pool{New: func() any { b := make([]byte, mdns.MaxMsgSize); return &b }}

// forwardUDP relays raw (the client's query) to cl's upstreams in order,
// within ForwardTimeout, and the first usable answer back; SERVFAIL when
// none answers. A truncated upstream answer is passed on with TC set: it
// was too large for the client's own buffer size, so the client retries
// over TCP.
func (s *Server) forwardUDP(conn *net.UDPConn, client netip.AddrPort, raw []byte, req *mdns.Msg, cl *client) {
	if m := s.askNodes(req, cl); m != nil {
		m.Truncate(udpSize(req))
		if b, err := m.Pack(); err == nil {
			if _, err := conn.WriteToUDPAddrPort(b, client); err != nil {
				s.log.Debug().Err(err).Str("client", client.String()).Msg("write answer")
			}
		}
		return
	}
	origID := [2]byte{raw[0], raw[1]}
	id := mdns.Id()
	raw[0], raw[1] = byte(id>>8), byte(id)
	bp := relayBufs.Get().(*[]byte)
	defer relayBufs.Put(bp)
	buf := *bp

	deadline := time.Now().Add(s.opts.ForwardTimeout)
	var answer, fallback []byte
	for i, up := range cl.upstreams {
		per := time.Until(deadline) / time.Duration(len(cl.upstreams)-i)
		if per <= 0 {
			break
		}
		n, err := exchangeUDP(up, raw, buf, time.Now().Add(per), id)
		if err != nil {
			s.log.Debug().Err(err).Str("upstream", up.String()).Str("name", req.Question[0].Name).Msg("forward")
			continue
		}
		rcode := buf[3] & 0x0f
		if (rcode == mdns.RcodeServerFailure || rcode == mdns.RcodeRefused) && i < len(cl.upstreams)-1 {
			fallback = append(fallback[:0], buf[:n]...)
			continue
		}
		answer = buf[:n]
		break
	}
	if answer == nil {
		answer = fallback
	}
	if answer == nil {
		b, err := reply(req, mdns.RcodeServerFailure).Pack()
		if err != nil {
			return
		}
		answer = b
	}
	answer[0], answer[1] = origID[0], origID[1]
	if _, err := conn.WriteToUDPAddrPort(answer, client); err != nil {
		s.log.Debug().Err(err).Str("client", client.String()).Msg("write forwarded answer")
	}
}

// exchangeUDP sends q to up from a fresh socket (a new source port per
// query, as a stub resolver does) and reads the answer with the given id.
func exchangeUDP(up netip.AddrPort, q, buf []byte, deadline time.Time, id uint16) (int, error) {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(up))
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if err := c.SetDeadline(deadline); err != nil {
		return 0, err
	}
	if _, err := c.Write(q); err != nil {
		return 0, err
	}
	for {
		n, err := c.Read(buf)
		if err != nil {
			return 0, err
		}
		if n >= 12 && uint16(buf[0])<<8|uint16(buf[1]) == id && buf[2]&0x80 != 0 {
			return n, nil
		}
	}
}
