package dns

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// A server whose --root is removed (a test's temp dir, a root cleaned up
// by hand) can no longer be reached, reloaded or stopped: it stops itself
// rather than live on as an orphan.
func TestServeStopsWhenItsRootIsRemoved(t *testing.T) {
	root := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, root, Options{Log: zerolog.Nop()}) }()

	sock := filepath.Join(Dir(root), ctlSock)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the server never opened its control socket")
		}
	}
	start := time.Now()
	if err := os.RemoveAll(root); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
		if took := time.Since(start); took > 3*unreachableCheck {
			t.Errorf("stopped %s after its root went, want within %s", took, 3*unreachableCheck)
		}
	case <-ctx.Done():
		t.Fatal("the server still runs 30 s after its root was removed")
	}
}
