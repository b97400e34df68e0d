package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/netctl/netctl/internal/sandbox"
)

// watchTimeout bounds every wait on the watcher: generous, because the
// race-built binary on a busy two-core machine is slow, and a wait that
// succeeds returns as soon as it does.
const watchTimeout = 30 * time.Second

// logLine is one JSON log line of the watcher.
type logLine map[string]any

func (l logLine) str(key string) string {
	s, _ := l[key].(string)
	return s
}

// dur reads a duration field, logged with its unit ("12.5ms").
func (l logLine) dur(key string) time.Duration {
	s, _ := l[key].(string)
	d, _ := time.ParseDuration(s)
	return d
}

// watcher is a running `netctl watch` in a sandbox host.
type watcher struct {
	t *testing.T
	h *sandbox.Host
	p *sandbox.Proc
}

// startWatch starts `netctl watch -f file args...` and waits for its first
// convergence.
func startWatch(t *testing.T, h *sandbox.Host, file string, args ...string) *watcher {
	t.Helper()
	w := &watcher{t: t, h: h, p: h.Start(append([]string{"watch", "-f", file}, args...)...)}
	w.waitN(isConverged("start"), 1, "the first convergence")
	return w
}

// lines parses the watcher's log so far (stderr is not a terminal: JSON).
func (w *watcher) lines() []logLine {
	var out []logLine
	for _, s := range strings.Split(w.p.Stderr(), "\n") {
		var l logLine
		if json.Unmarshal([]byte(s), &l) == nil {
			out = append(out, l)
		}
	}
	return out
}

func (w *watcher) count(match func(logLine) bool) int {
	n := 0
	for _, l := range w.lines() {
		if match(l) {
			n++
		}
	}
	return n
}

