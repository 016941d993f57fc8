package lima

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lima-vm/lima/pkg/store/filenames"
	"github.com/rs/zerolog"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/process"
)

// ownPIDFile writes ha.pid in dir naming this test process, and returns
// its identity: the watched agent's, for watch tests.
func ownPIDFile(t *testing.T, dir string) drivers.Proc {
	t.Helper()
	me, err := process.Identify(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, filenames.HostAgentPID), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return me
}

// handle turns Lima's events into observations: degraded and error events
// are failures with their text, running is reported once, stale and
// malformed lines are skipped.
func TestHandleEvents(t *testing.T) {
	since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var got []drivers.Observation
	dir := t.TempDir() // no qemu.pid: no identity to find
	w := &watch{
		d:     &Driver{log: zerolog.Nop()},
		vm:    "vm1",
		dir:   dir,
		procs: drivers.Procs{Agent: ownPIDFile(t, dir)}, // the agent of ha.pid
		since: since,
		sink:  func(o drivers.Observation) { got = append(got, o) },
	}
	at := func(d time.Duration) string { return since.Add(d).Format(time.RFC3339Nano) }
	for _, l := range []string{
		`{"time":"` + at(-time.Hour) + `","status":{"errors":["stale: an earlier agent's"]}}`,
		`not json`,
		``,
		`{"time":"` + at(time.Second) + `","status":{"sshLocalPort":60022}}`,
		`{"time":"` + at(2*time.Second) + `","status":{"running":true,"sshLocalPort":60022}}`,
		`{"time":"` + at(3*time.Second) + `","status":{"running":true,"sshLocalPort":60022}}`,
		`{"time":"` + at(4*time.Second) + `","status":{"running":true,"degraded":true,"errors":["guest agent does not seem to be running"]}}`,
		`{"status":{"errors":["boom","bang"]}}`,
		`{"time":"` + at(5*time.Second) + `","status":{"exiting":true}}`,
	} {
		w.handle([]byte(l))
	}
	want := []struct {
		kind   drivers.ObservationKind
		reason string
	}{
		{drivers.ObsRunning, "running"},
		{drivers.ObsFailed, "degraded: guest agent does not seem to be running"},
		{drivers.ObsFailed, "boom; bang"},
	}
	if len(got) != len(want) {
		t.Fatalf("observations %+v, want %d", got, len(want))
	}
	for i, o := range got {
		if o.Kind != want[i].kind || !strings.Contains(o.Reason, want[i].reason) {
			t.Errorf("observation %d: %s %q, want %s %q", i, o.Kind, o.Reason, want[i].kind, want[i].reason)
		}
	}
	if !w.exiting {
		t.Error("exiting not noticed")
	}
	if r := w.exitReason("exit status 1"); r != `exit status 1, after "exiting"; errors: guest agent does not seem to be running; boom; bang` {
		t.Errorf("exit reason %q", r)
	}
}

// A running event while ha.pid names another agent is that agent's (a
// `limactl start` racing lifeline's wrote it into the same log): it is not
// reported for the watched agent.
func TestHandleIgnoresAnotherAgentsRunning(t *testing.T) {
	since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var got []drivers.Observation
	dir := t.TempDir()
	me := ownPIDFile(t, dir) // ha.pid names this process, not the watched agent
	w := &watch{
		d:     &Driver{log: zerolog.Nop()},
		vm:    "vm1",
		dir:   dir,
		procs: drivers.Procs{Agent: drivers.Proc{PID: me.PID + 1, StartTime: me.StartTime}},
		since: since,
		sink:  func(o drivers.Observation) { got = append(got, o) },
	}
	w.handle([]byte(`{"time":"` + since.Add(time.Second).Format(time.RFC3339Nano) + `","status":{"running":true}}`))
	if len(got) != 0 || w.running {
		t.Errorf("observations %+v: another agent's running event was taken for the watched one's", got)
	}
}

// reportedRunning is Lookup's view of the log: running from since on, and
// not exiting after it.
func TestReportedRunning(t *testing.T) {
	since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(d time.Duration) string { return since.Add(d).Format(time.RFC3339Nano) }
	path := filepath.Join(t.TempDir(), "ha.stdout.log")
	for _, c := range []struct {
		log  string
		want bool
	}{
		{"", false},
		{`{"time":"` + at(-time.Hour) + `","status":{"running":true}}` + "\n", false},
		{`{"time":"` + at(time.Second) + `","status":{"running":true}}` + "\n", true},
		{`{"time":"` + at(time.Second) + `","status":{"running":true,"degraded":true}}` + "\n", false},
		{`{"time":"` + at(time.Second) + `","status":{"running":true}}` + "\n" + `{"time":"` + at(2*time.Second) + `","status":{"exiting":true}}` + "\n", false},
	} {
		if err := os.WriteFile(path, []byte(c.log), 0o644); err != nil {
			t.Fatal(err)
		}
		if got, err := reportedRunning(path, since); err != nil || got != c.want {
			t.Errorf("log %q: running %v, %v; want %v", c.log, got, err, c.want)
		}
	}
	if got, err := reportedRunning(filepath.Join(t.TempDir(), "missing"), since); err != nil || got {
		t.Errorf("missing log: %v, %v", got, err)
	}
}

// The last read of the log after the agent exited: an agent that said
// "running" and crashed 200 ms later, before the watch read the line, was
// up, and the record must say it crashed, not that its start failed. Its
// ha.pid now names a dead process with the watched agent's own pid
// number: that is the watched agent's file. Before the exit, or with
// another number in the file, the line is not taken for its.
func TestRunningReadAfterTheAgentExitedIsItsOwn(t *testing.T) {
	since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	line := []byte(`{"time":"` + since.Add(time.Second).Format(time.RFC3339Nano) + `","status":{"running":true}}`)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	pid := dead.Process.Pid
	exited := make(chan struct{})
	close(exited)
	for _, c := range []struct {
		name    string
		filePID int
		exited  <-chan struct{}
		want    bool
	}{
		{"exited, its own pid in ha.pid", pid, exited, true},
		{"exited, another pid in ha.pid", pid + 1, exited, false},
		{"not known to have exited", pid, nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, filenames.HostAgentPID), []byte(strconv.Itoa(c.filePID)+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			var got []drivers.Observation
			w := &watch{
				d:      &Driver{log: zerolog.Nop()},
				vm:     "vm1",
				dir:    dir,
				procs:  drivers.Procs{Agent: drivers.Proc{PID: pid, StartTime: 1}},
				since:  since,
				exited: c.exited,
				sink:   func(o drivers.Observation) { got = append(got, o) },
			}
			w.handle(line)
			if reported := len(got) == 1 && got[0].Kind == drivers.ObsRunning; reported != c.want || w.running != c.want {
				t.Errorf("observations %+v (running %v); want running reported: %v", got, w.running, c.want)
			}
		})
	}
}
