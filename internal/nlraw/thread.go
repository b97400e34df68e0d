package nlraw

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Thread is the calling goroutine pinned to its OS thread, remembering the
// thread's namespace, so that it can open sockets in other namespaces
// without reopening /proc/thread-self/ns/net for each one (Observe opens a
// socket per container).
type Thread struct {
	orig netns.NsHandle
	// away is set while the thread is in another namespace (OpenAway).
	away bool
	// stuck is set when the thread could not return to orig; it then stays
	// locked and the runtime destroys it when its goroutine exits, rather
	// than running other goroutines in a foreign namespace.
	stuck bool
}

// LockThread pins the calling goroutine to its thread; Release undoes it.
func LockThread() (*Thread, error) {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("get thread namespace: %w", err)
	}
	return &Thread{orig: orig}, nil
}

// Release brings the thread back from where OpenAway left it, and unpins
// the goroutine unless the thread is stuck elsewhere.
func (t *Thread) Release() {
	if t.away && !t.stuck {
		if unix.Setns(int(t.orig), unix.CLONE_NEWNET) != nil {
			t.stuck = true
		}
		t.away = false
	}
	t.orig.Close()
	if !t.stuck {
		runtime.UnlockOSThread()
	}
}

// In runs fn with the thread in ns, and brings it back: what fn opens
// there (a netlink socket, a file under /proc/sys/net) belongs to ns.
func (t *Thread) In(ns netns.NsHandle, fn func() error) error {
	if t.stuck {
		return fmt.Errorf("thread is stuck in a foreign namespace")
	}
	// Already there: setns would still ask for CAP_SYS_ADMIN, which a
	// confined process (the DNS server's worker) does not have.
	if !t.away && t.orig.Equal(ns) {
		return fn()
	}
	if err := unix.Setns(int(ns), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("enter namespace: %w", err)
	}
	fnErr := fn()
	if err := unix.Setns(int(t.orig), unix.CLONE_NEWNET); err != nil {
		t.stuck = true
		return errors.Join(fnErr, fmt.Errorf("restore thread namespace: %w", err))
	}
	t.away = false
	return fnErr
}

// OpenAway opens a Conn in ns and leaves the thread there: a caller
// opening sockets in many namespaces in a row (Observe, one per container)
// moves from one to the next with one namespace switch each instead of
// two. Release brings the thread back. Only the caller's own code runs on
// the pinned thread meanwhile; nothing it does may depend on the thread's
// network namespace.
func (t *Thread) OpenAway(ns netns.NsHandle) (*Conn, error) {
	if t.stuck {
		return nil, fmt.Errorf("thread is stuck in a foreign namespace")
	}
	if err := unix.Setns(int(ns), unix.CLONE_NEWNET); err != nil {
		return nil, fmt.Errorf("enter namespace: %w", err)
	}
	t.away = true
	fd, err := socket()
	if err != nil {
		return nil, err
	}
	return newConn(fd), nil
}

// Socket opens a NETLINK_ROUTE socket in ns: a netlink socket talks to the
// namespace it was created in, whichever thread uses it later.
func (t *Thread) Socket(ns netns.NsHandle) (int, error) {
	fd := -1
	err := t.In(ns, func() error {
		var err error
		fd, err = socket()
		return err
	})
	if err != nil && fd >= 0 {
		unix.Close(fd)
		fd = -1
	}
	return fd, err
}

// Open opens a Conn in ns.
func (t *Thread) Open(ns netns.NsHandle) (*Conn, error) {
	fd, err := t.Socket(ns)
	if err != nil {
		return nil, err
	}
	return newConn(fd), nil
}

func socket() (int, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return -1, fmt.Errorf("netlink socket: %w", err)
	}
	return fd, nil
}

// SocketAt opens a NETLINK_ROUTE socket in ns from a thread of its own,
// leaving the caller's thread alone.
func SocketAt(ns netns.NsHandle) (int, error) {
	type result struct {
		fd  int
		err error
	}
	c := make(chan result, 1)
	go func() {
		t, err := LockThread()
		if err != nil {
			c <- result{-1, err}
			return
		}
		defer t.Release()
		fd, err := t.Socket(ns)
		c <- result{fd, err}
	}()
	r := <-c
	return r.fd, r.err
}

// OpenAt opens a Conn in ns (see SocketAt).
func OpenAt(ns netns.NsHandle) (*Conn, error) {
	fd, err := SocketAt(ns)
	if err != nil {
		return nil, err
	}
	return newConn(fd), nil
}

// ListenAt opens a non-blocking NETLINK_ROUTE socket in ns subscribed to
// the multicast groups (a bit mask of 1<<(RTNLGRP_x-1)), with a receive
// buffer of rcvbuf bytes when the kernel allows it. Non-blocking lets the
// Go runtime's poller wait on it rather than a thread.
func ListenAt(ns netns.NsHandle, groups uint32, rcvbuf int) (int, error) {
	fd, err := SocketAt(ns)
	if err != nil {
		return -1, err
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: groups}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("bind netlink groups: %w", err)
	}
	// FORCE needs CAP_NET_ADMIN; the plain option is the fallback, capped
	// by net.core.rmem_max.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvbuf) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("netlink socket: %w", err)
	}
	return fd, nil
}

// Open opens a Conn in the calling thread's namespace (a thread the caller
// has moved into a new namespace, say).
func Open() (*Conn, error) {
	fd, err := socket()
	if err != nil {
		return nil, err
	}
	return newConn(fd), nil
}
