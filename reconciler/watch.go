package reconciler

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/model"
	"github.com/netctl/netctl/spec"
)

// Watch keeps the host converged to a topology file: it applies the file
// at start, again after every edit (debounced), on every kernel change to
// what netctl owns and periodically, and keeps the last good topology in
// force while the file is invalid. Notify* and Reload may be called from
// any goroutine, before or during Run.
type Watch struct {
	Reconciler *Reconciler
	// Read returns the file's current content.
	Read func() ([]byte, error)
	// Parse turns content into a topology ready to apply, or errors
	// (spec.Errors are logged one per line with file:line:column).
	Parse func(data []byte) (*spec.Topology, error)
	// Lock, if set, is held around each reconcile (the --root lock shared
	// with apply, diff and down).
	Lock func(ctx context.Context) (func(), error)
	// Resync is the period of the full resync (0: none). It also re-reads
	// the file, in case a file event was missed.
	Resync time.Duration
	// ResyncShare, when positive, stretches the resync period so that
	// resyncs take at most this share of one core, e.g. 0.003: a no-op
	// reconcile costs about 0.1 ms of CPU per container, so a thousand
	// containers resync every ~30 s rather than every Resync. It is
	// measured in CPU time (the process's user + system time, the kernel's
	// netlink work on its behalf included), not wall time: on a loaded
	// machine a resync waits for a core much longer than it works, and
	// stretching by the wall clock put the next resync minutes away.
	ResyncShare float64
	// Quiet is how long the file and the kernel must stay quiet after an
	// event before a reconcile starts, so that a burst is one reconcile;
	// QuietAtomic replaces it after an atomic replace of the file (a rename
	// or symlink swap: the content is final). MaxDelay bounds the wait
	// under a continuous stream of events.
	Quiet, QuietAtomic, MaxDelay time.Duration
	Log                          zerolog.Logger
	Hooks                        WatchHooks

	mu      sync.Mutex
	pending pending
	wake    chan struct{}

	// State owned by Run's goroutine.
	cur       *spec.Topology // the topology in force, nil before the first good file
	curHash   string
	seenHash  string // the content last read, valid or not
	readErr   string // the last read error logged, to log each once
	converged bool   // the last reconcile of cur converged
	// observed is what the last reconcile left, when it converged: the
	// next one starts from it, reading again only what the kernel
	// announced changes to (and the firewall and DNS state, which it does
	// not announce), instead of every namespace.
	observed *model.State
	editAt   time.Time
	failures int
	retryAt  time.Time
}

// pending are the events received since the last reconcile.
type pending struct {
	file, host, reload bool
	// changed is what the kernel announced changes to (containers, the
	// firewall); changedAll is set when it announced something it could
	// not tell (an overflow).
	changed     Changes
	changedAll  bool
	first, last time.Time // first and last event of the burst
	fileFirst   time.Time // first file event of the burst
	atomic      bool      // the last event was an atomic replace
}

func (w *Watch) wakeChan() chan struct{} {
	if w.wake == nil {
		w.wake = make(chan struct{}, 1)
	}
	return w.wake
}

func (w *Watch) notify(f func(p *pending, now time.Time)) {
	now := time.Now()
	w.mu.Lock()
	if !w.pending.file && !w.pending.host {
		w.pending.first = now
	}
	f(&w.pending, now)
	w.pending.last = now
	c := w.wakeChan()
	w.mu.Unlock()
	select {
	case c <- struct{}{}:
	default:
	}
}

// NotifyFile reports a change to the file; atomic is true when the file
// was replaced as a whole.
func (w *Watch) NotifyFile(atomic bool) {
	w.notify(func(p *pending, now time.Time) {
		if !p.file {
			p.fileFirst = now
		}
		p.file, p.atomic = true, atomic
	})
}

// NotifyHost reports a kernel change to something netctl owns: to the
// containers in changed, to a network only when changed is empty, to
// anything when it is nil.
func (w *Watch) NotifyHost(changed model.Scope) {
	w.notify(func(p *pending, _ time.Time) {
		p.host, p.atomic = true, false
		if changed == nil {
			p.changedAll = true
			return
		}
		if p.changed.Containers == nil {
			p.changed.Containers = model.Scope{}
		}
		maps.Copy(p.changed.Containers, changed)
	})
}

// NotifyFirewall reports a change to netctl's rules (a backend that
// announces them: nftables).
func (w *Watch) NotifyFirewall() {
	w.notify(func(p *pending, _ time.Time) {
		p.host, p.atomic = true, false
		p.changed.Firewall = true
	})
}

// Reload forces a re-read of the file and a reconcile, at once.
func (w *Watch) Reload() {
	w.notify(func(p *pending, _ time.Time) { p.reload = true })
}

