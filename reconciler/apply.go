package reconciler

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/netctl/netctl/model"
	"github.com/netctl/netctl/spec"
)

// maxRounds bounds the apply → observe → verify loop.
const maxRounds = 3

// Reconciler converges the host to topology files.
type Reconciler struct {
	Links   Links
	Files   Files
	Names   Names // nil: names are planned but DNS actions fail
	Options Options
	Log     zerolog.Logger
	// Workers bounds how many containers are wired at once (default
	// 4×GOMAXPROCS: namespace work is mostly waiting on the kernel).
	Workers int
	// Progress, when set, is told how many actions of a round are done.
	Progress func(done, total int)

	// Firewall, when set, is observed and converged too; nil leaves the
	// packet filter alone. HostFacts tells port picks what the host has
	// bound (nil: nothing is known to be bound).
	Firewall  Firewall
	HostFacts HostFacts
}

// Observe reads the kernel and netctl's files into one state.
func (r *Reconciler) Observe(ctx context.Context) (*model.State, error) {
	return r.observe(ctx, nil, allDomains, nil)
}

// domains says which actuators an observation reads besides the links
// and files.
type domains struct{ firewall, dns bool }

var allDomains = domains{firewall: true, dns: true}

// observe reads the containers in scope (nil: all), networks and routes,
// and the firewall and DNS state when d asks for them. With a base (an
// earlier observation, scope then being non-nil) the state is base
// brought up to date: base's containers out of scope, the firewall and
// DNS state d does not ask for, and the networks' foreign ports (which a
// scoped observation does not read) are taken from it.
func (r *Reconciler) observe(ctx context.Context, scope model.Scope, d domains, base *model.State) (*model.State, error) {
	return r.observeWith(ctx, scope, d, base, nil)
}

// observeWith is observe taking what ahead holds (readings a plan's
// execution started for its verification: verify.go) instead of reading
// it again.
func (r *Reconciler) observeWith(ctx context.Context, scope model.Scope, d domains, base *model.State, ahead *aheadReadings) (*model.State, error) {
	start := time.Now()
	var wg sync.WaitGroup
	var fillFiles func(*model.State)
	var filesErr error
	if ahead == nil {
		ahead = &aheadReadings{}
	}
	if ahead.links == nil {
		wg.Go(func() { fillFiles, filesErr = r.Files.Read(ctx, scope) })
	}
	var fw *fwReading
	if d.firewall {
		fw = r.readFirewall(ctx, &wg, ahead.rules)
	}
	// The DNS server's state needs nothing of the rest: it is read into a
	// state of its own, alongside (its answer takes 2-10 ms).
	var names *model.State
	var namesErr error
	if d.dns && r.Names != nil {
		names = &model.State{}
		wg.Go(func() { namesErr = r.Names.Observe(ctx, names) })
	}
	var st *model.State
	var err error
	if lr := ahead.links; lr != nil {
		<-lr.done
		st, err, fillFiles, filesErr = lr.st, lr.err, lr.fill, lr.filesErr
	} else {
		st, err = r.Links.Observe(ctx, scope)
	}
	wg.Wait()
	if err != nil {
		return nil, fmt.Errorf("observe: %w", err)
	}
	links := time.Since(start)
	if filesErr != nil {
		return nil, fmt.Errorf("observe files: %w", filesErr)
	}
	if namesErr != nil {
		return nil, fmt.Errorf("observe dns: %w", namesErr)
	}
	fillFiles(st)
	files := time.Since(start)
	reread := slices.Collect(maps.Keys(st.Containers))
	if base != nil {
		keep(st, base, scope, d.firewall)
	}
	switch {
	case d.firewall:
		if err := r.finishFirewall(ctx, st, fw); err != nil {
			return nil, fmt.Errorf("observe firewall: %w", err)
		}
	case base != nil:
		keepFirewall(st, base, reread)
	}
	switch {
	case names != nil:
		st.DNS = names.DNS
	case base != nil:
		st.DNS = base.DNS
	}
	r.Log.Debug().Dur("links", links).Dur("files", files-links).Dur("firewall", time.Since(start)-files).
		Dur("total", time.Since(start)).
		Int("containers", len(st.Containers)).Int("read", len(reread)).Msg("observed")
	return st, nil
}

