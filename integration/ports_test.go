package integration

import (
	"encoding/json"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/netctl/netctl/internal/sandbox"
)

// outside adds the "other machine": a namespace joined to the sandbox host
// by a veth, the host at 10.250.0.1 and the machine at 10.250.0.2.
func outside(t *testing.T, h *sandbox.Host) string {
	t.Helper()
	out := h.AddNetns(t, "out")
	h.Connect(t, out, "vout", "10.250.0.1/24", "10.250.0.2/24")
	return out
}

// occupy binds a TCP port in the sandbox host, as some other program of
// the host would, until the returned function is called.
func occupy(t *testing.T, h *sandbox.Host, port string) func() {
	t.Helper()
	var ln net.Listener
	if err := inNetns(h.NetnsPath(), func() (err error) { ln, err = net.Listen("tcp4", ":"+port); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return func() { ln.Close() }
}

func sysctl(t *testing.T, h *sandbox.Host, path string) string {
	t.Helper()
	return strings.TrimSpace(h.InHost("cat", "/proc/sys/"+path).Stdout)
}

const publishTopo = `name: pub
networks:
  front: {}
  other: {}
containers:
  web:
    networks: [front]
    ports:
      - "8080:5000"
      - "127.0.0.1:8081:5000"
      - "127.0.0.1::5001"
      - "8100-8200:5002"
      - "5003"
      - "8300-8301:5004-5005"
      - "5300:5300/udp"
      - "9000:9000/sctp"
  peer:
    networks: [front]
  stranger:
    networks: [other]
`

// Every -p form serves from another machine, from the host (127.0.0.1
// included), from containers through the host's address (hairpin, the
// other network too) and from the container itself; a 127.0.0.1 binding
// is not reachable from outside; picks avoid bound ports and stay put.
func TestPublishedPorts(t *testing.T) {
	h := sandbox.New(t)
	out := outside(t, h)
	// Another program of the host holds the first port of the range and
	// the first ephemeral port: picks must skip them.
	occupy(t, h, "8100")
	releaseEphemeral := occupy(t, h, "32768")

	file := h.WriteFile(t, "pub.yaml", publishTopo)
	res := h.MustNetctl(t, "apply", "-f", file)
	for _, want := range []string{"+ firewall web 0.0.0.0:8080/tcp", "publish 0.0.0.0:8080->", "sysctl net.ipv4.ip_forward",
		"route_localnet", "+ firewall netctl chains"} {
		if !strings.Contains(res.Stdout, want) {
			t.Errorf("apply output lacks %q:\n%s", want, res.Stdout)
		}
	}

	web := h.ContainerNetns("pub", "web")
	for _, p := range []int{5000, 5001, 5002, 5003, 5004, 5005} {
		serve(t, web, "tcp", p, "web")
	}
	serve(t, web, "udp", 5300, "web")

	portOut := h.MustNetctl(t, "port", "web").Stdout
	wantPorts := "5000/tcp -> 0.0.0.0:8080\n5000/tcp -> 127.0.0.1:8081\n5001/tcp -> 127.0.0.1:32769\n5002/tcp -> 0.0.0.0:8101\n" +
		"5003/tcp -> 0.0.0.0:32770\n5004/tcp -> 0.0.0.0:8300\n5005/tcp -> 0.0.0.0:8301\n5300/udp -> 0.0.0.0:5300\n9000/sctp -> 0.0.0.0:9000\n"
	if portOut != wantPorts {
		t.Errorf("netctl port web =\n%s\nwant\n%s", portOut, wantPorts)
	}
	if got := h.MustNetctl(t, "port", "web", "5000/tcp").Stdout; got != "0.0.0.0:8080\n127.0.0.1:8081\n" {
		t.Errorf("netctl port web 5000/tcp = %q", got)
	}
	if r := h.Netctl("port", "web", "6000"); r.Code == 0 || !strings.Contains(r.Stderr, "No public port '6000/tcp'") && !strings.Contains(r.Stderr, "no public port '6000/tcp'") {
		t.Errorf("netctl port web 6000: %s", r)
	}
	if ps := h.MustNetctl(t, "ps").Stdout; !strings.Contains(ps, "0.0.0.0:8080->5000/tcp") || !strings.Contains(ps, "0.0.0.0:8300-8301->5004-5005/tcp") {
		t.Errorf("ps PORTS column:\n%s", ps)
	}
	var views []struct {
		NetworkSettings struct {
			Ports map[string][]struct{ HostIp, HostPort string }
		}
	}
	must(t, json.Unmarshal([]byte(h.MustNetctl(t, "inspect", "web").Stdout), &views))
	if b := views[0].NetworkSettings.Ports["5000/tcp"]; len(b) != 2 || b[0].HostIp != "0.0.0.0" || b[0].HostPort != "8080" {
		t.Errorf("inspect NetworkSettings.Ports = %+v", views[0].NetworkSettings.Ports)
	}

	// From another machine, through the host's address.
	for port, what := range map[string]string{"8080": "8080:5000", "8101": "8100-8200:5002", "32770": "5003", "8300": "8300-8301:5004-5005", "8301": "8300-8301:5004-5005"} {
		expectServed(t, "outside "+what, out, "tcp", "10.250.0.1:"+port, "web")
	}
	expectServed(t, "outside 5300/udp", out, "udp", "10.250.0.1:5300", "web")
	expectBlocked(t, "outside to a 127.0.0.1 binding", out, "tcp", "10.250.0.1:8081")
	expectBlocked(t, "outside to an ephemeral 127.0.0.1 binding", out, "tcp", "10.250.0.1:32769")

	// From the host itself.
	for _, a := range []string{"127.0.0.1:8080", "10.250.0.1:8080", "127.0.0.1:8081", "127.0.0.1:32769"} {
		expectServed(t, "host", h.NetnsPath(), "tcp", a, "web")
	}
	expectServed(t, "host udp", h.NetnsPath(), "udp", "127.0.0.1:5300", "web")
	expectBlocked(t, "host to 127.0.0.1 binding on another address", h.NetnsPath(), "tcp", "10.250.0.1:8081")

	// Hairpin: containers through the host's address, the publisher too.
	expectServed(t, "peer hairpin", h.ContainerNetns("pub", "peer"), "tcp", "10.250.0.1:8080", "web")
	expectServed(t, "peer hairpin udp", h.ContainerNetns("pub", "peer"), "udp", "10.250.0.1:5300", "web")
	expectServed(t, "own published port", web, "tcp", "10.250.0.1:8080", "web")
	// Another network reaches the published port through the host, not
	// the container directly.
	stranger := h.ContainerNetns("pub", "stranger")
	expectServed(t, "other network through the host", stranger, "tcp", "10.250.0.1:8080", "web")
	expectBlocked(t, "other network directly", stranger, "tcp", addr(t, h, "web", "front")+":5000")

	rules := firewallRules(t, h)
	for _, want := range map[string][]string{
		"iptables": {`-A NETCTL-P-`, `-p sctp -m comment --comment "netctl:pub:web 0.0.0.0:9000->`,
			`-d 127.0.0.1/32 ! -i lo -p tcp -m comment --comment "netctl:pub:web 127.0.0.1:8081->`},
		"nftables": {`sctp . 9000 comment "netctl:pub:web 0.0.0.0:9000->`,
			`127.0.0.1 . tcp . 8081 comment "netctl:pub:web 127.0.0.1:8081->`},
	}[sandbox.Firewall()] {
		if !strings.Contains(rules, want) {
			t.Errorf("the %s rules lack %q:\n%s", sandbox.Firewall(), want, rules)
		}
	}
	if got := sysctl(t, h, "net/ipv4/ip_forward"); got != "1" {
		t.Errorf("ip_forward = %s", got)
	}

	// Sticky: no change on re-apply, even once the skipped ports are free.
	releaseEphemeral()
	if res := h.MustNetctl(t, "apply", "-f", file); !strings.Contains(res.Stdout, "no changes") {
		t.Errorf("re-apply:\n%s", res.Stdout)
	}
	h.WriteFile(t, "pub.yaml", strings.Replace(publishTopo, `      - "5003"`, "      - \"5003\"\n      - \"5006\"", 1))
	res = h.MustNetctl(t, "apply", "-f", file)
	if !strings.Contains(res.Stdout, "+ firewall web 0.0.0.0:32768/tcp") || strings.Count(res.Stdout, "firewall web") != 1 {
		t.Errorf("adding a port: want only the new pick 32768, got:\n%s", res.Stdout)
	}
	if got := h.MustNetctl(t, "port", "web", "5003").Stdout; got != "0.0.0.0:32770\n" {
		t.Errorf("5003 moved to %q after an edit", got)
	}
	if r := h.Netctl("diff", "-f", file); r.Code != 0 {
		t.Errorf("diff after apply: %s", r)
	}

	// down removes every rule of the project; a new apply may pick anew.
	h.MustNetctl(t, "down", "-f", file)
	if rules := firewallRules(t, h); strings.Contains(rules, "netctl:pub") {
		t.Errorf("rules of the project left after down:\n%s", rules)
	}
	h.MustNetctl(t, "apply", "-f", file)
	if got := h.MustNetctl(t, "port", "web", "5000").Stdout; got != "0.0.0.0:8080\n127.0.0.1:8081\n" {
		t.Errorf("after down and apply: %q", got)
	}
}

// Containers on different networks cannot reach each other, across
// projects too; a container on both reaches both; containers reach the
// outside through masquerade, except from internal networks.
func TestIsolationAndOutbound(t *testing.T) {
	h := sandbox.New(t)
	out := outside(t, h)
	srv := serve(t, out, "tcp", 7000, "internet")

	a := h.WriteFile(t, "a.yaml", `name: a
networks:
  n1: {}
  n2: {}
  vault: {internal: true}
containers:
  one: {networks: [n1]}
  two: {networks: [n2]}
  both: {networks: [n1, n2]}
  safe: {networks: [vault]}
  legacy: {}
`)
	b := h.WriteFile(t, "b.yaml", `name: b
networks:
  n3: {}
containers:
  three: {networks: [n3]}
  old: {}
`)
	h.MustNetctl(t, "apply", "-f", a)
	h.MustNetctl(t, "apply", "-f", b)

	one, two, three := addr(t, h, "one", "n1"), addr(t, h, "two", "n2"), addr(t, h, "three", "n3")
	for _, c := range []struct {
		project, from, to string
		ok                bool
	}{
		{"a", "one", two, false}, {"a", "two", one, false},
		{"a", "one", three, false}, {"b", "three", one, false},
		{"a", "both", one, true}, {"a", "both", two, true},
		{"a", "one", addr(t, h, "both", "n1"), true},
		{"a", "legacy", addr(t, h, "old", "bridge"), true}, // the shared default network
		{"a", "legacy", one, false}, {"b", "old", two, false},
	} {
		if got := h.Ping(t, c.project, c.from, c.to); got != c.ok {
			t.Errorf("%s/%s -> %s: reached=%v, want %v", c.project, c.from, c.to, got, c.ok)
		}
	}

	// Outbound: the outside machine sees the host's address.
	expectServed(t, "one to the internet", h.ContainerNetns("a", "one"), "tcp", "10.250.0.2:7000", "internet")
	expectServed(t, "old to the internet", h.ContainerNetns("b", "old"), "tcp", "10.250.0.2:7000", "internet")
	for _, p := range srv.Peers() {
		if !strings.HasPrefix(p, "10.250.0.1:") {
			t.Errorf("the outside saw %s, want the host's address 10.250.0.1 (masquerade)", p)
		}
	}
	expectBlocked(t, "internal network to the internet", h.ContainerNetns("a", "safe"), "tcp", "10.250.0.2:7000")

	// Removing one project leaves the other's isolation in place.
	h.MustNetctl(t, "down", "-f", b)
	if h.Ping(t, "a", "one", two) {
		t.Error("after down of b, one reached two")
	}
	expectServed(t, "one to the internet after down of b", h.ContainerNetns("a", "one"), "tcp", "10.250.0.2:7000", "internet")
}

// icc: false drops traffic between containers of the network, except the
// linked container's exposed and published ports, from the linking one.
func TestICCAndLinks(t *testing.T) {
	h := sandbox.New(t)
	file := h.WriteFile(t, "icc.yaml", `name: icc
networks:
  closed: {icc: false}
containers:
  db:
    networks: [closed]
    expose: [5432]
  app:
    networks: [closed]
    links: ["db"]
  other:
    networks: [closed]
`)
	res := h.MustNetctl(t, "apply", "-f", file)
	if !strings.Contains(res.Stdout, "+ firewall app->db 5432/tcp") {
		t.Errorf("apply output lacks the link opening:\n%s", res.Stdout)
	}
	if got := sysctl(t, h, "net/bridge/bridge-nf-call-iptables"); got != "1" {
		t.Errorf("bridge-nf-call-iptables = %s, want 1", got)
	}
	db := addr(t, h, "db", "closed")
	serve(t, h.ContainerNetns("icc", "db"), "tcp", 5432, "db")
	serve(t, h.ContainerNetns("icc", "db"), "tcp", 5433, "db")
	expectServed(t, "linked port", h.ContainerNetns("icc", "app"), "tcp", db+":5432", "db")
	expectBlocked(t, "unexposed port of the linked container", h.ContainerNetns("icc", "app"), "tcp", db+":5433")
	expectBlocked(t, "unlinked container", h.ContainerNetns("icc", "other"), "tcp", db+":5432")
	if h.Ping(t, "icc", "other", db) {
		t.Error("icc: false let other ping db")
	}

	// icc back on: everything flows, and the link's rules go.
	h.WriteFile(t, "icc.yaml", strings.Replace(mustRead(t, file), "{icc: false}", "{}", 1))
	res = h.MustNetctl(t, "apply", "-f", file)
	if !strings.Contains(res.Stdout, "- firewall app->db 5432/tcp") || !strings.Contains(res.Stdout, "icc: false -> true") {
		t.Errorf("turning icc on:\n%s", res.Stdout)
	}
	expectServed(t, "icc on", h.ContainerNetns("icc", "other"), "tcp", db+":5433", "db")
}

// A UDP flow keeps hitting its conntrack entry; re-targeting the published
// port (a new address for the container) must move it at once.
func TestUDPRetargetFlushesConntrack(t *testing.T) {
	h := sandbox.New(t)
	out := outside(t, h)
	topo := `name: udp
networks:
  n: {subnet: 172.30.0.0/24}
containers:
  dns:
    networks:
      n: {ipv4_address: 172.30.0.10}
    ports: ["5353:53/udp"]
`
	file := h.WriteFile(t, "udp.yaml", topo)
	h.MustNetctl(t, "apply", "-f", file)
	serve(t, h.ContainerNetns("udp", "dns"), "udp", 53, "dns")

	// One connected socket: every datagram has the same 5-tuple, so the
	// conntrack entry never expires on its own.
	var conn net.Conn
	must(t, inNetns(out, func() (err error) { conn, err = net.Dial("udp4", "10.250.0.1:5353"); return err }))
	defer conn.Close()
	ask := func() bool {
		_ = conn.SetDeadline(time.Now().Add(200 * time.Millisecond))
		if _, err := conn.Write([]byte("q")); err != nil {
			return false
		}
		buf := make([]byte, 100)
		n, err := conn.Read(buf)
		return err == nil && strings.HasPrefix(string(buf[:n]), "dns")
	}
	ok := false
	for i := 0; i < 10 && !ok; i++ {
		ok = ask()
	}
	if !ok {
		t.Fatal("no UDP answer through the published port")
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // keep the flow going while netctl re-targets it
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				ask()
			}
		}
	}()
	h.WriteFile(t, "udp.yaml", strings.Replace(topo, "172.30.0.10", "172.30.0.20", 1))
	res := h.MustNetctl(t, "apply", "-f", file)
	close(stop)
	<-done
	if !strings.Contains(res.Stdout, "publish 0.0.0.0:5353->172.30.0.10:53/udp -> 0.0.0.0:5353->172.30.0.20:53/udp") {
		t.Errorf("apply does not show the re-target:\n%s", res.Stdout)
	}
	deadline := time.Now().Add(time.Second)
	for ok = false; !ok && time.Now().Before(deadline); {
		ok = ask()
	}
	if !ok {
		t.Errorf("UDP flow did not follow the new target within a second;\nconntrack: %s", h.InHost("conntrack", "-L", "-p", "udp").Stdout)
	}
}

