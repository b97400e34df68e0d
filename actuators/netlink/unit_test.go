package netlink

import (
	"context"
	"errors"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	vnl "github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

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
	got := hostRoutes([]rtRoute{
		{table: unix.RT_TABLE_MAIN, typ: unix.RTN_UNICAST, dst: p("0.0.0.0/0")},
		{table: unix.RT_TABLE_MAIN, typ: unix.RTN_UNICAST, dst: p("192.168.1.0/24")},
		{table: unix.RT_TABLE_MAIN, typ: unix.RTN_UNICAST, dst: p("10.0.0.0/8")},
		{table: 100, typ: unix.RTN_UNICAST, dst: p("10.0.0.0/8")}, // same prefix, policy table
		{table: 100, typ: unix.RTN_BLACKHOLE, dst: p("172.31.0.0/16")},
		{table: unix.RT_TABLE_LOCAL, typ: unix.RTN_LOCAL, dst: p("192.168.1.5/32")},
		{table: unix.RT_TABLE_MAIN, typ: unix.RTN_BROADCAST, dst: p("192.168.1.255/32")},
		{table: unix.RT_TABLE_MAIN, typ: unix.RTN_UNICAST, dst: p("172.18.0.0/16"), oif: 7}, // a netctl bridge's
		{table: unix.RT_TABLE_MAIN, typ: unix.RTN_UNICAST, dst: p("fd00:1::/64"), oif: 8},
		{table: unix.RT_TABLE_MAIN, typ: unix.RTN_UNICAST, dst: p("fe80::/64"), oif: 8},
		{table: unix.RT_TABLE_LOCAL, typ: unix.RTN_MULTICAST, dst: p("ff00::/8"), oif: 8},
	}, map[int]bool{7: true})
	want := []netip.Prefix{p("10.0.0.0/8"), p("172.31.0.0/16"), p("192.168.1.0/24"), p("fd00:1::/64")}
	if !slices.Equal(got, want) {
		t.Errorf("hostRoutes = %v, want %v", got, want)
	}
}

func TestRetryDump(t *testing.T) {
	calls := 0
	v, err := retryDump(func() (int, error) {
		calls++
		if calls < 3 {
			return 0, vnl.ErrDumpInterrupted
		}
		return 42, nil
	})
	if v != 42 || err != nil || calls != 3 {
		t.Errorf("got %d, %v after %d calls", v, err, calls)
	}
	calls = 0
	_, err = retryDump(func() (int, error) { calls++; return 0, vnl.ErrDumpInterrupted })
	if !errors.Is(err, vnl.ErrDumpInterrupted) || calls != dumpTries {
		t.Errorf("persistent interruption: %v after %d calls", err, calls)
	}
	calls = 0
	_, err = retryDump(func() (int, error) { calls++; return 0, unix.EPERM })
	if !errors.Is(err, unix.EPERM) || calls != 1 {
		t.Errorf("other error retried: %v after %d calls", err, calls)
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

// TestDumpMatchesVishvananda checks the lean dump reader against
// vishvananda/netlink's full parser on a real namespace.
func TestDumpMatchesVishvananda(t *testing.T) {
	s, _, _, _ := twoContainers(t)
	s.mustIn(s.hostPath, "ip", "route", "add", "10.250.200.0/24", "via", "10.250.1.11")
	s.mustIn(s.hostPath, "ip", "route", "add", "blackhole", "10.250.201.0/24", "table", "100")

	ours, err := s.links.readHost()
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := s.host.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	if len(ours.links) != len(theirs) {
		t.Fatalf("%d links, vishvananda sees %d", len(ours.links), len(theirs))
	}
	for i, l := range ours.links {
		a := theirs[i].Attrs()
		want := link{
			index: a.Index, peer: a.ParentIndex, master: a.MasterIndex, group: a.Group, mtu: a.MTU,
			up: isUp(theirs[i]), name: a.Name, alias: a.Alias, kind: theirs[i].Type(),
		}
		want.mac = a.HardwareAddr
		if want.kind == "device" { // vishvananda's name for "no IFLA_INFO_KIND"
			want.kind = ""
		}
		// vishvananda leaves out the IPv6 settings: the sysctls say them.
		ra := strings.TrimSpace(s.mustIn(s.hostPath, "cat", "/proc/sys/net/ipv6/conf/"+l.name+"/accept_ra"))
		want.acceptRA, want.disableIPv6 = ra != "0", l.disableIPv6
		if !reflect.DeepEqual(l, want) {
			t.Errorf("link %d: got %+v, want %+v", i, l, want)
		}
	}
	vaddrs, err := s.host.AddrList(nil, vnl.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range vaddrs {
		if !slices.Contains(ours.addrs[a.LinkIndex], addrPrefix(a)) {
			t.Errorf("address %s on %d missing from %v", addrPrefix(a), a.LinkIndex, ours.addrs)
		}
	}
	got := hostRoutes(ours.routes, nil)
	for _, want := range []string{"10.250.1.0/24", "10.250.200.0/24", "10.250.201.0/24"} {
		if !slices.Contains(got, netip.MustParsePrefix(want)) {
			t.Errorf("HostRoutes %v lacks %s", got, want)
		}
	}
}
