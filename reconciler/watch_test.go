package reconciler

import (
	"context"
	"errors"
	"io/fs"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/netctl/netctl/internal/syncbuf"
	"github.com/netctl/netctl/model"
	"github.com/netctl/netctl/spec"
)

// watchHarness runs a Watch against the fake host, with the file held in
// memory and every hook call recorded.
type watchHarness struct {
	*harness
	gate   *gatedHost
	w      *Watch
	log    *syncbuf.Buffer
	mu     sync.Mutex
	data   []byte
	reads  int
	starts []WatchTrigger
	files  []error
	done   chan *WatchReport
	cancel context.CancelFunc
	ended  chan error
}

func (h *watchHarness) ReconcileStarted(tr WatchTrigger) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.starts = append(h.starts, tr)
}

func (h *watchHarness) ReconcileDone(rep *WatchReport) { h.done <- rep }

func (h *watchHarness) FileChecked(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.files = append(h.files, err)
}

func (h *watchHarness) setFile(content string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.data = []byte(content)
}

const watchFile = "/etc/netctl/shop.yaml"

func newWatch(t *testing.T, content string, resync time.Duration, opts ...func(*Watch)) *watchHarness {
	t.Helper()
	h := &watchHarness{harness: newHarness(), log: &syncbuf.Buffer{}, done: make(chan *WatchReport, 100), ended: make(chan error, 1)}
	h.gate = &gatedHost{fakeHost: h.links, failN: map[string]int{}, block: map[string]chan struct{}{}, entered: make(chan string, 10)}
	h.r.Links = h.gate
	h.setFile(content)
	h.w = &Watch{
		Reconciler: h.r,
		Read: func() ([]byte, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.reads++
			if h.data == nil {
				return nil, &fs.PathError{Op: "open", Path: watchFile, Err: fs.ErrNotExist}
			}
			return slices.Clone(h.data), nil
		},
		Parse: func(data []byte) (*spec.Topology, error) {
			t, err := spec.Parse(watchFile, data)
			if err != nil {
				return nil, err
			}
			return t, Unsupported(t)
		},
		Resync:      resync,
		Quiet:       100 * time.Millisecond,
		QuietAtomic: 20 * time.Millisecond,
		MaxDelay:    time.Second,
		Log:         zerolog.New(h.log),
		Hooks:       h,
	}
	for _, o := range opts {
		o(h.w)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.ended <- h.w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-h.ended; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return h
}

// report waits for the next reconcile.
func (h *watchHarness) report(t *testing.T) *WatchReport {
	t.Helper()
	select {
	case r := <-h.done:
		return r
	case <-time.After(5 * time.Second):
		t.Fatalf("no reconcile; log:\n%s", h.log.String())
	}
	return nil
}

// noReport checks that nothing reconciles for a while.
func (h *watchHarness) noReport(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case r := <-h.done:
		t.Fatalf("unexpected reconcile: %+v", r)
	case <-time.After(d):
	}
}

const shopV1 = `
networks:
  backend: {subnet: 172.30.0.0/24}
containers:
  db: {networks: [backend]}
`

const shopV2 = shopV1 + `  web: {networks: [backend]}
`

func TestWatchAppliesAtStartAndOnEdit(t *testing.T) {
	h := newWatch(t, shopV1, 0)
	r := h.report(t)
	if r.Trigger != TriggerStart || r.Outcome != OutcomeConverged || len(r.Done) == 0 || r.Drift {
		t.Fatalf("start: %+v", r)
	}
	if r.Project != "shop" || r.Networks != 2 || r.Containers != 1 || r.Endpoints != 1 {
		t.Errorf("objects: %+v", r)
	}
	h.container(t, "shop/db")

	h.setFile(shopV2)
	h.w.NotifyFile(true)
	r = h.report(t)
	if r.Trigger != TriggerFile || r.Outcome != OutcomeConverged || r.Drift || r.EditToConverged <= 0 {
		t.Fatalf("edit: %+v", r)
	}
	h.container(t, "shop/web")
	if !strings.Contains(h.log.String(), `"edit_to_converged"`) {
		t.Errorf("edit-to-converged time not logged:\n%s", h.log.String())
	}

	// The same content again (touch, a rewrite): no reconcile.
	h.w.NotifyFile(false)
	h.noReport(t, 300*time.Millisecond)
}

