package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netctl/netctl/internal/sandbox"
)

// namesTopo: backend (db, db2, web, lost), frontend (web, front, hub),
// third (hub, edge); legacy and old on the default bridge. db and db2 share
// the alias "shared". web asks its own resolver (10.250.1.53), lost a dead
// one (10.250.1.54); everyone else the host's (127.0.0.1 in the sandbox).
const namesTopo = `
networks:
  backend: {}
  frontend: {}
  third: {}
containers:
  db:
    hostname: database
    networks:
      backend:
        aliases: [postgres, shared]
    expose: [5432, "53/udp"]
    env: {POSTGRES_DB: shop}
  db2:
    networks:
      backend:
        aliases: [shared]
  web:
    networks: [frontend, backend]
    links: ["db:webdb"]
    dns: [10.250.1.53]
  front:
    networks: [frontend]
  hub:
    networks: [frontend, third]
  edge:
    networks: [third]
  lost:
    networks: [backend]
    dns: [10.250.1.54]
  legacy:
    links: ["old"]
    dns: [10.250.1.53]
  old:
    hostname: old-host
    expose: ["80"]
`

// namesHost is a sandbox with the fake upstreams and a host resolv.conf
// pointing at one of them.
type namesHost struct {
	*sandbox.Host
	resolv string
	host   *fakeDNS // the host's resolver, 127.0.0.1
	own    *fakeDNS // web's and legacy's `dns`, 10.250.1.53
	dead   *fakeDNS // lost's `dns`, 10.250.1.54: never answers
}

