package netlink

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"time"

	vnl "github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/internal/beneath"
	"github.com/netctl/netctl/internal/nlraw"
	"github.com/netctl/netctl/model"
)

// errNotNetns is returned for a path that exists but is not a mount of a
// network namespace (e.g. the plain file left by a crash before the mount).
var errNotNetns = errors.New("not a network namespace")

// nsID identifies a namespace by its nsfs device and inode.
type nsID struct{ dev, ino uint64 }

func fdNsID(fd int) (nsID, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nsID{}, fmt.Errorf("stat: %w", err)
	}
	return nsID{dev: uint64(st.Dev), ino: st.Ino}, nil
}

// openNetns opens the network namespace mounted at path. follow allows the
// last path element to be a symlink, which /proc/<pid>/ns/net is and an
// owned mount under root never is. The error wraps fs.ErrNotExist or
// errNotNetns when there is no namespace there.
func openNetns(path string, follow bool) (netns.NsHandle, nsID, error) {
	flags := unix.O_RDONLY | unix.O_CLOEXEC
	if !follow {
		flags |= unix.O_NOFOLLOW
	}
	fd, err := unix.Open(path, flags, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return netns.None(), nsID{}, errNotNetns
		}
		return netns.None(), nsID{}, err
	}
	id, err := checkNetnsFd(fd)
	if err != nil {
		unix.Close(fd)
		return netns.None(), nsID{}, err
	}
	return netns.NsHandle(fd), id, nil
}

func checkNetnsFd(fd int) (nsID, error) {
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(fd, &sfs); err != nil {
		return nsID{}, fmt.Errorf("statfs: %w", err)
	}
	if sfs.Type != unix.NSFS_MAGIC {
		return nsID{}, errNotNetns
	}
	// nsfs also holds mount, pid, user... namespaces.
	t, err := unix.IoctlRetInt(fd, unix.NS_GET_NSTYPE)
	if err != nil || t != unix.CLONE_NEWNET {
		return nsID{}, errNotNetns
	}
	return fdNsID(fd)
}

// noNetns reports whether err means there is no namespace at the path.
func noNetns(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, errNotNetns)
}

// EnsureNamespace makes c.Netns a network namespace with lo up. An owned
// namespace is created and bind-mounted at <root>/netns/<project>/<name>;
// an External one is checked and its attachment recorded.
func (l *Links) EnsureNamespace(ctx context.Context, c *model.Container) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var err error
	if c.External {
		err = l.attach(c)
	} else if err = l.ensureOwnedNetns(c); err == nil {
		err = l.ensureUTS(c)
	}
	if err != nil {
		return fmt.Errorf("container %s: namespace %s: %w", c.ID(), c.Netns, err)
	}
	return nil
}

// DeleteNamespace removes an owned namespace, or forgets an External one
// after deleting netctl's veths in it.
func (l *Links) DeleteNamespace(ctx context.Context, c *model.Container) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var err error
	if c.External {
		err = l.detach(c)
	} else {
		err = l.deleteOwnedNetns(ctx, c)
	}
	if err != nil {
		return fmt.Errorf("container %s: namespace %s: %w", c.ID(), c.Netns, err)
	}
	return nil
}

// checkOwnedPath makes sure an owned namespace is only ever mounted or
// unmounted where netctl keeps them, whatever path the caller passes.
func (l *Links) checkOwnedPath(c *model.Container) (string, error) {
	if err := checkPathElem("project", c.Project); err != nil {
		return "", err
	}
	if err := checkPathElem("container", c.Name); err != nil {
		return "", err
	}
	want := l.ownedNetnsPath(c.Project, c.Name)
	// An observed container that had only orphan veths has no Netns.
	if c.Netns != want && c.Netns != "" {
		return "", fmt.Errorf("owned namespace must be at %s", want)
	}
	return want, nil
}

func (l *Links) ensureOwnedNetns(c *model.Container) error {
	path, err := l.checkOwnedPath(c)
	if err != nil {
		return err
	}
	e, release, err := l.nsEntry(path, false)
	if noNetns(err) {
		if e, err = l.createNetns(path); err != nil {
			return err
		}
		l.log.Debug().Str("container", c.ID()).Str("netns", path).Msg("created network namespace, lo up")
		l.keepNsEntry(path, e, false)
		return nil
	}
	if err != nil {
		return err
	}
	defer release()
	return l.loUp(e, c)
}

