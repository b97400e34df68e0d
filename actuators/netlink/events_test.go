package netlink

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/netctl/netctl/model"
)

// drain empties a subscription channel of what earlier steps announced,
// once the kernel has had time to send it.
func drain(c <-chan model.Scope) {
	time.Sleep(200 * time.Millisecond)
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

// expectEvent waits for an announcement and returns the containers it
// concerned, with those of whatever else came within 200 ms.
func expectEvent(t *testing.T, c <-chan model.Scope, what string) []string {
	t.Helper()
	got := model.Scope{}
	select {
	case sc, ok := <-c:
		if !ok {
			t.Fatalf("%s: subscription closed", what)
		}
		maps.Copy(got, sc)
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: no event", what)
	}
	for deadline := time.After(200 * time.Millisecond); ; {
		select {
		case sc := <-c:
			maps.Copy(got, sc)
		case <-deadline:
			return slices.Sorted(maps.Keys(got))
		}
	}
}

func expectNoEvent(t *testing.T, c <-chan model.Scope, what string) {
	t.Helper()
	select {
	case <-c:
		t.Fatalf("%s: unexpected event", what)
	case <-time.After(300 * time.Millisecond):
	}
}

func TestSubscribeHostChanges(t *testing.T) {
	s := newSandbox(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	n := s.network("shop", "backend", "nct-br0", "10.250.1.0/24")
	s.ensureBridge(n) // owned before subscribing: learnt from the seed dump
	events, err := s.links.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// Someone else's links and addresses are not netctl's business.
	s.mustIn(s.hostPath, "ip", "link", "add", "other0", "type", "veth", "peer", "name", "other1")
	s.mustIn(s.hostPath, "ip", "addr", "add", "10.250.9.1/24", "dev", "other0")
	s.mustIn(s.hostPath, "ip", "link", "set", "other0", "up")
	expectNoEvent(t, events, "a foreign veth")

	s.mustIn(s.hostPath, "ip", "addr", "flush", "dev", "nct-br0")
	expectEvent(t, events, "the bridge's address flushed")
	drain(events)

	web := s.container("shop", "web")
	s.wire(web, n, endpoint(n, "eth0", "nct-web0", "10.250.1.10"))
	if got := expectEvent(t, events, "an endpoint created"); !slices.Equal(got, []string{"shop/web"}) {
		t.Errorf("an endpoint created: containers %v", got)
	}
	drain(events)

	// Inside the container's namespace: its link, address and default
	// route (the only routes observed).
	for _, c := range [][]string{
		{"ip", "link", "set", "eth0", "down"},
		{"ip", "link", "set", "eth0", "up"},
		{"ip", "addr", "add", "10.250.1.99/24", "dev", "eth0"},
		{"ip", "route", "add", "default", "via", "10.250.1.1", "metric", "77"},
	} {
		s.mustIn(web.Netns, c...)
		if got := expectEvent(t, events, c[1]+" "+c[2]+" in the container"); !slices.Equal(got, []string{"shop/web"}) {
			t.Errorf("%v in the container: containers %v", c, got)
		}
	}
	drain(events)
	// A namespace that is not a container's is not netctl's business.
	other := s.container("else", "x")
	s.newNetns(other.Netns)
	s.mustIn(s.hostPath, "ip", "link", "add", "ovx0", "type", "veth", "peer", "name", "eth0", "netns", other.Netns)
	drain(events)
	s.mustIn(other.Netns, "ip", "link", "set", "eth0", "up")
	expectNoEvent(t, events, "a link up in someone else's namespace")

	// The bridge's notifications about a port's state are not changes to
	// anything netctl manages, and leave the port known as netctl's.
	s.mustIn(s.hostPath, "bridge", "link", "set", "dev", "nct-web0", "cost", "7")
	expectNoEvent(t, events, "a bridge port's cost set")

	s.mustIn(s.hostPath, "ip", "link", "del", "nct-web0")
	expectEvent(t, events, "the host end of a veth deleted")
	drain(events)

	// A foreign link enslaved to an owned bridge is a change to it.
	s.mustIn(s.hostPath, "ip", "link", "set", "other0", "master", "nct-br0")
	expectEvent(t, events, "a foreign port on the bridge")
	drain(events)

	s.mustIn(s.hostPath, "ip", "link", "del", "nct-br0")
	expectEvent(t, events, "the bridge deleted")
	drain(events)

	cancel()
	select {
	case _, ok := <-events:
		if ok {
			// One last coalesced value may still be buffered.
			if _, ok := <-events; ok {
				t.Fatal("subscription still open after cancel")
			}
		}
	case <-time.After(5 * time.Second):
		t.Fatal("subscription not closed after cancel")
	}
}
