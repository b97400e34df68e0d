package nftables

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/vishvananda/netns"

	"github.com/netctl/netctl/internal/sandbox"
	"github.com/netctl/netctl/model"
)

// newKernelBackend is a backend on a fresh sandbox host namespace.
func newKernelBackend(t *testing.T) (*sandbox.Host, *Backend) {
	t.Helper()
	h := sandbox.New(t)
	host, err := netns.GetFromPath(h.NetnsPath())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Close() })
	b, err := New(Config{Host: host, Log: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.DebugLevel)})
	if err != nil {
		t.Fatal(err)
	}
	return h, b
}

func shopFirewall() *model.Firewall {
	fw := model.NewFirewall()
	for _, n := range []*model.NetworkRules{
		{Project: "shop", Name: "backend", Bridge: "br-back", Subnet: netip.MustParsePrefix("172.18.0.0/16"), ICC: true},
		{Project: "shop", Name: "vault", Bridge: "br-vault", Subnet: netip.MustParsePrefix("172.19.0.0/16"), Internal: true, ICC: false},
		{Project: "", Name: model.DefaultNetwork, Bridge: model.DefaultBridge, Subnet: netip.MustParsePrefix("172.17.0.0/16"), ICC: true},
	} {
		fw.Networks[n.ID()] = n
	}
	for _, p := range []*model.PortRule{
		{Project: "shop", Container: "web", Target: netip.MustParseAddr("172.18.0.2"), Port: model.Port{HostPort: 8080, ContainerPort: 5000, Proto: "tcp"}},
		{Project: "shop", Container: "web", Target: netip.MustParseAddr("172.18.0.2"), Port: model.Port{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 32768, ContainerPort: 5000, Proto: "tcp"}},
		{Project: "shop", Container: "dns", Target: netip.MustParseAddr("172.18.0.3"), Port: model.Port{HostPort: 53, ContainerPort: 53, Proto: "udp"}},
	} {
		fw.Ports[p.Key()] = p
	}
	l := &model.LinkRule{Project: "shop", Container: "app", Target: "db", Bridge: "br-vault",
		Src: netip.MustParseAddr("172.19.0.3"), Dst: netip.MustParseAddr("172.19.0.2"), Port: 5432, Proto: "tcp"}
	fw.Links[l.Key()] = l
	return fw
}

func batchFor(fw *model.Firewall, project string) *model.FirewallBatch {
	b := &model.FirewallBatch{Project: project, Base: true, Rewrite: true}
	for _, id := range sortedKeys(fw.Networks) {
		b.Networks = append(b.Networks, fw.Networks[id])
	}
	for _, k := range sortedKeys(fw.Ports) {
		b.Ports = append(b.Ports, fw.Ports[k])
	}
	for _, k := range sortedKeys(fw.Links) {
		b.Links = append(b.Links, fw.Links[k])
	}
	return b
}

func TestKernelApplyObserve(t *testing.T) {
	h, b := newKernelBackend(t)
	ctx := context.Background()
	want := shopFirewall()
	if err := b.Apply(ctx, batchFor(want, "shop")); err != nil {
		t.Fatal(err)
	}
	t.Log(h.InHost("nft", "list", "ruleset").Stdout)
	got, err := b.Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.BaseMissing) > 0 || len(got.Stray) > 0 {
		t.Errorf("base missing %q, stray %q", got.BaseMissing, got.Stray)
	}
	for k, p := range want.Ports {
		if g := got.Ports[k]; g == nil || g.String() != p.String() || g.Damaged {
			t.Errorf("port %s: got %+v", k, g)
		}
	}
	if len(got.Ports) != len(want.Ports) || len(got.Networks) != len(want.Networks) || len(got.Links) != len(want.Links) {
		t.Errorf("got %d ports %d networks %d links", len(got.Ports), len(got.Networks), len(got.Links))
	}
	if out := h.InHost("nft", "list", "ruleset").Stdout; !strings.Contains(out, "netctl:shop:web 0.0.0.0:8080->172.18.0.2:5000/tcp") {
		t.Errorf("nft list ruleset:\n%s", out)
	}
}
