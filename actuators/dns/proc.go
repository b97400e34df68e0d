package dns

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/netctl/netctl/actuators/files"
)

// lockHolder returns the pid holding a flock on path (0: none).
func lockHolder(path string) int { return files.LockHolder(path) }

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