// due is when the pending events should be handled (zero: nothing pending).
func (w *Watch) due() time.Time {
	w.mu.Lock()
	p := w.pending
	w.mu.Unlock()
	var at time.Time
	switch {
	case p.reload:
		at = p.last
	case p.file || p.host:
		quiet := w.Quiet
		if p.atomic && w.QuietAtomic > 0 && w.QuietAtomic < quiet {
			quiet = w.QuietAtomic
		}
		at = p.last.Add(quiet)
		if w.MaxDelay > 0 && p.first.Add(w.MaxDelay).Before(at) {
			at = p.first.Add(w.MaxDelay)
		}
	}
	if !w.retryAt.IsZero() && (at.IsZero() || w.retryAt.Before(at)) {
		at = w.retryAt
	}
	return at
}

func (w *Watch) take() pending {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.pending
	w.pending = pending{}
	return p
}

// Run applies the file, then keeps the host converged until ctx is done.
// A reconcile in flight when ctx ends stops between actions (each is
// idempotent: the next run picks up from there); the network stays as it
// is. Run returns nil when ctx ends.
func (w *Watch) Run(ctx context.Context) error {
	if w.Reconciler == nil || w.Read == nil || w.Parse == nil {
		return errors.New("watch: Reconciler, Read and Parse are required")
	}
	w.mu.Lock()
	wake := w.wakeChan()
	w.mu.Unlock()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var resync <-chan time.Time
	resyncTimer := time.NewTimer(time.Hour)
	defer resyncTimer.Stop()
	resyncTimer.Stop()
	if w.Resync > 0 {
		resyncTimer.Reset(w.Resync)
		resync = resyncTimer.C
	}

	w.handle(ctx, TriggerStart, pending{file: true, reload: true})
	for {
		if at := w.due(); !at.IsZero() {
			timer.Reset(time.Until(at))
		} else {
			timer.Stop()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-timer.C:
			if at := w.due(); at.IsZero() || time.Now().Before(at) {
				continue // more events came: wait again
			}
			p := w.take()
			var trigger WatchTrigger
			switch {
			case p.reload:
				trigger = TriggerReload
			case p.file:
				trigger = TriggerFile
			case p.host:
				trigger = TriggerHost
			default:
				trigger = TriggerRetry
			}
			w.handle(ctx, trigger, p)
		case <-resync:
			// A resync also stands in for missed file events.
			p := w.take()
			p.file, p.host = true, true
			start := processCPU()
			w.handle(ctx, TriggerResync, p)
			resyncTimer.Reset(w.resyncPeriod(processCPU() - start))
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// handle reads the file if it changed, and reconciles when the file
// brought a new topology or the trigger asks for it.
func (w *Watch) handle(ctx context.Context, trigger WatchTrigger, p pending) {
	edited := false
	if p.file || p.reload {
		edited = w.load(p.reload)
		if edited && trigger != TriggerStart {
			// Edit-to-converged runs from the first event of the edit
			// (from now when a resync or reload found it).
			w.editAt = p.fileFirst
			if w.editAt.IsZero() {
				w.editAt = time.Now()
			}
			if trigger != TriggerReload {
				trigger = TriggerFile
			}
		}
	}
	if w.cur == nil {
		return // nothing good to apply yet
	}
	if !edited && trigger == TriggerFile && !p.host {
		return // the same content again (touch, a no-op write)
	}
	switch trigger {
	case TriggerStart, TriggerResync, TriggerReload:
		// Read everything: a resync stands in for missed announcements.
		w.observed = nil
	}
	if p.changedAll {
		w.observed = nil
	}
	w.reconcile(ctx, trigger, edited, p.changed)
}

// load reads and checks the file; it reports whether a new topology was
// accepted. force re-reports the errors of content already seen.
func (w *Watch) load(force bool) bool {
	data, err := w.Read()
	if err != nil {
		if msg := err.Error(); msg != w.readErr || force {
			w.readErr = msg
			w.Log.Error().Err(err).Msg("cannot read the topology file; the last good topology stays in force")
		}
		w.hookFile(err)
		w.seenHash = ""
		return false
	}
	w.readErr = ""
	sum := sha256.Sum256(data)
	hash := hex.EncodeToString(sum[:])
	if hash == w.seenHash && !force {
		return false
	}
	w.seenHash = hash
	t, err := w.check(data)
	w.hookFile(err)
	if err != nil {
		var errs spec.Errors
		if errors.As(err, &errs) {
			for _, e := range errs {
				w.Log.Error().Str("error", e.Error()).Msg("invalid topology file")
			}
		} else {
			w.Log.Error().Err(err).Msg("invalid topology file")
		}
		if w.cur != nil {
			w.Log.Warn().Str("project", w.cur.Name).Str("in_force", w.curHash[:12]).
				Msg("the last good topology stays in force until the file is fixed")
		}
		return false
	}
	if hash == w.curHash {
		return false
	}
	w.Log.Info().Str("project", t.Name).Str("hash", hash[:12]).Int("containers", len(t.Containers)).
		Msg("topology file loaded")
	w.cur, w.curHash = t, hash
	return true
}

// check parses data and refuses what watch must not apply even though
// it is a valid file.
func (w *Watch) check(data []byte) (*spec.Topology, error) {
	// An empty file is a valid, empty topology, and applying it would
	// delete the whole project. In watch mode it is far more likely a
	// file caught half written (truncated, not yet filled): refuse it.
	// `netctl down` is the way to remove a project.
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("the file is empty: refusing to remove everything (use netctl down to remove the project)")
	}
	t, err := w.Parse(data)
	if err != nil {
		return nil, err
	}
	if w.cur != nil && t.Name != w.cur.Name {
		// A rename would apply a second project next to the first, which
		// would stay wired with nobody watching it. Switching projects is
		// a decision for people: down the old one, restart the watcher.
		return nil, fmt.Errorf("the project name changed from %q to %q: watch keeps %q in force; "+
			"to switch, run `netctl down -p %s` and restart the watcher", w.cur.Name, t.Name, w.cur.Name, w.cur.Name)
	}
	return t, nil
}

func (w *Watch) hookFile(err error) {
	if w.Hooks != nil {
		w.Hooks.FileChecked(err)
	}
}

// reconcile applies the topology in force and reports; changed are the
// containers the kernel announced changes to since the last reconcile.
func (w *Watch) reconcile(ctx context.Context, trigger WatchTrigger, edited bool, changed Changes) {
	t := w.cur
	if w.Hooks != nil {
		w.Hooks.ReconcileStarted(trigger)
	}
	rep := &WatchReport{Trigger: trigger, Project: t.Name, Networks: len(t.Networks), Containers: len(t.Containers)}
	for _, c := range t.Containers {
		rep.Endpoints += len(c.Networks)
	}
	start := time.Now()
	prev := w.observed
	w.observed = nil // until this reconcile converges
	res, err := w.apply(ctx, t, prev, changed)
	rep.Took = time.Since(start)
	if res != nil {
		rep.Done = res.Done
	}
	var blocked *BlockedError
	switch {
	case err == nil:
		rep.Outcome = OutcomeConverged
	case ctx.Err() != nil:
		rep.Outcome = OutcomeCancelled
	case errors.As(err, &blocked):
		rep.Outcome = OutcomeBlocked
	default:
		rep.Outcome = OutcomeFailed
	}
	rep.Err = err
	ok := rep.Outcome == OutcomeConverged || rep.Outcome == OutcomeBlocked
	rep.Drift = !edited && w.converged && len(rep.Done) > 0
	if ok && !w.editAt.IsZero() {
		rep.EditToConverged = time.Since(w.editAt)
		w.editAt = time.Time{}
	}
	if rep.Outcome != OutcomeCancelled {
		w.converged = ok
	}
	if ok && res != nil {
		w.observed = keptObservation(res.Observed)
	}
	w.logReport(rep)
	w.scheduleRetry(rep.Outcome == OutcomeFailed)
	if w.Hooks != nil {
		w.Hooks.ReconcileDone(rep)
	}
}

// keptObservation is what of a converged observation the next reconcile
// starts from. The DNS server's state is left out: every watch reconcile
// reads it again (the server does not announce changes), and at 10,000
// containers it is ~4 MB of records kept for nothing between reconciles.
func keptObservation(st *model.State) *model.State {
	if st == nil {
		return nil
	}
	st.DNS = nil
	return st
}

func (w *Watch) apply(ctx context.Context, t *spec.Topology, prev *model.State, changed Changes) (*Result, error) {
	if w.Lock != nil {
		unlock, err := w.Lock(ctx)
		if err != nil {
			return nil, err
		}
		defer unlock()
	}
	return w.Reconciler.ApplyFrom(ctx, t.Name, t, prev, changed)
}

// resyncPeriod is the wait until the next resync, given the CPU time the
// last one took.
func (w *Watch) resyncPeriod(took time.Duration) time.Duration {
	if w.ResyncShare <= 0 {
		return w.Resync
	}
	return max(w.Resync, time.Duration(float64(took)/w.ResyncShare))
}

// processCPU is the CPU time (user + system) the process has used so far;
// zero when the kernel does not say, which leaves resyncs at their floor.
func processCPU() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// scheduleRetry retries a failed reconcile after 1 s, 2 s, 4 s, ... up to
// the resync period (or a minute).
func (w *Watch) scheduleRetry(failed bool) {
	if !failed {
		w.failures, w.retryAt = 0, time.Time{}
		return
	}
	limit := w.Resync
	if limit <= 0 {
		limit = time.Minute
	}
	backoff := time.Second << min(w.failures, 10)
	w.failures++
	w.retryAt = time.Now().Add(min(backoff, limit))
}
