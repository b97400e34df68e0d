// Package sandbox is the harness for netctl's kernel integration tests.
//
// Each test gets its own "host": a fresh network namespace standing in for
// the machine, plus a private --root directory. netctl runs inside it exactly
// as a user would run it on a real host, so tests never touch the machine's
// root network namespace and never collide with each other, even when test
// packages run in parallel processes.
//
// Commands are entered with `nsenter --net=...` rather than `ip netns exec`:
// the latter gives every command a throwaway mount namespace, which would
// drop the namespace bind mounts netctl makes under --root.
package sandbox

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// namePrefix starts the name of every namespace the harness creates.
	// The creating PID follows it so that a later run can tell the leftovers
	// of a crashed run (dead PID) from those of a run still going.
	namePrefix = "nct-"

	// recordDir keeps, per sandbox, the --root it used. A test binary killed
	// by `go test -timeout` runs no cleanup; the record lets the next run
	// unmount and remove what it left. /run is a tmpfs, like /run/netns, so
	// records never outlive the namespaces they describe.
	recordDir = "/run/netctl-sandbox"

	netnsDir = "/run/netns"
)

// DefaultTimeout bounds every command the harness runs unless the caller's
// context already carries a deadline.
var DefaultTimeout = 60 * time.Second

var staleName = regexp.MustCompile(`^nct-([0-9]+)-`)

// Host is a sandboxed stand-in for the machine netctl manages.
type Host struct {
	t     testing.TB
	name  string
	root  string
	files string

	mu    sync.Mutex
	procs []*Proc
	extra []string // names of namespaces made by AddNetns
}

var sweepOnce sync.Once

// New creates a sandbox host and registers its teardown with t.Cleanup.
//
// It needs root. Without it the test fails, so that a CI run that lost its
// privileges cannot pass by skipping everything; NETCTL_ALLOW_SKIP=1 turns
// that into a skip for developers running unit tests unprivileged.
func New(t testing.TB) *Host {
	t.Helper()
	RequireRoot(t)
	for _, tool := range []string{"ip", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("sandbox: %s not found in PATH (install iproute2 / util-linux): %v", tool, err)
		}
	}
	sweepOnce.Do(func() { sweepStale(t) })

	name := fmt.Sprintf("%s%d-%s", namePrefix, os.Getpid(), randHex(3))
	root, err := os.MkdirTemp("", "nct-root-")
	if err != nil {
		t.Fatalf("sandbox: root dir: %v", err)
	}
	// mountinfo shows resolved paths; compare like with like.
	if r, err := filepath.EvalSymlinks(root); err == nil {
		root = r
	}
	// Each sandbox is alone in its network namespace: its root is pinned
	// to the default instance, so that tests see the marks and kernel
	// names of /run/netctl (netctl0, netctl:<project>:...). Tests of
	// several instances use roots of their own besides this one.
	if err := os.WriteFile(filepath.Join(root, "instance"), nil, 0o600); err != nil {
		t.Fatalf("sandbox: pin the root's instance: %v", err)
	}
	h := &Host{t: t, name: name, root: root}
	if err := writeRecord(name, root); err != nil {
		t.Logf("sandbox: cannot write crash record: %v", err)
	}
	// Registered before anything is created so that a failure half-way
	// through New is cleaned up too.
	t.Cleanup(h.cleanup)

	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("sandbox: ip netns add %s: %v\n%s", name, err, out)
	}
	if out, err := exec.Command("ip", "-n", name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("sandbox: lo up in %s: %v\n%s", name, err, out)
	}
	h.files = t.TempDir()
	return h
}

// RequireRoot fails t unless the process runs as root (see New).
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("NETCTL_ALLOW_SKIP") == "1" {
		t.Skip("sandbox: needs root to create network namespaces; skipped because NETCTL_ALLOW_SKIP=1")
	}
	t.Fatal("sandbox: kernel integration tests need root (network namespaces, mounts); " +
		"run them as root, or set NETCTL_ALLOW_SKIP=1 to skip them")
}

// Name is the sandbox host's namespace name (as in `ip netns list`).
func (h *Host) Name() string { return h.name }

// Root is the --root directory every netctl call in this host uses.
func (h *Host) Root() string { return h.root }

