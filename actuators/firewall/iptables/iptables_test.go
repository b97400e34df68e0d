package iptables

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netctl/netctl/internal/golden"
	"github.com/netctl/netctl/model"
)

func addr(s string) netip.Addr     { return netip.MustParseAddr(s) }
func prefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// shop is a representative topology: the shared default network, a user
// network with icc off, an internal one; every form of published port; a
// link; and a second project on the default network.
func shop() *model.Firewall {
	fw := model.NewFirewall()
	for _, n := range []*model.NetworkRules{
		{Project: "", Name: "bridge", Bridge: "netctl0", Subnet: prefix("172.17.0.0/16"), ICC: true},
		{Project: "shop", Name: "backend", Bridge: "br-backend", Subnet: prefix("172.18.0.0/16"), ICC: false},
		{Project: "shop", Name: "vault", Bridge: "br-1a2b3c4d5e6f", Subnet: prefix("172.19.0.0/16"), ICC: true, Internal: true},
		// An overlay network: its VXLAN endpoint takes only the two other
		// nodes, whose DNS queries to this node are not DNATed.
		{Project: "shop", Name: "mesh", Bridge: "br-mesh", Subnet: prefix("10.60.0.0/16"), ICC: true,
			VXLAN:   &model.VXLANFilter{VNI: 4242, Local: addr("10.250.0.1"), Port: 4789, Peers: []netip.Addr{addr("10.250.0.2"), addr("10.250.0.3")}},
			PeerDNS: &model.PeerDNS{Listen: addr("10.250.0.1"), Peers: []netip.Addr{addr("10.250.0.2"), addr("10.250.0.3")}}},
	} {
		fw.Networks[n.ID()] = n
	}
	for _, p := range []*model.PortRule{
		{Project: "shop", Container: "web", Target: addr("172.18.0.3"), Port: model.Port{HostPort: 80, ContainerPort: 5000, Proto: "tcp"}},
		{Project: "shop", Container: "web", Target: addr("172.18.0.3"), Port: model.Port{HostIP: addr("127.0.0.1"), HostPort: 8080, ContainerPort: 5000, Proto: "tcp"}},
		{Project: "shop", Container: "web", Target: addr("172.18.0.3"), Port: model.Port{HostIP: addr("10.250.0.1"), HostPort: 32768, ContainerPort: 5001, Proto: "tcp"}},
		{Project: "shop", Container: "web", Target: addr("172.18.0.3"), Port: model.Port{HostPort: 53, ContainerPort: 53, Proto: "udp"}},
		{Project: "shop", Container: "web", Target: addr("172.18.0.3"), Port: model.Port{HostPort: 9000, ContainerPort: 9000, Proto: "sctp"}},
		{Project: "blog", Container: "app", Target: addr("172.17.0.2"), Port: model.Port{HostPort: 8000, ContainerPort: 80, Proto: "tcp"}},
	} {
		fw.Ports[p.Key()] = p
	}
	l := &model.LinkRule{Project: "shop", Container: "web", Target: "db", Bridge: "br-backend",
		Src: addr("172.18.0.3"), Dst: addr("172.18.0.2"), Port: 5432, Proto: "tcp"}
	fw.Links[l.Key()] = l
	return fw
}

func TestRenderGolden(t *testing.T) {
	out, err := Render(shop())
	if err != nil {
		t.Fatal(err)
	}
	golden.File(t, filepath.Join("testdata", "shop.iptables-save"), out)

	// The smallest topology: one container on the default network,
	// `docker run -p 8080:80`.
	solo := model.NewFirewall()
	n := &model.NetworkRules{Name: "bridge", Bridge: "netctl0", Subnet: prefix("172.17.0.0/16"), ICC: true}
	solo.Networks[n.ID()] = n
	p := &model.PortRule{Project: "solo", Container: "web", Target: addr("172.17.0.2"), Port: model.Port{HostPort: 8080, ContainerPort: 80, Proto: "tcp"}}
	solo.Ports[p.Key()] = p
	if out, err = Render(solo); err != nil {
		t.Fatal(err)
	}
	golden.File(t, filepath.Join("testdata", "solo.iptables-save"), out)
}

