package netlink

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/internal/syncbuf"
	"github.com/netctl/netctl/model"
)

// The journal counts every change made in a container's namespace before
// the question is asked, with no wait in between: the kernel queues the
// announcement before the change's request returns, and the journal drains
// its socket before it answers.
func TestJournalHearsEveryChangeBeforeTheQuestion(t *testing.T) {
	s := newSandbox(t)
	web, _ := s.webAndDB()

	j := s.journal()
	a := j.Since(0, 0)
	if !a.All {
		t.Fatalf("a question about another epoch was answered: %+v", a)
	}
	ids := slices.Sorted(func(yield func(string) bool) {
		for _, id := range a.NSIDs {
			if !yield(id) {
				return
			}
		}
	})
	if !slices.Equal(ids, []string{"shop/db", "shop/web"}) {
		t.Fatalf("namespace ids heard: %v, want both containers'", a.NSIDs)
	}
	// What the kernel announces by itself for a while after the wiring
	// (carrier, operstate) comes first.
	time.Sleep(500 * time.Millisecond)
	a = j.Since(a.Epoch, a.Seq)
	if a = j.Since(a.Epoch, a.Seq); a.All || len(a.Touched) != 0 || a.HostSeq > a.Seq {
		t.Fatalf("nothing changed, yet: %+v", a)
	}

	for _, c := range [][]string{
		{"ip", "link", "set", "eth0", "down"},
		{"ip", "link", "set", "eth0", "up"},
		{"ip", "addr", "add", "10.250.1.99/24", "dev", "eth0"},
		{"ip", "addr", "del", "10.250.1.99/24", "dev", "eth0"},
		{"ip", "route", "add", "default", "via", "10.250.1.1", "metric", "77"},
		{"ip", "route", "del", "default", "via", "10.250.1.1", "metric", "77"},
		{"ip", "-6", "addr", "add", "fd00:77::5/64", "dev", "eth0", "nodad"},
		{"ip", "-6", "route", "add", "default", "via", "fd00:77::1"},
		{"ip", "-6", "route", "del", "default", "via", "fd00:77::1"},
		{"ip", "link", "set", "lo", "down"},
		{"ip", "link", "add", "v9", "type", "veth", "peer", "name", "v10"},
		{"ip", "link", "set", "eth0", "mtu", "1400"},
	} {
		before := a.Seq
		s.mustIn(web.Netns, c...)
		a = j.Since(a.Epoch, before)
		if a.All || !slices.Equal(a.Touched, []string{"shop/web"}) {
			t.Errorf("%s: journal answered %+v, want shop/web alone", strings.Join(c, " "), a)
		}
	}

	// A route that is not a default one is not observed.
	before0 := a.Seq
	s.mustIn(web.Netns, "ip", "route", "add", "10.250.77.0/24", "via", "10.250.1.1")
	if a = j.Since(a.Epoch, before0); len(a.Touched) != 0 {
		t.Errorf("a container's route that is not a default: %+v", a)
	}

	// Anything in the host's namespace, whoever's: the host changed.
	before := a.Seq
	s.mustIn(s.hostPath, "ip", "route", "add", "blackhole", "10.250.88.0/24")
	if a = j.Since(a.Epoch, before); a.All || a.HostSeq <= before || len(a.Touched) != 0 {
		t.Errorf("someone's route on the host: %+v, want the host changed and no container", a)
	}

	// The host end of a veth, and a namespace that is no container's.
	before = a.Seq
	s.mustIn(s.hostPath, "ip", "link", "set", "nct-db0", "nomaster")
	if a = j.Since(a.Epoch, before); !slices.Equal(a.Touched, []string{"shop/db"}) {
		t.Errorf("host end released: %+v, want shop/db", a)
	}
	other := s.container("else", "x")
	s.newNetns(other.Netns)
	s.mustIn(s.hostPath, "ip", "link", "add", "ovx0", "type", "veth", "peer", "name", "eth0", "netns", other.Netns)
	before = a.Seq
	s.mustIn(other.Netns, "ip", "link", "set", "eth0", "up")
	if a = j.Since(a.Epoch, before); len(a.Touched) != 0 {
		t.Errorf("someone else's namespace: %+v", a)
	}
	if a := j.Since(a.Epoch+1, a.Seq); !a.All {
		t.Errorf("another epoch's count was trusted: %+v", a)
	}
	if a := j.Since(a.Epoch, a.Seq+1); !a.All {
		t.Errorf("a count ahead of the journal's was trusted: %+v", a)
	}
}

