// Package filewatch reports changes to what one path names, however the
// file is replaced: written in place, renamed over (editors, GitOps tools),
// deleted and recreated (git checkout), or swapped through a symlink (a
// Kubernetes ConfigMap volume, where the path is a symlink to
// ..data/<file> and ..data a symlink to a timestamped directory, replaced
// by an atomic rename).
//
// inotify watches directories by inode, so a watch on the file itself is
// lost as soon as it is renamed over. Instead every directory that holds a
// link of the path's resolution chain is watched, and the chain is
// resolved again after each change, so that a new symlink target's
// directory is watched before the next edit in it.
package filewatch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/rs/zerolog"
)

// Change is one relevant change to the watched path.
type Change struct {
	// Atomic is true when the path now names a complete file (it was
	// renamed over, created, removed, or a symlink in its chain was
	// swapped), false for a write in place, which may be one of several.
	Atomic bool
	// Name is the path the change was seen on (a link of the chain).
	Name string
}

// Watcher watches one path. Create it with New, then call Run.
type Watcher struct {
	path string
	log  zerolog.Logger
	fs   *fsnotify.Watcher

	// entries are the paths whose change changes what path names: each
	// symlink followed, the final file, or the first missing component.
	entries map[string]bool
	// dirs are the watched directories (the parents of entries); mu
	// guards it for Watched.
	mu   sync.Mutex
	dirs map[string]bool
	// final is what the path resolved to last time ("" when it did not).
	final string
}

// New starts watching path (made absolute). The path need not exist yet:
// the deepest existing directory on its way is watched until it does.
func New(path string, log zerolog.Logger) (*Watcher, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", path, err)
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", path, err)
	}
	w := &Watcher{path: abs, log: log, fs: fw, entries: map[string]bool{}, dirs: map[string]bool{}}
	if _, err := w.rescan(); err != nil {
		fw.Close()
		return nil, err
	}
	return w, nil
}

// Path is the absolute path watched.
func (w *Watcher) Path() string { return w.path }

// Watched lists the directories watched now (for logs and tests).
func (w *Watcher) Watched() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]string, 0, len(w.dirs))
	for d := range w.dirs {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}

// Run calls notify for every relevant change until ctx is done, then
// releases the watches. rescan, when positive, re-resolves the chain that
// often even without events (a watch can be lost with its directory) and
// reports a change when the resolution moved. notify is called from Run's
// goroutine and should not block for long.
func (w *Watcher) Run(ctx context.Context, rescan time.Duration, notify func(Change)) error {
	defer w.fs.Close()
	var tick <-chan time.Time
	if rescan > 0 {
		t := time.NewTicker(rescan)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.fs.Events:
			if !ok {
				return errors.New("watch " + w.path + ": inotify closed")
			}
			name := filepath.Clean(ev.Name)
			if !w.entries[name] || ev.Op == fsnotify.Chmod {
				continue
			}
			w.log.Debug().Str("name", name).Str("op", ev.Op.String()).Msg("file event")
			if _, err := w.rescan(); err != nil {
				w.log.Warn().Err(err).Msg("re-resolving the watched file")
			}
			notify(Change{Atomic: !ev.Has(fsnotify.Write), Name: name})
		case err, ok := <-w.fs.Errors:
			if !ok {
				return errors.New("watch " + w.path + ": inotify closed")
			}
			// An overflow loses events: assume the file changed.
			w.log.Warn().Err(err).Msg("file watch error; re-reading the file")
			if _, err := w.rescan(); err != nil {
				w.log.Warn().Err(err).Msg("re-resolving the watched file")
			}
			notify(Change{Atomic: true, Name: w.path})
		case <-tick:
			moved, err := w.rescan()
			if err != nil {
				w.log.Warn().Err(err).Msg("re-resolving the watched file")
			}
			if moved {
				notify(Change{Atomic: true, Name: w.path})
			}
		}
	}
}

// rescan resolves the path again and brings the watched directories in
// line. It reports whether the final file or the chain changed.
func (w *Watcher) rescan() (bool, error) {
	entries, final, rerr := resolve(w.path)
	want := map[string]bool{}
	for _, e := range entries {
		want[filepath.Dir(e)] = true
	}
	// inotify drops the watch of a deleted directory by itself: ask which
	// watches are still alive rather than trusting w.dirs.
	alive := map[string]bool{}
	for _, d := range w.fs.WatchList() {
		alive[d] = true
	}
	var errs []error
	for d := range want {
		if alive[d] {
			continue
		}
		if err := w.fs.Add(d); err != nil {
			// The directory may be gone already (a swapped ConfigMap
			// target); the next event or rescan sorts it out.
			errs = append(errs, fmt.Errorf("watch %s: %w", d, err))
			delete(want, d)
			continue
		}
		w.log.Debug().Str("dir", d).Msg("watching directory")
	}
	for d := range alive {
		if !want[d] {
			_ = w.fs.Remove(d) // fails when inotify dropped it with the directory
		}
	}
	moved := final != w.final || len(entries) != len(w.entries)
	newEntries := make(map[string]bool, len(entries))
	for _, e := range entries {
		newEntries[e] = true
		if !w.entries[e] {
			moved = true
		}
	}
	w.mu.Lock()
	w.entries, w.dirs, w.final = newEntries, want, final
	w.mu.Unlock()
	if rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		errs = append(errs, rerr)
	}
	return moved, errors.Join(errs...)
}

// maxHops bounds symlink resolution, as the kernel's ELOOP does.
const maxHops = 40

// resolve follows path's symlinks component by component, as the kernel
// does, and returns every path whose replacement changes what path names:
// each symlink followed and the final file; final is the file's real
// path. A missing component ends the walk and is returned last, so that
// its creation is noticed; err then wraps os.ErrNotExist.
func resolve(path string) (entries []string, final string, err error) {
	comps := split(path)
	cur := "/"
	for hops := 0; len(comps) > 0; {
		c := comps[0]
		comps = comps[1:]
		switch c {
		case ".":
			continue
		case "..":
			cur = filepath.Dir(cur) // cur has no symlinks left: its parent is real
			continue
		}
		next := filepath.Join(cur, c)
		fi, err := os.Lstat(next)
		if err != nil {
			return append(entries, next), "", fmt.Errorf("resolve %s: %w", path, err)
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			cur = next
			continue
		}
		if hops++; hops > maxHops {
			return entries, "", fmt.Errorf("resolve %s: %w", path, syscall.ELOOP)
		}
		target, err := os.Readlink(next)
		if err != nil {
			return append(entries, next), "", fmt.Errorf("resolve %s: %w", path, err)
		}
		entries = append(entries, next)
		if filepath.IsAbs(target) {
			cur = "/"
		}
		comps = append(split(target), comps...)
	}
	return append(entries, cur), cur, nil
}

func split(p string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c != "" {
			out = append(out, c)
		}
	}
	return out
}
