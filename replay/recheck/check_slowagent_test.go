package recheck_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// Histories the storm wrote with agents that start ~15 ms later
// (LIFELINE_STORM_AGENT_DELAY), which replay check reported as
// divergences although the engine did what it does. A kill of a just
// spawned agent then often takes seconds, and the daemon is killed during
// it; the replay's kill takes no time.

// addProcs is writer.add with both identities.
func (w *writer) addProcs(vm string, ev states.Event, from, to states.State, ms int, deadline time.Time, reason string, agent, vmProc store.Proc) {
	w.t.Helper()
	if _, err := w.st.Append(context.Background(), store.Write{Record: store.Record{
		VM: vm, Event: ev, From: from, To: to, Time: w.at(ms), Deadline: deadline, Cause: store.ParseReason(ev, reason), Agent: agent, VMProcess: vmProc,
	}}); err != nil {
		w.t.Fatal(err)
	}
}

// Storm seed 1796116602800764244, vm s4: a force stop of a Starting VM
// whose agent and QEMU are recorded; the daemon is killed during the kill
// (another VM's record after it), and the next boot's recovery finds the
// agent alive, kills it and records the force stop resumed. The replay's
// model had killed the agent at once; recovery must find the recorded one
// alive again, not a stranger that Cleanup then refuses on (kill_failed).
func TestCheckDaemonKilledDuringForceStopOfALiveAgent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lifeline.db")
	w := newWriter(t, path)
	none := store.Proc{}
	agent := store.Proc{PID: 4242, StartTime: 7, Group: 4242}
	qemu := store.Proc{PID: 4250, StartTime: 8, Group: 4250}
	deadline := w.at(1000).Add(testStart)
	w.add("vm1", states.Create, states.Absent, states.Stopped, 0, time.Time{}, "", []byte(`{}`), none)
	w.add("vm2", states.Create, states.Absent, states.Stopped, 10, time.Time{}, "", []byte(`{}`), none)
	w.add("vm1", states.Start, states.Stopped, states.Starting, 1000, deadline, "", nil, none)
	w.addProcs("vm1", states.Spawned, states.Starting, states.Starting, 1010, deadline, "", agent, qemu)
	w.add("vm1", states.ForceStop, states.Starting, states.ForceStopping, 1100, time.Time{}, "force stop requested", nil, none)
	w.add("vm2", states.Update, states.Stopped, states.Stopped, 1140, time.Time{}, "spec updated", []byte(`{"env":{"A":"1"}}`), none)
	if err := w.st.Crash(); err != nil {
		t.Fatal(err)
	}
	w2 := newWriterAt(t, path, w.t0, w.at(1190))
	w2.add("vm1", states.Exited, states.ForceStopping, states.Stopped, 1230, time.Time{}, "recovery: force stop resumed", nil, none)
	if err := w2.st.Close(); err != nil {
		t.Fatal(err)
	}
	checkClean(t, path)
}

// Storm seed 1796112387216138251, vm s1: the same, with only the agent
// recorded: the next boot's recovery finds it alive with its QEMU, records
// both (spawned, "agent found without a spawn record"), and kills them.
func TestCheckDaemonKilledDuringForceStopRecoveryFindsTheQEMU(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lifeline.db")
	w := newWriter(t, path)
	none := store.Proc{}
	agent := store.Proc{PID: 4242, StartTime: 7, Group: 4242}
	qemu := store.Proc{PID: 4250, StartTime: 8, Group: 4250}
	deadline := w.at(1000).Add(testStart)
	w.add("vm1", states.Create, states.Absent, states.Stopped, 0, time.Time{}, "", []byte(`{}`), none)
	w.add("vm2", states.Create, states.Absent, states.Stopped, 10, time.Time{}, "", []byte(`{}`), none)
	w.add("vm1", states.Start, states.Stopped, states.Starting, 1000, deadline, "", nil, none)
	w.add("vm1", states.Spawned, states.Starting, states.Starting, 1010, deadline, "", nil, agent)
	w.add("vm1", states.ForceStop, states.Starting, states.ForceStopping, 1100, time.Time{}, "force stop requested", nil, none)
	w.add("vm2", states.Update, states.Stopped, states.Stopped, 1140, time.Time{}, "spec updated", []byte(`{"env":{"A":"1"}}`), none)
	if err := w.st.Crash(); err != nil {
		t.Fatal(err)
	}
	w2 := newWriterAt(t, path, w.t0, w.at(1190))
	w2.addProcs("vm1", states.Spawned, states.ForceStopping, states.ForceStopping, 1290, time.Time{}, "agent found without a spawn record", agent, qemu)
	w2.add("vm1", states.Exited, states.ForceStopping, states.Stopped, 1430, time.Time{}, "recovery: force stop resumed", nil, none)
	if err := w2.st.Close(); err != nil {
		t.Fatal(err)
	}
	checkClean(t, path)
}

