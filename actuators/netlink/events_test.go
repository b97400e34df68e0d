package netlink

import (
	"context"
	"testing"
	"time"
)

// drain empties a subscription channel of what earlier steps announced,
// once the kernel has had time to send it.
func drain(c <-chan struct{}) {
	time.Sleep(200 * time.Millisecond)
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

func expectEvent(t *testing.T, c <-chan struct{}, what string) {
	t.Helper()
	select {
	case _, ok := <-c:
		if !ok {
			t.Fatalf("%s: subscription closed", what)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: no event", what)
	}
}

func expectNoEvent(t *testing.T, c <-chan struct{}, what string) {
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
	expectEvent(t, events, "an endpoint created")
	drain(events)

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
