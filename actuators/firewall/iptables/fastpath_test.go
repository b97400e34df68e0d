package iptables

import (
	"bufio"
	"fmt"
	"math/rand"
	"net/netip"
	"strings"
	"testing"

	"github.com/netctl/netctl/internal/fwtest"
	"github.com/netctl/netctl/model"
)

// The reading of a ruleset avoids rendering and allocating where it can;
// these tests hold each shortcut to the plain code it stands for.

var testAddrs = []netip.Addr{
	{}, netip.MustParseAddr("0.0.0.0"), netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("10.1.2.3"),
	netip.MustParseAddr("172.18.0.2"), netip.MustParseAddr("::"), netip.MustParseAddr("::1"),
	netip.MustParseAddr("fd00:18::2"), netip.MustParseAddr("fe80::1%eth0"), netip.MustParseAddr("::ffff:10.0.0.1"),
}

func testPorts() []*model.PortRule {
	var out []*model.PortRule
	for _, project := range []string{"shop", "", "a b"} {
		for _, host := range testAddrs {
			for _, target := range testAddrs {
				for _, proto := range []string{"tcp", "sctp", "icmp"} {
					for _, hp := range []uint16{0, 8080} {
						out = append(out, &model.PortRule{Project: project, Container: "web", Target: target,
							Port: model.Port{HostIP: host, HostPort: hp, ContainerPort: 80, Proto: proto}})
					}
				}
			}
		}
	}
	long := &model.PortRule{Project: strings.Repeat("p", 63), Container: strings.Repeat("c", 63),
		Target: netip.MustParseAddr("fd00:1111:2222:3333:4444:5555:6666:7777"),
		Port:   model.Port{HostIP: netip.MustParseAddr("fd00:1111:2222:3333:4444:5555:6666:8888"), HostPort: 65535, ContainerPort: 65535, Proto: "sctp"}}
	return append(out, long)
}

func TestEncodePortCommentAsSprintf(t *testing.T) {
	for _, p := range testPorts() {
		var want string
		if p.Target.Is6() {
			want = fmt.Sprintf("%s%s:%s %s->%s/%s", "netctl:", p.Project, p.Container,
				netip.AddrPortFrom(p.HostIP, p.HostPort), netip.AddrPortFrom(p.Target, p.ContainerPort), p.Proto)
		} else {
			hostIP := "0.0.0.0"
			if p.HostIP.IsValid() {
				hostIP = p.HostIP.String()
			}
			want = fmt.Sprintf("%s%s:%s %s:%d->%s:%d/%s", "netctl:", p.Project, p.Container,
				hostIP, p.HostPort, p.Target, p.ContainerPort, p.Proto)
		}
		if got := model.EncodePortComment(p); got != want {
			t.Errorf("EncodePortComment(%+v) = %q, want %q", p, got, want)
		}
	}
}

// portKeys renders what portRules does, and matches as compare does.
func TestPortKeysAsPortRules(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	var k portKeys
	for _, inst := range []model.Instance{"", "0a1b2c3d"} {
		for _, p := range testPorts() {
			chain := projectChain(inst, p.Project)
			want, werr := portRules(inst, p)
			err := k.render(inst, chain, p)
			if (err == nil) != (werr == nil) {
				t.Fatalf("%+v: render %v, portRules %v", p, err, werr)
			}
			if err != nil {
				continue
			}
			if len(k.ends) != len(want) {
				t.Fatalf("%+v: %d keys, %d rules", p, len(k.ends), len(want))
			}
			from := 0
			for i, end := range k.ends {
				if got := string(k.buf[from:end]); got != want[i].key() {
					t.Fatalf("%+v: key %q, want %q", p, got, want[i].key())
				}
				from = end
			}
			// Observed sets: the rules as saved, some missing, doubled,
			// changed or foreign.
			for n := 0; n < 20; n++ {
				have := observedSet(t, rng, want)
				ptrs := make([]*rule, len(have))
				for i := range have {
					ptrs[i] = &have[i]
				}
				damaged, extra := k.match(ptrs)
				wantDamaged, wantExtra := compare(want, have, nil)
				var got []rule
				for _, r := range extra {
					got = append(got, *r)
				}
				if damaged != wantDamaged || fmt.Sprint(got) != fmt.Sprint(wantExtra) {
					t.Fatalf("%+v against %v: %v %v, want %v %v", p, have, damaged, extra, wantDamaged, wantExtra)
				}
			}
		}
	}
}