// createNetns mounts a new network namespace at path and returns it with
// lo up. A plain file already there (a crash between create and mount) is
// mounted over. The mount point is opened under the root through no
// symbolic link, and the mount made on that open file (/proc/self/fd/N): a
// link planted under the root can never place a namespace elsewhere.
func (l *Links) createNetns(path string) (*nsEntry, error) {
	l.dirMu.Lock()
	err := beneath.MkdirAll(l.root, filepath.Dir(path), 0o755)
	var f *os.File
	if err == nil {
		f, err = beneath.OpenFile(l.root, path, os.O_RDONLY|os.O_CREATE, 0o444)
	}
	l.dirMu.Unlock()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	type result struct {
		e   *nsEntry
		err error
	}
	c := make(chan result, 1)
	go func() {
		e, err := unshareAndMount(fmt.Sprintf("/proc/self/fd/%d", f.Fd()))
		c <- result{e, err}
	}()
	r := <-c
	return r.e, r.err
}

func createMountPoint(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|unix.O_NOFOLLOW, 0o444)
	if err != nil {
		return err
	}
	return f.Close()
}

// unshareAndMount creates a network namespace on the calling goroutine's
// thread, bind-mounts it at path and, while the thread is in it, opens it,
// opens a netlink socket in it and brings lo up: a new namespace's lo is
// down, and this spares the two namespace switches a socket costs later.
// It must run on a goroutine of its own: if the thread cannot be moved
// back to its original namespace, the thread stays locked, and the runtime
// destroys it when the goroutine exits rather than letting other
// goroutines run in the new namespace.
func unshareAndMount(path string) (*nsEntry, error) {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("get thread namespace: %w", err)
	}
	defer orig.Close()
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("unshare: %w", err)
	}
	e, inErr := inNewNetns(path)
	if err := netns.Set(orig); err != nil {
		if e != nil {
			e.close()
		}
		return nil, errors.Join(inErr, fmt.Errorf("restore thread namespace: %w", err))
	}
	runtime.UnlockOSThread()
	return e, inErr
}

