package netlink

import (
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// nsThread is the calling goroutine pinned to its OS thread, remembering the
// thread's namespace, so that it can open sockets in other namespaces
// without reopening /proc/thread-self/ns/net for each one (Observe opens a
// socket per container).
type nsThread struct {
	orig netns.NsHandle
	// stuck is set when the thread could not return to orig; it then stays
	// locked and the runtime destroys it when its goroutine exits, rather
	// than running other goroutines in a foreign namespace.
	stuck bool
}

func lockNsThread() (*nsThread, error) {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("get thread namespace: %w", err)
	}
	return &nsThread{orig: orig}, nil
}

// release unpins the goroutine unless the thread is stuck elsewhere.
func (t *nsThread) release() {
	t.orig.Close()
	if !t.stuck {
		runtime.UnlockOSThread()
	}
}

// routeSocketIn opens a NETLINK_ROUTE socket in ns: a netlink socket talks
// to the namespace it was created in, whichever thread uses it later.
func (t *nsThread) routeSocketIn(ns netns.NsHandle) (int, error) {
	if t.stuck {
		return -1, fmt.Errorf("thread is stuck in a foreign namespace")
	}
	if err := unix.Setns(int(ns), unix.CLONE_NEWNET); err != nil {
		return -1, fmt.Errorf("enter namespace: %w", err)
	}
	fd, sockErr := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err := unix.Setns(int(t.orig), unix.CLONE_NEWNET); err != nil {
		t.stuck = true
		if sockErr == nil {
			unix.Close(fd)
		}
		return -1, fmt.Errorf("restore thread namespace: %w", err)
	}
	if sockErr != nil {
		return -1, fmt.Errorf("netlink socket: %w", sockErr)
	}
	return fd, nil
}

// routeSocketAt opens a NETLINK_ROUTE socket in ns from a thread of its own.
func routeSocketAt(ns netns.NsHandle) (int, error) {
	type result struct {
		fd  int
		err error
	}
	c := make(chan result, 1)
	go func() {
		t, err := lockNsThread()
		if err != nil {
			c <- result{-1, err}
			return
		}
		defer t.release()
		fd, err := t.routeSocketIn(ns)
		c <- result{fd, err}
	}()
	r := <-c
	return r.fd, r.err
}
