package integration

import (
	"bufio"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/internal/sandbox"
)

// notifySocket is systemd's side of sd_notify: a datagram socket whose
// messages carry the sender's credentials, so that a test can hold netctl
// to NotifyAccess=main as systemd does.
type notifySocket struct {
	path string
	conn *net.UnixConn
	msgs chan notifyMsg
}

type notifyMsg struct {
	pid  int32
	vars map[string]string
}

func newNotifySocket(t *testing.T) *notifySocket {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1)
	}); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	n := &notifySocket{path: path, conn: conn, msgs: make(chan notifyMsg, 256)}
	go n.read()
	t.Cleanup(func() { conn.Close() })
	return n
}

func (n *notifySocket) read() {
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(unix.SizeofUcred))
	for {
		nb, noob, _, _, err := n.conn.ReadMsgUnix(buf, oob)
		if err != nil {
			close(n.msgs)
			return
		}
		m := notifyMsg{vars: map[string]string{}}
		if cmsgs, err := unix.ParseSocketControlMessage(oob[:noob]); err == nil && len(cmsgs) > 0 {
			if cred, err := unix.ParseUnixCredentials(&cmsgs[0]); err == nil {
				m.pid = cred.Pid
			}
		}
		sc := bufio.NewScanner(strings.NewReader(string(buf[:nb])))
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), "="); ok {
				m.vars[k] = v
			}
		}
		n.msgs <- m
	}
}

// wait returns the first message holding key, failing t after timeout.
// Every message must come from pid (NotifyAccess=main).
func (n *notifySocket) wait(t *testing.T, pid int, key string, timeout time.Duration) notifyMsg {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case m, ok := <-n.msgs:
			if !ok {
				t.Fatalf("notify socket closed waiting for %s", key)
			}
			if int(m.pid) != pid {
				t.Errorf("notification %v from pid %d, not from the service's main process %d", m.vars, m.pid, pid)
			}
			if _, has := m.vars[key]; has {
				return m
			}
		case <-deadline:
			t.Fatalf("no %s notification within %s", key, timeout)
		}
	}
}

// unitProc is a netctl started as a unit's main process.
type unitProc struct {
	cmd  *exec.Cmd
	pid  int
	done chan struct{} // closed once it exited; then err is set
	err  error
}

// startUnit starts `netctl --root R args...` in the sandbox host as
// systemd starts a unit's main process: NOTIFY_SOCKET, SYSTEMD_EXEC_PID
// (its own pid: nsenter and netctl exec in place), WATCHDOG_USEC.
func startUnit(t *testing.T, h *sandbox.Host, n *notifySocket, watchdog time.Duration, args ...string) *unitProc {
	t.Helper()
	argv := append([]string{"exec", "nsenter", "--net=" + h.NetnsPath(), sandbox.Binary(t), "--root", h.Root()}, args...)
	script := `SYSTEMD_EXEC_PID=$$ WATCHDOG_PID=$$ exec "$@"`
	cmd := exec.Command("sh", append([]string{"-c", script, "sh"}, argv[1:]...)...)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+n.path, "GORACE=atexit_sleep_ms=0")
	if watchdog > 0 {
		cmd.Env = append(cmd.Env, "WATCHDOG_USEC="+strconv.FormatInt(watchdog.Microseconds(), 10))
	}
	out, err := os.CreateTemp(t.TempDir(), "unit-*.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &unitProc{cmd: cmd, pid: cmd.Process.Pid, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			b, _ := os.ReadFile(out.Name())
			t.Logf("%s output:\n%s", strings.Join(args, " "), b)
		}
		out.Close()
	})
	return p
}

// wait waits for the process to exit and returns how it did.
func (p *unitProc) wait(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		return errors.New("still running")
	}
}

const unitTopo = `name: unit
networks:
  app: {subnet: 172.29.40.0/24}
containers:
  a:
    networks: [app]
  b:
    networks: [app]
`