// touchesFirewall reports whether p changes rules or sysctls.
func touchesFirewall(p *Plan) bool {
	return slices.ContainsFunc(p.Actions, func(a *Action) bool { return a.Kind == KindFirewall || a.Kind == KindSysctl })
}

// keep completes a scoped observation st with base: the containers out of
// scope (without their published ports when the firewall is read again:
// its observation attaches them) and the networks' foreign ports, which a
// scoped observation does not read and no action of ours adds.
func keep(st, base *model.State, scope model.Scope, firewallRead bool) {
	for id, c := range base.Containers {
		if scope[id] || st.Containers[id] != nil {
			continue
		}
		if firewallRead {
			cc := *c
			cc.Ports = nil
			c = &cc
		}
		st.Containers[id] = c
	}
	for id, n := range st.Networks {
		if o := base.Networks[id]; o != nil {
			n.Foreign = o.Foreign
		}
	}
}

// keepFirewall gives st the firewall state observed in base, which no
// action changed since: the rules, and the published ports the firewall's
// observation attaches to each container, here to the re-read ones.
func keepFirewall(st, base *model.State, reread []string) {
	st.Firewall = base.Firewall
	if base.Firewall == nil {
		return
	}
	for _, p := range base.Firewall.Ports {
		id := model.ContainerID(p.Project, p.Container)
		if c := st.Containers[id]; c != nil && slices.Contains(reread, id) {
			c.Ports = append(c.Ports, p.Port)
		}
	}
	for _, id := range reread {
		model.SortPorts(st.Containers[id].Ports)
	}
}

// Plan computes what applying t would do, changing nothing. A nil t plans
// the removal of everything project owns (down).
func (r *Reconciler) Plan(ctx context.Context, project string, t *spec.Topology) (*Plan, error) {
	observed, err := r.Observe(ctx)
	if err != nil {
		return nil, err
	}
	return r.plan(project, t, observed)
}

func (r *Reconciler) plan(project string, t *spec.Topology, observed *model.State) (*Plan, error) {
	p, _, err := r.planDesired(project, t, observed)
	return p, err
}

// planDesired plans, and returns the desired state the plan leads to.
func (r *Reconciler) planDesired(project string, t *spec.Topology, observed *model.State) (*Plan, *model.State, error) {
	start := time.Now()
	desired := model.NewState()
	if t != nil {
		var err error
		if desired, err = Desired(t, observed, r.Options); err != nil {
			return nil, nil, err
		}
	}
	desire := time.Since(start)
	p := r.diff(project, desired, observed)
	r.Log.Debug().Dur("desire", desire).Dur("diff", time.Since(start)-desire).Int("actions", len(p.Actions)).Msg("planned")
	return p, desired, nil
}

func (r *Reconciler) diff(project string, desired, observed *model.State) *Plan {
	p := Diff(project, desired, observed)
	p.Node = planNode(desired)
	return p
}

// Result is what an apply did.
type Result struct {
	// Plan is the first round's plan: what the apply set out to change.
	Plan *Plan
	// Done lists every action carried out, across rounds.
	Done []*Action
	// Rounds is how many plan → apply rounds ran.
	Rounds int
	// Observed is the state the last observation found (after the last
	// round's verification); ApplyFrom can start from it.
	Observed *model.State
}

// Apply converges the host to t (nil t: remove everything project owns).
// After each round it observes again and re-plans; what is still pending
// after maxRounds is reported as an error naming the objects. Blocked
// deletions are reported as an error once everything else has converged.
func (r *Reconciler) Apply(ctx context.Context, project string, t *spec.Topology) (*Result, error) {
	return r.ApplyFrom(ctx, project, t, nil, Changes{})
}

