package integration

import (
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netctl/netctl/internal/sandbox"
)

// The Docker guide scenario: names and isolation on the real kernel.
func TestDockerGuide(t *testing.T) {
	h := sandbox.New(t)
	file := h.WriteFile(t, "docker-guide.yaml", example(t, "docker-guide.yaml"))

	res := h.MustNetctl(t, "apply", "-f", file)
	if !strings.Contains(res.Stdout, "+ network my-net") || !strings.Contains(res.Stdout, "+ container db") {
		t.Errorf("apply output does not say what it did:\n%s", res.Stdout)
	}

	two := addr(t, h, "two", "my-net")
	one := addr(t, h, "one", "my-net")
	// db comes first in the file and takes 172.18.0.2; one and two follow.
	if one != "172.18.0.3" || two != "172.18.0.4" {
		t.Errorf("one, two = %s, %s; want 172.18.0.3, 172.18.0.4 (addresses in file order)", one, two)
	}
	// Same network: reachable, through netctl exec as a user runs it.
	if r := h.Netctl("exec", "db", "--", "ping", "-c1", "-W2", two); r.Code != 0 {
		t.Errorf("db -> two on my-net must work:\n%s", r)
	}
	// Different networks: isolated (forwarding is on: netctl's isolation rules drop it).
	web := addr(t, h, "web", "bridge")
	if h.Ping(t, "guide", "web", one) {
		t.Errorf("web (bridge) reached one (my-net): networks must be isolated")
	}
	if h.Ping(t, "guide", "one", web) {
		t.Errorf("one (my-net) reached web (bridge): networks must be isolated")
	}
	if !strings.HasPrefix(web, "172.17.") {
		t.Errorf("web = %s, want the default bridge's 172.17.0.0/16", web)
	}

	// exec passes the exit code through and shows the container's files.
	if r := h.Netctl("exec", "db", "--", "sh", "-c", "exit 7"); r.Code != 7 {
		t.Errorf("exec exit code = %d, want 7", r.Code)
	}
	hosts := h.MustNetctl(t, "exec", "one", "--", "cat", "/etc/hosts").Stdout
	if !strings.Contains(hosts, one+"\tone") {
		t.Errorf("one's /etc/hosts lacks its own line:\n%s", hosts)
	}
	if links := h.MustNetctl(t, "exec", "db", "--", "ip", "-br", "addr").Stdout; !strings.Contains(links, "eth1") {
		t.Errorf("db should have eth0 and eth1 inside:\n%s", links)
	}

	// Views.
	ls := h.MustNetctl(t, "ls").Stdout
	for _, want := range []string{"my-net", "my-bridge-network", "bridge", "172.18.0.0/16", "netctl0"} {
		if !strings.Contains(ls, want) {
			t.Errorf("ls lacks %q:\n%s", want, ls)
		}
	}
	ps := h.MustNetctl(t, "ps").Stdout
	if !strings.Contains(ps, "my-bridge-network,my-net") {
		t.Errorf("ps does not show db's two networks:\n%s", ps)
	}
	var nets []struct {
		Name string
		IPAM struct {
			Config []struct{ Subnet, Gateway string }
		}
		Containers map[string]struct{ Name, MacAddress, IPv4Address string }
	}
	if err := json.Unmarshal([]byte(h.MustNetctl(t, "inspect", "my-net").Stdout), &nets); err != nil {
		t.Fatal(err)
	}
	if len(nets) != 1 || nets[0].IPAM.Config[0].Gateway != "172.18.0.1" || len(nets[0].Containers) != 3 {
		t.Errorf("inspect my-net = %+v, want gateway 172.18.0.1 and 3 containers", nets)
	}
	for _, c := range nets[0].Containers {
		if c.Name == "two" && (c.IPv4Address != two+"/16" || !strings.HasPrefix(c.MacAddress, "02:42:ac:12:")) {
			t.Errorf("inspect my-net shows two as %+v", c)
		}
	}
	if got := h.MustNetctl(t, "inspect", "db", "--format", "{{json .NetworkSettings.Networks}}").Stdout; !strings.Contains(got, `"my-net":{`) || !strings.Contains(got, `"Gateway":"172.18.0.1"`) {
		t.Errorf("inspect --format json = %s", got)
	}

	// Idempotent: the second apply reports no changes and changes nothing.
	before := h.Snapshot(t)
	res = h.MustNetctl(t, "apply", "-f", file)
	if !strings.Contains(res.Stdout, "no changes") {
		t.Errorf("second apply:\n%s", res.Stdout)
	}
	if after := h.Snapshot(t); after != before {
		t.Errorf("second apply changed the kernel:\n%s", diffLines(before, after))
	}
	if r := h.Netctl("diff", "-f", file); r.Code != 0 {
		t.Errorf("diff after apply: exit %d, want 0\n%s", r.Code, r)
	}

	// Connect web to my-bridge-network (docker network connect).
	oneBefore := h.InContainer("guide", "one", "ip", "-d", "-j", "link").Stdout
	edited := strings.Replace(example(t, "docker-guide.yaml"), "  web: {}", "  web:\n    networks: [bridge, my-bridge-network]", 1)
	h.WriteFile(t, "docker-guide.yaml", edited)
	if r := h.Netctl("diff", "-f", file); r.Code != 2 || !strings.Contains(r.Stdout, "+ endpoint web/my-bridge-network") {
		t.Errorf("diff of the edit: exit %d, want 2 with the new endpoint\n%s", r.Code, r)
	}
	h.MustNetctl(t, "apply", "-f", file)
	db := addr(t, h, "db", "my-bridge-network")
	if !h.Ping(t, "guide", "web", db) {
		t.Errorf("web connected to my-bridge-network must reach db")
	}
	if oneAfter := h.InContainer("guide", "one", "ip", "-d", "-j", "link").Stdout; oneAfter != oneBefore {
		t.Errorf("an untouched container changed:\n%s", diffLines(oneBefore, oneAfter))
	}

	// down removes the project; the shared default bridge stays; again is fine.
	h.MustNetctl(t, "down", "-f", file)
	links := hostLinks(t, h)
	if strings.Contains(links, "br-") || strings.Contains(links, "veth") {
		t.Errorf("down left links:\n%s", links)
	}
	if !strings.Contains(links, "netctl0") {
		t.Errorf("down removed the shared default bridge:\n%s", links)
	}
	if entries, _ := os.ReadDir(h.Root() + "/netns/guide"); len(entries) != 0 {
		t.Errorf("down left namespace mounts: %v", entries)
	}
	h.MustNetctl(t, "down", "-f", file)
	h.MustNetctl(t, "prune")
	if links := hostLinks(t, h); strings.Contains(links, "netctl0") {
		t.Errorf("prune left the unused default bridge:\n%s", links)
	}
}

