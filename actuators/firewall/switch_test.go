package firewall

import (
	"context"
	"errors"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/netctl/netctl/model"
)

// memBackend keeps netctl's objects in memory and carries batches out on
// them as a real backend does on the kernel.
type memBackend struct {
	name    string
	objs    *model.Firewall
	batches []*model.FirewallBatch
}

type memSnapshot struct{ name string }

func (s memSnapshot) Backend() string { return s.name }

func newMem(name string) *memBackend { return &memBackend{name: name, objs: model.NewFirewall()} }

func (b *memBackend) Name() string { return b.name }

func (b *memBackend) Observe(context.Context) (*model.Firewall, error) {
	fw := model.NewFirewall()
	maps.Copy(fw.Networks, b.objs.Networks)
	maps.Copy(fw.Ports, b.objs.Ports)
	maps.Copy(fw.Links, b.objs.Links)
	fw.Installed = len(fw.Networks)+len(fw.Ports)+len(fw.Links) > 0
	fw.Snapshot = memSnapshot{b.name}
	return fw, nil
}

func (b *memBackend) Apply(_ context.Context, batch *model.FirewallBatch) error {
	b.batches = append(b.batches, batch)
	if batch.Teardown {
		b.objs = model.NewFirewall()
		return nil
	}
	for _, n := range batch.DropNetworks {
		delete(b.objs.Networks, n.ID())
	}
	for _, n := range batch.Networks {
		b.objs.Networks[n.ID()] = n
	}
	if batch.Rewrite {
		maps.DeleteFunc(b.objs.Ports, func(_ string, p *model.PortRule) bool { return p.Project == batch.Project })
		maps.DeleteFunc(b.objs.Links, func(_ string, l *model.LinkRule) bool { return l.Project == batch.Project })
		for _, p := range batch.Ports {
			b.objs.Ports[p.Key()] = p
		}
		for _, l := range batch.Links {
			b.objs.Links[l.Key()] = l
		}
	}
	return nil
}

func (b *memBackend) keys() []string {
	var out []string
	for id, n := range b.objs.Networks {
		out = append(out, "network "+id+" "+n.Bridge)
	}
	for k, p := range b.objs.Ports {
		out = append(out, "port "+k+" "+p.String())
	}
	for k := range b.objs.Links {
		out = append(out, "link "+k)
	}
	slices.Sort(out)
	return out
}

func TestChoose(t *testing.T) {
	works := func(names ...string) opener {
		return func(name string) (Backend, error) {
			if slices.Contains(names, name) {
				return newMem(name), nil
			}
			return nil, errors.New(name + " not found")
		}
	}
	for _, c := range []struct {
		want   string
		works  []string
		active string
		others []string
		err    string
	}{
		{"auto", []string{"iptables", "nftables"}, "iptables", []string{"nftables"}, ""},
		{"", []string{"iptables", "nftables"}, "iptables", []string{"nftables"}, ""},
		{"auto", []string{"nftables"}, "nftables", nil, ""},
		{"auto", nil, "", nil, "no firewall backend works on this host (install iptables, or use a kernel with nf_tables): iptables: iptables not found\nnftables: nftables not found"},
		{"nftables", []string{"iptables", "nftables"}, "nftables", []string{"iptables"}, ""},
		{"iptables", []string{"iptables"}, "iptables", nil, ""},
		{"iptables", []string{"nftables"}, "", nil, "firewall backend iptables: iptables not found"},
		{"pf", []string{"iptables", "nftables"}, "", nil, `firewall backend "pf": want auto, iptables or nftables`},
	} {
		active, others, err := choose(c.want, works(c.works...))
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("choose(%q) with %v: error %v, want %q", c.want, c.works, err, c.err)
			}
			continue
		}
		var names []string
		for _, o := range others {
			names = append(names, o.Name())
		}
		if err != nil || active.Name() != c.active || !slices.Equal(names, c.others) {
			t.Errorf("choose(%q) with %v = %v, %v, %v; want %s, %v", c.want, c.works, active, names, err, c.active, c.others)
		}
	}
}

// hostWithTwoProjects is what a host running projects a and b holds.
func hostWithTwoProjects(b *memBackend) {
	for _, n := range []*model.NetworkRules{
		{Project: "a", Name: "n", Bridge: "br-a", Subnet: netip.MustParsePrefix("172.18.0.0/16"), ICC: true},
		{Project: "b", Name: "n", Bridge: "br-b", Subnet: netip.MustParsePrefix("172.19.0.0/16"), ICC: false},
		{Project: "", Name: model.DefaultNetwork, Bridge: model.DefaultBridge, Subnet: netip.MustParsePrefix("172.17.0.0/16"), ICC: true},
	} {
		b.objs.Networks[n.ID()] = n
	}
	for _, p := range []*model.PortRule{
		{Project: "a", Container: "web", Target: netip.MustParseAddr("172.18.0.2"), Port: model.Port{HostPort: 32768, ContainerPort: 80, Proto: "tcp"}},
		{Project: "b", Container: "app", Target: netip.MustParseAddr("172.17.0.2"), Port: model.Port{HostPort: 32769, ContainerPort: 80, Proto: "tcp"}},
	} {
		b.objs.Ports[p.Key()] = p
	}
	l := &model.LinkRule{Project: "b", Container: "x", Target: "y", Bridge: "br-b", Src: netip.MustParseAddr("172.19.0.3"),
		Dst: netip.MustParseAddr("172.19.0.2"), Port: 5432, Proto: "tcp"}
	b.objs.Links[l.Key()] = l
}

