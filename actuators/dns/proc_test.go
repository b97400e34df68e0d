package dns

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

func TestParseStopped(t *testing.T) {
	for stat, want := range map[string]bool{
		"42 (netctl) S 1 42":         false,
		"42 (netctl) T 1 42":         true,
		"42 (a) b) t 1 42":           true,
		"42 (weird (name) T) R 1 42": false,
		"garbage":                    false,
	} {
		if got := parseStopped([]byte(stat)); got != want {
			t.Errorf("parseStopped(%q) = %v, want %v", stat, got, want)
		}
	}
}

func TestParseIsServer(t *testing.T) {
	for cmdline, want := range map[string]bool{
		"/usr/bin/netctl\x00--root\x00/run/netctl\x00dns\x00serve\x00":              true,
		"/usr/bin/netctl\x00--root\x00/run/netctl/\x00dns\x00serve\x00--worker\x00": true,
		"/usr/bin/netctl\x00--root\x00/run/other\x00dns\x00serve\x00":               false,
		"/usr/bin/netctl\x00--root\x00/run/netctl\x00apply\x00":                     false,
		"/bin/sleep\x00100\x00": false,
	} {
		if got := parseIsServer([]byte(cmdline), "/run/netctl"); got != want {
			t.Errorf("%q: %v, want %v", cmdline, got, want)
		}
	}
}

// A record counts only while its process runs, for this root, what
// records itself there: the supervisor in supervisor.pid, the worker
// (--worker) in server.pid.
func TestRecordedPid(t *testing.T) {
	root := t.TempDir()
	if err := prepareDir(root); err != nil {
		t.Fatal(err)
	}
	// A process whose command line reads like the supervisor's.
	cmd := exec.Command("/bin/sh", "-c", "sleep 30", "netctl", "--root", root, "dns", "serve")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	pid := cmd.Process.Pid
	for _, name := range []string{supervisorPid, pidFile} {
		if err := os.WriteFile(filepath.Join(Dir(root), name), []byte(strconv.Itoa(pid)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if got := recordedPid(root, supervisorPid); got != pid {
		t.Errorf("supervisor's record: %d, want %d", got, pid)
	}
	if got := recordedPid(root, pidFile); got != 0 {
		t.Errorf("a supervisor recorded as the worker counts: %d", got)
	}
	if got := recordedPid(t.TempDir(), supervisorPid); got != 0 {
		t.Errorf("no record: %d", got)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if got := recordedPid(root, supervisorPid); got != 0 {
		t.Errorf("the record of a process gone counts: %d", got)
	}
}
