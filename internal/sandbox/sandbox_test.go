package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestUnescapeMount(t *testing.T) {
	for in, want := range map[string]string{
		`/tmp/a`:               `/tmp/a`,
		`/tmp/with\040space`:   `/tmp/with space`,
		`/tmp/back\134slash`:   `/tmp/back\slash`,
		`/tmp/tab\011x\012y`:   "/tmp/tab\tx\ny",
		`/tmp/trailing\04`:     `/tmp/trailing\04`,
		`/tmp/not\999octal`:    `/tmp/not\999octal`,
		`/tmp/end\040`:         `/tmp/end `,
		`\040lead`:             ` lead`,
		`/x/\040\040/y\134\n`:  `/x/  /y\\n`,
		`/run/netns/nct-1-abc`: `/run/netns/nct-1-abc`,
	} {
		if got := unescapeMount(in); got != want {
			t.Errorf("unescapeMount(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseMountinfo(t *testing.T) {
	in := `22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda rw
43 27 0:4 net:[4026532177] /tmp/nct-root-1/netns/p/c rw - nsfs nsfs rw
44 27 0:4 net:[4026532178] /tmp/nct-root-1/netns/p/with\040space rw shared:5 master:2 - nsfs nsfs rw
45 27 0:30 / /tmp/nct-root-10 rw - tmpfs tmpfs rw
`
	ms, err := parseMountinfo(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []mountEntry{
		{"/", "ext4"},
		{"/tmp/nct-root-1/netns/p/c", "nsfs"},
		{"/tmp/nct-root-1/netns/p/with space", "nsfs"},
		{"/tmp/nct-root-10", "tmpfs"},
	}
	if len(ms) != len(want) {
		t.Fatalf("got %v, want %v", ms, want)
	}
	for i := range want {
		if ms[i] != want[i] {
			t.Errorf("entry %d: got %+v, want %+v", i, ms[i], want[i])
		}
	}
	// A sibling whose name merely starts with the root's must not count.
	if under("/tmp/nct-root-10", "/tmp/nct-root-1") {
		t.Error("under() matched a sibling directory")
	}
}

func TestNormalizeJSON(t *testing.T) {
	in := `[{"ifname":"br0","operstate":"UP","linkinfo":{"info_kind":"bridge","info_data":{"gc_timer":12.5,"hello_timer":0.0,"stp_state":0}},
	"addr_info":[{"local":"fe80::1","tentative":true,"valid_life_time":4294967295,"preferred_life_time":4294967295,"prefixlen":64}],"mtu":1500}]`
	got, err := normalizeJSON([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	for _, gone := range []string{"operstate", "gc_timer", "hello_timer", "tentative", "valid_life_time", "preferred_life_time"} {
		if strings.Contains(got, gone) {
			t.Errorf("%s not stripped:\n%s", gone, got)
		}
	}
	for _, kept := range []string{`"stp_state": 0`, `"mtu": 1500`, `"prefixlen": 64`, `"local": "fe80::1"`} {
		if !strings.Contains(got, kept) {
			t.Errorf("%s missing:\n%s", kept, got)
		}
	}
	if empty, _ := normalizeJSON([]byte("\n")); empty != "[]" {
		t.Errorf("empty output normalized to %q", empty)
	}
}

func TestLineDiff(t *testing.T) {
	a := "### x\n[\n \"NO-CARRIER\",\n \"UP\"\n]\n### y\nsame"
	b := "### x\n[\n \"UP\"\n]\n### y\nsame\nnew"
	want := "### x\nline 3: -  \"NO-CARRIER\",\n### y\nline 7: + new"
	if got := lineDiff(a, b); got != want {
		t.Errorf("lineDiff:\n%s\nwant:\n%s", got, want)
	}
}

// mustRun runs a setup command outside the harness (the test emulates what
// netctl would do).
func mustRun(t *testing.T, argv ...string) string {
	t.Helper()
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}

// fakeContainer makes a namespace the way netctl does: a fresh netns
// bind-mounted at <root>/netns/<project>/<name>, with lo up.
func fakeContainer(t *testing.T, h *Host, project, name string) string {
	t.Helper()
	p := h.ContainerNetns(project, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "unshare", "--net="+p, "true")
	if res := h.InNetns(p, "ip", "link", "set", "lo", "up"); res.Code != 0 {
		t.Fatalf("lo up: %s", res)
	}
	return p
}

// wire puts a container on a bridge in the sandbox host, as netctl would.
func wire(t *testing.T, h *Host, br, hostIf, nsPath, cidr, gw string) {
	t.Helper()
	if _, err := os.Stat("/sys/class/net/" + br); err == nil {
		t.Fatalf("bridge name %s exists in the root netns; test would be ambiguous", br)
	}
	steps := [][]string{
		{"ip", "link", "add", hostIf, "type", "veth", "peer", "name", "eth0", "netns", nsPath},
		{"ip", "link", "set", hostIf, "master", br, "up"},
	}
	for _, s := range steps {
		if res := h.InHost(s...); res.Code != 0 {
			t.Fatalf("%v: %s", s, res)
		}
	}
	for _, s := range [][]string{
		{"ip", "addr", "add", cidr, "dev", "eth0"},
		{"ip", "link", "set", "eth0", "up"},
		{"ip", "route", "add", "default", "via", gw},
	} {
		if res := h.InNetns(nsPath, s...); res.Code != 0 {
			t.Fatalf("%v: %s", s, res)
		}
	}
}

func addBridge(t *testing.T, h *Host, br, cidr string) {
	t.Helper()
	for _, s := range [][]string{
		{"ip", "link", "add", br, "type", "bridge"},
		{"ip", "addr", "add", cidr, "dev", br},
		{"ip", "link", "set", br, "up"},
	} {
		if res := h.InHost(s...); res.Code != 0 {
			t.Fatalf("%v: %s", s, res)
		}
	}
}

func netnsListed(t *testing.T, name string) bool {
	t.Helper()
	for _, line := range strings.Split(mustRun(t, "ip", "netns", "list"), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == name {
			return true
		}
	}
	return false
}

func TestHostLifecycle(t *testing.T) {
	RequireRoot(t)
	t.Parallel()
	var (
		name, root, extra string
		daemon            int
		proc              *Proc
	)
	t.Run("inside", func(t *testing.T) {
		h := New(t)
		name, root = h.Name(), h.Root()
		if !strings.HasPrefix(name, "nct-"+strconv.Itoa(os.Getpid())+"-") {
			t.Errorf("name %q does not carry the PID", name)
		}
		if h.NetnsPath() != "/run/netns/"+name {
			t.Errorf("NetnsPath = %q", h.NetnsPath())
		}
		if !netnsListed(t, name) {
			t.Fatalf("%s not in ip netns list", name)
		}
		if res := h.InHost("ping", "-c1", "-W1", "127.0.0.1"); res.Code != 0 {
			t.Fatalf("lo is not up in the sandbox: %s", res)
		}
		// The sandbox must be a namespace of its own, not the root one.
		if res := h.InHost("ip", "-o", "link"); strings.Count(res.Stdout, "\n") != 1 {
			t.Errorf("sandbox should hold only lo, got:\n%s", res.Stdout)
		}

		c := fakeContainer(t, h, "proj", "web")
		if c != filepath.Join(root, "netns", "proj", "web") {
			t.Errorf("ContainerNetns = %q", c)
		}
		if res := h.InContainer("proj", "web", "ping", "-c1", "-W1", "127.0.0.1"); res.Code != 0 {
			t.Fatalf("InContainer: %s", res)
		}
		// A process that outlives its command, like netctl's DNS server.
		res := h.InContainer("proj", "web", "sh", "-c", "sleep 1000 >/dev/null 2>&1 </dev/null & echo $!")
		pid, err := strconv.Atoi(strings.TrimSpace(res.Stdout))
		if err != nil {
			t.Fatalf("background pid: %s", res)
		}
		daemon = pid
		proc = h.start([]string{"nsenter", "--net=" + h.NetnsPath(), "sleep", "1000"})

		extra = filepath.Base(h.AddNetns(t, "outside"))
		if !netnsListed(t, extra) {
			t.Fatalf("%s not in ip netns list", extra)
		}
		if ms, _ := mountsUnder(root); len(ms) == 0 {
			t.Fatal("expected the container mount under the root")
		}
	})
	if name == "" {
		t.Fatal("subtest did not create a host")
	}
	if netnsListed(t, name) || netnsListed(t, extra) {
		t.Errorf("namespaces left after cleanup:\n%s", mustRun(t, "ip", "netns", "list"))
	}
	if ms, err := mountsUnder(root); err != nil || len(ms) > 0 {
		t.Errorf("mounts left under %s: %v %v", root, ms, err)
	}
	if _, err := os.Stat(root); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("root %s not removed: %v", root, err)
	}
	if _, err := os.Stat(filepath.Join(recordDir, name)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("crash record left: %v", err)
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(daemon) + "/ns/net"); err == nil {
		t.Errorf("background process %d still running", daemon)
	}
	select {
	case <-proc.Done():
	default:
		t.Error("started process not stopped")
	}
}

func TestSnapshotStable(t *testing.T) {
	t.Parallel()
	h := New(t)
	addBridge(t, h, "nctbr0", "172.29.0.1/24")
	for i, name := range []string{"a", "b"} {
		p := fakeContainer(t, h, "proj", name)
		wire(t, h, "nctbr0", "nctv"+name, p, "172.29.0."+strconv.Itoa(i+2)+"/24", "172.29.0.1")
	}
	// Right after setup is when timers, operstate and DAD move the most.
	first := h.Snapshot(t)
	time.Sleep(3 * time.Second)
	second := h.Snapshot(t)
	if first != second {
		t.Fatalf("snapshot changed with no configuration change:\n%s", lineDiff(first, second))
	}
	for _, want := range []string{"### host: ip -d -j link show", "### netns/proj/a: ip -j addr show", "### netns/proj/b: ip -j route show", `"ifname": "nctbr0"`, `"local": "172.29.0.3"`} {
		if !strings.Contains(first, want) {
			t.Errorf("snapshot lacks %q", want)
		}
	}
	if strings.Contains(first, "_timer") || strings.Contains(first, "operstate") {
		t.Error("volatile keys not stripped")
	}

	if res := h.InContainer("proj", "a", "ip", "addr", "add", "172.29.0.99/24", "dev", "eth0"); res.Code != 0 {
		t.Fatal(res)
	}
	if h.Snapshot(t) == second {
		t.Error("snapshot did not change after an address was added")
	}
}

// TestSnapshotSettlesLinks: a snapshot right after a change of carrier
// shows the state the kernel settles in, not the one linkwatch has yet to
// act on. The bridge losing its only port's carrier is the slow case: its
// own carrier-off is not urgent for linkwatch, which holds it up to a
// second after acting on the port.
func TestSnapshotSettlesLinks(t *testing.T) {
	t.Parallel()
	h := New(t)
	addBridge(t, h, "nctbr2", "172.29.2.1/24")
	wire(t, h, "nctbr2", "nctvc", fakeContainer(t, h, "proj", "c"), "172.29.2.2/24", "172.29.2.1")
	if !strings.Contains(h.Snapshot(t), `"LOWER_UP"`) {
		t.Fatal("no link has carrier after wiring")
	}
	if res := h.InContainer("proj", "c", "ip", "link", "set", "eth0", "down"); res.Code != 0 {
		t.Fatal(res)
	}
	snap := h.Snapshot(t)
	links := snap[:strings.Index(snap, "### host: ip -j addr show")]
	var bridge []any
	if err := json.Unmarshal([]byte(links[strings.Index(links, "\n")+1:]), &bridge); err != nil {
		t.Fatal(err)
	}
	for _, l := range bridge {
		l := l.(map[string]any)
		if l["ifname"] != "nctbr2" {
			continue
		}
		if flags := fmt.Sprint(l["flags"]); !strings.Contains(flags, "NO-CARRIER") || strings.Contains(flags, "LOWER_UP") {
			t.Errorf("bridge without a port up: flags %s, want NO-CARRIER and no LOWER_UP", flags)
		}
		return
	}
	t.Errorf("no nctbr2 in the snapshot:\n%s", links)
}

// lineDiff shows the lines only in a ("- ") or only in b ("+ ") along a
// longest common subsequence, each under the section header it belongs to:
// a line compared by position would make one inserted flag look like a
// change of every line after it.
func lineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	// lcs[i][j]: length of the longest common subsequence of al[i:], bl[j:].
	lcs := make([][]int, len(al)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(bl)+1)
	}
	for i := len(al) - 1; i >= 0; i-- {
		for j := len(bl) - 1; j >= 0; j-- {
			if al[i] == bl[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []string
	header, shown := "", ""
	emit := func(line string) {
		if header != shown {
			out = append(out, header)
			shown = header
		}
		out = append(out, line)
	}
	i, j := 0, 0
	for i < len(al) || j < len(bl) {
		switch {
		case i < len(al) && j < len(bl) && al[i] == bl[j]:
			if strings.HasPrefix(al[i], "### ") {
				header = al[i]
			}
			i++
			j++
		case j == len(bl) || (i < len(al) && lcs[i+1][j] >= lcs[i][j+1]):
			emit("line " + strconv.Itoa(i+1) + ": - " + al[i])
			i++
		default:
			emit("line " + strconv.Itoa(j+1) + ": + " + bl[j])
			j++
		}
	}
	return strings.Join(out, "\n")
}

func TestPingAndConnect(t *testing.T) {
	t.Parallel()
	h := New(t)
	addBridge(t, h, "nctbr1", "172.29.1.1/24")
	wire(t, h, "nctbr1", "nctva", fakeContainer(t, h, "proj", "a"), "172.29.1.2/24", "172.29.1.1")
	wire(t, h, "nctbr1", "nctvb", fakeContainer(t, h, "proj", "b"), "172.29.1.3/24", "172.29.1.1")
	if !h.Ping(t, "proj", "a", "172.29.1.3") {
		t.Error("a cannot ping b on the same bridge")
	}
	if h.Ping(t, "proj", "a", "172.29.1.77") {
		t.Error("ping to an unused address succeeded")
	}

	out := h.AddNetns(t, "outside")
	h.Connect(t, out, "nctout0", "10.250.0.1/30", "10.250.0.2/30")
	if res := h.InNetns(out, "ping", "-c1", "-w2", "-i0.2", "10.250.0.1"); res.Code != 0 {
		t.Errorf("outside cannot reach the sandbox host: %s", res)
	}
	if res := h.InHost("ping", "-c1", "-w2", "-i0.2", "10.250.0.2"); res.Code != 0 {
		t.Errorf("sandbox host cannot reach outside: %s", res)
	}
	if _, err := os.Stat("/sys/class/net/nctout0"); err == nil {
		t.Error("Connect created a link in the root namespace")
	}
}

func TestStartStop(t *testing.T) {
	t.Parallel()
	h := New(t)
	p := h.start([]string{"nsenter", "--net=" + h.NetnsPath(), "sh", "-c", "echo ready; echo warn >&2; exec sleep 1000"})
	if !p.WaitOutput("ready", 10*time.Second) || !p.WaitOutput("warn", 10*time.Second) {
		t.Fatalf("no output; stdout=%q stderr=%q", p.Stdout(), p.Stderr())
	}
	start := time.Now()
	res := p.Stop()
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Stop took %s; SIGTERM should end sleep at once", d)
	}
	if res.Code != -1 || !strings.Contains(res.Stderr, "terminated") {
		t.Errorf("want death by SIGTERM, got %s", res)
	}
	if again := p.Stop(); again != res {
		t.Error("second Stop returned a different result")
	}

	p = h.start([]string{"sh", "-c", "trap '' TERM; echo up; while :; do sleep 0.1; done"})
	p.StopTimeout = 300 * time.Millisecond
	p.WaitOutput("up", 10*time.Second)
	if res := p.Stop(); !strings.Contains(res.Stderr, "killed") {
		t.Errorf("want SIGKILL after StopTimeout, got %s", res)
	}
}

// TestNetctlInvocation checks how Netctl runs the binary, with a stand-in
// script passed through NETCTL_BIN (this package never builds the real one).
func TestNetctlInvocation(t *testing.T) {
	RequireRoot(t)
	fake := filepath.Join(t.TempDir(), "netctl")
	script := `#!/bin/sh
echo "args: $*"
readlink /proc/self/ns/net
case "$3" in
fail) echo "boom" >&2; exit 7 ;;
hang) exec sleep 30 ;;
esac
`
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NETCTL_BIN", fake)
	if got := Binary(t); got != fake {
		t.Fatalf("Binary = %q, want NETCTL_BIN %q", got, fake)
	}
	h := New(t)
	ino, _ := netnsInode(h.NetnsPath())

	res := h.MustNetctl(t, "apply", "-f", "x.yaml")
	lines := strings.Split(strings.TrimSpace(res.Stdout), "\n")
	if len(lines) != 2 || lines[0] != "args: --root "+h.Root()+" apply -f x.yaml" {
		t.Errorf("unexpected invocation: %q", res.Stdout)
	}
	if len(lines) == 2 && lines[1] != "net:["+strconv.FormatUint(ino, 10)+"]" {
		t.Errorf("netctl ran in %s, want the sandbox's net:[%d]", lines[1], ino)
	}

	if res := h.Netctl("fail"); res.Code != 7 || !strings.Contains(res.Stderr, "boom") {
		t.Errorf("want exit 7 with stderr, got %s", res)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if res := h.NetctlCtx(ctx, "hang"); res.Code != -1 || !strings.Contains(res.Stderr, "deadline") {
		t.Errorf("want a timeout, got %s", res)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("timeout took %s", d)
	}

	path := h.WriteFile(t, "shop.yaml", "name: shop\n")
	if filepath.Base(path) != "shop.yaml" {
		t.Errorf("WriteFile path %q", path)
	}
	h.WriteFile(t, "shop.yaml", "name: shop2\n")
	if b, _ := os.ReadFile(path); string(b) != "name: shop2\n" {
		t.Errorf("rewrite: got %q", b)
	}
}

// TestCrashHelper is not a test: TestSweepAfterCrash runs it in a child
// process that dies by SIGKILL with a host still up, as a test binary does
// when `go test -timeout` fires.
func TestCrashHelper(t *testing.T) {
	if os.Getenv("NETCTL_SANDBOX_CRASH_HELPER") != "1" {
		t.Skip("helper process for TestSweepAfterCrash")
	}
	h := New(t)
	fakeContainer(t, h, "proj", "c")
	res := h.InContainer("proj", "c", "sh", "-c", "sleep 1000 >/dev/null 2>&1 </dev/null & echo $!")
	os.Stdout.WriteString("CRASH " + h.Name() + " " + h.Root() + " " + strings.TrimSpace(res.Stdout) + "\n")
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}

func TestSweepAfterCrash(t *testing.T) {
	RequireRoot(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
	// The helper dies before its t.TempDir cleanup runs: its temporary
	// directories go under one of ours, which this test's cleanup removes.
	cmd.Env = append(os.Environ(), "NETCTL_SANDBOX_CRASH_HELPER=1", "TMPDIR="+t.TempDir())
	out, _ := cmd.Output()
	var name, root, daemon string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[0] == "CRASH" {
			name, root, daemon = f[1], f[2], f[3]
		}
	}
	if name == "" {
		t.Fatalf("helper printed no sandbox:\n%s", out)
	}
	if !netnsListed(t, name) {
		t.Fatalf("helper's namespace %s is not there to sweep", name)
	}
	sweepStale(t)
	if netnsListed(t, name) {
		t.Errorf("namespace %s survived the sweep", name)
	}
	if ms, _ := mountsUnder(root); len(ms) > 0 {
		t.Errorf("mounts survived the sweep: %v", ms)
	}
	if _, err := os.Stat(root); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("root %s survived the sweep: %v", root, err)
	}
	if _, err := os.Stat("/proc/" + daemon + "/ns/net"); err == nil {
		t.Errorf("process %s in the crashed sandbox survived the sweep", daemon)
	}
}
