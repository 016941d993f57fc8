package recheck_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/replay/recheck"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// Histories the storm (seed 1796072367184981573) wrote that replay check
// reported as divergences although today's engine does the same. Each is
// written record by record as that daemon wrote it.

// writer appends vm records at t0+ms on one store.
type writer struct {
	t  *testing.T
	st *store.Store
	t0 time.Time
}

func newWriter(t *testing.T, path string) *writer {
	return newWriterAt(t, path, time.Now().UTC().Truncate(time.Second).Add(time.Second), time.Time{})
}

// newWriterAt opens path as a daemon that started at started (zero: now)
// and writes at t0+ms.
func newWriterAt(t *testing.T, path string, t0, started time.Time) *writer {
	o := store.Options{NoSync: true}
	if !started.IsZero() {
		o.Now = func() time.Time { return started }
	}
	st, err := store.Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	return &writer{t: t, st: st, t0: t0}
}

func (w *writer) at(ms int) time.Time { return w.t0.Add(time.Duration(ms) * time.Millisecond) }

func (w *writer) add(vm string, ev states.Event, from, to states.State, ms int, deadline time.Time, reason string, spec []byte, agent store.Proc) {
	w.t.Helper()
	if _, err := w.st.Append(context.Background(), store.Write{Record: store.Record{
		VM: vm, Event: ev, From: from, To: to, Time: w.at(ms), Deadline: deadline, Cause: store.ParseReason(ev, reason), Agent: agent,
	}, Spec: spec}); err != nil {
		w.t.Fatal(err)
	}
}

func checkClean(t *testing.T, path string) {
	t.Helper()
	db := openUTC(t, path)
	var b bytes.Buffer
	res, err := recheck.Check(db, &b, recheck.Options{})
	if err != nil || res.Divergence != nil || res.Matched != res.Records {
		t.Fatalf("check: %v; matched %d of %d\n%s", err, res.Matched, res.Records, b.String())
	}
}

// vm s5: the VM was created with restart on-failure, crashed and was
// restarted, and later updated to a spec without it. The file keeps only
// the last spec; the replay of the crash must still apply the policy the
// history shows (a backoff after the crash).
func TestCheckRestartPolicyOfASpecNotKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lifeline.db")
	w := newWriter(t, path)
	none := store.Proc{}
	w.add("vm1", states.Create, states.Absent, states.Stopped, 0, time.Time{}, "", []byte(`{"restart":"on-failure"}`), none)
	w.add("vm1", states.Start, states.Stopped, states.Starting, 1000, w.at(1000).Add(testStart), "", nil, none)
	w.add("vm1", states.Spawned, states.Starting, states.Starting, 1010, w.at(1000).Add(testStart), "", nil, store.Proc{PID: 4242, StartTime: 7, Group: 4242})
	w.add("vm1", states.EventRunning, states.Starting, states.Running, 1100, time.Time{}, "", nil, none)
	w.add("vm1", states.Crashed, states.Running, states.Broken, 2000, time.Time{}, "agent exited unasked: exit status 1", nil, none)
	w.add("vm1", states.Backoff, states.Broken, states.Broken, 2001, w.at(3001), "restart 1 of 5 in 10m0s, after 1s", nil, none)
	w.add("vm1", states.Reset, states.Broken, states.Stopped, 2500, time.Time{}, "reset requested", nil, none)
	w.add("vm1", states.Update, states.Stopped, states.Stopped, 2600, time.Time{}, "spec updated", []byte(`{}`), none)
	if err := w.st.Close(); err != nil {
		t.Fatal(err)
	}
	checkClean(t, path)
}

// vm s3: start, start_failed (define), reset, and the same again, each a
// millisecond after the other: the second start's spawn, due at once on
// the virtual clock, runs after check has moved on to the start_failed,
// and must still be scripted to fail.
func TestCheckStartFailedRightAfterStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lifeline.db")
	w := newWriter(t, path)
	none := store.Proc{}
	bad := `define: vm "vm1": define: bad spec: empty template`
	w.add("vm1", states.Create, states.Absent, states.Stopped, 0, time.Time{}, "", []byte(`{}`), none)
	w.add("vm1", states.Start, states.Stopped, states.Starting, 1000, w.at(1000).Add(testStart), "", nil, none)
	w.add("vm1", states.StartFailed, states.Starting, states.Broken, 1001, time.Time{}, bad, nil, none)
	w.add("vm1", states.Reset, states.Broken, states.Stopped, 1012, time.Time{}, "reset requested", nil, none)
	w.add("vm1", states.Start, states.Stopped, states.Starting, 1026, w.at(1026).Add(testStart), "", nil, none)
	w.add("vm1", states.StartFailed, states.Starting, states.Broken, 1027, time.Time{}, bad, nil, none)
	w.add("vm1", states.Reset, states.Broken, states.Stopped, 1100, time.Time{}, "reset requested", nil, none)
	w.add("vm1", states.Start, states.Stopped, states.Starting, 1200, w.at(1200).Add(testStart), "", nil, none)
	w.add("vm1", states.Spawned, states.Starting, states.Starting, 1210, w.at(1200).Add(testStart), "", nil, store.Proc{PID: 4343, StartTime: 8, Group: 4343})
	if err := w.st.Close(); err != nil {
		t.Fatal(err)
	}
	checkClean(t, path)
}

