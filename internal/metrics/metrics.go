// Package metrics is a minimal Prometheus text-format registry: counters,
// gauges and histograms with labels, enough for `netctl watch
// --metrics-addr`. It is hand-written rather than taken from
// prometheus/client_golang because netctl needs half a dozen series and
// the exposition format (version 0.0.4) is a few lines of text; the client
// library would add a dozen transitive modules to a root-run daemon.
package metrics

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// ContentType is the media type of WriteText's output.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Registry holds metric families and renders them. Safe for concurrent use.
type Registry struct {
	mu       sync.Mutex
	families []*family
}

type kind string

const (
	kindCounter   kind = "counter"
	kindGauge     kind = "gauge"
	kindHistogram kind = "histogram"
)

// family is one metric name with its series, one per label-value tuple.
type family struct {
	name    string
	help    string
	kind    kind
	labels  []string
	buckets []float64 // histograms only, ascending, without +Inf
	series  map[string]*series
}

type series struct {
	values []string // label values, in family.labels order
	value  float64  // counter, gauge
	counts []uint64 // histogram: per bucket (not cumulative)
	count  uint64
	sum    float64
}

func (r *Registry) add(f *family) *family {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, g := range r.families {
		if g.name == f.name {
			panic("metrics: duplicate metric " + f.name) // a programming error, caught by any test
		}
	}
	f.series = map[string]*series{}
	r.families = append(r.families, f)
	return f
}

// get returns the series for values, creating it; r.mu must be held.
func (f *family) get(values []string) *series {
	if len(values) != len(f.labels) {
		panic(fmt.Sprintf("metrics: %s wants %d label values, got %d", f.name, len(f.labels), len(values)))
	}
	key := strings.Join(values, "\xff")
	s := f.series[key]
	if s == nil {
		s = &series{values: append([]string(nil), values...)}
		if f.kind == kindHistogram {
			s.counts = make([]uint64, len(f.buckets))
		}
		f.series[key] = s
	}
	return s
}

// Counter is a monotonically increasing value, by label values.
type Counter struct {
	r *Registry
	f *family
}

// NewCounter registers a counter with the given label names.
func (r *Registry) NewCounter(name, help string, labels ...string) *Counter {
	return &Counter{r, r.add(&family{name: name, help: help, kind: kindCounter, labels: labels})}
}

// Add adds v (>= 0) to the series with these label values.
func (c *Counter) Add(v float64, values ...string) {
	if v < 0 {
		return
	}
	c.r.mu.Lock()
	defer c.r.mu.Unlock()
	c.f.get(values).value += v
}

// Inc adds one.
func (c *Counter) Inc(values ...string) { c.Add(1, values...) }

// Touch makes the series exist with its current value (0 when new), so
// that a rate() over it starts from zero rather than from its first event.
func (c *Counter) Touch(values ...string) { c.Add(0, values...) }

// Gauge is a value that goes up and down, by label values.
type Gauge struct {
	r *Registry
	f *family
}

// NewGauge registers a gauge with the given label names.
func (r *Registry) NewGauge(name, help string, labels ...string) *Gauge {
	return &Gauge{r, r.add(&family{name: name, help: help, kind: kindGauge, labels: labels})}
}

// Set sets the series with these label values.
func (g *Gauge) Set(v float64, values ...string) {
	g.r.mu.Lock()
	defer g.r.mu.Unlock()
	g.f.get(values).value = v
}

// Histogram counts observations into buckets, by label values.
type Histogram struct {
	r *Registry
	f *family
}

// NewHistogram registers a histogram with upper bounds buckets (ascending;
// +Inf is implied).
func (r *Registry) NewHistogram(name, help string, buckets []float64, labels ...string) *Histogram {
	b := append([]float64(nil), buckets...)
	sort.Float64s(b)
	return &Histogram{r, r.add(&family{name: name, help: help, kind: kindHistogram, labels: labels, buckets: b})}
}

// Observe records v in the series with these label values.
func (h *Histogram) Observe(v float64, values ...string) {
	h.r.mu.Lock()
	defer h.r.mu.Unlock()
	s := h.f.get(values)
	if i := sort.SearchFloat64s(h.f.buckets, v); i < len(h.f.buckets) {
		s.counts[i]++
	}
	s.count++
	s.sum += v
}

// WriteText renders every family in the Prometheus text format, families
// in registration order, series sorted by label values.
func (r *Registry) WriteText(w io.Writer) error {
	r.mu.Lock()
	var b strings.Builder
	for _, f := range r.families {
		fmt.Fprintf(&b, "# HELP %s %s\n", f.name, escapeHelp(f.help))
		fmt.Fprintf(&b, "# TYPE %s %s\n", f.name, f.kind)
		keys := make([]string, 0, len(f.series))
		for k := range f.series {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			s := f.series[k]
			if f.kind != kindHistogram {
				fmt.Fprintf(&b, "%s%s %s\n", f.name, labelText(f.labels, s.values, "", ""), formatFloat(s.value))
				continue
			}
			var cum uint64
			for i, ub := range f.buckets {
				cum += s.counts[i]
				fmt.Fprintf(&b, "%s_bucket%s %d\n", f.name, labelText(f.labels, s.values, "le", formatFloat(ub)), cum)
			}
			fmt.Fprintf(&b, "%s_bucket%s %d\n", f.name, labelText(f.labels, s.values, "le", "+Inf"), s.count)
			fmt.Fprintf(&b, "%s_sum%s %s\n", f.name, labelText(f.labels, s.values, "", ""), formatFloat(s.sum))
			fmt.Fprintf(&b, "%s_count%s %d\n", f.name, labelText(f.labels, s.values, "", ""), s.count)
		}
	}
	r.mu.Unlock()
	_, err := io.WriteString(w, b.String())
	return err
}

func labelText(names, values []string, extraName, extraValue string) string {
	if len(names) == 0 && extraName == "" {
		return ""
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `%s="%s"`, n, escapeValue(values[i]))
	}
	if extraName != "" {
		if len(names) > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `%s="%s"`, extraName, escapeValue(extraValue))
	}
	b.WriteByte('}')
	return b.String()
}

var (
	valueEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)

func escapeValue(s string) string { return valueEscaper.Replace(s) }
func escapeHelp(s string) string  { return helpEscaper.Replace(s) }

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