// Bad input is reported all at once with positions and changes nothing,
// also on a host where a project runs (apply reads the host while it
// parses the file: the read must change nothing either).
func TestValidationChangesNothing(t *testing.T) {
	h := sandbox.New(t)
	h.MustNetctl(t, "apply", "-f", h.WriteFile(t, "bad.yaml", "networks:\n  a: {subnet: 172.20.0.0/16}\ncontainers:\n  x: {networks: [a], ports: [\"8080:80\"]}\n"))
	file := h.WriteFile(t, "bad.yaml", `networks:
  a: {subnet: 172.20.0.0/16}
  b: {subnet: 172.20.5.0/24}
containers:
  x:
    networks:
      a: {ipv4_address: 172.21.0.5}
  y:
    networks: [nope]
    colour: blue
`)
	before := h.Snapshot(t)
	for _, cmd := range [][]string{{"validate"}, {"apply"}, {"diff"}} {
		r := h.Netctl(append(cmd, "-f", file)...)
		if r.Code != 1 {
			t.Errorf("%s: exit %d, want 1\n%s", cmd[0], r.Code, r)
		}
		for _, want := range []string{"bad.yaml:3:", "bad.yaml:7:", "bad.yaml:9:", "bad.yaml:10:5"} {
			if !strings.Contains(r.Stderr, want) {
				t.Errorf("%s: errors lack %s:\n%s", cmd[0], want, r.Stderr)
			}
		}
	}
	if after := h.Snapshot(t); after != before {
		t.Errorf("a refused apply changed the kernel:\n%s", diffLines(before, after))
	}
}

