package main

import (
	"testing"

	"github.com/netctl/netctl/reconciler"
)

// recordingHooks counts the reports it is handed.
type recordingHooks struct{ done int }

func (r *recordingHooks) ReconcileStarted(reconciler.WatchTrigger) {}
func (r *recordingHooks) ReconcileDone(*reconciler.WatchReport)    { r.done++ }
func (r *recordingHooks) FileChecked(error)                        {}

// Every finished reconcile, converged or not, is reported on and then
// returns its garbage; a cancelled one (the watcher is stopping) does not
// bother.
func TestMemoryHooksReleaseAfterEachReconcile(t *testing.T) {
	next := &recordingHooks{}
	released := 0
	h := memoryHooks{WatchHooks: next, release: func() { released++ }}
	for _, o := range []string{reconciler.OutcomeConverged, reconciler.OutcomeBlocked,
		reconciler.OutcomeFailed, reconciler.OutcomeCancelled} {
		h.ReconcileDone(&reconciler.WatchReport{Outcome: o})
	}
	if next.done != 4 || released != 3 {
		t.Errorf("reported %d, released %d times; want 4 and 3", next.done, released)
	}
}