// TestWatchNotifiesSystemd: under Type=notify the watcher reports ready
// only once the first reconcile has converged (the network is in place
// when systemd starts the units ordered after it), feeds the watchdog,
// and says STOPPING on SIGTERM; only the main process notifies (the DNS
// server it starts inherits NOTIFY_SOCKET and must stay quiet).
func TestWatchNotifiesSystemd(t *testing.T) {
	h := sandbox.New(t)
	path := h.WriteFile(t, "unit.yaml", unitTopo)
	n := newNotifySocket(t)
	u := startUnit(t, h, n, 600*time.Millisecond, "watch", "-f", path)
	pid := u.pid

	ready := n.wait(t, pid, "READY", 60*time.Second)
	if !strings.Contains(ready.vars["STATUS"], "converged") {
		t.Errorf("READY with STATUS %q, want the converged reconcile", ready.vars["STATUS"])
	}
	// Ready means converged: both containers are wired already.
	for _, c := range []string{"a", "b"} {
		if r := h.InContainer("unit", c, "ip", "-br", "addr", "show", "eth0"); !strings.Contains(r.Stdout, "172.29.40.") {
			t.Errorf("at READY, %s has no address on app: %s", c, r)
		}
	}
	// The watchdog is fed at half its period.
	start := time.Now()
	for range 3 {
		n.wait(t, pid, "WATCHDOG", 2*time.Second)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("3 watchdog pings took %s with WatchdogSec=0.6s", took)
	}
	if err := u.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	n.wait(t, pid, "STOPPING", 30*time.Second)
	if err := u.wait(30 * time.Second); err != nil {
		t.Errorf("watch after SIGTERM: %v", err)
	}
}

// TestDNSServerUnit: `netctl dns serve` as netctl-dns.service: the
// supervisor, whose server (its child) answers the names. It is ready once
// the server answers; a watcher (netctl-watch.service, After= it) uses
// that server rather than starting its own, so stopping the watcher,
// which kills whatever runs in its cgroup, leaves names resolving. When
// another supervisor already holds the root (started by a plain apply),
// the unit reports ready at once and takes over when that one exits.
func TestDNSServerUnit(t *testing.T) {
	h := sandbox.New(t)
	path := h.WriteFile(t, "unit.yaml", unitTopo)
	n := newNotifySocket(t)
	dns := startUnit(t, h, n, 0, "dns", "serve")
	n.wait(t, dns.pid, "READY", 30*time.Second)

	w := startWatch(t, h, path)
	if got := lockPid(t, h, "supervisor.pid"); got != dns.pid {
		t.Fatalf("the DNS supervisor is pid %d, not the unit's %d: the watcher started its own", got, dns.pid)
	}
	b := addr(t, h, "b", "app")
	w.stop()
	// systemctl stop kills the watcher's cgroup; the DNS server is not in
	// it (nor is it the watcher's child): names keep resolving.
	if r := h.Netctl("exec", "a", "--", "dig", "+time=2", "+tries=2", "+short", "b"); !strings.Contains(r.Stdout, b) {
		t.Errorf("after the watcher stopped, b does not resolve: %s", r)
	}

	// The last project going stops the server: the unit ends cleanly.
	h.MustNetctl(t, "down", "-f", path)
	n.wait(t, dns.pid, "STOPPING", 30*time.Second)
	if err := dns.wait(15 * time.Second); err != nil {
		t.Errorf("dns serve after the last project went: %v", err)
	}
}

// TestDNSServerUnitTakesOver: a supervisor started by a plain apply holds
// the root when the unit starts: the unit is ready at once (names are
// served) and becomes the supervisor when the other one exits.
func TestDNSServerUnitTakesOver(t *testing.T) {
	h := sandbox.New(t)
	path := h.WriteFile(t, "unit.yaml", unitTopo)
	h.MustNetctl(t, "apply", "-f", path)
	first, server := lockPid(t, h, "supervisor.pid"), serverPid(t, h)
	n := newNotifySocket(t)
	dns := startUnit(t, h, n, 0, "dns", "serve")
	ready := n.wait(t, dns.pid, "READY", 30*time.Second)
	if !strings.Contains(ready.vars["STATUS"], strconv.Itoa(server)) {
		t.Errorf("READY with STATUS %q, want it to name the serving pid %d", ready.vars["STATUS"], server)
	}
	// The other supervisor stops (with its server).
	if err := syscall.Kill(first, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for lockPid(t, h, "supervisor.pid") != dns.pid || serverPidOr0(h) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the unit did not take over from supervisor %d (supervisor now %d, server %d)",
				first, lockPid(t, h, "supervisor.pid"), serverPidOr0(h))
		}
		time.Sleep(50 * time.Millisecond)
	}
	b := addr(t, h, "b", "app")
	if r := h.Netctl("exec", "a", "--", "dig", "+time=2", "+tries=2", "+short", "b"); !strings.Contains(r.Stdout, b) {
		t.Errorf("after the takeover, b does not resolve: %s", r)
	}
}

func serverPidOr0(h *sandbox.Host) int {
	b, err := os.ReadFile(filepath.Join(h.Root(), "dns", "server.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}
