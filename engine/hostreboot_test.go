package engine

import (
	"context"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/drivertest"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// openOnHost opens h's store and engine as a daemon on the host boot
// hostBoot does: the boot record carries it, and the engine gets the
// previous boot's and this one's, from the boot records.
func (h *harness) openOnHost(hostBoot string) {
	h.t.Helper()
	st, err := store.Open(h.path, store.Options{NoSync: true, BootInfo: store.BootInfo{HostBootID: hostBoot}})
	if err != nil {
		h.t.Fatalf("open store: %v", err)
	}
	boots, err := st.Boots()
	if err != nil {
		h.t.Fatalf("boots: %v", err)
	}
	var prev string
	if n := len(boots); n >= 2 {
		prev = boots[n-2].HostBootID
	}
	h.st, h.log = st, st
	e, err := Open(context.Background(), Options{
		Store:           st,
		Driver:          h.drv,
		GracefulTimeout: testGraceful,
		StartTimeout:    testStart,
		TerminateGrace:  testTerminate,
		PrevHostBootID:  prev,
		HostBootID:      hostBoot,
	})
	if err != nil {
		h.t.Fatalf("open engine: %v", err)
	}
	h.e = e
}

// TestHostRebootRecordsLostAndRestarts is issue 11 item 6's "after a
// reboot": the host went down under a daemon with a Running VM of
// --restart on-failure, a Running VM without a policy and a Starting VM;
// the daemon starts on the host's next boot (a changed boot id). Each live
// VM is recorded lost because the host rebooted, not "agent pid N is
// gone", and the on-failure VM comes back: backoff, restart, Running.
func TestHostRebootRecordsLostAndRestarts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.e.Close()
		h.st.Close()
		h.openOnHost("boot-a")
		h.ok(h.e.Create(bg, "keep", drivers.Spec{Restart: RestartOnFailure}))
		h.ok(h.e.Create(bg, "plain", drivers.Spec{}))
		h.drv.Script("booting", drivertest.Behavior{NeverRunning: true})
		h.ok(h.e.Create(bg, "booting", drivers.Spec{}))
		for _, vm := range []string{"keep", "plain"} {
			h.ok(h.e.Start(bg, vm))
		}
		synctest.Wait()
		h.ok(h.e.Start(bg, "booting"))
		synctest.Wait()
		h.wantState("keep", states.Running)
		h.wantState("booting", states.Starting)
		for _, vm := range []string{"keep", "plain", "booting"} {
			h.drv.Kill(vm) // the host went down: every process with it
		}
		h.crash()
		h.openOnHost("boot-b")
		synctest.Wait()
		for _, vm := range []string{"keep", "plain", "booting"} {
			var lost *store.Record
			for _, r := range h.records(vm) {
				if r.Event == states.Lost {
					lost = &r
				}
			}
			if lost == nil {
				t.Fatalf("vm %s: no lost record after the host reboot\n%s", vm, h.logText(vm))
			}
			if !strings.Contains(lost.Reason, "host rebooted") || !strings.Contains(lost.Reason, "boot-a") || !strings.Contains(lost.Reason, "boot-b") {
				t.Errorf("vm %s: lost %q, want the host reboot (boot id boot-a, now boot-b)", vm, lost.Reason)
			}
		}
		h.wantState("plain", states.Broken)
		h.wantState("booting", states.Broken)
		v, err := h.e.Get("keep")
		h.must(err)
		if v.Event != states.Backoff || v.Deadline.IsZero() {
			t.Fatalf("keep: head %s %q, want a backoff with a due restart\n%s", v.Event, v.Reason, h.logText("keep"))
		}
		time.Sleep(time.Until(v.Deadline))
		synctest.Wait()
		h.wantState("keep", states.Running)
		h.wantEvents("keep", "create:Stopped", "start:Starting", "spawned:Starting", "running:Running",
			"lost:Broken", "backoff:Broken", "restart:Starting", "spawned:Starting", "running:Running")
	})
}