// What Render shows is what Observe reads back: every object, none
// damaged, no stray rule, the base intact.
func TestRenderedRulesObserveAsTheirObjects(t *testing.T) {
	fw := shop()
	out, err := Render(fw)
	if err != nil {
		t.Fatal(err)
	}
	d, err := parseSave(out)
	if err != nil {
		t.Fatal(err)
	}
	o := classify(d, "", false)
	if len(o.fw.BaseMissing) > 0 {
		t.Errorf("base reported broken: %v", o.fw.BaseMissing)
	}
	if len(o.fw.Stray) > 0 {
		t.Errorf("stray rules: %v", o.fw.Stray)
	}
	for id, n := range fw.Networks {
		got := o.fw.Networks[id]
		if got == nil || !got.Equal(n) || got.Damaged || got.Project != n.Project || got.Name != n.Name {
			t.Errorf("network %s observed as %+v, want %+v", id, got, n)
		}
	}
	for key, p := range fw.Ports {
		got := o.fw.Ports[key]
		if got == nil || got.String() != p.String() || got.Container != p.Container || got.Damaged {
			t.Errorf("port %s observed as %+v, want %+v", key, got, p)
		}
	}
	for key, l := range fw.Links {
		got := o.fw.Links[key]
		if got == nil || got.String() != l.String() || got.Damaged {
			t.Errorf("link %s observed as %+v, want %+v", key, got, l)
		}
	}
	if len(o.fw.Ports) != len(fw.Ports) || len(o.fw.Networks) != len(fw.Networks) || len(o.fw.Links) != len(fw.Links) {
		t.Errorf("observed %d networks, %d ports, %d links; want %d, %d, %d", len(o.fw.Networks), len(o.fw.Ports),
			len(o.fw.Links), len(fw.Networks), len(fw.Ports), len(fw.Links))
	}
}

func batchFor(project string, fw *model.Firewall) *model.FirewallBatch {
	b := &model.FirewallBatch{Project: project, Base: true, Rewrite: true}
	for _, id := range sortedKeys(fw.Networks) {
		if n := fw.Networks[id]; n.Project == project || n.Project == "" {
			b.Networks = append(b.Networks, n)
		}
	}
	for _, k := range sortedKeys(fw.Ports) {
		if p := fw.Ports[k]; p.Project == project {
			b.Ports = append(b.Ports, p)
		}
	}
	for _, k := range sortedKeys(fw.Links) {
		if l := fw.Links[k]; l.Project == project {
			b.Links = append(b.Links, l)
		}
	}
	return b
}

// emptySave is what iptables-save shows in a fresh namespace.
const emptySave = `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
COMMIT
`

func observeText(t *testing.T, text string) *observation {
	t.Helper()
	d, err := parseSave(text)
	if err != nil {
		t.Fatal(err)
	}
	return classify(d, "", false)
}

func TestRestoreScriptFromScratchGolden(t *testing.T) {
	s, err := buildScript(observeText(t, emptySave), batchFor("shop", shop()))
	if err != nil {
		t.Fatal(err)
	}
	golden.File(t, filepath.Join("testdata", "shop-create.restore"), s)
}

// Applying the same objects again writes nothing.
func TestRestoreScriptIsEmptyWhenNothingDiffers(t *testing.T) {
	out, err := Render(shop())
	if err != nil {
		t.Fatal(err)
	}
	s, err := buildScript(observeText(t, out), batchFor("shop", shop()))
	if err != nil {
		t.Fatal(err)
	}
	if s != "" {
		t.Errorf("no-op batch wrote:\n%s", s)
	}
}

// Down of one project deletes its rules and chains and leaves the other
// project's and the shared network's alone.
func TestRestoreScriptDownGolden(t *testing.T) {
	out, err := Render(shop())
	if err != nil {
		t.Fatal(err)
	}
	o := observeText(t, out)
	b := &model.FirewallBatch{Project: "shop", Rewrite: true}
	for _, id := range []string{"shop/backend", "shop/vault"} {
		b.DropNetworks = append(b.DropNetworks, o.fw.Networks[id])
	}
	s, err := buildScript(o, b)
	if err != nil {
		t.Fatal(err)
	}
	golden.File(t, filepath.Join("testdata", "shop-down.restore"), s)
	if strings.Contains(s, "blog") || strings.Contains(s, "netctl0") {
		t.Errorf("down of shop touches blog's or the shared network's rules:\n%s", s)
	}
}

