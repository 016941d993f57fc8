package metrics

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lifeline-vm/lifeline/drivers/drivertest"
	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// newTestMetrics is a metrics set over an engine with no VMs.
func newTestMetrics(t *testing.T) *metrics {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e, err := engine.Open(context.Background(), engine.Options{Store: st, Driver: drivertest.New()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return newMetrics(e, "v1.2.3")
}

// TestMetricsTransitionEventAndBuildInfo is issue 12 item 15: crashed, lost
// and start_failed all lead to Broken, and the transitions' event label
// tells them apart; lifeline_build_info names the version, the VCS
// revision and the Go version; the Go and process collectors are there.
func TestMetricsTransitionEventAndBuildInfo(t *testing.T) {
	m := newTestMetrics(t)
	for _, r := range []store.Record{
		{VM: "a", Event: states.Crashed, From: states.Running, To: states.Broken},
		{VM: "b", Event: states.Lost, From: states.Running, To: states.Broken},
		{VM: "c", Event: states.Lost, From: states.Running, To: states.Broken},
		{VM: "d", Event: states.StartFailed, From: states.Starting, To: states.Broken},
	} {
		m.observe(r)
	}
	for _, c := range []struct {
		from, event string
		want        float64
	}{{"Running", "crashed", 1}, {"Running", "lost", 2}, {"Starting", "start_failed", 1}} {
		if got := testutil.ToFloat64(m.transitions.WithLabelValues(c.from, "Broken", c.event)); got != c.want {
			t.Errorf("%s→Broken by %s: %v, want %v", c.from, c.event, got, c.want)
		}
	}
	lines := scrape(t, m)
	var info string
	for _, l := range lines {
		if strings.HasPrefix(l, "lifeline_build_info{") {
			info = l
		}
	}
	for _, want := range []string{`version="v1.2.3"`, `revision="`, `goversion="` + runtime.Version() + `"`} {
		if !strings.Contains(info, want) || !strings.HasSuffix(info, "} 1") {
			t.Errorf("lifeline_build_info %q lacks %s or is not 1", info, want)
		}
	}
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "lifeline_store_append_failing"} {
		if gauge(t, m, name) < 0 {
			t.Errorf("%s is not exported", name)
		}
	}
	if runtime.GOOS == "linux" && gauge(t, m, "process_open_fds") < 0 {
		t.Error("process_open_fds is not exported")
	}
}

// TestMetricsPassPromtool runs `promtool check metrics` (Prometheus's own
// linter: names, units, help, counters ending in _total) on a scrape with
// every series present. CI (LIFELINE_CI=1) installs promtool
// (.ci/promtool-setup.sh) and fails when it is missing.
func TestMetricsPassPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("LIFELINE_CI") == "1" {
			t.Fatalf("promtool is not on PATH and LIFELINE_CI=1: run .ci/promtool-setup.sh (%v)", err)
		}
		t.Skip("promtool is not on PATH (Debian: the prometheus package; .ci/promtool-setup.sh); CI runs this test")
	}
	m := newTestMetrics(t)
	m.observe(store.Record{VM: "a", Event: states.Stop, From: states.Running, To: states.Stopping})
	m.observe(store.Record{VM: "a", Event: states.Exited, From: states.Stopping, To: states.Stopped})
	m.observe(store.Record{VM: "b", Event: states.Lost, From: states.Running, To: states.Broken})
	body := strings.Join(scrape(t, m), "\n")
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s\nscrape:\n%s", err, out.String(), body)
	}
	if s := strings.TrimSpace(out.String()); s != "" {
		t.Errorf("promtool check metrics found problems:\n%s", s)
	}
}
