package integration

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// Echo servers and clients for the port tests, in-process: a socket opened
// on a thread that has entered a network namespace stays in that namespace
// after the thread returns, so no helper program (or process to end) is
// needed and every exchange carries its own timeout.

// inNetns runs fn on a fresh OS thread that has entered the network
// namespace at path. Should the thread fail to return to the test's
// namespace, it stays locked and dies with its goroutine.
func inNetns(path string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		target, err := netns.GetFromPath(path)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns %s: %w", path, err)
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter %s: %w", path, err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("return from %s: %w", path, err))
			return // the thread stays locked and goes away with this goroutine
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// serve runs an echo server in the namespace at path on port/proto
// ("tcp" or "udp"; "tcp6" or "udp6" for IPv6), answering "<tag> <what it
// got>". It stops at the end of
// the test. The remote address of every request is recorded in peers.
type server struct {
	mu    sync.Mutex
	peers []string
}

func (s *server) record(addr net.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.peers = append(s.peers, addr.String())
}

// Peers returns the source addresses the server saw.
func (s *server) Peers() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.peers...)
}

func serve(t *testing.T, path, proto string, port int, tag string) *server {
	t.Helper()
	s := &server{}
	addr := fmt.Sprintf(":%d", port)
	switch strings.TrimSuffix(proto, "6") {
	case "tcp":
		var ln net.Listener
		if err := inNetns(path, func() (err error) { ln, err = net.Listen(sockNet(proto), addr); return err }); err != nil {
			t.Fatalf("serve tcp%s in %s: %v", addr, path, err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				s.record(c.RemoteAddr())
				go func() {
					defer c.Close()
					_ = c.SetDeadline(time.Now().Add(5 * time.Second))
					line, _ := bufio.NewReader(c).ReadString('\n')
					fmt.Fprintf(c, "%s %s", tag, line)
				}()
			}
		}()
	case "udp":
		var pc net.PacketConn
		if err := inNetns(path, func() (err error) { pc, err = net.ListenPacket(sockNet(proto), addr); return err }); err != nil {
			t.Fatalf("serve udp%s in %s: %v", addr, path, err)
		}
		t.Cleanup(func() { pc.Close() })
		go func() {
			buf := make([]byte, 1500)
			for {
				n, from, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				s.record(from)
				_, _ = pc.WriteTo([]byte(tag+" "+string(buf[:n])), from)
			}
		}()
	default:
		t.Fatalf("serve: protocol %q", proto)
	}
	return s
}

// request sends one line from the namespace at path to addr and returns the
// answer, or an error when none came within the timeout.
func request(path, proto, addr string, timeout time.Duration) (string, error) {
	var conn net.Conn
	err := inNetns(path, func() (err error) {
		conn, err = net.DialTimeout(sockNet(proto), addr, timeout)
		return err
	})
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(conn, "ping\n"); err != nil {
		return "", err
	}
	if strings.HasPrefix(proto, "udp") {
		buf := make([]byte, 1500)
		n, err := conn.Read(buf)
		if err != nil {
			return "", err
		}
		return strings.TrimSpace(string(buf[:n])), nil
	}
	b, err := io.ReadAll(conn)
	if err != nil && len(b) == 0 {
		return "", err
	}
	if len(b) == 0 {
		return "", errors.New("connection closed without an answer")
	}
	return strings.TrimSpace(string(b)), nil
}

// sockNet is the Go network of a protocol: one family only, IPv4 unless
// the protocol says "6".
func sockNet(proto string) string {
	if strings.HasSuffix(proto, "6") {
		return proto
	}
	return proto + "4"
}

// expectServed fails t unless a request from path to addr is answered by
// the server tagged tag.
func expectServed(t *testing.T, what, path, proto, addr, tag string) {
	t.Helper()
	got, err := request(path, proto, addr, 3*time.Second)
	if err != nil || !strings.HasPrefix(got, tag+" ") {
		t.Errorf("%s: %s %s: got %q, %v; want an answer from %s", what, proto, addr, got, err, tag)
	}
}

// expectBlocked fails t if a request from path to addr is answered.
func expectBlocked(t *testing.T, what, path, proto, addr string) {
	t.Helper()
	if got, err := request(path, proto, addr, time.Second); err == nil {
		t.Errorf("%s: %s %s answered %q; want no answer", what, proto, addr, got)
	}
}
