package files

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrLocked is returned by TryLock when another process holds the lock.
var ErrLocked = errors.New("held by another process")

// TryLock takes the exclusive lock root/name without waiting: it fails at
// once with an error wrapping ErrLocked when another process holds it. The
// holder's PID is written into the file so that the error can name it.
// `netctl watch` holds root/watch.lock this way for its whole life, so that
// a second watcher on the same --root is refused rather than queued, while
// each reconcile still takes the ordinary root/lock (see Lock).
func TryLock(root, name string) (func(), error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("lock %s: %w", root, err)
	}
	path := filepath.Join(root, name)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			if pid := holder(f); pid > 0 {
				return nil, fmt.Errorf("lock %s: %w (pid %d)", path, ErrLocked, pid)
			}
			return nil, fmt.Errorf("lock %s: %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	// The PID is informative only: the flock is what excludes.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() { f.Close() }, nil
}

func holder(f *os.File) int {
	buf := make([]byte, 16)
	n, _ := f.ReadAt(buf, 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	if err != nil {
		return 0
	}
	return pid
}
