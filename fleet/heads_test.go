package fleet

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
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
