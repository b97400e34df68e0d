package files

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// PrepareRoot makes sure root may hold netctl's state, creating it 0700
// when missing. An existing root must be a directory owned by this user
// (root) that nobody else can write to, and so must every directory
// above it unless it is sticky (/tmp): whoever could write there could
// plant a link or a file netctl would then act on as root. A root that
// others may read (0755, as netctl made them before) is narrowed to 0700.
func PrepareRoot(root string) error {
	abs, err := filepath.Abs(root)
	if err != nil {
		return fmt.Errorf("--root %s: %w", root, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return fmt.Errorf("--root %s: %w", root, err)
	}
	if err := os.Mkdir(abs, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("--root %s: %w", root, err)
	}
	if lst, err := os.Lstat(abs); err == nil && lst.Mode()&fs.ModeSymlink != 0 {
		if err := trusted(abs, lst, "(a symbolic link)"); err != nil {
			return err
		}
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return fmt.Errorf("--root %s: %w", root, err)
	}
	st, err := os.Stat(real)
	if err != nil {
		return fmt.Errorf("--root %s: %w", root, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("--root %s: not a directory", root)
	}
	if err := trusted(root, st, ""); err != nil {
		return err
	}
	if st.Mode()&(fs.ModePerm|fs.ModeSticky|fs.ModeSetgid|fs.ModeSetuid) != 0o700 {
		if err := os.Chmod(real, 0o700); err != nil {
			return fmt.Errorf("--root %s: %w", root, err)
		}
	}
	for dir := filepath.Dir(real); ; dir = filepath.Dir(dir) {
		st, err := os.Stat(dir)
		if err != nil {
			return fmt.Errorf("--root %s: %w", root, err)
		}
		if err := trusted(dir, st, "(above the root)"); err != nil && st.Mode()&fs.ModeSticky == 0 {
			return err
		}
		if dir == "/" {
			return nil
		}
	}
}

// trusted checks that only this user (root) can change what is at path.
func trusted(path string, st fs.FileInfo, what string) error {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if what != "" {
		what += " "
	}
	if euid := uint32(os.Geteuid()); sys.Uid != euid && sys.Uid != 0 {
		return fmt.Errorf("--root: %s %sis owned by uid %d, not by root: refused (its owner could plant links netctl would follow); "+
			"use a directory only root owns, or a path that does not exist yet", path, what, sys.Uid)
	}
	if st.Mode()&fs.ModeSymlink == 0 && st.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("--root: %s %sis writable by group or others (%v): refused (they could plant links netctl would follow); "+
			"chmod go-w it, or use another directory", path, what, st.Mode().Perm())
	}
	return nil
}