// A bridge with an endpoint netctl does not own is reported, not deleted,
// and everything else still converges.
func TestForeignEndpointIsNotDeleted(t *testing.T) {
	h := sandbox.New(t)
	file := h.WriteFile(t, "shop.yaml", "networks:\n  back: {subnet: 172.20.0.0/24}\ncontainers:\n  db: {networks: [back]}\n")
	h.MustNetctl(t, "apply", "-f", file)
	bridge := strings.TrimSpace(h.MustNetctl(t, "inspect", "back", "--format", "{{index .Options \"com.docker.network.bridge.name\"}}").Stdout)
	for _, c := range [][]string{{"ip", "link", "add", "handmade0", "type", "veth", "peer", "name", "handmade1"}, {"ip", "link", "set", "handmade0", "master", bridge}} {
		if r := h.InHost(c...); r.Code != 0 {
			t.Fatalf("%v: %s", c, r)
		}
	}
	r := h.Netctl("down", "-f", file)
	if r.Code != 1 || !strings.Contains(r.Stderr, "handmade0") {
		t.Errorf("down: exit %d, want 1 naming handmade0\n%s", r.Code, r)
	}
	links := hostLinks(t, h)
	if !strings.Contains(links, bridge) || !strings.Contains(links, "handmade0") {
		t.Errorf("the bridge with a foreign endpoint (or the endpoint) was deleted:\n%s", links)
	}
	if strings.Contains(links, "veth") {
		t.Errorf("db's endpoint was not removed:\n%s", links)
	}
	h.InHost("ip", "link", "del", "handmade0")
	h.MustNetctl(t, "down", "-f", file)
	if links := hostLinks(t, h); strings.Contains(links, bridge) {
		t.Errorf("second down left the bridge:\n%s", links)
	}
}

// netns_path wires an existing namespace and never deletes it; host and
// none modes work.
func TestExternalHostAndNone(t *testing.T) {
	h := sandbox.New(t)
	ext := h.AddNetns(t, "ext")
	file := h.WriteFile(t, "lab.yaml", `networks:
  lan: {subnet: 172.21.0.0/24}
containers:
  sidecar:
    netns_path: `+ext+`
    networks: [lan]
  peer:
    networks: [lan]
  quiet:
    network_mode: none
  tool:
    network_mode: host
`)
	h.MustNetctl(t, "apply", "-f", file)
	sidecar := addr(t, h, "sidecar", "lan")
	if !h.Ping(t, "lab", "peer", sidecar) {
		t.Errorf("peer must reach the external namespace's endpoint")
	}
	if out := h.MustNetctl(t, "exec", "quiet", "--", "ip", "-br", "link").Stdout; strings.Contains(out, "eth") || !strings.Contains(out, "lo") {
		t.Errorf("none mode should have loopback only:\n%s", out)
	}
	hostLo := h.InHost("ip", "-br", "link").Stdout
	if out := h.MustNetctl(t, "exec", "tool", "--", "ip", "-br", "link").Stdout; out != hostLo {
		t.Errorf("host mode should see the host's links:\n%s\nvs\n%s", out, hostLo)
	}
	h.MustNetctl(t, "down", "-f", file)
	if r := h.InNetns(ext, "ip", "-br", "link"); r.Code != 0 || strings.Contains(r.Stdout, "eth") {
		t.Errorf("external namespace after down (must exist, without our veth): %s", r)
	}
}

// diff --from needs no root and no kernel.
func TestDiffFromFilesWithoutRoot(t *testing.T) {
	// t.TempDir's parent is private to root; nobody must read the files.
	dir, err := os.MkdirTemp("", "netctl-difffrom-")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	must(t, os.Chmod(dir, 0o755))
	old := dir + "/shop.yaml"
	newer := dir + "/new/shop.yaml"
	must(t, os.WriteFile(old, []byte("networks: {back: {}}\ncontainers:\n  db: {networks: [back]}\n"), 0o644))
	must(t, os.MkdirAll(dir+"/new", 0o755))
	must(t, os.WriteFile(newer, []byte("networks: {back: {}}\ncontainers:\n  db: {networks: [back]}\n  web: {networks: [back]}\n"), 0o644))
	cmd := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sandbox.Binary(t), "--root", dir+"/nonexistent", "diff", "-f", newer, "--from", old, "-o", "json")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var ee *exec.ExitError
	if err == nil || !asExit(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("diff --from as nobody: %v, want exit 2\n%s\n%s", err, out, stderr.String())
	}
	var plan struct {
		Changes int
		Actions []struct {
			Object struct{ Kind, Name string }
		}
	}
	must(t, json.Unmarshal(out, &plan))
	if plan.Changes != 5 || plan.Actions[0].Object.Kind != "container" || plan.Actions[0].Object.Name != "web" || plan.Actions[4].Object.Kind != "dns" {
		t.Errorf("plan = %+v, want web created (container, endpoint, route, files) and its name served (dns)", plan)
	}
}

