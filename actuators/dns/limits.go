package dns

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
)

// Limits bound what clients can make the server hold: one container
// flooding names an upstream never answers must not exhaust the file
// descriptors (each forward holds a socket) and take everybody's names
// down with it. Over a limit, a forward gets SERVFAIL at once and a TCP
// connection is closed at once; local names never wait for any of it.
type Limits struct {
	Forwards          int           // forwarded queries in flight, in total
	ForwardsPerClient int           // ... from one source address
	TCPConns          int           // open TCP connections, in total
	TCPConnsPerClient int           // ... from one source address
	TCPIdle           time.Duration // a TCP connection idle this long is closed
}

// Reserved descriptors: listeners (two per network), the control socket,
// the log, the lock, and what the Go runtime keeps.
const reservedFDs = 256

// LimitsFor sizes the limits to a descriptor limit (RLIMIT_NOFILE): at
// most half the rest for forwards and a quarter for TCP connections,
// capped where more would only serve a flood.
func LimitsFor(nofile uint64) Limits {
	budget := 64
	if nofile > reservedFDs+64 {
		budget = int(min(nofile-reservedFDs, 1<<20))
	}
	l := Limits{
		Forwards: min(1024, budget/2),
		TCPConns: min(256, budget/4),
		TCPIdle:  5 * time.Second,
	}
	l.ForwardsPerClient = max(1, min(64, l.Forwards/4))
	l.TCPConnsPerClient = max(1, min(16, l.TCPConns/4))
	return l
}

// orDefaults fills l's zero fields from d.
func (l Limits) orDefaults(d Limits) Limits {
	pick := func(v, dv int) int {
		if v > 0 {
			return v
		}
		return dv
	}
	l.Forwards = pick(l.Forwards, d.Forwards)
	l.ForwardsPerClient = pick(l.ForwardsPerClient, d.ForwardsPerClient)
	l.TCPConns = pick(l.TCPConns, d.TCPConns)
	l.TCPConnsPerClient = pick(l.TCPConnsPerClient, d.TCPConnsPerClient)
	if l.TCPIdle <= 0 {
		l.TCPIdle = d.TCPIdle
	}
	return l
}

// RaiseNofile raises the soft descriptor limit to the hard one and
// returns the limit in force. Go's runtime does the same at start; doing
// it here again documents that the limits are sized to it.
func RaiseNofile() uint64 {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 1024
	}
	if rl.Cur < rl.Max {
		raised := unix.Rlimit{Cur: rl.Max, Max: rl.Max}
		if unix.Setrlimit(unix.RLIMIT_NOFILE, &raised) == nil {
			rl = raised
		}
	}
	return rl.Cur
}

// gate counts what is in flight, in total and per source address.
type gate struct {
	total, perClient int

	mu       sync.Mutex
	inFlight int
	by       map[netip.Addr]int
}

func newGate(total, perClient int) *gate {
	return &gate{total: total, perClient: perClient, by: map[netip.Addr]int{}}
}

// acquire takes a slot for src; false when src or everybody is at the
// limit.
func (g *gate) acquire(src netip.Addr) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.inFlight >= g.total || g.by[src] >= g.perClient {
		return false
	}
	g.inFlight++
	g.by[src]++
	return true
}

func (g *gate) release(src netip.Addr) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inFlight--
	if g.by[src]--; g.by[src] <= 0 {
		delete(g.by, src)
	}
}

func (g *gate) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.inFlight
}

// limitedListener accepts TCP connections within a gate, and waits rather
// than fails when the process is out of descriptors: a listener that
// returned that error would stop serving for good.
type limitedListener struct {
	net.Listener
	conns *gate
	log   zerolog.Logger
}

func (l *limitedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if outOfResources(err) {
				l.log.Warn().Err(err).Msg("accept: out of resources; waiting for connections to close")
				time.Sleep(50 * time.Millisecond)
				continue
			}
			return nil, err
		}
		src := sourceAddr(c.RemoteAddr())
		if !l.conns.acquire(src) {
			c.Close()
			continue
		}
		return &limitedConn{Conn: c, release: sync.OnceFunc(func() { l.conns.release(src) })}, nil
	}
}

// outOfResources reports errors a server outlives by waiting: no
// descriptor or no memory for one more socket.
func outOfResources(err error) bool {
	return errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE) ||
		errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.ENOMEM)
}

type limitedConn struct {
	net.Conn
	release func()
}

func (c *limitedConn) Close() error {
	defer c.release()
	return c.Conn.Close()
}
