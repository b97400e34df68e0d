package nftables

import (
	"context"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/netctl/netctl/internal/golden"

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
		// An overlay: VXLAN for VNI 4242 to 10.250.0.1 only from the two
		// other nodes, whose DNS queries to 10.250.0.1 are not DNATed.
		{Project: "shop", Name: "mesh", Bridge: "br-mesh", Subnet: netip.MustParsePrefix("10.60.0.0/16"), ICC: true,
			VXLAN: &model.VXLANFilter{VNI: 4242, Local: netip.MustParseAddr("10.250.0.1"), Port: 4789,
				Peers: []netip.Addr{netip.MustParseAddr("10.250.0.2"), netip.MustParseAddr("10.250.0.3")}},
			PeerDNS: &model.PeerDNS{Listen: netip.MustParseAddr("10.250.0.1"),
				Peers: []netip.Addr{netip.MustParseAddr("10.250.0.2"), netip.MustParseAddr("10.250.0.3")}}},
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

// Each fixture applied to a fresh sandbox and read back as it was: the
// IPv4 shop and the dual-stack one (whose IPv6 halves join their networks).
func TestKernelApplyObserve(t *testing.T) {
	for name, tc := range map[string]struct {
		fw   func() *model.Firewall
		list []string // in `nft list ruleset`
	}{
		"ipv4": {shopFirewall, []string{"netctl:shop:web 0.0.0.0:8080->172.18.0.2:5000/tcp"}},
		"dual stack": {dualShopFirewall, []string{"fd00:18::/64", "netctl:shop:web [::]:8080->[fd00:18::2]:5000/tcp",
			"fd00:99::1 . tcp . 8443 comment", ": fd00:18::2 . 443 }"}},
	} {
		t.Run(name, func(t *testing.T) {
			h, b := newKernelBackend(t)
			ctx := context.Background()
			want := tc.fw()
			if err := b.Apply(ctx, batchFor(want, "shop")); err != nil {
				t.Fatal(err)
			}
			got, err := b.Observe(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(got.BaseMissing) > 0 || len(got.Stray) > 0 {
				t.Errorf("base missing %q, stray %q", got.BaseMissing, got.Stray)
			}
			for id, n := range want.Networks {
				if g := got.Networks[id]; g == nil || !g.Equal(n) || g.Damaged {
					t.Errorf("network %s: got %+v", id, g)
				}
			}
			for k, p := range want.Ports {
				if g := got.Ports[k]; g == nil || g.String() != p.String() || g.Damaged {
					t.Errorf("port %s: got %+v", k, g)
				}
			}
			if len(got.Ports) != len(want.Ports) || len(got.Networks) != len(want.Networks) || len(got.Links) != len(want.Links) {
				t.Errorf("got %d ports %d networks %d links", len(got.Ports), len(got.Networks), len(got.Links))
			}
			out := h.InHost("nft", "list", "ruleset").Stdout
			for _, s := range tc.list {
				if !strings.Contains(out, s) {
					t.Errorf("nft list ruleset lacks %q:\n%s", s, out)
				}
			}
		})
	}
}

// nft shows netctl's table as an admin would write it (the golden file is
// nft 1.0.6's listing, Debian 12's).
func TestKernelNftListing(t *testing.T) {
	h, b := newKernelBackend(t)
	if err := b.Apply(context.Background(), batchFor(shopFirewall(), "shop")); err != nil {
		t.Fatal(err)
	}
	r := h.InHost("nft", "--stateless", "list", "table", "inet", "netctl")
	if r.Code != 0 {
		t.Fatal(r)
	}
	golden.File(t, filepath.Join("testdata", "shop.nft-list"), r.Stdout)
}

// Changes are element changes, in place; a damaged fixed part is rebuilt
// in the same transaction as the batch; a teardown leaves nothing.
func TestKernelChangesRepairsAndTeardown(t *testing.T) {
	h, b := newKernelBackend(t)
	ctx := context.Background()
	fw := shopFirewall()
	if err := b.Apply(ctx, batchFor(fw, "shop")); err != nil {
		t.Fatal(err)
	}
	observe := func() *model.Firewall {
		t.Helper()
		got, err := b.Observe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}

	// Re-target the UDP port: one element out, one in, in place.
	got := observe()
	batch := batchFor(fw, "shop")
	batch.Base = false
	batch.Observed = got.Snapshot
	for i, p := range batch.Ports {
		if p.Proto == "udp" {
			c := *p
			c.Target = netip.MustParseAddr("172.18.0.30")
			batch.Ports[i] = &c
		}
	}
	if err := b.Apply(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if p := observe().Ports["shop 0.0.0.0:53/udp"]; p == nil || p.Target.String() != "172.18.0.30" || p.Damaged {
		t.Errorf("re-targeted port: %+v", p)
	}

	// Somebody flushes the forward chain and adds a chain of their own.
	for _, cmd := range []string{"flush chain inet netctl forward", "add chain inet netctl mine"} {
		if r := h.InHost("nft", cmd); r.Code != 0 {
			t.Fatal(r)
		}
	}
	got = observe()
	if !slices.Contains(got.BaseMissing, "chain forward: rules differ") || !slices.Contains(got.Stray[""], "chain mine is not netctl's") {
		t.Errorf("drift: base missing %q, stray %q", got.BaseMissing, got.Stray)
	}
	if err := b.Apply(ctx, &model.FirewallBatch{Project: "shop", Base: true, Stray: true, Observed: got.Snapshot}); err != nil {
		t.Fatal(err)
	}
	got = observe()
	if len(got.BaseMissing) > 0 || len(got.Stray) > 0 || len(got.Ports) != 3 || got.Ports["shop 0.0.0.0:53/udp"].Target.String() != "172.18.0.30" {
		t.Errorf("after the repair: base missing %q, stray %q, %d ports", got.BaseMissing, got.Stray, len(got.Ports))
	}

	if err := b.Apply(ctx, &model.FirewallBatch{Teardown: true, Observed: got.Snapshot}); err != nil {
		t.Fatal(err)
	}
	if got := observe(); got.Installed || len(got.Networks) > 0 {
		t.Errorf("after teardown: %+v", got)
	}
	if r := h.InHost("nft", "list", "ruleset"); r.Code != 0 || strings.TrimSpace(r.Stdout) != "" {
		t.Errorf("ruleset after teardown: %s", r)
	}
}

// Another table's forward chain that drops by default is found, unless
// it accepts the bridges (directly or in a chain it jumps to).
func TestKernelForwardDrops(t *testing.T) {
	h, b := newKernelBackend(t)
	for _, cmd := range []string{
		"add table ip filter",
		"add chain ip filter FORWARD { type filter hook forward priority 0; policy drop; }",
		"add chain ip filter DOCKER-USER",
		"add rule ip filter FORWARD counter jump DOCKER-USER",
		"add rule ip filter DOCKER-USER iifname \"br-ok\" counter accept",
		"add rule ip filter DOCKER-USER oifname \"br-ok\" counter accept",
		"add rule ip filter FORWARD iifname \"br-half\" accept",
		"add table inet fw",
		"add chain inet fw forwarding { type filter hook forward priority 10; }",
		"add rule inet fw forwarding ct state established accept",
		"add rule inet fw forwarding oifname \"br*\" accept",
		"add rule inet fw forwarding iifname \"br*\" accept",
		"add rule inet fw forwarding counter reject",
	} {
		if r := h.InHost("nft", cmd); r.Code != 0 {
			t.Fatalf("%s: %s", cmd, r)
		}
	}
	drops, err := b.forwardDrops([]string{"br-ok", "br-half", "netctl0"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range drops {
		got = append(got, d.String())
	}
	want := []string{
		"table ip filter chain FORWARD drops forwarded traffic (policy drop) and accepts none from or to br-half, netctl0",
		"table inet fw chain forwarding drops forwarded traffic (its last rule drops everything) and accepts none from or to netctl0",
	}
	if !slices.Equal(got, want) {
		t.Errorf("forward drops:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// Subscribe reports other processes' changes to netctl's table, not
// netctl's own nor changes to other tables.
func TestKernelSubscribe(t *testing.T) {
	h, b := newKernelBackend(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, err := b.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := func() bool {
		select {
		case <-events:
			return true
		case <-time.After(300 * time.Millisecond):
			return false
		}
	}
	if err := b.Apply(ctx, batchFor(shopFirewall(), "shop")); err != nil {
		t.Fatal(err)
	}
	if got() {
		t.Error("netctl's own transaction was reported")
	}
	if r := h.InHost("nft", "add table inet other"); r.Code != 0 {
		t.Fatal(r)
	}
	if got() {
		t.Error("a change to another table was reported")
	}
	for _, cmd := range []string{"delete element inet netctl ports-any { tcp . 8080 }", "delete table inet netctl"} {
		if r := h.InHost("nft", cmd); r.Code != 0 {
			t.Fatal(r)
		}
		if !got() {
			t.Errorf("%s: not reported", cmd)
		}
	}
	cancel()
	for range events {
	}
}