// kill -9 half way through an apply; the next apply converges with no
// leftovers and down leaves nothing behind.
func TestKilledApplyConverges(t *testing.T) {
	h := sandbox.New(t)
	var b strings.Builder
	b.WriteString("networks:\n  n1: {subnet: 172.22.0.0/16}\n  n2: {subnet: 172.23.0.0/16}\ncontainers:\n")
	for i := 0; i < 120; i++ {
		net := "n1"
		if i%2 == 1 {
			net = "n2"
		}
		b.WriteString("  c" + itoa(i) + ": {networks: [" + net + "]}\n")
	}
	file := h.WriteFile(t, "crash.yaml", b.String())
	p := h.Start("apply", "-f", file)
	time.Sleep(400 * time.Millisecond)
	_ = p.Signal(syscall.SIGKILL)
	p.Stop()
	res := h.MustNetctl(t, "apply", "-f", file)
	t.Logf("re-apply after kill: %s", lastLine(res.Stdout))
	if r := h.Netctl("diff", "-f", file); r.Code != 0 {
		t.Errorf("not converged after re-apply:\n%s", r)
	}
	if got := strings.Count(hostLinks(t, h), "veth"); got != 120 {
		t.Errorf("%d host veths, want exactly 120", got)
	}
	if !h.Ping(t, "crash", "c0", addr(t, h, "c2", "n1")) {
		t.Error("c0 cannot reach c2 after the repair")
	}
	h.MustNetctl(t, "down", "-f", file)
	if links := hostLinks(t, h); strings.Contains(links, "veth") || strings.Contains(links, "br-") {
		t.Errorf("down left links:\n%s", links)
	}
}

// examples/multi-network.yaml does what its comments say.
func TestMultiNetworkExample(t *testing.T) {
	h := sandbox.New(t)
	file := h.WriteFile(t, "multi-network.yaml", example(t, "multi-network.yaml"))
	h.MustNetctl(t, "apply", "-f", file)
	api := addr(t, h, "api", "app")
	apiData := addr(t, h, "api", "data")
	if got := addr(t, h, "proxy", "edge"); got != "172.30.0.10" {
		t.Errorf("proxy's static address = %s", got)
	}
	if a, _ := netip.ParseAddr(api); !netip.MustParsePrefix("172.30.1.128/25").Contains(a) {
		t.Errorf("api = %s, want an address of app's ip_range 172.30.1.128/25", api)
	}
	if !h.Ping(t, "tiers", "proxy", api) {
		t.Error("proxy must reach api over app")
	}
	if !h.Ping(t, "tiers", "db", apiData) {
		t.Error("db must reach api over data")
	}
	if h.Ping(t, "tiers", "proxy", "172.30.2.10") {
		t.Error("proxy must not reach db: they share no network")
	}
	if routes := h.InContainer("tiers", "db", "ip", "route").Stdout; strings.Contains(routes, "default") {
		t.Errorf("db is only on an internal network and must have no default route:\n%s", routes)
	}
	if link := h.InContainer("tiers", "api", "ip", "-o", "link", "show", "eth0").Stdout; !strings.Contains(link, "mtu 1450") {
		t.Errorf("api's eth0 on app should have mtu 1450:\n%s", link)
	}
	hosts := h.MustNetctl(t, "exec", "api", "--", "cat", "/etc/hosts").Stdout
	if !strings.Contains(hosts, "172.30.0.250\tmetrics") || !strings.Contains(hosts, "api-1") {
		t.Errorf("api's hosts lacks its hostname or extra_hosts:\n%s", hosts)
	}
	if out := h.MustNetctl(t, "exec", "tool", "--", "ip", "-br", "link").Stdout; strings.Contains(out, "eth") {
		t.Errorf("tool (none) should have loopback only:\n%s", out)
	}
	h.MustNetctl(t, "down", "-f", file)
}
