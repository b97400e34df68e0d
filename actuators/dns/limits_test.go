package dns

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// openFDs counts this process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// A container flooding outside names at an upstream that never answers
// (issue 10, item 4) holds a bounded number of sockets, and every other
// container's local names keep resolving at once meanwhile.
func TestForwardFloodIsBounded(t *testing.T) {
	hole, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	s := startServer(t, testConfig(mustAddrPort(hole.LocalAddr().String())), 3*time.Second)
	base := openFDs(t)

	// The flood: x sends 3000 queries for outside names from one socket,
	// without waiting for answers.
	flood, err := net.DialUDP("udp4", &net.UDPAddr{IP: net.ParseIP("127.1.0.2")}, net.UDPAddrFromAddrPort(mustAddrPort(s.addr)))
	if err != nil {
		t.Fatal(err)
	}
	defer flood.Close()
	for i := range 3000 {
		m := new(mdns.Msg)
		m.SetQuestion(fmt.Sprintf("n%d.outside.test.", i), mdns.TypeA)
		b, _ := m.Pack()
		if _, err := flood.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(200 * time.Millisecond)
	n := openFDs(t) - base
	if n > 200 {
		t.Errorf("%d descriptors opened by one client's flood, want a bounded number (<= 200)", n)
	}
	t.Logf("3000 queries for outside names at a silent upstream: %d descriptors held", n)
	// Meanwhile z's local names answer at once, over UDP and TCP.
	for _, netw := range []string{"udp", "tcp"} {
		start := time.Now()
		m, err := tryQuery(s.addr, netw, "127.2.0.4", "y", mdns.TypeA)
		if err != nil || len(answers(m)) != 1 {
			t.Fatalf("local name during the flood (%s): %v %v", netw, err, m)
		}
		took := time.Since(start)
		if took > 500*time.Millisecond {
			t.Errorf("local name during the flood took %s (%s)", took, netw)
		}
		t.Logf("a local name during the flood over %s: %s", netw, took)
	}
	if st := s.Status(); st.OverLimit == 0 || st.Forwards > s.opts.Limits.ForwardsPerClient {
		t.Errorf("status: %d forwards in flight, %d over the limit; want at most %d in flight and some refused",
			st.Forwards, st.OverLimit, s.opts.Limits.ForwardsPerClient)
	}
}

// One client cannot hold more than its share of TCP connections.
func TestTCPConnectionsAreBounded(t *testing.T) {
	s := startServer(t, testConfig(), time.Second)
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.1.0.2")}, Timeout: time.Second}
	for range 100 {
		c, err := d.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	// Connections over the limit are closed by the server at once: a
	// read sees EOF rather than a timeout.
	var wg sync.WaitGroup
	var mu sync.Mutex
	open := 0
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			_, err := c.Read(make([]byte, 1))
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				mu.Lock()
				open++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if max := s.opts.Limits.TCPConnsPerClient; open > max {
		t.Errorf("%d TCP connections from one client kept open, want at most %d", open, max)
	}
	// Another client still gets in.
	if m, err := tryQuery(s.addr, "tcp", "127.2.0.4", "y", mdns.TypeA); err != nil || len(answers(m)) != 1 {
		t.Errorf("another client over TCP: %v %v", err, m)
	}
}

// Scope comes from the bridge a query arrived on together with its
// source (issue 10, item 5). Network b listens apart from a and c. A
// container on a's bridge sending from y's address on b (which sees z)
// gets nothing on a's listener, and x's address (network a) gets nothing
// on b's: a source address of another network is dropped, UDP and TCP.
func TestSourceOfAnotherNetworkIsDropped(t *testing.T) {
	port := freePort(t)
	s := New(Options{Port: port})
	defer s.Close()
	cfg := testConfig()
	cfg.Projects[0].DNS.Networks[1].Gateway = ip("127.0.0.2")
	s.Reload(cfg)
	onA, onB := fmt.Sprintf("127.0.0.1:%d", port), fmt.Sprintf("127.0.0.2:%d", port)
	// y's own addresses on their own listeners: answered.
	if m, err := tryQuery(onB, "udp", "127.2.0.3", "z", mdns.TypeA); err != nil || len(answers(m)) != 1 {
		t.Fatalf("y on b: %v %v", err, m)
	}
	if m, err := tryQuery(onA, "tcp", "127.1.0.3", "z", mdns.TypeA); err != nil || len(answers(m)) != 1 {
		t.Fatalf("y on a: %v %v", err, m)
	}
	for _, c := range []struct{ server, src, name string }{
		{onA, "127.2.0.3", "z."},                      // y's b address on a's bridge
		{onA, "127.2.0.3", "4.0.2.127.in-addr.arpa."}, // and its PTR view
		{onB, "127.1.0.2", "y."},                      // x's a address on b's bridge
	} {
		for _, netw := range []string{"udp", "tcp"} {
			d := &net.Dialer{Timeout: 400 * time.Millisecond, LocalAddr: &net.UDPAddr{IP: net.ParseIP(c.src)}}
			if netw == "tcp" {
				d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(c.src)}
			}
			cl := &mdns.Client{Net: netw, Timeout: 400 * time.Millisecond, Dialer: d}
			q := new(mdns.Msg)
			qt := mdns.TypeA
			if len(c.name) > 10 {
				qt = mdns.TypePTR
			}
			q.SetQuestion(c.name, qt)
			if m, _, err := cl.Exchange(q, c.server); err == nil {
				t.Errorf("%s %s from %s on %s: %s %v, want no answer",
					netw, c.name, c.src, c.server, mdns.RcodeToString[m.Rcode], answers(m))
			}
		}
	}
	// A stranger is still told REFUSED.
	if m, err := tryQuery(onB, "udp", "127.9.9.9", "z", mdns.TypeA); err != nil || m.Rcode != mdns.RcodeRefused {
		t.Errorf("stranger: %v %v, want REFUSED", err, m)
	}
}

func TestLimitsFor(t *testing.T) {
	for _, c := range []struct {
		nofile uint64
		fwd    int
		tcp    int
	}{
		{1024, 384, 192},
		{1 << 20, 1024, 256},
		{100, 32, 16},
	} {
		l := LimitsFor(c.nofile)
		if l.Forwards != c.fwd || l.TCPConns != c.tcp || l.ForwardsPerClient < 1 || l.TCPConnsPerClient < 1 {
			t.Errorf("LimitsFor(%d) = %+v, want %d forwards, %d connections", c.nofile, l, c.fwd, c.tcp)
		}
		if used := uint64(l.Forwards + l.TCPConns + reservedFDs); c.nofile > reservedFDs && used > c.nofile {
			t.Errorf("LimitsFor(%d) may use %d descriptors", c.nofile, used)
		}
	}
}

func mustAddrPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
