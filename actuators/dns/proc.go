package dns

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/netctl/netctl/actuators/files"
	"github.com/netctl/netctl/internal/beneath"
)

// lockHolder returns the pid holding a flock on path (0: none), from the
// kernel's lock table: sure, but each reading of /proc/locks waits for an
// RCU grace period (~10-15 ms), so the frequent questions go to holder.
func lockHolder(path string) int { return files.LockHolder(path) }

// holder is the pid holding the lock file lock under root's DNS
// directory (0: none). First the pid its holder recorded in the file
// record, when that process still runs netctl's DNS server or supervisor
// for root: a server or supervisor records itself only once it holds its
// lock (claim) and removes the record before letting go, and a process
// loses a flock only by letting go or exiting, so a live recorder holds
// it. (A record left by a killed process names a pid that is gone, or
// that now runs something else; only a pid recycled into another DNS
// server of the same root could fool it, which then is about to hold the
// lock anyway.) Without a live record, the kernel's table decides. Never
// used to pick a process to signal: killHolder asks the kernel.
func holder(root, lock, record string) int {
	if pid := recordedPid(root, record); pid > 0 {
		return pid
	}
	return lockHolder(filepath.Join(Dir(root), lock))
}

// recordedPid is the pid recorded in <root>/dns/name when that process
// runs, for root, what records itself there: the server (`dns serve
// --worker`) for its pid file, the supervisor (`dns serve`) for its own;
// else 0.
func recordedPid(root, name string) int {
	b, err := beneath.ReadFile(root, filepath.Join(Dir(root), name))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || !parseIsServer(cmdline, root) || parseIsWorker(cmdline) != (name == pidFile) {
		return 0
	}
	return pid
}

// parseIsWorker reports whether a server's command line runs the worker.
func parseIsWorker(cmdline []byte) bool {
	return slices.Contains(strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00"), "--worker")
}

// stopped reports whether pid is stopped (SIGSTOP, or a tracer): such a
// process holds its locks and sockets but will never answer.
func stopped(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	return parseStopped(b)
}

// parseStopped reads the state from /proc/PID/stat content: the field
// after the command name in parentheses (which may itself hold spaces
// and parentheses, hence the last ')').
func parseStopped(stat []byte) bool {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 >= len(stat) {
		return false
	}
	state := stat[i+2]
	return state == 'T' || state == 't'
}

// isServer reports whether pid runs netctl's DNS server or supervisor for
// root (`... --root ROOT ... dns serve ...`): checked before a signal, in
// case the pid came from a record rather than from the kernel.
func isServer(pid int, root string) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	return parseIsServer(b, root)
}

func parseIsServer(cmdline []byte, root string) bool {
	args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	root = filepath.Clean(root)
	hasRoot := slices.ContainsFunc(args, func(a string) bool { return filepath.Clean(a) == root })
	return hasRoot && slices.Contains(args, "dns") && slices.Contains(args, "serve")
}