// waitN waits until n log lines match, and returns the n-th.
func (w *watcher) waitN(match func(logLine) bool, n int, what string) logLine {
	w.t.Helper()
	deadline := time.Now().Add(watchTimeout)
	for {
		k := 0
		for _, l := range w.lines() {
			if match(l) {
				if k++; k == n {
					return l
				}
			}
		}
		select {
		case <-w.p.Done():
			w.t.Fatalf("waiting for %s: the watcher exited:\n%s", what, w.p.Stderr())
		default:
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("waiting for %s: timed out; log:\n%s", what, w.p.Stderr())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// next runs action and waits for the next log line matching match.
func (w *watcher) next(match func(logLine) bool, what string, action func()) logLine {
	w.t.Helper()
	n := w.count(match)
	action()
	return w.waitN(match, n+1, what)
}

func isConverged(trigger string) func(logLine) bool {
	return func(l logLine) bool {
		return l.str("message") == "converged" && (trigger == "" || l.str("trigger") == trigger)
	}
}

func isDrift(object string) func(logLine) bool {
	return func(l logLine) bool { return l.str("message") == "drift repaired" && l.str("object") == object }
}

// stop ends the watcher with SIGTERM and checks it exited cleanly.
func (w *watcher) stop() {
	w.t.Helper()
	res := w.p.Stop()
	if res.Code != 0 {
		w.t.Errorf("watch exited %d:\n%s", res.Code, res.Stderr)
	}
}

// hasContainer reports whether a container's namespace holds addr on eth0.
func hasContainer(h *sandbox.Host, project, name, addr string) bool {
	res := h.InContainer(project, name, "ip", "-4", "-br", "addr", "show", "dev", "eth0")
	return res.Code == 0 && strings.Contains(res.Stdout, addr+"/")
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// topo is a one-network project with the named containers, each at a
// static address 172.30.<net>.<10+i>.
func topo(project string, net int, names ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\nnetworks:\n  lan: {subnet: 172.30.%d.0/24}\ncontainers:\n", project, net)
	for i, n := range names {
		fmt.Fprintf(&b, "  %s:\n    networks:\n      lan: {ipv4_address: 172.30.%d.%d}\n", n, net, 10+i)
	}
	return b.String()
}

// Every way a file gets replaced is picked up.
func TestWatchFileWrites(t *testing.T) {
	h := sandbox.New(t)

	// expectEdit checks that an edit adding web, then one removing it,
	// converge through the watcher.
	expectEdit := func(t *testing.T, w *watcher, project, addr string, add, remove func()) {
		t.Helper()
		l := w.next(isConverged("file"), "the edit adding web", add)
		if l.dur("edit_to_converged") <= 0 {
			t.Errorf("edit-to-converged time not logged: %v", l)
		}
		if !hasContainer(h, project, "web", addr) {
			t.Fatalf("web not wired after the edit:\n%s", w.p.Stderr())
		}
		w.next(isConverged("file"), "the edit removing web", remove)
		if _, err := os.Stat(h.ContainerNetns(project, "web")); !os.IsNotExist(err) {
			t.Fatalf("web's namespace still there after the edit removed it (%v)", err)
		}
	}

	t.Run("in place", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "topology.yaml")
		writeFile(t, path, topo("inplace", 1, "db"))
		w := startWatch(t, h, path)
		defer h.MustNetctl(t, "down", "-p", "inplace")
		defer w.stop()
		expectEdit(t, w, "inplace", "172.30.1.11",
			func() { writeFile(t, path, topo("inplace", 1, "db", "web")) },
			func() { writeFile(t, path, topo("inplace", 1, "db")) })
	})

	t.Run("temp and rename", func(t *testing.T) {
		path := h.WriteFile(t, "renamed.yaml", topo("renamed", 2, "db"))
		w := startWatch(t, h, path)
		defer h.MustNetctl(t, "down", "-p", "renamed")
		defer w.stop()
		expectEdit(t, w, "renamed", "172.30.2.11",
			func() { h.WriteFile(t, "renamed.yaml", topo("renamed", 2, "db", "web")) },
			func() { h.WriteFile(t, "renamed.yaml", topo("renamed", 2, "db")) })
	})

	// A Kubernetes ConfigMap volume: topology.yaml -> ..data/topology.yaml,
	// ..data -> ..<generation>, updated by renaming a new ..data link over
	// the old one, then deleting the old generation.
	t.Run("configmap symlink swap", func(t *testing.T) {
		dir := t.TempDir()
		gen := 0
		publish := func(content string) {
			gen++
			name := fmt.Sprintf("..2026_%02d", gen)
			must(t, os.Mkdir(filepath.Join(dir, name), 0o755))
			writeFile(t, filepath.Join(dir, name, "topology.yaml"), content)
			must(t, os.Symlink(name, filepath.Join(dir, "..data_tmp")))
			must(t, os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
			if gen > 1 {
				must(t, os.RemoveAll(filepath.Join(dir, fmt.Sprintf("..2026_%02d", gen-1))))
			}
		}
		publish(topo("configmap", 3, "db"))
		path := filepath.Join(dir, "topology.yaml")
		must(t, os.Symlink("..data/topology.yaml", path))
		w := startWatch(t, h, path)
		defer h.MustNetctl(t, "down", "-p", "configmap")
		defer w.stop()
		expectEdit(t, w, "configmap", "172.30.3.11",
			func() { publish(topo("configmap", 3, "db", "web")) },
			func() { publish(topo("configmap", 3, "db")) })
	})

	t.Run("git checkout", func(t *testing.T) {
		repo := t.TempDir()
		git := func(args ...string) string {
			t.Helper()
			cmd := exec.Command("git", append([]string{"-C", repo, "-c", "user.name=netctl", "-c", "user.email=netctl@example.test",
				"-c", "init.defaultBranch=main", "-c", "advice.detachedHead=false"}, args...)...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("git %v: %v\n%s", args, err, out)
			}
			return strings.TrimSpace(string(out))
		}
		path := filepath.Join(repo, "topology.yaml")
		git("init", "-q")
		writeFile(t, path, topo("gitops", 4, "db"))
		git("add", "topology.yaml")
		git("commit", "-q", "-m", "db")
		one := git("rev-parse", "HEAD")
		writeFile(t, path, topo("gitops", 4, "db", "web"))
		git("commit", "-q", "-am", "web")
		two := git("rev-parse", "HEAD")
		git("checkout", "-q", one)

		w := startWatch(t, h, path)
		defer h.MustNetctl(t, "down", "-p", "gitops")
		defer w.stop()
		expectEdit(t, w, "gitops", "172.30.4.11",
			func() { git("checkout", "-q", two) },
			func() { git("checkout", "-q", one) })
	})
}

// A burst of writes is one reconcile (two at most, when the burst
// straddles a quiet period), and the last write wins.
func TestWatchDebouncesABurst(t *testing.T) {
	h := sandbox.New(t)
	path := filepath.Join(t.TempDir(), "burst.yaml")
	writeFile(t, path, topo("burst", 5, "c0"))
	w := startWatch(t, h, path)
	defer w.stop()

	names := []string{"c0"}
	before := w.count(isConverged("file"))
	for i := 1; i <= 20; i++ {
		names = append(names, fmt.Sprintf("c%d", i))
		writeFile(t, path, topo("burst", 5, names...))
	}
	w.waitN(isConverged("file"), before+1, "the burst's reconcile")
	// Give a second reconcile, if any, every chance to show up.
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if hasContainer(h, "burst", "c20", "172.30.5.30") && w.count(isConverged("file")) > before {
			break
		}
	}
	time.Sleep(time.Second)
	if n := w.count(isConverged("file")) - before; n < 1 || n > 2 {
		t.Errorf("a burst of 20 writes gave %d reconciles, want 1 or 2:\n%s", n, w.p.Stderr())
	}
	for i, n := range names {
		if !hasContainer(h, "burst", n, fmt.Sprintf("172.30.5.%d", 10+i)) {
			t.Errorf("%s not wired after the burst", n)
		}
	}
}

// An invalid file keeps the last good topology in force; the next good
// file is applied.
func TestWatchInvalidThenValid(t *testing.T) {
	h := sandbox.New(t)
	path := h.WriteFile(t, "shop.yaml", topo("shop", 6, "db"))
	w := startWatch(t, h, path)
	defer w.stop()
	before := h.Snapshot(t)

	isInvalid := func(l logLine) bool { return l.str("message") == "invalid topology file" }
	for _, bad := range []struct{ name, content, want string }{
		{"bad YAML", "containers:\n  db: {networks: [lan]\n", path + ":1: invalid YAML"},
		{"unknown network", topo("shop", 6, "db") + "  web: {networks: [nope]}\n", path + `:8:20: container "web": unknown network "nope"`},
		{"half written", "", "the file is empty"},
		{"renamed project", topo("other", 6, "db", "web"), `the project name changed from "shop" to "other"`},
	} {
		l := w.next(isInvalid, bad.name, func() { h.WriteFile(t, "shop.yaml", bad.content) })
		if !strings.Contains(l.str("error"), bad.want) {
			t.Errorf("%s: logged %q, want it to contain %q", bad.name, l.str("error"), bad.want)
		}
	}
	if after := h.Snapshot(t); after != before {
		t.Errorf("an invalid file changed the kernel:\n%s", diffLines(before, after))
	}
	w.next(isConverged("file"), "the next good file", func() { h.WriteFile(t, "shop.yaml", topo("shop", 6, "db", "web")) })
	if !hasContainer(h, "shop", "web", "172.30.6.11") {
		t.Error("web not wired after the file was fixed")
	}
}

// Drift made by hand is repaired, each with a log line naming it: through
// netlink events in the host namespace, through the resync inside
// containers.
func TestWatchRepairsDrift(t *testing.T) {
	h := sandbox.New(t)
	path := h.WriteFile(t, "drift.yaml", topo("drift", 7, "db", "web"))
	w := startWatch(t, h, path, "--resync", "1s")
	defer w.stop()
	ping := func(what string) {
		t.Helper()
		if !h.Ping(t, "drift", "web", "172.30.7.10") {
			t.Errorf("after %s: web cannot reach db", what)
		}
	}
	ping("start")

	hostVeth := func(container string) string {
		t.Helper()
		l := grepLine(h.InHost("ip", "-o", "link", "show", "type", "veth").Stdout, "netctl:drift:lan/"+container)
		if l == "" {
			t.Fatalf("no host veth for %s", container)
		}
		return linkName(l)
	}
	bridge := func() string {
		t.Helper()
		l := grepLine(h.InHost("ip", "-o", "link", "show", "type", "bridge").Stdout, "netctl:drift:lan")
		if l == "" {
			t.Fatal("no bridge")
		}
		return linkName(l)
	}

	cases := []struct {
		name, object string
		drift        func()
	}{
		{"host veth deleted", "db/lan", func() { h.InHost("ip", "link", "del", hostVeth("db")) }},
		{"container address flushed", "web/lan", func() { h.InContainer("drift", "web", "ip", "addr", "flush", "dev", "eth0") }},
		{"default route deleted", "web", func() { h.InContainer("drift", "web", "ip", "route", "del", "default") }},
		{"bridge deleted", "lan", func() { h.InHost("ip", "link", "del", bridge()) }},
		{"namespace unmounted", "db", func() {
			// Lazily: a netctl or ping still entering the namespace makes
			// a plain umount fail with EBUSY on a loaded machine.
			if res := h.InHost("umount", "-l", h.ContainerNetns("drift", "db")); res.Code != 0 {
				t.Fatalf("umount: %s", res)
			}
		}},
	}
	repaired := func(l logLine) bool { return isConverged("")(l) && l["drift"] == true }
	for _, c := range cases {
		n := w.count(repaired)
		start := time.Now()
		w.next(isDrift(c.object), c.name, c.drift)
		w.waitN(repaired, n+1, c.name+": convergence")
		t.Logf("%s: repaired in %s", c.name, time.Since(start).Round(time.Millisecond))
		ping(c.name)
	}
}

// SIGHUP re-reads the file and reconciles, which repairs drift that no
// event announces even with the resync off: a container's hosts file
// edited by hand. (A flushed address would not do: the container's
// namespace announces it, and watch repairs it on its own, racing the
// signal.)
func TestWatchSIGHUP(t *testing.T) {
	h := sandbox.New(t)
	path := h.WriteFile(t, "hup.yaml", topo("hup", 8, "db"))
	w := startWatch(t, h, path, "--resync", "0")
	defer w.stop()
	hosts := filepath.Join(h.Root(), "containers", "hup", "db", "hosts")
	want, err := os.ReadFile(hosts)
	must(t, err)
	must(t, os.WriteFile(hosts, append(want[:len(want):len(want)], "10.250.9.9\tintruder\n"...), 0o644))
	l := w.next(isConverged("reload"), "the reload", func() { must(t, w.p.Signal(syscall.SIGHUP)) })
	got, err := os.ReadFile(hosts)
	must(t, err)
	if l["drift"] != true || string(got) != string(want) {
		t.Errorf("SIGHUP did not repair the edited hosts file: %v\n%s", l, got)
	}
	if w.count(isDrift("db")) != 1 {
		t.Errorf("the repair is not named in the log:\n%s", w.p.Stderr())
	}
}

// SIGTERM half way through a reconcile stops the watcher cleanly, leaving
// the network as it is; the next watcher converges it.
func TestWatchSIGTERMDuringReconcile(t *testing.T) {
	h := sandbox.New(t)
	var names []string
	for i := range 120 {
		names = append(names, fmt.Sprintf("c%d", i))
	}
	path := h.WriteFile(t, "term.yaml", topo("term", 9, names...))
	p := h.Start("watch", "-f", path)
	// Stop as soon as the reconcile is under way.
	dir := filepath.Join(h.Root(), "netns", "term")
	for deadline := time.Now().Add(watchTimeout); ; time.Sleep(time.Millisecond) {
		if ents, _ := os.ReadDir(dir); len(ents) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the reconcile never started:\n%s", p.Stderr())
		}
	}
	must(t, p.Signal(syscall.SIGTERM))
	select {
	case <-p.Done():
	case <-time.After(watchTimeout):
		t.Fatal("the watcher did not stop on SIGTERM")
	}
	res := p.Stop()
	if res.Code != 0 {
		t.Fatalf("watch exited %d on SIGTERM:\n%s", res.Code, res.Stderr)
	}
	if !strings.Contains(res.Stderr, "watch stopped") {
		t.Errorf("no clean stop in the log:\n%s", res.Stderr)
	}
	cancelled := strings.Contains(res.Stderr, "reconcile cancelled")
	ents, _ := os.ReadDir(dir)
	t.Logf("stopped with %d of %d namespaces made (cancelled mid-way: %v)", len(ents), len(names), cancelled)
	if !cancelled {
		t.Log("the reconcile finished before SIGTERM landed; the restart below is then a no-op")
	}

	w := startWatch(t, h, path)
	w.stop()
	if r := h.Netctl("diff", "-f", path); r.Code != 0 {
		t.Errorf("not converged after the restart (diff exit %d):\n%s", r.Code, r.Stdout)
	}
	veths := strings.Count(h.InHost("ip", "-o", "link", "show", "type", "veth").Stdout, "\n")
	if veths != len(names) {
		t.Errorf("%d host veths, want %d (no duplicates, none stranded)", veths, len(names))
	}
}

// One watcher per --root; apply and diff still work next to it.
func TestWatchSecondWatcherRefused(t *testing.T) {
	h := sandbox.New(t)
	path := h.WriteFile(t, "one.yaml", topo("one", 10, "db"))
	w := startWatch(t, h, path)
	defer w.stop()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res := h.NetctlCtx(ctx, "watch", "-f", path)
	if res.Code != 1 || !strings.Contains(res.Stderr, "another netctl watch is running") {
		t.Errorf("second watcher: exit %d, want 1 with a clear error:\n%s", res.Code, res)
	}
	h.MustNetctl(t, "diff", "-f", path)
	h.MustNetctl(t, "apply", "-f", path)
}

// /metrics and /healthz, on the sandbox host's loopback.
func TestWatchMetricsAndHealth(t *testing.T) {
	h := sandbox.New(t)
	path := h.WriteFile(t, "obs.yaml", "containers:\n  db: {networks: [nope]}\n")
	const addr = "127.0.0.1:9477" // the sandbox host's own loopback
	p := h.Start("watch", "-f", path, "--metrics-addr", addr)
	w := &watcher{t: t, h: h, p: p}
	defer w.stop()
	w.waitN(func(l logLine) bool { return l.str("message") == "invalid topology file" }, 1, "the invalid file")

	get := func(path string) (int, string) {
		t.Helper()
		var code int
		var body string
		for deadline := time.Now().Add(watchTimeout); ; time.Sleep(50 * time.Millisecond) {
			var err error
			if code, body, err = httpGetIn(h.NetnsPath(), "http://"+addr+path); err == nil {
				return code, body
			}
			if time.Now().After(deadline) {
				t.Fatalf("GET %s: %v", path, err)
			}
		}
	}
	if code, body := get("/healthz"); code != http.StatusServiceUnavailable || !strings.Contains(body, `"file_valid":false`) {
		t.Errorf("healthz before any good file = %d %s, want 503", code, body)
	}

	w.next(isConverged("file"), "the first good file", func() { h.WriteFile(t, "obs.yaml", topo("obs", 11, "db", "web")) })
	if code, body := get("/healthz"); code != http.StatusOK || !strings.Contains(body, `"last_outcome":"converged"`) {
		t.Errorf("healthz after convergence = %d %s, want 200", code, body)
	}
	w.next(isDrift("web/lan"), "a drift repair", func() {
		h.InHost("ip", "link", "del", linkName(grepLine(h.InHost("ip", "-o", "link", "show", "type", "veth").Stdout, "netctl:obs:lan/web")))
	})
	w.waitN(func(l logLine) bool { return isConverged("host")(l) && l["drift"] == true }, 1, "the repair's convergence")

	_, m := get("/metrics")
	for _, want := range []string{
		`netctl_watch_reconciles_total{result="converged",trigger="file"} 1`,
		`netctl_watch_reconciles_total{result="converged",trigger="host"}`,
		`netctl_watch_drift_repairs_total{kind="endpoint"} 1`,
		`netctl_watch_errors_total{type="file"} 1`,
		`netctl_watch_managed_objects{kind="container"} 2`,
		`netctl_watch_managed_objects{kind="endpoint"} 2`,
		`netctl_watch_managed_objects{kind="network"} 2`,
		`netctl_watch_reconcile_duration_seconds_count`,
		`netctl_watch_edit_to_converged_seconds_bucket{le="+Inf"}`,
		`netctl_watch_last_success_timestamp_seconds 1.`,
		`netctl_watch_file_valid 1`,
		"# TYPE netctl_watch_reconcile_duration_seconds histogram",
		`netctl_build_info{goversion="go`,
		"go_goroutines ",
		"process_resident_memory_bytes ",
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, m)
		}
	}
}

