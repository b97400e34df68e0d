package netlink

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// Observe reads thousands of namespaces, and vishvananda/netlink's dumps
// are too heavy for that: every receive allocates a 64 KiB buffer, and every
// link is parsed down to its statistics. This is a minimal reader for the
// three dumps Observe needs, on a blocking socket with a reused buffer,
// decoding only the fields netctl looks at. Changes still go through
// vishvananda's handles.

// rtextFilterSkipStats asks the kernel to leave the statistics out of link
// dumps (RTEXT_FILTER_SKIP_STATS, Linux 4.19; older kernels ignore it).
const rtextFilterSkipStats = 1 << 3

// errDumpInterrupted is NLM_F_DUMP_INTR: the set changed during the dump.
var errDumpInterrupted = errors.New("netlink dump interrupted")

// dumpTimeout bounds the wait for one batch of a dump.
const dumpTimeout = 30 * time.Second

// dumpBufSize fits the largest message batch the kernel sends for a dump.
const dumpBufSize = 64 << 10

// dumper runs dumps on one NETLINK_ROUTE socket. Not safe for concurrent
// use.
type dumper struct {
	fd  int
	seq uint32
	buf []byte
}

func newDumper(fd int, buf []byte) *dumper {
	if len(buf) < dumpBufSize {
		buf = make([]byte, dumpBufSize)
	}
	// Strict checking lets the kernel filter a route dump by table, which
	// spares it walking the local table of every container. Best effort:
	// without it (before Linux 4.20) the filter is applied by the caller.
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_GET_STRICT_CHK, 1)
	// The kernel always answers a dump; the timeout only keeps a kernel
	// bug from hanging Observe forever.
	tv := unix.NsecToTimeval(dumpTimeout.Nanoseconds())
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	return &dumper{fd: fd, buf: buf}
}

// link is what Observe needs of a link.
type link struct {
	index  int
	peer   int // IFLA_LINK: a veth's partner ifindex
	master int
	group  uint32
	mtu    int
	up     bool
	name   string
	alias  string
	kind   string // "bridge", "veth", ...
	mac    net.HardwareAddr
	// From the link's IPv6 configuration (IFLA_AF_SPEC), when it has one.
	acceptRA    bool
	disableIPv6 bool
}

// ifAddr is an address with its prefix length, on link index.
type ifAddr struct {
	index  int
	prefix netip.Prefix
	flags  uint32 // IFA_F_*
}

// rtRoute is what Observe needs of a route.
type rtRoute struct {
	table uint32
	typ   uint8
	dst   netip.Prefix
	gw    netip.Addr
	oif   int // output interface; 0 for a multipath or blackhole route
}

func (d *dumper) links() ([]link, error) {
	req := make([]byte, unix.SizeofIfInfomsg+8)
	// ifinfomsg is all zero: AF_UNSPEC, every link.
	a := req[unix.SizeofIfInfomsg:]
	binary.NativeEndian.PutUint16(a[0:], 8)
	binary.NativeEndian.PutUint16(a[2:], unix.IFLA_EXT_MASK)
	binary.NativeEndian.PutUint32(a[4:], rtextFilterSkipStats)
	var out []link
	err := d.dump(unix.RTM_GETLINK, req, func() { out = out[:0] }, func(typ uint16, m []byte) error {
		if typ != unix.RTM_NEWLINK {
			return nil
		}
		l, err := parseLink(m)
		if err == nil {
			out = append(out, l)
		}
		return err
	})
	return out, err
}

// addrs dumps the addresses of both families.
func (d *dumper) addrs() ([]ifAddr, error) {
	req := make([]byte, unix.SizeofIfAddrmsg)
	req[0] = unix.AF_UNSPEC
	var out []ifAddr
	err := d.dump(unix.RTM_GETADDR, req, func() { out = out[:0] }, func(typ uint16, m []byte) error {
		if typ != unix.RTM_NEWADDR {
			return nil
		}
		a, ok, err := parseAddr(m)
		if ok {
			out = append(out, a)
		}
		return err
	})
	return out, err
}

// routes dumps the routes of both families in table (all tables for
// RT_TABLE_UNSPEC). The kernel filters by table only on a socket with
// strict checking on (see newDumper); elsewhere the caller gets every
// table. A family without that table is skipped, not an error, in a dump
// of both families.
func (d *dumper) routes(table uint8) ([]rtRoute, error) {
	req := make([]byte, unix.SizeofRtMsg)
	req[0] = unix.AF_UNSPEC
	req[4] = table
	var out []rtRoute
	err := d.dump(unix.RTM_GETROUTE, req, func() { out = out[:0] }, func(typ uint16, m []byte) error {
		if typ != unix.RTM_NEWROUTE {
			return nil
		}
		r, ok, err := parseRoute(m)
		if ok {
			out = append(out, r)
		}
		return err
	})
	if errors.Is(err, unix.ENOENT) {
		// A strict dump of a table the namespace does not have yet (a
		// fresh namespace with lo down has no routes at all): no routes,
		// not a failure.
		return nil, nil
	}
	return out, err
}

