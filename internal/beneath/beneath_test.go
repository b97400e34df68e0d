package beneath

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// setup makes root/{a/f, outside/secret} with links root/a/up -> outside,
// root/link -> outside/secret and root/dirlink -> outside.
func setup(t *testing.T) (root, outside string) {
	t.Helper()
	base := t.TempDir()
	root, outside = filepath.Join(base, "root"), filepath.Join(base, "outside")
	for _, d := range []string{filepath.Join(root, "a"), outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(root, "a", "f"), []byte("inside"), 0o644))
	must(os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o644))
	must(os.Symlink(outside, filepath.Join(root, "a", "up")))
	must(os.Symlink(filepath.Join(outside, "secret"), filepath.Join(root, "link")))
	must(os.Symlink(outside, filepath.Join(root, "dirlink")))
	return root, outside
}

func bothWays(t *testing.T, fn func(t *testing.T)) {
	for _, fallback := range []bool{false, true} {
		name := "openat2"
		if fallback {
			name = "O_NOFOLLOW per component"
		}
		t.Run(name, func(t *testing.T) {
			noOpenat2.Store(fallback)
			defer noOpenat2.Store(false)
			fn(t)
		})
	}
}

func TestLinksAreNeverFollowed(t *testing.T) {
	bothWays(t, func(t *testing.T) {
		root, outside := setup(t)
		if b, err := ReadFile(root, filepath.Join(root, "a", "f")); err != nil || string(b) != "inside" {
			t.Fatalf("plain read: %q %v", b, err)
		}
		for _, p := range []string{"link", "a/up/secret", "dirlink/secret"} {
			if _, err := ReadFile(root, filepath.Join(root, p)); !errors.Is(err, ErrLink) {
				t.Errorf("read %s: %v, want ErrLink", p, err)
			}
			f, err := OpenFile(root, filepath.Join(root, p), os.O_WRONLY|os.O_TRUNC|os.O_CREATE, 0o600)
			if err == nil {
				f.Close()
				t.Errorf("open %s for writing followed the link", p)
			}
		}
		if err := MkdirAll(root, filepath.Join(root, "dirlink", "x"), 0o755); !errors.Is(err, ErrLink) {
			t.Errorf("mkdir through a link: %v", err)
		}
		if err := WriteFile(root, filepath.Join(root, "a", "up", "new"), []byte("x"), 0o600); err == nil {
			t.Errorf("write through a link succeeded")
		}
		// Writing over a link replaces the link, not its target.
		if err := WriteFile(root, filepath.Join(root, "link"), []byte("mine"), 0o600); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(filepath.Join(outside, "secret")); string(b) != "secret" {
			t.Errorf("target of the link changed: %q", b)
		}
		if st, err := os.Lstat(filepath.Join(root, "link")); err != nil || !st.Mode().IsRegular() || st.Mode().Perm() != 0o600 {
			t.Errorf("link not replaced by a 0600 file: %v %v", st, err)
		}
		// RemoveAll removes the links, not what they point at.
		if err := RemoveAll(root, filepath.Join(root, "a")); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(outside, "secret")); err != nil {
			t.Errorf("RemoveAll followed a link: %v", err)
		}
		if _, err := os.Lstat(filepath.Join(root, "a")); !os.IsNotExist(err) {
			t.Errorf("a still there: %v", err)
		}
		if err := RemoveAll(root, filepath.Join(root, "dirlink", "secret")); err == nil {
			if _, err := os.Stat(filepath.Join(outside, "secret")); err != nil {
				t.Errorf("RemoveAll through a link removed the target")
			}
		}
		if _, err := OpenFile(root, filepath.Join(root, "..", "outside", "secret"), os.O_RDONLY, 0); err == nil {
			t.Errorf("a path outside the root was opened")
		}
	})
}

