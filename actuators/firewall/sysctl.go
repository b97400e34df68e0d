package firewall

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/netctl/netctl/internal/command"
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
		if !model.IsIfname(ifname) {
			return "", fmt.Errorf("sysctl %q: bad interface name %q", key, ifname)
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

// modprobeTimeout bounds loading a kernel module.
const modprobeTimeout = 30 * time.Second

func writeSysctl(procSys, key, value string) error {
	path, err := sysctlPath(procSys, key)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if errors.Is(err, fs.ErrNotExist) && (key == model.SysctlBridgeNFCallV4 || key == model.SysctlBridgeNFCallV6) {
		// As Docker does: the module that hands bridged traffic to
		// iptables may not be loaded yet.
		if _, merr := command.Run(context.Background(), modprobeTimeout, "", "modprobe", "br_netfilter"); merr != nil {
			return fmt.Errorf("sysctl %s does not exist and modprobe br_netfilter failed (%w): icc: false needs the module", key, merr)
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
