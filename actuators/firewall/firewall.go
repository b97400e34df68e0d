// Package firewall is netctl's packet-filter actuator, iptables backend.
//
// It observes with one iptables-save and applies each reconcile's changes
// with one iptables-restore --noflush (one transaction per table), of the
// flavour (nft or legacy) the host's iptables command uses. It only ever
// edits netctl's own chains and its own jumps from the built-in chains;
// see layout.go for the chains and rules.
package firewall

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/model"
)

// ModeEnv overrides the detected iptables flavour ("nft" or "legacy").
const ModeEnv = "NETCTL_IPTABLES"

// Firewall is the iptables backend. It keeps the last observation so that
// Apply writes only what differs from it without reading the rules again;
// every reconcile observes before it applies (under netctl's lock).
type Firewall struct {
	host netns.NsHandle
	log  zerolog.Logger
	// Mode is the iptables flavour in use: "nft" or "legacy".
	Mode    string
	save    string
	restore string
	procSys string
	procNet string

	mu         sync.Mutex
	last       *observation
	prefetched *hostReads
}

// New detects the iptables flavour. host is the host network namespace
// (conntrack entries are flushed through a netlink handle on it).
func New(host netns.NsHandle, log zerolog.Logger) (*Firewall, error) {
	mode, err := detectMode(os.Getenv(ModeEnv))
	if err != nil {
		return nil, err
	}
	f := &Firewall{host: host, log: log, Mode: mode, procSys: "/proc/sys", procNet: "/proc/thread-self/net"}
	if f.save, err = flavourTool("iptables-save", mode); err != nil {
		return nil, err
	}
	if f.restore, err = flavourTool("iptables-restore", mode); err != nil {
		return nil, err
	}
	return f, nil
}

var versionRE = regexp.MustCompile(`v[0-9]+\.[0-9]+(\.[0-9]+)?(\s+\((\w+)\))?`)

// detectMode asks the host's iptables which flavour it is, as Docker does:
// netctl's rules must live where the host's other tools look.
func detectMode(override string) (string, error) {
	switch override {
	case "nft", "legacy":
		return override, nil
	case "":
	default:
		return "", fmt.Errorf("%s=%q: want nft or legacy", ModeEnv, override)
	}
	path, err := exec.LookPath("iptables")
	if err != nil {
		return "", fmt.Errorf("iptables not found (install the iptables package): %w", err)
	}
	out, err := exec.Command(path, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w", path, err)
	}
	m := versionRE.FindStringSubmatch(string(out))
	if m == nil {
		return "", fmt.Errorf("%s --version: unexpected output %q", path, strings.TrimSpace(string(out)))
	}
	if m[3] == "nf_tables" {
		return "nft", nil
	}
	return "legacy", nil
}

// flavourTool finds iptables-save/-restore of the flavour: the
// iptables-<mode>-save name when installed, else the plain one.
func flavourTool(base, mode string) (string, error) {
	name := strings.Replace(base, "iptables-", "iptables-"+mode+"-", 1)
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	p, err := exec.LookPath(base)
	if err != nil {
		return "", fmt.Errorf("%s not found (install the iptables package): %w", base, err)
	}
	return p, nil
}

// hostReads is the part of an observation that needs nothing from the
// rest of the state: the rules, the bridge ports' hairpin mode, the
// ephemeral port range and the ports bound on the host.
type hostReads struct {
	o         *observation
	hairpins  map[string]bool
	low, high uint16
	bound     map[model.PortProto]bool
	err       error
}

func (f *Firewall) readHost(ctx context.Context) hostReads {
	var r hostReads
	if r.o, r.err = f.observe(ctx); r.err != nil {
		return r
	}
	if r.hairpins, r.err = f.hairpins(); r.err != nil {
		return r
	}
	if r.low, r.high, r.err = ephemeralRange(f.procSys); r.err != nil {
		return r
	}
	r.bound, r.err = boundPorts(f.procNet)
	return r
}

// Prefetch implements reconciler.Prefetcher: the reconciler reads the
// rules (an iptables-save exec) while it reads the namespaces, and Observe
// then uses them.
func (f *Firewall) Prefetch(ctx context.Context, _ model.Scope) {
	r := f.readHost(ctx)
	f.mu.Lock()
	f.prefetched = &r
	f.mu.Unlock()
}

