package iptables

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"

	"github.com/netctl/netctl/model"
)

// portRules renders a published port's rules: the DNAT, the accept of the
// DNAT'd traffic (which isolation would otherwise drop when it comes from
// another network) and, for a loopback host address, the drop of remote
// traffic to it (route_localnet would otherwise let it in). Observing
// compares with portKeys.render's rendering of the same rules instead
// (TestPortKeysAsPortRules holds the two together).
func portRules(inst model.Instance, p *model.PortRule) ([]rule, error) {
	if err := checkPort(p); err != nil {
		return nil, err
	}
	chain, c := projectChain(inst, p.Project), model.InstanceComment(inst, model.EncodePortComment(p))
	hp, cp := strconv.Itoa(int(p.HostPort)), strconv.Itoa(int(p.ContainerPort))
	var dst []string
	if p.HostIP.IsValid() && !p.HostIP.IsUnspecified() {
		dst = []string{"-d", hostMatch(p.HostIP)}
	}
	dnat := append(append(dst[:len(dst):len(dst)], "-p", p.Proto), withComment(c, "-m", p.Proto, "--dport", hp,
		"-j", "DNAT", "--to-destination", netip.AddrPortFrom(p.Target, p.ContainerPort).String())...)
	accept := append([]string{"-d", hostMatch(p.Target), "-p", p.Proto, "-m", "conntrack", "--ctstate", "DNAT"},
		withComment(c, "-m", p.Proto, "--dport", cp, "-j", "ACCEPT")...)
	rules := []rule{r(tableNAT, chain, dnat...), r(tableFilter, chain, accept...)}
	if p.HostIP.IsLoopback() {
		drop := append(append(dst[:len(dst):len(dst)], "!", "-i", "lo", "-p", p.Proto), withComment(c, "-m", p.Proto, "--dport", hp, "-j", "DROP")...)
		rules = append(rules, r(tableRaw, chain, drop...))
	}
	return rules, checkAll(rules)
}

// checkPort refuses a port whose fields cannot go into its rules.
func checkPort(p *model.PortRule) error {
	if err := checkProject(p.Project, false); err != nil {
		return err
	}
	if err := checkName("container", p.Container); err != nil {
		return err
	}
	if err := checkProto(p.Proto); err != nil {
		return err
	}
	// The target says the family; the host address must be of it too.
	v6 := p.Target.Is6()
	if err := checkAddr("target", p.Target, v6); err != nil {
		return err
	}
	if p.HostIP.IsValid() {
		if err := checkAddr("host address", p.HostIP, v6); err != nil {
			return err
		}
	} else if v6 {
		return fmt.Errorf("port %s: an IPv6 port names its host address ([::] for all)", p)
	}
	if p.HostPort == 0 || p.ContainerPort == 0 {
		return fmt.Errorf("port %s: no host or container port", p)
	}
	return nil
}

// portKeys are the keys of a port's rules, as portRules renders them,
// written into one buffer that classify reuses from port to port: at a
// thousand published ports, rendering each port's rules as rule values
// only to compare them with the observed ones was a third of a reading.
type portKeys struct {
	buf  []byte
	ends []int // where each rule's key ends in buf
	// unsafe is set by a formatted word that checkAll would refuse.
	unsafe bool
}

var errUnsafePort = errors.New("refusing unsafe rule text")

// render writes the keys of portRules(inst, p)'s rules, in chain; its
// error is non-nil exactly when portRules' is.
func (k *portKeys) render(inst model.Instance, chain string, p *model.PortRule) error {
	k.buf, k.ends, k.unsafe = k.buf[:0], k.ends[:0], false
	if err := checkPort(p); err != nil {
		return err
	}
	// As checkAll, every word must be safe: the constant ones are, the
	// protocol is one of checkProto's, the rest are checked here.
	c := model.InstanceComment(inst, model.EncodePortComment(p))
	if !safeArg(c) {
		return errUnsafePort
	}
	dst := p.HostIP.IsValid() && !p.HostIP.IsUnspecified()
	k.start(tableNAT, chain)
	if dst {
		k.word("-d").host(p.HostIP)
	}
	k.word("-p").word(p.Proto).comment(c).word("-m").word(p.Proto).word("--dport").port(p.HostPort).
		word("-j").word("DNAT").word("--to-destination").addrPort(p.Target, p.ContainerPort)
	k.end()

	k.start(tableFilter, chain)
	k.word("-d").host(p.Target).word("-p").word(p.Proto).word("-m").word("conntrack").word("--ctstate").word("DNAT").
		comment(c).word("-m").word(p.Proto).word("--dport").port(p.ContainerPort).word("-j").word("ACCEPT")
	k.end()

	if p.HostIP.IsLoopback() {
		k.start(tableRaw, chain)
		if dst {
			k.word("-d").host(p.HostIP)
		}
		k.word("!").word("-i").word("lo").word("-p").word(p.Proto).comment(c).
			word("-m").word(p.Proto).word("--dport").port(p.HostPort).word("-j").word("DROP")
		k.end()
	}
	if k.unsafe {
		return errUnsafePort
	}
	return nil
}

