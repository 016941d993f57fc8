package fleet

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/replay"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// TestWriteLogTakesEarlierWording: a stream published by an earlier
// daemon holds reasons in that daemon's wording (a graceful deadline as a
// UTC time in the sentence); a host's history rebuilt from it by this build
// keeps every record, with the same cause and today's sentence, and
// verifies clean (issue 12 item 9).
func TestWriteLogTakesEarlierWording(t *testing.T) {
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	grace := t0.Add(30 * time.Second)
	lines := []string{
		`{"seq":1,"vmSeq":1,"vm":"a","event":"create","from":"Absent","to":"Stopped","time":"2030-01-02T03:04:05Z","boot":1,"cause":{"kind":"requested"}}`,
		`{"seq":2,"vmSeq":2,"vm":"a","event":"start","from":"Stopped","to":"Starting","time":"2030-01-02T03:04:05Z","boot":1,"deadline":"2030-01-02T03:14:05Z","cause":{"kind":"requested"}}`,
		`{"seq":3,"vmSeq":3,"vm":"a","event":"spawned","from":"Starting","to":"Starting","time":"2030-01-02T03:04:05Z","boot":1,"hostAgent":{"pid":1000,"startTime":1,"group":1000},"deadline":"2030-01-02T03:14:05Z"}`,
		`{"seq":4,"vmSeq":4,"vm":"a","event":"running","from":"Starting","to":"Running","time":"2030-01-02T03:04:05Z","boot":1}`,
		`{"seq":5,"vmSeq":5,"vm":"a","event":"stop","from":"Running","to":"Stopping","time":"2030-01-02T03:04:05Z","boot":1,"deadline":"2030-01-02T03:04:35Z","cause":{"kind":"requested"},"reason":"stop requested"}`,
		`{"seq":6,"vmSeq":6,"vm":"a","event":"stop_timeout","from":"Stopping","to":"ForceStopping","time":"2030-01-02T03:04:35Z","boot":1,"deadline":"2030-01-02T03:04:38Z","cause":{"kind":"graceful_deadline","deadline":"2030-01-02T03:04:35Z","pid":1000},"reason":"graceful deadline 2030-01-02T03:04:35.000Z passed: agent pid 1000 ignored the interrupt"}`,
	}
	var recs []HistoryRecord
	for _, l := range lines {
		var r HistoryRecord
		if err := json.Unmarshal([]byte(l), &r.Record); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	path := filepath.Join(t.TempDir(), "h.db")
	if err := WriteLog(path, recs); err != nil {
		t.Fatalf("WriteLog of an earlier daemon's records: %v", err)
	}
	st, err := store.OpenReadOnly(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []store.Record
	if err := st.Records(1, func(r store.Record) error { got = append(got, r); return nil }); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if len(got) != len(recs) {
		t.Fatalf("rebuilt log holds %d records, want %d", len(got), len(recs))
	}
	last := got[len(got)-1]
	want := store.Cause{Kind: store.CauseGracefulDeadline, Deadline: grace, PID: 1000}
	if last.Event != states.StopTimeout || last.Cause != want || last.Reason != "graceful deadline passed: agent pid 1000 ignored the interrupt" {
		t.Errorf("record 6 rebuilt as %s %+v %q", last.Event, last.Cause, last.Reason)
	}
	db, err := replay.Open(path, replay.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out strings.Builder
	if res, err := db.Verify(&out); err != nil || res.Problems != 0 || res.Warnings != 0 {
		t.Errorf("rebuilt log does not verify clean: %+v, %v\n%s", res, err, out.String())
	}
}
