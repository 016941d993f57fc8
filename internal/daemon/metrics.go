package daemon

import (
	"context"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// metrics are the daemon's Prometheus metrics, fed by the engine's record
// stream: what the log says is what the metrics count.
type metrics struct {
	reg         *prometheus.Registry
	transitions *prometheus.CounterVec
	stopSeconds prometheus.Histogram
	forced      prometheus.Counter
	recoveries  *prometheus.CounterVec
	stopStarted map[string]time.Time
}

func newMetrics(e *engine.Engine) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lifeline_transitions_total", Help: "Recorded transitions, by from and to state.",
		}, []string{"from", "to"}),
		stopSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "lifeline_stop_duration_seconds", Help: "From the stop record to Stopped or Broken.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 16),
		}),
		forced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lifeline_forced_stops_total", Help: "Stops that ended in a force: stop_timeout or force_stop.",
		}),
		recoveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lifeline_recoveries_total", Help: "What recovery decided about live VMs after a daemon start: adopted or lost.",
		}, []string{"outcome"}),
		stopStarted: map[string]time.Time{},
	}
	byState := prometheus.NewDesc("lifeline_vms", "VMs by state.", []string{"state"}, nil)
	// The runtime's own figures (go_goroutines, process_open_fds): a
	// supervisor that runs for months must not grow, and the storm test
	// (tests/storm_test.go) checks both.
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.reg.MustRegister(m.transitions, m.stopSeconds, m.forced, m.recoveries, collector{desc: byState, collect: func(ch chan<- prometheus.Metric) {
		counts := map[states.State]int{}
		for _, v := range e.List() {
			counts[v.State]++
		}
		for _, s := range states.AllStates() {
			if s.Live() {
				ch <- prometheus.MustNewConstMetric(byState, prometheus.GaugeValue, float64(counts[s]), s.String())
			}
		}
	}})
	return m
}

func (m *metrics) observe(r store.Record) {
	m.transitions.WithLabelValues(r.From.String(), r.To.String()).Inc()
	switch r.Event {
	case states.Stop, states.ForceStop:
		if _, ok := m.stopStarted[r.VM]; !ok {
			m.stopStarted[r.VM] = r.Time
		}
	case states.Adopted:
		m.recoveries.WithLabelValues("adopted").Inc()
	case states.Lost:
		m.recoveries.WithLabelValues("lost").Inc()
	}
	if r.Event == states.StopTimeout || r.Event == states.ForceStop {
		m.forced.Inc()
	}
	if t, ok := m.stopStarted[r.VM]; ok && (r.To == states.Stopped || r.To == states.Broken) {
		m.stopSeconds.Observe(r.Time.Sub(t).Seconds())
		delete(m.stopStarted, r.VM)
	}
}

// serveMetrics serves /metrics on addr until ctx ends. Records from the
// engine's stream feed the counters from the moment it starts.
func serveMetrics(ctx context.Context, addr string, e *engine.Engine, from uint64) (string, error) {
	m := newMetrics(e)
	sub, err := e.Subscribe(ctx, from)
	if err != nil {
		return "", err
	}
	go func() {
		for r := range sub.C {
			m.observe(r)
		}
	}()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	return ln.Addr().String(), nil
}

type collector struct {
	desc    *prometheus.Desc
	collect func(chan<- prometheus.Metric)
}

func (c collector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c collector) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }
