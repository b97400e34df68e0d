// Package dns is netctl's embedded DNS server and its actuator.
//
// The server follows aardvark-dns's layout: it runs in the host's network
// namespace and listens on the gateway address of every user-defined
// network (UDP and TCP port 53, each socket bound to its bridge so nothing
// arriving on another interface reaches it). A query's source address says
// which container asks, hence which networks' names it may see: names of
// the networks it is on, its own link aliases, nothing else. Every other
// name goes to the container's upstreams.
//
// A Server can be embedded (watch) or run as netctl's background daemon
// (Serve), which the Manager starts and reloads for one-shot applies.
package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/model"
)

// Defaults.
const (
	DefaultPort = 53
	// DefaultForwardTimeout bounds a forwarded query, all upstreams
	// together: a client gets SERVFAIL within it, well before glibc's
	// 5 s retry, instead of hanging on a dead upstream.
	DefaultForwardTimeout = 2 * time.Second
)

// Options tune a Server.
type Options struct {
	// Port to listen on (DefaultPort when 0).
	Port int
	// ForwardTimeout bounds a forwarded query (DefaultForwardTimeout when 0).
	ForwardTimeout time.Duration
	// Limits bound forwards and TCP connections (zero: sized to the
	// process's descriptor limit by LimitsFor).
	Limits Limits
	Log    zerolog.Logger
}

// Config is what a server serves: every project's configuration, each with
// a hash of its source so a client can tell which version is live.
type Config struct {
	Projects []Project
}

// Project is one project's configuration.
type Project struct {
	DNS  *model.DNS
	Hash string
	// Problem is set when the project's file could not be loaded; the
	// project then serves nothing.
	Problem string
}

// Status says what a server serves.
type Status struct {
	Pid      int                      `json:"pid"`
	Projects map[string]ProjectStatus `json:"projects"`
	// Forwards is how many forwarded queries are in flight; OverLimit how
	// many queries got SERVFAIL because a forward limit was reached.
	Forwards  int    `json:"forwards"`
	OverLimit uint64 `json:"over_limit"`
}

// ProjectStatus is one project's share of a Status.
type ProjectStatus struct {
	Hash string `json:"hash"`
	// Problems are why some of its names are not served (a listener that
	// could not be bound, a stale bridge, a bad file).
	Problems []string `json:"problems,omitempty"`
}

// Server answers DNS queries from containers.
type Server struct {
	opts Options
	log  zerolog.Logger

	// snap is the configuration queries are answered from; a reload
	// swaps it atomically, so a query in flight finishes on the one it
	// started with and none is dropped.
	snap atomic.Pointer[snapshot]
	rr   atomic.Uint64 // round-robin rotation

	forwards  *gate // forwarded queries in flight
	tcpConns  *gate // open TCP connections
	overLimit atomic.Uint64

	ctx    context.Context // lifetime of forwarded queries
	cancel context.CancelFunc

	mu        sync.Mutex // serializes Reload, Status and Close
	listeners map[listenKey]*listener
	cfg       Config
	owner     map[listenKey]string // listener -> project
	failed    map[listenKey]string // listener -> why it could not be bound
	closed    bool
}

// New returns a server serving nothing until Reload.
func New(opts Options) *Server {
	if opts.Port == 0 {
		opts.Port = DefaultPort
	}
	if opts.ForwardTimeout == 0 {
		opts.ForwardTimeout = DefaultForwardTimeout
	}
	var rl unix.Rlimit
	nofile := uint64(1024)
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &rl) == nil {
		nofile = rl.Cur
	}
	opts.Limits = opts.Limits.orDefaults(LimitsFor(nofile))
	lim := opts.Limits
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{opts: opts, log: opts.Log, ctx: ctx, cancel: cancel, listeners: map[listenKey]*listener{},
		forwards: newGate(lim.Forwards, lim.ForwardsPerClient), tcpConns: newGate(lim.TCPConns, lim.TCPConnsPerClient)}
	s.snap.Store(emptySnapshot())
	return s
}

// Run serves until ctx is done, then closes every listener.
func (s *Server) Run(ctx context.Context) error {
	<-ctx.Done()
	s.Close()
	return nil
}

// Close stops the listeners; queries in flight get a short grace.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	for k, l := range s.listeners {
		l.close()
		delete(s.listeners, k)
	}
	s.cancel()
}

// Reload makes cfg live and returns once it is: the new names are
// answered and every wanted listener is bound. Listeners still wanted are
// kept as they are (never closed and reopened: aardvark-dns#389 dropped
// queries that way); those no longer wanted are closed last.
func (s *Server) Reload(cfg Config) Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return s.statusLocked()
	}
	snap, wanted := build(cfg, s.opts.Port, s.log)
	// New names first: a query on a listener that stays sees them at once.
	s.snap.Store(snap)
	s.cfg = cfg
	s.owner = wanted
	s.failed = map[listenKey]string{}
	for _, k := range sortedKeys(wanted) {
		if l := s.listeners[k]; l != nil {
			if l.current() {
				continue
			}
			s.log.Info().Str("listen", k.String()).Msg("bridge replaced: binding again")
			l.close()
			delete(s.listeners, k)
		}
		l, err := s.open(k)
		if err != nil {
			s.failed[k] = err.Error()
			s.log.Error().Err(err).Str("listen", k.String()).Msg("listener")
			continue
		}
		s.listeners[k] = l
		s.log.Info().Str("listen", k.String()).Msg("listening")
	}
	for k, l := range s.listeners {
		if _, ok := wanted[k]; !ok {
			l.close()
			delete(s.listeners, k)
			s.log.Info().Str("listen", k.String()).Msg("stopped listening")
		}
	}
	return s.statusLocked()
}

