package integration

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netctl/netctl/internal/sandbox"
	"github.com/netctl/netctl/internal/syncbuf"
)

// unitCaps reads CapabilityBoundingSet= of a unit under packaging/systemd
// and returns it as setpriv's --bounding-set argument.
func unitCaps(t *testing.T, unit string) string {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "packaging", "systemd", unit))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapabilityBoundingSet="); ok {
			caps := []string{"-all"}
			for _, c := range strings.Fields(v) {
				caps = append(caps, "+"+strings.ToLower(strings.TrimPrefix(c, "CAP_")))
			}
			return strings.Join(caps, ",")
		}
	}
	t.Fatalf("%s has no CapabilityBoundingSet=", unit)
	return ""
}

// confined is netctl as the unit runs it: root with only the unit's
// capabilities, no new privileges.
func confined(t *testing.T, h *sandbox.Host, caps string, args ...string) []string {
	return append([]string{"nsenter", "--net=" + h.NetnsPath(), "setpriv", "--bounding-set", caps, "--inh-caps", "-all",
		"--no-new-privs", sandbox.Binary(t), "--root", h.Root()}, args...)
}

func runArgv(t *testing.T, argv []string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	return string(out), err
}

// TestUnitCapabilitiesSuffice: netctl confined to netctl-watch.service's
// capabilities wires everything the contract has (namespaces, veths,
// published ports, links through icc: false, a netns_path into /proc,
// the DNS server it starts), and the DNS server confined to
// netctl-dns.service's serves names.
func TestUnitCapabilitiesSuffice(t *testing.T) {
	h := sandbox.New(t)
	caps := unitCaps(t, "netctl-watch.service")

	// An "existing container": a process in a namespace of the sandbox's
	// own, wired through /proc/<pid>/ns/net (opening it needs
	// CAP_SYS_PTRACE: the process has more capabilities than netctl).
	procNetns := procNetns(t, h.AddNetns(t, "ext"))

	topo := `name: caps
networks:
  front: {subnet: 172.29.41.0/24}
  back: {subnet: 172.29.42.0/24, icc: false}
containers:
  web:
    networks: [front, back]
    ports: ["8080:80", "127.0.0.1::81"]
    links: ["db:database"]
  db:
    networks:
      back: {aliases: [pg]}
    expose: [5432]
  side:
    netns_path: ` + procNetns + `
    networks: [front]
`
	path := h.WriteFile(t, "caps.yaml", topo)
	if out, err := runArgv(t, confined(t, h, caps, "apply", "-f", path)); err != nil {
		t.Fatalf("confined apply: %v\n%s", err, out)
	}
	if out, err := runArgv(t, confined(t, h, caps, "ps")); err != nil || !strings.Contains(out, "side") {
		t.Errorf("confined ps: %v\n%s", err, out)
	}
	sideAddr := addr(t, h, "side", "front")
	if !h.Ping(t, "caps", "web", sideAddr) {
		t.Errorf("web cannot ping side (%s), wired through %s", sideAddr, procNetns)
	}
	serve(t, h.ContainerNetns("caps", "web"), "tcp", 80, "web")
	if got, err := request(h.NetnsPath(), "tcp", "127.0.0.1:8080", 3*time.Second); err != nil || !strings.HasPrefix(got, "web") {
		t.Errorf("published 8080: %q, %v", got, err)
	}
	db := addr(t, h, "db", "back")
	if r := h.Netctl("exec", "web", "--", "dig", "+time=2", "+tries=2", "+short", "pg"); !strings.Contains(r.Stdout, db) {
		t.Errorf("the DNS server a confined apply started does not answer pg: %s", r)
	}

	// The DNS server as netctl-dns.service runs it: the apply's supervisor
	// stops (with its server), the confined one supervises a server of
	// its own. Started before the first is gone, the confined one would
	// find the root taken and leave ("a DNS server already runs"): the
	// first stops its server before it lets go of the root, which on a
	// loaded machine took longer than the confined one took to start.
	first := lockPid(t, h, "supervisor.pid")
	if err := syscall.Kill(first, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if !exitedWithin(first, 30*time.Second) {
		t.Fatalf("the apply's DNS supervisor %d still runs 30s after SIGTERM", first)
	}
	dnsCaps := unitCaps(t, "netctl-dns.service")
	argv := confined(t, h, dnsCaps, "dns", "serve")
	server := exec.Command(argv[0], argv[1:]...)
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = server.Process.Signal(syscall.SIGTERM); _ = server.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for lockPid(t, h, "supervisor.pid") != server.Process.Pid || serverPidOr0(h) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the confined DNS supervisor did not start a server (supervisor pid %d, server pid %d)",
				lockPid(t, h, "supervisor.pid"), serverPidOr0(h))
		}
		time.Sleep(50 * time.Millisecond)
	}
	h.MustNetctl(t, "apply", "-f", path)
	if r := h.Netctl("exec", "web", "--", "dig", "+time=2", "+tries=2", "+short", "pg"); !strings.Contains(r.Stdout, db) {
		t.Errorf("the confined DNS server does not answer pg: %s", r)
	}
	// Its journal hears the containers' namespaces: web and db are not
	// read again (side, attached through /proc, always is).
	awaitReadings(t, h, path, `"reused":2,"read":1`)
	// Its files journal hears the containers' files: none is read again.
	awaitReadings(t, h, path, `"files_reused":3,"files_read":0`)
	if out, err := runArgv(t, confined(t, h, caps, "down", "-f", path)); err != nil {
		t.Errorf("confined down: %v\n%s", err, out)
	}
}

// sameFile reports whether two namespace paths are the same namespace.
func sameFile(t *testing.T, a, b string) bool {
	t.Helper()
	sa, err := os.Stat(a)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := os.Stat(b)
	if err != nil {
		t.Fatal(err)
	}
	return os.SameFile(sa, sb)
}

// netctl watch confined to its unit's capabilities hears the containers'
// namespaces (the kernel passes their announcements on only with
// CAP_NET_BROADCAST): drift inside one is repaired by its event, with no
// resync to fall back on.
func TestUnitWatchHearsContainers(t *testing.T) {
	h := sandbox.New(t)
	path := h.WriteFile(t, "cw.yaml", "name: cw\nnetworks:\n  front: {}\ncontainers:\n  web: {networks: [front]}\n")
	argv := confined(t, h, unitCaps(t, "netctl-watch.service"), "watch", "-f", path, "--resync", "0")
	watch := exec.Command(argv[0], argv[1:]...)
	var log syncbuf.Buffer
	watch.Stderr = &log
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = watch.Process.Signal(syscall.SIGTERM); _ = watch.Wait() })
	waitUntil(t, "the confined watch's first convergence", &log, func() bool {
		return strings.Contains(log.String(), `"message":"converged"`)
	})
	if strings.Contains(log.String(), "CAP_NET_BROADCAST") {
		t.Errorf("the confined watch hears only the host:\n%s", log.String())
	}
	// The announcements of its own first changes bring one more
	// reconcile: the drift must come after it, or that one repairs it.
	time.Sleep(2 * time.Second)
	if r := h.InContainer("cw", "web", "ip", "addr", "flush", "dev", "eth0"); r.Code != 0 {
		t.Fatal(r)
	}
	waitUntil(t, "the flushed address repaired", &log, func() bool { return h.Netctl("diff", "-f", path).Code == 0 })
}

// waitUntil polls ok for 15 s, and fails t with log when it never holds.
func waitUntil(t *testing.T, what string, log *syncbuf.Buffer, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); !ok(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: timed out; log:\n%s", what, log.String())
		}
	}
}