// A full Observe with a journal reads again only the namespaces it heard
// of, and its result is the one a full read gives, before and after drift.
func TestObserveReusesReadingsTheJournalVouchesFor(t *testing.T) {
	var logs syncbuf.Buffer
	s := newSandboxLog(t, zerolog.New(&logs).Level(zerolog.DebugLevel))
	web, db := s.webAndDB()

	// Without a journal to ask, everything is read and nothing saved.
	s.links.UseJournal(true)
	want := s.observe()
	if !strings.Contains(logs.String(), "no journal") {
		t.Errorf("no journal runs, yet none was missed:\n%s", logs.String())
	}

	j, err := s.openJournal()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); j.Run(stop) }()
	go func() { defer wg.Done(); _ = j.Serve(ctx, s.root) }()
	t.Cleanup(func() { cancel(); close(stop); wg.Wait() })
	waitFor(t, "the journal's socket", func() bool {
		_, err := askJournal(context.Background(), s.root, 0, 0)
		return err == nil
	})

	observed := func(what string, reused, read int) *model.State {
		t.Helper()
		logs.Reset()
		st := s.observe()
		line := fmt.Sprintf(`"reused":%d,"read":%d`, reused, read)
		if !strings.Contains(logs.String(), line) {
			t.Errorf("%s: want %s in:\n%s", what, line, logs.String())
		}
		return st
	}
	fullRead := func() *model.State {
		t.Helper()
		s.links.UseJournal(false)
		defer s.links.UseJournal(true)
		return s.observe()
	}
	sameState(t, "first read", observed("first read", 0, 2), want)
	sameState(t, "nothing changed", observed("nothing changed", 2, 0), want)

	s.mustIn(web.Netns, "ip", "addr", "flush", "dev", "eth0")
	got := observed("web's address flushed", 1, 1)
	sameState(t, "web's address flushed", got, fullRead())
	if ep := got.Containers["shop/web"].Endpoints; len(ep) != 1 || ep[0].Addr.IsValid() {
		t.Errorf("the flushed address was not seen: %+v", ep)
	}
	observed("read once since", 2, 0)
	if !strings.Contains(logs.String(), `"host_reused":true`) {
		t.Errorf("the host was read again with nothing announced there:\n%s", logs.String())
	}

	// Anything the host announces, netctl's or not, has the host read
	// again: the bridge's address, someone else's route.
	for _, c := range [][]string{
		{"ip", "addr", "flush", "dev", "nct-br0"},
		{"ip", "route", "add", "blackhole", "10.250.77.0/24"},
	} {
		s.mustIn(s.hostPath, c...)
		got := observed(strings.Join(c, " "), 2, 0)
		if !strings.Contains(logs.String(), `"host_reused":false`) {
			t.Errorf("%v: the host was not read again:\n%s", c, logs.String())
		}
		sameState(t, strings.Join(c, " "), got, fullRead())
	}

	// A namespace mounted anew at the container's path (the journal heard
	// the old one's veth go) and one replaced without a sound are read.
	s.mustIn(db.Netns, "ip", "route", "del", "default")
	observed("db's route deleted", 1, 1)
	if err := s.links.DeleteNamespace(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	// The kernel takes the old namespace's veth down by itself, later.
	if err := s.links.Settle(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.newNetns(db.Netns)
	got = observed("db's namespace replaced", 1, 1)
	if c := got.Containers["shop/db"]; c == nil || len(c.Endpoints) != 0 && c.Endpoints[0].PeerOK {
		t.Errorf("db's new, empty namespace was not read: %+v", c)
	}
	sameState(t, "db's namespace replaced", got, fullRead())

	// Another namespace mounted over web's path, the old one left alive
	// (the journal hears nothing): the mount's identity gives it away.
	spare := filepath.Join(s.dir, "spare")
	s.newNetns(spare)
	if err := unix.Mount(spare, web.Netns, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	got = observed("web's path mounted over", 0, 2) // db has no veth: read every time
	if c := got.Containers["shop/web"]; c == nil || len(c.Endpoints) != 0 && c.Endpoints[0].PeerOK {
		t.Errorf("the namespace mounted over web's was not read: %+v", c)
	}
	sameState(t, "web's path mounted over", got, fullRead())
}

func sameState(t *testing.T, what string, got, want *model.State) {
	t.Helper()
	if !reflect.DeepEqual(got.Networks, want.Networks) || !reflect.DeepEqual(got.HostRoutes, want.HostRoutes) {
		t.Errorf("%s: host side\n got %+v %v\nwant %+v %v", what, got.Networks, got.HostRoutes, want.Networks, want.HostRoutes)
	}
	for id, w := range want.Containers {
		g := got.Containers[id]
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s: container %s\n got %+v\nwant %+v", what, id, g, w)
		}
	}
	if len(got.Containers) != len(want.Containers) {
		t.Errorf("%s: %d containers, want %d", what, len(got.Containers), len(want.Containers))
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !ok(); {
		if time.Now().After(deadline) {
			t.Fatalf("%s: timed out", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// webAndDB wires shop/web and shop/db to one bridge network.
func (s *sandbox) webAndDB() (web, db *model.Container) {
	n := s.network("shop", "backend", "nct-br0", "10.250.1.0/24")
	s.ensureBridge(n)
	web = s.container("shop", "web")
	s.wire(web, n, endpoint(n, "eth0", "nct-web0", "10.250.1.10"))
	db = s.container("shop", "db")
	s.wire(db, n, endpoint(n, "eth0", "nct-db0", "10.250.1.11"))
	return web, db
}

// journal opens a journal of the sandbox's host, closed at the test's end.
func (s *sandbox) journal() *Journal {
	s.t.Helper()
	j, err := s.openJournal()
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() {
		stop := make(chan struct{})
		close(stop)
		j.Run(stop) // closes the socket
	})
	return j
}

// openJournal opens a journal of the sandbox's host namespace. The test's
// thread is not in it, so the journal's sockets are opened from there.
func (s *sandbox) openJournal() (*Journal, error) {
	ns, _, err := openNetns(s.hostPath, false)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	return OpenJournal(s.root, ns, s.links.inst, s.links.log)
}

// What the journal forgets of containers gone, it no longer vouches for:
// a question older than the forgotten counts gets "anything".
func TestJournalForgetsGoneContainersSafely(t *testing.T) {
	j := &Journal{
		sub:   &subscription{nsids: map[int32]string{3: "p/live"}},
		epoch: 11,
	}
	// Changes counted 1 to 9: p/old at 2, p/live at 5, p/gone at 7.
	for seq := uint64(1); seq <= 9; seq++ {
		j.ledger.Next()
		switch seq {
		case 2:
			j.ledger.Touch("p/old")
		case 5:
			j.ledger.Touch("p/live")
		case 7:
			j.ledger.Touch("p/gone")
		}
	}
	j.forgetGone()
	if n := j.ledger.Len(); n != 1 {
		t.Fatalf("%d containers remembered after forgetting, want p/live alone", n)
	}
	for _, c := range []struct {
		since   uint64
		all     bool
		touched []string
	}{
		{since: 1, all: true},
		{since: 6, all: true}, // p/gone changed at 7: forgotten, not vouched for
		{since: 7, touched: nil},
		{since: 4, all: true},
		{since: 9, touched: nil},
		{since: 10, all: true}, // ahead of the journal
	} {
		a := j.answerLocked(11, c.since)
		if a.All != c.all || !slices.Equal(a.Touched, c.touched) {
			t.Errorf("since %d: %+v, want all=%v touched=%v", c.since, a, c.all, c.touched)
		}
	}
	j.ledger.Next()
	j.ledger.Touch("p/live")
	if a := j.answerLocked(11, 9); a.All || !slices.Equal(a.Touched, []string{"p/live"}) {
		t.Errorf("since 9 after p/live changed at 10: %+v", a)
	}
	if a := j.answerLocked(12, 10); !a.All {
		t.Errorf("another epoch: %+v", a)
	}
}

func TestJournalAnswerOnTheWire(t *testing.T) {
	a := JournalAnswer{Epoch: 3, Seq: 8, Touched: []string{"p/a"}, NSIDs: map[int32]string{0: "p/a", 17: "p/b-2"}}
	back, err := fromWire(toWire(a))
	if err != nil || !reflect.DeepEqual(back, a) {
		t.Fatalf("round trip: %+v, %v; want %+v", back, err, a)
	}
	for _, bad := range []string{"x p/a\n", "1\n", "1 \n", "99999999999 p/a\n"} {
		if _, err := fromWire(wireAnswer{Epoch: 1, NSIDs: bad}); err == nil {
			t.Errorf("namespace ids %q accepted", bad)
		}
	}
}

// Announcements lost to an overflow make every earlier count worthless;
// once the burst is drained the journal relearns the links and vouches
// again from there.
func TestJournalOverflowVouchesForNothingBefore(t *testing.T) {
	s := newSandbox(t)
	web, _ := s.webAndDB()
	j := s.journal()
	if err := unix.SetsockoptInt(j.fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4096); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // the wiring's own announcements
	a := j.Since(0, 0)
	a = j.Since(a.Epoch, a.Seq)
	before := a.Seq
	var batch strings.Builder
	for i := range 300 {
		fmt.Fprintf(&batch, "link set eth0 mtu %d\n", 1300+i)
	}
	batchFile := filepath.Join(s.dir, "burst")
	if err := os.WriteFile(batchFile, []byte(batch.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	s.mustIn(web.Netns, "ip", "-batch", batchFile)
	if a = j.Since(a.Epoch, before); !a.All {
		t.Fatalf("after an overflow, a count from before it was trusted: %+v", a)
	}
	if len(a.NSIDs) != 2 {
		t.Errorf("namespace ids after relearning: %v", a.NSIDs)
	}
	if a = j.Since(a.Epoch, a.Seq); a.All || len(a.Touched) != 0 {
		t.Errorf("a count from after the overflow: %+v", a)
	}
	s.mustIn(web.Netns, "ip", "link", "set", "eth0", "mtu", "1500")
	if a = j.Since(a.Epoch, a.Seq); a.All || !slices.Equal(a.Touched, []string{"shop/web"}) {
		t.Errorf("a change after the overflow: %+v", a)
	}
}
