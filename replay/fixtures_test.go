package replay_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/drivertest"
	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/store"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var bg = context.Background()

// The fixtures' engine timeouts: short, distinct numbers, as in the
// engine's own tests.
const (
	testGraceful  = 7 * time.Second
	testStart     = 11 * time.Second
	testTerminate = 3 * time.Second
)

// rig is an engine over a real bbolt file and the scripted driver, run by
// a test inside synctest.Test: every timer is virtual, and time starts at
// 2000-01-01 00:00:00 UTC.
type rig struct {
	t    testing.TB
	path string
	st   *store.Store
	e    *engine.Engine
	drv  *drivertest.Driver
	wrap func(engine.Store) engine.Store
}

func newRig(t testing.TB, path string) *rig {
	h := &rig{t: t, path: path, drv: drivertest.New()}
	h.open()
	return h
}

func (h *rig) open() {
	h.t.Helper()
	st, err := store.Open(h.path, store.Options{NoSync: true})
	if err != nil {
		h.t.Fatalf("open store: %v", err)
	}
	h.st = st
	var log engine.Store = st
	if h.wrap != nil {
		log = h.wrap(st)
	}
	// One VM recovers at a time, in name order: the fixtures' records come
	// in the same order on every run, for the golden files.
	e, err := engine.Open(bg, engine.Options{Store: log, Driver: h.drv, GracefulTimeout: testGraceful, StartTimeout: testStart, TerminateGrace: testTerminate, RecoveryParallelism: 1})
	if err != nil {
		h.t.Fatalf("open engine: %v", err)
	}
	h.e = e
}

// crash drops the engine and the store as a killed daemon would: the boot
// stays unclosed, agents live on.
func (h *rig) crash() {
	h.e.Close()
	if err := h.st.Crash(); err != nil {
		h.t.Fatal(err)
	}
}

func (h *rig) restart() {
	h.crash()
	h.open()
}

// close is a clean stop of the daemon that leaves agents running.
func (h *rig) close() {
	h.e.Close()
	if err := h.st.Close(); err != nil {
		h.t.Fatal(err)
	}
}

func (h *rig) ok(_ store.Record, err error) {
	h.t.Helper()
	if err != nil {
		h.t.Fatal(err)
	}
}

// until sleeps until the virtual clock reads t seconds after the start,
// and lets everything due happen.
func until(t0 time.Time, s float64) {
	time.Sleep(time.Until(t0.Add(time.Duration(s * float64(time.Second)))))
	synctest.Wait()
}

// lifecycle is the engine's own golden lifecycle (engine/crash_test.go):
// a full life of vm1, whose agent ignores SIGINT. Command errors are
// ignored: under an injected store failure they fail, as a dying daemon's
// would.
func lifecycle(h *rig) {
	_, _ = h.e.Create(bg, "vm1", drivers.Spec{})
	_, _ = h.e.Start(bg, "vm1")
	synctest.Wait()
	_, _ = h.e.Stop(bg, "vm1", engine.StopOptions{})
	time.Sleep(testGraceful)
	synctest.Wait()
	_, _ = h.e.Start(bg, "vm1")
	synctest.Wait()
	_, _ = h.e.Stop(bg, "vm1", engine.StopOptions{Force: true})
	synctest.Wait()
	_, _ = h.e.Delete(bg, "vm1")
	synctest.Wait()
}

// buildLifecycle is the engine's golden lifecycle, one clean boot.
func buildLifecycle(t *testing.T, path string) {
	synctest.Test(t, func(t *testing.T) {
		h := newRig(t, path)
		h.drv.Script("vm1", drivertest.Behavior{IgnoreInterrupt: true})
		lifecycle(h)
		h.close()
	})
}

// buildIncident is the post-mortem case: three VMs and three boots.
//
//   - vm1's agent ignores SIGINT and SIGTERM and survives SIGKILL. It is
//     asked to stop at 00:00:02 (graceful deadline 00:00:09); the daemon
//     crashes at 00:00:04 and comes back at 00:00:05; recovery resumes the
//     stop, escalates at the recorded deadline, and the kill at 00:00:12
//     fails: vm1 ends Broken.
//   - vm2 starts (running after 1s), is adopted after the crash, is
//     stopped at 00:00:40 and deleted in boot 3.
//   - vm3 is adopted too, crashes at 00:00:30 (Broken), is reset and
//     started again at 00:00:45, and stopped by the daemon's clean
//     shutdown at 00:00:50.
func buildIncident(t *testing.T, path string) {
	synctest.Test(t, func(t *testing.T) {
		t0 := time.Now()
		h := newRig(t, path)
		h.drv.Script("vm1", drivertest.Behavior{IgnoreInterrupt: true, IgnoreTerminate: true, SurviveKill: true})
		h.drv.Script("vm2", drivertest.Behavior{RunningAfter: time.Second})
		h.drv.Script("vm3", drivertest.Behavior{CrashAfter: 30 * time.Second, WithVMProcess: true})
		for _, vm := range []string{"vm1", "vm2", "vm3"} {
			h.ok(h.e.Create(bg, vm, drivers.Spec{Template: []byte("# " + vm + "\n")}))
		}
		for _, vm := range []string{"vm1", "vm2", "vm3"} {
			h.ok(h.e.Start(bg, vm))
			synctest.Wait()
		}
		until(t0, 2)
		h.ok(h.e.Stop(bg, "vm1", engine.StopOptions{}))
		until(t0, 4)
		h.crash()
		until(t0, 5)
		h.open()
		until(t0, 40)
		h.ok(h.e.Stop(bg, "vm2", engine.StopOptions{}))
		until(t0, 45)
		h.drv.Script("vm3", drivertest.Behavior{})
		h.ok(h.e.Reset(bg, "vm3"))
		h.ok(h.e.Start(bg, "vm3"))
		until(t0, 50)
		if err := h.e.Shutdown(bg); err != nil {
			t.Fatal(err)
		}
		if err := h.st.Close(); err != nil {
			t.Fatal(err)
		}
		until(t0, 55)
		h.open()
		until(t0, 60)
		h.ok(h.e.Delete(bg, "vm2"))
		until(t0, 61)
		h.close()
	})
}