// netctl only edits its own chains and jumps: foreign rules survive apply
// and down, its FORWARD jump goes after DOCKER-USER, and flushed chains,
// deleted jumps and stray rules are reported by diff and repaired by apply.
func TestCoexistenceAndRepair(t *testing.T) {
	t.Setenv("NETCTL_FIREWALL", "iptables") // TestNftablesCoexistenceAndRepair is nftables'
	h := sandbox.New(t)
	out := outside(t, h)
	for _, args := range [][]string{
		{"iptables", "-N", "DOCKER-USER"},
		{"iptables", "-A", "FORWARD", "-j", "DOCKER-USER"},
		{"iptables", "-A", "FORWARD", "-s", "10.9.9.9/32", "-m", "comment", "--comment", "hand made", "-j", "DROP"},
		{"iptables", "-t", "nat", "-A", "POSTROUTING", "-s", "10.8.8.0/24", "-j", "MASQUERADE"},
		{"iptables", "-t", "nat", "-A", "PREROUTING", "-p", "tcp", "--dport", "2222", "-j", "DNAT", "--to-destination", "10.250.0.2:22"},
	} {
		if r := h.InHost(args...); r.Code != 0 {
			t.Fatalf("%v: %s", args, r)
		}
	}
	foreign := func() []string {
		var keep []string
		for _, l := range strings.Split(h.InHost("iptables-save").Stdout, "\n") {
			if strings.HasPrefix(l, "-A ") && !strings.Contains(l, "NETCTL") && !strings.Contains(l, "netctl") {
				keep = append(keep, l)
			}
		}
		return keep
	}
	before := foreign()
	if len(before) != 4 {
		t.Fatalf("foreign rules: %q", before)
	}

	file := h.WriteFile(t, "co.yaml", "name: co\ncontainers:\n  web:\n    ports: [\"8080:80\"]\n")
	h.MustNetctl(t, "apply", "-f", file)
	serve(t, h.ContainerNetns("co", "web"), "tcp", 80, "web")
	expectServed(t, "published", out, "tcp", "10.250.0.1:8080", "web")
	fwd := h.InHost("iptables", "-S", "FORWARD").Stdout
	if u, n := strings.Index(fwd, "-j DOCKER-USER"), strings.Index(fwd, "-j NETCTL-FORWARD"); u < 0 || n < u {
		t.Errorf("FORWARD jump not after DOCKER-USER:\n%s", fwd)
	}
	if got := foreign(); strings.Join(got, "\n") != strings.Join(before, "\n") {
		t.Errorf("apply changed foreign rules:\n%s", diffLines(strings.Join(before, "\n"), strings.Join(got, "\n")))
	}

	for _, d := range []drift{
		{"flushed NETCTL-FORWARD", []string{"iptables", "-F", "NETCTL-FORWARD"}, "firewall netctl chains"},
		{"deleted FORWARD jump", []string{"iptables", "-D", "FORWARD", "-m", "comment", "--comment", "netctl", "-j", "NETCTL-FORWARD"}, "jump filter FORWARD -> NETCTL-FORWARD missing"},
		{"flushed project chain", []string{"sh", "-c", "iptables -t nat -F $(iptables -t nat -S | awk '/^-N NETCTL-P-/{print $2; exit}')"}, "firewall web 0.0.0.0:8080/tcp: rules missing"},
		{"stray rule", []string{"iptables", "-A", "NETCTL-CT", "-j", "ACCEPT"}, "-A NETCTL-CT -j ACCEPT"},
		{"flushed isolation", []string{"iptables", "-F", "NETCTL-ISOLATION-2"}, "firewall bridge (shared): rules missing"},
	} {
		d.check(t, h, file, out)
	}

	h.MustNetctl(t, "down", "-f", file)
	if got := foreign(); strings.Join(got, "\n") != strings.Join(before, "\n") {
		t.Errorf("down changed foreign rules:\n%s", diffLines(strings.Join(before, "\n"), strings.Join(got, "\n")))
	}
	if rules := h.InHost("iptables-save").Stdout; strings.Contains(rules, "netctl:co") {
		t.Errorf("rules of the project left after down:\n%s", rules)
	}
}

