package files

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/internal/beneath"
)

// ErrLocked is returned by TryLock when another process holds the lock.
var ErrLocked = errors.New("held by another process")

// LockOptions tune Lock.
type LockOptions struct {
	// Command is what the holder is doing ("netctl apply"), recorded in
	// the lock file for those who wait.
	Command string
	// Timeout gives up waiting (0: wait until ctx is done).
	Timeout time.Duration
	// Waiting, when set, is told once who holds the lock, after the
	// lock could not be taken for a second.
	Waiting func(Holder)
}

// Holder is who holds a lock, as recorded in its file.
type Holder struct {
	Pid     int
	Command string
	Since   time.Time
}

func (h Holder) String() string {
	if h.Pid == 0 {
		return "another process"
	}
	s := "pid " + strconv.Itoa(h.Pid)
	var what []string
	if h.Command != "" {
		what = append(what, h.Command)
	}
	if !h.Since.IsZero() {
		what = append(what, "since "+h.Since.Local().Format("15:04:05"))
	}
	if len(what) > 0 {
		s += " (" + strings.Join(what, ", ") + ")"
	}
	return s
}

// waitNotice is how long Lock waits before telling who holds the lock.
const waitNotice = time.Second

// Lock takes the exclusive lock root/name (one per --root), so that two
// netctl processes never reconcile at once. It waits until ctx is done or
// the timeout passes, telling opts.Waiting who holds it after a second.
// The returned function releases it.
func Lock(ctx context.Context, root, name string, opts LockOptions) (func(), error) {
	f, path, err := openLock(root, name)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	told := false
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return locked(f, opts.Command), nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		waited := time.Since(start)
		if !told && waited >= waitNotice && opts.Waiting != nil {
			opts.Waiting(holder(f, path))
			told = true
		}
		if opts.Timeout > 0 && waited >= opts.Timeout {
			h := holder(f, path)
			f.Close()
			return nil, fmt.Errorf("lock %s: still held by %s after %s: another netctl is working on this root; "+
				"wait for it to finish (or stop it), or raise --lock-timeout", path, h, opts.Timeout)
		}
		select {
		case <-ctx.Done():
			h := holder(f, path)
			f.Close()
			return nil, fmt.Errorf("lock %s: held by %s: %w", path, h, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TryLock takes the exclusive lock root/name without waiting: it fails at
// once with an error wrapping ErrLocked (naming the holder) when another
// process holds it. `netctl watch` holds root/watch.lock this way for its
// whole life, so that a second watcher on the same --root is refused
// rather than queued, while each reconcile still takes the ordinary
// root/lock (see Lock).
func TryLock(root, name, command string) (func(), error) {
	f, path, err := openLock(root, name)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("lock %s: %w (%s)", path, ErrLocked, holder(f, path))
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return locked(f, command), nil
}

// openLock opens root/name, 0600, beneath a checked root: a user who
// could open it could flock it and block root's applies.
func openLock(root, name string) (*os.File, string, error) {
	if err := PrepareRoot(root); err != nil {
		return nil, "", err
	}
	path := filepath.Join(root, name)
	f, err := beneath.OpenFile(root, path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, "", fmt.Errorf("lock %s: %w", path, err)
	}
	// Lock files of older versions were 0644.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return nil, "", fmt.Errorf("lock %s: %w", path, err)
	}
	return f, path, nil
}

// locked records the holder (informative only: the flock is what
// excludes) and returns the release function.
func locked(f *os.File, command string) func() {
	rec := fmt.Sprintf("%d\n%s\n%s\n", os.Getpid(), command, time.Now().UTC().Format(time.RFC3339))
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(rec), 0)
	}
	return func() { f.Close() }
}

// holder reads who holds the lock: the pid the kernel's lock table
// names (the record may be stale, or half written), with the command
// and start time from the record when it is that pid's.
func holder(f *os.File, path string) Holder {
	buf := make([]byte, 512)
	n, _ := f.ReadAt(buf, 0)
	lines := strings.Split(string(buf[:n]), "\n")
	var h Holder
	h.Pid, _ = strconv.Atoi(strings.TrimSpace(lines[0]))
	if len(lines) > 1 {
		h.Command = strings.TrimSpace(lines[1])
	}
	if len(lines) > 2 {
		h.Since, _ = time.Parse(time.RFC3339, strings.TrimSpace(lines[2]))
	}
	if pid := LockHolder(path); pid > 0 && pid != h.Pid {
		h = Holder{Pid: pid}
	}
	return h
}

// LockHolder returns the pid of the process holding a flock on path, 0
// when none does. The kernel's own table (/proc/locks) is the proof: a
// pid read from a file could be stale or recycled, and signalling it
// could hit an unrelated process. Where /proc/locks is hidden (a systemd
// unit with ProcSubset=pid), the lock is tried instead, and the pid is the
// one its holder recorded in the file (netctl's lock holders all do).
func LockHolder(path string) int { return lockHolder(path, "/proc/locks") }

// LockHolders is LockHolder of each path, from one reading of
// /proc/locks: every reading costs the kernel an RCU grace period (it
// takes the file-lock semaphore for writing), ~10-15 ms.
func LockHolders(paths ...string) []int {
	out := make([]int, len(paths))
	locks, err := os.ReadFile("/proc/locks")
	for i, path := range paths {
		key, ok := lockKey(path)
		switch {
		case !ok:
		case err == nil:
			out[i] = parseLockHolder(locks, key)
		default:
			out[i] = triedLockHolder(path)
		}
	}
	return out
}

// lockKey is path's "maj:min:inode", as /proc/locks names files.
func lockKey(path string) (string, bool) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return "", false
	}
	return fmt.Sprintf("%02x:%02x:%d", unix.Major(st.Dev), unix.Minor(st.Dev), st.Ino), true
}

func lockHolder(path, procLocks string) int {
	key, ok := lockKey(path)
	if !ok {
		return 0
	}
	if b, err := os.ReadFile(procLocks); err == nil {
		return parseLockHolder(b, key)
	}
	return triedLockHolder(path)
}

// triedLockHolder tries the lock on path: 0 when it is free, else the pid
// its holder recorded in it.
func triedLockHolder(path string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err == nil {
		_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
		return 0
	}
	buf := make([]byte, 32)
	n, _ := f.ReadAt(buf, 0)
	first, _, _ := strings.Cut(string(buf[:n]), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(first))
	return max(pid, 0)
}

// parseLockHolder finds, in /proc/locks content, the pid of an active
// FLOCK on the file "maj:min:inode". Lines look like
// "1: FLOCK  ADVISORY  WRITE 4242 00:1a:1234 0 EOF"; waiters ("->") are
// skipped.
func parseLockHolder(locks []byte, file string) int {
	sc := bufio.NewScanner(bytes.NewReader(locks))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 6 || f[1] != "FLOCK" || f[5] != file {
			continue
		}
		if pid, err := strconv.Atoi(f[4]); err == nil && pid > 0 {
			return pid
		}
	}
	return 0
}
