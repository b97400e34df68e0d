package integration

import (
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/netctl/netctl/internal/sandbox"
)

// fakeDNS is an upstream resolver the test runs inside the sandbox host
// (never the machine's real resolver): ext.test has one address (answer),
// big.test sixty (too large for 512-byte UDP), everything else NXDOMAIN.
// A silent one reads queries and never answers (a dead upstream).
type fakeDNS struct {
	addr    string
	queries atomic.Int64
}

func startFakeDNS(t *testing.T, h *sandbox.Host, addr, answer string, silent bool) *fakeDNS {
	t.Helper()
	f := &fakeDNS{addr: addr}
	hostAddr := net.JoinHostPort(addr, "53")
	var pc net.PacketConn
	var ln net.Listener
	err := inNetns(h.NetnsPath(), func() error {
		var err error
		if pc, err = net.ListenPacket("udp4", hostAddr); err != nil {
			return err
		}
		ln, err = net.Listen("tcp4", hostAddr)
		return err
	})
	if err != nil {
		t.Fatalf("fake upstream %s: %v", addr, err)
	}
	if silent {
		go func() {
			buf := make([]byte, 4096)
			for {
				if _, _, err := pc.ReadFrom(buf); err != nil {
					return
				}
				f.queries.Add(1)
			}
		}()
		t.Cleanup(func() { pc.Close(); ln.Close() })
		return f
	}
	handler := mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		f.queries.Add(1)
		m := new(mdns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		hdr := mdns.RR_Header{Name: q.Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 60}
		switch strings.ToLower(q.Name) {
		case "ext.test.":
			m.Answer = append(m.Answer, &mdns.A{Hdr: hdr, A: net.ParseIP(answer)})
		case "big.test.":
			for i := range 60 {
				m.Answer = append(m.Answer, &mdns.A{Hdr: hdr, A: net.IPv4(192, 0, 2, byte(i+1))})
			}
		default:
			m.Rcode = mdns.RcodeNameError
		}
		if _, udp := w.LocalAddr().(*net.UDPAddr); udp {
			size := mdns.MinMsgSize
			if opt := r.IsEdns0(); opt != nil {
				size = int(opt.UDPSize())
			}
			m.Truncate(size)
		}
		_ = w.WriteMsg(m)
	})
	for _, srv := range []*mdns.Server{{PacketConn: pc, Handler: handler}, {Listener: ln, Handler: handler}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		select {
		case <-started:
		case <-time.After(5 * time.Second):
			t.Fatalf("fake upstream %s did not start", addr)
		}
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return f
}

// queryStream asks name over and over, alternating UDP and TCP, from
// sockets opened inside a container's namespace, and records failures.
type queryStream struct {
	stopc    chan struct{}
	done     chan struct{}
	sent     int
	failures []string
}

func startQueryStream(t *testing.T, containerNetns, server, name string) *queryStream {
	t.Helper()
	target := net.JoinHostPort(server, "53")
	var udp, tcp *mdns.Conn
	err := inNetns(containerNetns, func() error {
		var err error
		if udp, err = mdns.DialTimeout("udp", target, 5*time.Second); err != nil {
			return err
		}
		tcp, err = mdns.DialTimeout("tcp", target, 5*time.Second)
		return err
	})
	if err != nil {
		t.Fatalf("query stream: %v", err)
	}
	s := &queryStream{stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer udp.Close()
		defer tcp.Close()
		c := &mdns.Client{Timeout: 2 * time.Second}
		for i := 0; ; i++ {
			select {
			case <-s.stopc:
				return
			default:
			}
			conn, proto := udp, "udp"
			if i%2 == 1 {
				conn, proto = tcp, "tcp"
			}
			q := new(mdns.Msg)
			q.SetQuestion(name, mdns.TypeA)
			r, _, err := c.ExchangeWithConn(q, conn)
			s.sent++
			switch {
			case err != nil:
				s.failures = append(s.failures, fmt.Sprintf("%s #%d at %s: %v", proto, i, time.Now().Format("15:04:05.000"), err))
			case r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 1:
				s.failures = append(s.failures, fmt.Sprintf("%s #%d: %s %v", proto, i, mdns.RcodeToString[r.Rcode], r.Answer))
			}
			if proto == "tcp" && err != nil {
				// The server closes idle TCP connections; a new one
				// would have to be opened inside the namespace again.
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return s
}

// stop ends the stream and returns how many queries were sent and which failed.
func (s *queryStream) stop() (int, []string) {
	close(s.stopc)
	<-s.done
	return s.sent, s.failures
}
