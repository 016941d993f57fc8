package recheck_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/replay/recheck"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// A history written before specs were validated may hold a spec today's
// engine refuses (restart "always", env "A=B": the adversary's storm logs
// do). Check replays it without the invalid fields, which had no effect
// then, and says so, instead of reporting a divergence at the create.
func TestCheckReplaysSpecsRecordedBeforeValidation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	st, err := store.Open(path, store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	rec := store.Record{VM: "vm1", Event: states.Create, From: states.Absent, To: states.Stopped, Time: time.Now().UTC()}
	spec := []byte(`{"restart":"always","ready":"bogus","env":{"A=B":"1","OK":"2"}}`)
	if _, err := st.Append(context.Background(), store.Write{Record: rec, Spec: spec}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	db := openUTC(t, path)
	var b bytes.Buffer
	res, err := recheck.Check(db, &b, recheck.Options{})
	if err != nil || res.Matched != res.Records {
		t.Fatalf("check: %v, matched %d of %d\n%s", err, res.Matched, res.Records, b.String())
	}
	if !strings.Contains(b.String(), "invalid today") {
		t.Errorf("the report does not say the spec was replayed without its invalid fields:\n%s", b.String())
	}
}
