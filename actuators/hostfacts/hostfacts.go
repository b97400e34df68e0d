// Package hostfacts reads the facts of the host namespace that picking a
// host port depends on (model.HostPorts): the ports programs have bound,
// so that a range or ephemeral mapping skips them, and the ephemeral port
// range ip_local_port_range, where ephemeral mappings are picked.
//
// Bound TCP and UDP ports come from the kernel's socket diagnostics
// (inet_diag, diag.go) on a socket opened in the host namespace. inet_diag
// also knows SCTP (sctp_diag), but SCTP endpoints are read from
// /proc/net/sctp/eps, which needs no request of our own. That file and
// /proc/sys show the network namespace of the reading thread: netctl runs
// in the host namespace and only leaves it on threads locked for the
// purpose, so any other goroutine sees the host's.
package hostfacts

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/model"
)

// Reader reads the host's port facts. It holds no state between calls.
type Reader struct {
	host    netns.NsHandle
	procSys string
	procNet string
}

// New reads the facts of host, a network namespace handle the caller keeps
// open (and the namespace the process runs in: see the package comment).
func New(host netns.NsHandle) *Reader {
	return &Reader{host: host, procSys: "/proc/sys", procNet: "/proc/thread-self/net"}
}

// Ports implements reconciler.HostFacts.
func (r *Reader) Ports(ctx context.Context) (model.HostPorts, error) {
	var hp model.HostPorts
	var err error
	if hp.EphemeralLow, hp.EphemeralHigh, err = ephemeralRange(r.procSys); err != nil {
		return hp, err
	}
	if hp.Bound, hp.Listening, err = r.boundPorts(ctx); err != nil {
		return hp, err
	}
	return hp, nil
}

// ephemeralRange reads ip_local_port_range; 0, 0 when it does not exist.
func ephemeralRange(procSys string) (uint16, uint16, error) {
	b, err := os.ReadFile(filepath.Join(procSys, "net", "ipv4", "ip_local_port_range"))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("ip_local_port_range: %w", err)
	}
	v := strings.TrimSpace(string(b))
	f := strings.Fields(v)
	if len(f) != 2 {
		return 0, 0, fmt.Errorf("ip_local_port_range %q: want two numbers", v)
	}
	lo, err1 := strconv.ParseUint(f[0], 10, 16)
	hi, err2 := strconv.ParseUint(f[1], 10, 16)
	if err1 != nil || err2 != nil || lo == 0 || hi < lo {
		return 0, 0, fmt.Errorf("ip_local_port_range %q: not a port range", v)
	}
	return uint16(lo), uint16(hi), nil
}

// diagTries bounds the restarts of a socket dump the kernel reports
// interrupted (the socket set changed under it).
const diagTries = 5

// boundPorts lists the ports programs of the host namespace have bound:
// TCP listeners, UDP sockets, SCTP endpoints, IPv4 and IPv6 (a v6 socket
// on :: takes the v4 port too); and for TCP and UDP the addresses each
// port is bound to.
func (r *Reader) boundPorts(ctx context.Context) (map[model.PortProto]bool, map[model.PortProto][]netip.Addr, error) {
	c, err := openDiag(r.host)
	if err != nil {
		return nil, nil, fmt.Errorf("bound ports: socket diagnostics in the host namespace: %w", err)
	}
	defer c.Close()
	out := map[model.PortProto]bool{}
	addrs := map[model.PortProto][]netip.Addr{}
	for _, q := range []struct {
		proto    string
		protocol uint8
		states   uint32
	}{
		{model.ProtoTCP, unix.IPPROTO_TCP, stateListen},
		{model.ProtoUDP, unix.IPPROTO_UDP, allStates},
	} {
		for _, family := range []uint8{unix.AF_INET, unix.AF_INET6} {
			if err := ctx.Err(); err != nil {
				return nil, nil, err
			}
			socks, err := dumpSockets(func() ([]boundSocket, error) { return c.dump(family, q.protocol, q.states) })
			if family == unix.AF_INET6 && (errors.Is(err, unix.EAFNOSUPPORT) || errors.Is(err, unix.ENOENT)) {
				continue // no IPv6 on this host: nothing bound there
			}
			if err != nil {
				return nil, nil, fmt.Errorf("bound ports: %s sockets (inet_diag): %w", q.proto, err)
			}
			for _, s := range socks {
				if s.port == 0 {
					continue
				}
				pp := model.PortProto{Port: s.port, Proto: q.proto}
				out[pp] = true
				if !slices.Contains(addrs[pp], s.addr) {
					addrs[pp] = append(addrs[pp], s.addr)
				}
			}
		}
	}
	if err := readSCTPEndpoints(filepath.Join(r.procNet, "sctp", "eps"), out); err != nil {
		return nil, nil, err
	}
	return out, addrs, nil
}

// dumpSockets runs a socket dump, restarting it while the kernel reports
// it interrupted: a partial list could let a pick take a bound port.
func dumpSockets(dump func() ([]boundSocket, error)) ([]boundSocket, error) {
	var (
		socks []boundSocket
		err   error
	)
	for range diagTries {
		socks, err = dump()
		if !errors.Is(err, nl.ErrDumpInterrupted) {
			break
		}
	}
	return socks, err
}

// readSCTPEndpoints parses /proc/net/sctp/eps (present once the sctp
// module is loaded): "ENDPT SOCK STY SST HBKT LPORT UID INODE LADDRS".
func readSCTPEndpoints(path string, out map[model.PortProto]bool) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("bound ports: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 {
			continue
		}
		if port, err := strconv.ParseUint(fields[5], 10, 16); err == nil && port > 0 {
			out[model.PortProto{Port: uint16(port), Proto: model.ProtoSCTP}] = true
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("bound ports: %s: %w", path, err)
	}
	return nil
}
