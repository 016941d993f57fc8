package store

import (
	"context"
	"crypto/sha256"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/states"
)

var update = flag.Bool("update", false, "rewrite testdata/records-v2.db")

// goldenV1 is the database of schema 1 whose records and heads are all of
// encoding version 1 (reasons as sentences), kept forever: every later
// build must read it. It can no longer be written.
const goldenV1 = "testdata/v1.db"

// goldenV2 is a schema-1 database written with record and head encoding
// version 2 (causes as data), kept forever too; -update rewrites it while
// version 2 is what this build writes.
const goldenV2 = "testdata/records-v2.db"

var goldenT0 = time.Date(2025, 11, 25, 9, 0, 0, 0, time.UTC)

// goldenWrites is the history in testdata/v1.db: two VMs, every kind of
// field, a delete and a re-create. Its reasons were written as sentences;
// the causes are those ParseReason finds in them.
func goldenWrites() []Write {
	agent := Proc{PID: 4242, StartTime: 987654321, Group: 4242, BootID: "6f1c2c1e"}
	qemu := Proc{PID: 4250, StartTime: 987654400, Group: 4250, BootID: "6f1c2c1e"}
	at := func(s int) time.Time { return goldenT0.Add(time.Duration(s) * time.Second) }
	w := func(vm string, ev states.Event, from states.State, s int, f func(*Record)) Write {
		to, err := states.Next(from, ev)
		if err != nil {
			panic(err)
		}
		r := Record{VM: vm, Event: ev, From: from, To: to, Time: at(s)}
		if f != nil {
			f(&r)
		}
		r.Cause = ParseReason(ev, r.Reason)
		return Write{Record: r}
	}
	ws := []Write{
		w("alpine", states.Create, states.Absent, 0, func(r *Record) { r.Reason = "user: create" }),
		w("debian", states.Create, states.Absent, 1, nil),
		w("alpine", states.Start, states.Stopped, 2, func(r *Record) { r.Deadline = at(602) }),
		w("alpine", states.Spawned, states.Starting, 3, func(r *Record) { r.Agent, r.VMProcess, r.Deadline = agent, qemu, at(602) }),
		w("alpine", states.EventRunning, states.Starting, 20, nil),
		w("alpine", states.Stop, states.Running, 30, func(r *Record) { r.Deadline, r.Reason = at(90), "user: stop" }),
		w("alpine", states.StopTimeout, states.Stopping, 90, nil),
		w("alpine", states.KillFailed, states.ForceStopping, 95, func(r *Record) { r.Reason = "tree survived SIGKILL" }),
		w("alpine", states.Reset, states.Broken, 120, nil),
		w("debian", states.Delete, states.Stopped, 121, nil),
		w("debian", states.Create, states.Absent, 122, nil),
	}
	ws[0].Spec = []byte("images:\n- location: alpine.iso\n")
	ws[10].Spec = []byte("images:\n- location: debian.qcow2\n")
	return ws
}

// goldenV2Writes is the history in testdata/records-v2.db: causes of
// every fact, among them ones a version-1 sentence never held (an exit
// code, a signal, "exiting").
func goldenV2Writes() []Write {
	agent := Proc{PID: 4242, StartTime: 987654321, Group: 4242, BootID: "6f1c2c1e"}
	qemu := Proc{PID: 4250, StartTime: 987654400, Group: 4250, BootID: "6f1c2c1e"}
	at := func(s int) time.Time { return goldenT0.Add(time.Duration(s) * time.Second) }
	w := func(ev states.Event, from states.State, s int, c Cause, f func(*Record)) Write {
		to, err := states.Next(from, ev)
		if err != nil {
			panic(err)
		}
		r := Record{VM: "alpine", Event: ev, From: from, To: to, Time: at(s), Cause: c}
		if f != nil {
			f(&r)
		}
		return Write{Record: r}
	}
	req := Cause{Kind: CauseRequested}
	ws := []Write{
		w(states.Create, states.Absent, 0, req, nil),
		w(states.Start, states.Stopped, 1, req, func(r *Record) { r.Deadline = at(601) }),
		w(states.Spawned, states.Starting, 2, Cause{}, func(r *Record) { r.Agent, r.VMProcess, r.Deadline = agent, qemu, at(601) }),
		w(states.EventRunning, states.Starting, 3, Cause{}, nil),
		w(states.Crashed, states.Running, 10, Cause{Kind: CauseAgentExit, Code: -1, Signal: 9, Detail: "signal: killed"}, nil),
		w(states.Backoff, states.Broken, 10, Cause{Kind: CauseRestartPolicy, N: 1, Limit: 5, Window: 10 * time.Minute, Backoff: time.Second}, func(r *Record) { r.Deadline = at(11) }),
		w(states.Restart, states.Broken, 11, Cause{Kind: CauseRestartPolicy, N: 1, Limit: 5, Window: 10 * time.Minute, Backoff: time.Second}, func(r *Record) { r.Deadline = at(611) }),
		w(states.Spawned, states.Starting, 12, Cause{}, func(r *Record) { r.Agent, r.Deadline = agent, at(611) }),
		w(states.EventRunning, states.Starting, 13, Cause{}, nil),
		w(states.Stop, states.Running, 20, Cause{Kind: CauseShutdown}, func(r *Record) { r.Deadline = at(80) }),
		w(states.StopTimeout, states.Stopping, 80, Cause{Kind: CauseGracefulDeadline, Deadline: at(80), PID: 4242, Err: "operation not permitted"}, func(r *Record) { r.Deadline = at(85) }),
		w(states.Exited, states.ForceStopping, 81, Cause{Kind: CauseAgentExit, Code: 0, Exiting: true, Detail: `exit status 0, after "exiting"`}, nil),
		w(states.Start, states.Stopped, 90, req, func(r *Record) { r.Deadline = at(690) }),
		w(states.Spawned, states.Starting, 91, Cause{}, func(r *Record) { r.Agent, r.Deadline = agent, at(690) }),
		w(states.Lost, states.Starting, 92, Cause{Kind: CauseRecoveryGone, PID: 4242, VMProcessPID: 4250}, func(r *Record) { r.VMProcess = qemu }),
		w(states.ForceStop, states.Broken, 93, Cause{Kind: CauseRequested, Detail: "e2e"}, nil),
		w(states.KillFailed, states.ForceStopping, 94, Cause{Kind: CauseCleanupFailed, Err: "remove files: busy"}, nil),
		w(states.Reset, states.Broken, 95, req, nil),
	}
	ws[0].Spec = []byte("images:\n- location: alpine.iso\n")
	return ws
}

