package reconciler

import (
	"time"

	"github.com/rs/zerolog"
)

// WatchTrigger names what started a reconcile in watch mode.
type WatchTrigger string

// Triggers.
const (
	TriggerStart  WatchTrigger = "start"  // the watcher started
	TriggerFile   WatchTrigger = "file"   // the file changed
	TriggerHost   WatchTrigger = "host"   // the kernel announced a change to an owned object
	TriggerResync WatchTrigger = "resync" // the periodic full resync
	TriggerReload WatchTrigger = "reload" // a forced reload (SIGHUP)
	TriggerRetry  WatchTrigger = "retry"  // the previous reconcile failed
)

// Outcomes of a watch-mode reconcile.
const (
	OutcomeConverged = "converged"
	OutcomeBlocked   = "blocked"   // converged but for deletions refused (foreign endpoints)
	OutcomeFailed    = "failed"    // not converged; retried
	OutcomeCancelled = "cancelled" // the watcher is stopping
)

// WatchReport is what one watch-mode reconcile did.
type WatchReport struct {
	Trigger WatchTrigger
	Project string
	Outcome string
	Err     error
	Took    time.Duration
	// Done lists the actions carried out.
	Done []*Action
	// Drift is set when Done repaired drift: the topology in force had
	// converged before and nobody edited the file since.
	Drift bool
	// EditToConverged is the time from the first file event of an edit
	// to this reconcile's convergence of it; zero unless this reconcile
	// converged a new file.
	EditToConverged time.Duration
	// Objects of the topology in force.
	Networks, Containers, Endpoints int
}

// WatchHooks is told what the watcher does (metrics, health). Calls come
// from the goroutine running Watch.Run, one at a time.
type WatchHooks interface {
	ReconcileStarted(trigger WatchTrigger)
	ReconcileDone(rep *WatchReport)
	// FileChecked reports the file's state whenever it is read: err is nil
	// for a file that can be applied, else why it cannot (the last good
	// topology then stays in force).
	FileChecked(err error)
}

func (w *Watch) logReport(rep *WatchReport) {
	if rep.Drift {
		for _, a := range rep.Done {
			w.Log.Warn().Str("project", rep.Project).Str("op", string(a.Op)).Str("kind", string(a.Kind)).
				Str("object", a.Name).Str("reason", a.Reason).Strs("details", a.Details).Msg("drift repaired")
		}
	}
	var ev *zerolog.Event
	switch rep.Outcome {
	case OutcomeConverged, OutcomeBlocked:
		if len(rep.Done) == 0 && rep.Trigger != TriggerStart && rep.Trigger != TriggerFile && rep.Trigger != TriggerReload {
			ev = w.Log.Debug() // the periodic no-op
		} else {
			ev = w.Log.Info()
		}
		if rep.Outcome == OutcomeBlocked {
			ev = w.Log.Warn().Err(rep.Err)
		}
	case OutcomeCancelled:
		ev = w.Log.Info().Int("actions", len(rep.Done))
		ev.Str("project", rep.Project).Str("trigger", string(rep.Trigger)).Dur("took", rep.Took).
			Msg("reconcile cancelled: the watcher is stopping")
		return
	default:
		ev = w.Log.Error().Err(rep.Err).Time("retry_at", w.retryAt)
	}
	ev = ev.Str("project", rep.Project).Str("trigger", string(rep.Trigger)).Int("actions", len(rep.Done)).
		Dur("took", rep.Took).Bool("drift", rep.Drift)
	if rep.EditToConverged > 0 {
		ev = ev.Dur("edit_to_converged", rep.EditToConverged)
	}
	if rep.Outcome == OutcomeFailed {
		ev.Msg("reconcile failed")
		return
	}
	ev.Msg("converged")
}
