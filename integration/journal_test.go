package integration

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netctl/netctl/internal/sandbox"
)

const journalTopo = `name: jr
networks:
  front: {}
  dual: {enable_ipv6: true, subnet_v6: "fd00:29::/64"}
containers:
  web: {networks: [front]}
  db: {networks: [front]}
  six: {networks: [dual]}
`

// One-shot commands ask the DNS server's journals what the kernel announced
// since their last full reading, and which containers' files changed, and
// read again only those namespaces and files. Drift inside a container's
// namespace or in its files is still reported by diff and repaired by
// apply, a dual-stack endpoint's accept_ra (a sysctl nobody announces, read
// afresh link by link) included,
// and a journal started anew (its worker killed) makes the next command
// read every namespace.
func TestJournalKeepsDriftVisible(t *testing.T) {
	h := sandbox.New(t)
	file := h.WriteFile(t, "jr.yaml", journalTopo)
	h.MustNetctl(t, "apply", "-f", file)
	// Nothing is read again, the host included; six's accept_ra (dual
	// stack) is asked afresh.
	awaitReadings(t, h, file, `"reused":3,"read":0,"host_reused":true`)
	// Nor any container's files: the files journal heard nothing.
	awaitReadings(t, h, file, `"files_reused":3,"files_read":0`)

	dbAddr := addr(t, h, "db", "front")
	for _, d := range []struct {
		name      string
		container string
		cmd       []string
	}{
		{"address flushed", "web", []string{"ip", "addr", "flush", "dev", "eth0"}},
		{"link down", "web", []string{"ip", "link", "set", "eth0", "down"}},
		{"mtu changed", "web", []string{"ip", "link", "set", "eth0", "mtu", "1400"}},
		{"loopback down", "db", []string{"ip", "link", "set", "lo", "down"}},
		{"default route deleted", "db", []string{"ip", "route", "del", "default"}},
		{"IPv6 default route deleted", "six", []string{"ip", "-6", "route", "del", "default"}},
		{"accept_ra on", "six", []string{"sysctl", "-qw", "net.ipv6.conf.eth0.accept_ra=1"}},
		// On the host, read from the saved dumps while nothing there moves.
		{"bridges' addresses flushed", "", []string{"sh", "-c",
			"for b in $(ip -o link show type bridge | cut -d: -f2); do ip addr flush dev $b; done"}},
		{"a host end released", "", []string{"sh", "-c",
			"ip link set $(ip -o link show type veth | head -n 1 | cut -d: -f2 | cut -d@ -f1) nomaster"}},
		// The containers' files, which the files journal watches.
		{"hosts appended to", "", []string{"sh", "-c", "echo '10.9.9.9 evil' >> " + h.Root() + "/containers/jr/web/hosts"}},
		{"resolv.conf emptied", "", []string{"truncate", "-s", "0", h.Root() + "/containers/jr/db/resolv.conf"}},
	} {
		if r := h.Netctl("diff", "-f", file); r.Code != 0 {
			t.Fatalf("%s: not converged before the drift:\n%s", d.name, r)
		}
		run := h.InHost
		if d.container != "" {
			run = func(cmd ...string) sandbox.Result { return h.InContainer("jr", d.container, cmd...) }
		}
		if r := run(d.cmd...); r.Code != 0 {
			t.Fatalf("%s: %s", d.name, r)
		}
		if r := h.Netctl("diff", "-f", file); r.Code != 2 {
			t.Errorf("%s: diff exit %d, want 2 (drift reported):\n%s", d.name, r.Code, r)
		}
		h.MustNetctl(t, "apply", "-f", file)
		if r := h.Netctl("diff", "-f", file); r.Code != 0 {
			t.Errorf("%s: not repaired by apply:\n%s", d.name, r)
		}
		if !h.Ping(t, "jr", "web", dbAddr) {
			t.Errorf("%s: web no longer reaches db after the repair", d.name)
		}
	}

	// A new worker is a new journal: its first answer vouches for nothing.
	pid := lockPid(t, h, "server.pid")
	if pid <= 1 {
		t.Fatalf("no DNS server pid under %s", h.Root())
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		// diff, exit 2 while the server is down, tells how it read.
		r := h.Netctl("--log-level", "debug", "diff", "-f", file)
		if strings.Contains(r.Stderr, `"reused":0,"read":3`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no full read after the journal's worker was killed:\n%s", r.Stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
	awaitReadings(t, h, file, `"reused":3,"read":0`)
	if r := h.InContainer("jr", "web", "ip", "addr", "flush", "dev", "eth0"); r.Code != 0 {
		t.Fatal(r)
	}
	if r := h.Netctl("diff", "-f", file); r.Code != 2 {
		t.Errorf("drift after the journal's restart: diff exit %d, want 2:\n%s", r.Code, r)
	}
}

// awaitReadings runs no-op applies until one reports want for the
// namespace readings: what the kernel announces by itself for a while
// after containers are wired (carrier, operstate) makes the first ones
// read those namespaces again.
func awaitReadings(t *testing.T, h *sandbox.Host, file, want string) {
	t.Helper()
	var last string
	for i := 0; i < 20; i++ {
		r := h.MustNetctl(t, "--log-level", "debug", "apply", "-f", file)
		if strings.Contains(r.Stderr, want) {
			return
		}
		last = r.Stderr
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no apply reported %s:\n%s", want, last)
}
