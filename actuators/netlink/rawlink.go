package netlink

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// requester sends single netlink requests and waits for their ACK, on a
// socket opened in one namespace. vishvananda's handle cannot create a veth
// already enslaved and up, or set an alias by name; these are the requests
// that save round trips when thousands of endpoints are created.
type requester struct {
	mu  sync.Mutex
	fd  int
	seq uint32
	buf []byte
}

func newRequester(fd int) *requester {
	tv := unix.NsecToTimeval(dumpTimeout.Nanoseconds())
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	return &requester{fd: fd, buf: make([]byte, 16<<10)}
}

func (r *requester) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	unix.Close(r.fd)
}

// do sends req and returns the kernel's verdict.
func (r *requester) do(req *nl.NetlinkRequest) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	req.Seq = r.seq
	req.Flags |= unix.NLM_F_REQUEST | unix.NLM_F_ACK
	if err := unix.Sendto(r.fd, req.Serialize(), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	for {
		n, _, err := unix.Recvfrom(r.fd, r.buf, 0)
		if err != nil {
			return fmt.Errorf("receive: %w", err)
		}
		for b := r.buf[:n]; len(b) >= unix.SizeofNlMsghdr; {
			mlen := int(binary.NativeEndian.Uint32(b[0:]))
			if mlen < unix.SizeofNlMsghdr || mlen > len(b) {
				return errors.New("malformed netlink message")
			}
			mtype := binary.NativeEndian.Uint16(b[4:])
			seq := binary.NativeEndian.Uint32(b[8:])
			m := b[unix.SizeofNlMsghdr:mlen]
			b = b[min(nlmAlign(mlen), len(b)):]
			if seq != r.seq || mtype != unix.NLMSG_ERROR {
				continue // a late answer to an earlier request
			}
			if len(m) < 4 {
				return errors.New("short netlink error message")
			}
			if e := int32(binary.NativeEndian.Uint32(m)); e < 0 {
				return unix.Errno(-e)
			}
			return nil
		}
	}
}

// vethRequest describes a veth pair to create in one request: the host end
// enslaved to master and up, the peer created directly in the namespace
// peerNs, with its MAC.
type vethRequest struct {
	name     string
	mtu      int
	master   int
	group    uint32
	peerName string
	peerMAC  []byte
	peerNs   int
}

// createVeth creates the pair. The kernel ignores IFLA_IFALIAS at creation,
// so the ownership marks follow with setAlias; the creation group marks the
// host end as netctl's until then.
func (r *requester) createVeth(v vethRequest) error {
	req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, unix.NLM_F_CREATE|unix.NLM_F_EXCL)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Flags, msg.Change = unix.IFF_UP, unix.IFF_UP
	req.AddData(msg)
	req.AddData(nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(v.name)))
	if v.mtu > 0 {
		req.AddData(nl.NewRtAttr(unix.IFLA_MTU, nl.Uint32Attr(uint32(v.mtu))))
	}
	req.AddData(nl.NewRtAttr(unix.IFLA_MASTER, nl.Uint32Attr(uint32(v.master))))
	req.AddData(nl.NewRtAttr(unix.IFLA_GROUP, nl.Uint32Attr(v.group)))
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("veth"))
	data := info.AddRtAttr(nl.IFLA_INFO_DATA, nil)
	peer := data.AddRtAttr(nl.VETH_INFO_PEER, nil)
	// The peer cannot be created up: the kernel opens it before the two
	// ends are linked, and veth_open refuses that (ENOTCONN).
	nl.NewIfInfomsgChild(peer, unix.AF_UNSPEC)
	peer.AddRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(v.peerName))
	peer.AddRtAttr(unix.IFLA_ADDRESS, v.peerMAC)
	if v.mtu > 0 {
		peer.AddRtAttr(unix.IFLA_MTU, nl.Uint32Attr(uint32(v.mtu)))
	}
	peer.AddRtAttr(unix.IFLA_NET_NS_FD, nl.Uint32Attr(uint32(v.peerNs)))
	req.AddData(info)
	return r.do(req)
}

// setAlias sets the alias (our ownership mark) of the link called name.
func (r *requester) setAlias(name, alias string) error {
	req := nl.NewNetlinkRequest(unix.RTM_SETLINK, 0)
	req.AddData(nl.NewIfInfomsg(unix.AF_UNSPEC))
	req.AddData(nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(name)))
	req.AddData(nl.NewRtAttr(unix.IFLA_IFALIAS, []byte(alias)))
	return r.do(req)
}