func newNamesHost(t *testing.T) *namesHost {
	h := &namesHost{Host: sandbox.New(t)}
	for _, a := range []string{"10.250.1.53/32", "10.250.1.54/32"} {
		if r := h.InHost("ip", "addr", "add", a, "dev", "lo"); r.Code != 0 {
			t.Fatalf("add %s: %s", a, r)
		}
	}
	h.host = startFakeDNS(t, h.Host, "127.0.0.1", "192.0.2.1", false)
	h.own = startFakeDNS(t, h.Host, "10.250.1.53", "192.0.2.2", false)
	h.dead = startFakeDNS(t, h.Host, "10.250.1.54", "", true)
	h.resolv = filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(h.resolv, []byte("nameserver 127.0.0.1\nsearch example.test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return h
}

// nc runs netctl with the sandbox's resolv.conf as the host's.
func (h *namesHost) nc(args ...string) sandbox.Result {
	return h.Netctl(append([]string{"--resolv-conf", h.resolv}, args...)...)
}

func (h *namesHost) mustNC(t *testing.T, args ...string) sandbox.Result {
	t.Helper()
	r := h.nc(args...)
	if r.Code != 0 {
		t.Fatalf("netctl %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// lookup runs dig in a container, through netctl exec so that it uses the
// container's own resolv.conf, and returns the A answers. One try, so a
// lost query fails, but a generous wait: every name here is answered at
// once, and an answer that a loaded machine delays past 2 s is still one.
func (h *namesHost) lookup(t *testing.T, container string, args ...string) []string {
	t.Helper()
	argv := append([]string{"exec", container, "--", "dig", "+time=5", "+tries=1", "+short"}, args...)
	r := h.nc(argv...)
	if r.Code != 0 {
		t.Errorf("dig %v in %s: %s", args, container, r)
		return nil
	}
	return strings.Fields(r.Stdout)
}

var statusRE = regexp.MustCompile(`status: ([A-Z]+)`)
var flagsRE = regexp.MustCompile(`;; flags: ([a-z ]+);`)
var queryTimeRE = regexp.MustCompile(`;; Query time: ([0-9]+) msec`)

// status runs dig and returns the reply's rcode and header flags.
func (h *namesHost) status(t *testing.T, container string, args ...string) (string, string) {
	t.Helper()
	argv := append([]string{"exec", container, "--", "dig", "+time=5", "+tries=1", "+noall", "+comments"}, args...)
	r := h.nc(argv...)
	m := statusRE.FindStringSubmatch(r.Stdout)
	if m == nil {
		return "NO ANSWER", r.Stdout + r.Stderr
	}
	f := flagsRE.FindStringSubmatch(r.Stdout)
	flags := ""
	if f != nil {
		flags = f[1]
	}
	return m[1], flags
}

func TestNamesEmbeddedDNS(t *testing.T) {
	h := newNamesHost(t)
	file := h.WriteFile(t, "names.yaml", namesTopo)
	h.mustNC(t, "apply", "-f", file)

	ip := func(c, n string) string { return addr(t, h.Host, c, n) }
	db, db2, webB, webF := ip("db", "backend"), ip("db2", "backend"), ip("web", "backend"), ip("web", "frontend")
	front, hubF, hubT, edge := ip("front", "frontend"), ip("hub", "frontend"), ip("hub", "third"), ip("edge", "third")

	// apply has returned: the background server answers. By name,
	// hostname, alias and link alias, from the containers that may see them.
	expect := func(from, name string, want ...string) {
		t.Helper()
		got := h.lookup(t, from, name)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s resolves %s to %v, want %v", from, name, got, want)
		}
	}
	expect("web", "db", db)
	expect("web", "database", db)
	expect("web", "postgres", db)
	expect("web", "webdb", db) // link alias, web only
	expect("web", "front", front)
	expect("db", "web", webB)
	expect("db", "webdb") // not db's link
	expect("db", "front") // not on frontend
	expect("front", "db") // not on backend
	expect("front", "web", webF)
	// Three networks: hub (frontend, third) sees front, web and edge, not
	// db; edge (third) sees hub only.
	expect("hub", "front", front)
	expect("hub", "edge", edge)
	expect("hub", "db")
	expect("edge", "hub", hubT)
	expect("edge", "front")
	expect("edge", "web")
	expect("front", "hub", hubF)

	// Round robin across the two containers sharing an alias.
	firsts := map[string]bool{}
	for range 4 {
		got := h.lookup(t, "web", "shared")
		if len(got) != 2 {
			t.Fatalf("shared = %v, want db and db2", got)
		}
		firsts[got[0]] = true
	}
	if !firsts[db] || !firsts[db2] {
		t.Errorf("round robin: first answers %v, want both %s and %s", firsts, db, db2)
	}

	// PTR.
	if got := h.lookup(t, "web", "-x", db); !slices.Contains(got, "db.") {
		t.Errorf("PTR %s from web = %v, want db.", db, got)
	}
	if got := h.lookup(t, "front", "-x", db); slices.Contains(got, "db.") {
		t.Errorf("PTR %s from front (not on backend) = %v", db, got)
	}

	// What a program using the system resolver gets (glibc: hosts file,
	// then DNS): ping by name, getent.
	// One reply within 5 s, a probe a second: the first may go unanswered
	// while the neighbour entry is made on a loaded machine.
	if r := h.nc("exec", "db", "--", "ping", "-c1", "-w5", "web"); r.Code != 0 {
		t.Errorf("ping web from db: %s", r)
	}
	if r := h.nc("exec", "web", "--", "getent", "ahostsv4", "postgres"); r.Code != 0 || !strings.Contains(r.Stdout, db) {
		t.Errorf("getent postgres from web: %s", r)
	}

	// Forwarding: the host's resolver for db, web's own for web; TCP too.
	expect("db", "ext.test", "192.0.2.1")
	expect("web", "ext.test", "192.0.2.2")
	if got := h.lookup(t, "db", "+tcp", "ext.test"); len(got) != 1 || got[0] != "192.0.2.1" {
		t.Errorf("ext.test over TCP from db = %v", got)
	}
	// Truncation: a UDP answer too large comes back with TC (dig would
	// retry over TCP; +ignore shows the flag), and whole over TCP.
	if st, flags := h.status(t, "db", "+noedns", "+ignore", "big.test"); st != "NOERROR" || !strings.Contains(flags, "tc") {
		t.Errorf("big.test over UDP: %s flags %q, want NOERROR with tc", st, flags)
	}
	if got := h.lookup(t, "db", "+tcp", "big.test"); len(got) != 60 {
		t.Errorf("big.test over TCP: %d answers, want 60", len(got))
	}
	if got := h.lookup(t, "db", "big.test"); len(got) != 60 {
		t.Errorf("big.test as dig asks (UDP, then TCP): %d answers, want 60", len(got))
	}

	// A dead upstream: SERVFAIL, quickly (dig itself would wait 5 s). The
	// time is dig's own, from its query to the answer: netctl exec's
	// start, which took seconds on a loaded machine, is no part of it.
	r := h.nc("exec", "lost", "--", "dig", "+time=5", "+tries=1", "+noall", "+comments", "+stats", "ext.test")
	st, took := "NO ANSWER", time.Duration(-1)
	if m := statusRE.FindStringSubmatch(r.Stdout); m != nil {
		st = m[1]
	}
	if m := queryTimeRE.FindStringSubmatch(r.Stdout); m != nil {
		ms, _ := strconv.Atoi(m[1])
		took = time.Duration(ms) * time.Millisecond
	}
	if st != "SERVFAIL" || took < 0 || took > 4*time.Second {
		t.Errorf("dead upstream: %s after %s, want SERVFAIL within the 2 s budget (dig waits 5 s)\n%s", st, took, r)
	}
	if h.dead.queries.Load() == 0 {
		t.Errorf("the dead upstream was never asked")
	}

	// The default bridge: no names (resolv.conf names the container's own
	// resolver directly); links give hosts lines.
	if r := h.nc("exec", "legacy", "--", "cat", "/etc/resolv.conf"); !strings.HasPrefix(r.Stdout, "nameserver 10.250.1.53\n") {
		t.Errorf("legacy's resolv.conf:\n%s", r.Stdout)
	}
	expect("legacy", "old")
	expect("legacy", "ext.test", "192.0.2.2")
	// Asking backend's server directly: its sockets are bound to backend's
	// bridge, so a query arriving from the default bridge gets nothing.
	if r := h.nc("exec", "legacy", "--", "dig", "+time=1", "+tries=1", "+short", "@"+gateway(t, h.Host, "backend"), "db"); strings.Contains(r.Stdout, db) {
		t.Errorf("legacy asking the backend server directly got an answer:\n%s", r)
	}
	if r := h.nc("exec", "legacy", "--", "ping", "-c1", "-w5", "old"); r.Code != 0 {
		t.Errorf("ping old (link) from legacy: %s", r)
	}
	oldIP := ip("old", "bridge")
	if r := h.nc("exec", "legacy", "--", "cat", "/etc/hosts"); !strings.Contains(r.Stdout, oldIP+"\told old-host\n") {
		t.Errorf("legacy's hosts lacks the link line:\n%s", r.Stdout)
	}

	// Never on the host's other interfaces: an outside machine routed to
	// the gateway gets no answer.
	out := h.AddNetns(t, "out")
	h.Connect(t, out, "vout", "10.250.9.1/24", "10.250.9.2/24")
	if r := h.InNetns(out, "dig", "+time=1", "+tries=1", "+short", "@"+gateway(t, h.Host, "backend"), "db"); strings.Contains(r.Stdout, db) {
		t.Errorf("the outside got an answer through the host's external interface:\n%s", r)
	}
	if r := h.InNetns(out, "dig", "+time=1", "+tries=1", "+short", "@10.250.9.1", "db"); strings.Contains(r.Stdout, db) {
		t.Errorf("the host's external address answers DNS:\n%s", r)
	}

	// Idempotent: nothing to do, the server is not reloaded.
	if r := h.nc("diff", "-f", file); r.Code != 0 {
		t.Errorf("diff after apply: %s", r)
	}
}

func TestNamesLinkEnv(t *testing.T) {
	h := newNamesHost(t)
	file := h.WriteFile(t, "names.yaml", namesTopo)
	h.mustNC(t, "apply", "-f", file)
	db := addr(t, h.Host, "db", "backend")
	old := addr(t, h.Host, "old", "bridge")
	want := strings.Join([]string{
		"WEBDB_ENV_POSTGRES_DB=shop",
		"WEBDB_NAME=/web/webdb",
		"WEBDB_PORT=tcp://" + db + ":53",
		"WEBDB_PORT_53_UDP=udp://" + db + ":53",
		"WEBDB_PORT_53_UDP_ADDR=" + db,
		"WEBDB_PORT_53_UDP_PORT=53",
		"WEBDB_PORT_53_UDP_PROTO=udp",
		"WEBDB_PORT_5432_TCP=tcp://" + db + ":5432",
		"WEBDB_PORT_5432_TCP_ADDR=" + db,
		"WEBDB_PORT_5432_TCP_PORT=5432",
		"WEBDB_PORT_5432_TCP_PROTO=tcp",
	}, "\n") + "\n"
	// 53/udp is the lowest port: WEBDB_PORT names it (no tcp on 53).
	want = strings.Replace(want, "WEBDB_PORT=tcp://"+db+":53", "WEBDB_PORT=udp://"+db+":53", 1)
	if got := h.mustNC(t, "env", "web").Stdout; got != want {
		t.Errorf("netctl env web:\n%s\nwant:\n%s", got, want)
	}
	wantOld := "OLD_NAME=/legacy/old\nOLD_PORT=tcp://" + old + ":80\nOLD_PORT_80_TCP=tcp://" + old + ":80\n" +
		"OLD_PORT_80_TCP_ADDR=" + old + "\nOLD_PORT_80_TCP_PORT=80\nOLD_PORT_80_TCP_PROTO=tcp\n"
	if got := h.mustNC(t, "env", "legacy").Stdout; got != wantOld {
		t.Errorf("netctl env legacy:\n%s\nwant:\n%s", got, wantOld)
	}
	// db links nowhere: only its own env:.
	if got := h.mustNC(t, "env", "db").Stdout; got != "POSTGRES_DB=shop\n" {
		t.Errorf("netctl env db (no links) = %q, want its own env only", got)
	}
	inside := h.mustNC(t, "exec", "web", "--", "env").Stdout
	for _, line := range strings.Split(strings.TrimSpace(want), "\n") {
		if !strings.Contains(inside, line+"\n") {
			t.Errorf("exec web -- env lacks %s", line)
		}
	}
}

// A steady stream of queries from a container while files are edited and
// applied again: not one query may fail, and a new container resolves as
// soon as apply returns. db moves, and web's hosts line follows.
func TestNamesReloadUnderQueryStream(t *testing.T) {
	h := newNamesHost(t)
	// A fixed subnet, for the static address db moves to.
	topo := strings.Replace(namesTopo, "  backend: {}\n", "  backend: {subnet: 172.18.0.0/16}\n", 1)
	file := h.WriteFile(t, "names.yaml", topo)
	h.mustNC(t, "apply", "-f", file)
	pid := serverPid(t, h.Host)
	gw := gateway(t, h.Host, "backend")

	stream := startQueryStream(t, h.ContainerNetns("names", "web"), gw, "db.")
	edits := []string{
		strings.Replace(topo, "  old:\n", "  new1:\n    networks: [backend]\n  old:\n", 1),
		strings.Replace(topo, "  old:\n", "  new1:\n    networks: [backend]\n  new2:\n    networks:\n      backend:\n        aliases: [fresh]\n  old:\n", 1),
		strings.Replace(topo, "        aliases: [postgres, shared]\n", "        aliases: [postgres, shared]\n        ipv4_address: 172.18.200.9\n", 1),
	}
	for i, edit := range edits {
		h.WriteFile(t, "names.yaml", edit)
		h.mustNC(t, "apply", "-f", file)
		switch i {
		case 0:
			if got := h.lookup(t, "web", "new1"); len(got) != 1 {
				t.Errorf("new1 right after apply: %v", got)
			}
		case 1:
			if got := h.lookup(t, "db", "fresh"); len(got) != 1 {
				t.Errorf("new2's alias right after apply: %v", got)
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
	dbNow := "172.18.200.9"
	if got := addr(t, h.Host, "db", "backend"); got != dbNow {
		t.Fatalf("db at %s, want %s", got, dbNow)
	}
	if got := h.lookup(t, "web", "db"); len(got) != 1 || got[0] != dbNow {
		t.Errorf("db after its move: %v, want %s", got, dbNow)
	}
	if r := h.nc("exec", "web", "--", "cat", "/etc/hosts"); !strings.Contains(r.Stdout, dbNow+"\twebdb db database\n") {
		t.Errorf("web's hosts did not follow db to %s:\n%s", dbNow, r.Stdout)
	}
	if env := h.mustNC(t, "env", "web").Stdout; !strings.Contains(env, "WEBDB_PORT_5432_TCP_ADDR="+dbNow+"\n") {
		t.Errorf("web's env did not follow db:\n%s", env)
	}
	sent, failures := stream.stop()
	if len(failures) > 0 {
		logs, _ := exec.Command("sh", "-c", "cat "+h.Root()+"/dns/*.log").CombinedOutput()
		t.Logf("daemon log:\n%s", logs)
	}
	if len(failures) > 0 || sent < 50 {
		t.Errorf("%d queries, %d failed during reloads: %v", sent, len(failures), failures)
	}
	if serverPid(t, h.Host) != pid {
		t.Errorf("the DNS server was restarted (pid %d -> %d); it must reload in place", pid, serverPid(t, h.Host))
	}

	// down stops the server once no project needs it.
	h.mustNC(t, "down", "-f", file)
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(pid, 0) == nil && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if syscall.Kill(pid, 0) == nil {
		t.Errorf("DNS server %d still runs after down", pid)
	}
}

func serverPid(t *testing.T, h *sandbox.Host) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(h.Root(), "dns", "server.pid"))
	if err != nil {
		t.Fatalf("no DNS server pid file: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func gateway(t *testing.T, h *sandbox.Host, network string) string {
	t.Helper()
	r := h.MustNetctl(t, "inspect", network, "--format", "{{range .IPAM.Config}}{{.Gateway}}{{end}}")
	return strings.TrimSpace(r.Stdout)
}
