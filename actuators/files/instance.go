package files

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/netctl/netctl/internal/beneath"
	"github.com/netctl/netctl/model"
)

// instanceFile records, in the root, the instance the root is.
const instanceFile = "instance"

// Instance returns the instance root is (model.Instance): the one its
// <root>/instance file records, else the one derived from its path
// (model.InstanceOf), which is then recorded, so that a root moved to
// another path stays the same instance and keeps its objects. An empty
// file is the default instance: the marks and names of /run/netctl (the
// test harness pins its roots so; two roots pinned alike collide).
func Instance(root string) (model.Instance, error) {
	path := filepath.Join(root, instanceFile)
	b, err := beneath.ReadFile(root, path)
	switch {
	case err == nil:
		inst, ok := model.ParseInstance(strings.TrimSpace(string(b)))
		if !ok {
			return "", fmt.Errorf("%s: %q is not an instance (8 hex digits, or empty for the default one)", path, strings.TrimSpace(string(b)))
		}
		return inst, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	inst := model.InstanceOf(root)
	if err := writeFile(root, path, []byte(string(inst)+"\n"), 0o600); err != nil {
		return "", err
	}
	return inst, nil
}
