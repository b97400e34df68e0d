package integration

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/internal/sandbox"
)

// The --root, its lock and the files under it (issue 10, items 6, 7, 9
// and 11), as a user of the command line meets them.

const smallTopo = `
networks:
  n: {}
containers:
  c:
    networks: [n]
`

// A second netctl waits for the lock, says for whom after a second, and
// gives up after --lock-timeout with an error naming the holder.
func TestLockWaitNamesHolderAndTimesOut(t *testing.T) {
	h := sandbox.New(t)
	file := h.WriteFile(t, "f.yaml", smallTopo)
	// Stand in for a long apply: hold the lock as netctl does, with the
	// record netctl writes.
	f, err := os.OpenFile(filepath.Join(h.Root(), "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	must(t, err)
	defer f.Close()
	must(t, unix.Flock(int(f.Fd()), unix.LOCK_EX))
	_, err = f.WriteString(strconv.Itoa(os.Getpid()) + "\nnetctl apply\n" + time.Now().UTC().Format(time.RFC3339) + "\n")
	must(t, err)

	start := time.Now()
	r := h.Netctl("--lock-timeout", "2s", "apply", "-f", file)
	took := time.Since(start)
	pid := strconv.Itoa(os.Getpid())
	if r.Code != 1 || took < 2*time.Second || took > 10*time.Second {
		t.Fatalf("apply with the lock held: exit %d after %s, want 1 after the 2 s timeout\n%s", r.Code, took, r)
	}
	if !strings.Contains(r.Stderr, "waiting for the lock held by pid "+pid+" (netctl apply, since ") {
		t.Errorf("no waiting notice naming the holder:\n%s", r.Stderr)
	}
	if !strings.Contains(r.Stderr, "still held by pid "+pid) || !strings.Contains(r.Stderr, "--lock-timeout") {
		t.Errorf("the error does not name the holder and the flag:\n%s", r.Stderr)
	}
	if out := hostLinks(t, h); strings.Contains(out, "br-") {
		t.Errorf("bridges made without the lock:\n%s", out)
	}
	// Released: the same apply goes through, and leaves the lock 0600.
	must(t, unix.Flock(int(f.Fd()), unix.LOCK_UN))
	h.MustNetctl(t, "apply", "-f", file)
	if st, err := os.Stat(filepath.Join(h.Root(), "lock")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("lock file: %v %v, want 0600", st.Mode(), err)
	}
	if st, err := os.Stat(h.Root()); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("root: %v %v, want 0700", st.Mode(), err)
	}
}

// A root another user owns, or that others may write to, is refused
// before anything is made.
func TestUntrustedRootIsRefused(t *testing.T) {
	h := sandbox.New(t)
	file := h.WriteFile(t, "f.yaml", smallTopo)
	for _, c := range []struct {
		name string
		prep func(string)
		want string
	}{
		{"owned by a user", func(p string) { must(t, os.Chown(p, 1000, 1000)) }, "is owned by uid 1000, not by root"},
		{"world-writable", func(p string) { must(t, os.Chmod(p, 0o777)) }, "writable by group or others"},
	} {
		root := filepath.Join(t.TempDir(), "root")
		must(t, os.Mkdir(root, 0o700))
		c.prep(root)
		r := h.Netctl("--root", root, "apply", "-f", file)
		if r.Code != 1 || !strings.Contains(r.Stderr, c.want) {
			t.Errorf("%s: exit %d, want 1 with %q:\n%s", c.name, r.Code, c.want, r.Stderr)
		}
		if ents, _ := os.ReadDir(root); len(ents) > 0 {
			t.Errorf("%s: files made in the refused root: %v", c.name, ents)
		}
		if out := hostLinks(t, h); strings.Contains(out, "br-") {
			t.Errorf("%s: bridges made:\n%s", c.name, out)
		}
	}
}

// Links planted under the root are never followed: the files they point
// at stay as they were, and no namespace is mounted outside the root.
func TestPlantedLinksAreNotFollowed(t *testing.T) {
	h := sandbox.New(t)
	file := h.WriteFile(t, "f.yaml", smallTopo)
	victims := t.TempDir()
	victim := filepath.Join(victims, "precious")
	must(t, os.WriteFile(victim, []byte("precious\n"), 0o644))
	unchanged := func(what string) {
		t.Helper()
		if b, _ := os.ReadFile(victim); string(b) != "precious\n" {
			t.Errorf("%s: the link's target changed: %q", what, b)
		}
	}
	root := h.Root()

	// lock -> victim: refused, victim intact.
	must(t, os.Symlink(victim, filepath.Join(root, "lock")))
	r := h.Netctl("apply", "-f", file)
	if r.Code != 1 || !strings.Contains(r.Stderr, "symbolic link") {
		t.Errorf("apply with a planted lock link: exit %d\n%s", r.Code, r.Stderr)
	}
	unchanged("lock")
	must(t, os.Remove(filepath.Join(root, "lock")))

	// dns -> elsewhere, in a root of its own: the server's files are not
	// made there.
	dnsRoot := extraRoot(t)
	must(t, os.Symlink(victims, filepath.Join(dnsRoot, "dns")))
	h.Netctl("--root", dnsRoot, "apply", "-f", file)
	if ents, _ := os.ReadDir(victims); len(ents) != 1 {
		t.Errorf("files made through a planted dns link: %v", ents)
	}
	must(t, os.Remove(filepath.Join(dnsRoot, "dns")))
	h.MustNetctl(t, "--root", dnsRoot, "down", "-f", file)

	// netns/<project> -> elsewhere, in another root: no namespace is
	// mounted there.
	nsRoot := extraRoot(t)
	must(t, os.MkdirAll(filepath.Join(nsRoot, "netns"), 0o700))
	must(t, os.Symlink(victims, filepath.Join(nsRoot, "netns", "f")))
	if r := h.Netctl("--root", nsRoot, "apply", "-f", file); r.Code == 0 {
		t.Errorf("apply through a planted netns link succeeded")
	}
	if _, err := os.Stat(filepath.Join(victims, "c")); err == nil {
		t.Errorf("a namespace was mounted outside the root: %s", filepath.Join(victims, "c"))
	}
	must(t, os.Remove(filepath.Join(nsRoot, "netns", "f")))
	h.MustNetctl(t, "--root", nsRoot, "down", "-f", file)

	// A container's hosts file -> victim: replaced, the victim untouched.
	h.MustNetctl(t, "apply", "-f", file)
	hosts := filepath.Join(root, "containers", "f", "c", "hosts")
	must(t, os.Remove(hosts))
	must(t, os.Symlink(victim, hosts))
	h.MustNetctl(t, "apply", "-f", file)
	unchanged("hosts")
	if st, err := os.Lstat(hosts); err != nil || !st.Mode().IsRegular() {
		t.Errorf("hosts is not a regular file again: %v %v", st, err)
	}
	if r := h.Netctl("diff", "-f", file); r.Code != 0 {
		t.Errorf("diff after the repair: %s", r)
	}
}

// exec into a container whose files were never written is an error, not
// the host's /etc/hosts; the link env file is root's only.
func TestExecNeedsTheContainersFiles(t *testing.T) {
	h := sandbox.New(t)
	file := h.WriteFile(t, "f.yaml", `
containers:
  db:
    env: {PASSWORD: secret}
    expose: [5432]
  web:
    links: [db]
`)
	h.MustNetctl(t, "apply", "-f", file)
	env := filepath.Join(h.Root(), "containers", "f", "web", "env")
	if st, err := os.Stat(env); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("link env file: %v %v, want 0600", st, err)
	}
	if r := h.MustNetctl(t, "exec", "web", "--", "cat", "/etc/hosts"); !strings.Contains(r.Stdout, "db") {
		t.Errorf("web's hosts: %s", r.Stdout)
	}
	must(t, os.Remove(filepath.Join(h.Root(), "containers", "f", "web", "hosts")))
	r := h.Netctl("exec", "web", "--", "cat", "/etc/hosts")
	if r.Code != 1 || !strings.Contains(r.Stderr, "never written") || !strings.Contains(r.Stderr, "netctl apply") {
		t.Errorf("exec without a hosts file: exit %d, want 1 saying to apply\n%s", r.Code, r)
	}
}

