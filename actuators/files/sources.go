package files

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/internal/beneath"
)

// Which file each project was last applied from, in
// <root>/projects/<project>.json: a project renamed in its file (`name:`
// edited) becomes a second project, and the old one stays wired. Compose
// warns about such orphans; netctl does too, naming the way out.

type source struct {
	File string `json:"file"`
}

func (s *Store) sourcePath(project string) string {
	return filepath.Join(s.root, "projects", project+".json")
}

// RecordSource remembers that project was applied from file (absolute).
func (s *Store) RecordSource(project, file string) error {
	return writeJSON(s.root, s.sourcePath(project), source{File: file})
}

// ForgetSource forgets where project came from (down).
func (s *Store) ForgetSource(project string) error {
	if err := beneath.Remove(s.root, s.sourcePath(project)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// AppliedFrom returns the other projects last applied from file that
// still have networks or containers under the root, sorted.
func (s *Store) AppliedFrom(file, except string) []string {
	dir := filepath.Join(s.root, "projects")
	d, err := beneath.OpenFile(s.root, dir, os.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	var out []string
	for _, n := range names {
		project, ok := strings.CutSuffix(n, ".json")
		if !ok || project == except || strings.HasPrefix(n, ".") {
			continue
		}
		var src source
		if readJSON(s.root, filepath.Join(dir, n), &src) != nil || src.File != file {
			continue
		}
		if s.hasObjects(project) {
			out = append(out, project)
		}
	}
	sort.Strings(out)
	return out
}

// hasObjects reports whether the project still has files under the root.
func (s *Store) hasObjects(project string) bool {
	for _, kind := range []string{"containers", "networks"} {
		if _, err := os.Lstat(filepath.Join(s.root, kind, project)); err == nil {
			return true
		}
	}
	return false
}
