package files

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netctl/netctl/model"
)

// A root another user could write to is refused (issue 10, item 7): they
// could plant links netctl would follow as root.
func TestPrepareRootRefusesUntrustedRoots(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown needs root")
	}
	base := t.TempDir()
	mk := func(name string, mode os.FileMode, uid int) string {
		p := filepath.Join(base, name)
		if err := os.Mkdir(p, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, uid, uid); err != nil {
			t.Fatal(err)
		}
		return p
	}
	userDir := mk("user", 0o755, 1000)
	if err := os.Symlink(userDir, filepath.Join(base, "link-to-user")); err != nil {
		t.Fatal(err)
	}
	userLink := filepath.Join(base, "user-link")
	if err := os.Symlink(mk("rootdir", 0o700, 0), userLink); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(userLink, 1000, 1000); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ root, want string }{
		{userDir, "is owned by uid 1000"},
		{mk("world", 0o777, 0), "writable by group or others"},
		{mk("group", 0o770, 0), "writable by group or others"},
		{filepath.Join(base, "link-to-user"), "is owned by uid 1000"},
		{userLink, "(a symbolic link) is owned by uid 1000"},
		{filepath.Join(userDir, "netctl"), "(above the root) is owned by uid 1000"},
	} {
		err := PrepareRoot(c.root)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("PrepareRoot(%s) = %v, want an error with %q", c.root, err, c.want)
		}
	}
	// Lock refuses it too, before creating anything in it.
	if _, err := Lock(context.Background(), userDir, "lock", LockOptions{}); err == nil {
		t.Errorf("Lock in a user's directory succeeded")
	}
	if _, err := os.Stat(filepath.Join(userDir, "lock")); !os.IsNotExist(err) {
		t.Errorf("lock file created in a refused root: %v", err)
	}
}

// Roots are created 0700 (and older 0755 ones narrowed), locks 0600, the
// link env file 0600 (issue 10, items 6 and 11).
func TestModesUnderRoot(t *testing.T) {
	root := filepath.Join(t.TempDir(), "a", "root")
	unlock, err := Lock(context.Background(), root, "lock", LockOptions{})
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	mode := func(p string) os.FileMode {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return st.Mode().Perm()
	}
	if m := mode(root); m != 0o700 {
		t.Errorf("new root %v, want 0700", m)
	}
	if m := mode(filepath.Join(root, "lock")); m != 0o600 {
		t.Errorf("lock %v, want 0600", m)
	}
	// An older root and lock.
	must(t, os.Chmod(root, 0o755))
	must(t, os.Chmod(filepath.Join(root, "lock"), 0o644))
	unlock, err = Lock(context.Background(), root, "lock", LockOptions{})
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	if m, l := mode(root), mode(filepath.Join(root, "lock")); m != 0o700 || l != 0o600 {
		t.Errorf("older root %v and lock %v, want 0700 and 0600", m, l)
	}

	s := New(root)
	c := &model.Container{Project: "p", Name: "web", Mode: model.ModeBridge,
		HostsFile: "127.0.0.1\tlocalhost\n", ResolvFile: "nameserver 10.0.0.1\n", EnvFile: "DB_ENV_PASSWORD=secret\n"}
	must(t, s.WriteContainer(context.Background(), c))
	dir := ContainerDir(root, "p", "web")
	for name, want := range map[string]os.FileMode{Env: 0o600, "settings.json": 0o600, Hosts: 0o644, Resolv: 0o644} {
		if m := mode(filepath.Join(dir, name)); m != want {
			t.Errorf("%s is %v, want %v", name, m, want)
		}
	}
}

// A second locker is told who holds the lock after a second, and gives up
// after the timeout with an error naming the holder (issue 10, item 6).
func TestLockNamesTheHolderAndTimesOut(t *testing.T) {
	root := t.TempDir()
	unlock, err := Lock(context.Background(), root, "lock", LockOptions{Command: "netctl apply"})
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	var told []Holder
	start := time.Now()
	_, err = Lock(context.Background(), root, "lock", LockOptions{
		Command: "netctl down", Timeout: 1500 * time.Millisecond,
		Waiting: func(h Holder) { told = append(told, h) },
	})
	took := time.Since(start)
	if err == nil {
		t.Fatal("second Lock succeeded")
	}
	pid := strconv.Itoa(os.Getpid())
	if len(told) != 1 || told[0].Pid != os.Getpid() || told[0].Command != "netctl apply" || told[0].Since.IsZero() {
		t.Errorf("told %+v, want once: pid %s, netctl apply, a start time", told, pid)
	}
	if !strings.Contains(err.Error(), "still held by pid "+pid+" (netctl apply, since ") || !strings.Contains(err.Error(), "--lock-timeout") {
		t.Errorf("error %q does not name the holder and the flag", err)
	}
	if took < 1500*time.Millisecond || took > 3*time.Second {
		t.Errorf("gave up after %s, want the 1.5 s timeout", took)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// A project renamed in its file is found by the file it came from, as
// long as it still has objects (issue 10, item 11).
func TestAppliedFrom(t *testing.T) {
	ctx := context.Background()
	s := New(t.TempDir())
	must(t, s.WriteContainer(ctx, &model.Container{Project: "old", Name: "c", Mode: model.ModeBridge}))
	must(t, s.RecordSource("old", "/etc/netctl/shop.yaml"))
	must(t, s.RecordSource("other", "/etc/netctl/other.yaml"))
	must(t, s.RecordSource("gone", "/etc/netctl/shop.yaml")) // nothing left of it
	if got := s.AppliedFrom("/etc/netctl/shop.yaml", "new"); len(got) != 1 || got[0] != "old" {
		t.Errorf("AppliedFrom = %v, want [old]", got)
	}
	if got := s.AppliedFrom("/etc/netctl/shop.yaml", "old"); len(got) != 0 {
		t.Errorf("a project is its own orphan: %v", got)
	}
	must(t, s.ForgetSource("old"))
	if got := s.AppliedFrom("/etc/netctl/shop.yaml", "new"); len(got) != 0 {
		t.Errorf("after ForgetSource: %v", got)
	}
}
