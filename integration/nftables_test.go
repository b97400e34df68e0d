package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/netctl/netctl/internal/sandbox"
)

// firewallRules is the text of the rules of the backend the tests run
// netctl with: iptables-save, or nft's listing of the whole ruleset.
func firewallRules(t *testing.T, h *sandbox.Host) string {
	t.Helper()
	argv := []string{sandbox.Iptables("iptables-save")}
	if sandbox.Firewall() == "nftables" {
		argv = []string{"nft", "list", "ruleset"}
	}
	r := h.InHost(argv...)
	if r.Code != 0 {
		t.Fatalf("%v: %s", argv, r)
	}
	return r.Stdout
}

// nftTable lists one nft table ("" when it does not exist).
func nftTable(h *sandbox.Host, family, name string) string {
	r := h.InHost("nft", "list", "table", family, name)
	if r.Code != 0 {
		return ""
	}
	return r.Stdout
}

// keepServing requests addr from path over and over until stopped, and
// counts the requests that got no answer from tag.
type keepServing struct {
	stop     chan struct{}
	done     sync.WaitGroup
	ok, fail atomic.Int64
}

func startServing(path, proto, addr, tag string) *keepServing {
	k := &keepServing{stop: make(chan struct{})}
	k.done.Go(func() {
		for {
			select {
			case <-k.stop:
				return
			default:
			}
			if got, err := request(path, proto, addr, 2*time.Second); err == nil && strings.HasPrefix(got, tag+" ") {
				k.ok.Add(1)
			} else {
				k.fail.Add(1)
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	return k
}

func (k *keepServing) end() (ok, fail int64) {
	close(k.stop)
	k.done.Wait()
	return k.ok.Load(), k.fail.Load()
}

// Switching the backend moves netctl's rules, both ways: the first apply
// with the other backend writes every project's objects there (the host
// ports picked for ephemeral mappings included) and removes them from the
// previous one, and a published port serves throughout.
func TestFirewallSwitchMovesRules(t *testing.T) {
	t.Setenv("NETCTL_FIREWALL", "iptables")
	h := sandbox.New(t)
	out := outside(t, h)
	a := h.WriteFile(t, "a.yaml", `name: a
networks:
  n: {}
containers:
  web:
    networks: [n]
    ports: ["8080:80", "127.0.0.1::80", "9000-9100:81"]
`)
	b := h.WriteFile(t, "b.yaml", "name: b\ncontainers:\n  app:\n    ports: [\"80\"]\n")
	h.MustNetctl(t, "apply", "-f", a)
	h.MustNetctl(t, "apply", "-f", b)
	serve(t, h.ContainerNetns("a", "web"), "tcp", 80, "a")
	serve(t, h.ContainerNetns("a", "web"), "tcp", 81, "a81")
	serve(t, h.ContainerNetns("b", "app"), "tcp", 80, "b")
	portsA := h.MustNetctl(t, "port", "web").Stdout
	portB := strings.TrimPrefix(strings.TrimSpace(h.MustNetctl(t, "port", "app", "80").Stdout), "0.0.0.0:")
	if portB == "" {
		t.Fatal("no port for b")
	}
	served := func(when string) {
		t.Helper()
		expectServed(t, when+": a 8080", out, "tcp", "10.250.0.1:8080", "a")
		expectServed(t, when+": a 9000", out, "tcp", "10.250.0.1:9000", "a81")
		expectServed(t, when+": b "+portB, out, "tcp", "10.250.0.1:"+portB, "b")
		expectServed(t, when+": a on 127.0.0.1", h.NetnsPath(), "tcp", strings.TrimSpace(grepLine(portsA, "127.0.0.1:")[len("80/tcp -> "):]), "a")
	}
	served("iptables")

	for _, step := range []struct{ backend, file, gone string }{
		{"nftables", a, "iptables"},
		{"iptables", b, "nftables"},
	} {
		k := startServing(out, "tcp", "10.250.0.1:8080", "a")
		res := h.MustNetctl(t, "--firewall", step.backend, "apply", "-f", step.file)
		ok, fail := k.end()
		if !strings.Contains(res.Stdout, step.gone+" still holds netctl's rules") {
			t.Errorf("to %s: the plan does not say it moves the rules:\n%s", step.backend, res.Stdout)
		}
		if fail > 0 || ok == 0 {
			t.Errorf("to %s: the published port failed %d of %d requests during the switch", step.backend, fail, ok+fail)
		}
		t.Setenv("NETCTL_FIREWALL", step.backend)
		served(step.backend)
		if got := h.MustNetctl(t, "port", "web").Stdout; got != portsA {
			t.Errorf("to %s: a's ports moved:\n%s\nwere\n%s", step.backend, got, portsA)
		}
		if got := strings.TrimSpace(h.MustNetctl(t, "port", "app", "80").Stdout); got != "0.0.0.0:"+portB {
			t.Errorf("to %s: b's port moved to %s, was %s", step.backend, got, portB)
		}
		for _, f := range []string{a, b} {
			if r := h.Netctl("diff", "-f", f); r.Code != 0 {
				t.Errorf("to %s: diff %s after the switch: %s", step.backend, filepath.Base(f), r)
			}
		}
		iptables := h.InHost("iptables-save").Stdout
		nft := nftTable(h, "inet", "netctl")
		switch step.gone {
		case "iptables":
			if strings.Contains(iptables, "NETCTL") || strings.Contains(iptables, "netctl") {
				t.Errorf("iptables keeps netctl's rules after the switch:\n%s", iptables)
			}
			if !strings.Contains(nft, "netctl:b:app 0.0.0.0:"+portB) {
				t.Errorf("b's port did not move to nftables:\n%s", nft)
			}
		case "nftables":
			if nft != "" {
				t.Errorf("nftables keeps netctl's table after the switch:\n%s", nft)
			}
			if !strings.Contains(iptables, "netctl:a:web 0.0.0.0:8080") {
				t.Errorf("a's port did not move to iptables:\n%s", iptables)
			}
		}
	}
}

// down of every project and prune leave the packet filter exactly as they
// found it, nft's whole ruleset and iptables' and ip6tables' alike, with
// somebody else's table and rules in place all along.
func TestNftablesDownAndPruneLeaveNothing(t *testing.T) {
	t.Setenv("NETCTL_FIREWALL", "nftables")
	h := sandbox.New(t)
	for _, cmd := range [][]string{
		{"nft", "add table inet mine"},
		{"nft", "add chain inet mine handfwd { type filter hook forward priority 0; policy accept; }"},
		{"nft", "add rule inet mine handfwd ip saddr 10.9.9.9 counter drop comment \"hand made\""},
	} {
		if r := h.InHost(cmd...); r.Code != 0 {
			t.Fatalf("%v: %s", cmd, r)
		}
	}
	state := func() string {
		var b strings.Builder
		for _, argv := range [][]string{{"nft", "list", "ruleset"}, {"iptables-save"}, {"ip6tables-save"}} {
			r := h.InHost(argv...)
			if r.Code != 0 {
				t.Fatalf("%v: %s", argv, r)
			}
			b.WriteString("## " + strings.Join(argv, " ") + "\n" + r.Stdout)
		}
		return b.String()
	}
	leaveAsFound(t, h, state, func(string) bool {
		nft := nftTable(h, "inet", "netctl")
		return strings.Contains(nft, "netctl:shop:app link db") && strings.Contains(nft, "netctl::bridge")
	})
}

// leaveAsFound applies two projects that make every kind of firewall
// object, downs both and prunes, and checks that state() reads as it did
// before; then the same with down of the last project alone, which takes
// everything when no default network is in use. applied checks state()
// while the projects are up.
func leaveAsFound(t *testing.T, h *sandbox.Host, state func() string, applied func(string) bool) {
	t.Helper()
	before := state()
	shop := h.WriteFile(t, "shop.yaml", `name: shop
networks:
  back: {icc: false}
  vault: {internal: true}
containers:
  web:
    networks: [back]
    ports: ["8080:80", "127.0.0.1::81", "5353:53/udp"]
  db:
    networks: [back, vault]
    expose: [5432]
  app:
    networks: [back]
    links: [db]
`)
	blog := h.WriteFile(t, "blog.yaml", "name: blog\ncontainers:\n  app:\n    ports: [\"8000:80\"]\n")
	h.MustNetctl(t, "apply", "-f", shop)
	h.MustNetctl(t, "apply", "-f", blog)
	if during := state(); !applied(during) {
		t.Fatalf("rules missing after apply:\n%s", during)
	}
	h.MustNetctl(t, "down", "-f", shop)
	h.MustNetctl(t, "down", "-f", blog)
	h.MustNetctl(t, "prune")
	if after := state(); after != before {
		t.Errorf("after down and prune the packet filter differs from before the first apply:\n%s", diffLines(before, after))
	}
	if r := h.MustNetctl(t, "prune"); strings.Contains(r.Stdout, "firewall") {
		t.Errorf("a second prune plans firewall work:\n%s", r.Stdout)
	}
	h.MustNetctl(t, "apply", "-f", shop)
	h.MustNetctl(t, "down", "-f", shop)
	if after := state(); after != before {
		t.Errorf("after the last project's down:\n%s", diffLines(before, after))
	}
}

// With iptables absent from PATH, auto picks nftables; asking for
// iptables there fails before anything changes.
func TestAutoWithoutIptables(t *testing.T) {
	t.Setenv("NETCTL_FIREWALL", "")
	bin := t.TempDir()
	nsenter, err := exec.LookPath("nsenter")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(nsenter, filepath.Join(bin, "nsenter")); err != nil {
		t.Fatal(err)
	}
	path := os.Getenv("PATH")
	h := sandbox.New(t)
	// netctl runs with a PATH that holds nsenter only: no iptables.
	netctl := func(args ...string) sandbox.Result {
		t.Setenv("PATH", bin)
		defer os.Setenv("PATH", path)
		return h.Netctl(args...)
	}
	out := outside(t, h)
	file := h.WriteFile(t, "auto.yaml", "name: auto\ncontainers:\n  web:\n    ports: [\"8080:80\"]\n")

	before := h.Snapshot(t)
	r := netctl("--firewall", "iptables", "apply", "-f", file)
	if r.Code == 0 || !strings.Contains(r.Stderr, "firewall backend iptables") || !strings.Contains(r.Stderr, "iptables not found") {
		t.Errorf("--firewall iptables without iptables: %s", r)
	}
	if after := h.Snapshot(t); after != before {
		t.Errorf("the failed apply changed the host:\n%s", diffLines(before, after))
	}

	if r := netctl("apply", "-f", file); r.Code != 0 {
		t.Fatalf("auto without iptables: %s", r)
	}
	serve(t, h.ContainerNetns("auto", "web"), "tcp", 80, "web")
	expectServed(t, "auto without iptables", out, "tcp", "10.250.0.1:8080", "web")
	if nft := nftTable(h, "inet", "netctl"); !strings.Contains(nft, "netctl:auto:web 0.0.0.0:8080") {
		t.Errorf("auto did not pick nftables:\n%s", nft)
	}
	if r := netctl("down", "-f", file); r.Code != 0 {
		t.Errorf("down: %s", r)
	}
}

// drift is a change somebody makes to netctl's rules by hand, and what
// diff reports of it.
type drift struct {
	name   string
	cmd    []string
	report string
}

// check makes the drift and checks that diff reports it, that apply
// repairs it and that file's published port 8080 (served by "web") answers
// out again.
func (d drift) check(t *testing.T, h *sandbox.Host, file, out string) {
	t.Helper()
	if r := h.InHost(d.cmd...); r.Code != 0 {
		t.Fatalf("%s: %s", d.name, r)
	}
	r := h.Netctl("diff", "-f", file)
	if r.Code != 2 || !strings.Contains(r.Stdout, d.report) {
		t.Errorf("%s: diff exit %d, want 2 and %q:\n%s", d.name, r.Code, d.report, r.Stdout)
	}
	h.MustNetctl(t, "apply", "-f", file)
	if r := h.Netctl("diff", "-f", file); r.Code != 0 {
		t.Errorf("%s: not repaired by apply:\n%s", d.name, r)
	}
	expectServed(t, d.name+" repaired", out, "tcp", "10.250.0.1:8080", "web")
}

// netctl only ever writes its own table: other tables (hand-made, or
// iptables-nft's with Docker's chains) survive apply and down unchanged;
// drift in netctl's table is reported by diff and repaired by apply.
func TestNftablesCoexistenceAndRepair(t *testing.T) {
	t.Setenv("NETCTL_FIREWALL", "nftables")
	h := sandbox.New(t)
	out := outside(t, h)
	for _, cmd := range [][]string{
		{"nft", "add table inet filter"},
		{"nft", "add chain inet filter input { type filter hook input priority 0; policy accept; }"},
		{"nft", "add rule inet filter input tcp dport 22 counter accept comment \"hand made\""},
		{"iptables", "-N", "DOCKER-USER"},
		{"iptables", "-A", "FORWARD", "-j", "DOCKER-USER"},
		{"iptables", "-t", "nat", "-A", "POSTROUTING", "-s", "10.8.8.0/24", "-j", "MASQUERADE"},
	} {
		if r := h.InHost(cmd...); r.Code != 0 {
			t.Fatalf("%v: %s", cmd, r)
		}
	}
	foreign := func() string {
		r := h.InHost("nft", "--stateless", "list", "ruleset")
		if r.Code != 0 {
			t.Fatalf("nft list ruleset: %s", r)
		}
		s := r.Stdout
		if i := strings.Index(s, "table inet netctl {"); i >= 0 {
			end := strings.Index(s[i:], "\n}\n")
			s = s[:i] + s[i+end+3:]
		}
		return s
	}
	before := foreign()

	file := h.WriteFile(t, "co.yaml", "name: co\ncontainers:\n  web:\n    ports: [\"8080:80\"]\n")
	h.MustNetctl(t, "apply", "-f", file)
	serve(t, h.ContainerNetns("co", "web"), "tcp", 80, "web")
	expectServed(t, "published", out, "tcp", "10.250.0.1:8080", "web")
	if got := foreign(); got != before {
		t.Errorf("apply changed other tables:\n%s", diffLines(before, got))
	}

	for _, d := range []drift{
		{"deleted table", []string{"nft", "delete table inet netctl"}, "table inet netctl missing"},
		{"flushed forward chain", []string{"nft", "flush chain inet netctl forward"}, "chain forward: rules differ"},
		{"deleted port element", []string{"nft", "delete element inet netctl ports-any { tcp . 8080 }"}, "firewall web 0.0.0.0:8080/tcp: rules missing"},
		{"stray element", []string{"nft", "add element inet netctl bridges { \"docker0\" }"}, `set bridges: element "docker0"`},
		{"flushed bridges", []string{"nft", "flush set inet netctl bridges"}, "firewall bridge (shared): rules missing"},
		{"hand-made chain", []string{"nft", "add chain inet netctl mine"}, "chain mine is not netctl's"},
	} {
		d.check(t, h, file, out)
	}

	h.MustNetctl(t, "down", "-f", file)
	h.MustNetctl(t, "prune")
	if got := foreign(); got != before {
		t.Errorf("down changed other tables:\n%s", diffLines(before, got))
	}
	if nft := nftTable(h, "inet", "netctl"); nft != "" {
		t.Errorf("netctl's table left after down and prune:\n%s", nft)
	}
}

// When another table drops forwarded traffic by default (Docker sets
// iptables' FORWARD policy to DROP), netctl's accepts cannot overrule it:
// apply says so, and once that table accepts the bridge, ports serve.
func TestNftablesWarnsOfForwardDrop(t *testing.T) {
	t.Setenv("NETCTL_FIREWALL", "nftables")
	h := sandbox.New(t)
	out := outside(t, h)
	if r := h.InHost("iptables", "-P", "FORWARD", "DROP"); r.Code != 0 {
		t.Fatal(r)
	}
	file := h.WriteFile(t, "drop.yaml", "name: drop\ncontainers:\n  web:\n    ports: [\"8080:80\"]\n")
	r := h.MustNetctl(t, "apply", "-f", file)
	if !strings.Contains(r.Stderr, "table ip filter chain FORWARD drops forwarded traffic (policy drop)") ||
		!strings.Contains(r.Stderr, "netctl0") {
		t.Errorf("apply does not warn of the FORWARD policy:\n%s", r.Stderr)
	}
	serve(t, h.ContainerNetns("drop", "web"), "tcp", 80, "web")
	expectBlocked(t, "FORWARD policy drop", out, "tcp", "10.250.0.1:8080")

	for _, dir := range []string{"-i", "-o"} {
		if r := h.InHost("iptables", "-I", "FORWARD", dir, "netctl0", "-j", "ACCEPT"); r.Code != 0 {
			t.Fatal(r)
		}
	}
	expectServed(t, "bridge accepted in FORWARD", out, "tcp", "10.250.0.1:8080", "web")
	h.WriteFile(t, "drop.yaml", "name: drop\ncontainers:\n  web:\n    ports: [\"8080:80\", \"8081:80\"]\n")
	if r := h.MustNetctl(t, "apply", "-f", file); strings.Contains(r.Stderr, "drops forwarded traffic") {
		t.Errorf("warns although FORWARD accepts the bridge:\n%s", r.Stderr)
	}
}

// watch repairs the rules within seconds when somebody removes them:
// netctl's nftables table deleted (at once: nftables reports the change,
// so this runs with the periodic resync off), or its iptables DNAT jump
// deleted (at the next resync).
func TestWatchRepairsFirewall(t *testing.T) {
	h := sandbox.New(t)
	out := outside(t, h)
	path := h.WriteFile(t, "fw.yaml", "name: fw\ncontainers:\n  web:\n    ports: [\"8080:80\"]\n")
	resync := "1s"
	if sandbox.Firewall() == "nftables" {
		resync = "0"
	}
	w := startWatch(t, h, path, "--resync", resync)
	defer w.stop()
	serve(t, h.ContainerNetns("fw", "web"), "tcp", 80, "web")
	expectServed(t, "watch", out, "tcp", "10.250.0.1:8080", "web")

	drift := []string{sandbox.Iptables("iptables"), "-t", "nat", "-D", "PREROUTING", "-m", "addrtype", "--dst-type", "LOCAL",
		"-m", "comment", "--comment", "netctl", "-j", "NETCTL"}
	if sandbox.Firewall() == "nftables" {
		drift = []string{"nft", "delete", "table", "inet", "netctl"}
	}
	if r := h.InHost(drift...); r.Code != 0 {
		t.Fatal(r)
	}
	start := time.Now()
	for {
		if got, err := request(out, "tcp", "10.250.0.1:8080", time.Second); err == nil && strings.HasPrefix(got, "web ") {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("rules not repaired within 10s (%v); log:\n%s", drift, w.p.Stderr())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("%v repaired in %s", drift, time.Since(start).Round(time.Millisecond))
}
