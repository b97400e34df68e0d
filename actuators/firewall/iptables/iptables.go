// Package iptables is netctl's iptables firewall backend
// (firewall.Backend): it renders netctl's packet-filter objects
// (model.Firewall) as iptables rules in chains of its own (ip6tables for
// IPv6, the same layout), observes them with one iptables-save and one
// ip6tables-save, and applies each reconcile's changes with one
// iptables-restore --noflush (one transaction per table) for each family
// that changes, of the flavour (nft or legacy) the host's iptables command
// uses.
//
// It only ever edits netctl's own chains and its own jumps from the
// built-in chains. The files follow the objects: base.go (the fixed chains
// and jumps), network.go, port.go and link.go (each object's rules),
// cleanup.go (the teardown once no project is left); parse.go and
// observe.go read iptables-save back into objects, restore.go writes the
// restore input, rule.go is the rule text itself.
package iptables

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/netctl/netctl/internal/command"
	"github.com/netctl/netctl/model"
)

// Name is the backend's name.
const Name = "iptables"

// Config is what the backend needs from its caller.
type Config struct {
	// Mode is the iptables flavour, "nft" or "legacy"; "" asks the host's
	// iptables command, as Docker does.
	Mode string
	// Instance is the netctl instance (--root) whose rules the backend
	// writes and reads back; other instances' are left alone.
	Instance model.Instance
	// CommandTimeout bounds each iptables-save and iptables-restore
	// (DefaultCommandTimeout when 0).
	CommandTimeout time.Duration
	// Generation, when set, reads the nf_tables ruleset's generation;
	// with CacheRoot (--root) set too, the nft flavour keeps its last
	// reading there and reuses it while the generation stays
	// (savecache.go).
	Generation func() (Generation, error)
	CacheRoot  string
	// RefreshSocket is where the DNS server's worker takes the read-back
	// after a restore (refresh.go); "" for none.
	RefreshSocket string
	Log           zerolog.Logger
}

// DefaultCommandTimeout bounds one iptables-save or iptables-restore: far
// above what ten thousand rules take (about a second) and the 10 s the
// restore waits for the xtables lock, far below forever.
const DefaultCommandTimeout = 60 * time.Second

// Backend is the iptables backend. It holds no state between calls: what
// Observe read travels to Apply in the batch (model.FirewallBatch.Observed).
// Its only memory across commands is the saved reading under --root,
// taken only while the ruleset's generation proves it current
// (savecache.go).
type Backend struct {
	log zerolog.Logger
	// mode is the iptables flavour in use: "nft" or "legacy".
	mode string
	// The tools of each family: iptables-save/-restore and their ip6tables
	// twins.
	save, restore   string
	save6, restore6 string
	timeout         time.Duration // of each command; 0: DefaultCommandTimeout
	inst            model.Instance
	generation      func() (Generation, error)
	cacheRoot       string
	refreshSocket   string
}

func (b *Backend) commandTimeout() time.Duration {
	if b.timeout > 0 {
		return b.timeout
	}
	return DefaultCommandTimeout
}

// New finds the iptables tools of the flavour in use.
func New(cfg Config) (*Backend, error) {
	mode, err := detectMode(cfg.Mode)
	if err != nil {
		return nil, err
	}
	b := &Backend{log: cfg.Log, mode: mode, timeout: cfg.CommandTimeout, inst: cfg.Instance,
		generation: cfg.Generation, cacheRoot: cfg.CacheRoot, refreshSocket: cfg.RefreshSocket}
	if b.save, err = flavourTool("iptables-save", mode); err != nil {
		return nil, err
	}
	if b.restore, err = flavourTool("iptables-restore", mode); err != nil {
		return nil, err
	}
	if b.save6, err = flavourTool("ip6tables-save", mode); err != nil {
		return nil, err
	}
	if b.restore6, err = flavourTool("ip6tables-restore", mode); err != nil {
		return nil, err
	}
	return b, nil
}

// Name implements firewall.Backend.
func (b *Backend) Name() string { return Name }

// Mode is the iptables flavour in use: "nft" or "legacy".
func (b *Backend) Mode() string { return b.mode }

var versionRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`v[0-9]+\.[0-9]+(\.[0-9]+)?(\s+\((\w+)\))?`) })

