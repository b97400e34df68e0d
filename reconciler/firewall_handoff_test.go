package reconciler

import (
	"context"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/netctl/netctl/model"
)

// handOffFirewall is the fake firewall with a read-back another process
// takes on (accept) or declines.
type handOffFirewall struct {
	*fakeFirewall
	accept  bool
	handOff atomic.Int32
	// acceptFrom, when set, is the first call that is accepted (a worker
	// that is not up yet).
	acceptFrom int32
	// namesAt records, per call, how many DNS configurations had been
	// written by then.
	names   *fakeNames
	namesAt []int
}

func (f *handOffFirewall) HandOff(context.Context, *model.FirewallBatch) bool {
	n := f.handOff.Add(1)
	if f.names != nil {
		f.names.mu.Lock()
		f.namesAt = append(f.namesAt, len(f.names.calls))
		f.names.mu.Unlock()
	}
	if f.acceptFrom > 0 {
		return n >= f.acceptFrom
	}
	return f.accept
}

func newHandOffHarness(accept bool) (*harness, *handOffFirewall) {
	h, fw := newFirewallHarness()
	hf := &handOffFirewall{fakeFirewall: fw, accept: accept}
	h.r.Firewall = hf
	return h, hf
}

func (f *fakeFirewall) reads() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.gen
}

