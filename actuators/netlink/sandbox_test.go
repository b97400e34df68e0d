package netlink

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	vnl "github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/model"
)

// requireRoot fails (or, with NETCTL_ALLOW_SKIP=1, skips) a test that needs
// to create namespaces: CI runs as root, and a silently skipped integration
// suite is worse than a red one.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("NETCTL_ALLOW_SKIP") == "1" {
		t.Skip("needs root; skipped because NETCTL_ALLOW_SKIP=1")
	}
	t.Fatal("this test creates network namespaces and must run as root (set NETCTL_ALLOW_SKIP=1 to skip it)")
}

// sandbox is a throwaway "host" network namespace plus a Links rooted in a
// temp dir. Everything the test creates lives in namespaces mounted under
// dir, so detaching those mounts at cleanup destroys all of it; the
// machine's own namespace is never touched.
type sandbox struct {
	t        testing.TB
	dir      string
	root     string
	hostPath string
	host     *vnl.Handle // the test's own handle on the sandbox host
	links    *Links
}

func newSandbox(t testing.TB) *sandbox {
	return newSandboxLog(t, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.DebugLevel))
}

func newSandboxLog(t testing.TB, log zerolog.Logger) *sandbox {
	t.Helper()
	requireRoot(t)
	dir := t.TempDir()
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	// Registered after TempDir's removal, so it runs before it.
	t.Cleanup(func() { detachMountsUnder(t, dir) })
	s := &sandbox{t: t, dir: dir, root: filepath.Join(dir, "root"), hostPath: filepath.Join(dir, "host")}
	s.newNetns(s.hostPath)

	ns, _, err := openNetns(s.hostPath, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	if s.host, err = vnl.NewHandleAt(ns, unix.NETLINK_ROUTE); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.host.Close)
	if s.links, err = New(s.root, ns, log); err != nil {
		t.Fatal(err)
	}
	// The tests' marks are the default instance's (/run/netctl), whatever
	// temporary root they use; TestInstancesIgnoreEachOther covers others.
	s.links.inst = ""
	t.Cleanup(func() { s.links.Close() })
	return s
}

// newNetns mounts a fresh network namespace at path.
func (s *sandbox) newNetns(path string) {
	s.t.Helper()
	if err := createMountPoint(path); err != nil {
		s.t.Fatal(err)
	}
	// A plain new namespace, lo down, as `ip netns add` leaves it: the
	// thread that made it is never unlocked, so the runtime ends it.
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		errc <- unix.Mount(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()), path, "none", unix.MS_BIND, "")
	}()
	if err := <-errc; err != nil {
		s.t.Fatal(err)
	}
}

// detachMountsUnder lazily unmounts every mount below dir, innermost first.
func detachMountsUnder(t testing.TB, dir string) {
	for range 8 {
		points := mountsUnder(t, dir)
		if len(points) == 0 {
			return
		}
		slices.SortFunc(points, func(a, b string) int { return len(b) - len(a) })
		for _, p := range points {
			if err := unix.Unmount(p, unix.MNT_DETACH); err != nil {
				t.Logf("cleanup: unmount %s: %v", p, err)
			}
		}
	}
	t.Errorf("cleanup: mounts left under %s: %v", dir, mountsUnder(t, dir))
}

func mountsUnder(t testing.TB, dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		p := unescapeMountinfo(fields[4])
		if strings.HasPrefix(p, dir+"/") {
			out = append(out, p)
		}
	}
	return out
}

