package netlink

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/internal/nlraw"
	"github.com/netctl/netctl/model"
	"github.com/netctl/netctl/reconciler"
)

var _ reconciler.Links = (*Links)(nil)

func TestCompareIfNames(t *testing.T) {
	names := []string{"eth10", "lo", "eth2", "eth1", "eth0", "br0", "eth", "eth01"}
	slices.SortFunc(names, compareIfNames)
	want := []string{"br0", "eth", "eth0", "eth01", "eth1", "eth2", "eth10", "lo"}
	if !slices.Equal(names, want) {
		t.Errorf("sorted = %v, want %v", names, want)
	}
}

func TestHostRoutes(t *testing.T) {
	p := netip.MustParsePrefix
	got := hostRoutes([]nlraw.Route{
		{Table: unix.RT_TABLE_MAIN, Type: unix.RTN_UNICAST, Dst: p("0.0.0.0/0")},
		{Table: unix.RT_TABLE_MAIN, Type: unix.RTN_UNICAST, Dst: p("192.168.1.0/24")},
		{Table: unix.RT_TABLE_MAIN, Type: unix.RTN_UNICAST, Dst: p("10.0.0.0/8")},
		{Table: 100, Type: unix.RTN_UNICAST, Dst: p("10.0.0.0/8")}, // same prefix, policy table
		{Table: 100, Type: unix.RTN_BLACKHOLE, Dst: p("172.31.0.0/16")},
		{Table: unix.RT_TABLE_LOCAL, Type: unix.RTN_LOCAL, Dst: p("192.168.1.5/32")},
		{Table: unix.RT_TABLE_MAIN, Type: unix.RTN_BROADCAST, Dst: p("192.168.1.255/32")},
		{Table: unix.RT_TABLE_MAIN, Type: unix.RTN_UNICAST, Dst: p("172.18.0.0/16"), OIF: 7}, // a netctl bridge's
		{Table: unix.RT_TABLE_MAIN, Type: unix.RTN_UNICAST, Dst: p("fd00:1::/64"), OIF: 8},
		{Table: unix.RT_TABLE_MAIN, Type: unix.RTN_UNICAST, Dst: p("fe80::/64"), OIF: 8},
		{Table: unix.RT_TABLE_LOCAL, Type: unix.RTN_MULTICAST, Dst: p("ff00::/8"), OIF: 8},
	}, map[int]bool{7: true})
	want := []netip.Prefix{p("10.0.0.0/8"), p("172.31.0.0/16"), p("192.168.1.0/24"), p("fd00:1::/64")}
	if !slices.Equal(got, want) {
		t.Errorf("hostRoutes = %v, want %v", got, want)
	}
}

func TestRunWorkers(t *testing.T) {
	var sum atomic.Int64
	if err := forEach(context.Background(), 1000, 7, func(i int) error { sum.Add(int64(i)); return nil }); err != nil {
		t.Fatal(err)
	}
	if sum.Load() != 999*1000/2 {
		t.Errorf("sum = %d", sum.Load())
	}
	boom := errors.New("boom")
	var after atomic.Int64
	err := forEach(context.Background(), 10000, 4, func(i int) error {
		if i == 10 {
			return boom
		}
		if i > 5000 {
			after.Add(1)
		}
		return nil
	})
	if !errors.Is(err, boom) {
		t.Errorf("err = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := forEach(ctx, 10, 2, func(int) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v", err)
	}
	if err := forEach(context.Background(), 0, 4, func(int) error { return boom }); err != nil {
		t.Errorf("no items: err = %v", err)
	}
}

func TestNetworkName(t *testing.T) {
	for id, want := range map[string]string{"shop/backend": "backend", "/bridge": "bridge", model.NetworkID("x", "bridge"): "bridge"} {
		if got := model.IDName(id); got != want {
			t.Errorf("model.IDName(%q) = %q", id, got)
		}
	}
}

// TestReadHostRoutes: the host observation sees routes of every table but
// the local one (the decoders themselves are tested in internal/nlraw).
func TestReadHostRoutes(t *testing.T) {
	s, _, _, _ := twoContainers(t)
	s.mustIn(s.hostPath, "ip", "route", "add", "10.250.200.0/24", "via", "10.250.1.11")
	s.mustIn(s.hostPath, "ip", "route", "add", "blackhole", "10.250.201.0/24", "table", "100")

	host, err := s.links.readHost(false)
	if err != nil {
		t.Fatal(err)
	}
	got := hostRoutes(host.routes, nil)
	for _, want := range []string{"10.250.1.0/24", "10.250.200.0/24", "10.250.201.0/24"} {
		if !slices.Contains(got, netip.MustParsePrefix(want)) {
			t.Errorf("HostRoutes %v lacks %s", got, want)
		}
	}
}
