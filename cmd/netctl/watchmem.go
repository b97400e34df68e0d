package main

import (
	"runtime/debug"

	"github.com/netctl/netctl/reconciler"
)

// A watcher idles most of its life holding one observation and one
// topology (the live heap: ~3.5 KB per container). A reconcile allocates
// several times that (a full desired state, a diff, a resync's new
// observation), and Go's collector lets the heap grow to twice what is
// live before collecting, then keeps the freed pages for a while: at
// 10,000 containers the idle watcher held 94 MiB for a 35-44 MB live
// heap. Returning the garbage of a reconcile to the system once it is
// done brings the idle footprint down to what is live, for one collection
// per reconcile (a few ms per 10 MB live; reconciles are rare at rest:
// the stretched resyncs and what the kernel or the file announce).
//
// GOMEMLIMIT and GOGC keep working as in any Go program, for whoever wants
// to trade CPU for a tighter ceiling during reconciles.

// memoryHooks returns the garbage of each finished reconcile to the
// system (see above), after next's hook.
type memoryHooks struct {
	reconciler.WatchHooks
	release func()
}

func newMemoryHooks(next reconciler.WatchHooks) memoryHooks {
	return memoryHooks{WatchHooks: next, release: debug.FreeOSMemory}
}

func (h memoryHooks) ReconcileDone(rep *reconciler.WatchReport) {
	h.WatchHooks.ReconcileDone(rep)
	if rep.Outcome != reconciler.OutcomeCancelled {
		h.release()
	}
}
