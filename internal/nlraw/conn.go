// Package nlraw is netctl's low-level route netlink: one socket type for
// requests and dumps, lean decoders for the few link, address and route
// fields netctl reads, the requests vishvananda/netlink's handle cannot
// express (a veth created enslaved and up, a link deleted by group), and
// the retry of interrupted dumps. The actuators share it; none of them
// speaks netlink at this level itself.
//
// It exists because Observe reads thousands of namespaces and
// vishvananda's dumps are too heavy for that (a 64 KiB allocation per
// receive, every link parsed down to its statistics). Changes that
// vishvananda expresses well still go through its handles.
package nlraw

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Timeout bounds the wait for one answer. The kernel always answers a
// request or a dump; the timeout only keeps a kernel bug from hanging a
// reconcile forever.
const Timeout = 30 * time.Second

// bufSize fits the largest message batch the kernel sends for a dump.
const bufSize = 64 << 10

// slots is how many datagrams one receive asks for. The kernel sends a
// dump's NLMSG_DONE in a datagram of its own, which it queues while the
// dump's last part is being read: asking for two takes both in one system
// call instead of two (Observe issues three dumps per container).
const slots = 2

// recvBuf is one receive's buffer: a slot per datagram.
type recvBuf [slots][bufSize]byte

// bufPool recycles receive buffers: Observe opens a socket per container
// namespace, and a 128 KiB allocation for each would dominate its garbage.
// A buffer is taken per receive, not per socket, so that the sockets kept
// open (a watcher's, the namespaces a reconcile keeps) hold none.
var bufPool = sync.Pool{New: func() any { return new(recvBuf) }}

// errTruncated is a datagram larger than a receive slot.
var errTruncated = errors.New("netlink message truncated")

// Conn is one NETLINK_ROUTE socket, bound to the network namespace it was
// opened in whichever thread uses it later. Requests on one Conn are
// serialised; it is safe for concurrent use.
type Conn struct {
	mu  sync.Mutex
	fd  int
	seq uint32
}

// newConn wraps a NETLINK_ROUTE socket.
func newConn(fd int) *Conn {
	// Strict checking lets the kernel filter a route dump by table, which
	// spares it walking the local table of every container. Best effort:
	// without it (before Linux 4.20) the caller filters.
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_GET_STRICT_CHK, 1)
	tv := unix.NsecToTimeval(Timeout.Nanoseconds())
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	return &Conn{fd: fd}
}

// Close closes the socket.
func (c *Conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fd < 0 {
		return nil
	}
	err := unix.Close(c.fd)
	c.fd = -1
	return err
}

// Namespace returns a new file descriptor of the network namespace the
// socket talks to (SIOCGSKNS); the caller closes it.
func (c *Conn) Namespace() (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fd, err := unix.IoctlRetInt(c.fd, unix.SIOCGSKNS)
	if err != nil {
		return -1, fmt.Errorf("namespace of netlink socket: %w", err)
	}
	return fd, nil
}

// send sends the serialised messages msgs, in one datagram, numbered from
// the next sequence number on; it returns the first one's number.
func (c *Conn) send(msgs ...[]byte) (uint32, error) {
	first := c.seq + 1
	var b []byte
	if len(msgs) == 1 {
		b = msgs[0]
	} else {
		for _, m := range msgs {
			b = append(b, m...)
		}
	}
	for off := 0; off+unix.SizeofNlMsghdr <= len(b); {
		c.seq++
		binary.NativeEndian.PutUint32(b[off+8:], c.seq)
		off += Align(int(binary.NativeEndian.Uint32(b[off:])))
	}
	if err := unix.Sendto(c.fd, b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, fmt.Errorf("netlink send: %w", err)
	}
	return first, nil
}

