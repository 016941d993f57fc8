package store_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

var t0 = time.Date(2025, 11, 25, 12, 0, 0, 123456789, time.UTC)

// clock returns a clock for boot records that ticks one second per call.
func clock() func() time.Time {
	now := t0
	return func() time.Time { now = now.Add(time.Second); return now }
}

func openT(t *testing.T, path string) *store.Store {
	t.Helper()
	s, err := store.Open(path, store.Options{Now: clock()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// move appends vm's event from from, to where the table leads.
func move(t *testing.T, s *store.Store, vm string, ev states.Event, from states.State, spec []byte) store.Record {
	t.Helper()
	to, err := states.Next(from, ev)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Append(context.Background(), store.Write{
		Record: store.Record{VM: vm, Event: ev, From: from, To: to, Time: t0.Add(time.Duration(s.LastSeq()) * time.Second)},
		Spec:   spec,
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func collect(t *testing.T, s *store.Store, from uint64) []store.Record {
	t.Helper()
	var out []store.Record
	if err := s.Records(from, func(r store.Record) error { out = append(out, r); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func collectVM(t *testing.T, s *store.Store, vm string, from uint64) []store.Record {
	t.Helper()
	var out []store.Record
	if err := s.VMRecords(vm, from, func(r store.Record) error { out = append(out, r); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRoundTripEveryField(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lifeline.db")
	s := openT(t, path)
	spec := []byte("cpus: 2\n")
	local := time.FixedZone("here", 3600)
	in := store.Record{
		VM: "vm1", Event: states.Create, From: states.Absent, To: states.Stopped,
		Time:      time.Date(2025, 1, 2, 3, 4, 5, 6, local),
		Agent:     store.Proc{PID: 4242, StartTime: 1 << 40, Group: 4242, BootID: "boot-a"},
		VMProcess: store.Proc{PID: -7, StartTime: 9, Group: 0, BootID: "boot-b"},
		Deadline:  time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC),
		// Every fact of a cause, whatever its kind uses.
		Cause: store.Cause{Kind: store.CauseUnknown, Code: -3, Signal: 9, Exiting: true, Deadline: time.Date(2100, 1, 1, 0, 0, 0, 1, local),
			PID: 1 << 40, VMProcessPID: -2, Err: "e", Detail: "user: lifeline create vm1 ✓", N: 7, Limit: 1 << 30, Window: time.Hour, Backoff: -time.Second, Grace: 90 * time.Second},
		Seq: 99, VMSeq: 99, Boot: 99, SpecHash: [32]byte{1}, // ignored: the store assigns them
	}
	got, err := s.Append(context.Background(), store.Write{Record: in, Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	want := in
	want.Seq, want.VMSeq, want.Boot, want.SpecHash = 1, 1, s.Boot(), sha256.Sum256(spec)
	want.Time, want.Deadline = in.Time.UTC(), in.Deadline.UTC()
	want.Cause.Deadline = in.Cause.Deadline.UTC()
	want.Reason = "user: lifeline create vm1 ✓"
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Append returned\n%+v\nwant\n%+v", got, want)
	}
	if recs := collect(t, s, 0); len(recs) != 1 || !reflect.DeepEqual(recs[0], want) {
		t.Fatalf("Records = %+v, want [%+v]", recs, want)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, path)
	if recs := collect(t, s, 1); len(recs) != 1 || !reflect.DeepEqual(recs[0], want) {
		t.Fatalf("after reopen, Records = %+v, want [%+v]", recs, want)
	}
	h, ok, err := s.Head("vm1")
	if err != nil || !ok {
		t.Fatalf("Head = %v, %v", ok, err)
	}
	if wantHead := store.Fold([]store.Record{want}); h != wantHead {
		t.Fatalf("head\n%+v\nwant\n%+v", h, wantHead)
	}
	if got, err := s.Spec("vm1"); err != nil || string(got) != string(spec) {
		t.Fatalf("Spec = %q, %v", got, err)
	}
	if s.LastSeq() != 1 || s.Boot() != 2 {
		t.Fatalf("LastSeq, Boot = %d, %d; want 1, 2", s.LastSeq(), s.Boot())
	}
}

// lifecycle drives vm through create, start, spawned, running, stop,
// exited and returns the records.
func lifecycle(t *testing.T, s *store.Store, vm string) {
	t.Helper()
	from := states.Absent
	for _, ev := range []states.Event{states.Create, states.Start, states.Spawned, states.EventRunning, states.Stop, states.Exited} {
		var spec []byte
		if ev == states.Create {
			spec = []byte("spec of " + vm)
		}
		from = move(t, s, vm, ev, from, spec).To
	}
}

func TestGlobalOrderHeadsAndVMRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lifeline.db")
	s := openT(t, path)
	// Interleave three VMs, then delete and re-create one.
	for _, vm := range []string{"b", "a", "c"} {
		move(t, s, vm, states.Create, states.Absent, []byte(vm))
	}
	lifecycle(t, s, "x")
	move(t, s, "a", states.Start, states.Stopped, nil)
	move(t, s, "b", states.Delete, states.Stopped, nil)
	move(t, s, "b", states.Create, states.Absent, []byte("b2"))
	move(t, s, "c", states.Delete, states.Stopped, nil)

	all := collect(t, s, 0)
	if len(all) != 13 || s.LastSeq() != 13 {
		t.Fatalf("%d records, LastSeq %d; want 13", len(all), s.LastSeq())
	}
	byVM := map[string][]store.Record{}
	for i, r := range all {
		if r.Seq != uint64(i+1) {
			t.Fatalf("record %d has seq %d", i, r.Seq)
		}
		byVM[r.VM] = append(byVM[r.VM], r)
	}
	if got := collect(t, s, 11); len(got) != 3 || got[0].Seq != 11 {
		t.Fatalf("Records(11) = %+v", got)
	}
	if b := byVM["b"]; len(b) != 3 || b[2].VMSeq != 3 || b[2].Event != states.Create {
		t.Fatalf("re-created vm b: %+v", b)
	}

	heads, err := s.Heads()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, h := range heads {
		names = append(names, h.VM)
		if want := store.Fold(byVM[h.VM]); h != want {
			t.Errorf("vm %s: head\n%+v\nfold\n%+v", h.VM, h, want)
		}
		vmRecs := collectVM(t, s, h.VM, 0)
		if !reflect.DeepEqual(vmRecs, byVM[h.VM]) {
			t.Errorf("vm %s: VMRecords = %+v, want %+v", h.VM, vmRecs, byVM[h.VM])
		}
	}
	if want := []string{"a", "b", "c", "x"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("Heads names = %v, want %v", names, want)
	}
	if heads[2].State != states.Absent {
		t.Fatalf("deleted vm c: head state %s, want Absent", heads[2].State)
	}
	if got := collectVM(t, s, "x", 4); len(got) != 3 || got[0].VMSeq != 4 || got[0].Event != states.EventRunning {
		t.Fatalf("VMRecords(x, 4) = %+v", got)
	}
	if spec, err := s.Spec("b"); err != nil || string(spec) != "b2" {
		t.Fatalf("Spec(b) = %q, %v", spec, err)
	}
	if _, err := s.Spec("nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Spec(nope) = %v, want ErrNotFound", err)
	}
	if err := s.VMRecords("nope", 0, func(store.Record) error { return nil }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("VMRecords(nope) = %v, want ErrNotFound", err)
	}
	if _, ok, err := s.Head("nope"); ok || err != nil {
		t.Fatalf("Head(nope) = %v, %v", ok, err)
	}
	if err := s.Check(); err != nil {
		t.Fatalf("Check: %v", err)
	}
	stop := errors.New("stop")
	n := 0
	if err := s.Records(0, func(store.Record) error { n++; return stop }); err != stop || n != 1 {
		t.Fatalf("Records stopping: %v after %d", err, n)
	}
}

func TestAppendRejects(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lifeline.db")
	s := openT(t, path)
	move(t, s, "vm", states.Create, states.Absent, []byte("spec"))
	ctx := context.Background()
	tests := []struct {
		name string
		r    store.Record
		want error
	}{
		{"wrong from", store.Record{VM: "vm", Event: states.Stop, From: states.Running, To: states.Stopping}, store.ErrConflict},
		{"create twice", store.Record{VM: "vm", Event: states.Create, From: states.Absent, To: states.Stopped}, store.ErrConflict},
		{"forbidden", store.Record{VM: "vm", Event: states.Stop, From: states.Stopped, To: states.Stopping}, &states.InvalidTransitionError{}},
		{"wrong to", store.Record{VM: "vm", Event: states.Start, From: states.Stopped, To: states.Running}, store.ErrInvalidRecord},
		{"no vm", store.Record{Event: states.Create, To: states.Stopped}, store.ErrInvalidRecord},
		{"no event", store.Record{VM: "vm", From: states.Stopped, To: states.Stopped}, store.ErrInvalidRecord},
		{"bad state", store.Record{VM: "vm", Event: states.Start, From: states.Stopped, To: 99}, store.ErrInvalidRecord},
		{"time out of range", store.Record{VM: "vm", Event: states.Start, From: states.Stopped, To: states.Starting, Time: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)}, store.ErrInvalidRecord},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Append(ctx, store.Write{Record: tt.r, Spec: []byte("other")})
			if inv := (*states.InvalidTransitionError)(nil); errors.As(tt.want, &inv) {
				if !errors.As(err, &inv) || inv.VM != "vm" {
					t.Fatalf("err = %v, want an InvalidTransitionError naming vm", err)
				}
			} else if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	if got := collect(t, s, 0); len(got) != 1 || s.LastSeq() != 1 {
		t.Fatalf("rejected appends wrote: %d records, LastSeq %d", len(got), s.LastSeq())
	}
	if spec, _ := s.Spec("vm"); string(spec) != "spec" {
		t.Fatalf("rejected append changed the spec to %q", spec)
	}
	if h, _, _ := s.Head("vm"); h.Seq != 1 || h.State != states.Stopped {
		t.Fatalf("rejected appends moved the head: %+v", h)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestBoots(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lifeline.db")
	now := clock()
	opts := store.Options{Now: now}
	s, err := store.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil { // clean
		t.Fatal(err)
	}
	if err := s.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	if s, err = store.Open(path, opts); err != nil {
		t.Fatal(err)
	}
	move(t, s, "vm", states.Create, states.Absent, nil)
	if err := s.Crash(); err != nil { // the daemon dies
		t.Fatal(err)
	}
	if _, err := s.Append(context.Background(), store.Write{Record: store.Record{VM: "vm", Event: states.Start, From: states.Stopped, To: states.Starting}}); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Append after Crash = %v, want ErrClosed", err)
	}
	if _, err := s.Heads(); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Heads after Crash = %v, want ErrClosed", err)
	}
	s = openT(t, path)
	boots, err := s.Boots()
	if err != nil {
		t.Fatal(err)
	}
	pid := os.Getpid()
	want := []store.Boot{
		{Number: 1, Started: t0.Add(1 * time.Second), PID: pid, Closed: t0.Add(2 * time.Second)},
		{Number: 2, Started: t0.Add(3 * time.Second), PID: pid},
		{Number: 3, Started: t0.Add(1 * time.Second), PID: pid}, // openT's own clock
	}
	if !reflect.DeepEqual(boots, want) {
		t.Fatalf("boots\n%+v\nwant\n%+v", boots, want)
	}
	if r := collect(t, s, 0); len(r) != 1 || r[0].Boot != 2 {
		t.Fatalf("record's boot: %+v", r)
	}
}

func TestReadOnlyLeavesFileUnchanged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lifeline.db")
	s := openT(t, path)
	lifecycle(t, s, "vm")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	before := fileSum(t, path)
	ro, err := store.OpenReadOnly(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ro.Boot() != 0 || ro.LastSeq() != 6 {
		t.Fatalf("read-only Boot, LastSeq = %d, %d; want 0, 6", ro.Boot(), ro.LastSeq())
	}
	if n := len(collect(t, ro, 0)); n != 6 {
		t.Fatalf("read-only Records: %d, want 6", n)
	}
	if err := ro.Check(); err != nil {
		t.Fatal(err)
	}
	_, err = ro.Append(context.Background(), store.Write{Record: store.Record{VM: "vm", Event: states.Start, From: states.Stopped, To: states.Starting}})
	if !errors.Is(err, store.ErrReadOnly) {
		t.Fatalf("Append on read-only = %v, want ErrReadOnly", err)
	}
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}
	if after := fileSum(t, path); after != before {
		t.Fatal("OpenReadOnly changed the file")
	}
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

func TestCtxDoneBeforeAppend(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), "lifeline.db"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Append(ctx, store.Write{Record: store.Record{VM: "vm", Event: states.Create, To: states.Stopped}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if s.LastSeq() != 0 {
		t.Fatal("a cancelled append was written")
	}
}

func TestBackup(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, filepath.Join(dir, "lifeline.db"))
	lifecycle(t, s, "vm")
	f, err := os.Create(filepath.Join(dir, "copy.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Backup(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	c, err := store.OpenReadOnly(f.Name(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !reflect.DeepEqual(collect(t, c, 0), collect(t, s, 0)) {
		t.Fatal("backup holds other records")
	}
}