// vm s3 later: the daemon was killed during a start's spawn (after the
// start record, before spawned), while it still wrote another VM's record;
// the next daemon found no agent and recorded it lost. The replay's spawn
// takes no time and must not be written for a daemon that died during it.
func TestCheckDaemonKilledDuringSpawn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lifeline.db")
	w := newWriter(t, path)
	none := store.Proc{}
	w.add("vm1", states.Create, states.Absent, states.Stopped, 0, time.Time{}, "", []byte(`{}`), none)
	w.add("vm2", states.Create, states.Absent, states.Stopped, 10, time.Time{}, "", []byte(`{}`), none)
	w.add("vm1", states.Start, states.Stopped, states.Starting, 1000, w.at(1000).Add(testStart), "", nil, none)
	w.add("vm2", states.Update, states.Stopped, states.Stopped, 1040, time.Time{}, "spec updated", []byte(`{"env":{"A":"1"}}`), none)
	if err := w.st.Crash(); err != nil {
		t.Fatal(err)
	}
	w2 := newWriterAt(t, path, w.t0, w.at(1090))
	w2.add("vm1", states.Lost, states.Starting, states.Broken, 1100, time.Time{}, "recovery: agent pid 0 is gone", nil, none)
	if err := w2.st.Close(); err != nil {
		t.Fatal(err)
	}
	checkClean(t, path)
}

// vm s8: a Starting VM with its agent and its QEMU recorded, the daemon
// killed, and the next daemon's recovery finds the agent alive and records
// nothing new (running follows). The replay's model knows the agent but
// not the QEMU, which it only reported; a recovery Lookup that finds less
// than the log names is nothing new to record.
func TestCheckRecoveryFindingLessThanRecorded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lifeline.db")
	w := newWriter(t, path)
	none := store.Proc{}
	agent := store.Proc{PID: 4242, StartTime: 7, Group: 4242}
	deadline := w.at(1000).Add(testStart)
	w.add("vm1", states.Create, states.Absent, states.Stopped, 0, time.Time{}, "", []byte(`{}`), none)
	w.add("vm1", states.Start, states.Stopped, states.Starting, 1000, deadline, "", nil, none)
	w.add("vm1", states.Spawned, states.Starting, states.Starting, 1020, deadline, "", nil, agent)
	if _, err := w.st.Append(context.Background(), store.Write{Record: store.Record{
		VM: "vm1", Event: states.Spawned, From: states.Starting, To: states.Starting, Time: w.at(1200), Deadline: deadline,
		Agent: agent, VMProcess: store.Proc{PID: 4250, StartTime: 9, Group: 4250},
	}}); err != nil {
		t.Fatal(err)
	}
	if err := w.st.Crash(); err != nil {
		t.Fatal(err)
	}
	w2 := newWriterAt(t, path, w.t0, w.at(1300))
	w2.add("vm1", states.EventRunning, states.Starting, states.Running, 2000, time.Time{}, "", nil, none)
	if err := w2.st.Close(); err != nil {
		t.Fatal(err)
	}
	checkClean(t, path)
}

// Storm run seed 1796072621838506073, vm s1: the daemon was killed during
// a force stop's tree kill (after force_stop, before exited) while it
// wrote another VM's record; the next daemon found the agent gone and
// recorded exited. The replay's kill takes no time and must not be written
// for a daemon that died during it.
func TestCheckDaemonKilledDuringForceStop(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lifeline.db")
	w := newWriter(t, path)
	none := store.Proc{}
	deadline := w.at(1000).Add(testStart)
	w.add("vm1", states.Create, states.Absent, states.Stopped, 0, time.Time{}, "", []byte(`{}`), none)
	w.add("vm2", states.Create, states.Absent, states.Stopped, 10, time.Time{}, "", []byte(`{}`), none)
	w.add("vm1", states.Start, states.Stopped, states.Starting, 1000, deadline, "", nil, none)
	w.add("vm1", states.Spawned, states.Starting, states.Starting, 1010, deadline, "", nil, store.Proc{PID: 4242, StartTime: 7, Group: 4242})
	w.add("vm1", states.ForceStop, states.Starting, states.ForceStopping, 1100, time.Time{}, "force stop requested", nil, none)
	w.add("vm2", states.Update, states.Stopped, states.Stopped, 1140, time.Time{}, "spec updated", []byte(`{"env":{"A":"1"}}`), none)
	if err := w.st.Crash(); err != nil {
		t.Fatal(err)
	}
	w2 := newWriterAt(t, path, w.t0, w.at(1190))
	w2.add("vm1", states.Exited, states.ForceStopping, states.Stopped, 1200, time.Time{}, "recovery: agent gone", nil, none)
	if err := w2.st.Close(); err != nil {
		t.Fatal(err)
	}
	checkClean(t, path)
}

// Storm run seed 1796123219446099476, vm s1: as above, with the VM driver
// process's identity observed (spawned in ForceStopping) between the force
// stop and the kill the daemon died during.
func TestCheckDaemonKilledDuringForceStopAfterAnIdentity(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lifeline.db")
	w := newWriter(t, path)
	none := store.Proc{}
	agent := store.Proc{PID: 4242, StartTime: 7, Group: 4242}
	deadline := w.at(1000).Add(testStart)
	w.add("vm1", states.Create, states.Absent, states.Stopped, 0, time.Time{}, "", []byte(`{}`), none)
	w.add("vm2", states.Create, states.Absent, states.Stopped, 10, time.Time{}, "", []byte(`{}`), none)
	w.add("vm1", states.Start, states.Stopped, states.Starting, 1000, deadline, "", nil, none)
	w.add("vm1", states.Spawned, states.Starting, states.Starting, 1010, deadline, "", nil, agent)
	w.add("vm1", states.ForceStop, states.Starting, states.ForceStopping, 1100, time.Time{}, "force stop requested", nil, none)
	if _, err := w.st.Append(context.Background(), store.Write{Record: store.Record{
		VM: "vm1", Event: states.Spawned, From: states.ForceStopping, To: states.ForceStopping, Time: w.at(1116),
		Agent: agent, VMProcess: store.Proc{PID: 4250, StartTime: 9, Group: 4250}, Cause: store.Cause{Kind: store.CauseAppeared},
	}}); err != nil {
		t.Fatal(err)
	}
	w.add("vm2", states.Update, states.Stopped, states.Stopped, 1130, time.Time{}, "spec updated", []byte(`{"env":{"A":"1"}}`), none)
	if err := w.st.Crash(); err != nil {
		t.Fatal(err)
	}
	w2 := newWriterAt(t, path, w.t0, w.at(1266))
	w2.add("vm1", states.Exited, states.ForceStopping, states.Stopped, 1400, time.Time{}, "recovery: agent gone", nil, none)
	if err := w2.st.Close(); err != nil {
		t.Fatal(err)
	}
	checkClean(t, path)
}