func TestWatchDebouncesABurst(t *testing.T) {
	h := newWatch(t, shopV1, 0)
	h.report(t)
	for i := range 20 {
		if i%2 == 0 {
			h.setFile(shopV2)
		} else {
			h.setFile(shopV1 + "# edit " + string(rune('a'+i)) + "\n")
		}
		h.w.NotifyFile(false)
		time.Sleep(2 * time.Millisecond)
	}
	h.setFile(shopV2)
	h.w.NotifyFile(false)
	r := h.report(t)
	if r.Trigger != TriggerFile {
		t.Fatalf("burst: %+v", r)
	}
	h.noReport(t, 300*time.Millisecond)
	h.container(t, "shop/web")
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.reads > 3 {
		t.Errorf("a burst of 21 writes read the file %d times, want one read (plus the start)", h.reads)
	}
}

func TestWatchMaxDelay(t *testing.T) {
	h := newWatch(t, shopV1, 0, func(w *Watch) { w.MaxDelay = 300 * time.Millisecond })
	h.report(t)
	h.setFile(shopV2)
	start := time.Now()
	stop := time.After(2 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond) // always inside the quiet period
	defer tick.Stop()
	for {
		select {
		case r := <-h.done:
			if r.Trigger != TriggerFile || time.Since(start) > 1500*time.Millisecond {
				t.Fatalf("under a stream of writes: %+v after %s", r, time.Since(start))
			}
			return
		case <-tick.C:
			h.w.NotifyFile(false)
		case <-stop:
			t.Fatal("a continuous stream of writes starved the reconcile")
		}
	}
}

func TestWatchKeepsLastGoodTopology(t *testing.T) {
	h := newWatch(t, shopV1, 0)
	h.report(t)

	bad := map[string]string{
		"bad YAML": "containers:\n  db: {networks: [backend]\n",
		"invalid":  shopV1 + "  web: {networks: [nope]}\n",
		"empty":    "  \n",
		"renamed":  "name: other\n" + shopV2,
		"unimplemented": strings.Replace(strings.Replace(shopV1, "{subnet: 172.30.0.0/24}", "{subnet: 172.30.0.0/24, driver: overlay, enable_ipv6: true}", 1),
			"[backend]}", "[backend], node: a}\nnodes: {a: {address: \"fd00:250::1\"}}", 1),
	}
	for name, content := range bad {
		h.setFile(content)
		h.w.NotifyFile(true)
		h.noReport(t, 200*time.Millisecond)
		h.mu.Lock()
		last := h.files[len(h.files)-1]
		h.mu.Unlock()
		if last == nil {
			t.Errorf("%s: file accepted", name)
		}
		if _, ok := h.links.st.Containers["shop/db"]; !ok {
			t.Fatalf("%s: the topology in force was torn down", name)
		}
	}
	log := h.log.String()
	for _, want := range []string{
		watchFile + ":1: invalid YAML",                          // bad YAML, with its line
		watchFile + `:6:20: container \"web\": unknown network`, // validation, with line and column
		"the file is empty",
		`the project name changed from \"shop\" to \"other\"`,
		"an IPv6 underlay: not implemented yet",
		"stays in force",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}

	h.setFile(shopV2)
	h.w.NotifyFile(true)
	if r := h.report(t); r.Trigger != TriggerFile || r.Outcome != OutcomeConverged {
		t.Fatalf("the next good file: %+v", r)
	}
	h.container(t, "shop/web")
}

func TestWatchStartsWithoutAGoodFile(t *testing.T) {
	h := newWatch(t, "", 0) // empty at first, then missing: nothing to apply
	h.mu.Lock()
	h.data = nil
	h.mu.Unlock()
	h.noReport(t, 200*time.Millisecond)
	h.setFile(shopV1)
	h.w.NotifyFile(true)
	if r := h.report(t); r.Outcome != OutcomeConverged {
		t.Fatalf("once the file appears: %+v", r)
	}
}

func TestWatchRepairsDrift(t *testing.T) {
	h := newWatch(t, shopV2, 0)
	h.report(t)

	// Someone deletes web's endpoint by hand; the kernel announces it.
	h.links.mu.Lock()
	c := h.links.st.Containers["shop/web"]
	c.Endpoints = nil
	h.links.mu.Unlock()
	h.w.NotifyHost(nil)
	r := h.report(t)
	if r.Trigger != TriggerHost || !r.Drift || r.Outcome != OutcomeConverged {
		t.Fatalf("drift: %+v", r)
	}
	if !slices.ContainsFunc(r.Done, func(a *Action) bool { return a.Kind == KindEndpoint && a.Name == "web/backend" }) {
		t.Errorf("drift repair did not recreate the endpoint: %v", r.Done)
	}
	if log := h.log.String(); !strings.Contains(log, `"message":"drift repaired"`) || !strings.Contains(log, `"object":"web/backend"`) {
		t.Errorf("the drift is not named in the log:\n%s", log)
	}

	// A host event for something that did not drift: a no-op reconcile.
	h.w.NotifyHost(nil)
	if r := h.report(t); r.Drift || len(r.Done) != 0 {
		t.Errorf("no-op: %+v", r)
	}
}