// start begins a rule's key; each word then adds a NUL and itself (a
// port's rules all have words).
func (k *portKeys) start(table, chain string) {
	k.buf = append(append(append(k.buf, table...), 0), chain...)
}

func (k *portKeys) end() { k.ends = append(k.ends, len(k.buf)) }

func (k *portKeys) word(w string) *portKeys {
	k.buf = append(append(k.buf, 0), w...)
	return k
}

func (k *portKeys) comment(c string) *portKeys {
	return k.word("-m").word("comment").word("--comment").word(c)
}

// formatted checks the word written since from.
func (k *portKeys) formatted(from int) *portKeys {
	if !safeArg(k.buf[from:]) {
		k.unsafe = true
	}
	return k
}

func (k *portKeys) port(p uint16) *portKeys {
	k.buf = append(k.buf, 0)
	from := len(k.buf)
	k.buf = strconv.AppendUint(k.buf, uint64(p), 10)
	return k.formatted(from)
}

// host writes hostMatch(a).
func (k *portKeys) host(a netip.Addr) *portKeys {
	k.buf = append(k.buf, 0)
	from := len(k.buf)
	k.buf = netip.PrefixFrom(a, a.BitLen()).AppendTo(k.buf)
	return k.formatted(from)
}

// addrPort writes netip.AddrPortFrom(a, p).String() (a is valid).
func (k *portKeys) addrPort(a netip.Addr, p uint16) *portKeys {
	k.buf = append(k.buf, 0)
	from := len(k.buf)
	k.buf = netip.AddrPortFrom(a, p).AppendTo(k.buf)
	return k.formatted(from)
}

// match pairs the observed rules with the keys as matchRules pairs them
// with the rendered rules: damaged when a key is left unmatched, extra
// the observed rules no key matched.
func (k *portKeys) match(have []*rule) (damaged bool, extra []*rule) {
	var used [3]bool // a port renders to three rules at most
	for _, r := range have {
		n, found, from := r.keyLen(), false, 0
		for i, end := range k.ends {
			if !used[i] && end-from == n && r.hasKey(k.buf[from:end]) {
				used[i], found = true, true
				break
			}
			from = end
		}
		if !found {
			extra = append(extra, r)
		}
	}
	for i := range k.ends {
		if !used[i] {
			damaged = true
		}
	}
	return damaged, extra
}

// portLines are the observed rules of each port, by key, in the order
// they come, gathered into one array once all are known: at a thousand
// published ports, a slice per port was much of a reading's garbage.
type portLines struct {
	group map[string]int    // by port key: its index in ports
	ports []*model.PortRule // the first port read under each key
	refs  []portRef
}

type portRef struct {
	group int
	r     *rule
}

// newPortLines makes room for n rules (a port has two or three).
func newPortLines(n int) *portLines {
	return &portLines{group: make(map[string]int, n/2), ports: make([]*model.PortRule, 0, n/2), refs: make([]portRef, 0, n)}
}

// add files r under key; first is true for the key's first rule, whose
// port p stands for the key.
func (l *portLines) add(key string, p *model.PortRule, r *rule) (first bool) {
	g, ok := l.group[key]
	if !ok {
		g = len(l.ports)
		l.group[key] = g
		l.ports = append(l.ports, p)
	}
	l.refs = append(l.refs, portRef{g, r})
	return !ok
}

// each calls f with every key's port and rules, keys in the order their
// first rule came.
func (l *portLines) each(f func(p *model.PortRule, rules []*rule)) {
	start := make([]int, len(l.ports)+1)
	for _, ref := range l.refs {
		start[ref.group+1]++
	}
	for g := range l.ports {
		start[g+1] += start[g]
	}
	all := make([]*rule, len(l.refs))
	next := slices.Clone(start)
	for _, ref := range l.refs {
		all[next[ref.group]] = ref.r
		next[ref.group]++
	}
	for g, p := range l.ports {
		f(p, all[start[g]:start[g+1]:start[g+1]])
	}
}
