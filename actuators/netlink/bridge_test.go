package netlink

import (
	"context"
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	vnl "github.com/vishvananda/netlink"

	"github.com/netctl/netctl/model"
)

func TestEnsureBridgeConverges(t *testing.T) {
	s := newSandbox(t)
	n := s.network("p", "net", "nct-br", "172.20.0.0/16")
	s.ensureBridge(n)
	br := s.hostLink(n.Bridge)
	if br.Attrs().Alias != "netctl:p:net" || br.Attrs().MTU != 1500 || !isUp(br) {
		t.Fatalf("bridge = %+v", *br.Attrs())
	}
	// Drift: extra addresses (one in the same subnet, which would have been
	// the primary), another MTU, down.
	s.mustIn(s.hostPath, "ip", "addr", "flush", "dev", n.Bridge)
	s.mustIn(s.hostPath, "ip", "addr", "add", "172.20.0.9/16", "dev", n.Bridge)
	s.mustIn(s.hostPath, "ip", "addr", "add", "172.20.0.1/16", "dev", n.Bridge)
	s.mustIn(s.hostPath, "ip", "addr", "add", "10.250.99.1/24", "dev", n.Bridge)
	s.mustIn(s.hostPath, "ip", "link", "set", n.Bridge, "mtu", "1400", "down")

	st := s.observe()
	if got := st.Networks[n.ID()]; got.Gateway.IsValid() || got.Up || got.MTU != 1400 {
		t.Errorf("drifted bridge observed as %+v", *got)
	}
	n.MTU = 1450
	s.ensureBridge(n)
	addrs := s.mustIn(s.hostPath, "ip", "-4", "-o", "addr", "show", "dev", n.Bridge)
	if strings.Count(addrs, "inet ") != 1 || !strings.Contains(addrs, "172.20.0.1/16") {
		t.Errorf("addresses after repair:\n%s", addrs)
	}
	got := s.observe().Networks[n.ID()]
	if got.Gateway != n.Gateway || got.Subnet != n.Subnet || !got.Up || got.MTU != 1450 {
		t.Errorf("repaired bridge observed as %+v", *got)
	}
	if s.hostLink(n.Bridge).Attrs().Index != br.Attrs().Index {
		t.Error("bridge recreated instead of repaired")
	}

	// A new gateway prefix replaces the old one.
	n.Subnet, n.Gateway = netip.MustParsePrefix("172.21.0.0/24"), netip.MustParseAddr("172.21.0.254")
	s.ensureBridge(n)
	if got := s.observe().Networks[n.ID()]; got.Gateway != n.Gateway || got.Subnet != n.Subnet {
		t.Errorf("after subnet change: %+v", *got)
	}
}

func TestEnsureBridgeRefusesUnowned(t *testing.T) {
	s := newSandbox(t)
	ctx := context.Background()
	for _, tc := range []struct{ name, make string }{
		{"nct-plain", "bridge"}, // a bridge without a mark
		{"nct-veth", "veth"},    // not a bridge at all
	} {
		args := []string{"ip", "link", "add", tc.name, "type", tc.make}
		if tc.make == "veth" {
			args = append(args, "peer", "name", tc.name+"p")
		}
		s.mustIn(s.hostPath, args...)
		n := s.network("p", "net", tc.name, "172.22.0.0/24")
		err := s.links.EnsureBridge(ctx, n)
		want := "bridge " + tc.name + ": exists and is not owned by netctl"
		if err == nil || err.Error() != want {
			t.Errorf("%s: err = %v, want %q", tc.name, err, want)
		}
		if err := settled(ctx, s.links, s.links.DeleteBridge(ctx, n)); err == nil {
			t.Errorf("%s: DeleteBridge of an unowned link succeeded", tc.name)
		}
		l := s.hostLink(tc.name)
		if l == nil || l.Attrs().Alias != "" || isUp(l) {
			t.Errorf("%s: changed: %+v", tc.name, l)
		}
		if out := s.mustIn(s.hostPath, "ip", "-4", "-o", "addr", "show", "dev", tc.name); out != "" {
			t.Errorf("%s: got addresses %s", tc.name, out)
		}
	}
	// Another network's bridge is not ours either.
	s.ensureBridge(s.network("p", "other", "nct-other", "172.23.0.0/24"))
	if err := s.links.EnsureBridge(ctx, s.network("p", "net", "nct-other", "172.22.0.0/24")); err == nil {
		t.Error("took over another network's bridge")
	}
	if got := s.observe().Networks; len(got) != 1 || got["p/other"] == nil {
		t.Errorf("networks = %v", got)
	}
}