func TestWatchResyncRepairsSilentDrift(t *testing.T) {
	h := newWatch(t, shopV2, 150*time.Millisecond)
	h.report(t)
	h.links.mu.Lock()
	h.links.st.Containers["shop/db"].DefaultGateway = netip.Addr{}
	h.links.mu.Unlock()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case r := <-h.done:
			if r.Trigger != TriggerResync {
				t.Fatalf("unexpected reconcile %+v", r)
			}
			if r.Drift {
				if !slices.ContainsFunc(r.Done, func(a *Action) bool { return a.Kind == KindRoute && a.Name == "db" }) {
					t.Errorf("resync repaired %v, want db's route", r.Done)
				}
				return
			}
		case <-deadline:
			t.Fatalf("resync did not repair the route; log:\n%s", h.log.String())
		}
	}
}

func TestWatchRetriesAFailure(t *testing.T) {
	h := newWatch(t, shopV1, 0)
	h.report(t)
	// Fail every round of the next reconcile.
	h.gate.mu.Lock()
	h.gate.failN["EnsureNamespace shop/web"] = maxRounds
	h.gate.mu.Unlock()
	h.setFile(shopV2)
	h.w.NotifyFile(true)
	r := h.report(t)
	if r.Outcome != OutcomeFailed || r.Err == nil {
		t.Fatalf("first try: %+v", r)
	}
	r = h.report(t)
	if r.Trigger != TriggerRetry || r.Outcome != OutcomeConverged {
		t.Fatalf("retry: %+v", r)
	}
	h.container(t, "shop/web")
}