// Two projects publish on the shared default network; one's apply and
// down leave the other's ports serving.
func TestProjectsShareTheDefaultNetwork(t *testing.T) {
	h := sandbox.New(t)
	out := outside(t, h)
	a := h.WriteFile(t, "a.yaml", "name: a\ncontainers:\n  web:\n    ports: [\"8001:80\"]\n")
	b := h.WriteFile(t, "b.yaml", "name: b\ncontainers:\n  web:\n    ports: [\"8002:80\", \"8003\"]\n")
	h.MustNetctl(t, "apply", "-f", a)
	h.MustNetctl(t, "apply", "-f", b)
	serve(t, h.ContainerNetns("a", "web"), "tcp", 80, "a")
	serve(t, h.ContainerNetns("b", "web"), "tcp", 80, "b")
	expectServed(t, "a", out, "tcp", "10.250.0.1:8001", "a")
	expectServed(t, "b", out, "tcp", "10.250.0.1:8002", "b")

	// A fixed port another project holds is refused before any change.
	h.WriteFile(t, "a.yaml", "name: a\ncontainers:\n  web:\n    ports: [\"8001:80\", \"8002:81\"]\n")
	if r := h.Netctl("apply", "-f", a); r.Code == 0 || !strings.Contains(r.Stderr, "already published by project b") {
		t.Errorf("taking b's port: %s", r)
	}
	h.WriteFile(t, "a.yaml", "name: a\ncontainers:\n  web:\n    ports: [\"8001:80\"]\n")

	h.MustNetctl(t, "apply", "-f", a)
	h.MustNetctl(t, "down", "-f", a)
	expectServed(t, "b after a's down", out, "tcp", "10.250.0.1:8002", "b")
	if r := h.Netctl("diff", "-f", b); r.Code != 0 {
		t.Errorf("b's diff after a's down:\n%s", r)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The legacy flavour of iptables works the same (NETCTL_IPTABLES picks it
// here; on a host, netctl follows what `iptables --version` says).
func TestLegacyIptables(t *testing.T) {
	t.Setenv("NETCTL_FIREWALL", "iptables")
	t.Setenv("NETCTL_IPTABLES", "legacy")
	h := sandbox.New(t)
	out := outside(t, h)
	file := h.WriteFile(t, "leg.yaml", `name: leg
networks:
  n1: {}
  n2: {}
containers:
  web:
    networks: [n1]
    ports: ["8080:80", "127.0.0.1::81"]
  other: {networks: [n2]}
`)
	h.MustNetctl(t, "apply", "-f", file)
	serve(t, h.ContainerNetns("leg", "web"), "tcp", 80, "web")
	expectServed(t, "legacy: outside", out, "tcp", "10.250.0.1:8080", "web")
	expectServed(t, "legacy: host", h.NetnsPath(), "tcp", "127.0.0.1:8080", "web")
	if h.Ping(t, "leg", "other", addr(t, h, "web", "n1")) {
		t.Error("legacy: networks not isolated")
	}
	if rules := h.InHost("iptables-legacy-save").Stdout; !strings.Contains(rules, `--comment "netctl:leg:web 0.0.0.0:8080->`) {
		t.Errorf("legacy tables lack the rules:\n%s", rules)
	}
	if rules := h.InHost("iptables-nft-save").Stdout; strings.Contains(rules, "NETCTL") {
		t.Errorf("nft tables got rules in legacy mode:\n%s", rules)
	}
	if r := h.MustNetctl(t, "apply", "-f", file); !strings.Contains(r.Stdout, "no changes") {
		t.Errorf("legacy re-apply:\n%s", r.Stdout)
	}
	h.MustNetctl(t, "down", "-f", file)
	if rules := h.InHost("iptables-legacy-save").Stdout; strings.Contains(rules, "netctl:leg") {
		t.Errorf("legacy: rules left after down:\n%s", rules)
	}
}

// examples/ports.yaml: the Docker guide's published-port path, mysql on
// bridge2 reaching httpd on bridge1 through the host although the networks
// are isolated.
func TestDockerGuidePorts(t *testing.T) {
	h := sandbox.New(t)
	out := outside(t, h)
	file := h.WriteFile(t, "ports.yaml", example(t, "ports.yaml"))
	h.MustNetctl(t, "apply", "-f", file)
	httpd := h.ContainerNetns("ports", "httpd")
	serve(t, httpd, "tcp", 80, "httpd")
	serve(t, httpd, "udp", 53, "httpd")
	mysql := h.ContainerNetns("ports", "mysql")
	expectServed(t, "mysql -> Host:8080", mysql, "tcp", "10.250.0.1:8080", "httpd")
	expectBlocked(t, "mysql -> httpd directly", mysql, "tcp", addr(t, h, "httpd", "bridge1")+":80")
	expectServed(t, "outside -> Host:8080", out, "tcp", "10.250.0.1:8080", "httpd")
	expectServed(t, "outside -> Host:53/udp", out, "udp", "10.250.0.1:53", "httpd")
	if got := h.MustNetctl(t, "port", "httpd", "80").Stdout; got != "0.0.0.0:8080\n" {
		t.Errorf("port httpd 80 = %q", got)
	}
	serve(t, h.ContainerNetns("ports", "db"), "tcp", 5432, "db")
	expectServed(t, "api -> linked db", h.ContainerNetns("ports", "api"), "tcp", addr(t, h, "db", "private")+":5432", "db")
}
