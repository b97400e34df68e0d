// Package packaging holds the tests of what the Debian package ships: the
// systemd units and the package itself, built, installed with dpkg and
// removed again.
package packaging

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// maxExposure is the bar for `systemd-analyze security` (0 best, 10 worst).
const maxExposure = 5.0

var units = []string{"netctl-watch.service", "netctl-dns.service"}

func run(t *testing.T, timeout time.Duration, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

var exposureRE = regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`)

// exposure is systemd-analyze's score of a unit file, read offline (no
// running systemd needed).
func exposure(t *testing.T, path string) float64 {
	t.Helper()
	out, err := run(t, time.Minute, "systemd-analyze", "security", "--offline=yes", "--no-pager", path)
	if err != nil {
		t.Fatalf("systemd-analyze security %s: %v\n%s", path, err, out)
	}
	m := exposureRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// TestUnitsAreHardened: each unit's exposure is at most 5.0.
func TestUnitsAreHardened(t *testing.T) {
	for _, u := range units {
		if e := exposure(t, filepath.Join("systemd", u)); e > maxExposure {
			t.Errorf("%s: exposure %.1f > %.1f", u, e, maxExposure)
		} else {
			t.Logf("%s: exposure %.1f", u, e)
		}
	}
}

// TestWatchUnitHasNoMountNamespace: the namespace mounts netctl makes
// under /run/netctl must be made in the host's mount namespace, so the
// watcher's unit may use no option that gives it one of its own.
func TestWatchUnitHasNoMountNamespace(t *testing.T) {
	forbidden := []string{"PrivateTmp", "ProtectSystem", "ProtectHome", "PrivateDevices", "ProtectKernelTunables",
		"ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups", "ProtectProc", "ProcSubset",
		"ProtectHostname", "PrivateMounts", "ReadWritePaths", "ReadOnlyPaths", "InaccessiblePaths",
		"TemporaryFileSystem", "BindPaths", "BindReadOnlyPaths", "RootDirectory", "RootImage", "MountAPIVFS",
		"PrivateNetwork", "NetworkNamespacePath", "PrivateUsers", "RuntimeDirectory"}
	for k := range unitKeys(t, "systemd/netctl-watch.service") {
		for _, f := range forbidden {
			if k == f {
				t.Errorf("netctl-watch.service sets %s, which gives it a mount namespace of its own (or another namespace)", k)
			}
		}
	}
}

// unitKeys reads a unit file's keys and values.
func unitKeys(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			out[k] = append(out[k], v)
		}
	}
	return out
}

// lockDpkg serialises the tests that install the package: helpers and CI
// runs on one machine share one dpkg database.
func lockDpkg(t *testing.T) {
	t.Helper()
	if err := os.MkdirAll("/run/lock", 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile("/run/lock/netctl-deb-test.lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
}

// dpkg runs dpkg, waiting while another dpkg (an apt run) holds its lock.
func dpkg(t *testing.T, args ...string) string {
	t.Helper()
	for i := 0; ; i++ {
		out, err := run(t, 5*time.Minute, "dpkg", args...)
		if err == nil {
			return out
		}
		if i < 60 && strings.Contains(out, "lock") {
			time.Sleep(2 * time.Second)
			continue
		}
		t.Fatalf("dpkg %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestDebianPackage builds the .deb with `make deb`, installs it with
// dpkg, checks what it installed (the binary runs, the units pass
// systemd-analyze verify with the installed binary and man pages, the
// completions load), and removes it.
func TestDebianPackage(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("installing a package needs root (CI runs as root)")
	}
	lockDpkg(t)
	// A netctl package someone installed is theirs: the test would
	// replace it and purge it at the end.
	if out, _ := run(t, time.Minute, "dpkg-query", "-W", "-f", "${Status}", "netctl"); strings.Contains(out, " installed") {
		t.Fatalf("a netctl package is installed on this machine (%s): remove it first (dpkg -r netctl)", out)
	}
	build := t.TempDir()
	out, err := run(t, 20*time.Minute, "make", "-C", "..", "deb", "BUILD="+build, "BIN="+filepath.Join(build, "bin", "netctl"))
	if err != nil {
		t.Fatalf("make deb: %v\n%s", err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(build, "netctl_*.deb"))
	if len(debs) != 1 {
		t.Fatalf("make deb made %v", debs)
	}
	version := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(debs[0]), "netctl_"), "_"+goarch(t)+".deb")

	t.Cleanup(func() {
		// Leave the machine as it was, whatever failed.
		if out, err := run(t, 5*time.Minute, "dpkg", "--purge", "netctl"); err != nil {
			t.Logf("dpkg --purge netctl: %v\n%s", err, out)
		}
	})
	dpkg(t, "-i", debs[0])

	help, err := run(t, time.Minute, "/usr/bin/netctl", "--help")
	if err != nil || !strings.Contains(help, "Usage:") {
		t.Fatalf("netctl --help: %v\n%s", err, help)
	}
	// --version comes with the command line's own branch; once the
	// binary has it, it must name the package's version.
	if strings.Contains(help, "--version") {
		out, err := run(t, time.Minute, "/usr/bin/netctl", "--version")
		if err != nil || !strings.Contains(out, version) {
			t.Errorf("netctl --version: %v: %q, want it to name %s", err, out, version)
		}
	}
	for _, f := range []string{
		"/usr/bin/netctl-convert",
		"/usr/lib/systemd/system/netctl-watch.service",
		"/usr/lib/systemd/system/netctl-dns.service",
		"/usr/share/man/man8/netctl.8.gz",
		"/usr/share/man/man8/netctl-watch.8.gz",
		"/usr/share/man/man8/netctl-convert.8.gz",
		"/usr/share/bash-completion/completions/netctl",
		"/usr/share/zsh/vendor-completions/_netctl",
		"/usr/share/fish/vendor_completions.d/netctl.fish",
		"/usr/share/doc/netctl/copyright",
		"/usr/share/netctl/netctl.schema.json",
		"/usr/share/doc/netctl/examples/docker-guide.yaml",
	} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("not installed: %v", err)
		}
	}
	if b, _ := os.ReadFile("/usr/share/doc/netctl/copyright"); !strings.Contains(string(b), "Apache License") {
		t.Error("/usr/share/doc/netctl/copyright is not the Apache license")
	}

	// verify checks the units' syntax, that ExecStart's binary exists
	// and that the man pages of Documentation= are installed.
	args := []string{"verify"}
	for _, u := range units {
		args = append(args, "/usr/lib/systemd/system/"+u)
	}
	if out, err := run(t, time.Minute, "systemd-analyze", args...); err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	for _, u := range units {
		if e := exposure(t, "/usr/lib/systemd/system/"+u); e > maxExposure {
			t.Errorf("installed %s: exposure %.1f", u, e)
		}
	}
	// convert runs its helper, installed next to netctl.
	conv, err := run(t, time.Minute, "/usr/bin/netctl", "convert", "-f", "/usr/share/doc/netctl/examples/compose/docker-guide.yaml")
	if err != nil || !strings.Contains(conv, "my-net:") {
		t.Errorf("netctl convert: %v\n%s", err, conv)
	}
	// The bash completion loads and completes the commands.
	script := `source /usr/share/bash-completion/completions/netctl && complete -p netctl && netctl __complete con 2>/dev/null`
	if out, err := run(t, time.Minute, "bash", "-c", script); err != nil || !strings.Contains(out, "convert") {
		t.Errorf("bash completion: %v\n%s", err, out)
	}

	dpkg(t, "-r", "netctl")
	if _, err := os.Stat("/usr/bin/netctl"); err == nil {
		t.Error("/usr/bin/netctl is still there after dpkg -r")
	}
	if out, _ := run(t, time.Minute, "dpkg-query", "-W", "-f", "${Status}", "netctl"); strings.Contains(out, " installed") {
		t.Errorf("after dpkg -r: %s", out)
	}
}

func goarch(t *testing.T) string {
	t.Helper()
	out, err := run(t, time.Minute, "go", "env", "GOARCH")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}