// A project renamed in its file: apply warns about the old one, as
// Compose does about orphans, and says how to remove it.
func TestRenamedProjectIsReported(t *testing.T) {
	h := sandbox.New(t)
	file := h.WriteFile(t, "shop.yaml", "name: shop\n"+smallTopo)
	h.MustNetctl(t, "apply", "-f", file)
	h.WriteFile(t, "shop.yaml", "name: store\n"+smallTopo)
	r := h.MustNetctl(t, "apply", "-f", file)
	if !strings.Contains(r.Stderr, "orphan project shop") || !strings.Contains(r.Stderr, "netctl down -p shop") {
		t.Errorf("no orphan warning naming netctl down -p shop:\n%s", r.Stderr)
	}
	h.MustNetctl(t, "down", "-p", "shop")
	if r := h.MustNetctl(t, "apply", "-f", file); strings.Contains(r.Stderr, "orphan") {
		t.Errorf("warning after the old project is gone:\n%s", r.Stderr)
	}
}

// A named pipe or a device as the topology file: a clear error at once.
func TestTopologyMustBeARegularFile(t *testing.T) {
	h := sandbox.New(t)
	fifo := filepath.Join(t.TempDir(), "fifo.yaml")
	must(t, syscall.Mkfifo(fifo, 0o600))
	for path, want := range map[string]string{fifo: "a named pipe", "/dev/zero": "a device"} {
		start := time.Now()
		r := h.Netctl("apply", "-f", path)
		if r.Code != 1 || !strings.Contains(r.Stderr, want+", not a regular file") || time.Since(start) > 5*time.Second {
			t.Errorf("apply -f %s: exit %d after %s\n%s", path, r.Code, time.Since(start), r.Stderr)
		}
	}
}