// detectMode asks the host's iptables which flavour it is, as Docker does:
// netctl's rules must live where the host's other tools look.
func detectMode(override string) (string, error) {
	switch override {
	case "nft", "legacy":
		return override, nil
	case "":
	default:
		return "", fmt.Errorf("iptables flavour %q: want nft or legacy", override)
	}
	path, err := exec.LookPath("iptables")
	if err != nil {
		return "", fmt.Errorf("iptables not found (install the iptables package): %w", err)
	}
	if mode := modeOfBinary(path); mode != "" {
		return mode, nil
	}
	out, err := command.Run(context.Background(), DefaultCommandTimeout, "", path, "--version")
	if err != nil {
		return "", fmt.Errorf("--version: %w", err)
	}
	m := versionRE().FindStringSubmatch(string(out))
	if m == nil {
		return "", fmt.Errorf("%s --version: unexpected output %q", path, strings.TrimSpace(string(out)))
	}
	if m[3] == "nf_tables" {
		return "nft", nil
	}
	return "legacy", nil
}

// modeOfBinary tells the flavour from the program the iptables command
// is (through the alternatives' links): iptables 1.8 ships both as one
// multi-call binary each, xtables-nft-multi and xtables-legacy-multi,
// and each prints its own flavour in --version. Knowing it spares every
// command a process (~4 ms of wall time); "" for anything else, which
// --version then decides.
func modeOfBinary(path string) string {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return ""
	}
	return multiBinaryMode[filepath.Base(real)]
}

var multiBinaryMode = map[string]string{"xtables-nft-multi": "nft", "xtables-legacy-multi": "legacy"}

// flavourTool finds iptables-save/-restore (or ip6tables-...) of the
// flavour: the iptables-<mode>-save name when installed, else the plain one.
func flavourTool(base, mode string) (string, error) {
	name := strings.Replace(base, "tables-", "tables-"+mode+"-", 1)
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	p, err := exec.LookPath(base)
	if err != nil {
		return "", fmt.Errorf("%s not found (install the iptables package): %w", base, err)
	}
	return p, nil
}

// Observe implements firewall.Backend: one iptables-save and one
// ip6tables-save (side by side), sorted into netctl's objects. The two
// observations are the snapshot Apply gets back.
func (b *Backend) Observe(ctx context.Context) (*model.Firewall, error) {
	s, err := b.observeBoth(ctx)
	if err != nil {
		return nil, err
	}
	return s.fw, nil
}

// snapshot is both families' observations: what Apply gets back.
type snapshot struct {
	v4, v6 *observation
	fw     *model.Firewall // the two merged
}

// Backend implements model.FirewallSnapshot.
func (s *snapshot) Backend() string { return Name }

func (b *Backend) observeBoth(ctx context.Context) (*snapshot, error) {
	start := time.Now()
	out4, out6, saved, err := b.saveBoth(ctx)
	if err != nil {
		return nil, err
	}
	o4, o6, err := bothFamilies(func(v6 bool) (*observation, error) {
		if v6 {
			return b.parse(out6, true)
		}
		return b.parse(out4, false)
	})
	if err != nil {
		return nil, err
	}
	b.log.Debug().Str("mode", b.mode).Bool("saved", saved).Int("bytes", len(out4)+len(out6)).
		Dur("took", time.Since(start)).Msg("firewall observed")
	s := &snapshot{v4: o4, v6: o6}
	s.fw = merge(o4.fw, o6.fw)
	s.fw.Snapshot = s
	return s, nil
}

// saveBoth is the output of iptables-save and ip6tables-save, run side by
// side, or the saved reading of the current ruleset generation (saved:
// true) when there is one (savecache.go), the worker's included when it is
// reading the rules back at that moment (refresh.go).
func (b *Backend) saveBoth(ctx context.Context) (out4, out6 string, saved bool, err error) {
	gen, cacheable := b.currentGeneration()
	if cacheable {
		if s, ok := b.loadSaved(gen); ok {
			return s.v4, s.v6, true, nil
		}
		if b.awaitRefresh(ctx) {
			if gen, cacheable = b.currentGeneration(); cacheable {
				if s, ok := b.loadSaved(gen); ok {
					return s.v4, s.v6, true, nil
				}
			}
		}
	}
	out4, out6, _, err = b.runSaves(ctx, gen, cacheable)
	return out4, out6, false, err
}

// runSaves runs both commands side by side and, when cacheable, saves
// their output as the reading of gen (stored: it was).
func (b *Backend) runSaves(ctx context.Context, gen Generation, cacheable bool) (out4, out6 string, stored bool, err error) {
	out4, out6, err = bothFamilies(func(v6 bool) (string, error) { return b.runSave(ctx, v6) })
	if err != nil {
		return "", "", false, err
	}
	if cacheable {
		// Saved only when no transaction was committed while the two
		// commands ran: their output is then the ruleset of gen.
		if after, ok := b.currentGeneration(); ok && after == gen {
			stored = b.storeSaved(savedReading{gen: gen, mode: b.mode, save: b.save, save6: b.save6, v4: out4, v6: out6})
		}
	}
	return out4, out6, stored, nil
}

