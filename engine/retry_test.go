package engine

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/drivertest"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// newFailingHarness is a harness whose engine writes through a
// failingStore that works until the test calls failNow.
func newFailingHarness(t *testing.T) (*harness, *failingStore) {
	h := newHarness(t)
	var fs *failingStore
	h.wrap = func(s Store) Store { fs = &failingStore{Store: s, n: 1 << 62}; return fs }
	h.restart()
	return h, fs
}

// TestUnrecordedCrashIsRetried is issue 9 item 6: the disk fills up, then
// a Running VM's agent crashes. The crash's record fails; the observation
// is kept and retried with a capped, doubling backoff (not a busy loop),
// the VM's status and LogHealth say the log is failing and why, and once
// the disk takes writes again the crash is recorded and the VM reaped: the
// log converges to the truth without anyone stopping the VM.
func TestUnrecordedCrashIsRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, fs := newFailingHarness(t)
		h.create("vm1", drivertest.Behavior{CrashAfter: 15 * time.Second, WithVMProcess: true})
		h.ok(h.e.Start(bg, "vm1"))
		synctest.Wait()
		h.wantState("vm1", states.Running)

		fs.failNow()
		time.Sleep(15 * time.Second) // the agent crashes
		synctest.Wait()
		h.wantState("vm1", states.Running) // nothing recorded yet: the log is behind
		v, _ := h.e.Get("vm1")
		if !strings.Contains(v.Unrecorded, "agent exit") || !strings.Contains(v.Unrecorded, errInjected.Error()) {
			t.Errorf("status of vm1 does not say what is unrecorded and why: %q", v.Unrecorded)
		}
		lh := h.e.LogHealth()
		if !lh.Failing || lh.AppendFailures == 0 || lh.Unrecorded != 1 || !strings.Contains(lh.LastError, errInjected.Error()) {
			t.Errorf("log health while the disk is full: %+v", lh)
		}

		// A minute of a full disk: retries back off (100ms, 200ms, ...,
		// capped at 30s), so a handful of tries, not thousands.
		before := fs.failures()
		time.Sleep(time.Minute)
		synctest.Wait()
		tries := fs.failures() - before
		if tries < 5 || tries > 12 {
			t.Errorf("%d retries in a minute; want a doubling backoff capped at %v (about 9)", tries, RecordRetryMax)
		}
		h.wantState("vm1", states.Running)

		fs.heal()
		time.Sleep(RecordRetryMax)
		synctest.Wait()
		h.wantState("vm1", states.Broken)
		h.wantEvents("vm1", "create:Stopped", "start:Starting", "spawned:Starting", "running:Running", "crashed:Broken")
		if alive := h.drv.Alive("vm1"); len(alive) != 0 {
			t.Errorf("processes of the crashed vm left: %v", alive)
		}
		v, _ = h.e.Get("vm1")
		lh = h.e.LogHealth()
		if v.Unrecorded != "" || lh.Failing || lh.Unrecorded != 0 {
			t.Errorf("after the crash was recorded: unrecorded %q, health %+v", v.Unrecorded, lh)
		}
	})
}

// TestUnrecordedStopTimeoutIsRetried: a deadline's decision whose record
// fails (stop_timeout on a full disk) is made again after a backoff, so a
// stop whose agent ignores the interrupt still ends Stopped once the disk
// takes writes again.
func TestUnrecordedStopTimeoutIsRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, fs := newFailingHarness(t)
		h.create("vm1", drivertest.Behavior{IgnoreInterrupt: true})
		h.ok(h.e.Start(bg, "vm1"))
		synctest.Wait()
		h.ok(h.e.Stop(bg, "vm1", StopOptions{}))
		fs.failNow()
		time.Sleep(testGraceful + time.Second)
		synctest.Wait()
		h.wantState("vm1", states.Stopping)
		if v, _ := h.e.Get("vm1"); !strings.Contains(v.Unrecorded, "Stopping's decision not recorded") {
			t.Errorf("status of vm1: unrecorded %q", v.Unrecorded)
		}
		time.Sleep(10 * time.Second)
		fs.heal()
		time.Sleep(RecordRetryMax + testTerminate)
		synctest.Wait()
		h.wantState("vm1", states.Stopped)
		h.wantEvents("vm1", "create:Stopped", "start:Starting", "spawned:Starting", "running:Running", "stop:Stopping", "stop_timeout:ForceStopping", "exited:Stopped")
		if alive := h.drv.Alive("vm1"); len(alive) != 0 {
			t.Errorf("processes left: %v", alive)
		}
	})
}

// TestUnrecordedRestartPolicyIsRetried: the crash is recorded but the
// restart policy's backoff record fails; the policy's decision is retried,
// so the VM still restarts.
func TestUnrecordedRestartPolicyIsRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, fs := newFailingHarness(t)
		h.drv.Script("vm1", drivertest.Behavior{CrashAfter: 5 * time.Second})
		h.ok(h.e.Create(bg, "vm1", drivers.Spec{Restart: RestartOnFailure}))
		h.ok(h.e.Start(bg, "vm1"))
		synctest.Wait()
		fs.mu.Lock()
		fs.match = func(w store.Write) bool { return w.Record.Event == states.Backoff }
		fs.mu.Unlock()
		fs.failNow()
		time.Sleep(5 * time.Second)
		synctest.Wait()
		h.wantState("vm1", states.Broken)
		if v, _ := h.e.Get("vm1"); v.Event != states.Crashed || v.Unrecorded == "" {
			t.Fatalf("after the crash with the backoff unrecorded: %s %q", v.Event, v.Unrecorded)
		}
		h.drv.Script("vm1", drivertest.Behavior{}) // the next agent stays up
		time.Sleep(2 * time.Second)
		fs.heal()
		time.Sleep(RecordRetryMax + DefaultRestartBackoff)
		synctest.Wait()
		h.wantState("vm1", states.Running)
		h.wantEvents("vm1", "create:Stopped", "start:Starting", "spawned:Starting", "running:Running", "crashed:Broken", "backoff:Broken", "restart:Starting", "spawned:Starting", "running:Running")
	})
}

// TestRecordRetryEndsWithClose: Close (and so the daemon's shutdown) ends
// a retry that waits for the disk: nothing is tried after it, and no
// goroutine or timer of the engine is left (synctest fails otherwise).
func TestRecordRetryEndsWithClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, fs := newFailingHarness(t)
		h.create("vm1", drivertest.Behavior{CrashAfter: time.Second})
		h.ok(h.e.Start(bg, "vm1"))
		synctest.Wait()
		fs.failNow()
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if h.e.LogHealth().Unrecorded != 1 {
			t.Fatalf("no retry pending: %+v", h.e.LogHealth())
		}
		h.must(h.e.Close())
		n := fs.failures()
		time.Sleep(10 * RecordRetryMax)
		synctest.Wait()
		if got := fs.failures(); got != n {
			t.Errorf("%d appends tried after Close", got-n)
		}
	})
}

func TestRetryDelay(t *testing.T) {
	for tries, want := range map[int]time.Duration{1: RecordRetryMin, 2: 2 * RecordRetryMin, 9: 25600 * time.Millisecond, 10: RecordRetryMax, 1000: RecordRetryMax} {
		if got := retryDelay(tries); got != want {
			t.Errorf("retryDelay(%d) = %v, want %v", tries, got, want)
		}
	}
}