// A rule in the project's chain that is not netctl's (added by hand) is
// not deleted by its text, which may not read back as a rule a -D
// matches: the chain is rewritten instead, without it.
func TestRestoreScriptForeignRuleRewritesChain(t *testing.T) {
	out, err := Render(shop())
	if err != nil {
		t.Fatal(err)
	}
	chain := projectChain("", "shop")
	foreign := "-A " + chain + " -p tcp -m tcp --dport 7 -j DNAT --to-destination 172.18.0.7:7"
	out = strings.Replace(out, "*nat\n", "*nat\n"+foreign+"\n", 1)
	out = strings.Replace(out, "COMMIT\n", foreign+"\nCOMMIT\n", 1)
	o := observeText(t, out)
	s, err := buildScript(o, batchFor("shop", shop()))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s, ":"+chain+" - [0:0]") || strings.Contains(s, "-D "+chain) {
		t.Errorf("a foreign rule in %s is not cleared by rewriting the chain:\n%s", chain, s)
	}
}

// One changed port rewrites only its own rules, in the project's chains
// in nat and filter: a -D of the old rule and a -A of the new one each.
func TestRestoreScriptPortChange(t *testing.T) {
	out, err := Render(shop())
	if err != nil {
		t.Fatal(err)
	}
	o := observeText(t, out)
	fw := shop()
	p := fw.Ports["shop 0.0.0.0:80/tcp"]
	p.Target = addr("172.18.0.9")
	s, err := buildScript(o, batchFor("shop", fw))
	if err != nil {
		t.Fatal(err)
	}
	golden.File(t, filepath.Join("testdata", "shop-retarget.restore"), s)
	if strings.Contains(s, "*raw") || strings.Contains(s, "NETCTL-ISOLATION") {
		t.Errorf("retargeting a port rewrites more than the project's nat and filter chains:\n%s", s)
	}
}

// A flushed chain, a deleted jump, a foreign rule in a netctl chain and a
// removed port rule are all seen, and repaired by the next batch; a
// foreign rule in a built-in chain is left alone.
func TestDriftIsObservedAndRepaired(t *testing.T) {
	out, err := Render(shop())
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, l := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(l, "-A NETCTL-FORWARD "): // iptables -F NETCTL-FORWARD
		case strings.HasPrefix(l, "-A FORWARD "): // our jump deleted
		case strings.HasPrefix(l, "-A NETCTL-P-") && strings.Contains(l, "-j DNAT") && strings.Contains(l, "0.0.0.0:80->"):
		default:
			kept = append(kept, l)
		}
		if l == ":NETCTL-CT - [0:0]" {
			kept = append(kept, "-A NETCTL-CT -j ACCEPT")
		}
		if l == ":FORWARD ACCEPT [0:0]" {
			kept = append(kept, "-A FORWARD -s 10.9.9.9/32 -m comment --comment \"hand made\" -j DROP")
		}
	}
	o := observeText(t, strings.Join(kept, "\n"))
	if len(o.fw.BaseMissing) == 0 {
		t.Error("flushed NETCTL-FORWARD and deleted FORWARD jump not reported")
	}
	if p := o.fw.Ports["shop 0.0.0.0:80/tcp"]; p == nil || !p.Damaged {
		t.Errorf("port with its DNAT deleted observed as %+v, want damaged", p)
	}
	if got := o.fw.Stray[""]; len(got) != 1 || !strings.Contains(got[0], "NETCTL-CT -j ACCEPT") {
		t.Errorf("stray rules = %q, want the hand-made NETCTL-CT rule", got)
	}
	b := batchFor("shop", shop())
	b.Stray = true
	s, err := buildScript(o, b)
	if err != nil {
		t.Fatal(err)
	}
	golden.File(t, filepath.Join("testdata", "shop-repair.restore"), s)
	if strings.Contains(s, "10.9.9.9") {
		t.Errorf("repair touches a foreign rule of FORWARD:\n%s", s)
	}
}

func TestForwardJumpGoesAfterDockerUser(t *testing.T) {
	text := `*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER-USER - [0:0]
-A FORWARD -j DOCKER-USER
-A FORWARD -m comment --comment netctl -j NETCTL-FORWARD
-A FORWARD -j DOCKER-FORWARD
COMMIT
`
	if o := observeText(t, text); containsLine(o.fw.BaseMissing, "DOCKER-USER") {
		t.Errorf("jump after DOCKER-USER reported misplaced: %v", o.fw.BaseMissing)
	}
	text = strings.Replace(text, "-A FORWARD -j DOCKER-USER\n-A FORWARD -m comment --comment netctl -j NETCTL-FORWARD\n",
		"-A FORWARD -m comment --comment netctl -j NETCTL-FORWARD\n-A FORWARD -j DOCKER-USER\n", 1)
	o := observeText(t, text)
	if !containsLine(o.fw.BaseMissing, "DOCKER-USER") {
		t.Errorf("jump before DOCKER-USER not reported: %v", o.fw.BaseMissing)
	}
	s, err := buildScript(o, &model.FirewallBatch{Project: "shop", Base: true})
	if err != nil {
		t.Fatal(err)
	}
	want := "-D FORWARD -m comment --comment netctl -j NETCTL-FORWARD\n"
	if !strings.Contains(s, want) || !strings.Contains(s, "-I FORWARD 2 -m comment --comment netctl -j NETCTL-FORWARD\n") {
		t.Errorf("script does not move the jump after DOCKER-USER:\n%s", s)
	}
}