// Storm run seed 1796112387216138251 (a later run), vm s8: a stop ran
// out of its grace (stop_timeout, SIGTERM), updates came, and the daemon
// was killed during the tree kill at the terminate deadline; the next
// daemon resumed the force stop and recorded exited.
func TestCheckDaemonKilledDuringTheKillAfterAStopTimeout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lifeline.db")
	w := newWriter(t, path)
	none := store.Proc{}
	agent := store.Proc{PID: 4242, StartTime: 7, Group: 4242}
	deadline := w.at(1000).Add(testStart)
	w.add("vm1", states.Create, states.Absent, states.Stopped, 0, time.Time{}, "", []byte(`{"gracefulTimeout":1000000000}`), none)
	w.add("vm2", states.Create, states.Absent, states.Stopped, 10, time.Time{}, "", []byte(`{}`), none)
	w.add("vm1", states.Start, states.Stopped, states.Starting, 1000, deadline, "", nil, none)
	w.add("vm1", states.Spawned, states.Starting, states.Starting, 1010, deadline, "", nil, agent)
	w.add("vm1", states.EventRunning, states.Starting, states.Running, 1020, time.Time{}, "", nil, none)
	w.add("vm1", states.Stop, states.Running, states.Stopping, 2000, w.at(3000), "stop requested", nil, none)
	term := w.at(3000).Add(5 * time.Second)
	w.add("vm1", states.StopTimeout, states.Stopping, states.ForceStopping, 3001, term, "graceful deadline passed: agent pid 4242 ignored the interrupt", nil, none)
	w.add("vm1", states.Update, states.ForceStopping, states.ForceStopping, 3600, term, "spec updated", []byte(`{"gracefulTimeout":1000000000}`), none)
	w.add("vm2", states.Update, states.Stopped, states.Stopped, 8030, time.Time{}, "spec updated", []byte(`{"env":{"A":"1"}}`), none)
	if err := w.st.Crash(); err != nil {
		t.Fatal(err)
	}
	w2 := newWriterAt(t, path, w.t0, w.at(8070))
	w2.add("vm1", states.Exited, states.ForceStopping, states.Stopped, 8900, time.Time{}, "recovery: force stop resumed", nil, none)
	if err := w2.st.Close(); err != nil {
		t.Fatal(err)
	}
	checkClean(t, path)
}

// Storm run seed 1796123773431068583, vm s8: a record's time is taken
// before it waits for the log's write lock, so under load a VM's stop
// (44.871) followed another VM's later record (44.892) in the log. Its
// stop_timeout came at its deadline, just before another VM's record: the
// replay must give the stop at its own time, not at the later one, or its
// deadline is later than that next record.
func TestCheckRecordsOutOfTimeOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lifeline.db")
	w := newWriter(t, path)
	none := store.Proc{}
	agent := store.Proc{PID: 4242, StartTime: 7, Group: 4242}
	deadline := w.at(1000).Add(testStart)
	w.add("vm1", states.Create, states.Absent, states.Stopped, 0, time.Time{}, "", []byte(`{"gracefulTimeout":1000000000}`), none)
	w.add("vm2", states.Create, states.Absent, states.Stopped, 10, time.Time{}, "", []byte(`{}`), none)
	w.add("vm1", states.Start, states.Stopped, states.Starting, 1000, deadline, "", nil, none)
	w.add("vm1", states.Spawned, states.Starting, states.Starting, 1010, deadline, "", nil, agent)
	w.add("vm1", states.EventRunning, states.Starting, states.Running, 1020, time.Time{}, "", nil, none)
	w.add("vm2", states.Update, states.Stopped, states.Stopped, 2021, time.Time{}, "spec updated", []byte(`{"env":{"A":"1"}}`), none)
	w.add("vm1", states.Stop, states.Running, states.Stopping, 2000, w.at(3000), "stop requested", nil, none)
	w.add("vm1", states.StopTimeout, states.Stopping, states.ForceStopping, 3001, w.at(3001).Add(5*time.Second), "graceful deadline passed: agent pid 4242 ignored the interrupt", nil, none)
	w.add("vm2", states.Update, states.Stopped, states.Stopped, 3018, time.Time{}, "spec updated", []byte(`{"env":{"A":"1"}}`), none)
	if err := w.st.Close(); err != nil {
		t.Fatal(err)
	}
	checkClean(t, path)
}

// Storm run seed 1796072621838506073, vm s7: the daemon ran the restart
// policy with a 10 s window; check ran it with the engine's default (10
// minutes), so a second crash 20 s after the first was its second restart,
// with twice the backoff. The window and limit are read from the backoff
// reasons.
func TestCheckInfersRestartWindowFromReasons(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lifeline.db")
	w := newWriter(t, path)
	none := store.Proc{}
	w.add("vm1", states.Create, states.Absent, states.Stopped, 0, time.Time{}, "", []byte(`{"restart":"on-failure"}`), none)
	run := func(ev states.Event, from states.State, at, pid int, reason string) {
		deadline := w.at(at).Add(testStart)
		w.add("vm1", ev, from, states.Starting, at, deadline, reason, nil, none)
		w.add("vm1", states.Spawned, states.Starting, states.Starting, at+10, deadline, "", nil, store.Proc{PID: pid, StartTime: uint64(pid), Group: pid})
		w.add("vm1", states.EventRunning, states.Starting, states.Running, at+100, time.Time{}, "", nil, none)
	}
	run(states.Start, states.Stopped, 1000, 4242, "")
	w.add("vm1", states.Crashed, states.Running, states.Broken, 2000, time.Time{}, "agent exited unasked: exit status 1", nil, none)
	w.add("vm1", states.Backoff, states.Broken, states.Broken, 2001, w.at(4001), "restart 1 of 5 in 10s, after 2s", nil, none)
	run(states.Restart, states.Broken, 4001, 4243, "restart policy: restart 1 of 5 in 10s, after 2s")
	w.add("vm1", states.Crashed, states.Running, states.Broken, 24000, time.Time{}, "agent exited unasked: exit status 1", nil, none)
	w.add("vm1", states.Backoff, states.Broken, states.Broken, 24001, w.at(26001), "restart 1 of 5 in 10s, after 2s", nil, none)
	run(states.Restart, states.Broken, 26001, 4244, "restart policy: restart 1 of 5 in 10s, after 2s")
	if err := w.st.Close(); err != nil {
		t.Fatal(err)
	}
	checkClean(t, path)
}