// Observe implements reconciler.Firewall.
func (f *Firewall) Observe(ctx context.Context, st *model.State) error {
	f.mu.Lock()
	pre := f.prefetched
	f.prefetched = nil
	f.mu.Unlock()
	var r hostReads
	if pre != nil {
		r = *pre
	} else {
		r = f.readHost(ctx)
	}
	if r.err != nil {
		return r.err
	}
	o := r.o
	fw := o.fw
	for _, key := range []string{model.SysctlIPForward, model.SysctlBridgeNFCallV4} {
		if err := f.readSysctl(fw, key); err != nil {
			return err
		}
	}
	for _, n := range st.Networks {
		if n.Bridge != "" && checkBridge(n.Bridge) == nil {
			if err := f.readSysctl(fw, model.SysctlRouteLocalnet(n.Bridge)); err != nil {
				return err
			}
		}
	}
	for port, on := range r.hairpins {
		fw.Sysctls[model.SysctlHairpin(port)] = map[bool]string{false: "0", true: "1"}[on]
	}
	fw.EphemeralLow, fw.EphemeralHigh, fw.Bound = r.low, r.high, r.bound
	for _, p := range fw.Ports {
		if c := st.Containers[model.ContainerID(p.Project, p.Container)]; c != nil {
			c.Ports = append(c.Ports, p.Port)
		}
	}
	for _, c := range st.Containers {
		model.SortPorts(c.Ports)
	}
	st.Firewall = fw
	f.mu.Lock()
	f.last = o
	f.mu.Unlock()
	return nil
}

func (f *Firewall) readSysctl(fw *model.Firewall, key string) error {
	v, ok, err := readSysctl(f.procSys, key)
	if err != nil {
		return err
	}
	if ok {
		fw.Sysctls[key] = v
	}
	return nil
}

// observe reads every table with one iptables-save.
func (f *Firewall) observe(ctx context.Context) (*observation, error) {
	start := time.Now()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, f.save)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s: %w: %s", f.save, err, strings.TrimSpace(stderr.String()))
	}
	d, err := parseSave(stdout.String())
	if err != nil {
		return nil, err
	}
	o := classify(d)
	f.log.Debug().Str("mode", f.Mode).Int("bytes", stdout.Len()).Dur("took", time.Since(start)).Msg("firewall observed")
	return o, nil
}

// Apply implements reconciler.Firewall: one iptables-restore for the rules
// of every table the batch touches, then the conntrack flushes, then the
// sysctls (forwarding goes on only once isolation is in place).
func (f *Firewall) Apply(ctx context.Context, b *model.FirewallBatch) error {
	f.mu.Lock()
	o := f.last
	f.last = nil // whatever happens next, the rules are to be read again
	f.mu.Unlock()
	if o == nil {
		var err error
		if o, err = f.observe(ctx); err != nil {
			return err
		}
	}
	input, err := buildScript(o, b)
	if err != nil {
		return err
	}
	if input != "" {
		if err := f.runRestore(ctx, input); err != nil {
			return err
		}
	}
	if len(b.Flush) > 0 {
		if err := f.flushConntrack(b.Flush); err != nil {
			return err
		}
	}
	hairpin := map[string]bool{}
	for _, s := range b.Sysctls {
		if port, ok := model.HairpinPort(s.Key); ok {
			if err := checkBridge(port); err != nil {
				return err
			}
			hairpin[port] = s.Value == "1"
			continue
		}
		if err := writeSysctl(f.procSys, s.Key, s.Value); err != nil {
			return err
		}
	}
	start := time.Now()
	if err := f.setHairpin(hairpin); err != nil {
		return err
	}
	f.log.Debug().Int("ports", len(hairpin)).Dur("took", time.Since(start)).Msg("hairpin mode set")
	return nil
}

// restoreLineRE finds the failing line in iptables-restore's error.
var restoreLineRE = regexp.MustCompile(`line ([0-9]+) failed`)

func (f *Firewall) runRestore(ctx context.Context, input string) error {
	start := time.Now()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, f.restore, "-w", "10", "--noflush")
	cmd.Stdin = strings.NewReader(input)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if m := restoreLineRE.FindStringSubmatch(msg); m != nil {
			var n int
			fmt.Sscan(m[1], &n)
			if lines := strings.Split(input, "\n"); n >= 1 && n <= len(lines) {
				msg += fmt.Sprintf(" (line %d: %s)", n, lines[n-1])
			}
		}
		return fmt.Errorf("%s --noflush: %w: %s", f.restore, err, msg)
	}
	f.log.Debug().Int("lines", strings.Count(input, "\n")).Dur("took", time.Since(start)).Msg("firewall rules restored")
	return nil
}