func TestWriteFileIsAtomicAndSetsMode(t *testing.T) {
	bothWays(t, func(t *testing.T) {
		root := t.TempDir()
		p := filepath.Join(root, "d", "e", "f")
		for _, content := range []string{"one", "two", "two"} {
			if err := WriteFile(root, p, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		b, err := ReadFile(root, p)
		st, _ := os.Stat(p)
		if err != nil || string(b) != "two" || st.Mode().Perm() != 0o600 {
			t.Errorf("content %q mode %v err %v", b, st.Mode(), err)
		}
		ents, _ := os.ReadDir(filepath.Dir(p))
		if len(ents) != 1 {
			t.Errorf("temporary files left: %v", ents)
		}
		if err := Remove(root, p); err != nil {
			t.Fatal(err)
		}
	})
}

// A Root held open reads files of any size whole, refuses what is not a
// regular file, a path outside it and a link on the way.
func TestRootReadFile(t *testing.T) {
	root := t.TempDir()
	r, err := OpenRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, size := range []int{0, 1, 4095, 4096, 100_000} {
		want := bytes.Repeat([]byte{'x'}, size)
		p := filepath.Join(root, fmt.Sprintf("f%d", size))
		if err := os.WriteFile(p, want, 0o600); err != nil {
			t.Fatal(err)
		}
		if got, err := r.ReadFile(p); err != nil || !bytes.Equal(got, want) {
			t.Errorf("ReadFile of %d bytes: %d bytes, %v", size, len(got), err)
		}
	}
	// ReadFileBuf reads into the buffer it is given when it has room, and
	// leaves it alone otherwise.
	buf := make([]byte, 4096)
	for _, size := range []int{0, 1, 100, 4095, 4096, 100_000, 10} {
		want := bytes.Repeat([]byte{'y'}, size)
		p := filepath.Join(root, fmt.Sprintf("g%d", size))
		if err := os.WriteFile(p, want, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := r.ReadFileBuf(p, buf)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("ReadFileBuf of %d bytes: %d bytes, %v", size, len(got), err)
		}
		if shared := cap(got) > 0 && &got[:1][0] == &buf[0]; shared != (size < len(buf)) {
			t.Errorf("ReadFileBuf of %d bytes into %d: result in the buffer %v", size, len(buf), shared)
		}
	}
	if err := os.Mkdir(filepath.Join(root, "dir"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "dir"), filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadFile(filepath.Join(root, "dir")); err == nil {
		t.Error("ReadFile of a directory succeeded")
	}
	if _, err := r.ReadFile(filepath.Join(root, "link", "f")); !errors.Is(err, ErrLink) {
		t.Errorf("ReadFile through a link: %v, want ErrLink", err)
	}
	if _, err := r.ReadFile(filepath.Join(filepath.Dir(root), "elsewhere")); err == nil {
		t.Error("ReadFile outside the root succeeded")
	}
}

// relJoined answers as filepath.Rel does, or leaves the path to it.
func FuzzRelJoined(f *testing.F) {
	for _, seed := range [][2]string{
		{"/var/lib/netctl", "/var/lib/netctl/containers/p/n/hosts"},
		{"/var/lib/netctl", "/var/lib/netctl/containers/../../etc/passwd"},
		{"/var/lib/netctl", "/var/lib/netctl/../netctl2/x"},
		{"/var/lib/netctl", "/var/lib/netctlx/y"},
		{"/var/lib/netctl/", "/var/lib/netctl//x/./y"},
		{"/a/b/..", "/a/b/../x"},
		{"/", "//x"},
		{"/", "/x"},
		{".", "./x"},
		{"..", "../x/.."},
		{"", "/etc/passwd"},
		{"r", "r/."},
		{"r", "r/"},
		{"r", "r/a//b"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, root, path string) {
		got, ok := relJoined(root, path)
		if !ok {
			return
		}
		want, err := filepath.Rel(root, path)
		if err != nil || got != want {
			t.Errorf("relJoined(%q, %q) = %q, filepath.Rel: %q, %v", root, path, got, want, err)
		}
		if r := got; !filepath.IsLocal(r) || filepath.Clean(r) != r {
			t.Errorf("relJoined(%q, %q) = %q, not clean and local", root, path, got)
		}
		if _, err := rel(root, path); err != nil {
			t.Errorf("relJoined(%q, %q) = %q, rel refuses it: %v", root, path, got, err)
		}
	})
}

func FuzzCleanLocal(f *testing.F) {
	for _, s := range []string{"a/b", "a//b", "a/./b", "a/../b", "../a", "/a", "a/", ".", "..", "", "a/.b/..c", "a/b/."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, r string) {
		want := r != "." && filepath.IsLocal(r) && filepath.Clean(r) == r
		if got := cleanLocal(r); got != want {
			t.Errorf("cleanLocal(%q) = %v, want %v", r, got, want)
		}
	})
}
