package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

const (
	mainPkg      = "github.com/netctl/netctl/cmd/netctl"
	binDirPrefix = "netctl-sandbox-bin-"
)

var built struct {
	once sync.Once
	path string
	dir  string // ours to delete; empty with NETCTL_BIN
	err  error
}

// Binary returns the netctl binary the tests run, building ./cmd/netctl
// once per test process. NETCTL_BIN names a prebuilt binary instead.
//
// When the tests run under -race, the binary is built with -race too, so
// data races in the code paths only the binary exercises (watch, the DNS
// server) fail the tests as well.
func Binary(t testing.TB) string {
	t.Helper()
	p, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func binary() (string, error) {
	built.once.Do(func() { built.path, built.dir, built.err = build() })
	return built.path, built.err
}

func build() (path, dir string, err error) {
	if p := os.Getenv("NETCTL_BIN"); p != "" {
		abs, err := filepath.Abs(p)
		if err != nil {
			return "", "", err
		}
		if st, err := os.Stat(abs); err != nil || st.Mode()&0o111 == 0 {
			return "", "", fmt.Errorf("sandbox: NETCTL_BIN=%s is not an executable file (%v)", p, err)
		}
		return abs, "", nil
	}
	// The PID in the name lets a later run remove the directory if this
	// process dies before Main's cleanup (see sweepStale).
	dir, err = os.MkdirTemp("", fmt.Sprintf("%s%d-", binDirPrefix, os.Getpid()))
	if err != nil {
		return "", "", err
	}
	path = filepath.Join(dir, "netctl")
	args := []string{"build"}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "-o", path, mainPkg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool(), args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		os.RemoveAll(dir)
		return "", "", fmt.Errorf("sandbox: go %v: %v\n%s", args, err, out)
	}
	return path, dir, nil
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if p := filepath.Join(os.Getenv("GOROOT"), "bin", "go"); os.Getenv("GOROOT") != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "/usr/local/go/bin/go"
}

// Main can serve as a package's TestMain: it runs the tests, then deletes
// the binary Binary built. Without it the binary stays in the temp dir
// until the next test run sweeps it.
func Main(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		if err := os.RemoveAll(built.dir); err != nil && !errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(os.Stderr, "sandbox: %v\n", err)
		}
	}
	os.Exit(code)
}