// linkName is the interface name of a line of `ip -o link show`
// ("7: vethab12@if2: <...> ...").
func linkName(line string) string {
	f := strings.SplitN(line, ":", 3)
	if len(f) < 2 {
		return ""
	}
	return strings.SplitN(strings.TrimSpace(f[1]), "@", 2)[0]
}

func grepLine(s, substr string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			return l
		}
	}
	return ""
}

// httpGetIn fetches url from inside the network namespace at nsPath: the
// connection's socket is opened there by a thread that enters it and comes
// back; the rest of the test process stays where it is.
func httpGetIn(nsPath, url string) (int, string, error) {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		type result struct {
			c   net.Conn
			err error
		}
		ch := make(chan result, 1)
		go func() {
			runtime.LockOSThread()
			orig, err := netns.Get()
			if err != nil {
				runtime.UnlockOSThread()
				ch <- result{nil, err}
				return
			}
			defer orig.Close()
			target, err := netns.GetFromPath(nsPath)
			if err != nil {
				runtime.UnlockOSThread()
				ch <- result{nil, err}
				return
			}
			defer target.Close()
			if err := netns.Set(target); err != nil {
				runtime.UnlockOSThread()
				ch <- result{nil, err}
				return
			}
			var d net.Dialer
			c, derr := d.DialContext(ctx, network, addr)
			if err := netns.Set(orig); err != nil {
				// Stay locked: the runtime ends this thread with its goroutine.
				if c != nil {
					c.Close()
				}
				ch <- result{nil, err}
				return
			}
			runtime.UnlockOSThread()
			ch <- result{c, derr}
		}()
		r := <-ch
		return r.c, r.err
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true}}
	resp, err := client.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}
