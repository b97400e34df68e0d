package reconciler

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/netctl/netctl/model"
)

// fakeNames is an in-memory DNS actuator: a server that serves whatever it
// was last given, unless stopped is set (a crashed server).
type fakeNames struct {
	mu      sync.Mutex
	cfg     map[string]*model.DNS
	stopped bool
	calls   []string
	// onEnsure, when set, runs at the start of every EnsureDNS.
	onEnsure func()
}

func newFakeNames() *fakeNames { return &fakeNames{cfg: map[string]*model.DNS{}} }

func (f *fakeNames) Observe(_ context.Context, st *model.State) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for p, c := range f.cfg {
		if st.DNS == nil {
			st.DNS = map[string]*model.DNS{}
		}
		d := cloneDNS(c)
		d.Serving = !f.stopped
		if f.stopped {
			d.Problem = "not running"
		}
		st.DNS[p] = d
	}
	return nil
}

func (f *fakeNames) EnsureDNS(_ context.Context, cfg *model.DNS) error {
	if f.onEnsure != nil {
		f.onEnsure()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "EnsureDNS "+cfg.Project)
	f.cfg[cfg.Project] = cloneDNS(cfg)
	f.stopped = false
	return nil
}

func (f *fakeNames) RemoveDNS(_ context.Context, project string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "RemoveDNS "+project)
	delete(f.cfg, project)
	return nil
}

func cloneDNS(d *model.DNS) *model.DNS {
	b, err := json.Marshal(d)
	if err != nil {
		panic(err)
	}
	var out model.DNS
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return &out
}