// inNewNetns does unshareAndMount's work inside the new namespace.
func inNewNetns(path string) (*nsEntry, error) {
	src := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
	if err := unix.Mount(src, path, "none", unix.MS_BIND, ""); err != nil {
		return nil, fmt.Errorf("bind mount: %w", err)
	}
	fd, err := unix.Open(src, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	conn, err := nlraw.Open()
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	e := &nsEntry{ns: netns.NsHandle(fd), conn: conn, noRoutes: [2]bool{true, true}}
	if err := conn.Do(nlraw.LinkChange{Name: "lo", Up: true}.Request()); err != nil {
		e.close()
		return nil, fmt.Errorf("set lo up: %w", err)
	}
	return e, nil
}

func (l *Links) deleteOwnedNetns(ctx context.Context, c *model.Container) error {
	path, err := l.checkOwnedPath(c)
	if err != nil {
		return err
	}
	// The UTS namespace goes first: a crash in between leaves the network
	// namespace, which the next apply still sees and removes.
	if err := l.deleteUTS(c); err != nil {
		return err
	}
	l.dropNsHandle(path)
	// Nothing is unmounted or removed through a symbolic link under the
	// root (a planted netns/<project> link would point elsewhere).
	if f, err := beneath.OpenFile(l.root, path, unix.O_PATH, 0); err == nil {
		f.Close()
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	mounted, err := unmountAll(path)
	if err != nil {
		return err
	}
	if err := beneath.Remove(l.root, path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if mounted {
		l.log.Debug().Str("container", c.ID()).Str("netns", path).Msg("deleted network namespace")
	}
	l.removeDirIfEmpty(filepath.Dir(path))
	return l.deleteHostEnds(ctx, c, mounted)
}

// unmountAll removes every mount stacked on path and reports whether there
// was any.
func unmountAll(path string) (bool, error) {
	for i := range 16 {
		err := unix.Unmount(path, unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW)
		switch {
		case err == nil:
			continue
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOENT):
			return i > 0, nil // not (or no longer) a mount point
		default:
			return i > 0, fmt.Errorf("unmount: %w", err)
		}
	}
	return true, errors.New("unmount: still mounted after 16 unmounts")
}

// removeDirIfEmpty removes a project directory once its last entry is gone.
// It holds dirMu so that it cannot remove a directory another goroutine has
// just created for a new entry.
func (l *Links) removeDirIfEmpty(dir string) {
	l.dirMu.Lock()
	defer l.dirMu.Unlock()
	_ = beneath.Remove(l.root, dir) // fails while not empty, which is fine
}

// endpointsGoneWait bounds how long Settle waits, without any of them
// going, for the kernel to destroy the veths of deleted namespaces (at
// 10,000 containers their destruction takes longer than that, but it
// goes on all the while).
const endpointsGoneWait = 3 * time.Second

// pendingEnd is a host veth end expected to vanish with its namespace.
type pendingEnd struct {
	container *model.Container
	name      string
}

// deleteHostEnds takes care of the host ends of c's endpoints. Unmounting
// drops the last reference to the namespace, but the kernel destroys it
// (and our veths with it) asynchronously, tens of milliseconds later for a
// whole batch of namespaces; so after an unmount the ends are queued for
// Settle, which waits for all of them at once. Without an unmount (the
// namespace was already gone) nothing will remove them: delete them now.
func (l *Links) deleteHostEnds(ctx context.Context, c *model.Container, unmounted bool) error {
	if unmounted {
		l.pendingMu.Lock()
		for _, ep := range c.Endpoints {
			if ep.HostIf != "" {
				l.pending = append(l.pending, pendingEnd{c, ep.HostIf})
			}
		}
		l.pendingMu.Unlock()
		return nil
	}
	for _, ep := range c.Endpoints {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := l.deleteHostEnd(c, ep.HostIf); err != nil {
			return err
		}
	}
	return nil
}

func (l *Links) deleteHostEnd(c *model.Container, name string) error {
	if name == "" {
		return nil
	}
	link, err := l.hostEndOf(c, name)
	if err != nil || link == nil {
		return err
	}
	if err := l.host.LinkDel(link); err != nil && !linkGone(err) {
		return fmt.Errorf("delete veth %s: %w", name, err)
	}
	l.log.Debug().Str("container", c.ID()).Str("veth", name).Msg("deleted veth left without namespace")
	return nil
}

// Settle waits until the host ends of every namespace deleted so far are
// gone, so that an Observe right after sees the deletion complete. Ends
// still there when none has gone for endpointsGoneWait (someone else holds
// the namespace) belong to no namespace netctl knows any more and are
// deleted.
func (l *Links) Settle(ctx context.Context) error {
	l.dropNsHandles()
	if err := l.flushDeletes(); err != nil {
		return err
	}
	l.pendingMu.Lock()
	pending := l.pending
	l.pending = nil
	l.pendingMu.Unlock()
	deadline := time.Now().Add(endpointsGoneWait)
	delay := time.Millisecond
	for len(pending) > 0 {
		expired := time.Now().After(deadline)
		before := len(pending)
		var err error
		if pending, err = l.stillPresent(pending, expired); err != nil {
			return err
		}
		if len(pending) == 0 {
			return nil
		}
		if len(pending) < before {
			deadline = time.Now().Add(endpointsGoneWait)
			expired = false
		}
		if expired {
			for _, p := range pending {
				if err := l.deleteHostEnd(p.container, p.name); err != nil {
					return err
				}
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		// A poll costs one lookup (stillPresent): poll often.
		delay = min(2*delay, 10*time.Millisecond)
	}
	return nil
}

// hostEndOf returns the host link called name if it is marked as one of c's
// endpoints, else nil.
func (l *Links) hostEndOf(c *model.Container, name string) (vnl.Link, error) {
	link, err := linkByName(l.host, name)
	if err != nil || link == nil {
		return nil, err
	}
	o, ok := l.owner(link.Attrs().Alias)
	if !ok || o.Project != c.Project || o.Container != c.Name || link.Type() != "veth" {
		return nil, nil
	}
	return link, nil
}

// loUp brings the namespace's loopback up.
func (l *Links) loUp(e *nsEntry, c *model.Container) error {
	lo, err := e.conn.LinkByName("lo")
	if errors.Is(err, nlraw.ErrNoLink) {
		return errors.New("no lo")
	}
	if err != nil || lo.Up {
		return err
	}
	if err := e.conn.Do(nlraw.LinkChange{Index: lo.Index, Up: true}.Request()); err != nil {
		return fmt.Errorf("set lo up: %w", err)
	}
	l.log.Debug().Str("container", c.ID()).Msg("set lo up")
	return nil
}