// observedSet reads rules back as iptables-save would print them, then
// drops, doubles or changes some.
func observedSet(t *testing.T, rng *rand.Rand, rules []rule) []rule {
	var out []rule
	for _, r := range rules {
		switch rng.Intn(6) {
		case 0:
			continue
		case 1:
			out = append(out, parsed(t, r), parsed(t, r))
			continue
		case 2:
			r = rule{table: r.table, chain: r.chain, args: append(r.args[:len(r.args):len(r.args)], "x")}
		case 3:
			r = rule{table: tableRaw, chain: r.chain, args: r.args}
		}
		out = append(out, parsed(t, r))
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func parsed(t *testing.T, r rule) rule {
	t.Helper()
	args, err := splitArgs(r.spec())
	if err != nil {
		t.Fatal(err)
	}
	return rule{table: r.table, chain: r.chain, args: args, raw: r.spec()}
}

func TestHasKey(t *testing.T) {
	rules := []rule{
		{table: "nat", chain: "X", args: nil},
		{table: "nat", chain: "X", args: []string{""}},
		{table: "nat", chain: "X", args: []string{"a", "b"}},
		{table: "nat", chain: "X", args: []string{"a\x00b"}},
		{table: "nat\x00X", chain: "", args: []string{"a", "b"}},
		{table: "nat", chain: "X\x00a", args: []string{"b"}},
		{table: "filter", chain: "X", args: []string{"a", "b"}},
	}
	for _, a := range rules {
		for _, b := range rules {
			if got, want := a.hasKey([]byte(b.key())), a.key() == b.key(); got != want {
				t.Errorf("%q.hasKey(%q) = %v, want %v", a, b.key(), got, want)
			}
			if got, want := newRule(a.table, a.chain, a.args, "").hasKey([]byte(b.key())), a.key() == b.key(); got != want {
				t.Errorf("rendered %q.hasKey(%q) = %v, want %v", a, b.key(), got, want)
			}
		}
	}
}

// parseSaveByScanner is the parser parseSave replaced, which read the
// text through a bufio.Scanner and built every rule's key.
func parseSaveByScanner(text string) (*dump, error) {
	d := &dump{chains: map[string]map[string]bool{}, rules: map[string]map[string][]rule{}}
	table := ""
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case line == "" || line[0] == '#':
		case line[0] == '*':
			table = line[1:]
			if d.chains[table] == nil {
				d.chains[table] = map[string]bool{}
				d.rules[table] = map[string][]rule{}
			}
		case line == "COMMIT":
			table = ""
		case line[0] == ':':
			name, _, _ := strings.Cut(line[1:], " ")
			if table == "" || name == "" {
				return nil, fmt.Errorf("iptables-save line %d: chain outside a table: %q", n, line)
			}
			d.chains[table][name] = true
		case strings.HasPrefix(line, "-A "):
			if table == "" {
				return nil, fmt.Errorf("iptables-save line %d: rule outside a table: %q", n, line)
			}
			chain, raw, _ := strings.Cut(line[3:], " ")
			args, err := splitArgsByChar(raw)
			if err != nil {
				return nil, fmt.Errorf("iptables-save line %d: %w", n, err)
			}
			d.rules[table][chain] = append(d.rules[table][chain], newRule(table, chain, args, raw))
		default:
			return nil, fmt.Errorf("iptables-save line %d: unexpected %q", n, line)
		}
	}
	return d, sc.Err()
}

func TestParseSaveAsScanner(t *testing.T) {
	big, err := Render(fwtest.BigFirewall(50))
	if err != nil {
		t.Fatal(err)
	}
	texts := []string{
		"", "\n", "\r\n", "*nat\r\n:X - [0:0]\r\n-A X -j RETURN\r\nCOMMIT\r\n", "*nat\n-A X -j RETURN", "*nat\n-A X\n",
		"*nat\n-A X  -m comment --comment \"a b\"\t-j  RETURN \n", "-A X -j RETURN\n", "*nat\n:\n", "bogus\n",
		"*nat\n-A X --comment \"open\n", "*nat\n-A X a\n-A Y b\n-A X c\nCOMMIT\n*filter\n-A X d\nCOMMIT\n*nat\n-A X e\n-A Y f\nCOMMIT\n",
		"*nat\n-A X a\n*filter\n-A X b\n*nat\n-A X c\n", "-A X a\n", "*nat\n-A X a\nCOMMIT\n-A X b\n", "*filter\n-A X --comment \"a\\\"b\" \"c\"d \"\" -j ACCEPT\n", "\r", "*nat\n\n\r\n#x\r",
		"*nat\n-A X " + strings.Repeat("a", maxLine-len("-A X ")-1) + "\n-A Y\n",
		"*nat\n-A X " + strings.Repeat("a", maxLine-len("-A X ")) + "\n-A Y\n",
		"*nat\n-A X " + strings.Repeat("a", maxLine-len("-A X ")),
		"*nat\n-A X " + strings.Repeat("a", maxLine-len("-A X ")-1),
	}
	rng := rand.New(rand.NewSource(1))
	for n := 0; n < 200; n++ {
		lines := strings.Split(big, "\n")
		for k := 0; k < 3; k++ {
			i := rng.Intn(len(lines))
			switch rng.Intn(4) {
			case 0:
				lines[i] += "\r"
			case 1:
				lines[i] = strings.Replace(lines[i], " ", "\t", 1)
			case 2:
				lines[i] = strings.Replace(lines[i], `"`, ``, 1)
			case 3:
				lines[i] = strings.Replace(lines[i], `netctl`, `net\"ctl`, 1)
			}
		}
		texts = append(texts, strings.Join(lines, "\n"))
	}
	for _, text := range texts {
		got, err := parseSave(text)
		want, werr := parseSaveByScanner(text)
		short := text[:min(len(text), 80)]
		if fmt.Sprint(err) != fmt.Sprint(werr) || (got == nil) != (want == nil) {
			t.Fatalf("%q: %v, the scanner %v", short, err, werr)
		}
		if got == nil {
			continue
		}
		if fmt.Sprint(got.chains) != fmt.Sprint(want.chains) {
			t.Fatalf("%q: chains %v, want %v", short, got.chains, want.chains)
		}
		for table, chains := range want.rules {
			for chain, rules := range chains {
				have := got.rules[table][chain]
				if len(have) != len(rules) {
					t.Fatalf("%q: %s %s: %d rules, want %d", short, table, chain, len(have), len(rules))
				}
				for i := range rules {
					if have[i].key() != rules[i].key() || have[i].raw != rules[i].raw || !have[i].hasKey([]byte(rules[i].key())) {
						t.Fatalf("%q: %s %s rule %d: %q, want %q", short, table, chain, i, have[i].args, rules[i].args)
					}
				}
			}
		}
		if len(got.rules) != len(want.rules) {
			t.Fatalf("%q: %d tables, want %d", short, len(got.rules), len(want.rules))
		}
	}
}
