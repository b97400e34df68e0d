package reconciler

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/netctl/netctl/model"
)

// execute runs a plan phase by phase; within a phase, groups (one per
// container or network) run in parallel and a group's actions in order. A
// failed action stops its group only. With before (the observation p was
// planned from), the readings of the verification that follows start as
// soon as nothing later changes what they read (verify.go), and are
// returned; nil before: no verification follows.
func (r *Reconciler) execute(ctx context.Context, p *Plan, before *model.State) ([]*Action, *aheadReadings, error) {
	readBack := before != nil
	ahead := &aheadReadings{}
	workers := r.Workers
	if workers <= 0 {
		workers = 4 * runtime.GOMAXPROCS(0)
	}
	var (
		mu       sync.Mutex
		done     []*Action
		errs     []error
		finished int
	)
	total := len(p.Actions)
	all := phases(p)
	// settling, when not nil, reports the end of a Settle running side by
	// side with the phases after it.
	var settling chan error
	// firewall, when not nil, reports the end of the firewall phase (the
	// plan's last), which runs side by side with the phases before it.
	// Rules name bridges and addresses, never links, so they need nothing
	// the containers' or the names' phase makes; the sysctls of a bridge
	// need the bridge, made in the phase before those. It starts beside
	// the containers' phase when that phase leaves workers idle (an
	// add-one: its read-back, which outlasts the wiring, is done ~10 ms
	// sooner at 1,000 containers); beside one that keeps every worker
	// busy (a cold apply) it would only take CPU from it, and starts with
	// the names phase instead, which mostly waits on the DNS server.
	var firewall chan firewallResult
	var fwGroups [][]*Action
	if len(all) > 0 && all[len(all)-1][0][0].phase == phaseFirewall {
		fwGroups = all[len(all)-1]
	}
	// namesDone is closed once the names phase is over (nil: the plan has
	// none). On a first apply that phase starts the DNS server, whose
	// worker the firewall phase may hand its read-back to.
	var namesDone chan struct{}
	if slices.ContainsFunc(p.Actions, func(a *Action) bool { return a.phase == phaseNames }) {
		namesDone = make(chan struct{})
		defer closeOnce(namesDone)
	}
	for n, groups := range all {
		ph := groups[0][0].phase
		if firewall == nil && fwGroups != nil && (ph >= phaseNames || ph == phaseContainer && len(groups) < workers) {
			firewall = r.startFirewall(ctx, p, fwGroups, readBack, namesDone)
		}
		if ph == phaseFirewall {
			fw := <-firewall
			done = append(done, fw.done...)
			ahead.rules = fw.rules
			if fw.err != nil {
				errs = append(errs, fw.err)
			}
			for _, g := range groups {
				finished += len(g)
			}
			if r.Progress != nil {
				r.Progress(finished, total)
			}
			continue
		}
		start := time.Now()
		sem := make(chan struct{}, workers)
		var wg sync.WaitGroup
		for _, g := range groups {
			if ctx.Err() != nil {
				break
			}
			sem <- struct{}{}
			wg.Add(1)
			go func(g []*Action) {
				defer func() { <-sem; wg.Done() }()
				for i, a := range g {
					err := ctx.Err()
					if err == nil {
						err = r.run(ctx, a)
					}
					mu.Lock()
					if err != nil {
						errs = append(errs, fmt.Errorf("%s %s %s: %w", a.Op, a.Kind, a.Name, err))
						finished += len(g) - i
					} else {
						done = append(done, a)
						finished++
					}
					if r.Progress != nil {
						r.Progress(finished, total)
					}
					mu.Unlock()
					if err != nil {
						return
					}
				}
			}(g)
		}
		wg.Wait()
		if ph == phaseNames && namesDone != nil {
			closeOnce(namesDone)
		}
		ran := time.Since(start)
		if settling != nil {
			// A names phase after a teardown: its Settle is running.
			r.Log.Debug().Int("phase", int(ph)).Int("groups", len(groups)).Dur("ran", ran).Msg("phase done")
			continue
		}
		if ph == phaseDetach && !linksLater(all[n+1:]) {
			// Nothing after this phase makes links: the kernel's
			// teardown of the deleted namespaces and bridges (most of a
			// small `down`) overlaps the DNS server's stop and the
			// firewall's transaction, which do not depend on it.
			settling = make(chan error, 1)
			go func() { settling <- r.Links.Settle(ctx) }()
			r.Log.Debug().Int("phase", int(ph)).Int("groups", len(groups)).Dur("ran", ran).Msg("phase done, settling meanwhile")
			continue
		}
		if err := r.Links.Settle(ctx); err != nil {
			mu.Lock()
			errs = append(errs, fmt.Errorf("settle: %w", err))
			mu.Unlock()
		}
		r.Log.Debug().Int("phase", int(ph)).Int("groups", len(groups)).
			Dur("ran", ran).Dur("settled", time.Since(start)).Msg("phase done")
		if readBack && ahead.links == nil && ph < phaseNames && !linksLater(all[n+1:]) && r.canReadAhead() {
			scope, _ := verifyScope(before, p)
			ahead.links = r.readLinks(ctx, scope)
		}
	}
	if settling != nil {
		// The verification that follows must see the teardown done.
		if err := <-settling; err != nil {
			errs = append(errs, fmt.Errorf("settle: %w", err))
		}
	}
	// Report in plan order whatever order the workers finished in.
	order := make(map[*Action]int, len(p.Actions))
	for i, a := range p.Actions {
		order[a] = i
	}
	sort.Slice(done, func(i, j int) bool { return order[done[i]] < order[done[j]] })
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return done, ahead, errors.Join(errs...)
}

