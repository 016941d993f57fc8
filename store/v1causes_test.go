package store

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dumpCauses prints every record and head of the database at path as the
// store decodes it: seq, event, cause (as JSON) and reason.
func dumpCauses(t *testing.T, path string) string {
	t.Helper()
	s, err := OpenReadOnly(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var b strings.Builder
	line := func(what string, seq uint64, ev fmt.Stringer, c Cause, reason string) {
		j, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %d %s %s %q\n", what, seq, ev, j, reason)
	}
	if err := s.Records(1, func(r Record) error {
		line("record", r.Seq, r.Event, r.Cause, r.Reason)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	heads, err := s.Heads()
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range heads {
		line("head "+h.VM, h.Seq, h.Event, h.Cause, h.Reason)
	}
	return b.String()
}

// TestVersion1CausesUnchanged: the records and heads of the version-1
// databases kept in testdata (store's v1.db, replay's schema1.db) decode
// to the causes and reasons they decoded to before reasons were reworded
// (issue 12 item 9: no absolute time in a reason). The golden files were
// captured with the wording of that time; ParseReason reads version-1
// sentences with a frozen copy of it (renderV1), so a new Render does not
// change what an old sentence means.
func TestVersion1CausesUnchanged(t *testing.T) {
	for _, c := range []struct{ db, golden string }{
		{goldenV1, "testdata/v1.causes"},
		{filepath.Join("..", "replay", "testdata", "schema1.db"), "testdata/schema1.causes"},
	} {
		got := dumpCauses(t, c.db)
		if *update {
			if err := os.WriteFile(c.golden, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(c.golden)
		if err != nil {
			t.Fatal(err)
		}
		if got != string(want) {
			t.Errorf("%s decodes differently from %s:\ngot:\n%s\nwant:\n%s", c.db, c.golden, got, want)
		}
	}
}
