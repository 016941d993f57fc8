package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/lifeline-vm/lifeline/states"
)

// migrationTests holds a test for every migration, by name.
var migrationTests = map[string]func(t *testing.T){}

func TestEveryMigrationHasATest(t *testing.T) {
	for i, m := range migrations {
		if i > 0 && m.from != migrations[i-1].from+1 {
			t.Errorf("migration %q: from %d follows from %d", m.name, m.from, migrations[i-1].from)
		}
		test, ok := migrationTests[m.name]
		if !ok {
			t.Errorf("migration %q has no test in migrationTests", m.name)
			continue
		}
		t.Run(m.name, test)
	}
	if n := len(migrations); n > 0 && migrations[n-1].from+1 != currentSchema {
		t.Errorf("the last migration leads to schema %d, current is %d", migrations[n-1].from+1, currentSchema)
	}
}

// dump returns every key of the file, by bucket path, with its value.
func dump(t *testing.T, s *Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	var walk func(prefix string, b *bolt.Bucket) error
	walk = func(prefix string, b *bolt.Bucket) error {
		return b.ForEach(func(k, v []byte) error {
			if v == nil {
				return walk(prefix+string(k)+"/", b.Bucket(k))
			}
			out[prefix+fmt.Sprintf("%x", k)] = string(v)
			return nil
		})
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error { return walk(string(name)+"/", b) })
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// withoutBoots drops the boots bucket from a dump.
func withoutBoots(d map[string]string) map[string]string {
	maps.DeleteFunc(d, func(k, _ string) bool { return strings.HasPrefix(k, "boots/") })
	return d
}

func newV1(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "lifeline.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, vm := range []string{"a", "b"} {
		if _, err := s.Append(context.Background(), create(vm)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestOpenWithNothingPending(t *testing.T) {
	path := newV1(t)
	s, err := OpenReadOnly(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	before := dump(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(path, Options{}); err != nil {
		t.Fatal(err)
	}
	after := dump(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before)+1 || after["boots/0000000000000002"] == "" {
		t.Fatalf("Open did not add exactly boot 2: %d keys before, %d after", len(before), len(after))
	}
	if !maps.Equal(withoutBoots(before), withoutBoots(after)) {
		t.Fatal("Open with no pending migration changed more than the boots")
	}
}

// pretendV2 makes this build one that knows schema 2, reached by fn.
func pretendV2(t *testing.T, fn func(tx *bolt.Tx) error) {
	oldSchema, oldMigrations := currentSchema, migrations
	currentSchema = 2
	migrations = []migration{{from: 1, name: "test v1 to v2", fn: fn}}
	t.Cleanup(func() { currentSchema, migrations = oldSchema, oldMigrations })
}

func schemaOf(t *testing.T, s *Store) uint32 {
	t.Helper()
	var v uint32
	err := s.db.View(func(tx *bolt.Tx) error {
		v = binary.BigEndian.Uint32(tx.Bucket(bucketKeyMeta).Get(bucketKeySchema))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMigrationRuns(t *testing.T) {
	path := newV1(t)
	runs := 0
	pretendV2(t, func(tx *bolt.Tx) error {
		runs++
		_, err := tx.CreateBucket([]byte("v2"))
		return err
	})

	// A read-only open reads the old schema as it is.
	ro, err := OpenReadOnly(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := schemaOf(t, ro); got != 1 || runs != 0 {
		t.Fatalf("read-only open: schema %d, %d migration runs", got, runs)
	}
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}

	for range 2 { // the second open has nothing to do
		s, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got := schemaOf(t, s); got != 2 || runs != 1 {
			t.Fatalf("schema %d after %d migration runs, want 2 after 1", got, runs)
		}
		if h, ok, err := s.Head("b"); !ok || err != nil || h.State != states.Stopped {
			t.Fatalf("vm b after migration: %+v %v %v", h, ok, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFailedMigrationChangesNothing(t *testing.T) {
	path := newV1(t)
	s, err := OpenReadOnly(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	before := dump(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	pretendV2(t, func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucket([]byte("half-done")); err != nil {
			return err
		}
		return boom
	})
	if _, err = Open(path, Options{}); !errors.Is(err, boom) || !strings.Contains(err.Error(), `"test v1 to v2"`) {
		t.Fatalf("Open = %v, want the migration's error, naming it", err)
	}
	if s, err = OpenReadOnly(path, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !maps.Equal(before, dump(t, s)) {
		t.Fatal("a failed migration left changes behind")
	}
}
