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

// Storm finding C: not only a stop, any command can take a Starting VM's
// lock before the start's spawn effect does, and an update can take a
// force-stopped VM's before the tree kill. The storm's logs had an update
// between a start and its spawned (vm s7, #88), and one between a
// force_stop and its exited. These histories are
// written as such a daemon wrote them, record by record:
//
//   - start, update 20 ms later, then spawned and running: the spawn ran
//     after the update;
//   - start, update, stop: two commands before the spawn, which then never
//     ran;
//   - a force stop, then an update before its tree kill ran;
//   - start, update, force stop, update, all before the spawn.
func buildCommandsBeforeSpawn(t *testing.T, path string) {
	st, err := store.Open(path, store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().UTC().Truncate(time.Second).Add(time.Second) // after the boot's start
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	agent := store.Proc{PID: 4242, StartTime: 77, Group: 4242}
	add := func(ev states.Event, from, to states.State, ms int, deadline time.Time, reason string, spec []byte, agent store.Proc) {
		t.Helper()
		if _, err := st.Append(context.Background(), store.Write{Record: store.Record{
			VM: "vm1", Event: ev, From: from, To: to, Time: at(ms), Deadline: deadline, Cause: store.ParseReason(ev, reason), Agent: agent,
		}, Spec: spec}); err != nil {
			t.Fatal(err)
		}
	}
	none := store.Proc{}
	add(states.Create, states.Absent, states.Stopped, 0, time.Time{}, "", []byte(`{}`), none)
	start := at(1000).Add(testStart)
	add(states.Start, states.Stopped, states.Starting, 1000, start, "", nil, none)
	add(states.Update, states.Starting, states.Starting, 1020, start, "spec updated", []byte(`{"env":{"A":"1"}}`), none)
	add(states.Spawned, states.Starting, states.Starting, 1025, start, "", nil, agent)
	add(states.EventRunning, states.Starting, states.Running, 1030, time.Time{}, "", nil, none)
	add(states.Stop, states.Running, states.Stopping, 2000, at(2000).Add(testGraceful), "stop requested", nil, none)
	add(states.Exited, states.Stopping, states.Stopped, 2010, time.Time{}, "agent exited: exit status 0", nil, none)
	start = at(3000).Add(testStart)
	add(states.Start, states.Stopped, states.Starting, 3000, start, "", nil, none)
	add(states.Update, states.Starting, states.Starting, 3010, start, "spec updated", []byte(`{"env":{"A":"2"}}`), none)
	add(states.Stop, states.Starting, states.Stopping, 3020, at(3020).Add(testGraceful), "stop requested", nil, none)
	add(states.Exited, states.Stopping, states.Stopped, 3020, time.Time{}, "no agent was recorded or found", nil, none)
	// Storm run seed 1796071919090828101, vm s0 #252: an update took the
	// lock after a force stop and before its tree kill.
	start = at(4000).Add(testStart)
	add(states.Start, states.Stopped, states.Starting, 4000, start, "", nil, none)
	add(states.Spawned, states.Starting, states.Starting, 4008, start, "", nil, store.Proc{PID: 4343, StartTime: 78, Group: 4343})
	add(states.ForceStop, states.Starting, states.ForceStopping, 4012, time.Time{}, "force stop requested", nil, none)
	add(states.Update, states.ForceStopping, states.ForceStopping, 4170, time.Time{}, "spec updated", []byte(`{"env":{"A":"3"}}`), none)
	add(states.Exited, states.ForceStopping, states.Stopped, 4300, time.Time{}, "force stop requested", nil, none)
	// And all at once: update, force stop, update before the spawn.
	start = at(5000).Add(testStart)
	add(states.Start, states.Stopped, states.Starting, 5000, start, "", nil, none)
	add(states.Update, states.Starting, states.Starting, 5010, start, "spec updated", []byte(`{"env":{"A":"4"}}`), none)
	add(states.ForceStop, states.Starting, states.ForceStopping, 5020, time.Time{}, "force stop requested", nil, none)
	add(states.Update, states.ForceStopping, states.ForceStopping, 5030, time.Time{}, "spec updated", []byte(`{"env":{"A":"5"}}`), none)
	add(states.Exited, states.ForceStopping, states.Stopped, 5040, time.Time{}, "force stop requested", nil, none)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCheckCommandBetweenStartAndSpawnedIsNoDivergence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lifeline.db")
	buildCommandsBeforeSpawn(t, path)
	db := openUTC(t, path)
	var b bytes.Buffer
	res, err := recheck.Check(db, &b, recheck.Options{})
	if err != nil || res.Divergence != nil || res.Matched != res.Records {
		t.Fatalf("check: %v; matched %d of %d\n%s", err, res.Matched, res.Records, b.String())
	}
}
