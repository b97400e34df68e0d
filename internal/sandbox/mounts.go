package sandbox

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

type mountEntry struct {
	point  string
	fstype string
}

// parseMountinfo reads /proc/<pid>/mountinfo lines, in mount order.
func parseMountinfo(r io.Reader) ([]mountEntry, error) {
	var out []mountEntry
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		// id parent maj:min root mountpoint opts [optional...] - fstype source superopts
		fields := strings.Fields(sc.Text())
		if len(fields) < 7 {
			continue
		}
		e := mountEntry{point: unescapeMount(fields[4])}
		for i := 6; i < len(fields)-1; i++ {
			if fields[i] == "-" {
				e.fstype = fields[i+1]
				break
			}
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// unescapeMount undoes the kernel's octal escaping of space, tab, newline
// and backslash in mountinfo paths.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func readMounts() ([]mountEntry, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseMountinfo(f)
}

func under(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, dir+"/")
}

// mountsUnder lists mount points at or below dir, in mount order.
func mountsUnder(dir string) ([]string, error) {
	ms, err := readMounts()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range ms {
		if under(m.point, dir) {
			out = append(out, m.point)
		}
	}
	return out, nil
}

// nsfsMountsUnder lists namespace bind mounts at or below dir: where netctl
// keeps the namespaces of the containers it owns.
func nsfsMountsUnder(dir string) []string {
	ms, err := readMounts()
	if err != nil {
		return nil
	}
	var out []string
	for _, m := range ms {
		if m.fstype == "nsfs" && under(m.point, dir) {
			out = append(out, m.point)
		}
	}
	return out
}

// unmountUnder lazily unmounts everything at or below dir, deepest first so
// that parents are never busy. Stacked mounts on one point take several
// rounds, hence the loop.
func unmountUnder(dir string) error {
	for round := 0; round < 10; round++ {
		points, err := mountsUnder(dir)
		if err != nil {
			return err
		}
		if len(points) == 0 {
			return nil
		}
		// Later mounts first within the same depth: they sit on top.
		for i, j := 0, len(points)-1; i < j; i, j = i+1, j-1 {
			points[i], points[j] = points[j], points[i]
		}
		sort.SliceStable(points, func(i, j int) bool {
			return strings.Count(points[i], "/") > strings.Count(points[j], "/")
		})
		for _, p := range points {
			if err := unix.Unmount(p, unix.MNT_DETACH); err != nil &&
				!errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
				return fmt.Errorf("umount -l %s: %w", p, err)
			}
		}
	}
	points, _ := mountsUnder(dir)
	return fmt.Errorf("mounts remain under %s: %s", dir, strings.Join(points, ", "))
}

// netnsInode identifies a network namespace by the inode of its nsfs file.
func netnsInode(path string) (uint64, bool) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, false
	}
	return st.Ino, true
}

// procsInNetns finds processes with any thread in one of the namespaces.
// Threads count because a DNS listener may sit on a locked OS thread that
// entered a container's namespace while the main thread stayed outside.
func procsInNetns(inodes map[uint64]bool) []int {
	self := os.Getpid()
	dirs, _ := os.ReadDir("/proc")
	var pids []int
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || pid == self {
			continue
		}
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/ns/net", pid))
		for _, link := range tasks {
			target, err := os.Readlink(link)
			if err != nil {
				continue
			}
			// "net:[4026532281]"
			ino, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(target, "net:["), "]"), 10, 64)
			if err == nil && inodes[ino] {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// killInNetns ends every process living in one of the given namespaces:
// SIGTERM, then SIGKILL for those still there after two seconds.
func killInNetns(paths []string) error {
	inodes := map[uint64]bool{}
	for _, p := range paths {
		if ino, ok := netnsInode(p); ok {
			inodes[ino] = true
		}
	}
	if len(inodes) == 0 {
		return nil
	}
	pids := procsInNetns(inodes)
	if len(pids) == 0 {
		return nil
	}
	for _, pid := range pids {
		_ = unix.Kill(pid, unix.SIGTERM)
	}
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if len(procsInNetns(inodes)) == 0 {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, pid := range procsInNetns(inodes) {
		_ = unix.Kill(pid, unix.SIGKILL)
	}
	deadline = time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if len(procsInNetns(inodes)) == 0 {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("processes still in sandbox namespaces after SIGKILL: %v", procsInNetns(inodes))
}
