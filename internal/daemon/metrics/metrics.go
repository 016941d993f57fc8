// Package metrics is the daemon's Prometheus metrics (lifelined
// --metrics-addr): transitions by event, causes, stop durations, forced
// stops, recoveries, lifeline_build_info, the log's health, and Go's and the
// process's collectors, all fed by the engine's record stream.
//
// It is a package of its own so that only lifelined links Prometheus: the
// daemon (internal/daemon) takes Serve as Config.ServeMetrics, and the CLI,
// which runs the daemon only for its demo, leaves it out (its init alone
// cost every CLI command ~1.7 ms).
package metrics

import (
	"context"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"strings"
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
	causes      *prometheus.CounterVec
	stopSeconds prometheus.Histogram
	forced      prometheus.Counter
	recoveries  *prometheus.CounterVec
	stopStarted map[string]time.Time
}

func newMetrics(e *engine.Engine, version string) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lifeline_transitions_total", Help: "Recorded transitions, by from state, to state and event (crashed, lost and start_failed all lead to Broken).",
		}, []string{"from", "to", "event"}),
		causes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lifeline_transition_causes_total", Help: "Recorded transitions, by event and the kind of their cause (agent_exit, start_deadline, ...).",
		}, []string{"event", "cause"}),
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
	m.reg.MustRegister(logHealthCollector(e), buildInfo(version))
	byState := prometheus.NewDesc("lifeline_vms", "VMs by state.", []string{"state"}, nil)
	// The runtime's own figures (go_goroutines, process_open_fds): a
	// supervisor that runs for months must not grow, and the storm test
	// (tests/storm_test.go) checks both.
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.reg.MustRegister(m.transitions, m.causes, m.stopSeconds, m.forced, m.recoveries, collector{desc: byState, collect: func(ch chan<- prometheus.Metric) {
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
	m.transitions.WithLabelValues(r.From.String(), r.To.String(), r.Event.String()).Inc()
	m.causes.WithLabelValues(r.Event.String(), r.Cause.Kind.String()).Inc()
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

// Serve serves /metrics on addr until ctx ends and returns the address it
// listens on. Records from the engine's stream from seq from on feed the
// counters. It is internal/daemon's Config.ServeMetrics.
func Serve(ctx context.Context, addr string, e *engine.Engine, from uint64, version string) (string, error) {
	m := newMetrics(e, version)
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

// buildInfo is lifeline_build_info: 1, labelled with the daemon's version
// (Config.Version, else the module's), its VCS revision and the Go version
// it was built with, from the binary's build info ("unknown" when absent).
func buildInfo(version string) prometheus.Collector {
	revision, goversion := "unknown", runtime.Version()
	if bi, ok := debug.ReadBuildInfo(); ok {
		if version == "" || version == "dev" {
			if v := bi.Main.Version; v != "" {
				version = v
			}
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && s.Value != "" {
				revision = s.Value
			}
		}
	}
	if version == "" {
		version = "unknown"
	}
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "lifeline_build_info",
		Help:        "1, labelled with the daemon's version, VCS revision and Go version.",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision, "goversion": goversion},
	}, func() float64 { return 1 })
}

// maxErrorLabel bounds the error text of lifeline_store_append_last_error.
const maxErrorLabel = 256

// logHealthCollector reports how the engine's appends to the log fare: a
// full or read-only disk shows here as failures, a failing flag, the last
// error and the observations waiting for a retry.
func logHealthCollector(e *engine.Engine) prometheus.Collector {
	failures := prometheus.NewDesc("lifeline_store_append_failures_total", "Appends to the log that failed since the daemon started.", nil, nil)
	failing := prometheus.NewDesc("lifeline_store_append_failing", "1 when the latest append to the log failed.", nil, nil)
	pending := prometheus.NewDesc("lifeline_unrecorded_observations", "Observations and deadline decisions whose record failed, waiting for a retry.", nil, nil)
	lastAt := prometheus.NewDesc("lifeline_store_append_last_failure_timestamp_seconds", "When the latest failed append failed (Unix time); absent if none failed.", nil, nil)
	lastErr := prometheus.NewDesc("lifeline_store_append_last_error", "1, labelled with the latest failed append's error, while the log is failing.", []string{"error"}, nil)
	return multiCollector{descs: []*prometheus.Desc{failures, failing, pending, lastAt, lastErr}, collect: func(ch chan<- prometheus.Metric) {
		h := e.LogHealth()
		ch <- prometheus.MustNewConstMetric(failures, prometheus.CounterValue, float64(h.AppendFailures))
		ch <- prometheus.MustNewConstMetric(failing, prometheus.GaugeValue, boolValue(h.Failing))
		ch <- prometheus.MustNewConstMetric(pending, prometheus.GaugeValue, float64(h.Unrecorded))
		if !h.LastErrorTime.IsZero() {
			ch <- prometheus.MustNewConstMetric(lastAt, prometheus.GaugeValue, float64(h.LastErrorTime.UnixNano())/1e9)
		}
		if h.Failing || h.Unrecorded > 0 {
			msg := h.LastError
			if len(msg) > maxErrorLabel {
				msg = msg[:maxErrorLabel]
			}
			ch <- prometheus.MustNewConstMetric(lastErr, prometheus.GaugeValue, 1, strings.ToValidUTF8(msg, "?"))
		}
	}}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

type multiCollector struct {
	descs   []*prometheus.Desc
	collect func(chan<- prometheus.Metric)
}

func (c multiCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}
func (c multiCollector) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }

type collector struct {
	desc    *prometheus.Desc
	collect func(chan<- prometheus.Metric)
}

func (c collector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c collector) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }
