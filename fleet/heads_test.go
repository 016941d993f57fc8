package fleet

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/drivertest"
	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/store"
)

// TestStaleHeadDeletedByADaemonStoppedAtOnce: a daemon killed after a
// delete's record and before the head's delete leaves the VM's key in the
// heads bucket. The next daemon deletes it when its heads first sync; one
// that is stopped before that sync (its engine closed) must still delete
// it at its clean stop, not leave a VM in the fleet view that its log
// deleted. (TestFleetExactlyOnceAcrossSIGKILLs in tests/ found this: a
// burst VM deleted right before a SIGKILL, the last daemon stopped at
// once.)
func TestStaleHeadDeletedByADaemonStoppedAtOnce(t *testing.T) {
	srv := startNATS(t, t.TempDir(), 0)
	th := newTestHost(t, "h1", srv.ClientURL(), nil)
	ctx := context.Background()
	for _, vm := range []string{"gone", "kept"} {
		if _, err := th.e.Create(ctx, vm, drivers.Spec{Command: []string{"sleep", "1"}}); err != nil {
			t.Fatal(err)
		}
	}
	th.waitCaughtUp(10 * time.Second)
	js := jsOf(t, srv.ClientURL())
	eventually(t, 5*time.Second, "the heads of gone and kept", func() bool { return headsEqual(js, th) })
	th.kill()

	// The delete's record is in the log; its head's delete never left.
	st, err := store.Open(filepath.Join(th.dir, "lifeline.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e, err := engine.Open(ctx, engine.Options{Store: st, Driver: th.drv, GracefulTimeout: time.Second, TerminateGrace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Delete(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	// The next daemon stops before its fleet layer did anything: the
	// engine is closed when Run begins.
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	nc, err := Connect(th.url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	h, err := New(nc, Options{Host: th.name, Engine: e, Log: st, Retry: 50 * time.Millisecond, AckTimeout: 2 * time.Second, Liveness: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := h.Run(rctx); err != nil {
		t.Fatal(err)
	}
	if h.Acked() != st.LastSeq() {
		t.Fatalf("the stream holds seq %d, the log ends at seq %d", h.Acked(), st.LastSeq())
	}
	view, err := List(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, hv := range view {
		if hv.Host == th.name {
			for _, v := range hv.VMs {
				got = append(got, v.Name)
			}
		}
	}
	if len(got) != 1 || got[0] != "kept" {
		t.Errorf("the heads bucket holds VMs %q of host %s; its log has only kept (gone was deleted)", got, th.name)
	}
}

// headsOnly is a Host over a real engine and server whose heads a test
// writes by hand (syncStale, flushHeads), without Run.
func headsOnly(t *testing.T, url string) (*Host, *engine.Engine, jetstream.KeyValue) {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "lifeline.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	e, err := engine.Open(t.Context(), engine.Options{Store: st, Driver: drivertest.New(), GracefulTimeout: time.Second, TerminateGrace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	nc, err := Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	h, err := New(nc, Options{Host: "h1", Engine: e, Log: st, AckTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	kv, err := headsBucket(t.Context(), h.js, 1)
	if err != nil {
		t.Fatal(err)
	}
	return h, e, kv
}

// keyOps is every operation the heads bucket holds for vm's key of host
// h1, oldest first: "PUT" or "DEL"; none when the key was never written.
func keyOps(t *testing.T, kv jetstream.KeyValue, vm string) []string {
	t.Helper()
	hist, err := kv.History(t.Context(), HeadKey("h1", vm))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, e := range hist {
		ops = append(ops, e.Operation().String())
	}
	return ops
}

// kvLastSeq is the last sequence of the heads bucket's stream: how many
// messages it ever stored.
func kvLastSeq(t *testing.T, js jetstream.JetStream) uint64 {
	t.Helper()
	s, err := js.Stream(t.Context(), "KV_"+HeadsBucket)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.LastSeq
}

func createVM(t *testing.T, e *engine.Engine, vm string) {
	t.Helper()
	if _, err := e.Create(t.Context(), vm, drivers.Spec{Command: []string{"sleep", "1"}}); err != nil {
		t.Fatal(err)
	}
}

func deleteVM(t *testing.T, e *engine.Engine, vm string) {
	t.Helper()
	if _, err := e.Delete(t.Context(), vm); err != nil {
		t.Fatal(err)
	}
}

// TestHeadsNoDeleteForAKeyNeverWritten: a VM created and deleted between
// two flushes of the heads leaves nothing in the bucket (its key was never
// written: no delete marker for it, no message for the server), while a
// VM whose head was written is deleted, a VM changed many times between
// two flushes is written once, and the bucket ends equal to the engine.
// Before the sync listed the keys, a gone VM's key is deleted whatever.
func TestHeadsNoDeleteForAKeyNeverWritten(t *testing.T) {
	srv := startNATS(t, t.TempDir(), 0)
	h, e, kv := headsOnly(t, srv.ClientURL())
	ctx := t.Context()

	createVM(t, e, "unsynced")
	deleteVM(t, e, "unsynced")
	h.markDirty("unsynced")
	if err := h.flushHeads(ctx); err != nil {
		t.Fatal(err)
	}
	if got := keyOps(t, kv, "unsynced"); !slices.Equal(got, []string{"KeyValueDeleteOp"}) {
		t.Fatalf("before the first sync, a gone VM's key holds %q; want its delete (the bucket's keys are not known yet)", got)
	}

	if err := h.syncStale(ctx); err != nil {
		t.Fatal(err)
	}
	createVM(t, e, "kept")
	createVM(t, e, "written")
	for _, vm := range []string{"kept", "written"} {
		h.markDirty(vm)
	}
	if err := h.flushHeads(ctx); err != nil {
		t.Fatal(err)
	}
	deleteVM(t, e, "written")
	createVM(t, e, "brief")
	deleteVM(t, e, "brief")
	if _, err := e.Start(ctx, "kept"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Stop(ctx, "kept", engine.StopOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, vm := range []string{"written", "brief", "kept", "kept", "kept"} {
		h.markDirty(vm)
	}
	js := jsOf(t, srv.ClientURL())
	before := kvLastSeq(t, js)
	if err := h.flushHeads(ctx); err != nil {
		t.Fatal(err)
	}
	if n := kvLastSeq(t, js) - before; n != 2 {
		t.Errorf("the flush stored %d messages in the bucket; want 2 (written's delete, kept's head once)", n)
	}
	for vm, want := range map[string][]string{ // the bucket keeps one entry a key
		"brief":   nil,
		"written": {"KeyValueDeleteOp"},
		"kept":    {"KeyValuePutOp"},
	} {
		if got := keyOps(t, kv, vm); !slices.Equal(got, want) {
			t.Errorf("vm %s: the bucket holds %q of its key, want %q", vm, got, want)
		}
	}
	if _, ok := h.present["written"]; ok {
		t.Errorf("written's delete was acknowledged, yet it is still taken for present")
	}
	sameHeads(t, js, "h1", e)
}

// TestHeadsBucketDeletedIsMadeAgain: the heads writer looks the bucket up
// once, not every flush; when it is deleted (an operator's mistake), the
// writes fail, their VMs stay dirty, and the next flush makes the bucket
// again and writes every VM's head, not only the ones that changed.
func TestHeadsBucketDeletedIsMadeAgain(t *testing.T) {
	srv := startNATS(t, t.TempDir(), 0)
	h, e, _ := headsOnly(t, srv.ClientURL())
	ctx := t.Context()
	if err := h.syncStale(ctx); err != nil {
		t.Fatal(err)
	}
	createVM(t, e, "a")
	h.markDirty("a")
	if err := h.flushHeads(ctx); err != nil {
		t.Fatal(err)
	}
	js := jsOf(t, srv.ClientURL())
	if err := js.DeleteKeyValue(ctx, HeadsBucket); err != nil {
		t.Fatal(err)
	}
	createVM(t, e, "b")
	h.markDirty("b")
	if err := h.flushHeads(ctx); err == nil {
		t.Fatal("a flush into a deleted bucket reported no error")
	}
	h.mu.Lock()
	_, dirty := h.dirty["b"]
	h.mu.Unlock()
	if !dirty {
		t.Fatal("b's head was not written, yet it is not dirty any more")
	}
	// a did not change: its head must come back with the bucket all the
	// same.
	// As the heads loop does: flush again until it succeeds (the server
	// may still be removing the deleted bucket's files, and refuse to
	// make it again for a moment).
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := h.flushHeads(ctx)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the flushes after the bucket's loss still fail after 10s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	sameHeads(t, js, "h1", e)
}

// TestLivenessKeyBackAfterItsBucketIsDeleted: the liveness writer looks
// its bucket up once, not every refresh; when the bucket is deleted, the
// next refreshes make it again and the host is live again.
func TestLivenessKeyBackAfterItsBucketIsDeleted(t *testing.T) {
	srv := startNATS(t, t.TempDir(), 0)
	th := newTestHost(t, "h1", srv.ClientURL(), nil)
	js := jsOf(t, srv.ClientURL())
	live := func() bool {
		kv, err := js.KeyValue(t.Context(), HostsBucket)
		if err != nil {
			return false
		}
		_, err = kv.Get(t.Context(), th.name)
		return err == nil
	}
	eventually(t, 5*time.Second, "host h1 live", live)
	if err := js.DeleteKeyValue(t.Context(), HostsBucket); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "host h1 live again after its bucket was deleted", live)
}

// lagEngine holds open the real engine's window between a record's commit
// (the log's LastSeq has it) and its VM's snapshot: List and Get do not
// show VM hidden until a subscription delivered its record (the engine
// hands a record to its subscriptions after its VM shows it).
type lagEngine struct {
	*engine.Engine
	hidden string
	shown  atomic.Bool
}

func (l *lagEngine) List() []engine.VM {
	vms := l.Engine.List()
	if l.shown.Load() {
		return vms
	}
	var out []engine.VM
	for _, v := range vms {
		if v.Name != l.hidden {
			out = append(out, v)
		}
	}
	return out
}

func (l *lagEngine) Get(name string) (engine.VM, error) {
	if name == l.hidden && !l.shown.Load() {
		return engine.VM{}, fmt.Errorf("vm %q: %w", name, engine.ErrNotFound)
	}
	return l.Engine.Get(name)
}

func (l *lagEngine) Subscribe(ctx context.Context, from uint64) (*engine.Subscription, error) {
	sub, err := l.Engine.Subscribe(ctx, from)
	if err != nil {
		return nil, err
	}
	c := make(chan store.Record)
	go func() {
		defer close(c)
		for r := range sub.C {
			if r.VM == l.hidden {
				l.shown.Store(true)
			}
			select {
			case c <- r:
			case <-ctx.Done():
				return
			}
		}
	}()
	return &engine.Subscription{C: c}, nil
}

// TestHeadsOfAVMCommittedAsTheHostStarts: a VM whose record the log holds
// when the fleet Host starts, but which the engine does not show yet (its
// transition between the commit and its snapshot), gets its head: the
// Host's first List waits until the engine shows the log's last record.
// Before, the VM was in neither the first List nor the publisher's marks
// (which start after that record), and its head was missing until it
// changed again (the OnOff benchmark's wait for the heads hit it).
func TestHeadsOfAVMCommittedAsTheHostStarts(t *testing.T) {
	srv := startNATS(t, t.TempDir(), 0)
	st, err := store.Open(filepath.Join(t.TempDir(), "lifeline.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e, err := engine.Open(t.Context(), engine.Options{Store: st, Driver: drivertest.New(), GracefulTimeout: time.Second, TerminateGrace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	createVM(t, e, "before")
	createVM(t, e, "racing") // the log's last record
	lag := &lagEngine{Engine: e, hidden: "racing"}
	nc, err := Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	h, err := New(nc, Options{Host: "h1", Engine: lag, Log: st, Retry: 50 * time.Millisecond, AckTimeout: 2 * time.Second, Liveness: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	defer func() { cancel(); <-done }()
	js := jsOf(t, srv.ClientURL())
	names := func() []string {
		view, err := List(t.Context(), js)
		if err != nil {
			return nil
		}
		var got []string
		for _, hv := range view {
			if hv.Host == "h1" {
				for _, v := range hv.VMs {
					got = append(got, v.Name)
				}
			}
		}
		return got
	}
	deadline := time.Now().Add(5 * time.Second)
	for !slices.Equal(names(), []string{"before", "racing"}) {
		if time.Now().After(deadline) {
			t.Fatalf("the heads bucket holds VMs %q of host h1 after 5s; want before and racing (racing's record was the log's last as the Host started)", names())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestHeadsPutBeforeTheFirstSyncIsDeletedLater: a head put before the
// heads' first sync (while which keys the bucket holds is not known yet)
// that the sync's listing does not show (a put whose ack did not come in
// time is stored when the server gets to it, after the listing) is still
// taken for present: when its VM is deleted, the key's delete is sent,
// not skipped as "never written", and the bucket ends equal to the
// engine. The test makes the put land after the listing: it purges the
// key before the sync and stores the same head again after it.
func TestHeadsPutBeforeTheFirstSyncIsDeletedLater(t *testing.T) {
	srv := startNATS(t, t.TempDir(), 0)
	h, e, kv := headsOnly(t, srv.ClientURL())
	ctx := t.Context()
	createVM(t, e, "early")
	h.markDirty("early")
	if err := h.flushHeads(ctx); err != nil {
		t.Fatal(err)
	}
	if h.present != nil {
		t.Fatal("the heads' keys are taken for known before any sync")
	}
	key := HeadKey("h1", "early")
	put, err := kv.Get(ctx, key)
	if err != nil {
		t.Fatalf("early's head was not put: %v", err)
	}
	// The put not stored yet as the sync lists the keys ...
	if err := kv.Purge(ctx, key); err != nil {
		t.Fatal(err)
	}
	if err := h.syncStale(ctx); err != nil {
		t.Fatal(err)
	}
	// ... and stored after it.
	if _, err := kv.Put(ctx, key, put.Value()); err != nil {
		t.Fatal(err)
	}
	deleteVM(t, e, "early")
	h.markDirty("early")
	if err := h.flushHeads(ctx); err != nil {
		t.Fatal(err)
	}
	if got := keyOps(t, kv, "early"); !slices.Equal(got, []string{"KeyValueDeleteOp"}) {
		t.Errorf("after early's delete, its key holds %q; want its delete (its head was put before the first sync)", got)
	}
	sameHeads(t, jsOf(t, srv.ClientURL()), "h1", e)
}

// TestHeadShowsDegradedWithoutARecord: a running VM's agent reports it
// runs only partly (Lima's degraded flag): no record is made (no
// transition), yet the VM's head in the bucket shows it, as status does,
// within the liveness period (at least a second), and shows it cleared
// once the VM stops. Before, the heads were written only for VMs a record
// changed: the fleet view never showed the flag.
func TestHeadShowsDegradedWithoutARecord(t *testing.T) {
	srv := startNATS(t, t.TempDir(), 0)
	th := newTestHost(t, "h1", srv.ClientURL(), nil)
	createVM(t, th.e, "vm1")
	if _, err := th.e.Start(t.Context(), "vm1"); err != nil {
		t.Fatal(err)
	}
	js := jsOf(t, srv.ClientURL())
	eventually(t, 10*time.Second, "vm1 Running in the heads", func() bool {
		v, err := th.e.Get("vm1")
		return err == nil && v.State.String() == "Running" && headsEqual(js, th)
	})
	seq := th.st.LastSeq()
	if !th.drv.Report("vm1", drivers.Observation{Kind: drivers.ObsFailed, Degraded: true, Reason: "degraded: port forwarding failed"}) {
		t.Fatal("vm1 has no live agent to report")
	}
	degraded := func() bool {
		view, err := List(t.Context(), js)
		if err != nil {
			return false
		}
		for _, hv := range view {
			for _, v := range hv.VMs {
				if hv.Host == "h1" && v.Name == "vm1" {
					return v.Degraded && v.AgentError == "degraded: port forwarding failed"
				}
			}
		}
		return false
	}
	eventually(t, 5*time.Second, "vm1's head degraded (looked at every second here)", degraded)
	if n := th.st.LastSeq(); n != seq {
		t.Fatalf("the report made records %d to %d; it is no transition", seq+1, n)
	}
	sameHeads(t, js, "h1", th.e)
	if _, err := th.e.Stop(t.Context(), "vm1", engine.StopOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "vm1's head no longer degraded once stopped", func() bool { return !degraded() && headsEqual(js, th) })
}