// flushConntrack deletes the conntrack entries of connections to the given
// host ports, so that connectionless traffic (UDP, SCTP) that kept hitting
// an old target or the host itself is NATed afresh to the new target.
func (f *Firewall) flushConntrack(ports []model.Port) error {
	h, err := netlink.NewHandleAt(f.host, unix.NETLINK_NETFILTER)
	if err != nil {
		return fmt.Errorf("conntrack: netlink handle on the host namespace: %w", err)
	}
	defer h.Close()
	var filters []netlink.CustomConntrackFilter
	for _, p := range ports {
		filter := &netlink.ConntrackFilter{}
		proto := map[string]uint8{"tcp": unix.IPPROTO_TCP, "udp": unix.IPPROTO_UDP, "sctp": unix.IPPROTO_SCTP}[p.Proto]
		if proto == 0 {
			return fmt.Errorf("conntrack: unknown protocol %q", p.Proto)
		}
		if err := filter.AddProtocol(proto); err != nil {
			return fmt.Errorf("conntrack: %w", err)
		}
		if err := filter.AddPort(netlink.ConntrackOrigDstPort, p.HostPort); err != nil {
			return fmt.Errorf("conntrack: %w", err)
		}
		if p.HostIP.IsValid() {
			if err := filter.AddIP(netlink.ConntrackOrigDstIP, net.IP(p.HostIP.AsSlice())); err != nil {
				return fmt.Errorf("conntrack: %w", err)
			}
		}
		filters = append(filters, filter)
	}
	n, err := h.ConntrackDeleteFilters(netlink.ConntrackTable, unix.AF_INET, filters...)
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("conntrack: delete entries of %d ports: %w", len(ports), err)
	}
	f.log.Debug().Int("ports", len(ports)).Uint("entries", n).Msg("conntrack flushed")
	return nil
}

// Render shows a firewall's objects the way iptables-save would show
// netctl's part of the rules once they are in place: the fixed chains, and
// every network's, port's and link's rules. Used for golden tests and
// documentation.
func Render(fw *model.Firewall) (string, error) {
	byTable := map[string]map[string][]rule{}
	add := func(rs []rule) {
		for _, r := range rs {
			if byTable[r.table] == nil {
				byTable[r.table] = map[string][]rule{}
			}
			byTable[r.table][r.chain] = append(byTable[r.table][r.chain], r)
		}
	}
	for _, j := range baseJumps() {
		add([]rule{j.rule})
	}
	add(skeleton())
	for _, id := range sortedKeys(fw.Networks) {
		rs, err := networkRules(fw.Networks[id])
		if err != nil {
			return "", err
		}
		add(rs)
	}
	projects := map[string]bool{}
	for _, key := range sortedKeys(fw.Ports) {
		p := fw.Ports[key]
		rs, err := portRules(p)
		if err != nil {
			return "", err
		}
		add(rs)
		projects[p.Project] = true
	}
	for _, key := range sortedKeys(fw.Links) {
		l := fw.Links[key]
		rs, err := linkRules(l)
		if err != nil {
			return "", err
		}
		add(rs)
		projects[l.Project] = true
	}
	for _, p := range sortedKeys(projects) {
		for _, t := range tables {
			if len(byTable[t][projectChain(p)]) > 0 {
				add([]rule{projectJump(t, p)})
			}
		}
	}
	var b strings.Builder
	builtin := map[string][]string{
		tableRaw:    {"PREROUTING", "OUTPUT"},
		tableNAT:    {"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"},
		tableFilter: {"INPUT", "FORWARD", "OUTPUT"},
	}
	for _, t := range tables {
		b.WriteString("*" + t + "\n")
		for _, c := range builtin[t] {
			b.WriteString(":" + c + " ACCEPT [0:0]\n")
		}
		var own []string
		for c := range byTable[t] {
			if isOurChain(c) {
				own = append(own, c)
			}
		}
		for _, c := range sortedStrings(own) {
			b.WriteString(":" + c + " - [0:0]\n")
		}
		for _, c := range append(builtin[t], sortedStrings(own)...) {
			for _, r := range byTable[t][c] {
				b.WriteString("-A " + c + " " + r.spec() + "\n")
			}
		}
		b.WriteString("COMMIT\n")
	}
	return b.String(), nil
}
