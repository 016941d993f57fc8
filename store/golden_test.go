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

var update = flag.Bool("update", false, "rewrite testdata/v1.db")

// goldenV1 is the database of schema 1 kept forever: every later build must
// read it.
const goldenV1 = "testdata/v1.db"

var goldenT0 = time.Date(2025, 11, 25, 9, 0, 0, 0, time.UTC)

// goldenWrites is the history in testdata/v1.db: two VMs, every kind of
// field, a delete and a re-create.
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
		return Write{Record: r}
	}
	ws := []Write{
		w("alpine", states.Create, states.Absent, 0, func(r *Record) { r.Reason = "user: create" }),
		w("debian", states.Create, states.Absent, 1, nil),
		w("alpine", states.Start, states.Stopped, 2, func(r *Record) { r.Deadline = at(602) }),
		w("alpine", states.Spawned, states.Starting, 3, func(r *Record) { r.Agent, r.Driver, r.Deadline = agent, qemu, at(602) }),
		w("alpine", states.Run, states.Starting, 20, nil),
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

func goldenClock() func() time.Time { return func() time.Time { return goldenT0 } }

func TestGolden(t *testing.T) {
	if *update {
		if currentSchema != 1 {
			t.Fatalf("%s is the schema 1 database; keep it, and add one for schema %d", goldenV1, currentSchema)
		}
		writeGolden(t)
	}
	sum := func() [32]byte {
		b, err := os.ReadFile(goldenV1)
		if err != nil {
			t.Fatal(err)
		}
		return sha256.Sum256(b)
	}
	before := sum()
	s, err := OpenReadOnly(goldenV1, Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if sum() != before {
		t.Fatalf("OpenReadOnly changed %s", goldenV1)
	}

	// A read-write open of a copy migrates it, if need be, and keeps it.
	cp := filepath.Join(t.TempDir(), "v1.db")
	copyFile(t, goldenV1, cp)
	if s, err = Open(cp, Options{Now: goldenClock()}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkGolden(t, s)
	if _, err := s.Append(context.Background(), Write{Record: Record{VM: "alpine", Event: states.Start, From: states.Stopped, To: states.Starting}}); err != nil {
		t.Fatal(err)
	}
}

func checkGolden(t *testing.T, s *Store) {
	t.Helper()
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	var want []Record
	for i, w := range goldenWrites() {
		checkWrite(&w)
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

func writeGolden(t *testing.T) {
	if err := os.MkdirAll(filepath.Dir(goldenV1), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(t.TempDir(), "v1.db")
	s, err := Open(tmp, Options{Now: goldenClock()})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range goldenWrites() {
		if _, err := s.Append(context.Background(), w); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	copyFile(t, tmp, goldenV1)
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