// Storm seed 1796114119380889392, vm s1: an update of a Running VM, its
// stop escalated by a force stop, the exited; the daemon is killed right
// after it, before the start that applies the update, which the next
// boot's recovery resumes. The replay's kill took no time, so its start
// came before the recorded daemon's last write and must still be cut.
func TestCheckDaemonKilledBetweenAnUpdatesExitedAndItsStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lifeline.db")
	w := newWriter(t, path)
	none := store.Proc{}
	agent := store.Proc{PID: 4242, StartTime: 7, Group: 4242}
	deadline := w.at(1000).Add(testStart)
	w.add("vm1", states.Create, states.Absent, states.Stopped, 0, time.Time{}, "", []byte(`{}`), none)
	w.add("vm2", states.Create, states.Absent, states.Stopped, 5, time.Time{}, "", []byte(`{}`), none)
	w.add("vm1", states.Start, states.Stopped, states.Starting, 1000, deadline, "", nil, none)
	w.add("vm1", states.Spawned, states.Starting, states.Starting, 1010, deadline, "", nil, agent)
	w.add("vm1", states.EventRunning, states.Starting, states.Running, 1100, time.Time{}, "", nil, none)
	w.add("vm1", states.Update, states.Running, states.Running, 2000, time.Time{}, "spec updated", []byte(`{"env":{"A":"1"}}`), none)
	w.add("vm1", states.Stop, states.Running, states.Stopping, 2030, w.at(2030).Add(time.Second), "spec updated: restart to apply it", nil, none)
	w.add("vm1", states.ForceStop, states.Stopping, states.ForceStopping, 2033, time.Time{}, "force stop requested", nil, none)
	// Another VM's record: the kill took a while.
	w.add("vm2", states.Update, states.Stopped, states.Stopped, 2060, time.Time{}, "spec updated", []byte(`{"env":{"B":"1"}}`), none)
	w.add("vm1", states.Exited, states.ForceStopping, states.Stopped, 2104, time.Time{}, "force stop requested", nil, none)
	if err := w.st.Crash(); err != nil {
		t.Fatal(err)
	}
	w2 := newWriterAt(t, path, w.t0, w.at(2142))
	deadline = w.at(2170).Add(testStart)
	w2.add("vm1", states.Start, states.Stopped, states.Starting, 2170, deadline, "restart to apply the updated spec, resumed after a daemon restart", nil, none)
	w2.add("vm1", states.Spawned, states.Starting, states.Starting, 2173, deadline, "", nil, store.Proc{PID: 4343, StartTime: 9, Group: 4343})
	if err := w2.st.Close(); err != nil {
		t.Fatal(err)
	}
	checkClean(t, path)
}

// Storm seed 1796115265684360394, vm s1: an update to a spec the file no
// longer keeps; the stop under it shows its grace as its deadline less the
// record's time, 998ms of a 1s one on a busy machine. The replayed spec
// must not carry a graceful timeout below the least a spec may hold (the
// update would be refused).
func TestCheckGraceReadOffALateStopRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lifeline.db")
	w := newWriter(t, path)
	none := store.Proc{}
	agent := store.Proc{PID: 4242, StartTime: 7, Group: 4242}
	deadline := w.at(1000).Add(testStart)
	w.add("vm1", states.Create, states.Absent, states.Stopped, 0, time.Time{}, "", []byte(`{}`), none)
	w.add("vm1", states.Update, states.Stopped, states.Stopped, 500, time.Time{}, "spec updated", []byte(`{"gracefulTimeout":1000000000}`), none)
	w.add("vm1", states.Start, states.Stopped, states.Starting, 1000, deadline, "", nil, none)
	w.add("vm1", states.Spawned, states.Starting, states.Starting, 1010, deadline, "", nil, agent)
	w.add("vm1", states.EventRunning, states.Starting, states.Running, 1100, time.Time{}, "", nil, none)
	// The deadline was taken 2ms before the record's time.
	w.add("vm1", states.Stop, states.Running, states.Stopping, 2002, w.at(3000), "stop requested", nil, none)
	w.add("vm1", states.Exited, states.Stopping, states.Stopped, 2100, time.Time{}, "agent exited: exit status 0", nil, none)
	w.add("vm1", states.Update, states.Stopped, states.Stopped, 2200, time.Time{}, "spec updated", []byte(`{"gracefulTimeout":5000000000}`), none)
	if err := w.st.Close(); err != nil {
		t.Fatal(err)
	}
	checkClean(t, path)
}
