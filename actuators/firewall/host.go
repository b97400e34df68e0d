package firewall

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/netctl/netctl/model"
)

// The files below /proc/sys/net and /proc/thread-self/net show the network
// namespace of the thread that opens them. netctl runs in the host
// namespace and only ever leaves it on threads locked for the purpose, so
// any other goroutine sees the host's.

// sysctlPath maps a sysctl key to its file. Interface names may hold dots,
// so "net.ipv4.conf.<if>.<name>" is split around the interface.
func sysctlPath(procSys, key string) (string, error) {
	if rest, ok := strings.CutPrefix(key, "net.ipv4.conf."); ok {
		i := strings.LastIndexByte(rest, '.')
		if i <= 0 {
			return "", fmt.Errorf("sysctl %q: no interface", key)
		}
		ifname, name := rest[:i], rest[i+1:]
		if err := checkBridge(ifname); err != nil {
			return "", fmt.Errorf("sysctl %q: %w", key, err)
		}
		return filepath.Join(procSys, "net", "ipv4", "conf", ifname, name), nil
	}
	if strings.ContainsAny(key, "/\x00") || strings.Contains(key, "..") {
		return "", fmt.Errorf("sysctl %q: bad key", key)
	}
	return filepath.Join(procSys, strings.ReplaceAll(key, ".", "/")), nil
}

// readSysctl returns a sysctl's value; ok is false when it does not exist.
func readSysctl(procSys, key string) (string, bool, error) {
	path, err := sysctlPath(procSys, key)
	if err != nil {
		return "", false, err
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("sysctl %s: %w", key, err)
	}
	return strings.TrimSpace(string(b)), true, nil
}

func writeSysctl(procSys, key, value string) error {
	path, err := sysctlPath(procSys, key)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if errors.Is(err, fs.ErrNotExist) && key == "net.bridge.bridge-nf-call-iptables" {
		// As Docker does: the module that hands bridged traffic to
		// iptables may not be loaded yet.
		if out, merr := exec.Command("modprobe", "br_netfilter").CombinedOutput(); merr != nil {
			return fmt.Errorf("sysctl %s does not exist and modprobe br_netfilter failed (%v: %s): icc: false needs the module",
				key, merr, strings.TrimSpace(string(out)))
		}
		f, err = os.OpenFile(path, os.O_WRONLY, 0)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("sysctl %s does not exist", key)
	}
	if err != nil {
		return fmt.Errorf("sysctl %s: %w", key, err)
	}
	_, werr := f.WriteString(value)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		return fmt.Errorf("sysctl %s = %s: %w", key, value, err)
	}
	return nil
}

// ephemeralRange reads ip_local_port_range.
func ephemeralRange(procSys string) (uint16, uint16, error) {
	v, ok, err := readSysctl(procSys, "net.ipv4.ip_local_port_range")
	if err != nil || !ok {
		return 0, 0, err
	}
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

// boundPorts lists the ports programs of the host namespace have bound:
// TCP listeners, UDP sockets, SCTP endpoints, IPv4 and IPv6 (a v6 socket
// on :: takes the v4 port too).
func boundPorts(procNet string) (map[model.PortProto]bool, error) {
	out := map[model.PortProto]bool{}
	for _, f := range []struct{ file, proto string }{
		{"tcp", "tcp"}, {"tcp6", "tcp"}, {"udp", "udp"}, {"udp6", "udp"},
	} {
		if err := readInetSockets(filepath.Join(procNet, f.file), f.proto, out); err != nil {
			return nil, err
		}
	}
	if err := readSCTPEndpoints(filepath.Join(procNet, "sctp", "eps"), out); err != nil {
		return nil, err
	}
	return out, nil
}

// readInetSockets parses /proc/net/{tcp,udp}[6]: "sl local_address
// rem_address st ...", local_address as HEXADDR:HEXPORT. TCP counts only
// listeners (st 0A); UDP every bound socket.
func readInetSockets(path, proto string, out map[model.PortProto]bool) error {
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
		if len(fields) < 4 {
			continue
		}
		if proto == "tcp" && fields[3] != "0A" {
			continue
		}
		_, hexPort, ok := strings.Cut(fields[1], ":")
		if !ok {
			continue
		}
		port, err := strconv.ParseUint(hexPort, 16, 16)
		if err != nil || port == 0 {
			continue
		}
		out[model.PortProto{Port: uint16(port), Proto: proto}] = true
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("bound ports: %s: %w", path, err)
	}
	return nil
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
	sc.Scan()
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 {
			continue
		}
		if port, err := strconv.ParseUint(fields[5], 10, 16); err == nil && port > 0 {
			out[model.PortProto{Port: uint16(port), Proto: "sctp"}] = true
		}
	}
	return sc.Err()
}
