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
	argv := []string{sandbox.IptablesSave()}
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
	if nft := nftTable(h, "inet", "netctl"); !strings.Contains(nft, "netctl:shop:app link db") || !strings.Contains(nft, "netctl::bridge") {
		t.Fatalf("rules missing after apply:\n%s", nft)
	}
	h.MustNetctl(t, "down", "-f", shop)
	h.MustNetctl(t, "down", "-f", blog)
	h.MustNetctl(t, "prune")
	if after := state(); after != before {
		t.Errorf("after down and prune the packet filter differs from before the first apply:\n%s", diffLines(before, after))
	}
	// down of the last project takes the table when no default network
	// is in use.
	h.MustNetctl(t, "apply", "-f", shop)
	h.MustNetctl(t, "down", "-f", shop)
	if after := state(); after != before {
		t.Errorf("after the last project's down:\n%s", diffLines(before, after))
	}
	if r := h.MustNetctl(t, "prune"); strings.Contains(r.Stdout, "firewall") {
		t.Errorf("prune after a clean down plans firewall work:\n%s", r.Stdout)
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