// Storm run seed 1796072367184981573, vm s2: a force stop, then the VM
// driver process's identity observed (spawned in ForceStopping) before the
// tree kill took the VM's lock, then exited.
func TestCheckIdentityBetweenForceStopAndKill(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lifeline.db")
	w := newWriter(t, path)
	none := store.Proc{}
	agent := store.Proc{PID: 4242, StartTime: 7, Group: 4242}
	deadline := w.at(1000).Add(testStart)
	w.add("vm1", states.Create, states.Absent, states.Stopped, 0, time.Time{}, "", []byte(`{}`), none)
	w.add("vm1", states.Start, states.Stopped, states.Starting, 1000, deadline, "", nil, none)
	w.add("vm1", states.Spawned, states.Starting, states.Starting, 1010, deadline, "", nil, agent)
	w.add("vm1", states.ForceStop, states.Starting, states.ForceStopping, 1100, time.Time{}, "force stop requested", nil, none)
	if _, err := w.st.Append(context.Background(), store.Write{Record: store.Record{
		VM: "vm1", Event: states.Spawned, From: states.ForceStopping, To: states.ForceStopping, Time: w.at(1130),
		Agent: agent, VMProcess: store.Proc{PID: 4250, StartTime: 9, Group: 4250}, Cause: store.Cause{Kind: store.CauseAppeared},
	}}); err != nil {
		t.Fatal(err)
	}
	w.add("vm1", states.Exited, states.ForceStopping, states.Stopped, 1200, time.Time{}, "force stop requested", nil, none)
	if err := w.st.Close(); err != nil {
		t.Fatal(err)
	}
	checkClean(t, path)
}

// Storm run seed 1796122386397691030 (CI), vm s2: as above, and an update
// of the ForceStopping VM also took the lock before the tree kill, after
// the identity: both came before the exited.
func TestCheckIdentityThenUpdateBetweenForceStopAndKill(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lifeline.db")
	w := newWriter(t, path)
	none := store.Proc{}
	agent := store.Proc{PID: 4242, StartTime: 7, Group: 4242}
	deadline := w.at(1000).Add(testStart)
	w.add("vm1", states.Create, states.Absent, states.Stopped, 0, time.Time{}, "", []byte(`{}`), none)
	w.add("vm1", states.Start, states.Stopped, states.Starting, 1000, deadline, "", nil, none)
	w.add("vm1", states.Spawned, states.Starting, states.Starting, 1003, deadline, "", nil, agent)
	w.add("vm1", states.ForceStop, states.Starting, states.ForceStopping, 1042, time.Time{}, "force stop requested", nil, none)
	if _, err := w.st.Append(context.Background(), store.Write{Record: store.Record{
		VM: "vm1", Event: states.Spawned, From: states.ForceStopping, To: states.ForceStopping, Time: w.at(1060),
		Agent: agent, VMProcess: store.Proc{PID: 4250, StartTime: 9, Group: 4250}, Cause: store.Cause{Kind: store.CauseAppeared},
	}}); err != nil {
		t.Fatal(err)
	}
	w.add("vm1", states.Update, states.ForceStopping, states.ForceStopping, 1064, time.Time{}, "spec updated", []byte(`{"env":{"A":"b"}}`), none)
	w.add("vm1", states.Exited, states.ForceStopping, states.Stopped, 1114, time.Time{}, "force stop requested", nil, none)
	if err := w.st.Close(); err != nil {
		t.Fatal(err)
	}
	checkClean(t, path)
}

// Storm run seed 1796072884972053613, vm s8: an update without the restart
// policy lands during a backoff; the restart that backoff scheduled still
// happens, and the next crash has no backoff. The update's spec is not
// kept: its policy is the crash's (none), not the restart's.
func TestCheckRestartAfterUpdateDroppingThePolicy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lifeline.db")
	w := newWriter(t, path)
	none := store.Proc{}
	w.add("vm1", states.Create, states.Absent, states.Stopped, 0, time.Time{}, "", []byte(`{"restart":"on-failure"}`), none)
	deadline := w.at(1000).Add(testStart)
	w.add("vm1", states.Start, states.Stopped, states.Starting, 1000, deadline, "", nil, none)
	w.add("vm1", states.Spawned, states.Starting, states.Starting, 1010, deadline, "", nil, store.Proc{PID: 4242, StartTime: 7, Group: 4242})
	w.add("vm1", states.EventRunning, states.Starting, states.Running, 1100, time.Time{}, "", nil, none)
	w.add("vm1", states.Crashed, states.Running, states.Broken, 2000, time.Time{}, "agent exited unasked: exit status 1", nil, none)
	w.add("vm1", states.Backoff, states.Broken, states.Broken, 2001, w.at(4001), "restart 1 of 5 in 10s, after 2s", nil, none)
	w.add("vm1", states.Update, states.Broken, states.Broken, 3000, w.at(4001), "spec updated", []byte(`{"env":{"A":"1"}}`), none)
	deadline = w.at(4001).Add(testStart)
	w.add("vm1", states.Restart, states.Broken, states.Starting, 4001, deadline, "restart policy: spec updated", nil, none)
	w.add("vm1", states.Spawned, states.Starting, states.Starting, 4010, deadline, "", nil, store.Proc{PID: 4243, StartTime: 8, Group: 4243})
	w.add("vm1", states.EventRunning, states.Starting, states.Running, 4100, time.Time{}, "", nil, none)
	w.add("vm1", states.Crashed, states.Running, states.Broken, 5000, time.Time{}, "agent exited unasked: exit status 1", nil, none)
	w.add("vm1", states.Reset, states.Broken, states.Stopped, 6000, time.Time{}, "reset requested", nil, none)
	w.add("vm1", states.Update, states.Stopped, states.Stopped, 6100, time.Time{}, "spec updated", []byte(`{"restart":"on-failure","env":{"A":"2"}}`), none)
	if err := w.st.Close(); err != nil {
		t.Fatal(err)
	}
	checkClean(t, path)
}