// TestSameHostBootRecordsAgentGone: a daemon restarted on the same host
// boot (or one that cannot tell) keeps the old reason, naming the pid.
func TestSameHostBootRecordsAgentGone(t *testing.T) {
	for _, boots := range [][2]string{{"boot-a", "boot-a"}, {"", "boot-a"}, {"boot-a", ""}} {
		synctest.Test(t, func(t *testing.T) {
			h := newHarness(t)
			h.e.Close()
			h.st.Close()
			h.openOnHost(boots[0])
			h.ok(h.e.Create(bg, "vm1", drivers.Spec{}))
			h.ok(h.e.Start(bg, "vm1"))
			synctest.Wait()
			h.drv.Kill("vm1")
			h.crash()
			h.openOnHost(boots[1])
			synctest.Wait()
			v, err := h.e.Get("vm1")
			h.must(err)
			if v.Event != states.Lost || !strings.HasPrefix(v.Reason, "recovery: agent pid ") || strings.Contains(v.Reason, "rebooted") {
				t.Errorf("host boot %q then %q: head %s %q, want lost \"recovery: agent pid N is gone\"", boots[0], boots[1], v.Event, v.Reason)
			}
		})
	}
}

// failFirstBackoff fails the first backoff record only, as a disk that
// refused one write.
type failFirstBackoff struct {
	Store
	mu     sync.Mutex
	failed bool
}

func (f *failFirstBackoff) Append(ctx context.Context, w store.Write) (store.Record, error) {
	f.mu.Lock()
	fail := !f.failed && w.Record.Event == states.Backoff
	f.failed = f.failed || fail
	f.mu.Unlock()
	if fail {
		return store.Record{}, errInjected
	}
	return f.Store.Append(ctx, w)
}

// A Running VM with --restart on-failure that recovery records lost (its
// host rebooted) comes back even when the policy's backoff record fails
// once: the decision is retried, as after a crash.
func TestLostRunningVMRetriesItsBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.ok(h.e.Create(bg, "vm1", drivers.Spec{Restart: RestartOnFailure}))
		h.ok(h.e.Start(bg, "vm1"))
		synctest.Wait()
		h.wantState("vm1", states.Running)
		h.drv.Kill("vm1")
		h.wrap = func(s Store) Store { return &failFirstBackoff{Store: s} }
		h.restart()
		synctest.Wait()
		time.Sleep(time.Minute)
		synctest.Wait()
		h.wantState("vm1", states.Running)
		h.wantEvents("vm1", "create:Stopped", "start:Starting", "spawned:Starting", "running:Running",
			"lost:Broken", "backoff:Broken", "restart:Starting", "spawned:Starting", "running:Running")
	})
}

// A daemon that died after recording a Running VM lost and before the
// restart policy's backoff (here: every backoff write failed until it
// died) leaves the decision to the next one, as for a crash; a VM lost
// while Starting is not restarted.
func TestRecoveryAppliesRestartPolicyAfterUnrecordedBackoffOfALoss(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.drv.Script("booting", drivertest.Behavior{NeverRunning: true})
		h.ok(h.e.Create(bg, "vm1", drivers.Spec{Restart: RestartOnFailure}))
		h.ok(h.e.Create(bg, "booting", drivers.Spec{Restart: RestartOnFailure}))
		h.ok(h.e.Start(bg, "vm1"))
		h.ok(h.e.Start(bg, "booting"))
		synctest.Wait()
		h.wantState("vm1", states.Running)
		h.wantState("booting", states.Starting)
		h.drv.Kill("vm1")
		h.drv.Kill("booting")
		h.wrap = func(s Store) Store {
			return &failingStore{Store: s, match: func(w store.Write) bool { return w.Record.Event == states.Backoff }}
		}
		h.restart()
		synctest.Wait()
		v, err := h.e.Get("vm1")
		h.must(err)
		if v.State != states.Broken || v.Event != states.Lost {
			t.Fatalf("after the loss: %s by %s, want Broken by lost\n%s", v.State, v.Event, h.logText("vm1"))
		}
		h.wrap = nil
		h.restart()
		synctest.Wait()
		time.Sleep(time.Minute)
		synctest.Wait()
		h.wantState("vm1", states.Running)
		h.wantEvents("vm1", "create:Stopped", "start:Starting", "spawned:Starting", "running:Running",
			"lost:Broken", "backoff:Broken", "restart:Starting", "spawned:Starting", "running:Running")
		h.wantEvents("booting", "create:Stopped", "start:Starting", "spawned:Starting", "lost:Broken")
	})
}
