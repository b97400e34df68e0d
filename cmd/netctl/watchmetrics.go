package main

import (
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/netctl/netctl/internal/metrics"
	"github.com/netctl/netctl/reconciler"
)

// watchMetrics turns the watcher's reports into Prometheus metrics and
// the health endpoint's state.
type watchMetrics struct {
	reg         *metrics.Registry
	reconciles  *metrics.Counter
	duration    *metrics.Histogram
	drift       *metrics.Counter
	errors      *metrics.Counter
	objects     *metrics.Gauge
	lastSuccess *metrics.Gauge
	editLatency *metrics.Histogram
	fileValid   *metrics.Gauge

	mu          sync.Mutex
	healthy     bool // the last finished reconcile converged
	reconciling bool
	fileOK      bool
	fileErr     string
	project     string
	lastOutcome string
	lastErr     string
	lastAt      time.Time
}

func newWatchMetrics() *watchMetrics {
	reg := &metrics.Registry{}
	buckets := []float64{.005, .01, .025, .05, .1, .2, .5, 1, 2.5, 5, 10, 30, 60}
	m := &watchMetrics{
		reg: reg,
		reconciles: reg.NewCounter("netctl_watch_reconciles_total",
			"Reconciles run by the watcher, by what triggered them and how they ended (converged, blocked, failed, cancelled).",
			"trigger", "result"),
		duration: reg.NewHistogram("netctl_watch_reconcile_duration_seconds",
			"Duration of a reconcile: observe, plan, apply and verify.", buckets),
		drift: reg.NewCounter("netctl_watch_drift_repairs_total",
			"Actions carried out to repair drift (a change nobody made in the file), by object kind.", "kind"),
		errors: reg.NewCounter("netctl_watch_errors_total",
			"Errors: file (the file could not be read or is invalid), reconcile (a reconcile failed).", "type"),
		objects: reg.NewGauge("netctl_watch_managed_objects",
			"Objects of the topology in force, by kind (network, container, endpoint).", "kind"),
		lastSuccess: reg.NewGauge("netctl_watch_last_success_timestamp_seconds",
			"Unix time of the last reconcile that converged."),
		editLatency: reg.NewHistogram("netctl_watch_edit_to_converged_seconds",
			"Time from the first file event of an edit to the host converged to it.", buckets),
		fileValid: reg.NewGauge("netctl_watch_file_valid",
			"1 when the file on disk can be applied, 0 while it cannot (the last good topology stays in force)."),
	}
	for _, t := range []string{"file", "reconcile"} {
		m.errors.Touch(t)
	}
	for _, k := range []reconciler.Kind{reconciler.KindNetwork, reconciler.KindContainer, reconciler.KindEndpoint, reconciler.KindRoute, reconciler.KindFiles} {
		m.drift.Touch(string(k))
	}
	m.reconciles.Touch(string(reconciler.TriggerStart), reconciler.OutcomeConverged)
	return m
}

func (m *watchMetrics) ReconcileStarted(reconciler.WatchTrigger) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reconciling = true
}

func (m *watchMetrics) ReconcileDone(rep *reconciler.WatchReport) {
	m.reconciles.Inc(string(rep.Trigger), rep.Outcome)
	m.duration.Observe(rep.Took.Seconds())
	if rep.Drift {
		for _, a := range rep.Done {
			m.drift.Inc(string(a.Kind))
		}
	}
	m.objects.Set(float64(rep.Networks), "network")
	m.objects.Set(float64(rep.Containers), "container")
	m.objects.Set(float64(rep.Endpoints), "endpoint")
	ok := rep.Outcome == reconciler.OutcomeConverged || rep.Outcome == reconciler.OutcomeBlocked
	now := time.Now()
	if ok {
		m.lastSuccess.Set(float64(now.UnixNano()) / 1e9)
	}
	if rep.Outcome == reconciler.OutcomeFailed {
		m.errors.Inc("reconcile")
	}
	if rep.EditToConverged > 0 {
		m.editLatency.Observe(rep.EditToConverged.Seconds())
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	m.reconciling = false
	if rep.Outcome == reconciler.OutcomeCancelled {
		return // says nothing about the host
	}
	m.healthy = ok
	m.project = rep.Project
	m.lastOutcome = rep.Outcome
	m.lastAt = now
	m.lastErr = ""
	if rep.Err != nil {
		m.lastErr = rep.Err.Error()
	}
}

func (m *watchMetrics) FileChecked(err error) {
	v := 1.0
	if err != nil {
		v = 0
		m.errors.Inc("file")
	}
	m.fileValid.Set(v)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fileOK, m.fileErr = err == nil, ""
	if err != nil {
		m.fileErr = err.Error()
	}
}

func (m *watchMetrics) serveMetrics(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", metrics.ContentType)
	_ = m.reg.WriteText(w)
}

// serveHealth answers 200 while the host is converged to the topology in
// force (including while a reconcile runs after a converged one) and 503
// otherwise: before the first convergence, and after a failed reconcile
// until one converges. An invalid file alone does not make the watcher
// unhealthy (the last good topology is in force) but shows in the body.
func (m *watchMetrics) serveHealth(w http.ResponseWriter, _ *http.Request) {
	m.mu.Lock()
	body := struct {
		Status        string `json:"status"`
		Project       string `json:"project,omitempty"`
		Reconciling   bool   `json:"reconciling"`
		LastOutcome   string `json:"last_outcome,omitempty"`
		LastReconcile string `json:"last_reconcile,omitempty"`
		Error         string `json:"error,omitempty"`
		FileValid     bool   `json:"file_valid"`
		FileError     string `json:"file_error,omitempty"`
	}{
		Status: "ok", Project: m.project, Reconciling: m.reconciling, LastOutcome: m.lastOutcome,
		Error: m.lastErr, FileValid: m.fileOK, FileError: m.fileErr,
	}
	if !m.lastAt.IsZero() {
		body.LastReconcile = m.lastAt.UTC().Format(time.RFC3339Nano)
	}
	code := http.StatusOK
	if !m.healthy {
		body.Status, code = "unhealthy", http.StatusServiceUnavailable
	}
	m.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}
