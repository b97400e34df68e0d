package hostfacts

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// The socket dumps are asked with a state filter of their own, which
// vishvananda/netlink's SocketDiagTCP does not take (it asks for every
// state). For TCP only listeners matter, and the filter is what spares
// the kernel a walk of every bucket of its established-connections hash:
// that table is sized by the machine's memory, not by its sockets, and
// the walk cost ~1 ms of every command that reads the host's ports.

// Socket states (include/net/tcp_states.h) as inet_diag's filter bits.
const (
	stateListen = 1 << 10 // TCP_LISTEN
	allStates   = 0xfff
)

// diagRequest is struct inet_diag_req_v2 with a zero socket id: every
// socket of a family and protocol in the given states.
type diagRequest struct {
	family, protocol uint8
	states           uint32
}

const (
	sizeofDiagRequest = 56 // family, protocol, ext, pad, states, inet_diag_sockid (48)
	sizeofDiagMsg     = 72 // inet_diag_msg without attributes
)

func (r diagRequest) Len() int { return sizeofDiagRequest }

func (r diagRequest) Serialize() []byte {
	b := make([]byte, sizeofDiagRequest)
	b[0], b[1] = r.family, r.protocol
	binary.NativeEndian.PutUint32(b[4:8], r.states)
	return b
}

// boundSocket is what a port pick needs of a socket: its local address.
type boundSocket struct {
	port uint16
	addr netip.Addr
}

// diagConn is an inet_diag socket in the host namespace.
type diagConn struct{ s *nl.NetlinkSocket }

func openDiag(host netns.NsHandle) (*diagConn, error) {
	s, err := nl.GetNetlinkSocketAt(host, netns.None(), unix.NETLINK_INET_DIAG)
	if err != nil {
		return nil, err
	}
	return &diagConn{s: s}, nil
}

func (c *diagConn) Close() { c.s.Close() }

// dump lists the local addresses of the sockets of family and protocol in
// states. Its error is nl.ErrDumpInterrupted when the socket set changed
// during the dump.
func (c *diagConn) dump(family, protocol uint8, states uint32) ([]boundSocket, error) {
	req := nl.NewNetlinkRequest(nl.SOCK_DIAG_BY_FAMILY, unix.NLM_F_DUMP)
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_INET_DIAG: {Socket: c.s}}
	req.AddData(diagRequest{family: family, protocol: protocol, states: states})
	var out []boundSocket
	var bad error
	err := req.ExecuteIter(unix.NETLINK_INET_DIAG, nl.SOCK_DIAG_BY_FAMILY, func(m []byte) bool {
		s, err := parseDiagMsg(m)
		if err != nil {
			bad = err
			return false
		}
		out = append(out, s)
		return true
	})
	if bad != nil {
		return nil, bad
	}
	return out, err
}

// parseDiagMsg reads the local port and address of struct inet_diag_msg:
// family, state, timer, retrans, then the socket id, whose source port is
// in network order and source address 16 bytes (an IPv4 one in the first
// four).
func parseDiagMsg(m []byte) (boundSocket, error) {
	if len(m) < sizeofDiagMsg {
		return boundSocket{}, fmt.Errorf("inet_diag message of %d bytes, want %d", len(m), sizeofDiagMsg)
	}
	s := boundSocket{port: binary.BigEndian.Uint16(m[4:6])}
	if m[0] == unix.AF_INET {
		s.addr = netip.AddrFrom4([4]byte(m[8:12]))
	} else {
		s.addr = netip.AddrFrom16([16]byte(m[8:24])).Unmap()
	}
	return s, nil
}
