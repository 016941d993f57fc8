package store

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/lifeline-vm/lifeline/states"
)

// TestCheckComparesHeadsAndSpecs damages a head and a spec with values that
// decode well, and checks that Check compares them with the records.
func TestCheckComparesHeadsAndSpecs(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "lifeline.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, vm := range []string{"a", "b"} {
		w := create(vm)
		w.Spec = []byte("spec of " + vm)
		if _, err := s.Append(context.Background(), w); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		heads := tx.Bucket(bucketKeyHeads)
		h, _, _ := readHead(heads, "a")
		h.State = states.Broken
		if err := heads.Put([]byte("a"), appendHead(nil, &h)); err != nil {
			return err
		}
		return tx.Bucket(bucketKeySpecs).Put([]byte("b"), []byte("another spec"))
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Check()
	for _, want := range []string{
		`head of vm "a": disagrees with its log: the head says Broken (record #1), the records fold to Stopped (record #1); differing: state`,
		`spec of vm "b": does not match the hash its records give`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check = %v; want it to report %q", err, want)
		}
	}
}
