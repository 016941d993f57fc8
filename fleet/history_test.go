package fleet

import (
	"bytes"
	"path/filepath"
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/replay"
	"github.com/lifeline-vm/lifeline/store"
)

// TestReplayFromStream: a host's history read back from its stream (two
// boots, creates with specs, starts, stops, an update) rebuilds its log
// record for record, and the replay verifier finds it sound.
func TestReplayFromStream(t *testing.T) {
	srv := startNATS(t, t.TempDir(), 0)
	th := newTestHost(t, "h1", srv.ClientURL(), nil)
	ctx := t.Context()
	churn(t, th.e, "vm", 10)
	if _, err := th.e.Start(ctx, "vm-0"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "vm-0 running", func() bool { v, _ := th.e.Get("vm-0"); return v.State.String() == "Running" })
	// Published before the update replaces vm-1's spec: a create's spec
	// travels only while it is the VM's (see WriteLog).
	th.waitCaughtUp(10 * time.Second)
	th.kill() // a second boot, after a crash
	th.open()
	if _, err := th.e.Update(ctx, "vm-1", drivers.Spec{Command: []string{"sleep", "2"}}); err != nil {
		t.Fatal(err)
	}
	th.waitCaughtUp(10 * time.Second)
	js := jsOf(t, srv.ClientURL())
	hist, err := History(ctx, js, "h1")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "h1.db")
	if err := WriteLog(path, hist); err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenReadOnly(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sameRecords(t, localRecords(t, th.st), localRecords(t, st))
	st.Close()
	db, err := replay.Open(path, replay.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out bytes.Buffer
	res, err := db.Verify(&out)
	if err != nil || res.Problems != 0 || res.Records != th.st.LastSeq() {
		t.Fatalf("verify of the rebuilt log: %+v %v\n%s", res, err, out.String())
	}
	if err := db.Explain(&out, "vm-0"); err != nil {
		t.Fatal(err)
	}
}