// bothFamilies runs f for IPv4 and for IPv6 side by side.
func bothFamilies[T any](f func(v6 bool) (T, error)) (v4, v6 T, err error) {
	var err6 error
	done := make(chan struct{})
	go func() {
		defer close(done)
		v6, err6 = f(true)
	}()
	v4, err4 := f(false)
	<-done
	return v4, v6, errors.Join(err4, err6)
}

// currentGeneration reads the ruleset's generation when readings are
// kept (keepsReadings).
func (b *Backend) currentGeneration() (Generation, bool) {
	if !b.keepsReadings() {
		return Generation{}, false
	}
	gen, err := b.generation()
	if err != nil {
		b.log.Debug().Err(err).Msg("no nf_tables generation: reading the rules")
		return Generation{}, false
	}
	return gen, true
}

// keepsReadings: the nft flavour, with a generation to key readings by
// and a place to keep them.
func (b *Backend) keepsReadings() bool {
	return b.mode == "nft" && b.generation != nil && b.cacheRoot != ""
}

// runSave runs iptables-save (ip6tables-save with v6).
func (b *Backend) runSave(ctx context.Context, v6 bool) (string, error) {
	save := b.save
	if v6 {
		save = b.save6
	}
	stdout, err := command.Run(ctx, b.commandTimeout(), "", save)
	if err != nil {
		return "", err
	}
	return string(stdout), nil
}

// parse sorts one family's iptables-save output into netctl's objects.
func (b *Backend) parse(out string, v6 bool) (*observation, error) {
	d, err := parseSave(out)
	if err != nil {
		save := b.save
		if v6 {
			save = b.save6
		}
		return nil, fmt.Errorf("%s: %w", save, err)
	}
	return classify(d, b.inst, v6), nil
}

// observe reads every table of a family with one iptables-save (or
// ip6tables-save), never a saved reading: what a failed restore left.
func (b *Backend) observe(ctx context.Context, v6 bool) (*observation, error) {
	out, err := b.runSave(ctx, v6)
	if err != nil {
		return nil, err
	}
	return b.parse(out, v6)
}

// Apply implements firewall.Backend: one iptables-restore (and one
// ip6tables-restore) for the rules of every table the batch touches,
// written against the observation the batch was planned from (read afresh
// when the batch carries none of ours). IPv4 goes first: a half-applied
// batch then leaves IPv6 as it was, never ahead of IPv4.
func (b *Backend) Apply(ctx context.Context, batch *model.FirewallBatch) error {
	s, ok := batch.Observed.(*snapshot)
	if !ok || s == nil {
		var err error
		if s, err = b.observeBoth(ctx); err != nil {
			return err
		}
	}
	for _, o := range []*observation{s.v4, s.v6} {
		if err := b.applyFamily(ctx, o, familyBatch(batch, o.v6)); err != nil {
			return err
		}
	}
	return nil
}

// applyFamily writes one family's part of a batch with one restore.
func (b *Backend) applyFamily(ctx context.Context, o *observation, batch *model.FirewallBatch) error {
	input, err := buildScript(o, batch)
	if err != nil {
		return err
	}
	if input == "" {
		return nil
	}
	restore := b.restore
	if o.v6 {
		restore = b.restore6
	}
	err = b.runRestore(ctx, restore, input)
	if err == nil {
		return nil
	}
	// Read back what is there: an iptables-restore can commit and still
	// exit non-zero (or be killed after committing), and the rules are
	// what counts. Nothing left to write means it was applied.
	if fresh, oerr := b.observe(ctx, o.v6); oerr == nil {
		if again, berr := buildScript(fresh, batch); berr == nil && again == "" {
			b.log.Warn().Err(err).Str("tool", restore).Msg("restore failed, but the rules read back are those it was to write: applied")
			return nil
		}
	}
	return err
}

// restoreLineRE finds the failing line in iptables-restore's error.
var restoreLineRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`line ([0-9]+) failed`) })

func (b *Backend) runRestore(ctx context.Context, restore, input string) error {
	start := time.Now()
	if _, err := command.Run(ctx, b.commandTimeout(), input, restore, "-w", "10", "--noflush"); err != nil {
		var cerr *command.Error
		if errors.As(err, &cerr) {
			if m := restoreLineRE().FindStringSubmatch(cerr.Stderr); m != nil {
				var n int
				fmt.Sscan(m[1], &n)
				if lines := strings.Split(input, "\n"); n >= 1 && n <= len(lines) {
					cerr.Stderr += fmt.Sprintf(" (line %d: %s)", n, lines[n-1])
				}
			}
		}
		return fmt.Errorf("--noflush: %w", err)
	}
	b.log.Debug().Str("tool", restore).Int("lines", strings.Count(input, "\n")).Dur("took", time.Since(start)).Msg("firewall rules restored")
	return nil
}
