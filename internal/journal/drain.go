package journal

import (
	"errors"
	"os"
	"time"
)

// Drain calls drain each time f (a non-blocking descriptor: a netlink
// socket, an inotify instance) is readable, until drain reports it is
// done or stop is closed. The runtime's poller does the waiting: no
// thread and no timer while nothing happens. f stays open: the caller
// closes it once Drain has returned, and never while Drain runs, since a
// close waits for Drain's hold on f, which a drain blocked on the
// caller's lock would never give back. To end Drain early, set a read
// deadline on f (Wake).
func Drain(f *os.File, stop <-chan struct{}, drain func() (done bool)) error {
	raw, err := f.SyscallConn()
	if err != nil {
		return err
	}
	finished := make(chan struct{})
	defer close(finished)
	go func() {
		select {
		case <-stop:
			Wake(f)
		case <-finished:
		}
	}()
	err = raw.Read(func(uintptr) bool { return drain() })
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil
	}
	return err
}

// Wake makes a Drain on f return. It waits for nothing, so it may be
// called with any lock held, from drain too.
func Wake(f *os.File) { _ = f.SetReadDeadline(time.Now()) }
