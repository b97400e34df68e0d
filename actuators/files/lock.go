package files

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ErrLocked is returned by TryLock when another process holds the lock.
var ErrLocked = errors.New("held by another process")

// Lock takes the exclusive lock root/name (one per --root), so that two
// netctl processes never reconcile at once. It waits until ctx is done.
// The returned function releases it.
func Lock(ctx context.Context, root, name string) (func(), error) {
	f, path, err := openLock(root, name)
	if err != nil {
		return nil, err
	}
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return locked(f), nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("lock %s: held by another netctl: %w", path, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TryLock takes the exclusive lock root/name without waiting: it fails at
// once with an error wrapping ErrLocked (naming the holder's PID) when
// another process holds it. `netctl watch` holds root/watch.lock this way
// for its whole life, so that a second watcher on the same --root is
// refused rather than queued, while each reconcile still takes the
// ordinary root/lock (see Lock).
func TryLock(root, name string) (func(), error) {
	f, path, err := openLock(root, name)
	if err != nil {
		return nil, err
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
	return locked(f), nil
}

func openLock(root, name string) (*os.File, string, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, "", fmt.Errorf("lock %s: %w", root, err)
	}
	path := filepath.Join(root, name)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, "", fmt.Errorf("lock %s: %w", path, err)
	}
	return f, path, nil
}

// locked records the holder's PID (informative only: the flock is what
// excludes) and returns the release function.
func locked(f *os.File) func() {
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() { f.Close() }
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
