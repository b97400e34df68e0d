package reconciler

import (
	"path/filepath"
	"testing"

	"github.com/netctl/netctl/model"
)

// netnsPath must be model.NetnsPath, whatever the root and names.
func TestNetnsPathIsModels(t *testing.T) {
	for _, root := range []string{"/run/netctl", "/run/netctl/", "", ".", "/", "rel/dir", "/a/../b"} {
		for _, project := range []string{"shop", "", "..", "a.b"} {
			dir := filepath.Join(model.NetnsDir(root), project)
			for _, name := range []string{"web", "db-1", "", "..", "a/b", "."} {
				if got, want := netnsPath(dir, root, project, name), model.NetnsPath(root, project, name); got != want {
					t.Errorf("root %q project %q name %q: %q, want %q", root, project, name, got, want)
				}
			}
		}
	}
}