// dump sends one dump request and feeds each reply message's payload to
// fn, restarting the dump when the kernel flags it interrupted; reset
// forgets what fn gathered before each attempt (an interrupted dump is read
// to its end, and its messages come again in the next).
func (d *dumper) dump(typ uint16, payload []byte, reset func(), fn func(typ uint16, m []byte) error) error {
	var err error
	for range dumpTries {
		reset()
		if err = d.dumpOnce(typ, payload, fn); !errors.Is(err, errDumpInterrupted) && !errors.Is(err, unix.EINTR) {
			return err
		}
	}
	return err
}

func (d *dumper) dumpOnce(typ uint16, payload []byte, fn func(typ uint16, m []byte) error) error {
	d.seq++
	req := make([]byte, unix.SizeofNlMsghdr+len(payload))
	binary.NativeEndian.PutUint32(req[0:], uint32(len(req)))
	binary.NativeEndian.PutUint16(req[4:], typ)
	binary.NativeEndian.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	binary.NativeEndian.PutUint32(req[8:], d.seq)
	copy(req[unix.SizeofNlMsghdr:], payload)
	if err := unix.Sendto(d.fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	interrupted := false
	var cbErr error
	for {
		n, _, err := unix.Recvfrom(d.fd, d.buf, 0)
		if err != nil {
			return fmt.Errorf("receive: %w", err)
		}
		b := d.buf[:n]
		for len(b) >= unix.SizeofNlMsghdr {
			mlen := int(binary.NativeEndian.Uint32(b[0:]))
			if mlen < unix.SizeofNlMsghdr || mlen > len(b) {
				return errors.New("malformed netlink message")
			}
			mtype := binary.NativeEndian.Uint16(b[4:])
			flags := binary.NativeEndian.Uint16(b[6:])
			seq := binary.NativeEndian.Uint32(b[8:])
			m := b[unix.SizeofNlMsghdr:mlen]
			b = b[min(nlmAlign(mlen), len(b)):]
			if seq != d.seq {
				continue // a late reply to an earlier, abandoned dump
			}
			if flags&unix.NLM_F_DUMP_INTR != 0 {
				interrupted = true
			}
			switch mtype {
			case unix.NLMSG_DONE:
				if len(m) >= 4 {
					if e := int32(binary.NativeEndian.Uint32(m)); e < 0 {
						return unix.Errno(-e)
					}
				}
				if interrupted {
					return errDumpInterrupted
				}
				return cbErr
			case unix.NLMSG_ERROR:
				if len(m) >= 4 {
					if e := int32(binary.NativeEndian.Uint32(m)); e < 0 {
						return unix.Errno(-e)
					}
				}
				return errors.New("netlink error without errno")
			default:
				// Keep reading to the end of the dump even after a
				// decoding error, so the socket stays usable.
				if cbErr == nil {
					cbErr = fn(mtype, m)
				}
			}
		}
	}
}

func nlmAlign(n int) int { return (n + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1) }

func rtaAlign(n int) int { return (n + unix.RTA_ALIGNTO - 1) &^ (unix.RTA_ALIGNTO - 1) }

// attrs calls fn for each attribute in b.
func attrs(b []byte, fn func(typ uint16, v []byte)) error {
	for len(b) >= unix.SizeofRtAttr {
		alen := int(binary.NativeEndian.Uint16(b[0:]))
		typ := binary.NativeEndian.Uint16(b[2:]) &^ (unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER)
		if alen < unix.SizeofRtAttr || alen > len(b) {
			return errors.New("malformed netlink attribute")
		}
		fn(typ, b[unix.SizeofRtAttr:alen])
		b = b[min(rtaAlign(alen), len(b)):]
	}
	return nil
}

// cstring returns a NUL-terminated attribute's string.
func cstring(v []byte) string {
	for i, c := range v {
		if c == 0 {
			return string(v[:i])
		}
	}
	return string(v)
}

func u32(v []byte) uint32 {
	if len(v) < 4 {
		return 0
	}
	return binary.NativeEndian.Uint32(v)
}

func parseLink(m []byte) (link, error) {
	if len(m) < unix.SizeofIfInfomsg {
		return link{}, errors.New("short link message")
	}
	l := link{
		index: int(int32(binary.NativeEndian.Uint32(m[4:]))),
		up:    binary.NativeEndian.Uint32(m[8:])&unix.IFF_UP != 0,
	}
	var kindErr, afErr error
	err := attrs(m[unix.SizeofIfInfomsg:], func(typ uint16, v []byte) {
		switch typ {
		case unix.IFLA_IFNAME:
			l.name = cstring(v)
		case unix.IFLA_IFALIAS:
			l.alias = cstring(v)
		case unix.IFLA_ADDRESS:
			if slices.ContainsFunc(v, func(b byte) bool { return b != 0 }) { // lo has 00:00:...
				l.mac = net.HardwareAddr(slices.Clone(v))
			}
		case unix.IFLA_MTU:
			l.mtu = int(u32(v))
		case unix.IFLA_LINK:
			l.peer = int(u32(v))
		case unix.IFLA_MASTER:
			l.master = int(u32(v))
		case unix.IFLA_GROUP:
			l.group = u32(v)
		case unix.IFLA_LINKINFO:
			kindErr = attrs(v, func(typ uint16, v []byte) {
				if typ == unix.IFLA_INFO_KIND {
					l.kind = cstring(v)
				}
			})
		case unix.IFLA_AF_SPEC:
			afErr = parseAFSpec(v, &l)
		}
	})
	return l, errors.Join(err, kindErr, afErr)
}

// Indices of the IPv6 settings in IFLA_INET6_CONF (DEVCONF_*,
// linux/ipv6.h): an array of s32 in that order.
const (
	devconfAcceptRA    = 3
	devconfDisableIPv6 = 26
)

// parseAFSpec reads the link's IPv6 settings from IFLA_AF_SPEC: what
// dual-stack endpoints need checked, with no sysctl read per interface.
func parseAFSpec(v []byte, l *link) error {
	return attrs(v, func(typ uint16, v []byte) {
		if typ != unix.AF_INET6 {
			return
		}
		_ = attrs(v, func(typ uint16, v []byte) {
			if typ != unix.IFLA_INET6_CONF {
				return
			}
			conf := func(i int) int32 {
				if len(v) < 4*(i+1) {
					return 0
				}
				return int32(binary.NativeEndian.Uint32(v[4*i:]))
			}
			l.acceptRA = conf(devconfAcceptRA) != 0
			l.disableIPv6 = conf(devconfDisableIPv6) != 0
		})
	})
}

func parseAddr(m []byte) (ifAddr, bool, error) {
	if len(m) < unix.SizeofIfAddrmsg {
		return ifAddr{}, false, errors.New("short address message")
	}
	if m[0] != unix.AF_INET && m[0] != unix.AF_INET6 {
		return ifAddr{}, false, nil
	}
	bits := int(m[1])
	a := ifAddr{index: int(binary.NativeEndian.Uint32(m[4:])), flags: uint32(m[2])}
	var local, address netip.Addr
	err := attrs(m[unix.SizeofIfAddrmsg:], func(typ uint16, v []byte) {
		if typ == unix.IFA_FLAGS {
			a.flags = u32(v) // all 32 bits; ifa_flags holds the first 8
			return
		}
		ip, ok := netip.AddrFromSlice(v)
		switch {
		case !ok:
		case typ == unix.IFA_LOCAL:
			local = ip
		case typ == unix.IFA_ADDRESS:
			address = ip
		}
	})
	// IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer's
	// on a point-to-point link and the same as IFA_LOCAL otherwise.
	ip := local
	if !ip.IsValid() {
		ip = address
	}
	if !ip.IsValid() {
		return ifAddr{}, false, err
	}
	a.prefix = netip.PrefixFrom(ip, bits)
	return a, a.prefix.IsValid(), err
}

func parseRoute(m []byte) (rtRoute, bool, error) {
	if len(m) < unix.SizeofRtMsg {
		return rtRoute{}, false, errors.New("short route message")
	}
	family := m[0]
	if (family != unix.AF_INET && family != unix.AF_INET6) || binary.NativeEndian.Uint32(m[8:])&unix.RTM_F_CLONED != 0 {
		return rtRoute{}, false, nil
	}
	bits := int(m[1])
	unspec := netip.IPv4Unspecified()
	if family == unix.AF_INET6 {
		unspec = netip.IPv6Unspecified()
	}
	r := rtRoute{table: uint32(m[4]), typ: m[7], dst: netip.PrefixFrom(unspec, bits)}
	err := attrs(m[unix.SizeofRtMsg:], func(typ uint16, v []byte) {
		switch typ {
		case unix.RTA_TABLE:
			r.table = u32(v)
		case unix.RTA_DST:
			if ip, ok := netip.AddrFromSlice(v); ok {
				r.dst = netip.PrefixFrom(ip, bits)
			}
		case unix.RTA_GATEWAY:
			if ip, ok := netip.AddrFromSlice(v); ok {
				r.gw = ip
			}
		case unix.RTA_OIF:
			r.oif = int(u32(v))
		}
	})
	return r, r.dst.IsValid(), err
}
