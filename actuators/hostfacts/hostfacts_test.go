package hostfacts

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/vishvananda/netns"

	"github.com/netctl/netctl/internal/sandbox"
	"github.com/netctl/netctl/model"
)

// inNetns runs fn on a thread inside the namespace at path, as netctl runs
// inside its host namespace. Sockets fn opens stay in that namespace.
func inNetns(t *testing.T, path string, fn func() error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			return // the thread stays locked and dies with the goroutine
		}
		defer orig.Close()
		target, err := netns.GetFromPath(path)
		if err != nil {
			errc <- err
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			errc <- err
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			errc <- fmt.Errorf("return to the original namespace: %w", err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// What a program of the host binds is seen, over inet_diag: TCP listeners
// (v4 and v6), UDP sockets; a TCP connection's own port is not a bound
// port. The ephemeral range is the namespace's own.
func TestPortsOfASandboxHost(t *testing.T) {
	h := sandbox.New(t)
	host, err := netns.GetFromPath(h.NetnsPath())
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()

	var closers []interface{ Close() error }
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	var clientPort int
	inNetns(t, h.NetnsPath(), func() error {
		if err := os.WriteFile("/proc/sys/net/ipv4/ip_local_port_range", []byte("40000 40100"), 0); err != nil {
			return err
		}
		ln4, err := net.Listen("tcp4", "127.0.0.1:7001")
		if err != nil {
			return err
		}
		closers = append(closers, ln4)
		ln6, err := net.Listen("tcp6", "[::1]:7002")
		if err != nil {
			return err
		}
		closers = append(closers, ln6)
		udp, err := net.ListenPacket("udp4", "0.0.0.0:7003")
		if err != nil {
			return err
		}
		closers = append(closers, udp)
		conn, err := net.Dial("tcp4", "127.0.0.1:7001")
		if err != nil {
			return err
		}
		closers = append(closers, conn)
		_, port, _ := net.SplitHostPort(conn.LocalAddr().String())
		clientPort, _ = strconv.Atoi(port)
		return nil
	})

	var got model.HostPorts
	inNetns(t, h.NetnsPath(), func() (err error) {
		got, err = New(host).Ports(context.Background())
		return err
	})
	for _, want := range []model.PortProto{{Port: 7001, Proto: "tcp"}, {Port: 7002, Proto: "tcp"}, {Port: 7003, Proto: "udp"}} {
		if !got.Bound[want] {
			t.Errorf("bound ports lack %v: %v", want, got.Bound)
		}
	}
	if got.Bound[model.PortProto{Port: uint16(clientPort), Proto: "tcp"}] {
		t.Errorf("a connection's local port %d counted as bound: %v", clientPort, got.Bound)
	}
	if len(got.Bound) != 3 {
		t.Errorf("bound = %v, want exactly the three sockets", got.Bound)
	}
	// The addresses they are bound to, for the check of fixed mappings.
	for pp, want := range map[model.PortProto]string{
		{Port: 7001, Proto: "tcp"}: "[127.0.0.1]", {Port: 7002, Proto: "tcp"}: "[::1]", {Port: 7003, Proto: "udp"}: "[0.0.0.0]",
	} {
		if got := fmt.Sprint(got.Listening[pp]); got != want {
			t.Errorf("%v listens on %s, want %s", pp, got, want)
		}
	}
	if got.EphemeralLow != 40000 || got.EphemeralHigh != 40100 {
		t.Errorf("ephemeral range %d-%d, want 40000-40100", got.EphemeralLow, got.EphemeralHigh)
	}
}

func TestSCTPEndpointsAndRange(t *testing.T) {
	dir := t.TempDir()
	eps := filepath.Join(dir, "eps")
	body := " ENDPT     SOCK   STY SST HBKT LPORT   UID INODE LADDRS\n ffff 0 2 10 5 9000 0 1 10.0.0.1\n short line\n"
	if err := os.WriteFile(eps, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	got := map[model.PortProto]bool{}
	if err := readSCTPEndpoints(eps, got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !got[model.PortProto{Port: 9000, Proto: "sctp"}] {
		t.Errorf("sctp endpoints = %v", got)
	}
	if err := readSCTPEndpoints(filepath.Join(dir, "absent"), got); err != nil {
		t.Errorf("no sctp module: %v", err)
	}

	for text, ok := range map[string]bool{"32768\t60999\n": true, "1 2 3": false, "0 10": false, "10 5": false} {
		p := filepath.Join(dir, "net", "ipv4", "ip_local_port_range")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		lo, hi, err := ephemeralRange(dir)
		if (err == nil) != ok || (ok && (lo != 32768 || hi != 60999)) {
			t.Errorf("ephemeralRange(%q) = %d, %d, %v", text, lo, hi, err)
		}
	}
}