// Storm run seed 1796072206977678393, vm s5: the daemon capped the restart
// backoff at 2 s; check doubled on past it (the engine's default cap). The
// cap is read from a backoff shorter than the doubling.
func TestCheckInfersRestartBackoffCap(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lifeline.db")
	w := newWriter(t, path)
	none := store.Proc{}
	w.add("vm1", states.Create, states.Absent, states.Stopped, 0, time.Time{}, "", []byte(`{"restart":"on-failure"}`), none)
	at, ev, from, reason := 1000, states.Start, states.Stopped, ""
	for i, after := range []int{1000, 2000, 2000} {
		deadline := w.at(at).Add(testStart)
		w.add("vm1", ev, from, states.Starting, at, deadline, reason, nil, none)
		w.add("vm1", states.Spawned, states.Starting, states.Starting, at+10, deadline, "", nil, store.Proc{PID: 4242 + i, StartTime: uint64(7 + i), Group: 4242 + i})
		w.add("vm1", states.EventRunning, states.Starting, states.Running, at+100, time.Time{}, "", nil, none)
		w.add("vm1", states.Crashed, states.Running, states.Broken, at+1000, time.Time{}, "agent exited unasked: exit status 1", nil, none)
		reason = fmt.Sprintf("restart %d of 5 in 10m0s, after %v", i+1, time.Duration(after)*time.Millisecond)
		w.add("vm1", states.Backoff, states.Broken, states.Broken, at+1001, w.at(at+1001+after), reason, nil, none)
		at, ev, from, reason = at+1001+after, states.Restart, states.Broken, "restart policy: "+reason
	}
	if err := w.st.Close(); err != nil {
		t.Fatal(err)
	}
	checkClean(t, path)
}

// Storm run seed 1796073007727777210, vm s2: start, an update before the
// spawn, then start_failed (define): the start's fate is scripted past the
// update.
func TestCheckStartFailedAfterAnUpdate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lifeline.db")
	w := newWriter(t, path)
	none := store.Proc{}
	bad := `define: vm "vm1": define: bad spec: empty template`
	w.add("vm1", states.Create, states.Absent, states.Stopped, 0, time.Time{}, "", []byte(`{}`), none)
	w.add("vm1", states.Start, states.Stopped, states.Starting, 1000, w.at(1000).Add(testStart), "", nil, none)
	w.add("vm1", states.Update, states.Starting, states.Starting, 1001, w.at(1000).Add(testStart), "spec updated", []byte(`{"env":{"A":"1"}}`), none)
	w.add("vm1", states.StartFailed, states.Starting, states.Broken, 1009, time.Time{}, bad, nil, none)
	w.add("vm1", states.Reset, states.Broken, states.Stopped, 1100, time.Time{}, "reset requested", nil, none)
	w.add("vm1", states.Start, states.Stopped, states.Starting, 1200, w.at(1200).Add(testStart), "", nil, none)
	w.add("vm1", states.Spawned, states.Starting, states.Starting, 1210, w.at(1200).Add(testStart), "", nil, store.Proc{PID: 4343, StartTime: 8, Group: 4343})
	if err := w.st.Close(); err != nil {
		t.Fatal(err)
	}
	checkClean(t, path)
}

// Storm run seed 1796075632971395776 (10 minutes, 45 daemon kills), vm s5:
// a backoff written late keeps its due time, so its deadline is closer to
// its record than the base. check took that gap (153ms) for the base, and
// its engine restarted the VM before the recorded reset. The base is the
// one a first restart's reason names.
func TestCheckInfersRestartBackoffFromReason(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lifeline.db")
	w := newWriter(t, path)
	none := store.Proc{}
	w.add("vm1", states.Create, states.Absent, states.Stopped, 0, time.Time{}, "", []byte(`{"restart":"on-failure"}`), none)
	deadline := w.at(1000).Add(testStart)
	w.add("vm1", states.Start, states.Stopped, states.Starting, 1000, deadline, "", nil, none)
	w.add("vm1", states.Spawned, states.Starting, states.Starting, 1010, deadline, "", nil, store.Proc{PID: 4242, StartTime: 7, Group: 4242})
	w.add("vm1", states.EventRunning, states.Starting, states.Running, 1100, time.Time{}, "", nil, none)
	w.add("vm1", states.Crashed, states.Running, states.Broken, 2000, time.Time{}, "agent exited unasked: exit status 1", nil, none)
	first := "restart 1 of 5 in 10s, after 200ms"
	w.add("vm1", states.Backoff, states.Broken, states.Broken, 2001, w.at(2201), first, nil, none)
	deadline = w.at(2201).Add(testStart)
	w.add("vm1", states.Restart, states.Broken, states.Starting, 2201, deadline, "restart policy: "+first, nil, none)
	w.add("vm1", states.Spawned, states.Starting, states.Starting, 2210, deadline, "", nil, store.Proc{PID: 4243, StartTime: 8, Group: 4243})
	w.add("vm1", states.EventRunning, states.Starting, states.Running, 2300, time.Time{}, "", nil, none)
	w.add("vm1", states.Crashed, states.Running, states.Broken, 3000, time.Time{}, "agent exited unasked: exit status 1", nil, none)
	// Written 250ms late, due at the crash + 400ms: 150ms from its record.
	w.add("vm1", states.Backoff, states.Broken, states.Broken, 3250, w.at(3400), "restart 2 of 5 in 10s, after 400ms", nil, none)
	w.add("vm1", states.Reset, states.Broken, states.Stopped, 3390, time.Time{}, "reset requested", nil, none)
	if err := w.st.Close(); err != nil {
		t.Fatal(err)
	}
	checkClean(t, path)
}