// NetnsPath is the bind mount of the sandbox host's network namespace.
func (h *Host) NetnsPath() string { return filepath.Join(netnsDir, h.name) }

// ContainerNetns is where netctl keeps the namespace of a container it owns.
func (h *Host) ContainerNetns(project, name string) string {
	return filepath.Join(h.root, "netns", project, name)
}

// WriteFile writes a topology file and returns its path. The file's base
// name is what netctl takes as the default project name. Writing the same
// name again replaces the file atomically (temp + rename, as editors do), so
// a running `watch` never reads half a file.
func (h *Host) WriteFile(t testing.TB, name, content string) string {
	t.Helper()
	if name != filepath.Base(name) || name == "." || name == ".." {
		t.Fatalf("sandbox: WriteFile wants a plain file name, got %q", name)
	}
	path := filepath.Join(h.files, name)
	tmp, err := os.CreateTemp(h.files, "."+name+".tmp*")
	if err != nil {
		t.Fatalf("sandbox: %v", err)
	}
	_, werr := tmp.WriteString(content)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		t.Fatalf("sandbox: writing %s: %v", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		t.Fatalf("sandbox: %v", err)
	}
	return path
}

// AddNetns creates an extra network namespace (an "outside machine", or an
// existing namespace to hand to netctl through netns_path) with lo up, and
// returns its path under /run/netns. It is deleted when t's test ends, or at
// the latest with the host.
func (h *Host) AddNetns(t testing.TB, name string) string {
	t.Helper()
	if name == "" || strings.ContainsAny(name, "/ \n") {
		t.Fatalf("sandbox: bad netns name %q", name)
	}
	full := h.name + "-" + name
	h.mu.Lock()
	h.extra = append(h.extra, full)
	h.mu.Unlock()
	path := filepath.Join(netnsDir, full)
	t.Cleanup(func() {
		// A server a test left running there would keep the namespace
		// alive after `ip netns del`.
		err := errors.Join(killInNetns([]string{path}), deleteNetns(full))
		if err != nil {
			t.Errorf("sandbox: %v", err)
		}
	})
	if out, err := exec.Command("ip", "netns", "add", full).CombinedOutput(); err != nil {
		t.Fatalf("sandbox: ip netns add %s: %v\n%s", full, err, out)
	}
	if out, err := exec.Command("ip", "-n", full, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("sandbox: lo up in %s: %v\n%s", full, err, out)
	}
	return path
}

