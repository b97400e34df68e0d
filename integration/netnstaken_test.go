package integration

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/netctl/netctl/internal/sandbox"
)

// A netns_path that names a namespace netctl already uses would put a
// container's veth and default route on the host (the namespace netctl
// runs in: a process of the host, /proc/self/ns/net), or make two
// containers fight over one namespace's default route and names (a
// container namespace netctl owns). apply and diff refuse it with an error
// at the field, before anything changes in the kernel.
func TestTakenNetnsPathIsRefused(t *testing.T) {
	h := sandbox.New(t)
	// Another project's container, owned by netctl.
	other := h.WriteFile(t, "other.yaml", "networks: {n: {subnet: 172.21.8.0/24}}\ncontainers:\n  web: {networks: [n]}\n")
	h.MustNetctl(t, "apply", "-f", other)

	cases := []struct{ path, want string }{
		// A process of the sandbox host namespace, as a user's shell or
		// daemon of the host would be.
		{procNetns(t, h.NetnsPath()), "netctl's own network namespace"},
		{"/proc/self/ns/net", "netctl's own network namespace"},
		{h.ContainerNetns("other", "web"), "the namespace of container other/web, which netctl owns"},
		// The same through a process running in it.
		{procNetns(t, h.ContainerNetns("other", "web")), "the namespace of container other/web, which netctl owns"},
	}
	for _, tc := range cases {
		t.Run(strings.ReplaceAll(tc.path, "/", "_"), func(t *testing.T) {
			file := h.WriteFile(t, "taken.yaml", `networks:
  lan: {subnet: 172.21.7.0/24}
containers:
  peer:
    networks: [lan]
  sidecar:
    netns_path: `+tc.path+`
    networks: [lan]
    ports: ["8080:80"]
`)
			before, rulesBefore := h.Snapshot(t), firewallState(t, h)
			for _, cmd := range [][]string{{"apply", "-f", file}, {"diff", "-f", file}} {
				r := h.Netctl(cmd...)
				if r.Code != 1 || !strings.Contains(r.Stderr, "taken.yaml:7:5: container \"sidecar\": netns_path "+tc.path+" is "+tc.want) {
					t.Errorf("%s: want exit 1 and taken.yaml:7:5 naming %q, got %s", cmd[0], tc.want, r)
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

// procNetns starts a process in the network namespace at ns and returns
// its /proc/<pid>/ns/net once it is there: nsenter enters the namespace,
// then execs sleep, and until then the path names the test's own
// namespace.
func procNetns(t *testing.T, ns string) string {
	t.Helper()
	sleeper := exec.Command("nsenter", "--net="+ns, "sleep", "300")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() })
	path := "/proc/" + itoa(sleeper.Process.Pid) + "/ns/net"
	for deadline := time.Now().Add(5 * time.Second); !sameFile(t, path, ns); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s never entered %s", path, ns)
		}
	}
	return path
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
