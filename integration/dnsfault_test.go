package integration

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netctl/netctl/internal/sandbox"
)

// Faults of the background DNS server (issue 10, item 4): a worker that
// dies, or is stopped, is replaced by its supervisor within seconds,
// without an apply; an apply never waits on a hung server round after
// round; a dead or stopped supervisor is reported by diff and replaced by
// the next apply, which adopts the running worker.

const dnsFaultTopo = `
networks:
  back: {}
containers:
  a:
    networks: [back]
  b:
    networks: [back]
`

func lockPid(t *testing.T, h *sandbox.Host, name string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(h.Root(), "dns", name))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// dnsFaultHost is a names host with dnsFaultTopo applied; it returns the
// file.
func dnsFaultHost(t *testing.T) (*namesHost, string) {
	h := newNamesHost(t)
	file := h.WriteFile(t, "f.yaml", dnsFaultTopo)
	h.mustNC(t, "apply", "-f", file)
	return h, file
}

// noDiff fails t unless the host is converged to file.
func (h *namesHost) noDiff(t *testing.T, file, when string) {
	t.Helper()
	if r := h.nc("diff", "-f", file); r.Code != 0 {
		t.Errorf("diff %s: %s", when, r)
	}
}

// resolvesWithin polls a lookup of name in container until it answers.
func (h *namesHost) resolvesWithin(t *testing.T, container, name string, d time.Duration) (time.Duration, bool) {
	t.Helper()
	start := time.Now()
	for time.Since(start) < d {
		r := h.nc("exec", container, "--", "dig", "+time=1", "+tries=1", "+short", name)
		if r.Code == 0 && strings.TrimSpace(r.Stdout) != "" {
			return time.Since(start), true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return d, false
}

func TestDNSWorkerKilledIsReplaced(t *testing.T) {
	h, file := dnsFaultHost(t)
	worker := lockPid(t, h.Host, "server.pid")
	if worker == 0 || lockPid(t, h.Host, "supervisor.pid") == 0 {
		t.Fatalf("no worker (%d) or no supervisor", worker)
	}
	must(t, syscall.Kill(worker, syscall.SIGKILL))
	took, ok := h.resolvesWithin(t, "a", "b", 10*time.Second)
	if !ok {
		t.Fatalf("names did not come back within 10 s after the server was killed")
	}
	t.Logf("names back %s after SIGKILL of the server", took.Round(time.Millisecond))
	if now := lockPid(t, h.Host, "server.pid"); now == worker || now == 0 {
		t.Errorf("server pid %d -> %d, want a new server", worker, now)
	}
	h.noDiff(t, file, "after the replacement")
}

func TestDNSWorkerStoppedIsReplaced(t *testing.T) {
	h, _ := dnsFaultHost(t)
	worker := lockPid(t, h.Host, "server.pid")
	must(t, syscall.Kill(worker, syscall.SIGSTOP))
	defer syscall.Kill(worker, syscall.SIGKILL)
	// Without any apply: the supervisor sees it stopped at its next probe.
	took, ok := h.resolvesWithin(t, "a", "b", 10*time.Second)
	if !ok {
		t.Fatalf("names did not come back within 10 s after SIGSTOP of the server")
	}
	t.Logf("names back %s after SIGSTOP of the server", took.Round(time.Millisecond))
}

func TestApplyDoesNotWaitOnAHungServer(t *testing.T) {
	h, file := dnsFaultHost(t)
	// Stop both: nobody replaces the server but the next apply.
	sup, worker := lockPid(t, h.Host, "supervisor.pid"), lockPid(t, h.Host, "server.pid")
	must(t, syscall.Kill(sup, syscall.SIGSTOP))
	must(t, syscall.Kill(worker, syscall.SIGSTOP))
	defer syscall.Kill(sup, syscall.SIGKILL)
	defer syscall.Kill(worker, syscall.SIGKILL)

	r := h.nc("diff", "-f", file)
	if r.Code != 2 || !strings.Contains(r.Stdout, "dns") {
		t.Errorf("diff with a stopped server: want a pending dns action (exit 2), got %s", r)
	}
	// A new container, so that the apply has to reload the server.
	h.WriteFile(t, "f.yaml", dnsFaultTopo+"  c:\n    networks: [back]\n")
	for i := range 2 {
		start := time.Now()
		h.mustNC(t, "apply", "-f", file)
		if took := time.Since(start); took > 8*time.Second {
			t.Errorf("apply %d with a stopped DNS server took %s", i+1, took)
		}
	}
	if got := h.lookup(t, "a", "c"); len(got) != 1 {
		t.Errorf("c after apply: %v", got)
	}
	h.noDiff(t, file, "after the apply")
}

func TestDNSSupervisorKilledIsReplacedByApply(t *testing.T) {
	h, file := dnsFaultHost(t)
	sup, worker := lockPid(t, h.Host, "supervisor.pid"), lockPid(t, h.Host, "server.pid")
	must(t, syscall.Kill(sup, syscall.SIGKILL))
	// The worker keeps serving meanwhile.
	if got := h.lookup(t, "a", "b"); len(got) != 1 {
		t.Errorf("b with the supervisor gone: %v", got)
	}
	r := h.nc("diff", "-f", file)
	if r.Code != 2 || !strings.Contains(r.Stdout, "not supervised") {
		t.Errorf("diff without a supervisor: want a pending dns action naming it, got %s", r)
	}
	h.mustNC(t, "apply", "-f", file)
	// apply returns once the new supervisor holds its lock; it writes its
	// pid file right after.
	newSup := lockPid(t, h.Host, "supervisor.pid")
	for deadline := time.Now().Add(5 * time.Second); (newSup == 0 || newSup == sup) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		newSup = lockPid(t, h.Host, "supervisor.pid")
	}
	if newSup == 0 || newSup == sup {
		t.Errorf("supervisor %d -> %d, want a new one", sup, newSup)
	}
	if now := lockPid(t, h.Host, "server.pid"); now != worker {
		t.Errorf("server %d -> %d: the new supervisor must adopt the running server", worker, now)
	}
	h.noDiff(t, file, "after the apply")
	// down stops both.
	h.mustNC(t, "down", "-f", file)
	for _, pid := range []int{worker, newSup} {
		if pid > 0 && !exitedWithin(pid, 5*time.Second) {
			t.Errorf("pid %d still runs after down", pid)
		}
	}
}

// exitedWithin polls until pid is gone or a zombie (its parent may be an
// init that reaps late).
func exitedWithin(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return true
		}
		if i := strings.LastIndexByte(string(b), ')'); i > 0 && i+2 < len(b) && b[i+2] == 'Z' {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A container answering to another network's address (issue 10, item 5):
// x, on network a only, takes y's address on network b and asks a's
// gateway for z, a name only b's containers see. The host routes that
// address back to a's bridge, so x would receive whatever the server
// sends. The server must send nothing: the query came in on a's bridge
// from an address that is not a's. x's own address still works.
func TestDNSSpoofedSourceIsDropped(t *testing.T) {
	h := newNamesHost(t)
	file := h.WriteFile(t, "spoof.yaml", `
networks:
  a: {bridge_name: br-spoof-a}
  b: {bridge_name: br-spoof-b}
containers:
  x:
    networks: [a]
  y:
    networks: [b]
  z:
    networks: [b]
`)
	h.mustNC(t, "apply", "-f", file)
	yB, gwA := addr(t, h.Host, "y", "b"), gateway(t, h.Host, "a")
	if r := h.InContainer("spoof", "x", "ip", "addr", "add", yB+"/32", "dev", "eth0"); r.Code != 0 {
		t.Fatal(r)
	}
	if r := h.InHost("ip", "route", "add", yB+"/32", "dev", "br-spoof-a"); r.Code != 0 {
		t.Fatal(r)
	}
	for _, proto := range []string{"+notcp", "+tcp"} {
		r := h.InContainer("spoof", "x", "dig", "+time=2", "+tries=1", proto, "-b", yB, "@"+gwA, "z")
		if strings.Contains(r.Stdout, "status: NOERROR") || strings.Contains(r.Stdout, "ANSWER SECTION") {
			t.Errorf("dig %s from y's address on a's bridge was answered:\n%s", proto, r.Stdout)
		}
		r = h.InContainer("spoof", "x", "dig", "+time=2", "+tries=1", proto, "-b", yB, "@"+gwA, "-x", addr(t, h.Host, "z", "b"))
		if strings.Contains(r.Stdout, "z.") && strings.Contains(r.Stdout, "ANSWER SECTION") {
			t.Errorf("PTR %s from y's address on a's bridge was answered:\n%s", proto, r.Stdout)
		}
	}
	// From its own address x is served, and z is not a name it sees.
	xA := addr(t, h.Host, "x", "a")
	r := h.InContainer("spoof", "x", "dig", "+time=2", "+tries=1", "-b", xA, "@"+gwA, "x")
	if !strings.Contains(r.Stdout, "status: NOERROR") || !strings.Contains(r.Stdout, xA) {
		t.Errorf("x asking for itself from its own address:\n%s", r)
	}
}