func TestSwitchMovesEveryProject(t *testing.T) {
	ctx := context.Background()
	nft, ipt := newMem("nftables"), newMem("iptables")
	hostWithTwoProjects(ipt)
	before := ipt.keys()
	f := &Firewall{backend: nft, others: []Backend{ipt}, log: zerolog.Nop()}

	fw, err := f.Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !fw.Installed || len(fw.BaseMissing) != 1 || !strings.Contains(fw.BaseMissing[0], "iptables still holds netctl's rules (the backend in use is nftables)") {
		t.Errorf("observed: installed %v, base missing %q", fw.Installed, fw.BaseMissing)
	}
	web := fw.Ports["a 0.0.0.0:32768/tcp"]
	if web == nil || !web.Damaged || web.HostPort != 32768 {
		t.Errorf("a's port as observed: %+v", web)
	}

	// Project a's apply, as the reconciler plans it: its own objects as
	// the file wants them (damaged as observed: rewritten), the base.
	want, wantNet := *web, *fw.Networks["a/n"]
	want.Damaged, wantNet.Damaged = false, false
	b := &model.FirewallBatch{Project: "a", Base: true, Observed: fw.Snapshot, Rewrite: true,
		Networks: []*model.NetworkRules{&wantNet}, Ports: []*model.PortRule{&want}}
	if err := f.Apply(ctx, b); err != nil {
		t.Fatal(err)
	}
	if got := nft.keys(); !slices.Equal(got, before) {
		t.Errorf("nftables after the switch:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(before, "\n"))
	}
	if len(ipt.objs.Networks)+len(ipt.objs.Ports)+len(ipt.objs.Links) != 0 || !ipt.batches[len(ipt.batches)-1].Teardown {
		t.Errorf("iptables after the switch: %v", ipt.keys())
	}
	if s, ok := nft.batches[0].Observed.(memSnapshot); !ok || s.name != "nftables" {
		t.Errorf("the backend in use got snapshot %v, want its own", nft.batches[0].Observed)
	}
	for _, nb := range nft.batches {
		for _, p := range nb.Ports {
			if p.Damaged {
				t.Errorf("moved a port as damaged: %+v", p)
			}
		}
		for _, n := range nb.Networks {
			if n.Damaged {
				t.Errorf("moved a network as damaged: %+v", n)
			}
		}
	}

	// Everything in one backend now: observing finds nothing to move.
	fw, err = f.Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := fw.Snapshot.(*switched); ok || len(fw.BaseMissing) > 0 {
		t.Errorf("second observe: %T, %q", fw.Snapshot, fw.BaseMissing)
	}
}

// A project's down after a switch removes its objects from the previous
// backend, moves the other projects' and leaves the dropped ones out.
func TestSwitchOnDown(t *testing.T) {
	ctx := context.Background()
	nft, ipt := newMem("nftables"), newMem("iptables")
	hostWithTwoProjects(ipt)
	f := &Firewall{backend: nft, others: []Backend{ipt}, log: zerolog.Nop()}
	fw, err := f.Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b := &model.FirewallBatch{Project: "a", Observed: fw.Snapshot, Rewrite: true, DropNetworks: []*model.NetworkRules{fw.Networks["a/n"]}}
	if err := f.Apply(ctx, b); err != nil {
		t.Fatal(err)
	}
	for _, k := range nft.keys() {
		if strings.Contains(k, "a/") || strings.HasPrefix(k, "port a ") {
			t.Errorf("a's object moved although a went down: %s", k)
		}
	}
	if len(nft.keys()) != 4 || len(ipt.keys()) != 0 {
		t.Errorf("nftables %q, iptables %q", nft.keys(), ipt.keys())
	}

	// A teardown takes both backends, moving nothing.
	hostWithTwoProjects(ipt)
	fw, _ = f.Observe(ctx)
	nft.batches = nil
	if err := f.Apply(ctx, &model.FirewallBatch{Teardown: true, Observed: fw.Snapshot}); err != nil {
		t.Fatal(err)
	}
	if len(nft.keys())+len(ipt.keys()) != 0 || len(nft.batches) != 1 {
		t.Errorf("after teardown: nftables %q (%d batches), iptables %q", nft.keys(), len(nft.batches), ipt.keys())
	}
}