func TestEnsureBridgeAdoptsHalfCreated(t *testing.T) {
	s := newSandbox(t)
	la := vnl.NewLinkAttrs()
	la.Name, la.Group = "nct-half", creationGroup
	if err := s.host.LinkAdd(&vnl.Bridge{LinkAttrs: la}); err != nil {
		t.Fatal(err)
	}
	index := s.hostLink("nct-half").Attrs().Index
	s.ensureBridge(s.network("p", "net", "nct-half", "172.24.0.0/24"))
	if br := s.hostLink("nct-half"); br.Attrs().Index != index || br.Attrs().Alias != "netctl:p:net" {
		t.Errorf("half-created bridge not adopted: %+v", *br.Attrs())
	}
}

func TestForeignPortsAndDeleteBridge(t *testing.T) {
	s, n, web, _ := twoContainers(t)
	ctx := context.Background()
	s.mustIn(s.hostPath, "ip", "link", "add", "hand0", "type", "veth", "peer", "name", "hand1")
	s.mustIn(s.hostPath, "ip", "link", "set", "hand0", "master", n.Bridge)
	// Someone else's container side left on our bridge: a mark for another
	// network is foreign here too.
	s.mustIn(s.hostPath, "ip", "link", "set", "hand1", "master", n.Bridge, "alias", "netctl:shop:elsewhere/x")

	if got := s.observe().Networks[n.ID()].Foreign; !slices.Equal(got, []string{"hand0", "hand1"}) {
		t.Errorf("Foreign = %v", got)
	}
	err := settled(ctx, s.links, s.links.DeleteBridge(ctx, n))
	if err == nil || !strings.Contains(err.Error(), "hand0, hand1") {
		t.Fatalf("DeleteBridge with foreign ports: err = %v", err)
	}
	if s.hostLink(n.Bridge) == nil {
		t.Fatal("bridge deleted despite foreign ports")
	}
	s.mustIn(s.hostPath, "ip", "link", "del", "hand0")
	// Our own endpoints do not block deletion.
	if err := settled(ctx, s.links, s.links.DeleteBridge(ctx, n)); err != nil {
		t.Fatal(err)
	}
	if s.hostLink(n.Bridge) != nil {
		t.Error("bridge still there")
	}
	if err := settled(ctx, s.links, s.links.DeleteBridge(ctx, n)); err != nil {
		t.Errorf("deleting an absent bridge: %v", err)
	}
	if c := s.observe().Containers[web.ID()]; c.Endpoints[0].HostOK {
		t.Error("endpoint of a deleted bridge observed HostOK")
	}
}

// TestObserveScoped: a scoped observation reads the scope's endpoints in
// full without dumping the host's veths, and leaves the bridges' foreign
// ports unread.
func TestObserveScoped(t *testing.T) {
	s, n, web, db := twoContainers(t)
	s.mustIn(s.hostPath, "ip", "link", "add", "hand0", "type", "veth", "peer", "name", "hand1")
	s.mustIn(s.hostPath, "ip", "link", "set", "hand0", "master", n.Bridge)
	full := s.observe()
	st, err := s.links.Observe(context.Background(), model.Scope{web.ID(): true})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Containers) != 1 || st.Containers[db.ID()] != nil {
		t.Fatalf("containers %v", slices.Collect(maps.Keys(st.Containers)))
	}
	got, want := st.Containers[web.ID()], full.Containers[web.ID()]
	if !reflect.DeepEqual(got, want) {
		t.Errorf("scoped web = %+v\nfull %+v", got, want)
	}
	if got := st.Networks[n.ID()].Foreign; got != nil {
		t.Errorf("scoped Foreign = %v, want it unread", got)
	}
	if got := full.Networks[n.ID()].Foreign; !slices.Equal(got, []string{"hand0"}) {
		t.Errorf("Foreign = %v", got)
	}
	fn := *full.Networks[n.ID()]
	sn := *st.Networks[n.ID()]
	fn.Foreign, sn.Foreign = nil, nil
	if !reflect.DeepEqual(fn, sn) {
		t.Errorf("scoped network %+v, full %+v", sn, fn)
	}
}