func TestWatchReloadAndStop(t *testing.T) {
	h := newWatch(t, shopV1, 0)
	h.report(t)
	h.w.Reload()
	if r := h.report(t); r.Trigger != TriggerReload || r.Outcome != OutcomeConverged {
		t.Fatalf("reload: %+v", r)
	}
	h.cancel()
	select {
	case err := <-h.ended:
		if err != nil {
			t.Fatal(err)
		}
		h.ended <- nil // for the cleanup
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// A reconcile cancelled half way stops between actions; the next run
// converges from there.
func TestWatchCancelledReconcile(t *testing.T) {
	h := newWatch(t, shopV1, 0)
	h.report(t)
	release := make(chan struct{})
	h.gate.mu.Lock()
	h.gate.block["EnsureEndpoint shop/web"] = release
	h.gate.mu.Unlock()
	h.setFile(shopV2)
	h.w.NotifyFile(true)
	// Wait until the reconcile is inside the blocked action, then stop.
	select {
	case <-h.gate.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("reconcile never reached the endpoint")
	}
	h.cancel()
	close(release)
	if r := h.report(t); r.Outcome != OutcomeCancelled {
		t.Fatalf("cancelled: %+v", r)
	}
	if err := <-h.ended; err != nil {
		t.Fatal(err)
	}
	h.ended <- nil

	// A new watcher (a restart) converges.
	res, err := h.r.Apply(context.Background(), "shop", parse(t, watchFile, shopV2))
	if err != nil {
		t.Fatalf("restart: %v (%+v)", err, res)
	}
	if len(h.r.mustPlan(t, parse(t, watchFile, shopV2)).Actions) != 0 {
		t.Error("not converged after the restart")
	}
}

func (r *Reconciler) mustPlan(t *testing.T, topo *spec.Topology) *Plan {
	t.Helper()
	p, err := r.Plan(context.Background(), topo.Name, topo)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestWatchRequiresItsFuncs(t *testing.T) {
	if err := (&Watch{}).Run(context.Background()); err == nil {
		t.Error("Run without Reconciler, Read and Parse succeeded")
	}
}

// gatedHost wraps the fake kernel to fail or hold chosen calls.
type gatedHost struct {
	*fakeHost
	mu sync.Mutex
	// failN fails the named call that many times ("EnsureNamespace shop/web").
	failN map[string]int
	// block holds the named call ("EnsureEndpoint shop/web") until the
	// channel is closed, after sending its name on entered.
	block   map[string]chan struct{}
	entered chan string
}

func (g *gatedHost) gate(call string) error {
	g.mu.Lock()
	n := g.failN[call]
	if n > 0 {
		g.failN[call] = n - 1
	}
	ch := g.block[call]
	g.mu.Unlock()
	if n > 0 {
		return errors.New(call + ": injected failure")
	}
	if ch != nil {
		g.entered <- call
		<-ch
	}
	return nil
}

func (g *gatedHost) EnsureNamespace(ctx context.Context, c *model.Container) error {
	if err := g.gate("EnsureNamespace " + c.ID()); err != nil {
		return err
	}
	return g.fakeHost.EnsureNamespace(ctx, c)
}

func (g *gatedHost) EnsureEndpoint(ctx context.Context, c *model.Container, n *model.Network, ep *model.Endpoint) error {
	if err := g.gate("EnsureEndpoint " + c.ID()); err != nil {
		return err
	}
	return g.fakeHost.EnsureEndpoint(ctx, c, n, ep)
}

func TestResyncPeriodStretches(t *testing.T) {
	w := &Watch{Resync: 10 * time.Second, ResyncShare: 0.004}
	for _, c := range []struct{ took, want time.Duration }{
		{5 * time.Millisecond, 10 * time.Second},   // 100 containers: the floor
		{100 * time.Millisecond, 25 * time.Second}, // 1000 containers: 0.4 %
	} {
		if got := w.resyncPeriod(c.took); got != c.want {
			t.Errorf("resync after one taking %s: %s, want %s", c.took, got, c.want)
		}
	}
	w.ResyncShare = 0
	if got := w.resyncPeriod(time.Second); got != 10*time.Second {
		t.Errorf("without a share: %s", got)
	}
}

// takeScopes returns the scopes Observe was called with since the last
// call.
func (h *watchHarness) takeScopes() []model.Scope {
	h.links.mu.Lock()
	defer h.links.mu.Unlock()
	s := h.links.scopes
	h.links.scopes = nil
	return s
}

// TestWatchReadsWhatChanged: after the first reconcile, watch reads only
// the containers the kernel announced changes to (and an edit reads no
// namespace at all), until an announcement it could not tell, or a
// resync, makes it read everything again.
func TestWatchReadsWhatChanged(t *testing.T) {
	h := newWatch(t, shopV2, 0)
	if r := h.report(t); r.Outcome != OutcomeConverged {
		t.Fatalf("start: %+v", r)
	}
	if s := h.takeScopes(); len(s) == 0 || s[0] != nil {
		t.Fatalf("the first reconcile read %v, want everything first", s)
	}

	// An edit adds a container: nothing is read but what the plan touched.
	h.setFile(shopV2 + "  cache: {networks: [backend]}\n")
	h.w.NotifyFile(true)
	if r := h.report(t); r.Outcome != OutcomeConverged || len(r.Done) == 0 {
		t.Fatalf("edit: %+v", r)
	}
	for _, s := range h.takeScopes() {
		if s == nil || len(s) > 1 || (len(s) == 1 && !s["shop/cache"]) {
			t.Errorf("the edit read %v, want nothing or the new container", s)
		}
	}

	// Drift announced in one container: that one is read, and repaired.
	h.links.mu.Lock()
	h.links.st.Containers["shop/db"].DefaultGateway = netip.Addr{}
	h.links.mu.Unlock()
	h.w.NotifyHost(model.Scope{"shop/db": true})
	if r := h.report(t); !r.Drift || r.Outcome != OutcomeConverged {
		t.Fatalf("announced drift: %+v", r)
	}
	if s := h.takeScopes(); len(s) == 0 || !maps.Equal(s[0], model.Scope{"shop/db": true}) {
		t.Errorf("announced drift read %v, want shop/db first", s)
	}

	// Drift nobody announced is not seen until something says to read
	// everything.
	h.links.mu.Lock()
	h.links.st.Containers["shop/web"].DefaultGateway = netip.Addr{}
	h.links.mu.Unlock()
	h.w.NotifyHost(model.Scope{})
	if r := h.report(t); r.Drift || len(r.Done) != 0 {
		t.Fatalf("unannounced drift repaired from a cached view: %+v", r)
	}
	h.takeScopes()
	h.w.NotifyHost(nil)
	if r := h.report(t); !r.Drift || r.Outcome != OutcomeConverged {
		t.Fatalf("after an overflow: %+v", r)
	}
	if s := h.takeScopes(); len(s) == 0 || s[0] != nil {
		t.Errorf("after an overflow read %v, want everything", s)
	}
}
