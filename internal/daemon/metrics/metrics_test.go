package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/drivertest"
	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/server"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

func TestMetricsFollowTheLog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		st, err := store.Open(filepath.Join(t.TempDir(), "db"), store.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		drv := drivertest.New()
		drv.Script("stubborn", drivertest.Behavior{IgnoreInterrupt: true})
		e, err := engine.Open(ctx, engine.Options{Store: st, Driver: drv, GracefulTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		m := newMetrics(e, "test")
		sub, err := e.Subscribe(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for r := range sub.C {
				m.observe(r)
			}
		}()
		for _, vm := range []string{"good", "stubborn"} {
			if _, err := e.Create(ctx, vm, drivers.Spec{}); err != nil {
				t.Fatal(err)
			}
			if _, err := e.Start(ctx, vm); err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait()
		for _, vm := range []string{"good", "stubborn"} {
			if _, err := e.Stop(ctx, vm, engine.StopOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(6 * time.Second)
		synctest.Wait()
		if got := testutil.ToFloat64(m.forced); got != 1 {
			t.Errorf("forced stops %v, want 1", got)
		}
		if got := testutil.ToFloat64(m.transitions.WithLabelValues("Stopping", "Stopped", "exited")); got != 1 {
			t.Errorf("Stopping→Stopped %v, want 1 (the good one)", got)
		}
		// Why, by the cause's kind: the stubborn one's graceful deadline
		// passed; both were asked to stop, and both agents exited (the
		// stubborn one at SIGTERM).
		for _, c := range []struct {
			event, cause string
			want         float64
		}{{"stop", "requested", 2}, {"stop_timeout", "graceful_deadline", 1}, {"exited", "agent_exit", 2}} {
			if got := testutil.ToFloat64(m.causes.WithLabelValues(c.event, c.cause)); got != c.want {
				t.Errorf("%s by %s: %v, want %v", c.event, c.cause, got, c.want)
			}
		}
		mfs, err := m.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "lifeline_stop_duration_seconds" {
				h := mf.GetMetric()[0].GetHistogram()
				// Two stops: the good one at once, the stubborn one at its
				// 5 s deadline.
				if h.GetSampleCount() != 2 || h.GetSampleSum() < 5 || h.GetSampleSum() > 5.5 {
					t.Errorf("stop durations: %d samples, sum %vs", h.GetSampleCount(), h.GetSampleSum())
				}
			}
		}
		expected := `
# HELP lifeline_vms VMs by state.
# TYPE lifeline_vms gauge
lifeline_vms{state="Broken"} 0
lifeline_vms{state="ForceStopping"} 0
lifeline_vms{state="Running"} 0
lifeline_vms{state="Starting"} 0
lifeline_vms{state="Stopped"} 2
lifeline_vms{state="Stopping"} 0
`
		if err := testutil.GatherAndCompare(m.reg, strings.NewReader(expected), "lifeline_vms"); err != nil {
			t.Error(err)
		}
	})
}

// TestFailingLogShowsInStatusAndMetrics is issue 9 item 6's "status and
// the metrics show that the log is failing and why": a crash whose record
// fails on a full disk shows in the VM's status (the API's unrecorded
// field) and counts as a failed append, a pending unrecorded observation
// and the last error, until the disk takes writes again.
func TestFailingLogShowsInStatusAndMetrics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		st, err := store.Open(filepath.Join(t.TempDir(), "db"), store.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		log := &brokenLog{Store: st}
		drv := drivertest.New()
		drv.Script("vm1", drivertest.Behavior{CrashAfter: time.Second})
		e, err := engine.Open(ctx, engine.Options{Store: log, Driver: drv})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		m := newMetrics(e, "test")
		if _, err := e.Create(ctx, "vm1", drivers.Spec{}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Start(ctx, "vm1"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got := gauge(t, m, "lifeline_store_append_failing"); got != 0 {
			t.Errorf("failing %v before any failure", got)
		}
		log.set(errors.New("write lifeline.db: no space left on device"))
		time.Sleep(2 * time.Second)
		synctest.Wait()
		for name, want := range map[string]float64{
			"lifeline_store_append_failing":    1,
			"lifeline_unrecorded_observations": 1,
			"lifeline_store_append_last_error": 1,
		} {
			if got := gauge(t, m, name); got != want {
				t.Errorf("%s = %v while the disk is full, want %v", name, got, want)
			}
		}
		if got := gauge(t, m, "lifeline_store_append_failures_total"); got < 2 {
			t.Errorf("append failures %v after a failure and its retries", got)
		}
		if got := label(t, m, "lifeline_store_append_last_error", "error"); !strings.Contains(got, "no space left on device") {
			t.Errorf("last error label %q", got)
		}
		rec := httptest.NewRecorder()
		server.NewHandler(e, st, server.Options{}).ServeHTTP(rec, httptest.NewRequest("GET", "/v1/vms/vm1", nil))
		var status api.VM
		if err := json.Unmarshal(rec.Body.Bytes(), &status); err != nil {
			t.Fatalf("status: %v: %s", err, rec.Body)
		}
		if status.State != "Running" || !strings.Contains(status.Unrecorded, "agent exit") || !strings.Contains(status.Unrecorded, "no space left on device") {
			t.Errorf("status while the crash is unrecorded: state %s, unrecorded %q", status.State, status.Unrecorded)
		}
		log.set(nil)
		time.Sleep(engine.RecordRetryMax)
		synctest.Wait()
		for name, want := range map[string]float64{"lifeline_store_append_failing": 0, "lifeline_unrecorded_observations": 0} {
			if got := gauge(t, m, name); got != want {
				t.Errorf("%s = %v after the disk healed, want %v", name, got, want)
			}
		}
		if got := label(t, m, "lifeline_store_append_last_error", "error"); got != "" {
			t.Errorf("last error still reported after the disk healed: %q", got)
		}
		if v, _ := e.Get("vm1"); v.State != states.Broken {
			t.Errorf("vm1 is %s after the crash was recorded, want Broken", v.State)
		}
	})
}

// gauge returns the value of the metric name's first series, scraped
// the way Prometheus does, or -1 when it is absent.
func gauge(t *testing.T, m *metrics, name string) float64 {
	t.Helper()
	for _, line := range scrape(t, m) {
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		series, value := line[:i], line[i+1:]
		if series == name || strings.HasPrefix(series, name+"{") {
			v, err := strconv.ParseFloat(value, 64)
			if err != nil {
				t.Fatalf("metric line %q: %v", line, err)
			}
			return v
		}
	}
	return -1
}

// label returns the label key of the metric name's first series, or "".
func label(t *testing.T, m *metrics, name, key string) string {
	t.Helper()
	for _, line := range scrape(t, m) {
		if rest, ok := strings.CutPrefix(line, name+"{"+key+"=\""); ok {
			v, _, _ := strings.Cut(rest, "\"}")
			return v
		}
	}
	return ""
}

func scrape(t *testing.T, m *metrics) []string {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("metrics answered %d: %s", rec.Code, rec.Body)
	}
	return strings.Split(rec.Body.String(), "\n")
}

// brokenLog fails every append while broken is set, as a full disk does
// (the daemon's files_test.go has its twin).
type brokenLog struct {
	engine.Store
	mu     sync.Mutex
	broken error
}

func (b *brokenLog) set(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.broken = err
}

func (b *brokenLog) Append(ctx context.Context, w store.Write) (store.Record, error) {
	b.mu.Lock()
	err := b.broken
	b.mu.Unlock()
	if err != nil {
		return store.Record{}, err
	}
	return b.Store.Append(ctx, w)
}
