package command

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	ctx := context.Background()
	out, err := Run(ctx, 5*time.Second, "in\n", "/bin/sh", "-c", "cat; echo out")
	if err != nil || string(out) != "in\nout\n" {
		t.Errorf("Run = %q %v", out, err)
	}
	_, err = Run(ctx, 5*time.Second, "", "/bin/sh", "-c", "echo oops >&2; exit 3")
	var e *Error
	if !errors.As(err, &e) || e.Stderr != "oops" || e.Timeout != 0 || !strings.Contains(err.Error(), "exit status 3: oops") {
		t.Errorf("failing program: %v", err)
	}
	// A program that hangs is killed at the deadline, its forked children
	// holding the pipes notwithstanding.
	start := time.Now()
	_, err = Run(ctx, 300*time.Millisecond, "", "/bin/sh", "-c", "sleep 60 & sleep 60")
	if !errors.As(err, &e) || e.Timeout != 300*time.Millisecond || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("hung program: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("hung program returned after %s", took)
	}
	if !strings.Contains(err.Error(), "no result within 300ms: killed") {
		t.Errorf("error %q does not say it was killed", err)
	}
}
