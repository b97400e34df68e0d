package metrics

import (
	"strings"
	"testing"
)

func TestWriteText(t *testing.T) {
	r := &Registry{}
	c := r.NewCounter("x_total", "Things done.", "result")
	g := r.NewGauge("x_objects", "Objects by kind.", "kind")
	h := r.NewHistogram("x_seconds", "Durations.", []float64{0.5, 0.1, 1})
	plain := r.NewGauge("x_last", "Line\nbreak and back\\slash.")

	c.Inc("ok")
	c.Add(2, "ok")
	c.Inc(`we"ird\`)
	c.Touch("failed")
	g.Set(3, "network")
	g.Set(12, "container")
	h.Observe(0.05)
	h.Observe(0.1) // a bound is inclusive (le)
	h.Observe(0.7)
	h.Observe(5)
	plain.Set(1.5e9)

	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := `# HELP x_total Things done.
# TYPE x_total counter
x_total{result="failed"} 0
x_total{result="ok"} 3
x_total{result="we\"ird\\"} 1
# HELP x_objects Objects by kind.
# TYPE x_objects gauge
x_objects{kind="container"} 12
x_objects{kind="network"} 3
# HELP x_seconds Durations.
# TYPE x_seconds histogram
x_seconds_bucket{le="0.1"} 2
x_seconds_bucket{le="0.5"} 2
x_seconds_bucket{le="1"} 3
x_seconds_bucket{le="+Inf"} 4
x_seconds_sum 5.85
x_seconds_count 4
# HELP x_last Line\nbreak and back\\slash.
# TYPE x_last gauge
x_last 1.5e+09
`
	if got := b.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestConcurrentUse(t *testing.T) {
	r := &Registry{}
	c := r.NewCounter("n_total", "n")
	done := make(chan struct{})
	for range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 1000 {
				c.Inc()
				_ = r.WriteText(&strings.Builder{})
			}
		}()
	}
	for range 4 {
		<-done
	}
	var b strings.Builder
	_ = r.WriteText(&b)
	if !strings.Contains(b.String(), "n_total 4000\n") {
		t.Errorf("lost increments:\n%s", b.String())
	}
}
