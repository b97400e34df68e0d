package dns

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// lockHolder returns the pid of the process holding a flock on path, 0
// when none does. The kernel's own table (/proc/locks) is the proof: a
// pid read from a pid file could be stale or recycled, and signalling it
// could hit an unrelated process.
func lockHolder(path string) int {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0
	}
	b, err := os.ReadFile("/proc/locks")
	if err != nil {
		return 0
	}
	want := fmt.Sprintf("%02x:%02x:%d", unix.Major(st.Dev), unix.Minor(st.Dev), st.Ino)
	return parseLockHolder(b, want)
}

// parseLockHolder finds, in /proc/locks content, the pid of an active
// FLOCK on the file "maj:min:inode". Lines look like
// "1: FLOCK  ADVISORY  WRITE 4242 00:1a:1234 0 EOF"; waiters ("->") are
// skipped.
func parseLockHolder(locks []byte, file string) int {
	sc := bufio.NewScanner(bytes.NewReader(locks))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 6 || f[1] != "FLOCK" || f[5] != file {
			continue
		}
		if pid, err := strconv.Atoi(f[4]); err == nil && pid > 0 {
			return pid
		}
	}
	return 0
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