// Status reports what is served, checking that every listener's bridge is
// still the one it was bound to.
func (s *Server) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.statusLocked()
}

func (s *Server) statusLocked() Status {
	st := Status{Pid: unix.Getpid(), Projects: map[string]ProjectStatus{},
		Forwards: s.forwards.count(), OverLimit: s.overLimit.Load()}
	for _, p := range s.cfg.Projects {
		if p.DNS == nil {
			continue
		}
		ps := ProjectStatus{Hash: p.Hash}
		if p.Problem != "" {
			ps.Problems = append(ps.Problems, p.Problem)
		}
		st.Projects[p.DNS.Project] = ps
	}
	for _, k := range sortedKeys(s.owner) {
		project := s.owner[k]
		ps := st.Projects[project]
		switch l := s.listeners[k]; {
		case s.failed[k] != "":
			ps.Problems = append(ps.Problems, s.failed[k])
		case l == nil:
			ps.Problems = append(ps.Problems, "not listening on "+k.String())
		case !l.current():
			ps.Problems = append(ps.Problems, "listener on "+k.String()+" is bound to a bridge that was replaced")
		}
		st.Projects[project] = ps
	}
	return st
}

// listenKey is one listening address: a gateway on its bridge.
type listenKey struct {
	addr netip.Addr
	dev  string // "" binds no device (tests on loopback)
}

func (k listenKey) String() string {
	if k.dev == "" {
		return k.addr.String()
	}
	return k.addr.String() + "%" + k.dev
}

func sortedKeys[V any](m map[listenKey]V) []listenKey {
	keys := make([]listenKey, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].addr != keys[j].addr {
			return keys[i].addr.Less(keys[j].addr)
		}
		return keys[i].dev < keys[j].dev
	})
	return keys
}

// listener is a UDP and a TCP socket on one address: UDP served by our
// own loop (udp.go), TCP by miekg/dns.
type listener struct {
	key     listenKey
	ifindex int
	udp     *udpListener
	servers []*mdns.Server
}

// current reports whether the bridge the sockets are bound to is still
// there under the same index (a recreated bridge gets a new one, and a
// socket bound to the old index would never see a packet again).
func (l *listener) current() bool {
	if l.key.dev == "" {
		return true
	}
	index, err := ifindexByName(l.key.dev)
	if err != nil && !errors.Is(err, unix.ENODEV) {
		// A failed lookup is no proof of a new bridge; rebinding would
		// drop the queries queued on this socket.
		return true
	}
	return err == nil && index == l.ifindex
}

// ifindexByName asks the kernel for one interface's index (SIOCGIFINDEX).
// net.InterfaceByName dumps every link instead, and a dump taken while
// apply is adding veths can come back without the bridge, which would look
// like a replaced bridge.
func ifindexByName(name string) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 0, err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr); err != nil {
		return 0, err
	}
	return int(ifr.Uint32()), nil
}

func (l *listener) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, srv := range l.servers {
		_ = srv.ShutdownContext(ctx)
	}
	if l.udp != nil {
		l.udp.close()
	}
}

// open binds the address (UDP and TCP) and starts serving it. Each socket
// is bound to the bridge (SO_BINDTODEVICE), so the server never answers
// on the host's other interfaces even though the gateway address is a
// host address; IP_FREEBIND lets it bind while the address is being
// (re)added.
func (s *Server) open(k listenKey) (*listener, error) {
	l := &listener{key: k}
	if k.dev != "" {
		index, err := ifindexByName(k.dev)
		if err != nil {
			return nil, fmt.Errorf("listen on %s: bridge %s: %w", k.addr, k.dev, err)
		}
		l.ifindex = index
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if k.dev != "" {
				serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, k.dev)
			}
			if serr == nil {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_FREEBIND, 1)
			}
		})
		return errors.Join(err, serr)
	}}
	addr := netip.AddrPortFrom(k.addr, uint16(s.opts.Port)).String()
	pc, err := lc.ListenPacket(s.ctx, "udp4", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", k, err)
	}
	ln, err := lc.Listen(s.ctx, "tcp4", addr)
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("listen on %s: %w", k, err)
	}
	// MaxTCPQueries -1: a client may keep its connection for as many
	// queries as it likes (idle ones still close after TCPIdle, and each
	// client has few connections).
	idle := s.opts.Limits.TCPIdle
	tcp := &mdns.Server{
		Listener: &limitedListener{Listener: ln, conns: s.tcpConns, log: s.log},
		Handler:  scoped{s: s, key: k}, MaxTCPQueries: -1,
		ReadTimeout: idle, IdleTimeout: func() time.Duration { return idle },
	}
	if err := start(tcp); err != nil {
		pc.Close()
		ln.Close()
		return nil, fmt.Errorf("serve on %s: %w", k, err)
	}
	l.servers = append(l.servers, tcp)
	l.udp = s.serveUDP(k, pc.(*net.UDPConn))
	return l, nil
}

// start runs srv and returns once it is started, so that a Shutdown that
// follows never finds it "not started".
func start(srv *mdns.Server) error {
	started := make(chan struct{})
	failed := make(chan error, 1)
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { failed <- srv.ActivateAndServe() }()
	select {
	case <-started:
		return nil
	case err := <-failed:
		if err == nil {
			err = errors.New("server stopped at once")
		}
		return err
	}
}
