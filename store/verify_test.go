package store

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/lifeline-vm/lifeline/states"
)

// threeRecords writes vm a's create, start and spawned, and returns them.
func threeRecords(t *testing.T) (*Store, []Record) {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "lifeline.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	var recs []Record
	from := states.Absent
	for _, ev := range []states.Event{states.Create, states.Start, states.Spawned} {
		to, err := states.Next(from, ev)
		if err != nil {
			t.Fatal(err)
		}
		r, err := s.Append(context.Background(), Write{Record: Record{VM: "a", Event: ev, From: from, To: to, Time: s.now()}})
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
		from = to
	}
	return s, recs
}

// verifyProblems lists Verify's problems as "code vm #seq".
func verifyProblems(s *Store) string {
	var out []string
	s.Verify(VerifyOptions{}, func(f Finding) {
		if f.Severity == Problem {
			out = append(out, fmt.Sprintf("%s %q #%d", f.Code, f.VM, f.Seq))
		}
	})
	return strings.Join(out, "; ")
}

// TestVerifyFindsABrokenLink: a record whose chain link is not its VM's
// previous record, its sequences otherwise sound, is a link finding (a
// rule store.Check had and replay verify had not).
func TestVerifyFindsABrokenLink(t *testing.T) {
	s, recs := threeRecords(t)
	if got := verifyProblems(s); got != "" {
		t.Fatalf("a sound file: %s", got)
	}
	r := recs[2]
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketKeyRecords).Put(seqKey(r.Seq), appendRecord(nil, &r, 1)) // not 2
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := verifyProblems(s), `link "a" #3`; got != want {
		t.Errorf("Verify found %s, want %s", got, want)
	}
	if err := s.Check(); err == nil || !strings.Contains(err.Error(), `record #3 (vm "a" vmseq 3): links to record #1, but the VM's previous record is #2`) {
		t.Errorf("Check = %v", err)
	}
}

// TestVerifyFindsAWrongFrom: a record that does not start where the VM's
// previous one left it (and whose event the table forbids from there).
func TestVerifyFindsAWrongFrom(t *testing.T) {
	s, recs := threeRecords(t)
	r := recs[1]
	r.From = states.Running
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketKeyRecords).Put(seqKey(r.Seq), appendRecord(nil, &r, 1))
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := verifyProblems(s), `from "a" #2; transition "a" #2`; got != want {
		t.Errorf("Verify found %s, want %s", got, want)
	}
}

// TestFindingCodesNamed: every code has a name, for the CLI's JSON and
// for callers' logs.
func TestFindingCodesNamed(t *testing.T) {
	for c := FindingPages; c <= FindingBootOpen; c++ {
		if strings.HasPrefix(c.String(), "FindingCode(") {
			t.Errorf("code %d has no name", c)
		}
	}
	if got := FindingCode(200).String(); got != "FindingCode(200)" {
		t.Errorf("an undeclared code prints %q", got)
	}
}