func goldenClock() func() time.Time { return func() time.Time { return goldenT0 } }

// TestGolden opens the database of each encoding version kept in
// testdata, read-only (the file must not change) and read-write (a copy),
// and reads back every record: a version-1 record with its sentence and
// the cause parsed from it, a version-2 one with its cause and the
// sentence rendered from it.
func TestGolden(t *testing.T) {
	if *update {
		if recordVersion != 2 || headVersion != 2 {
			t.Fatalf("%s is the database of record version 2; keep it, and add one for version %d", goldenV2, recordVersion)
		}
		writeGolden(t, goldenV2, goldenV2Writes())
	}
	for _, g := range []struct {
		path   string
		writes []Write
	}{{goldenV1, goldenWrites()}, {goldenV2, goldenV2Writes()}} {
		t.Run(filepath.Base(g.path), func(t *testing.T) { testGolden(t, g.path, g.writes) })
	}
}

func testGolden(t *testing.T, path string, writes []Write) {
	sum := func() [32]byte {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return sha256.Sum256(b)
	}
	before := sum()
	s, err := OpenReadOnly(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, s, writes)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if sum() != before {
		t.Fatalf("OpenReadOnly changed %s", path)
	}

	// A read-write open of a copy migrates it, if need be, and keeps it.
	cp := filepath.Join(t.TempDir(), "golden.db")
	copyFile(t, path, cp)
	if s, err = Open(cp, Options{Now: goldenClock()}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkGolden(t, s, writes)
	last := writes[len(writes)-1].Record
	if _, err := s.Append(context.Background(), Write{Record: Record{VM: last.VM, Event: states.Start, From: last.To, To: states.Starting, Cause: Cause{Kind: CauseRequested}}}); err != nil {
		t.Fatal(err)
	}
}

func checkGolden(t *testing.T, s *Store, writes []Write) {
	t.Helper()
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	var want []Record
	for i, w := range writes {
		if err := checkWrite(&w); err != nil {
			t.Fatal(err)
		}
		r := w.Record
		r.Seq, r.Boot = uint64(i+1), 1
		want = append(want, r)
	}
	vmseq := map[string]uint64{}
	for i := range want {
		vmseq[want[i].VM]++
		want[i].VMSeq = vmseq[want[i].VM]
	}
	var got []Record
	if err := s.Records(0, func(r Record) error { got = append(got, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("records\n%+v\nwant\n%+v", got, want)
	}
	boots, err := s.Boots()
	if err != nil || len(boots) == 0 || boots[0].Number != 1 || !boots[0].Started.Equal(goldenT0) || !boots[0].Closed.Equal(goldenT0) {
		t.Fatalf("boots %+v, %v", boots, err)
	}
}

func writeGolden(t *testing.T, path string, writes []Write) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(t.TempDir(), "golden.db")
	s, err := Open(tmp, Options{Now: goldenClock()})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range writes {
		if _, err := s.Append(context.Background(), w); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	copyFile(t, tmp, path)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
