package files

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/model"
)

// journalled starts a files journal on root, serving on its socket, for
// the test's length.
func journalled(t testing.TB, root string) *Journal {
	t.Helper()
	j, err := OpenJournal(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stop := make(chan struct{})
	ran, served := make(chan struct{}), make(chan struct{})
	go func() { defer close(ran); j.Run(stop) }()
	go func() { defer close(served); _ = j.Serve(ctx) }()
	t.Cleanup(func() { cancel(); close(stop); <-ran; <-served })
	// Serve's socket: wait until it answers.
	for i := 0; ; i++ {
		if _, err := askJournal(ctx, root, 0, 0); err == nil {
			break
		} else if i > 500 {
			t.Fatalf("journal never answered: %v", err)
		}
		unixSleep()
	}
	return j
}

func unixSleep() { _ = unix.Nanosleep(&unix.Timespec{Nsec: 2e6}, nil) }

func writeTestContainer(t *testing.T, s *Store, project, name string) {
	t.Helper()
	c := &model.Container{Project: project, Name: name, Hostname: name, HostsFile: "127.0.0.1 localhost\n",
		ResolvFile: "nameserver 127.0.0.11\n", EnvFile: "A=1\n"}
	if err := s.WriteContainer(context.Background(), c); err != nil {
		t.Fatal(err)
	}
}

// readAll is a full Read's containers, as fillContainers would see them.
func readAll(t *testing.T, s *Store) []string {
	t.Helper()
	fs, err := s.readContainers(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range fs {
		out = append(out, fmt.Sprintf("%s/%s %+v %q %q %q", f.project, f.name, f.settings, f.hosts, f.resolv, f.env))
	}
	slices.Sort(out)
	return out
}

// TestFilesJournalHearsEveryChange: every way of changing a container's
// files is counted when asked at once, with no wait, and a Read through
// the journal equals one that reads every file.
func TestFilesJournalHearsEveryChange(t *testing.T) {
	root := t.TempDir()
	plain := New(root)
	writeTestContainer(t, plain, "p", "a")
	writeTestContainer(t, plain, "p", "b")
	journalled(t, root)
	s := New(root)
	s.UseJournal(true, zerolog.Nop())
	ctx := context.Background()

	if got, want := readAll(t, s), readAll(t, plain); !slices.Equal(got, want) {
		t.Fatalf("first read through the journal:\n%v\nwant\n%v", got, want)
	}
	dir := func(project, name string) string { return ContainerDir(root, project, name) }
	for _, step := range []struct {
		what   string
		change func() error
		want   string // the container it touches
	}{
		{"write hosts", func() error {
			return os.WriteFile(filepath.Join(dir("p", "a"), Hosts), []byte("10.0.0.9 evil\n"), 0o644)
		}, "p/a"},
		{"append to resolv.conf", func() error {
			f, err := os.OpenFile(filepath.Join(dir("p", "b"), Resolv), os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.WriteString("options ndots:9\n")
			return err
		}, "p/b"},
		{"truncate env", func() error { return os.Truncate(filepath.Join(dir("p", "a"), Env), 0) }, "p/a"},
		{"chmod hosts", func() error { return os.Chmod(filepath.Join(dir("p", "b"), Hosts), 0o600) }, "p/b"},
		{"rename over settings", func() error {
			tmp := filepath.Join(dir("p", "a"), ".tmp")
			if err := os.WriteFile(tmp, []byte(`{"hostname":"other","mode":""}`), 0o644); err != nil {
				return err
			}
			return os.Rename(tmp, filepath.Join(dir("p", "a"), "settings.json"))
		}, "p/a"},
		{"remove env", func() error { return os.Remove(filepath.Join(dir("p", "b"), Env)) }, "p/b"},
		{"new container", func() error { writeTestContainer(t, plain, "p", "c"); return nil }, "p/c"},
		{"new project", func() error { writeTestContainer(t, plain, "q", "d"); return nil }, "q/d"},
		{"container removed", func() error { return os.RemoveAll(dir("p", "c")) }, "p/c"},
		{"container renamed", func() error { return os.Rename(dir("q", "d"), dir("q", "e")) }, "q/e"},
	} {
		epoch, seq, _, ok := s.readingsHeader()
		if !ok {
			t.Fatalf("%s: no saved reading", step.what)
		}
		if err := step.change(); err != nil {
			t.Fatalf("%s: %v", step.what, err)
		}
		a, err := askJournal(ctx, root, epoch, seq)
		if err != nil {
			t.Fatalf("%s: %v", step.what, err)
		}
		if a.All || !slices.Contains(a.Touched, step.want) {
			t.Errorf("%s: the journal answered %+v, want %s touched", step.what, a, step.want)
		}
		if got, want := readAll(t, s), readAll(t, plain); !slices.Equal(got, want) {
			t.Errorf("%s: read through the journal:\n%v\nwant\n%v", step.what, got, want)
		}
	}
	// Nothing changed: the next Read reuses every reading.
	rs := s.openReadings(ctx)
	if rs == nil || rs.saved == nil || len(rs.touched) != 0 {
		t.Fatalf("after the last read, the journal vouches for nothing: %+v", rs)
	}
	if len(rs.saved) != 3 {
		t.Errorf("saved readings of %d containers, want 3 (p/a, p/b, q/e)", len(rs.saved))
	}
}

// TestFilesJournalLossVouchesForNothing: an overflowed queue, or a
// journal started anew, answers "anything" to a count from before.
func TestFilesJournalLossVouchesForNothing(t *testing.T) {
	root := t.TempDir()
	writeTestContainer(t, New(root), "p", "a")
	j := journalled(t, root)
	before := j.Since(j.epoch, 0).Seq
	if a := j.Since(j.epoch, before); a.All {
		t.Fatalf("a fresh count answered All: %+v", a)
	}
	j.mu.Lock()
	j.eventLocked(-1, unix.IN_Q_OVERFLOW, "")
	j.mu.Unlock()
	if a := j.Since(j.epoch, before); !a.All {
		t.Errorf("after an overflow, a count from before answered %+v, want All", a)
	}
	if a := j.Since(j.epoch+2, j.Since(j.epoch, 0).Seq); !a.All {
		t.Errorf("another journal's count answered %+v, want All", a)
	}
	// The containers' directory removed and made again: watched anew.
	after := j.Since(j.epoch, 0).Seq
	if err := os.RemoveAll(filepath.Join(root, "containers")); err != nil {
		t.Fatal(err)
	}
	writeTestContainer(t, New(root), "p", "a")
	if a := j.Since(j.epoch, after); !a.All {
		t.Errorf("after the containers' directory was made anew, a count from before answered %+v, want All", a)
	}
	now := j.Since(j.epoch, 0).Seq
	if err := os.WriteFile(filepath.Join(ContainerDir(root, "p", "a"), Hosts), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if a := j.Since(j.epoch, now); a.All || !slices.Contains(a.Touched, "p/a") {
		t.Errorf("a write in the directory made anew: %+v, want p/a touched", a)
	}
}

// The readings' encoding gives back exactly what reading the files gave:
// the settings as JSON decoded them (every field, nil and empty apart).
func TestFilesReadingsCodec(t *testing.T) {
	full := containerSettings{Hostname: "web", Mode: model.ModeBridge, Netns: "/run/netctl/netns/p/web", External: true,
		Aliases:    map[string][]string{"p/front": {"web", "www"}, "p/back": {}},
		ExtraHosts: []model.HostEntry{{IP: netip.MustParseAddr("10.1.2.3"), Names: []string{"metrics"}}, {IP: netip.MustParseAddr("fd00::1")}},
		DNS:        []netip.Addr{netip.MustParseAddr("1.1.1.1"), netip.MustParseAddr("fd00::53")},
		Node:       "n1", PublishAll: true}
	v := reflect.ValueOf(full)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Fatalf("field %s is zero in the sample: give it a value, and the codec the field", v.Type().Field(i).Name)
		}
	}
	in := map[string]savedFiles{}
	for id, cs := range map[string]containerSettings{"p/full": full, "p/zero": {}, "q/empty": {Aliases: map[string][]string{},
		ExtraHosts: []model.HostEntry{}, DNS: []netip.Addr{}}} {
		// What a read of the file gives: the settings through JSON.
		b, err := json.Marshal(cs)
		if err != nil {
			t.Fatal(err)
		}
		var read containerSettings
		if err := json.Unmarshal(b, &read); err != nil {
			t.Fatal(err)
		}
		in[id] = savedFiles{settings: read, hosts: "h " + id + "\n", resolv: "nameserver 127.0.0.11\n", env: "A=1\n"}
	}
	in["p/zero"] = savedFiles{settings: in["p/zero"].settings}
	b := encodeFiles(7, 42, in)
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "cache"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(readingsPath(root), b, 0o600); err != nil {
		t.Fatal(err)
	}
	epoch, seq, body, ok := New(root).readingsHeader()
	if !ok || epoch != 7 || seq != 42 {
		t.Fatalf("header: %d %d %v", epoch, seq, ok)
	}
	out, err := decodeFiles(body)
	if err != nil || !reflect.DeepEqual(out, in) {
		t.Fatalf("round trip: %v\n%+v\nwant\n%+v", err, out, in)
	}
	for n := range body {
		if _, err := decodeFiles(body[:n]); err == nil {
			t.Fatalf("a body cut at %d of %d bytes decoded", n, len(body))
		}
	}
	if _, err := decodeFiles(append(body[:len(body):len(body)], 0)); err == nil {
		t.Error("a body with a byte to spare decoded")
	}
}

// A journal stopped while events pour in ends at once. Its descriptor
// used to be closed under the lock its drain takes: a drain that woke at
// that moment waited for the lock, the close waited for the drain, and
// the DNS server's worker never exited (down then waited 10 s for it).
func TestFilesJournalStopsWhileEventsFlow(t *testing.T) {
	root := t.TempDir()
	writeTestContainer(t, New(root), "p", "a")
	hosts := filepath.Join(ContainerDir(root, "p", "a"), Hosts)
	for i := range 50 {
		j, err := OpenJournal(root)
		if err != nil {
			t.Fatal(err)
		}
		stop, ran, writing := make(chan struct{}), make(chan struct{}), make(chan struct{})
		go func() { defer close(ran); j.Run(stop) }()
		go func() {
			defer close(writing)
			for {
				select {
				case <-ran:
					return
				default:
					_ = os.WriteFile(hosts, []byte("x\n"), 0o644)
				}
			}
		}()
		for range 3 { // questions take the lock too
			j.Since(j.epoch, 0)
		}
		close(stop)
		select {
		case <-ran:
		case <-time.After(5 * time.Second):
			t.Fatalf("round %d: the journal did not end within 5s of its stop", i)
		}
		<-writing
		if a := j.Since(j.epoch, 0); !a.All {
			t.Fatalf("round %d: a journal that ended answered %+v, want All", i, a)
		}
	}
}

func FuzzDecodeFiles(f *testing.F) {
	f.Add(encodeFiles(1, 2, map[string]savedFiles{"p/a": {settings: containerSettings{Hostname: "a",
		Aliases: map[string][]string{"p/n": {"x"}}, DNS: []netip.Addr{netip.MustParseAddr("1.1.1.1")}}, hosts: "h\n"}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, body, ok := splitFiles(b)
		if !ok {
			return
		}
		s, err := decodeFiles(body)
		if err != nil {
			return
		}
		_, _, again, _ := splitFiles(encodeFiles(1, 2, s))
		if s2, err := decodeFiles(again); err != nil || !reflect.DeepEqual(s2, s) {
			t.Fatalf("re-encoded readings differ: %v", err)
		}
	})
}
