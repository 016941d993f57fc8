package recheck_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/replay/recheck"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// Issue 9, item 11 (last point): a stop that lands between a start and its
// spawned record (the command took the VM's lock before the spawn did, so
// no agent was ever spawned) is what the engine does, not a divergence.
// Both storm logs of the adversarial run had such histories, and `replay
// check` reported today's engine writing spawned where the history has
// stop.

// buildStopBeforeSpawn writes, record by record as a daemon did, vm1's
// create, start, a stop 20 ms later with no spawned in between, and the
// exited that follows at once; then a start that runs and a force stop
// 30 ms after it, again before the spawn.
func buildStopBeforeSpawn(t *testing.T, path string) {
	st, err := store.Open(path, store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().UTC().Truncate(time.Second).Add(time.Second) // after the boot's start
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	add := func(ev states.Event, from, to states.State, ms int, deadline time.Time, reason string, spec []byte) {
		t.Helper()
		if _, err := st.Append(context.Background(), store.Write{Record: store.Record{
			VM: "vm1", Event: ev, From: from, To: to, Time: at(ms), Deadline: deadline, Cause: store.ParseReason(ev, reason),
		}, Spec: spec}); err != nil {
			t.Fatal(err)
		}
	}
	add(states.Create, states.Absent, states.Stopped, 0, time.Time{}, "", []byte(`{}`))
	add(states.Start, states.Stopped, states.Starting, 1000, at(1000).Add(testStart), "", nil)
	add(states.Stop, states.Starting, states.Stopping, 1020, at(1020).Add(testGraceful), "stop requested", nil)
	add(states.Exited, states.Stopping, states.Stopped, 1020, time.Time{}, "no agent was recorded or found", nil)
	add(states.Start, states.Stopped, states.Starting, 2000, at(2000).Add(testStart), "", nil)
	add(states.ForceStop, states.Starting, states.ForceStopping, 2030, time.Time{}, "force stop requested", nil)
	add(states.Exited, states.ForceStopping, states.Stopped, 2030, time.Time{}, "force stop requested", nil)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCheckStopBetweenStartAndSpawnedIsNoDivergence(t *testing.T) {
	// A history made with the engine itself would depend on which
	// goroutine wins the VM's lock; this one is written as the storm's
	// daemon wrote it.
	for name, build := range map[string]func(*testing.T, string){
		"written": buildStopBeforeSpawn,
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "lifeline.db")
			build(t, path)
			db := openUTC(t, path)
			var recs []store.Record
			if err := db.Store().Records(1, func(r store.Record) error { recs = append(recs, r); return nil }); err != nil {
				t.Fatal(err)
			}
			stops := 0
			for i := 1; i < len(recs); i++ {
				if (recs[i].Event == states.Stop || recs[i].Event == states.ForceStop) && recs[i-1].Event == states.Start {
					stops++
				}
			}
			if stops < 2 {
				t.Fatalf("the history has %d stops right after a start, want 2: %v", stops, recs)
			}
			var b bytes.Buffer
			res, err := recheck.Check(db, &b, recheck.Options{})
			if err != nil || res.Divergence != nil || res.Matched != res.Records {
				t.Fatalf("check: %v; matched %d of %d\n%s", err, res.Matched, res.Records, b.String())
			}
		})
	}
}