func containsLine(lines []string, sub string) bool {
	for _, l := range lines {
		if strings.Contains(l, sub) {
			return true
		}
	}
	return false
}

// Nothing from a file can break out of a rule: names are checked against
// strict patterns and every word against a whitelist.
func TestUnsafeTextIsRefused(t *testing.T) {
	bad := []*model.PortRule{
		{Project: "shop\" -j ACCEPT", Container: "web", Target: addr("172.18.0.2"), Port: model.Port{HostPort: 1, ContainerPort: 1, Proto: "tcp"}},
		{Project: "shop", Container: "web\n-A FORWARD -j ACCEPT", Target: addr("172.18.0.2"), Port: model.Port{HostPort: 1, ContainerPort: 1, Proto: "tcp"}},
		{Project: "shop", Container: "web", Target: addr("172.18.0.2"), Port: model.Port{HostPort: 1, ContainerPort: 1, Proto: "icmp"}},
		{Project: "shop", Container: "web", Target: netip.MustParseAddr("::1"), Port: model.Port{HostPort: 1, ContainerPort: 1, Proto: "tcp"}},
	}
	for _, p := range bad {
		if _, err := portRules("", p); err == nil {
			t.Errorf("portRules(%+v) accepted", p)
		}
	}
	if _, err := networkRules("", &model.NetworkRules{Project: "shop", Name: "n", Bridge: "br x", Subnet: prefix("10.0.0.0/8")}, false); err == nil {
		t.Error("bridge name with a space accepted")
	}
	if err := checkArgs([]string{"ok", "a\"b"}); err == nil {
		t.Error("quote accepted in a rule word")
	}
}

func TestSplitArgs(t *testing.T) {
	got, err := splitArgs(`-s 10.0.0.0/8 -m comment --comment "a \"quoted\" word" -j ACCEPT`)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"-s", "10.0.0.0/8", "-m", "comment", "--comment", `a "quoted" word`, "-j", "ACCEPT"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("splitArgs = %q, want %q", got, want)
	}
	if _, err := splitArgs(`--comment "open`); err == nil {
		t.Error("unterminated quote accepted")
	}
}

// splitArgsByChar is the character-at-a-time splitter splitArgs replaced:
// the two must agree on everything.
func splitArgsByChar(s string) ([]string, error) {
	var (
		args   []string
		cur    strings.Builder
		inWord bool
		quoted bool
	)
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case quoted && ch == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
		case ch == '"':
			quoted = !quoted
			inWord = true
		case !quoted && (ch == ' ' || ch == '\t'):
			if inWord {
				args = append(args, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if quoted {
		return nil, fmt.Errorf("unterminated quote in %q", s)
	}
	if inWord {
		args = append(args, cur.String())
	}
	return args, nil
}

func TestSplitArgsAgreesWithTheCharacterSplitter(t *testing.T) {
	for _, s := range []string{
		"", " ", "\t\t", "a", " a  b\tc ", `""`, `a ""`, `"" b`, `abc"def ghi"jk l`, `"a\"b" c`, `"a\\" b`,
		`-A X -m comment --comment "netctl@1a2b3c4d:shop:web 0.0.0.0:8080->172.18.0.2:80/tcp" -j DNAT`,
		`"open`, `a "b\"`, `\"a b`, `"\`, `x"y"z`, "tab\"\t\"in quotes",
	} {
		got, err := splitArgs(s)
		want, werr := splitArgsByChar(s)
		if (err == nil) != (werr == nil) || strings.Join(got, "|") != strings.Join(want, "|") || len(got) != len(want) {
			t.Errorf("%q: %q, %v; the character splitter: %q, %v", s, got, err, want, werr)
		}
	}
}
