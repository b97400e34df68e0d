package dns

import (
	"bytes"
	"os"
	"strconv"

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
