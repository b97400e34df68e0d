package iptables

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// refreshRig is a worker and a command's backend under one --root, with
// stand-ins for iptables-save (each run is counted, and takes a while)
// and for the ruleset's generation.
type refreshRig struct {
	root, runs string
	gen        atomic.Uint32
	worker     *Backend
}

func newRefreshRig(t *testing.T) *refreshRig {
	t.Helper()
	rig := &refreshRig{root: t.TempDir()}
	rig.runs = filepath.Join(rig.root, "runs")
	save := filepath.Join(t.TempDir(), "save")
	script := "#!/bin/sh\necho run >> " + rig.runs + "\nsleep 0.2\necho '*filter'\necho COMMIT\n"
	if err := os.WriteFile(save, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	rig.gen.Store(7)
	rig.worker = rig.backend(save, "")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- ServeRefresh(ctx, rig.root, func(string) (*Backend, error) { return rig.worker, nil }, zerolog.Nop())
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeRefresh: %v", err)
		}
	})
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(RefreshSocket(rig.root)); err == nil {
			return rig
		}
		if time.Now().After(deadline) {
			t.Fatal("the refresh socket did not appear")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (rig *refreshRig) backend(save, socket string) *Backend {
	return &Backend{log: zerolog.Nop(), mode: "nft", save: save, save6: save, cacheRoot: rig.root, refreshSocket: socket,
		generation: func() (Generation, error) { return Generation{Boot: "b", NetNS: 1, ID: rig.gen.Load()}, nil }}
}

// command is a command's backend: the same commands, and the worker's
// socket to hand off to.
func (rig *refreshRig) command() *Backend {
	return rig.backend(rig.worker.save, RefreshSocket(rig.root))
}

func (rig *refreshRig) saveRuns(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile(rig.runs)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Count(string(b), "run\n")
}

// A command that hands the read-back off returns at once; the next
// command, finding no reading yet, waits for the worker's and takes it
// instead of running the commands beside it.
func TestHandOffThenTheNextCommandTakesTheWorkersReading(t *testing.T) {
	rig := newRefreshRig(t)
	start := time.Now()
	if !rig.command().HandOff(context.Background()) {
		t.Fatal("the worker did not take the read-back")
	}
	if took := time.Since(start); took > 150*time.Millisecond {
		t.Errorf("HandOff took %v: it waited for the reading", took)
	}
	out4, _, saved, err := rig.command().saveBoth(context.Background())
	if err != nil || !saved || !strings.Contains(out4, "*filter") {
		t.Fatalf("the next command: saved %v, %q, %v; want the worker's reading", saved, out4, err)
	}
	// Both families, once each: by the worker alone.
	if n := rig.saveRuns(t); n != 2 {
		t.Errorf("iptables-save ran %d times, want 2 (the worker's two families)", n)
	}
}

// A hand-off while the worker reads makes it read once more (the rules
// may have changed after its generation was read), and the reading saved
// is of the latest generation.
func TestHandOffDuringARefreshReadsAgain(t *testing.T) {
	rig := newRefreshRig(t)
	if !rig.command().HandOff(context.Background()) {
		t.Fatal("the worker did not take the read-back")
	}
	time.Sleep(50 * time.Millisecond) // the first reading is under way
	rig.gen.Add(1)
	if !rig.command().HandOff(context.Background()) {
		t.Fatal("the worker did not take the second read-back")
	}
	if _, _, saved, err := rig.command().saveBoth(context.Background()); err != nil || !saved {
		t.Fatalf("the next command: saved %v, %v; want the worker's reading of generation 8", saved, err)
	}
	if n := rig.saveRuns(t); n != 4 {
		t.Errorf("iptables-save ran %d times, want 4 (two readings of two families)", n)
	}
}

// Without a worker, nothing is handed off, and nobody waits.
func TestNoWorkerNoHandOff(t *testing.T) {
	rig := &refreshRig{root: t.TempDir()}
	b := rig.backend("/bin/false", RefreshSocket(rig.root))
	if b.HandOff(context.Background()) {
		t.Error("handed off with no worker")
	}
	if b.awaitRefresh(context.Background()) {
		t.Error("waited with no worker")
	}
	legacy := rig.backend("/bin/false", RefreshSocket(rig.root))
	legacy.mode = "legacy"
	if legacy.HandOff(context.Background()) {
		t.Error("handed off in the legacy flavour, which keeps no reading")
	}
}