// Changes are what the kernel announced since an earlier observation.
type Changes struct {
	// Containers whose namespace or endpoints changed.
	Containers model.Scope
	// Firewall: netctl's rules changed (a backend that announces them:
	// nftables).
	Firewall bool
}

// ApplyFrom is Apply starting from an earlier observation instead of
// reading everything: prev is the state a previous reconcile left
// (Result.Observed), changed what the kernel announced since then. The
// changed containers, the networks and the DNS server are read again; the
// firewall when it announced a change, or when the plan would change rules
// (its reading then must be current: the rules are rewritten relative to
// it, and ephemeral ports are picked against the host's bound ports). A
// nil prev reads everything, as Apply does. Result.Observed is the state
// this reconcile left, for the next one.
func (r *Reconciler) ApplyFrom(ctx context.Context, project string, t *spec.Topology, prev *model.State, changed Changes) (*Result, error) {
	var observed *model.State
	var err error
	if prev == nil {
		observed, err = r.Observe(ctx)
	} else {
		scope := model.Scope{} // never nil: nil would read everything
		maps.Copy(scope, changed.Containers)
		observed, err = r.observe(ctx, scope, domains{dns: true, firewall: changed.Firewall}, prev)
	}
	if err != nil {
		return &Result{}, err
	}
	return r.converge(ctx, project, t, observed, prev == nil || changed.Firewall)
}

// Loading is a topology file still being read: it returns the project and
// its topology (nil: remove the project), or why the file is refused.
type Loading func() (project string, t *spec.Topology, err error)

// ApplyLoading is Apply for a file still being parsed and validated: the
// kernel is read meanwhile (the read changes nothing, and at a thousand
// containers the two take 100 and 10-20 ms of a no-op apply), and nothing
// is changed unless load succeeds. It returns the project load named.
func (r *Reconciler) ApplyLoading(ctx context.Context, load Loading) (string, *Result, error) {
	project, t, observed, loadErr, err := r.observeLoading(ctx, load)
	if loadErr != nil {
		return "", nil, loadErr
	}
	if err != nil {
		return project, &Result{}, err
	}
	res, err := r.converge(ctx, project, t, observed, true)
	return project, res, err
}

// PlanLoading is Plan for a file still being parsed and validated, read
// alongside the kernel as ApplyLoading does.
func (r *Reconciler) PlanLoading(ctx context.Context, load Loading) (*Plan, error) {
	project, t, observed, loadErr, err := r.observeLoading(ctx, load)
	if err = cmp.Or(loadErr, err); err != nil {
		return nil, err
	}
	return r.plan(project, t, observed)
}

// observeLoading observes the kernel while load runs: loadErr is load's
// error (the observation is then called off), err the observation's.
func (r *Reconciler) observeLoading(ctx context.Context, load Loading) (project string, t *spec.Topology, observed *model.State, loadErr, err error) {
	octx, cancel := context.WithCancel(ctx)
	defer cancel()
	type reading struct {
		st  *model.State
		err error
	}
	read := make(chan reading, 1)
	go func() {
		st, err := r.Observe(octx)
		read <- reading{st, err}
	}()
	if project, t, loadErr = load(); loadErr != nil {
		cancel()
		<-read
		return "", nil, nil, loadErr, nil
	}
	o := <-read
	return project, t, o.st, nil, o.err
}