// Storm run seed 1796077420594581390, vm s0: the daemon was killed during
// a force stop of a VM whose QEMU appeared after its spawned record; the
// next boot's recovery recorded the QEMU (spawned, in ForceStopping)
// before it killed the tree. check's scripted agent had no such driver, so
// its engine went straight to exited.
func TestCheckRecoveryRecordsDriverThatAppearedWhileDown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lifeline.db")
	w := newWriter(t, path)
	none := store.Proc{}
	agent := store.Proc{PID: 4242, StartTime: 7, Group: 4242}
	deadline := w.at(1000).Add(testStart)
	w.add("vm1", states.Create, states.Absent, states.Stopped, 0, time.Time{}, "", []byte(`{}`), none)
	w.add("vm1", states.Start, states.Stopped, states.Starting, 1000, deadline, "", nil, none)
	w.add("vm1", states.Spawned, states.Starting, states.Starting, 1010, deadline, "", nil, agent)
	w.add("vm1", states.ForceStop, states.Starting, states.ForceStopping, 1100, time.Time{}, "force stop requested", nil, none)
	if err := w.st.Crash(); err != nil {
		t.Fatal(err)
	}
	w2 := newWriterAt(t, path, w.t0, w.at(1150))
	if _, err := w2.st.Append(context.Background(), store.Write{Record: store.Record{
		VM: "vm1", Event: states.Spawned, From: states.ForceStopping, To: states.ForceStopping, Time: w2.at(1160),
		Cause: store.Cause{Kind: store.CauseFoundUnrecorded}, Agent: agent, VMProcess: store.Proc{PID: 4250, StartTime: 9, Group: 4250},
	}}); err != nil {
		t.Fatal(err)
	}
	w2.add("vm1", states.Exited, states.ForceStopping, states.Stopped, 1200, time.Time{}, "recovery: force stop resumed", nil, none)
	if err := w2.st.Close(); err != nil {
		t.Fatal(err)
	}
	checkClean(t, path)
}

// Storm run seed 1796078131308172802, vm s5: a crash's backoff was
// recorded 18ms after the crash, so its restart was due 18ms later than
// the crash plus the base; the daemon was killed in those 18ms (another
// VM's record came after the crash plus the base) and the next boot's
// recovery restarted the VM. The replay's timer, armed at the crash, fired
// before the recorded daemon's last write: a timer due within the
// tolerance of a killed daemon's end is one it may not have lived to fire.
func TestCheckDaemonKilledAsRestartWasDue(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lifeline.db")
	w := newWriter(t, path)
	none := store.Proc{}
	w.add("vm1", states.Create, states.Absent, states.Stopped, 0, time.Time{}, "", []byte(`{"restart":"on-failure"}`), none)
	w.add("vm2", states.Create, states.Absent, states.Stopped, 5, time.Time{}, "", []byte(`{}`), none)
	deadline := w.at(1000).Add(testStart)
	w.add("vm1", states.Start, states.Stopped, states.Starting, 1000, deadline, "", nil, none)
	w.add("vm1", states.Spawned, states.Starting, states.Starting, 1010, deadline, "", nil, store.Proc{PID: 4242, StartTime: 7, Group: 4242})
	w.add("vm1", states.EventRunning, states.Starting, states.Running, 1100, time.Time{}, "", nil, none)
	w.add("vm1", states.Crashed, states.Running, states.Broken, 2000, time.Time{}, "agent exited unasked: exit status 1", nil, none)
	first := "restart 1 of 5 in 10s, after 800ms"
	w.add("vm1", states.Backoff, states.Broken, states.Broken, 2018, w.at(2818), first, nil, none)
	w.add("vm2", states.Update, states.Stopped, states.Stopped, 2804, time.Time{}, "spec updated", []byte(`{"env":{"A":"1"}}`), none)
	if err := w.st.Crash(); err != nil {
		t.Fatal(err)
	}
	w2 := newWriterAt(t, path, w.t0, w.at(2837))
	deadline = w2.at(2841).Add(testStart)
	w2.add("vm1", states.Restart, states.Broken, states.Starting, 2841, deadline, "restart policy: "+first, nil, none)
	w2.add("vm1", states.Spawned, states.Starting, states.Starting, 2846, deadline, "", nil, store.Proc{PID: 4243, StartTime: 8, Group: 4243})
	if err := w2.st.Close(); err != nil {
		t.Fatal(err)
	}
	checkClean(t, path)
}

// Storm run seed 1796075632971395776, vm s0: a stop came 2ms after a
// start, while its spawn was under way, and the daemon was killed 1ms
// later; the next boot's recovery found no agent and recorded the stop
// done. The replay's spawn took no time, its stop found nothing and
// wrote exited before the recorded daemon's last write.
func TestCheckDaemonKilledDuringStopOfASpawn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lifeline.db")
	w := newWriter(t, path)
	none := store.Proc{}
	w.add("vm1", states.Create, states.Absent, states.Stopped, 0, time.Time{}, "", []byte(`{}`), none)
	w.add("vm2", states.Create, states.Absent, states.Stopped, 5, time.Time{}, "", []byte(`{}`), none)
	w.add("vm1", states.Start, states.Stopped, states.Starting, 1000, w.at(1000).Add(testStart), "", nil, none)
	w.add("vm1", states.Stop, states.Starting, states.Stopping, 1002, w.at(2002), "stop requested", nil, none)
	w.add("vm2", states.Update, states.Stopped, states.Stopped, 1004, time.Time{}, "spec updated", []byte(`{"env":{"A":"1"}}`), none)
	if err := w.st.Crash(); err != nil {
		t.Fatal(err)
	}
	w2 := newWriterAt(t, path, w.t0, w.at(1100))
	w2.add("vm1", states.Exited, states.Stopping, states.Stopped, 1130, time.Time{}, "recovery: agent gone", nil, none)
	if err := w2.st.Close(); err != nil {
		t.Fatal(err)
	}
	checkClean(t, path)
}

