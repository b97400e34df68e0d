// Package beneath opens, writes and removes files inside a trusted
// directory (netctl's --root) without following a symbolic link anywhere
// on the way down from it. A link planted under the root (by someone who
// could write there once) can then never make netctl truncate, append to,
// mount over or delete a file elsewhere: the operation fails instead.
//
// openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS) does the walk in the kernel
// (Linux 5.6+); where it is missing or filtered (ENOSYS, EPERM from a
// seccomp profile) each component is opened with O_NOFOLLOW in turn.
// The root itself is taken as given: callers check it (files.PrepareRoot).
package beneath

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// ErrLink is wrapped by errors for a symbolic link met on the way.
var ErrLink = errors.New("symbolic link under the root (refused)")

// noOpenat2 is set once openat2 turned out to be unavailable.
var noOpenat2 atomic.Bool

// rel returns path relative to root, refusing a path outside it.
func rel(root, path string) (string, error) {
	if r, ok := relJoined(root, path); ok {
		return r, nil
	}
	r, err := filepath.Rel(root, path)
	if err != nil || r == ".." || strings.HasPrefix(r, "../") || filepath.IsAbs(r) {
		return "", fmt.Errorf("%s is not inside %s", path, root)
	}
	return r, nil
}

// relJoined is rel's answer for a path built as filepath.Join(root, r),
// root and a clean, local r, found without filepath.Rel's Cleans of both
// whole paths: they were a tenth of the CPU of reading containers' files.
func relJoined(root, path string) (string, bool) {
	r, ok := strings.CutPrefix(path, root)
	if !ok || root == "" || !strings.HasPrefix(r, "/") {
		return "", false
	}
	r = r[1:]
	return r, cleanLocal(r)
}

// cleanLocal is whether r is names joined by single slashes, none of
// them "." or "..": filepath.IsLocal(r) && filepath.Clean(r) == r but
// for ".", in one pass.
func cleanLocal(r string) bool {
	for {
		name, rest, more := strings.Cut(r, "/")
		if name == "" || name == "." || name == ".." {
			return false
		}
		if !more {
			return true
		}
		r = rest
	}
}

// openRoot opens root itself, the start of every walk.
func openRoot(root string) (int, error) {
	fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: root, Err: err}
	}
	return fd, nil
}

// openAt opens r (relative, cleaned) below dirfd with flag, following no
// symbolic link.
func openAt(dirfd int, r string, flag int, perm os.FileMode) (int, error) {
	flag |= unix.O_CLOEXEC
	if !noOpenat2.Load() {
		how := &unix.OpenHow{
			Flags:   uint64(flag),
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
		}
		if flag&unix.O_CREAT != 0 {
			how.Mode = uint64(perm.Perm()) // openat2 wants no mode otherwise
		}
		fd, err := unix.Openat2(dirfd, r, how)
		if !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EPERM) {
			return fd, err
		}
		noOpenat2.Store(true)
	}
	return openAtByComponent(dirfd, r, flag, perm)
}

// openAtByComponent is openAt without openat2: every directory on the way
// is opened with O_NOFOLLOW|O_DIRECTORY, the last component with
// O_NOFOLLOW (a symbolic link fails with ELOOP or ENOTDIR).
func openAtByComponent(dirfd int, r string, flag int, perm os.FileMode) (int, error) {
	parts := strings.Split(r, "/")
	cur := dirfd
	defer func() {
		if cur != dirfd {
			unix.Close(cur)
		}
	}()
	for _, p := range parts[:len(parts)-1] {
		if p == ".." {
			return -1, unix.EXDEV
		}
		next, err := unix.Openat(cur, p, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			if errors.Is(err, unix.ENOTDIR) && isLink(cur, p) {
				err = unix.ELOOP
			}
			return -1, err
		}
		if cur != dirfd {
			unix.Close(cur)
		}
		cur = next
	}
	last := parts[len(parts)-1]
	if last == ".." {
		return -1, unix.EXDEV
	}
	if last == "." {
		return unix.Openat(cur, ".", flag, uint32(perm.Perm()))
	}
	return unix.Openat(cur, last, flag|unix.O_NOFOLLOW, uint32(perm.Perm()))
}

func isLink(dirfd int, name string) bool {
	var st unix.Stat_t
	return unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK
}

// wrap turns a walk's error into a PathError naming path, making a
// refused link recognisable.
func wrap(op, path string, err error) error {
	if errors.Is(err, unix.ELOOP) {
		err = fmt.Errorf("%w: %w", ErrLink, err)
	}
	return &os.PathError{Op: op, Path: path, Err: err}
}