// buildRestarts is the restart policy at work: vm1 (restart on-failure)
// crashes 2s after each start; the engine restarts it after a doubling
// backoff, the daemon crashes during one backoff and its successor keeps
// the recorded restart time, and after the limit the VM stays Broken.
func buildRestarts(t *testing.T, path string) {
	synctest.Test(t, func(t *testing.T) {
		t0 := time.Now()
		h := newRig(t, path)
		h.drv.Script("vm1", drivertest.Behavior{CrashAfter: 2 * time.Second})
		h.ok(h.e.Create(bg, "vm1", drivers.Spec{Restart: engine.RestartOnFailure}))
		h.ok(h.e.Start(bg, "vm1"))
		until(t0, 6) // crash at 2, restart at 3, crash at 5, backoff until 7
		h.crash()
		until(t0, 6.5)
		h.open()
		until(t0, 120)
		h.close()
	})
}

// failingStore fails every Append after the first n, as the engine's
// crash-point suite does; with afterWrite the first failing append still
// commits (the ack is lost).
type failingStore struct {
	engine.Store
	mu         sync.Mutex
	n, writes  int
	afterWrite bool
}

var errInjected = errors.New("injected store failure")

func (f *failingStore) Append(ctx context.Context, w store.Write) (store.Record, error) {
	f.mu.Lock()
	f.writes++
	fail := f.writes > f.n
	first := f.writes == f.n+1
	f.mu.Unlock()
	if !fail {
		return f.Store.Append(ctx, w)
	}
	if f.afterWrite && first {
		if _, err := f.Store.Append(ctx, w); err != nil {
			return store.Record{}, err
		}
	}
	return store.Record{}, errInjected
}

// buildCrashPoint is one history of the engine's crash-point suite
// (engine/crash_test.go): the lifecycle with the store failing after n
// writes, a crash, recovery, and every deadline passed.
func buildCrashPoint(t *testing.T, path string, n int, ackLost bool) {
	synctest.Test(t, func(t *testing.T) {
		h := newRig(t, path)
		h.drv.Script("vm1", drivertest.Behavior{IgnoreInterrupt: true})
		h.wrap = func(s engine.Store) engine.Store { return &failingStore{Store: s, n: n, afterWrite: ackLost} }
		h.restart()
		lifecycle(h)
		h.wrap = nil
		h.restart()
		time.Sleep(testStart + testGraceful + testTerminate)
		synctest.Wait()
		h.close()
	})
}

// lifecycleWrites is how many writes the lifecycle makes.
const lifecycleWrites = 13

// fixtures caches the databases the tests share, built once per run.
var fixtures struct {
	sync.Mutex
	dir   string
	paths map[string]string
}

// fixture returns a fresh copy of the named fixture database, in t's temp
// dir: "lifecycle", "incident", or "crash-N" / "crash-N-acklost".
func fixture(t *testing.T, name string) string {
	t.Helper()
	fixtures.Lock()
	defer fixtures.Unlock()
	if fixtures.paths == nil {
		fixtures.paths = make(map[string]string)
	}
	src, ok := fixtures.paths[name]
	if !ok {
		if fixtures.dir == "" {
			dir, err := os.MkdirTemp("", "lifeline-replay-fixtures-")
			if err != nil {
				t.Fatal(err)
			}
			fixtures.dir = dir
		}
		src = filepath.Join(fixtures.dir, name+".db")
		var n int
		var ackLost bool
		switch {
		case name == "lifecycle":
			buildLifecycle(t, src)
		case name == "incident":
			buildIncident(t, src)
		case name == "restarts":
			buildRestarts(t, src)
		case scanCrash(name, &n, &ackLost):
			buildCrashPoint(t, src, n, ackLost)
		default:
			t.Fatalf("no fixture %q", name)
		}
		fixBootPIDs(t, src)
		fixtures.paths[name] = src
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), name+".db")
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dst
}

func scanCrash(name string, n *int, ackLost *bool) bool {
	if _, err := fmt.Sscanf(name, "crash-%d-acklost", n); err == nil {
		*ackLost = true
		return true
	}
	_, err := fmt.Sscanf(name, "crash-%d", n)
	return err == nil
}

func TestMain(m *testing.M) {
	if path := os.Getenv(holdLockEnv); path != "" {
		os.Exit(holdLock(path))
	}
	code := m.Run()
	if fixtures.dir != "" {
		os.RemoveAll(fixtures.dir)
	}
	os.Exit(code)
}
