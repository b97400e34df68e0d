package nlraw

import (
	"encoding/binary"
	"errors"

	vnl "github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// ErrDumpInterrupted is NLM_F_DUMP_INTR: the object set changed while the
// kernel was dumping it, so the answer may be incomplete.
var ErrDumpInterrupted = errors.New("netlink dump interrupted")

// dumpTries bounds how often an interrupted dump is restarted. A dump is
// interrupted when the object set changes under it, which on a busy host
// happens, but not five times in a row.
const dumpTries = 5

// Retryable reports whether err means "dump again": the dump was
// interrupted (by this package's or vishvananda's reckoning) or the
// receive was (EINTR).
func Retryable(err error) bool {
	return errors.Is(err, ErrDumpInterrupted) || errors.Is(err, vnl.ErrDumpInterrupted) || errors.Is(err, unix.EINTR)
}

// Retry runs a dump, restarting it while it fails Retryable: a partial
// dump would make Observe report missing objects, and the reconciler
// would then "repair" things that are fine. f must start from scratch on
// every call (collect into a fresh slice). It wraps vishvananda's dumps
// as well as this package's.
func Retry[T any](f func() (T, error)) (T, error) {
	var (
		v   T
		err error
	)
	for range dumpTries {
		v, err = f()
		if err == nil || !Retryable(err) {
			return v, err
		}
	}
	return v, err
}

// Dump sends one dump request (req gets NLM_F_REQUEST|NLM_F_DUMP) and
// calls fn with each message of the answer. It reads to the end of the
// answer even after fn failed, so the socket stays usable, and returns
// fn's first error, the kernel's error, or ErrDumpInterrupted. It does not
// retry: see Retry, and the typed dumps that use it.
func (c *Conn) Dump(req Request, fn func(h Header, m []byte) error) error {
	msg := req.serialize(unix.NLM_F_REQUEST | unix.NLM_F_DUMP)
	c.mu.Lock()
	defer c.mu.Unlock()
	seq, err := c.send(msg)
	if err != nil {
		return err
	}
	interrupted := false
	var result, cbErr error
	err = c.receive(func(h Header, m []byte) (bool, error) {
		if h.Seq != seq {
			return false, nil // a late answer to an earlier, abandoned request
		}
		if h.Flags&unix.NLM_F_DUMP_INTR != 0 {
			interrupted = true
		}
		switch h.Type {
		case unix.NLMSG_DONE:
			if len(m) >= 4 {
				if e := int32(binary.NativeEndian.Uint32(m)); e < 0 {
					result = unix.Errno(-e)
					return true, nil
				}
			}
			switch {
			case interrupted:
				result = ErrDumpInterrupted
			default:
				result = cbErr
			}
			return true, nil
		case unix.NLMSG_ERROR:
			if result = errnoOf(m); result == nil {
				result = errors.New("netlink dump answered by an acknowledgement")
			}
			return true, nil
		}
		if cbErr == nil {
			cbErr = fn(h, m)
		}
		return false, nil
	})
	if err != nil {
		return err
	}
	return result
}

// dumpAll runs a typed dump with retries: each attempt starts with an
// empty result, which decode appends to.
func dumpAll[T any](c *Conn, req Request, want uint16, decode func(m []byte, out []T) ([]T, error)) ([]T, error) {
	return Retry(func() ([]T, error) {
		var out []T
		err := c.Dump(req, func(h Header, m []byte) error {
			if h.Type != want {
				return nil
			}
			var err error
			out, err = decode(m, out)
			return err
		})
		return out, err
	})
}