// unescapeMountinfo undoes the octal escapes (\040 for a space) of
// /proc/self/mountinfo.
func unescapeMountinfo(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			ok := true
			for _, c := range s[i+1 : i+4] {
				if c < '0' || c > '7' {
					ok = false
					break
				}
				v = v*8 + byte(c-'0')
			}
			if ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// in runs a command in the network namespace at nsPath, with a timeout.
func (s *sandbox) in(nsPath string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"--net=" + nsPath, "--"}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// mustIn is in, failing the test on error.
func (s *sandbox) mustIn(nsPath string, args ...string) string {
	s.t.Helper()
	out, err := s.in(nsPath, args...)
	if err != nil {
		s.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// ping checks that from can reach ip.
func (s *sandbox) ping(from, ip string) {
	s.t.Helper()
	var out string
	var err error
	// The first packet may wait on ARP and on the bridge port leaving the
	// "learning" state (instant with STP off, but give it a few tries);
	// over IPv6 on the bridge's address too, tentative until the kernel
	// has seen the bridge's carrier (linkwatch may run a second late, more
	// on a loaded machine).
	for range 5 {
		if out, err = s.in(from, "ping", "-c1", "-W1", ip); err == nil {
			return
		}
	}
	s.t.Fatalf("ping %s from %s: %v\n%s", ip, from, err, out)
}

func (s *sandbox) noPing(from, ip string) {
	s.t.Helper()
	if out, err := s.in(from, "ping", "-c1", "-W1", ip); err == nil {
		s.t.Fatalf("ping %s from %s unexpectedly passed\n%s", ip, from, out)
	}
}

func (s *sandbox) network(project, name, bridge, subnet string) *model.Network {
	p := netip.MustParsePrefix(subnet)
	return &model.Network{
		Project: project, Name: name, Driver: "bridge", Bridge: bridge,
		Subnet: p, Gateway: p.Addr().Next(), MTU: 1500,
	}
}

func (s *sandbox) container(project, name string) *model.Container {
	return &model.Container{Project: project, Name: name, Mode: model.ModeBridge, Netns: s.links.ownedNetnsPath(project, name)}
}

func endpoint(n *model.Network, ifName, hostIf, addr string) *model.Endpoint {
	a := netip.MustParseAddr(addr)
	return &model.Endpoint{
		Network: n.ID(), IfName: ifName, HostIf: hostIf,
		Addr: netip.PrefixFrom(a, n.Subnet.Bits()), MAC: model.MACFor(a), MTU: n.MTU,
	}
}

// wire makes c's namespace and its endpoint ep on n, and the default route
// via n's gateway.
func (s *sandbox) wire(c *model.Container, n *model.Network, ep *model.Endpoint) {
	s.t.Helper()
	ctx := context.Background()
	if err := s.links.EnsureNamespace(ctx, c); err != nil {
		s.t.Fatal(err)
	}
	if err := s.links.EnsureEndpoint(ctx, c, n, ep); err != nil {
		s.t.Fatal(err)
	}
	if err := s.links.EnsureDefaultRoute(ctx, c, n.Gateway); err != nil {
		s.t.Fatal(err)
	}
	c.Endpoints = append(c.Endpoints, ep)
	c.DefaultGateway = n.Gateway
}

func (s *sandbox) ensureBridge(n *model.Network) {
	s.t.Helper()
	if err := s.links.EnsureBridge(context.Background(), n); err != nil {
		s.t.Fatal(err)
	}
}

func (s *sandbox) observe() *model.State {
	s.t.Helper()
	st, err := s.links.Observe(context.Background(), nil)
	if err != nil {
		s.t.Fatal(err)
	}
	return st
}

// hostLink returns the sandbox host's link called name, or nil.
func (s *sandbox) hostLink(name string) vnl.Link {
	s.t.Helper()
	l, err := linkByName(s.host, name)
	if err != nil {
		s.t.Fatal(err)
	}
	return l
}

// nsLink returns the link called name in the namespace at path, or nil.
func (s *sandbox) nsLink(path, name string) vnl.Link {
	s.t.Helper()
	ns, err := netns.GetFromPath(path)
	if err != nil {
		s.t.Fatal(err)
	}
	defer ns.Close()
	h, err := vnl.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		s.t.Fatal(err)
	}
	defer h.Close()
	l, err := linkByName(h, name)
	if err != nil {
		s.t.Fatal(err)
	}
	return l
}
