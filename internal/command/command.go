// Package command runs the external programs netctl depends on
// (iptables-save, iptables-restore, modprobe, iptables --version), each
// with a deadline: a tool that hangs (a stuck xtables lock, a wedged
// kernel call) must not hang netctl while it holds the --root lock. At the
// deadline the program is killed and the caller gets an error saying so.
package command

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// waitDelay bounds the wait for a killed program's output pipes, which a
// child it forked could keep open.
const waitDelay = 2 * time.Second

// Error is a program that failed: how it ended, and what it said on stderr.
type Error struct {
	Path   string
	Err    error  // the exit status, or context.DeadlineExceeded
	Stderr string // trimmed
	// Timeout is the deadline the program missed (0: it did not).
	Timeout time.Duration
}

func (e *Error) Error() string {
	if e.Timeout > 0 {
		return fmt.Sprintf("%s: no result within %s: killed", e.Path, e.Timeout)
	}
	if e.Stderr == "" {
		return fmt.Sprintf("%s: %v", e.Path, e.Err)
	}
	return fmt.Sprintf("%s: %v: %s", e.Path, e.Err, e.Stderr)
}

func (e *Error) Unwrap() error { return e.Err }

// Run runs path with args, stdin as its input, and returns its stdout. It
// gives up after timeout (or at ctx's end, if sooner), killing it.
func Run(ctx context.Context, timeout time.Duration, stdin, path string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, path, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = waitDelay
	err := cmd.Run()
	if err == nil {
		return stdout.Bytes(), nil
	}
	e := &Error{Path: path, Err: err, Stderr: strings.TrimSpace(stderr.String())}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		e.Err, e.Timeout = context.DeadlineExceeded, timeout
	}
	return stdout.Bytes(), e
}