// receive reads the socket until fn reports done, handing it every
// message. A message that does not parse ends it with an error, and so
// does a datagram larger than a slot. Datagrams received after the one
// where fn reported done are dropped: the requests on a Conn are
// serialised, so they can only be late answers to abandoned requests.
func (c *Conn) receive(fn func(h Header, m []byte) (done bool, err error)) error {
	buf := bufPool.Get().(*recvBuf)
	defer bufPool.Put(buf)
	var (
		iov  [slots]unix.Iovec
		msgs [slots]mmsghdr
	)
	for i := range slots {
		iov[i].Base = &buf[i][0]
		iov[i].SetLen(bufSize)
		msgs[i].hdr.Iov = &iov[i]
		msgs[i].hdr.SetIovlen(1)
	}
	for {
		n, err := recvmmsg(c.fd, msgs[:])
		if err != nil {
			return fmt.Errorf("netlink receive: %w", err)
		}
		for i := range n {
			if msgs[i].hdr.Flags&unix.MSG_TRUNC != 0 {
				return errTruncated
			}
			done := false
			err = Messages(buf[i][:msgs[i].len], func(h Header, m []byte) error {
				if done {
					return nil
				}
				var err error
				done, err = fn(h, m)
				return err
			})
			if err != nil || done {
				return err
			}
		}
	}
}

// mmsghdr is struct mmsghdr (linux/socket.h), which x/sys/unix lacks.
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
}

// recvmmsg receives up to len(msgs) datagrams, waiting for the first only
// (MSG_WAITFORONE), and returns how many it received.
func recvmmsg(fd int, msgs []mmsghdr) (int, error) {
	for {
		n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])),
			uintptr(len(msgs)), unix.MSG_WAITFORONE, 0, 0)
		switch errno {
		case 0:
			return int(n), nil
		case unix.EINTR:
			continue // a signal, not the end of the answer
		}
		return 0, errno
	}
}

// Do sends the requests in one datagram and waits for each one's
// acknowledgement; it returns the first request's error, wrapped with its
// position when there are several. The kernel carries out the requests in
// order and goes on after one fails, so only independent requests (or
// ones whose later parts are harmless when an earlier one failed) may go
// together. Each request gets NLM_F_REQUEST and NLM_F_ACK.
func (c *Conn) Do(reqs ...Request) error {
	if len(reqs) == 0 {
		return nil
	}
	msgs := make([][]byte, len(reqs))
	for i, r := range reqs {
		msgs[i] = r.serialize(unix.NLM_F_REQUEST | unix.NLM_F_ACK)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	first, err := c.send(msgs...)
	if err != nil {
		return err
	}
	errs := make([]error, len(reqs))
	left := len(reqs)
	err = c.receive(func(h Header, m []byte) (bool, error) {
		i := int(h.Seq - first)
		if h.Seq < first || i >= len(reqs) || h.Type != unix.NLMSG_ERROR {
			return false, nil // a late answer to an earlier request, or an echo
		}
		errs[i] = errnoOf(m)
		left--
		return left == 0, nil
	})
	if err != nil {
		return err
	}
	if len(reqs) == 1 {
		return errs[0]
	}
	for i, e := range errs {
		if e != nil {
			return fmt.Errorf("request %d of %d: %w", i+1, len(reqs), e)
		}
	}
	return nil
}

// errnoOf decodes the error code of an NLMSG_ERROR (0: an ACK).
func errnoOf(m []byte) error {
	if len(m) < 4 {
		return errors.New("short netlink error message")
	}
	if e := int32(binary.NativeEndian.Uint32(m)); e < 0 {
		return unix.Errno(-e)
	}
	return nil
}

// Get sends one request and hands fn the payload of the answer of type
// want (not an acknowledgement: a "get").
func (c *Conn) Get(req Request, want uint16, fn func(m []byte) error) error {
	msg := req.serialize(unix.NLM_F_REQUEST)
	c.mu.Lock()
	defer c.mu.Unlock()
	seq, err := c.send(msg)
	if err != nil {
		return err
	}
	var result error
	err = c.receive(func(h Header, m []byte) (bool, error) {
		switch {
		case h.Seq != seq:
			return false, nil
		case h.Type == unix.NLMSG_ERROR:
			if result = errnoOf(m); result == nil {
				result = errors.New("netlink get answered by an acknowledgement")
			}
			return true, nil
		case h.Type == want:
			result = fn(m)
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		return err
	}
	return result
}
