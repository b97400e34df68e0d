package files

import (
	"os"
	"slices"
	"testing"
)

func TestParseLockHolder(t *testing.T) {
	locks := []byte(`1: POSIX  ADVISORY  WRITE 111 00:1a:77 0 EOF
2: FLOCK  ADVISORY  WRITE 4242 00:1a:1234 0 EOF
2: -> FLOCK  ADVISORY  WRITE 5555 00:1a:1234 0 EOF
3: FLOCK  ADVISORY  WRITE 999 08:01:1234 0 EOF
`)
	if got := parseLockHolder(locks, "00:1a:1234"); got != 4242 {
		t.Errorf("holder = %d, want 4242 (not the waiter, not another device)", got)
	}
	if got := parseLockHolder(locks, "00:1a:77"); got != 0 {
		t.Errorf("a POSIX lock counted as a flock: %d", got)
	}
}

// Where /proc/locks is hidden (systemd's ProcSubset=pid), the holder is
// found by trying the lock and reading the pid it recorded.
func TestLockHolderWithoutProcLocks(t *testing.T) {
	root := t.TempDir()
	path := root + "/lock"
	for _, procLocks := range []string{"/proc/locks", root + "/no-proc-locks"} {
		if got := lockHolder(path, procLocks); got != 0 {
			t.Errorf("no lock file (%s): holder %d", procLocks, got)
		}
		unlock, err := Lock(t.Context(), root, "lock", LockOptions{Command: "netctl apply"})
		if err != nil {
			t.Fatal(err)
		}
		if got := lockHolder(path, procLocks); got != os.Getpid() {
			t.Errorf("held (%s): holder %d, want %d", procLocks, got, os.Getpid())
		}
		unlock()
		if got := lockHolder(path, procLocks); got != 0 {
			t.Errorf("released (%s): holder %d", procLocks, got)
		}
	}
}

// LockHolders answers for several files from one reading of the table.
func TestLockHolders(t *testing.T) {
	root := t.TempDir()
	unlock, err := Lock(t.Context(), root, "held", LockOptions{Command: "netctl apply"})
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if err := os.WriteFile(root+"/free", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	got := LockHolders(root+"/free", root+"/held", root+"/missing")
	if want := []int{0, os.Getpid(), 0}; !slices.Equal(got, want) {
		t.Errorf("holders %v, want %v", got, want)
	}
}
