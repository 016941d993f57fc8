package engine

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lifeline-vm/lifeline/drivers/drivertest"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// lifecycle is a full start/stop/force/delete life of one VM whose agent
// ignores SIGINT. It ignores command errors: under an injected store
// failure, every command after the Nth write fails, as a dying daemon's
// would.
func lifecycle(h *harness) {
	_, _ = h.e.Create(bg, "vm1", specOf())
	_, _ = h.e.Start(bg, "vm1")
	synctest.Wait()
	_, _ = h.e.Stop(bg, "vm1", StopOptions{}) // ignored → stop_timeout → terminate → exited
	time.Sleep(testGraceful)
	synctest.Wait()
	_, _ = h.e.Start(bg, "vm1")
	synctest.Wait()
	_, _ = h.e.Stop(bg, "vm1", StopOptions{Force: true})
	synctest.Wait()
	_, _ = h.e.Delete(bg, "vm1")
	synctest.Wait()
}

// golden renders a VM's log with times relative to the first record.
func golden(recs []store.Record) string {
	var b strings.Builder
	for _, r := range recs {
		fmt.Fprintf(&b, "%d %-13s %-13s → %-13s +%-5v boot=%d pid=%d", r.VMSeq, r.Event, r.From, r.To, r.Time.Sub(recs[0].Time), r.Boot, r.Agent.PID)
		if !r.Deadline.IsZero() {
			fmt.Fprintf(&b, " deadline=+%v", r.Deadline.Sub(recs[0].Time))
		}
		if r.Reason != "" {
			fmt.Fprintf(&b, " reason=%q", r.Reason)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./engine -update)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from golden (go test ./engine -run %s -update to accept):\n--- got\n%s--- want\n%s", name, t.Name(), got, want)
	}
}

func TestLifecycleGolden(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.drv.Script("vm1", drivertest.Behavior{IgnoreInterrupt: true})
		lifecycle(h)
		h.wantState("vm1", states.Absent)
		checkGolden(t, "lifecycle.golden", golden(h.records("vm1")))
		if err := h.st.Check(); err != nil {
			t.Errorf("log does not verify: %v", err)
		}
	})
}

// TestCrashAtEveryWrite runs the lifecycle with the store failing after the
// Nth write, for every N, in two ways (the write is lost; the write commits
// but its caller never hears), then crashes and recovers. Recovery must
// converge to the state the log implies, leave nothing running that the
// log does not justify, and never repeat a side effect the log does not
// ask for.
func TestCrashAtEveryWrite(t *testing.T) {
	var total int
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.drv.Script("vm1", drivertest.Behavior{IgnoreInterrupt: true})
		fs := &failingStore{Store: h.st, n: 1 << 30}
		h.e.Close()
		e, err := Open(bg, Options{Store: fs, Driver: h.drv, GracefulTimeout: testGraceful, StartTimeout: testStart, TerminateGrace: testTerminate})
		h.must(err)
		h.e = e
		lifecycle(h)
		total = fs.writes
	})
	if total < 10 {
		t.Fatalf("the lifecycle made only %d writes", total)
	}
	var summary strings.Builder
	for n := 0; n <= total; n++ {
		for _, afterWrite := range []bool{false, true} {
			name := fmt.Sprintf("n=%d/acklost=%v", n, afterWrite)
			t.Run(name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					h := newHarness(t)
					h.drv.Script("vm1", drivertest.Behavior{IgnoreInterrupt: true})
					h.wrap = func(s Store) Store { return &failingStore{Store: s, n: n, afterWrite: afterWrite} }
					h.restart()
					lifecycle(h)
					before := headState(h)
					aliveAtCrash := len(h.drv.Alive("vm1")) > 0
					h.wrap = nil
					h.restart()
					time.Sleep(testStart + testGraceful + testTerminate)
					synctest.Wait()
					after := h.state("vm1")
					if after.InFlight() {
						t.Fatalf("vm1 still %s after recovery and every deadline\n%s", after, h.logText("vm1"))
					}
					if want := converged(before, aliveAtCrash); after != want {
						t.Errorf("log said %s before the crash; recovery ended in %s, want %s\n%s", before, after, want, h.logText("vm1"))
					}
					alive := len(h.drv.Alive("vm1"))
					if (after == states.Running) != (alive == 1) || alive > 1 {
						t.Errorf("vm1 is %s with %d live agents", after, alive)
					}
					starts := 0
					for _, r := range h.records("vm1") {
						if r.Event == states.Start {
							starts++
						}
					}
					if spawns := h.drv.Count("vm1", "Spawn"); spawns > starts {
						t.Errorf("%d spawns for %d start records", spawns, starts)
					}
					if err := h.st.Check(); err != nil {
						t.Errorf("log does not verify: %v", err)
					}
					if !afterWrite {
						fmt.Fprintf(&summary, "n=%-2d log=%-13s agent alive=%-5v after recovery=%s\n", n, before, aliveAtCrash, after)
					}
				})
			})
		}
	}
	t.Logf("tried %d crash points", 2*(total+1))
	checkGolden(t, "crashpoints.golden", summary.String())
}

func headState(h *harness) states.State {
	hd, ok, err := h.st.Head("vm1")
	if err != nil || !ok {
		return states.Absent
	}
	return hd.State
}

// converged is where a VM logged in s ends after recovery and every
// deadline (DESIGN.md's recovery table), for the lifecycle's agent: it
// ignores SIGINT, dies on SIGTERM or SIGKILL, never crashes. An agent is
// not alive in Starting when the crash came after the start record but
// before the spawn: the log's intent was never carried out.
func converged(s states.State, alive bool) states.State {
	switch s {
	case states.Starting, states.Running:
		if alive {
			return states.Running // adopted, or seen running
		}
		return states.Broken // lost
	case states.Stopping, states.ForceStopping:
		return states.Stopped
	}
	return s
}
