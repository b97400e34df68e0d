package integration

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/actuators/firewall/nftables"
	"github.com/netctl/netctl/internal/sandbox"
)

// iptables-nft: a no-op apply takes the rules from the reading saved
// under --root (no iptables-save runs) while the nf_tables generation has
// not moved; any change to the ruleset, by anyone, makes the next command
// read the rules again, so drift is still reported and repaired; and a
// reading saved in another namespace is never taken, even at the same
// generation id.
func TestSavedIptablesReading(t *testing.T) {
	t.Setenv("NETCTL_FIREWALL", "iptables")
	t.Setenv("NETCTL_IPTABLES", "nft")
	h := sandbox.New(t)
	out := outside(t, h)
	file := h.WriteFile(t, "sv.yaml", "name: sv\ncontainers:\n  web:\n    ports: [\"8080:80\"]\n")
	h.MustNetctl(t, "apply", "-f", file)
	serve(t, h.ContainerNetns("sv", "web"), "tcp", 80, "web")
	expectServed(t, "published", out, "tcp", "10.250.0.1:8080", "web")

	r := h.MustNetctl(t, "--log-level", "debug", "apply", "-f", file)
	if !strings.Contains(r.Stderr, `"saved":true`) || strings.Contains(r.Stderr, `"saved":false`) {
		t.Errorf("no-op apply did not take the saved reading:\n%s", r.Stderr)
	}
	for _, d := range []drift{
		{"flushed project chain", []string{"sh", "-c", "iptables-nft -t nat -F $(iptables-nft -t nat -S | awk '/^-N NETCTL-P-/{print $2; exit}')"}, "firewall web 0.0.0.0:8080/tcp: rules missing"},
		{"deleted FORWARD jump", []string{"iptables-nft", "-D", "FORWARD", "-m", "comment", "--comment", "netctl", "-j", "NETCTL-FORWARD"}, "jump filter FORWARD -> NETCTL-FORWARD missing"},
	} {
		// Converged, and the reading saved at the current generation.
		if r := h.Netctl("diff", "-f", file); r.Code != 0 {
			t.Fatalf("%s: not converged before the drift:\n%s", d.name, r)
		}
		d.check(t, h, file, out)
	}

	// The same saved reading, given the generation of a fresh namespace
	// whose ruleset is empty: only the namespace tells them apart.
	saved, err := os.ReadFile(filepath.Join(h.Root(), "cache", "iptables-save"))
	if err != nil {
		t.Fatal(err)
	}
	h2 := sandbox.New(t)
	ns, err := netns.GetFromPath(h2.NetnsPath())
	if err != nil {
		t.Fatal(err)
	}
	gen, err := nftables.ReadGeneration(ns)
	ns.Close()
	if err != nil {
		t.Fatal(err)
	}
	forged := regexp.MustCompile(`(?m)^genid \d+$`).ReplaceAll(saved, []byte("genid "+strconv.FormatUint(uint64(gen.ID), 10)))
	if err := os.MkdirAll(filepath.Join(h2.Root(), "cache"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h2.Root(), "cache", "iptables-save"), forged, 0o600); err != nil {
		t.Fatal(err)
	}
	file2 := h2.WriteFile(t, "sv.yaml", "name: sv\ncontainers:\n  web:\n    ports: [\"8080:80\"]\n")
	r = h2.Netctl("--log-level", "debug", "diff", "-f", file2)
	if r.Code != 2 || strings.Contains(r.Stderr, `"saved":true`) {
		t.Errorf("another namespace's reading was taken:\n%s", r)
	}
}

const handOffTopo = `name: ho
networks:
  front: {}
containers:
  web:
    networks: [front]
    ports: ["8080:80"]
`