// firewallResult is what the firewall phase did, and the reading of the
// rules it started after its batch (nil unless asked for).
type firewallResult struct {
	done  []*Action
	err   error
	rules *rulesReading
}

// startFirewall runs the firewall phase in the background; with readBack,
// a reading of the rules starts as soon as the batch is done, failed or
// not (the verification needs the rules as they are either way), unless
// the batch succeeded and another process took the read-back on
// (firewall_handoff.go; namesDone: see there).
func (r *Reconciler) startFirewall(ctx context.Context, p *Plan, groups [][]*Action, readBack bool, namesDone <-chan struct{}) chan firewallResult {
	c := make(chan firewallResult, 1)
	go func() {
		done, batch, err := r.runFirewall(ctx, p, groups)
		var rules *rulesReading
		if readBack && r.Firewall != nil {
			if err == nil {
				rules = r.handOff(ctx, p, batch, namesDone)
			}
			if rules == nil {
				rules = r.readRules(ctx)
			}
		}
		c <- firewallResult{done, err, rules}
	}()
	return c
}

// closeOnce closes c unless it is closed.
func closeOnce(c chan struct{}) {
	select {
	case <-c:
	default:
		close(c)
	}
}

// linksLater reports whether any of the phases makes or changes links
// (bridges, namespaces, endpoints): those need the teardown before them
// settled, since they may reuse its names and addresses.
func linksLater(phases [][][]*Action) bool {
	for _, groups := range phases {
		if ph := groups[0][0].phase; ph != phaseNames && ph != phaseFirewall {
			return true
		}
	}
	return false
}

// phases splits a plan into phases of groups.
func phases(p *Plan) [][][]*Action {
	var out [][][]*Action
	for i := 0; i < len(p.Actions); {
		ph := p.Actions[i].phase
		var groups [][]*Action
		index := map[string]int{}
		for ; i < len(p.Actions) && p.Actions[i].phase == ph; i++ {
			a := p.Actions[i]
			k, ok := index[a.group]
			if !ok {
				k = len(groups)
				index[a.group] = k
				groups = append(groups, nil)
			}
			groups[k] = append(groups[k], a)
		}
		out = append(out, groups)
	}
	return out
}