// Connect wires a namespace made by AddNetns (nsPath is what it returned)
// to the sandbox host with a veth pair: hostIf (<= 15 bytes) in the host
// with hostCIDR, eth0 in the other namespace with peerCIDR and a default
// route via the host's address. Use 10.250.0.0/16 addresses so nothing can
// clash with netctl's pools.
func (h *Host) Connect(t testing.TB, nsPath, hostIf, hostCIDR, peerCIDR string) {
	t.Helper()
	peer := filepath.Base(nsPath)
	hostIP, _, ok := strings.Cut(hostCIDR, "/")
	if !ok {
		t.Fatalf("sandbox: Connect wants CIDRs, got %q", hostCIDR)
	}
	steps := [][]string{
		{"ip", "-n", h.name, "link", "add", hostIf, "type", "veth", "peer", "name", "eth0", "netns", peer},
		{"ip", "-n", h.name, "addr", "add", hostCIDR, "dev", hostIf},
		{"ip", "-n", h.name, "link", "set", hostIf, "up"},
		{"ip", "-n", peer, "addr", "add", peerCIDR, "dev", "eth0"},
		{"ip", "-n", peer, "link", "set", "eth0", "up"},
		{"ip", "-n", peer, "route", "add", "default", "via", hostIP},
	}
	for _, s := range steps {
		if out, err := exec.Command(s[0], s[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("sandbox: %s: %v\n%s", strings.Join(s, " "), err, out)
		}
	}
}

// cleanup runs whatever the test's outcome (t.Cleanup also runs after a
// failure or a panic in the test). Every step runs even if an earlier one
// failed; errors are reported at the end.
func (h *Host) cleanup() {
	var errs []error

	h.mu.Lock()
	procs := h.procs
	extra := h.extra
	h.mu.Unlock()
	for _, p := range procs {
		p.Stop()
	}

	// netctl's background DNS server (and anything a test started with
	// `sh -c '... &'`) outlives the command that spawned it and would keep
	// the namespaces alive. Such processes can only be ours: the namespaces
	// were created by this host moments ago.
	nsPaths := append([]string{h.NetnsPath()}, nsfsMountsUnder(h.root)...)
	for _, n := range extra {
		nsPaths = append(nsPaths, filepath.Join(netnsDir, n))
	}
	if err := killInNetns(nsPaths); err != nil {
		errs = append(errs, err)
	}

	if err := unmountUnder(h.root); err != nil {
		errs = append(errs, err)
	}
	for _, n := range extra {
		if err := deleteNetns(n); err != nil {
			errs = append(errs, err)
		}
	}
	if err := deleteNetns(h.name); err != nil {
		errs = append(errs, err)
	}
	if err := removeRoot(h.root); err != nil {
		errs = append(errs, err)
	}
	os.Remove(filepath.Join(recordDir, h.name))
	if err := errors.Join(errs...); err != nil {
		h.t.Errorf("sandbox %s: cleanup: %v", h.name, err)
	}
}

// removeRoot deletes the root dir, but only once nothing is mounted below
// it: RemoveAll would otherwise walk into a bind-mounted directory and
// delete the mount's source.
func removeRoot(root string) error {
	ms, err := mountsUnder(root)
	if err != nil {
		return err
	}
	if len(ms) > 0 {
		return fmt.Errorf("not removing %s: still mounted: %s", root, strings.Join(ms, ", "))
	}
	return os.RemoveAll(root)
}

func deleteNetns(name string) error {
	if _, err := os.Lstat(filepath.Join(netnsDir, name)); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns del %s: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

func writeRecord(name, root string) error {
	if err := os.MkdirAll(recordDir, 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(recordDir, name), []byte(root), 0o600)
}

// sweepStale removes what earlier test processes left behind when they died
// without running their cleanups (a `go test -timeout` panic, a SIGKILL).
// Only names carrying a dead PID are touched, so concurrent test processes
// are safe from each other.
func sweepStale(t testing.TB) {
	dead := func(name string) bool {
		m := staleName.FindStringSubmatch(name)
		if m == nil {
			return false
		}
		pid, err := strconv.Atoi(m[1])
		return err == nil && pid != os.Getpid() && !pidAlive(pid)
	}

	records, _ := os.ReadDir(recordDir)
	for _, r := range records {
		if !dead(r.Name()) {
			continue
		}
		recPath := filepath.Join(recordDir, r.Name())
		b, err := os.ReadFile(recPath)
		if err == nil && len(b) > 0 {
			root := string(b)
			paths := append([]string{filepath.Join(netnsDir, r.Name())}, nsfsMountsUnder(root)...)
			if err := killInNetns(paths); err != nil {
				t.Logf("sandbox: sweeping %s: %v", r.Name(), err)
			}
			if err := unmountUnder(root); err != nil {
				t.Logf("sandbox: sweeping %s: %v", r.Name(), err)
			}
			if err := removeRoot(root); err != nil {
				t.Logf("sandbox: sweeping %s: %v", r.Name(), err)
			}
		}
		os.Remove(recPath)
	}

	nss, _ := os.ReadDir(netnsDir)
	for _, e := range nss {
		if !dead(e.Name()) {
			continue
		}
		if err := killInNetns([]string{filepath.Join(netnsDir, e.Name())}); err != nil {
			t.Logf("sandbox: sweeping %s: %v", e.Name(), err)
		}
		if err := deleteNetns(e.Name()); err != nil {
			t.Logf("sandbox: sweeping: %v", err)
		} else {
			t.Logf("sandbox: removed namespace %s left by a dead test process", e.Name())
		}
	}

	tmps, _ := filepath.Glob(filepath.Join(os.TempDir(), binDirPrefix+"*"))
	for _, d := range tmps {
		rest := strings.TrimPrefix(filepath.Base(d), binDirPrefix)
		pidStr, _, _ := strings.Cut(rest, "-")
		if pid, err := strconv.Atoi(pidStr); err == nil && pid != os.Getpid() && !pidAlive(pid) {
			os.RemoveAll(d)
		}
	}
}

func pidAlive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b)
}
