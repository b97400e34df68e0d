package netlink

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/model"
)

// Every owned container also gets a UTS namespace, bind-mounted at
// <root>/uts/<project>/<name> beside its network namespace and holding its
// hostname, so that `netctl exec c hostname` prints c's hostname as in
// Docker. The kernel holds the hostname, so it is read back (Observe) and
// repaired like any other state. A container in host mode uses the host's
// UTS namespace; a netns_path one its runtime's.

// utsPath is where an owned container's UTS namespace is mounted.
func (l *Links) utsPath(c *model.Container) string { return model.UTSPath(l.root, c.Project, c.Name) }

// ensureUTS makes the container's UTS namespace exist with its hostname.
func (l *Links) ensureUTS(c *model.Container) error {
	path := l.utsPath(c)
	err := onUTSThread(func(orig int) error { return setHostnameAt(path, c.Hostname, orig) })
	if err == nil {
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("hostname %s: %w", c.Hostname, err)
	}
	// Absent, or a plain file left by a crash before the mount.
	l.dirMu.Lock()
	err = createMountPoint(path)
	l.dirMu.Unlock()
	if err != nil {
		return fmt.Errorf("UTS namespace: %w", err)
	}
	if err := onUTSThread(func(orig int) error { return newUTSAt(path, c.Hostname, orig) }); err != nil {
		return fmt.Errorf("UTS namespace %s: %w", path, err)
	}
	l.log.Debug().Str("container", c.ID()).Str("uts", path).Str("hostname", c.Hostname).Msg("created UTS namespace")
	return nil
}

// deleteUTS unmounts and removes the container's UTS namespace; absent is
// success.
func (l *Links) deleteUTS(c *model.Container) error {
	path := l.utsPath(c)
	if _, err := unmountAll(path); err != nil {
		return fmt.Errorf("UTS namespace %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("UTS namespace %s: %w", path, err)
	}
	l.removeDirIfEmpty(filepath.Dir(path))
	return nil
}

// readUTS reads the hostname of every owned target's UTS namespace, by
// index ("" when there is none; external targets are left ""). It is a
// handful of system calls per container (~10 µs), spread over one thread
// per CPU, and needs nothing of the network namespaces' read, beside
// which Observe runs it.
func (l *Links) readUTS(ctx context.Context, targets []target) ([]string, error) {
	names := make([]string, len(targets))
	var owned []int
	for i, t := range targets {
		if !t.external {
			owned = append(owned, i)
		}
	}
	err := runWorkers(ctx, len(owned), runtime.GOMAXPROCS(0), func(next func() (int, bool)) error {
		return onUTSThread(func(orig int) error {
			return l.readHostnames(next, orig, func(k int) error {
				t := targets[owned[k]]
				name, err := hostnameIn(model.UTSPath(l.root, t.project, t.name))
				switch {
				case err == nil:
					names[owned[k]] = name
				case errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.EINVAL):
				default:
					return fmt.Errorf("container %s: UTS namespace: %w", model.ContainerID(t.project, t.name), err)
				}
				return nil
			})
		})
	})
	return names, err
}

// readHostnames runs read for the indexes next hands out, on a thread
// whose own UTS namespace is orig. The thread goes from one container's
// namespace to the next and back to orig once at the end: one namespace
// switch per container instead of two.
func (l *Links) readHostnames(next func() (int, bool), orig int, read func(int) error) (err error) {
	defer func() {
		if rerr := unix.Setns(orig, unix.CLONE_NEWUTS); rerr != nil {
			err = errors.Join(err, fmt.Errorf("%w: %v", errStuck, rerr))
		}
	}()
	for i, ok := next(); ok; i, ok = next() {
		if err := read(i); err != nil {
			return err
		}
	}
	return nil
}

// hostnameIn moves the thread into the UTS namespace mounted at path, and
// leaves it there, returning its hostname. The error wraps fs.ErrNotExist
// or EINVAL when there is no UTS namespace at path.
func hostnameIn(path string) (string, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	if err := unix.Setns(fd, unix.CLONE_NEWUTS); err != nil {
		return "", err
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", err
	}
	return unix.ByteSliceToString(u.Nodename[:]), nil
}

// onUTSThread runs fn on a goroutine locked to its thread, giving it the
// thread's own UTS namespace to return to. If fn cannot return the thread,
// the thread stays locked and dies with the goroutine rather than run other
// goroutines with a container's hostname.
func onUTSThread(fn func(orig int) error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/uts", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("thread UTS namespace: %w", err)
			return
		}
		defer unix.Close(orig)
		err = fn(orig)
		if !errors.Is(err, errStuck) {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// errStuck: the thread could not go back to its own UTS namespace.
var errStuck = errors.New("restore thread UTS namespace")

// inUTS runs fn in the UTS namespace mounted at path and returns the
// thread to orig. The error wraps fs.ErrNotExist or EINVAL when there is
// no UTS namespace at path.
func inUTS(path string, orig int, fn func() error) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Setns(fd, unix.CLONE_NEWUTS); err != nil {
		return err
	}
	fnErr := fn()
	if err := unix.Setns(orig, unix.CLONE_NEWUTS); err != nil {
		return fmt.Errorf("%w: %v", errStuck, err)
	}
	return fnErr
}

func setHostnameAt(path, hostname string, orig int) error {
	return inUTS(path, orig, func() error { return unix.Sethostname([]byte(hostname)) })
}

// newUTSAt makes a UTS namespace with hostname and bind-mounts it at path
// (an existing file), then returns the thread to orig.
func newUTSAt(path, hostname string, orig int) error {
	if err := unix.Unshare(unix.CLONE_NEWUTS); err != nil {
		return fmt.Errorf("unshare: %w", err)
	}
	err := unix.Sethostname([]byte(hostname))
	if err == nil {
		src := fmt.Sprintf("/proc/self/task/%d/ns/uts", unix.Gettid())
		if err = unix.Mount(src, path, "none", unix.MS_BIND, ""); err != nil {
			err = fmt.Errorf("bind mount: %w", err)
		}
	}
	if rerr := unix.Setns(orig, unix.CLONE_NEWUTS); rerr != nil {
		return errors.Join(err, fmt.Errorf("%w: %v", errStuck, rerr))
	}
	return err
}
