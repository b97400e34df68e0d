package integration

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/netctl/netctl/internal/sandbox"
)

// A netns_path that names the namespace netctl itself runs in (a process
// of the host namespace, or /proc/self/ns/net) would put a container's
// veth and default route on the host: apply refuses it with an error
// naming the field, before it changes anything in the kernel.
func TestNetnsPathOfTheHostIsRefused(t *testing.T) {
	h := sandbox.New(t)
	// A process of the sandbox host namespace, as a user's shell or
	// daemon of the host would be.
	sleeper := exec.Command("nsenter", "--net="+h.NetnsPath(), "sleep", "300")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() })
	procNetns := "/proc/" + itoa(sleeper.Process.Pid) + "/ns/net"
	for deadline := time.Now().Add(5 * time.Second); !sameFile(t, procNetns, h.NetnsPath()); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s never entered the sandbox namespace", procNetns)
		}
	}

	for _, path := range []string{procNetns, "/proc/self/ns/net"} {
		t.Run(strings.ReplaceAll(path, "/", "_"), func(t *testing.T) {
			file := h.WriteFile(t, "hostns.yaml", `networks:
  lan: {subnet: 172.21.7.0/24}
containers:
  peer:
    networks: [lan]
  sidecar:
    netns_path: `+path+`
    networks: [lan]
    ports: ["8080:80"]
`)
			before := h.Snapshot(t)
			rulesBefore := firewallState(t, h)
			for _, cmd := range [][]string{{"apply", "-f", file}, {"diff", "-f", file}} {
				r := h.Netctl(cmd...)
				if r.Code != 1 || !strings.Contains(r.Stderr, "hostns.yaml:") || !strings.Contains(r.Stderr, "netns_path") ||
					!strings.Contains(r.Stderr, "netctl's own network namespace") {
					t.Errorf("%s: want exit 1 and an error naming hostns.yaml:line:col and netns_path, got %s", cmd[0], r)
				}
			}
			if after := h.Snapshot(t); after != before {
				t.Errorf("refused apply changed the kernel:\n%s", diffLines(before, after))
			}
			if after := firewallState(t, h); after != rulesBefore {
				t.Errorf("refused apply changed the firewall:\n%s", diffLines(rulesBefore, after))
			}
		})
	}
}

// firewallState is the netfilter rules of the sandbox host, in the
// backend the tests run with.
func firewallState(t *testing.T, h *sandbox.Host) string {
	t.Helper()
	if sandbox.Firewall() == "iptables" {
		return iptablesState(t, h, sandbox.Iptables("iptables-save"))
	}
	r := h.InHost("nft", "list", "ruleset")
	if r.Code != 0 {
		t.Fatalf("nft list ruleset: %s", r)
	}
	return r.Stdout
}
