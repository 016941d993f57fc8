package replay_test

import (
	"bytes"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/lifeline-vm/lifeline/replay"
	"github.com/lifeline-vm/lifeline/replay/recheck"
	"github.com/lifeline-vm/lifeline/store"
)

// toVersion1 re-encodes every record and head of the database at path in
// encoding version 1 (reasons as sentences), the way builds before record
// version 2 wrote them.
func toVersion1(t *testing.T, path string) {
	t.Helper()
	recs, prev := readRecords(t, path)
	heads := make(map[string]store.Head)
	for _, r := range recs {
		heads[r.VM] = heads[r.VM].Apply(r)
	}
	editDB(t, path, func(tx *bolt.Tx) error {
		for _, r := range recs {
			if err := tx.Bucket([]byte("records")).Put(seqKey(r.Seq), encRecord(r, prev[r.Seq])); err != nil {
				return err
			}
		}
		for vm, h := range heads {
			if err := tx.Bucket([]byte("heads")).Put([]byte(vm), encHead(h)); err != nil {
				return err
			}
		}
		return nil
	})
}

// TestVersion1HistoriesReadAsVersion2: a history whose records are of
// encoding version 1 (old files) verifies, checks with no divergence, and
// explains and times exactly as the same history written with causes: the
// replay reads the causes ParseReason found in the old sentences, never
// the sentences.
func TestVersion1HistoriesReadAsVersion2(t *testing.T) {
	for _, name := range []string{"lifecycle", "incident", "restarts", "crash-9-acklost"} {
		t.Run(name, func(t *testing.T) {
			v2 := fixture(t, name)
			v1 := fixture(t, name)
			toVersion1(t, v1)
			// The file holds version 1 indeed.
			editDB(t, v1, func(tx *bolt.Tx) error {
				if v := tx.Bucket([]byte("records")).Get(seqKey(1)); v[0] != 1 {
					t.Errorf("record 1 is of version %d", v[0])
				}
				return nil
			})
			show := func(path string) (string, recheck.Result) {
				db := openUTC(t, path)
				var b bytes.Buffer
				if res, err := db.Verify(&b); err != nil || res.Problems != 0 {
					t.Fatalf("verify: %v\n%s", err, b.String())
				}
				b.Reset()
				if err := db.Timeline(&b, replay.TimelineOptions{}); err != nil {
					t.Fatal(err)
				}
				for _, vm := range []string{"vm1", "vm2", "vm3"} {
					s, err := db.ExplainText(vm)
					if err == nil {
						b.WriteString(s + "\n")
					}
				}
				var c bytes.Buffer
				res, err := recheck.Check(db, &c, recheck.Options{})
				if err != nil || res.Divergence != nil || res.Matched != res.Records {
					t.Fatalf("check: %v\n%s", err, c.String())
				}
				return b.String(), res
			}
			want, wantRes := show(v2)
			got, gotRes := show(v1)
			if got != want {
				t.Errorf("version 1 reads differently:\n%s\nversion 2:\n%s", got, want)
			}
			if gotRes.Records != wantRes.Records || !strings.Contains(want, "vm1") {
				t.Errorf("records %d and %d", gotRes.Records, wantRes.Records)
			}
		})
	}
}