// converge runs the plan → apply → verify rounds from an observation;
// firewallRead says whether it holds a current firewall reading.
func (r *Reconciler) converge(ctx context.Context, project string, t *spec.Topology, observed *model.State, firewallRead bool) (*Result, error) {
	res := &Result{}
	var lastErr error
	var err error
	defer func() { res.Observed = observed }()
	// reached is the desired state the last round set out to reach, when
	// it went through without an error.
	var reached *model.State
	for res.Rounds < maxRounds {
		if reached != nil {
			// A desired state, once reached, is what Desired makes of it
			// again (addresses, names and ports are sticky): the round's
			// verification is checked against it, sparing a desire (~15 ms
			// at 1,000 containers). Whatever is left is planned afresh.
			if p := r.diff(project, reached, observed); p.Empty() {
				return res, blockedError(p)
			}
		}
		p, desired, err := r.planDesired(project, t, observed)
		if err != nil {
			return res, err
		}
		if !firewallRead && touchesFirewall(p) {
			if observed, err = r.observe(ctx, model.Scope{}, domains{firewall: true}, observed); err != nil {
				return res, err
			}
			firewallRead = true
			if p, desired, err = r.planDesired(project, t, observed); err != nil {
				return res, err
			}
		}
		if res.Plan == nil {
			res.Plan = p
		}
		if p.Empty() {
			return res, blockedError(p)
		}
		res.Rounds++
		done, ahead, err := r.execute(ctx, p, observed)
		res.Done = append(res.Done, done...)
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		lastErr = err
		reached = desired
		if err != nil {
			r.Log.Warn().Err(err).Int("round", res.Rounds).Msg("round failed; observing again")
			reached = nil
		}
		if observed, err = r.reobserve(ctx, observed, p, ahead); err != nil {
			return res, err
		}
		if ahead.rules != nil && ahead.rules.written {
			// Not a reading: a later round that changes rules reads them.
			firewallRead = false
		}
	}
	p, err := r.plan(project, t, observed)
	if err != nil {
		return res, err
	}
	if p.Empty() {
		return res, blockedError(p)
	}
	names := make([]string, 0, len(p.Actions))
	for _, a := range p.Actions {
		names = append(names, fmt.Sprintf("%s %s", a.Kind, a.Name))
	}
	err = fmt.Errorf("not converged after %d rounds; still pending: %s", maxRounds, strings.Join(names, ", "))
	if lastErr != nil {
		err = fmt.Errorf("%w; last error: %w", err, lastErr)
	}
	return res, err
}

func blockedError(p *Plan) error {
	if len(p.Blocked) == 0 {
		return nil
	}
	msgs := make([]string, len(p.Blocked))
	for i, b := range p.Blocked {
		msgs[i] = fmt.Sprintf("%s %s: %s", b.Kind, b.Name, b.Reason)
	}
	return &BlockedError{Msgs: msgs}
}

// BlockedError reports deletions refused because of objects netctl does not own.
type BlockedError struct{ Msgs []string }

func (e *BlockedError) Error() string { return strings.Join(e.Msgs, "; ") }

// run carries out one action through the actuators.
func (r *Reconciler) run(ctx context.Context, a *Action) error {
	r.Log.Debug().Str("op", string(a.Op)).Str("kind", string(a.Kind)).Str("project", a.Project).Str("name", a.Name).Msg("apply")
	switch a.Kind {
	case KindNetwork:
		if a.Op == OpDelete {
			if err := r.Links.DeleteBridge(ctx, a.network); err != nil {
				return err
			}
			return r.Files.RemoveNetwork(ctx, a.network)
		}
		if err := r.Links.EnsureBridge(ctx, a.network); err != nil {
			return err
		}
		return r.Files.WriteNetwork(ctx, a.network)
	case KindContainer:
		if a.Op == OpDelete {
			if a.container.Netns != "" {
				if err := r.Links.DeleteNamespace(ctx, a.container); err != nil {
					return err
				}
			}
			if a.namespaceOnly {
				return nil
			}
			return r.Files.RemoveContainer(ctx, a.container)
		}
		return r.Links.EnsureNamespace(ctx, a.container)
	case KindEndpoint:
		if a.Op == OpDelete {
			return r.Links.DeleteEndpoint(ctx, a.container, a.endpoint)
		}
		return r.Links.EnsureEndpoint(ctx, a.container, a.network, a.endpoint)
	case KindRoute:
		if a.ipv6 {
			return r.Links.EnsureDefaultRouteV6(ctx, a.container, a.gateway)
		}
		return r.Links.EnsureDefaultRoute(ctx, a.container, a.gateway)
	case KindFiles:
		return r.Files.WriteContainer(ctx, a.container)
	case KindDNS:
		return r.runDNS(ctx, a)
	}
	return fmt.Errorf("unknown action kind %q", a.Kind)
}