// Storm run seed 1796075632971395776, vm s9: a Running VM without a
// restart policy; the daemon was killed, its agent too, and the next
// boot's recovery found the agent gone and its QEMU left, recorded lost
// with the QEMU to be killed, and did not restart the VM. Then an update
// set restart on-failure: the file keeps only that spec, and the replay
// took it for the VM's spec at the loss and wrote a backoff. A loss of a
// running VM with no backoff after it shows the policy was none.
func TestCheckRecoveryFindsTheDriverLeftByAGoneAgent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lifeline.db")
	w := newWriter(t, path)
	none := store.Proc{}
	agent := store.Proc{PID: 4242, StartTime: 7, Group: 4242}
	qemu := store.Proc{PID: 4250, StartTime: 9, Group: 4250}
	deadline := w.at(1000).Add(testStart)
	w.add("vm1", states.Create, states.Absent, states.Stopped, 0, time.Time{}, "", []byte(`{}`), none)
	w.add("vm1", states.Start, states.Stopped, states.Starting, 1000, deadline, "", nil, none)
	w.add("vm1", states.Spawned, states.Starting, states.Starting, 1010, deadline, "", nil, agent)
	if _, err := w.st.Append(context.Background(), store.Write{Record: store.Record{
		VM: "vm1", Event: states.Spawned, From: states.Starting, To: states.Starting, Time: w.at(1200), Deadline: deadline,
		Agent: agent, VMProcess: qemu,
	}}); err != nil {
		t.Fatal(err)
	}
	w.add("vm1", states.EventRunning, states.Starting, states.Running, 1210, time.Time{}, "", nil, none)
	if err := w.st.Crash(); err != nil {
		t.Fatal(err)
	}
	w2 := newWriterAt(t, path, w.t0, w.at(2000))
	if _, err := w2.st.Append(context.Background(), store.Write{Record: store.Record{
		VM: "vm1", Event: states.Lost, From: states.Running, To: states.Broken, Time: w2.at(2010),
		Cause: store.Cause{Kind: store.CauseRecoveryGone, PID: 4242, VMProcessPID: 4250}, VMProcess: qemu,
	}}); err != nil {
		t.Fatal(err)
	}
	w2.add("vm1", states.Update, states.Broken, states.Broken, 2200, time.Time{}, "spec updated", []byte(`{"restart":"on-failure"}`), none)
	if err := w2.st.Close(); err != nil {
		t.Fatal(err)
	}
	checkClean(t, path)
}

// Storm run seed 1796073931948167869, vm s1: an update of a running VM
// stopped it to apply the spec, 131ms after the update's record (the stop
// waited for the VM's lock); the agent's exit was recorded 250ms after
// the stop's deadline, with no stop_timeout before it: the daemon saw the
// exit in time and wrote it after the tree's wait and cleanup. The
// replay's stop came with the update, its deadline 131ms earlier, and its
// timer fired before the exit it was given at the recorded time.
func TestCheckExitRecordedJustAfterTheDeadline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lifeline.db")
	w := newWriter(t, path)
	none := store.Proc{}
	deadline := w.at(1000).Add(testStart)
	w.add("vm1", states.Create, states.Absent, states.Stopped, 0, time.Time{}, "", []byte(`{}`), none)
	w.add("vm1", states.Start, states.Stopped, states.Starting, 1000, deadline, "", nil, none)
	w.add("vm1", states.Spawned, states.Starting, states.Starting, 1010, deadline, "", nil, store.Proc{PID: 4242, StartTime: 7, Group: 4242})
	w.add("vm1", states.EventRunning, states.Starting, states.Running, 1100, time.Time{}, "", nil, none)
	w.add("vm1", states.Update, states.Running, states.Running, 2000, time.Time{}, "spec updated", []byte(`{"env":{"A":"1"}}`), none)
	w.add("vm1", states.Stop, states.Running, states.Stopping, 2131, w.at(3131), "spec updated: restart to apply it", nil, none)
	w.add("vm1", states.Exited, states.Stopping, states.Stopped, 3381, time.Time{}, `agent exited: exit status 0, after "exiting"`, nil, none)
	deadline = w.at(3384).Add(testStart)
	w.add("vm1", states.Start, states.Stopped, states.Starting, 3384, deadline, "restart to apply the updated spec", nil, none)
	w.add("vm1", states.Spawned, states.Starting, states.Starting, 3400, deadline, "", nil, store.Proc{PID: 4243, StartTime: 8, Group: 4243})
	if err := w.st.Close(); err != nil {
		t.Fatal(err)
	}
	checkClean(t, path)
}

// Storm run seed 1796070533546493519, vm s0: a VM was force-stopped while
// its spawn was under way and the daemon was killed before the spawned
// record; the next boot's recovery found the agent by its files, recorded
// it (spawned, in ForceStopping) and killed it. The replay's model had no
// agent to find.
func TestCheckRecoveryRecordsAgentSpawnedWhileDown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lifeline.db")
	w := newWriter(t, path)
	none := store.Proc{}
	w.add("vm1", states.Create, states.Absent, states.Stopped, 0, time.Time{}, "", []byte(`{}`), none)
	w.add("vm2", states.Create, states.Absent, states.Stopped, 5, time.Time{}, "", []byte(`{}`), none)
	w.add("vm1", states.Start, states.Stopped, states.Starting, 1000, w.at(1000).Add(testStart), "", nil, none)
	w.add("vm1", states.ForceStop, states.Starting, states.ForceStopping, 1002, time.Time{}, "force stop requested", nil, none)
	w.add("vm2", states.Update, states.Stopped, states.Stopped, 1004, time.Time{}, "spec updated", []byte(`{"env":{"A":"1"}}`), none)
	if err := w.st.Crash(); err != nil {
		t.Fatal(err)
	}
	w2 := newWriterAt(t, path, w.t0, w.at(1100))
	w2.add("vm1", states.Spawned, states.ForceStopping, states.ForceStopping, 1110, time.Time{}, "agent found without a spawn record", nil, store.Proc{PID: 4242, StartTime: 7, Group: 4242})
	w2.add("vm1", states.Exited, states.ForceStopping, states.Stopped, 1130, time.Time{}, "recovery: force stop resumed", nil, none)
	if err := w2.st.Close(); err != nil {
		t.Fatal(err)
	}
	checkClean(t, path)
}

