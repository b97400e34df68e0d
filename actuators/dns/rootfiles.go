package dns

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/internal/beneath"
)

// The server's files live in <root>/dns, 0700, and are all opened through
// no symbolic link below the root (internal/beneath): a link planted
// there cannot make the server append its log, write its pid or take its
// lock anywhere else.

// prepareDir creates <root>/dns/projects.
func prepareDir(root string) error {
	return beneath.MkdirAll(root, filepath.Join(Dir(root), projectsDir), 0o700)
}

// claim makes <root>/dns, takes the lock file lock (ErrRunning when
// another process holds it) and records this process's pid in pid; release
// undoes both.
func claim(root, lock, pid string) (release func(), err error) {
	if err := prepareDir(root); err != nil {
		return nil, err
	}
	unlock, err := holdLock(root, lock)
	if err != nil {
		return nil, err
	}
	unpid, err := writePid(root, pid)
	if err != nil {
		unlock()
		return nil, err
	}
	return func() { unpid(); unlock() }, nil
}

// writePid records this process's pid in <root>/dns/name and returns what
// removes it.
func writePid(root, name string) (func(), error) {
	path := filepath.Join(Dir(root), name)
	if err := beneath.WriteFile(root, path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		return nil, err
	}
	return func() { _ = beneath.Remove(root, path) }, nil
}

// openLog opens the server's log for appending.
func openLog(root string) (*os.File, error) {
	return beneath.OpenFile(root, filepath.Join(Dir(root), logFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
}

// holdLock takes an exclusive flock on <root>/dns/name for the caller's
// lifetime; ErrRunning when another process holds it.
func holdLock(root, name string) (func(), error) {
	f, err := beneath.OpenFile(root, filepath.Join(Dir(root), name), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("dns: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, ErrRunning
		}
		return nil, fmt.Errorf("dns: lock %s: %w", f.Name(), err)
	}
	// The holder's pid, for where /proc/locks is hidden (files.LockHolder).
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() { f.Close() }, nil
}

// projectFiles lists the projects' configuration files, sorted.
func projectFiles(root string) ([]string, error) {
	dir := filepath.Join(Dir(root), projectsDir)
	d, err := beneath.OpenFile(root, dir, os.O_RDONLY|unix.O_DIRECTORY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	var paths []string
	for _, n := range names {
		if strings.HasSuffix(n, ".json") && !strings.HasPrefix(n, ".") {
			paths = append(paths, filepath.Join(dir, n))
		}
	}
	sort.Strings(paths)
	return paths, nil
}

func hasProjects(root string) bool {
	paths, _ := projectFiles(root)
	return len(paths) > 0
}