// When another process takes the read-back on, the verification does not
// read the rules: it takes the batch's objects as written, converges in
// one round, and what it verified is what a reading finds.
func TestHandedOffReadBackIsNotWaitedFor(t *testing.T) {
	for _, accept := range []bool{true, false} {
		h, fw := newHandOffHarness(accept)
		topo := parse(t, "shop.yaml", firewallTopo)
		grown := parse(t, "shop.yaml", firewallTopo+"  extra:\n    networks: [front]\n    ports: [\"9090:90\"]\n")
		for _, step := range []struct {
			name string
			res  func() *Result
		}{
			{"cold", func() *Result { return h.apply(t, topo) }},
			{"add one", func() *Result { return h.apply(t, grown) }},
		} {
			before, handOffs := fw.reads(), fw.handOff.Load()
			res := step.res()
			reads := fw.reads() - before
			// Declined, the hand-off is asked again after the names
			// phase, then the rules are read back.
			want, wantAsks := 2, int32(2)
			if accept {
				want, wantAsks = 1, 1
			}
			if asks := fw.handOff.Load() - handOffs; reads != want || asks != wantAsks {
				t.Errorf("%s (hand-off accepted: %v): the rules were read %d times, want %d; %d hand-offs asked, want %d",
					step.name, accept, reads, want, asks, wantAsks)
			}
			if res.Rounds != 1 {
				t.Errorf("%s (hand-off accepted: %v): %d rounds, want 1", step.name, accept, res.Rounds)
			}
			web := res.Observed.Containers["shop/web"]
			if web == nil || !slices.ContainsFunc(web.Ports, func(p model.Port) bool { return p.HostPort == 8080 }) {
				t.Errorf("%s: the verified state lacks web's published port: %+v", step.name, web)
			}
			// What the verification took is what a reading finds.
			read, err := fw.Observe(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			verified := res.Observed.Firewall
			if len(verified.BaseMissing) != 0 || !verified.Installed ||
				len(verified.Networks) != len(read.Networks) || len(verified.Ports) != len(read.Ports) || len(verified.Links) != len(read.Links) {
				t.Errorf("%s: verified %d networks, %d ports, %d links (base missing %v, installed %v); a reading finds %d, %d, %d",
					step.name, len(verified.Networks), len(verified.Ports), len(verified.Links), verified.BaseMissing, verified.Installed,
					len(read.Networks), len(read.Ports), len(read.Links))
			}
		}
		if p := h.plan(t, grown); !p.Empty() {
			t.Errorf("hand-off accepted: %v: not converged: %d actions left", accept, len(p.Actions))
		}
	}
}

// A verified state whose rules were taken as written has no snapshot: a
// later reconcile starting from it (watch) reads the rules before it
// changes them, and its batch carries that reading.
func TestWrittenRulesAreReadBeforeTheNextBatch(t *testing.T) {
	h, fw := newHandOffHarness(true)
	topo := parse(t, "shop.yaml", firewallTopo)
	res := h.apply(t, topo)
	if res.Observed.Firewall.Snapshot != nil {
		t.Fatalf("a state taken as written carries a snapshot: %v", res.Observed.Firewall.Snapshot)
	}
	before := fw.reads()
	grown := parse(t, "shop.yaml", firewallTopo+"  extra:\n    networks: [front]\n    ports: [\"9090:90\"]\n")
	if _, err := h.r.ApplyFrom(context.Background(), "shop", grown, res.Observed, Changes{}); err != nil {
		t.Fatal(err)
	}
	if got := fw.reads() - before; got != 1 {
		t.Errorf("the rules were read %d times before the batch, want 1", got)
	}
	fw.mu.Lock()
	defer fw.mu.Unlock()
	if fw.stale != 0 {
		t.Errorf("%d batches did not carry the latest reading", fw.stale)
	}
}

// afterBatch: the objects a batch wrote, as written; the project's ports
// and links replaced by a rewrite, other projects' left; nothing for a
// batch that does more than write objects.
func TestAfterBatch(t *testing.T) {
	port := func(project, container string, hostPort uint16, damaged bool) *model.PortRule {
		return &model.PortRule{Project: project, Container: container, Damaged: damaged,
			Port: model.Port{HostPort: hostPort, ContainerPort: 80, Proto: "tcp"}, Target: netip.MustParseAddr("172.20.0.2")}
	}
	net := func(project, name string, damaged bool) *model.NetworkRules {
		return &model.NetworkRules{Project: project, Name: name, Bridge: "br-" + name, Damaged: damaged}
	}
	have := model.NewFirewall()
	have.BaseMissing = []string{"chain NETCTL missing"}
	have.Stray = map[string][]string{"other": {"-A NETCTL-P-x -j ACCEPT"}}
	have.OtherInstances = true
	for _, n := range []*model.NetworkRules{net("shop", "front", true), net("shop", "gone", false), net("other", "front", false)} {
		have.Networks[n.ID()] = n
	}
	for _, p := range []*model.PortRule{port("shop", "web", 8080, true), port("shop", "old", 8081, false), port("other", "web", 9090, false)} {
		have.Ports[p.Key()] = p
	}
	b := &model.FirewallBatch{Project: "shop", Base: true, Rewrite: true,
		Networks: []*model.NetworkRules{net("shop", "front", false)}, DropNetworks: []*model.NetworkRules{net("shop", "gone", false)},
		Ports: []*model.PortRule{port("shop", "web", 8080, false), port("shop", "new", 8082, false)}}
	got, ok := afterBatch(have, b)
	if !ok {
		t.Fatal("an ordinary batch is not taken as written")
	}
	if len(got.BaseMissing) != 0 || !got.Installed || !got.OtherInstances || len(got.Stray["other"]) != 1 {
		t.Errorf("base missing %v, installed %v, other instances %v, stray %v", got.BaseMissing, got.Installed, got.OtherInstances, got.Stray)
	}
	if got.Snapshot != nil {
		t.Error("a state taken as written carries a snapshot")
	}
	if ids := slices.Sorted(maps.Keys(got.Networks)); !slices.Equal(ids, []string{"other/front", "shop/front"}) || got.Networks["shop/front"].Damaged {
		t.Errorf("networks %v (shop/front damaged: %v)", ids, got.Networks["shop/front"] != nil && got.Networks["shop/front"].Damaged)
	}
	var ports []uint16
	for _, p := range got.Ports {
		if p.Damaged {
			t.Errorf("port %s still damaged", p.Key())
		}
		ports = append(ports, p.HostPort)
	}
	if slices.Sort(ports); !slices.Equal(ports, []uint16{8080, 8082, 9090}) {
		t.Errorf("ports %v, want 8080, 8082 (shop's, rewritten) and 9090 (other's, kept)", ports)
	}
	if have.Networks["shop/front"].Damaged != true || len(have.Ports) != 3 {
		t.Error("afterBatch changed the observation it started from")
	}
	for name, b := range map[string]*model.FirewallBatch{
		"teardown": {Project: "shop", Teardown: true},
		"stray":    {Project: "shop", Stray: true, Rewrite: true},
	} {
		if _, ok := afterBatch(have, b); ok {
			t.Errorf("%s: taken as written", name)
		}
	}
	if _, ok := afterBatch(nil, b); ok {
		t.Error("a batch planned without an observation taken as written")
	}
}

// A first apply starts the DNS server (and the worker that takes
// read-backs) in the names phase, beside the firewall's batch: when the
// worker is not up when the batch is done, the hand-off is asked again
// once that phase is over. A plan without a names phase asks once.
func TestHandOffAskedAgainAfterTheNamesPhase(t *testing.T) {
	h, fw := newHandOffHarness(false)
	fw.acceptFrom, fw.names = 2, h.names
	topo := parse(t, "shop.yaml", firewallTopo)
	before := fw.reads()
	h.apply(t, topo)
	if reads, calls := fw.reads()-before, fw.handOff.Load(); reads != 1 || calls != 2 {
		t.Errorf("the rules were read %d times, want 1; %d hand-offs asked, want 2", reads, calls)
	}
	if len(fw.namesAt) != 2 || fw.namesAt[1] == 0 {
		t.Errorf("the second hand-off was not asked after the names phase: DNS calls by each ask %v", fw.namesAt)
	}

	// Only web's ports change: no names phase.
	fw.acceptFrom = 99
	fw.handOff.Store(0)
	before = fw.reads()
	h.apply(t, parse(t, "shop.yaml", strings.Replace(firewallTopo, `"8080:80"`, `"8088:80"`, 1)))
	if reads, calls := fw.reads()-before, fw.handOff.Load(); reads != 2 || calls != 1 {
		t.Errorf("without a names phase: the rules were read %d times, want 2; %d hand-offs asked, want 1", reads, calls)
	}
}
