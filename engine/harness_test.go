package engine

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/drivertest"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// Timeouts of the test engine: short, distinct numbers so a record's time
// tells which deadline fired.
const (
	testGraceful  = 7 * time.Second
	testStart     = 11 * time.Second
	testTerminate = 3 * time.Second
)

// harness is an engine over a real bbolt file and the scripted driver.
// Tests run it inside synctest.Test, so every timer is virtual.
type harness struct {
	t    testing.TB
	path string
	st   *store.Store
	log  Store // what the engine writes through (st, or a wrapper)
	drv  *drivertest.Driver
	e    *Engine
	wrap func(Store) Store
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	h := &harness{t: t, path: filepath.Join(t.TempDir(), "lifeline.db"), drv: drivertest.New()}
	h.open()
	t.Cleanup(func() {
		if h.e != nil {
			h.e.Close()
		}
		if h.st != nil {
			h.st.Close()
		}
	})
	return h
}

func (h *harness) open() {
	h.t.Helper()
	st, err := store.Open(h.path, store.Options{NoSync: true})
	if err != nil {
		h.t.Fatalf("open store: %v", err)
	}
	h.st = st
	h.log = Store(st)
	if h.wrap != nil {
		h.log = h.wrap(st)
	}
	e, err := Open(context.Background(), Options{
		Store:           h.log,
		Driver:          h.drv,
		GracefulTimeout: testGraceful,
		StartTimeout:    testStart,
		TerminateGrace:  testTerminate,
	})
	if err != nil {
		h.t.Fatalf("open engine: %v", err)
	}
	h.e = e
}

// crash drops the engine and the store the way a killed daemon would: no
// clean close of the boot, agents left as they are.
func (h *harness) crash() {
	h.t.Helper()
	h.e.Close()
	if err := h.st.Crash(); err != nil {
		h.t.Fatalf("crash store: %v", err)
	}
	h.e, h.st = nil, nil
}

// restart crashes and opens again: recovery runs.
func (h *harness) restart() {
	h.t.Helper()
	h.crash()
	h.open()
}

func (h *harness) must(err error) {
	h.t.Helper()
	if err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) state(vm string) states.State {
	h.t.Helper()
	v, err := h.e.Get(vm)
	if err != nil {
		return states.Absent
	}
	return v.State
}

func (h *harness) wantState(vm string, want states.State) {
	h.t.Helper()
	if got := h.state(vm); got != want {
		h.t.Fatalf("vm %s is %s, want %s\nlog:\n%s", vm, got, want, h.logText(vm))
	}
}

// records returns vm's records from the store.
func (h *harness) records(vm string) []store.Record {
	h.t.Helper()
	var out []store.Record
	err := h.st.VMRecords(vm, 1, func(r store.Record) error { out = append(out, r); return nil })
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		h.t.Fatalf("read log of %s: %v", vm, err)
	}
	return out
}

// events returns vm's log as "event:To" strings.
func (h *harness) events(vm string) []string {
	var out []string
	for _, r := range h.records(vm) {
		out = append(out, fmt.Sprintf("%s:%s", r.Event, r.To))
	}
	return out
}

func (h *harness) logText(vm string) string {
	s := ""
	for _, r := range h.records(vm) {
		s += fmt.Sprintf("  %d %s %s→%s %q\n", r.VMSeq, r.Event, r.From, r.To, r.Reason)
	}
	return s
}

func (h *harness) wantEvents(vm string, want ...string) {
	h.t.Helper()
	got := h.events(vm)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		h.t.Fatalf("vm %s log:\n got %v\nwant %v\n%s", vm, got, want, h.logText(vm))
	}
}

func (h *harness) create(vm string, b drivertest.Behavior) {
	h.t.Helper()
	h.drv.Script(vm, b)
	h.ok(h.e.Create(context.Background(), vm, drivers.Spec{}))
}

// failingStore fails every Append after the first n, and counts.
type failingStore struct {
	Store
	mu     sync.Mutex
	n      int
	writes int
	// afterWrite: the failing append still commits (the ack is lost), as a
	// crash right after fsync would look to the caller.
	afterWrite bool
	// once: only write n+1 fails; the store works again after it.
	once bool
	// match, when set, limits the failures to the writes it matches.
	match func(store.Write) bool
	// failed counts the appends that failed.
	failed int
}

// failNow makes every append from now on fail, as a disk that just
// filled up.
func (f *failingStore) failNow() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n, f.once = f.writes, false
}

// heal makes appends succeed again, as a disk with space freed.
func (f *failingStore) heal() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n = 1 << 62
}

// failures returns how many appends failed so far.
func (f *failingStore) failures() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed
}

var errInjected = errors.New("injected store failure")

func (f *failingStore) Append(ctx context.Context, w store.Write) (store.Record, error) {
	f.mu.Lock()
	f.writes++
	fail := f.writes > f.n && (!f.once || f.writes == f.n+1) && (f.match == nil || f.match(w))
	if fail {
		f.failed++
	}
	f.mu.Unlock()
	if !fail {
		return f.Store.Append(ctx, w)
	}
	if f.afterWrite && f.writes == f.n+1 {
		if _, err := f.Store.Append(ctx, w); err != nil {
			return store.Record{}, err
		}
	}
	return store.Record{}, errInjected
}

// ok fails the test on a command's error.
func (h *harness) ok(_ store.Record, err error) {
	h.t.Helper()
	h.must(err)
}