// Storm run seed 1796073931948167869, vm s6: a crash's backoff was written
// 9ms after the crash, due 400ms after its record; a reset came 5ms
// before that. The replay's backoff, written with the crash, was due 4ms
// before the reset, and its engine restarted the VM. A command the
// history shows before the timer's record came before the recorded timer.
func TestCheckResetJustAfterTheReplaysBackoff(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lifeline.db")
	w := newWriter(t, path)
	none := store.Proc{}
	deadline := w.at(1000).Add(testStart)
	w.add("vm1", states.Create, states.Absent, states.Stopped, 0, time.Time{}, "", []byte(`{"restart":"on-failure"}`), none)
	w.add("vm1", states.Start, states.Stopped, states.Starting, 1000, deadline, "", nil, none)
	w.add("vm1", states.Spawned, states.Starting, states.Starting, 1010, deadline, "", nil, store.Proc{PID: 4242, StartTime: 7, Group: 4242})
	w.add("vm1", states.EventRunning, states.Starting, states.Running, 1100, time.Time{}, "", nil, none)
	w.add("vm1", states.Crashed, states.Running, states.Broken, 2000, time.Time{}, "agent exited unasked: exit status 1", nil, none)
	w.add("vm1", states.Backoff, states.Broken, states.Broken, 2009, w.at(2209), "restart 1 of 5 in 10s, after 200ms", nil, none)
	w.add("vm1", states.Reset, states.Broken, states.Stopped, 2204, time.Time{}, "reset requested", nil, none)
	if err := w.st.Close(); err != nil {
		t.Fatal(err)
	}
	checkClean(t, path)
}

// Storm run seed 1796080055064640489 (10 minutes, load 20 on 2 cores), vm
// s3: a stop's deadline passed with the VM still Stopping; an update came
// 114ms after it and a force stop 263ms after it, before any stop_timeout:
// the daemon's timer had not got the VM's lock. Both inputs come before
// the replay's timer.
func TestCheckTwoCommandsJustAfterTheDeadline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lifeline.db")
	w := newWriter(t, path)
	none := store.Proc{}
	deadline := w.at(1000).Add(testStart)
	w.add("vm1", states.Create, states.Absent, states.Stopped, 0, time.Time{}, "", []byte(`{}`), none)
	w.add("vm1", states.Start, states.Stopped, states.Starting, 1000, deadline, "", nil, none)
	w.add("vm1", states.Spawned, states.Starting, states.Starting, 1010, deadline, "", nil, store.Proc{PID: 4242, StartTime: 7, Group: 4242})
	w.add("vm1", states.EventRunning, states.Starting, states.Running, 1100, time.Time{}, "", nil, none)
	w.add("vm1", states.Stop, states.Running, states.Stopping, 2000, w.at(3000), "stop requested", nil, none)
	w.add("vm1", states.Update, states.Stopping, states.Stopping, 3114, w.at(3000), "spec updated", []byte(`{}`), none)
	w.add("vm1", states.ForceStop, states.Stopping, states.ForceStopping, 3263, time.Time{}, "force stop requested", nil, none)
	w.add("vm1", states.Exited, states.ForceStopping, states.Stopped, 3300, time.Time{}, "force stop requested", nil, none)
	if err := w.st.Close(); err != nil {
		t.Fatal(err)
	}
	checkClean(t, path)
}

// Storm run seed 1796094998499387914, vm s6: an update of a Running VM
// wrote its record, and the daemon was killed before the stop that applies
// it (another VM's record came 30ms later); the next boot's recovery found
// the agent alive and adopted it (the new spec applies at its next start).
// The replay's update command wrote both records in the dying boot.
func TestCheckDaemonKilledBetweenAnUpdateAndItsStop(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lifeline.db")
	w := newWriter(t, path)
	none := store.Proc{}
	agent := store.Proc{PID: 4242, StartTime: 7, Group: 4242}
	w.add("vm1", states.Create, states.Absent, states.Stopped, 0, time.Time{}, "", []byte(`{}`), none)
	w.add("vm2", states.Create, states.Absent, states.Stopped, 5, time.Time{}, "", []byte(`{}`), none)
	deadline := w.at(1000).Add(testStart)
	w.add("vm1", states.Start, states.Stopped, states.Starting, 1000, deadline, "", nil, none)
	w.add("vm1", states.Spawned, states.Starting, states.Starting, 1010, deadline, "", nil, agent)
	w.add("vm1", states.EventRunning, states.Starting, states.Running, 1100, time.Time{}, "", nil, none)
	w.add("vm1", states.Update, states.Running, states.Running, 2000, time.Time{}, "spec updated", []byte(`{"env":{"A":"1"}}`), none)
	// Another VM's record after it: the daemon lived on a little.
	w.add("vm2", states.Update, states.Stopped, states.Stopped, 2030, time.Time{}, "spec updated", []byte(`{"env":{"B":"1"}}`), none)
	if err := w.st.Crash(); err != nil {
		t.Fatal(err)
	}
	w2 := newWriterAt(t, path, w.t0, w.at(2060))
	w2.add("vm1", states.Adopted, states.Running, states.Running, 2066, time.Time{}, "recovery: agent alive", nil, none)
	if err := w2.st.Close(); err != nil {
		t.Fatal(err)
	}
	checkClean(t, path)
}
