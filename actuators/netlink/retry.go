package netlink

import (
	"errors"

	vnl "github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// dumpTries bounds how often an interrupted dump is restarted. A dump is
// interrupted when the object set changes under it (NLM_F_DUMP_INTR), which
// on a busy host happens but not five times in a row.
const dumpTries = 5

// retryDump runs a netlink dump, restarting it while the kernel reports it
// interrupted: a partial dump would make Observe report missing objects,
// and the reconciler would then "repair" things that are fine.
func retryDump[T any](f func() (T, error)) (T, error) {
	var (
		v   T
		err error
	)
	for range dumpTries {
		v, err = f()
		if err == nil || !retryable(err) {
			return v, err
		}
	}
	return v, err
}

func retryable(err error) bool {
	return errors.Is(err, vnl.ErrDumpInterrupted) || errors.Is(err, unix.EINTR)
}

func addrList(h *vnl.Handle, link vnl.Link) ([]vnl.Addr, error) {
	return retryDump(func() ([]vnl.Addr, error) { return h.AddrList(link, vnl.FAMILY_V4) })
}

// mainRoutes lists the routes of one family (unix.AF_INET, AF_INET6) in
// the main table.
func mainRoutes(h *vnl.Handle, family int) ([]vnl.Route, error) {
	return retryDump(func() ([]vnl.Route, error) { return h.RouteList(nil, family) })
}