// OpenFile opens path, which must lie inside root, as os.OpenFile does,
// following no symbolic link below root (the last component included).
func OpenFile(root, path string, flag int, perm os.FileMode) (*os.File, error) {
	r, err := rel(root, path)
	if err != nil {
		return nil, err
	}
	rfd, err := openRoot(root)
	if err != nil {
		return nil, err
	}
	defer unix.Close(rfd)
	fd, err := openAt(rfd, r, flag, perm)
	if err != nil {
		return nil, wrap("open", path, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// ReadFile reads path inside root.
func ReadFile(root, path string) ([]byte, error) {
	r, err := OpenRoot(root)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return r.ReadFile(path)
}

// MkdirAll creates dir inside root and its missing parents with perm; a
// symbolic link on the way fails.
func MkdirAll(root, dir string, perm os.FileMode) error {
	r, err := rel(root, dir)
	if err != nil {
		return err
	}
	rfd, err := openRoot(root)
	if err != nil {
		return err
	}
	defer unix.Close(rfd)
	if r == "." {
		return nil
	}
	cur := rfd
	defer func() {
		if cur != rfd {
			unix.Close(cur)
		}
	}()
	for _, p := range strings.Split(r, "/") {
		if err := unix.Mkdirat(cur, p, uint32(perm.Perm())); err != nil && !errors.Is(err, unix.EEXIST) {
			return wrap("mkdir", dir, err)
		}
		next, err := openAt(cur, p, unix.O_PATH|unix.O_DIRECTORY, 0)
		if err != nil {
			if errors.Is(err, unix.ENOTDIR) && isLink(cur, p) {
				err = unix.ELOOP
			}
			return wrap("mkdir", dir, err)
		}
		if cur != rfd {
			unix.Close(cur)
		}
		cur = next
	}
	return nil
}

// openDir opens the directory holding path (created with dirPerm when
// missing) and returns it with path's base name.
func openDir(root, path string, dirPerm os.FileMode) (*os.File, string, error) {
	dir, name := filepath.Split(path)
	dir = filepath.Clean(dir)
	if name == "" || name == "." || name == ".." {
		return nil, "", fmt.Errorf("%s: not a file name", path)
	}
	if dirPerm != 0 {
		if err := MkdirAll(root, dir, dirPerm); err != nil {
			return nil, "", err
		}
	}
	d, err := OpenFile(root, dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, "", err
	}
	return d, name, nil
}

// WriteFile replaces path inside root with data, atomically: a temporary
// file in the same directory is written, given perm and renamed over
// path, so readers (and a crash) see the old content or the new. Missing
// directories are created 0755. A file that already holds data is left
// alone. A symbolic link at path is replaced, never followed.
func WriteFile(root, path string, data []byte, perm os.FileMode) error {
	if old, err := ReadFile(root, path); err == nil && string(old) == string(data) {
		if f, err := OpenFile(root, path, unix.O_RDONLY, 0); err == nil {
			err = f.Chmod(perm)
			f.Close()
			return err
		}
	}
	d, name, err := openDir(root, path, 0o755)
	if err != nil {
		return err
	}
	defer d.Close()
	dfd := int(d.Fd())
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	tmp := "." + name + "." + hex.EncodeToString(rnd[:])
	fd, err := unix.Openat(dfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(perm.Perm()))
	if err != nil {
		return wrap("write", path, err)
	}
	f := os.NewFile(uintptr(fd), tmp)
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm) // the umask narrowed the creation mode
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Renameat(dfd, tmp, dfd, name)
	}
	if err != nil {
		_ = unix.Unlinkat(dfd, tmp, 0)
		return wrap("write", path, err)
	}
	return nil
}

// Remove removes the file or empty directory path inside root (a link
// itself, never its target).
func Remove(root, path string) error {
	d, name, err := openDir(root, path, 0)
	if err != nil {
		return err
	}
	defer d.Close()
	err = unix.Unlinkat(int(d.Fd()), name, 0)
	if errors.Is(err, unix.EISDIR) {
		err = unix.Unlinkat(int(d.Fd()), name, unix.AT_REMOVEDIR)
	}
	if err != nil {
		return wrap("remove", path, err)
	}
	return nil
}

// RemoveAll removes path inside root and everything below it, descending
// into no symbolic link; a missing path is no error.
func RemoveAll(root, path string) error {
	d, name, err := openDir(root, path, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer d.Close()
	if err := removeAt(int(d.Fd()), name); err != nil {
		return wrap("remove", path, err)
	}
	return nil
}

func removeAt(dirfd int, name string) error {
	err := unix.Unlinkat(dirfd, name, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EPERM) {
		return err
	}
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	dir := os.NewFile(uintptr(fd), name)
	entries, err := dir.ReadDir(-1)
	if err == nil {
		for _, e := range entries {
			if err = removeAt(fd, e.Name()); err != nil {
				break
			}
		}
	}
	dir.Close()
	if err != nil {
		return err
	}
	if err := unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) {
		return err
	}
	return nil
}