// After its restore, an apply hands the rules' read-back to the DNS
// server's worker instead of waiting for iptables-save: it converges in
// one round, the port serves, and the next command finds the worker's
// reading of the new ruleset (saved, nothing run). Without a worker to
// take it, the apply reads the rules back itself, as before.
func TestReadBackHandedOffToTheWorker(t *testing.T) {
	h, out := iptablesNftHost(t)
	file := h.WriteFile(t, "ho.yaml", handOffTopo)
	// A first apply starts the journal with the DNS server: its
	// verification reads the containers once it runs (never ahead of it),
	// so that the readings are kept for the next command.
	r := h.MustNetctl(t, "--log-level", "debug", "apply", "-f", file)
	if strings.Count(r.Stderr, `"message":"namespace readings"`) != 1 {
		t.Errorf("the first apply's verification kept no namespace readings:\n%s", r.Stderr)
	}
	socket := filepath.Join(h.Root(), "dns", "iptables-save.sock")
	awaitFile(t, socket)

	h.WriteFile(t, "ho.yaml", handOffTopo+"  api:\n    networks: [front]\n    ports: [\"8081:80\"]\n")
	r = h.MustNetctl(t, "--log-level", "debug", "apply", "-f", file)
	if !strings.Contains(r.Stderr, "read-back handed off") || !strings.Contains(r.Stderr, `"rounds":1`) {
		t.Errorf("the add-one did not hand its read-back off, or took more than one round:\n%s", r.Stderr)
	}
	// Its verification's reading (taken beside the DNS reload) was kept.
	if strings.Count(r.Stderr, `"message":"namespace readings"`) != 2 {
		t.Errorf("the add-one's verification kept no namespace readings:\n%s", r.Stderr)
	}
	serve(t, h.ContainerNetns("ho", "api"), "tcp", 80, "api")
	expectServed(t, "published after a handed-off read-back", out, "tcp", "10.250.0.1:8081", "api")
	r = h.Netctl("--log-level", "debug", "diff", "-f", file)
	if r.Code != 0 || !strings.Contains(r.Stderr, `"saved":true`) || strings.Contains(r.Stderr, `"saved":false`) {
		t.Errorf("the next command did not take the worker's reading of the new ruleset:\n%s", r)
	}
	server, err := os.ReadFile(filepath.Join(h.Root(), "dns", "server.log"))
	if err != nil || !strings.Contains(string(server), "rules read back for the next command") {
		t.Errorf("the worker's log tells of no read-back (%v):\n%s", err, server)
	}

	// No worker answers: the apply reads back itself, and saves that.
	if err := os.Remove(socket); err != nil {
		t.Fatal(err)
	}
	h.WriteFile(t, "ho.yaml", handOffTopo)
	r = h.MustNetctl(t, "--log-level", "debug", "apply", "-f", file)
	if strings.Contains(r.Stderr, "read-back handed off") || !strings.Contains(r.Stderr, "reading them here") || !strings.Contains(r.Stderr, `"rounds":1`) {
		t.Errorf("without a worker, the apply did not read the rules back itself:\n%s", r.Stderr)
	}
	if r := h.Netctl("--log-level", "debug", "diff", "-f", file); r.Code != 0 || !strings.Contains(r.Stderr, `"saved":true`) {
		t.Errorf("the apply's own read-back was not saved:\n%s", r)
	}
}

// A command that finds the saved reading stale while the worker is
// reading the rules back waits for that reading instead of running
// iptables-save beside it; once the worker is done (here: gone without a
// reading), it reads the rules itself.
func TestStaleReadingWaitsForTheWorker(t *testing.T) {
	t.Setenv("NETCTL_FIREWALL", "iptables")
	t.Setenv("NETCTL_IPTABLES", "nft")
	h := sandbox.New(t)
	file := h.WriteFile(t, "ho.yaml", handOffTopo)
	h.MustNetctl(t, "apply", "-f", file)
	awaitFile(t, filepath.Join(h.Root(), "dns", "iptables-save.sock"))
	// The ruleset moves on: the saved reading is stale.
	if r := h.InHost("iptables-nft", "-t", "filter", "-N", "HANDMADE"); r.Code != 0 {
		t.Fatal(r)
	}
	lock, err := os.OpenFile(filepath.Join(h.Root(), "cache", "iptables-save.refreshing"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	fd := int(lock.Fd())
	if err := unix.Flock(fd, unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	const held = 400 * time.Millisecond
	released := make(chan struct{})
	go func() {
		defer close(released)
		time.Sleep(held)
		_ = unix.Flock(fd, unix.LOCK_UN)
	}()
	defer func() { <-released }()
	start := time.Now()
	r := h.Netctl("--log-level", "debug", "diff", "-f", file)
	if took := time.Since(start); r.Code != 0 || took < held || !strings.Contains(r.Stderr, "waited for the worker's reading") ||
		!strings.Contains(r.Stderr, `"saved":false`) {
		t.Errorf("diff took %v (the lock was held %v); want it to wait, then read the rules itself:\n%s", took, held, r)
	}
}

// iptablesNftHost is a sandbox host whose netctl writes iptables-nft
// rules, and the namespace outside it that reaches its published ports.
func iptablesNftHost(t *testing.T) (*sandbox.Host, string) {
	t.Helper()
	t.Setenv("NETCTL_FIREWALL", "iptables")
	t.Setenv("NETCTL_IPTABLES", "nft")
	h := sandbox.New(t)
	return h, outside(t, h)
}

func awaitFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear", path)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
