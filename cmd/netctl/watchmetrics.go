package main

import (
	"encoding/json"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/netctl/netctl/reconciler"
)

// watchMetrics turns the watcher's reports into Prometheus metrics and
// the health endpoint's state. Its registry is its own (not the client
// library's global one), with the Go and process collectors beside
// netctl's series.
type watchMetrics struct {
	reg         *prometheus.Registry
	reconciles  *prometheus.CounterVec
	duration    prometheus.Histogram
	drift       *prometheus.CounterVec
	errors      *prometheus.CounterVec
	objects     *prometheus.GaugeVec
	lastSuccess prometheus.Gauge
	editLatency prometheus.Histogram
	fileValid   prometheus.Gauge

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
	reg := prometheus.NewRegistry()
	buckets := []float64{.005, .01, .025, .05, .1, .2, .5, 1, 2.5, 5, 10, 30, 60}
	m := &watchMetrics{
		reg: reg,
		reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "netctl_watch_reconciles_total",
			Help: "Reconciles run by the watcher, by what triggered them and how they ended (converged, blocked, failed, cancelled)."},
			[]string{"trigger", "result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "netctl_watch_reconcile_duration_seconds",
			Help: "Duration of a reconcile: observe, plan, apply and verify.", Buckets: buckets}),
		drift: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "netctl_watch_drift_repairs_total",
			Help: "Actions carried out to repair drift (a change nobody made in the file), by object kind."},
			[]string{"kind"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "netctl_watch_errors_total",
			Help: "Errors: file (the file could not be read or is invalid), reconcile (a reconcile failed)."},
			[]string{"type"}),
		objects: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "netctl_watch_managed_objects",
			Help: "Objects of the topology in force, by kind (network, container, endpoint)."},
			[]string{"kind"}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{Name: "netctl_watch_last_success_timestamp_seconds",
			Help: "Unix time of the last reconcile that converged."}),
		editLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "netctl_watch_edit_to_converged_seconds",
			Help: "Time from the first file event of an edit to the host converged to it.", Buckets: buckets}),
		fileValid: prometheus.NewGauge(prometheus.GaugeOpts{Name: "netctl_watch_file_valid",
			Help: "1 when the file on disk can be applied, 0 while it cannot (the last good topology stays in force)."}),
	}
	reg.MustRegister(m.reconciles, m.duration, m.drift, m.errors, m.objects, m.lastSuccess, m.editLatency, m.fileValid,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfoGauge())
	// Series that exist from the start, so that rate() and absent() work
	// before the first event of their kind.
	for _, t := range []string{"file", "reconcile"} {
		m.errors.WithLabelValues(t)
	}
	for _, k := range []reconciler.Kind{reconciler.KindNetwork, reconciler.KindContainer, reconciler.KindEndpoint, reconciler.KindRoute, reconciler.KindFiles} {
		m.drift.WithLabelValues(string(k))
	}
	m.reconciles.WithLabelValues(string(reconciler.TriggerStart), reconciler.OutcomeConverged)
	return m
}

// buildInfoGauge is netctl_build_info: always 1, the build in its labels
// (the same version and commit --version prints), as Prometheus' own
// *_build_info series.
func buildInfoGauge() prometheus.Collector {
	version, revision := buildVersion()
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "netctl_build_info",
		Help:        "A metric with a constant '1' value labelled by the version, revision and Go version netctl was built from.",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision, "goversion": runtime.Version()},
	})
	g.Set(1)
	return g
}

func (m *watchMetrics) ReconcileStarted(reconciler.WatchTrigger) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reconciling = true
}

func (m *watchMetrics) ReconcileDone(rep *reconciler.WatchReport) {
	m.reconciles.WithLabelValues(string(rep.Trigger), rep.Outcome).Inc()
	m.duration.Observe(rep.Took.Seconds())
	if rep.Drift {
		for _, a := range rep.Done {
			m.drift.WithLabelValues(string(a.Kind)).Inc()
		}
	}
	m.objects.WithLabelValues("network").Set(float64(rep.Networks))
	m.objects.WithLabelValues("container").Set(float64(rep.Containers))
	m.objects.WithLabelValues("endpoint").Set(float64(rep.Endpoints))
	ok := rep.Outcome == reconciler.OutcomeConverged || rep.Outcome == reconciler.OutcomeBlocked
	now := time.Now()
	if ok {
		m.lastSuccess.Set(float64(now.UnixNano()) / 1e9)
	}
	if rep.Outcome == reconciler.OutcomeFailed {
		m.errors.WithLabelValues("reconcile").Inc()
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
		m.errors.WithLabelValues("file").Inc()
	}
	m.fileValid.Set(v)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fileOK, m.fileErr = err == nil, ""
	if err != nil {
		m.fileErr = err.Error()
	}
}

// metricsHandler serves the registry in the exposition format the scraper
// asks for.
func (m *watchMetrics) metricsHandler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
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
