package netlink

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	vnl "github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/internal/beneath"
	"github.com/netctl/netctl/model"
)

// attach checks that an External container's namespace exists, is a network
// namespace other than the host's, brings its lo up and records the
// attachment, so that Observe finds the container again.
func (l *Links) attach(c *model.Container) error {
	if err := checkPathElem("project", c.Project); err != nil {
		return err
	}
	if err := checkPathElem("container", c.Name); err != nil {
		return err
	}
	if !filepath.IsAbs(c.Netns) || strings.Contains(c.Netns, "\n") {
		return errors.New("external namespace path must be absolute")
	}
	ns, id, err := openNetns(c.Netns, true)
	if err != nil {
		return err
	}
	defer ns.Close()
	if id == l.hostID {
		return errors.New("is the host's network namespace")
	}
	e, release, err := l.nsEntry(c.Netns, true)
	if err != nil {
		return err
	}
	defer release()
	if err := l.loUp(e, c); err != nil {
		return err
	}
	return l.writeRecord(c)
}

// NetnsTaken says what the network namespace at path already is to
// netctl, comparing the namespaces' device and inode: the host's (the one
// netctl runs in), or a container namespace netctl owns under the root;
// "" when it is neither. Wiring either as a netns_path container would
// put a veth and a default route on the host, or make two containers
// fight over one namespace's default route and names, so apply refuses
// it before anything changes.
func (l *Links) NetnsTaken(path string) (string, error) {
	ns, id, err := openNetns(path, true)
	if err != nil {
		return "", err
	}
	ns.Close()
	if id == l.hostID {
		return "netctl's own network namespace (the host's)", nil
	}
	owned, err := listTwoLevels(l.netnsDir())
	if err != nil {
		return "", err
	}
	for _, pn := range owned {
		// stat, not open: only the identity is wanted, and a file left
		// unmounted by a crash (not nsfs) never matches.
		var st unix.Stat_t
		if unix.Stat(l.ownedNetnsPath(pn[0], pn[1]), &st) == nil && (nsID{dev: uint64(st.Dev), ino: st.Ino}) == id {
			return "the namespace of container " + model.ContainerID(pn[0], pn[1]) + ", which netctl owns", nil
		}
	}
	return "", nil
}

// writeRecord records the attachment: the file holds the namespace path.
func (l *Links) writeRecord(c *model.Container) error {
	path := l.attachedPath(c.Project, c.Name)
	data := []byte(c.Netns)
	if old, err := beneath.ReadFile(l.root, path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	l.dirMu.Lock()
	defer l.dirMu.Unlock()
	// Atomic (a reader or a crash sees the old record or the new), and
	// through no symbolic link under the root; the temporary file's
	// leading dot keeps Observe from taking it for a record.
	if err := beneath.WriteFile(l.root, path, data, 0o644); err != nil {
		return fmt.Errorf("record attachment: %w", err)
	}
	l.log.Debug().Str("container", c.ID()).Str("netns", c.Netns).Msg("recorded external namespace")
	return nil
}

// readRecord returns the namespace path recorded for an attachment.
func readRecord(root, path string) (string, error) {
	data, err := beneath.ReadFile(root, path)
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(string(data), "\n"), nil
}

// detach deletes the host ends of netctl's veths in an External
// container's namespace (which takes their peers with them) and forgets the
// attachment. The namespace itself is the user's and stays.
func (l *Links) detach(c *model.Container) error {
	if err := checkPathElem("project", c.Project); err != nil {
		return err
	}
	if err := checkPathElem("container", c.Name); err != nil {
		return err
	}
	links, err := l.hostLinks()
	if err != nil {
		return err
	}
	for _, ln := range links {
		o, ok := l.owner(ln.Alias)
		if !ok || o.Container == "" || o.Project != c.Project || o.Container != c.Name {
			continue
		}
		if err := l.host.LinkDel(&vnl.Device{LinkAttrs: vnl.LinkAttrs{Index: ln.Index}}); err != nil && !linkGone(err) {
			return fmt.Errorf("delete veth %s: %w", ln.Name, err)
		}
		l.log.Debug().Str("container", c.ID()).Str("veth", ln.Name).Msg("deleted veth")
	}
	path := l.attachedPath(c.Project, c.Name)
	if err := beneath.Remove(l.root, path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("forget attachment: %w", err)
	}
	l.removeDirIfEmpty(filepath.Dir(path))
	return nil
}

// linkGone reports whether a link operation failed because the link
// vanished meanwhile (its peer's namespace was destroyed, say).
func linkGone(err error) bool {
	_, notFound := errors.AsType[vnl.LinkNotFoundError](err)
	return notFound || errors.Is(err, unix.ENODEV)
}
