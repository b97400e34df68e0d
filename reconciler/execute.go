package reconciler

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"time"
)

// execute runs a plan phase by phase; within a phase, groups (one per
// container or network) run in parallel and a group's actions in order. A
// failed action stops its group only.
func (r *Reconciler) execute(ctx context.Context, p *Plan) ([]*Action, error) {
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
	// firewall, when not nil, reports the end of the firewall phase, which
	// runs side by side with the names phase before it: the two touch
	// nothing of each other's (the DNS server's configuration, the packet
	// filter), and each waits on another process (the server's reload,
	// iptables-restore).
	var firewall chan firewallResult
	for n, groups := range all {
		if groups[0][0].phase == phaseFirewall {
			if firewall == nil {
				firewall = r.startFirewall(ctx, p, groups)
			}
			fw := <-firewall
			done = append(done, fw.done...)
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
		if groups[0][0].phase == phaseNames && n+1 < len(all) && all[n+1][0][0].phase == phaseFirewall {
			firewall = r.startFirewall(ctx, p, all[n+1])
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
		ran := time.Since(start)
		ph := groups[0][0].phase
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
	return done, errors.Join(errs...)
}

// firewallResult is what the firewall phase did.
type firewallResult struct {
	done []*Action
	err  error
}

// startFirewall runs the firewall phase in the background.
func (r *Reconciler) startFirewall(ctx context.Context, p *Plan, groups [][]*Action) chan firewallResult {
	c := make(chan firewallResult, 1)
	go func() {
		done, err := r.runFirewall(ctx, p, groups)
		c <- firewallResult{done, err}
	}()
	return c
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
