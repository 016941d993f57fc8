package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/lifeline-vm/lifeline/states"
)

// migrationTests holds a test for every migration, by name.
var migrationTests = map[string]func(t *testing.T){
	"encoding version 2": testMigrationEncodingVersion2,
}

// testMigrationEncodingVersion2: a file of schema 1 (testdata/v1.db, as
// the first release wrote it) opened read-write is of schema 2 after,
// with nothing else changed but the new boot; a build of schema 1 refuses
// it as newer, not as damaged.
func testMigrationEncodingVersion2(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "v1.db"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "lifeline.db")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	ro, err := OpenReadOnly(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	before := dump(t, ro)
	if got := schemaOf(t, ro); got != 1 {
		t.Fatalf("testdata/v1.db is of schema %d, want 1", got)
	}
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	after := dump(t, s)
	if got := schemaOf(t, s); got != 2 {
		t.Fatalf("schema %d after the migration, want 2", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	schemaKey := "meta/" + fmt.Sprintf("%x", bucketKeySchema)
	for _, d := range []map[string]string{before, after} {
		delete(d, schemaKey)
	}
	if !maps.Equal(withoutBoots(before), withoutBoots(after)) {
		t.Fatal("the migration changed more than the schema and the boots")
	}
	old := currentSchema
	currentSchema = 1
	defer func() { currentSchema = old }()
	if _, err := OpenReadOnly(path, Options{}); !errors.Is(err, ErrNewerSchema) {
		t.Fatalf("a build of schema 1 opening the migrated file: %v, want ErrNewerSchema", err)
	}
}

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

// newCurrent is a file of this build's schema, with two VMs.
func newCurrent(t *testing.T) string {
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
	path := newCurrent(t)
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

// pretendNext makes this build one that knows the schema after the
// current one, reached by fn.
func pretendNext(t *testing.T, fn func(tx *bolt.Tx) error) {
	oldSchema, oldMigrations := currentSchema, migrations
	currentSchema = oldSchema + 1
	migrations = append(slices.Clone(oldMigrations), migration{from: oldSchema, name: "test next", fn: fn})
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
	path := newCurrent(t)
	runs := 0
	pretendNext(t, func(tx *bolt.Tx) error {
		runs++
		_, err := tx.CreateBucket([]byte("v2"))
		return err
	})

	// A read-only open reads the old schema as it is.
	ro, err := OpenReadOnly(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := schemaOf(t, ro); got != currentSchema-1 || runs != 0 {
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
		if got := schemaOf(t, s); got != currentSchema || runs != 1 {
			t.Fatalf("schema %d after %d migration runs, want %d after 1", got, runs, currentSchema)
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
	path := newCurrent(t)
	s, err := OpenReadOnly(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	before := dump(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	pretendNext(t, func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucket([]byte("half-done")); err != nil {
			return err
		}
		return boom
	})
	if _, err = Open(path, Options{}); !errors.Is(err, boom) || !strings.Contains(err.Error(), `"test next"`) {
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
