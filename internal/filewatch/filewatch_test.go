package filewatch

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func tempDir(t *testing.T) string {
	t.Helper()
	d, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// start runs a watcher on path and returns its changes.
func start(t *testing.T, path string) (*Watcher, <-chan Change) {
	t.Helper()
	w, err := New(path, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.DebugLevel))
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	c := make(chan Change, 100)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := w.Run(ctx, 0, func(ch Change) { c <- ch }); err != nil {
			t.Error(err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return w, c
}

// next waits for a change.
func next(t *testing.T, c <-chan Change, what string) Change {
	t.Helper()
	select {
	case ch := <-c:
		return ch
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: no change reported", what)
	}
	return Change{}
}

// quiet drains what is pending once the kernel has delivered it, and
// fails if anything arrives afterwards within a short while.
func settle(c <-chan Change) {
	time.Sleep(100 * time.Millisecond)
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

func none(t *testing.T, c <-chan Change, what string) {
	t.Helper()
	select {
	case ch := <-c:
		t.Fatalf("%s: unexpected change %+v", what, ch)
	case <-time.After(200 * time.Millisecond):
	}
}

func TestInPlaceAndRename(t *testing.T) {
	dir := tempDir(t)
	path := filepath.Join(dir, "topology.yaml")
	write(t, path, "a")
	_, c := start(t, path)

	write(t, path, "b")
	if ch := next(t, c, "write in place"); ch.Atomic {
		t.Errorf("a write in place reported as atomic: %+v", ch)
	}
	settle(c)

	tmp := filepath.Join(dir, ".topology.yaml.swp")
	write(t, tmp, "c")
	none(t, c, "another file in the directory")
	must(t, os.Rename(tmp, path))
	if ch := next(t, c, "rename over"); !ch.Atomic || ch.Name != path {
		t.Errorf("rename over: %+v", ch)
	}
	settle(c)

	// After the rename the new inode is watched like the old one was.
	write(t, path, "d")
	next(t, c, "write in place after a rename")
	settle(c)

	must(t, os.Remove(path))
	if ch := next(t, c, "remove"); !ch.Atomic {
		t.Errorf("remove: %+v", ch)
	}
	write(t, path, "e")
	next(t, c, "recreate")
}

func TestMissingThenCreated(t *testing.T) {
	dir := tempDir(t)
	path := filepath.Join(dir, "sub", "topology.yaml")
	w, c := start(t, path)
	if got := w.Watched(); !slices.Equal(got, []string{dir}) {
		t.Errorf("watching %v, want the deepest existing directory %s", got, dir)
	}
	must(t, os.Mkdir(filepath.Join(dir, "sub"), 0o755))
	next(t, c, "parent directory created")
	settle(c)
	write(t, path, "x")
	next(t, c, "file created")
}

// A Kubernetes ConfigMap volume: topology.yaml -> ..data/topology.yaml,
// ..data -> ..<timestamp>, updated by renaming a new ..data over the old.
func TestConfigMapSymlinkSwap(t *testing.T) {
	dir := tempDir(t)
	gen := func(name, content string) {
		must(t, os.Mkdir(filepath.Join(dir, name), 0o755))
		write(t, filepath.Join(dir, name, "topology.yaml"), content)
	}
	gen("..2024_01", "one")
	must(t, os.Symlink("..2024_01", filepath.Join(dir, "..data")))
	path := filepath.Join(dir, "topology.yaml")
	must(t, os.Symlink("..data/topology.yaml", path))

	w, c := start(t, path)
	if got, want := w.Watched(), []string{dir, filepath.Join(dir, "..2024_01")}; !slices.Equal(got, want) {
		t.Errorf("watching %v, want %v", got, want)
	}

	swap := func(name, content string) {
		gen(name, content)
		tmp := filepath.Join(dir, "..data_tmp")
		must(t, os.Symlink(name, tmp))
		must(t, os.Rename(tmp, filepath.Join(dir, "..data")))
	}
	swap("..2024_02", "two")
	if ch := next(t, c, "..data swapped"); !ch.Atomic || ch.Name != filepath.Join(dir, "..data") {
		t.Errorf("swap: %+v", ch)
	}
	settle(c)
	must(t, os.RemoveAll(filepath.Join(dir, "..2024_01")))
	none(t, c, "the old generation removed")
	if got, want := w.Watched(), []string{dir, filepath.Join(dir, "..2024_02")}; !slices.Equal(got, want) {
		t.Errorf("after the swap watching %v, want %v", got, want)
	}
	// An edit inside the current generation is seen too.
	write(t, filepath.Join(dir, "..2024_02", "topology.yaml"), "three")
	next(t, c, "write in the new generation")
}

func TestResolve(t *testing.T) {
	dir := tempDir(t)
	must(t, os.MkdirAll(filepath.Join(dir, "real", "sub"), 0o755))
	write(t, filepath.Join(dir, "real", "sub", "f"), "x")
	must(t, os.Symlink(filepath.Join(dir, "real"), filepath.Join(dir, "abs")))
	must(t, os.Symlink("abs/sub/../sub/f", filepath.Join(dir, "rel")))
	entries, final, err := resolve(filepath.Join(dir, "rel"))
	must(t, err)
	want := []string{filepath.Join(dir, "rel"), filepath.Join(dir, "abs"), filepath.Join(dir, "real", "sub", "f")}
	if !slices.Equal(entries, want) || final != want[2] {
		t.Errorf("resolve = %v, %s; want %v", entries, final, want)
	}

	must(t, os.Symlink("loop", filepath.Join(dir, "loop")))
	if _, _, err := resolve(filepath.Join(dir, "loop")); err == nil {
		t.Error("a symlink loop resolved")
	}
	entries, _, err = resolve(filepath.Join(dir, "abs", "nope", "f"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing component: err = %v", err)
	}
	if want := filepath.Join(dir, "real", "nope"); entries[len(entries)-1] != want {
		t.Errorf("missing component: entries %v, want it to end with %s", entries, want)
	}
}
