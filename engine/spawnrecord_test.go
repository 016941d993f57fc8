package engine

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lifeline-vm/lifeline/drivers/drivertest"
	"github.com/lifeline-vm/lifeline/states"
)

// Storm finding D: the spawned record fails (the disk refuses that one
// write). The agent runs and no record names it; nothing retried that
// record. It is now kept and retried like any observation: status says
// what is unrecorded meanwhile, the record is written once the log takes
// writes, and the agent is watched from then on (it reaches Running).
func TestFailedSpawnedRecordIsRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		var fs *failingStore
		// create and start commit; the third write, spawned, fails once.
		h.wrap = func(s Store) Store { fs = &failingStore{Store: s, n: 2, once: true}; return fs }
		h.restart()
		h.create("vm1", drivertest.Behavior{RunningAfter: 2 * time.Second})
		h.ok(h.e.Start(bg, "vm1"))
		synctest.Wait()
		if fs.failures() != 1 {
			t.Fatalf("%d failed appends, want the spawned record's", fs.failures())
		}
		h.wantEvents("vm1", "create:Stopped", "start:Starting")
		v, err := h.e.Get("vm1")
		h.must(err)
		if !strings.Contains(v.Unrecorded, "new process identity") {
			t.Errorf("status while the identity is unrecorded: %q; want it to say so", v.Unrecorded)
		}
		time.Sleep(RecordRetryMin)
		synctest.Wait()
		h.wantEvents("vm1", "create:Stopped", "start:Starting", "spawned:Starting")
		alive := h.drv.Alive("vm1")
		recs := h.records("vm1")
		if len(alive) != 1 || recs[2].Agent.PID != alive[0] {
			t.Fatalf("spawned names pid %d, the VM runs %v", recs[2].Agent.PID, alive)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		h.wantState("vm1", states.Running)
		v, err = h.e.Get("vm1")
		h.must(err)
		if v.Unrecorded != "" {
			t.Errorf("status once recorded: unrecorded %q", v.Unrecorded)
		}
	})
}
