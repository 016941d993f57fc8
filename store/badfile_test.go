package store_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/lifeline-vm/lifeline/store"
)

// openBoth opens path read-write and read-only, expects both to fail with
// want, and checks the file did not change.
func openBoth(t *testing.T, path string, want error, mention ...string) {
	t.Helper()
	before := fileSum(t, path)
	for name, open := range map[string]func(string, store.Options) (*store.Store, error){
		"Open": store.Open, "OpenReadOnly": store.OpenReadOnly,
	} {
		s, err := open(path, store.Options{Timeout: 100 * time.Millisecond})
		if err == nil {
			_ = s.Close()
			t.Fatalf("%s succeeded, want %v", name, want)
		}
		if !errors.Is(err, want) {
			t.Fatalf("%s: %v, want %v", name, err, want)
		}
		for _, m := range append(mention, path) {
			if !strings.Contains(err.Error(), m) {
				t.Errorf("%s: %q does not mention %q", name, err, m)
			}
		}
	}
	if fileSum(t, path) != before {
		t.Fatal("the file changed")
	}
}

func TestNotADatabase(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string][]byte{
		"short.txt": []byte("hello, I am a text file\n"),
		"long.txt":  bytes.Repeat([]byte("a longer text file, past bbolt's first meta page\n"), 400),
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			openBoth(t, path, store.ErrNotDatabase)
		})
	}
	t.Run("other bbolt", func(t *testing.T) {
		path := filepath.Join(dir, "other.db")
		rawUpdate(t, path, func(tx *bolt.Tx) error {
			_, err := tx.CreateBucket([]byte("widgets"))
			return err
		})
		openBoth(t, path, store.ErrNotDatabase)
	})
}

func TestNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lifeline.db")
	s := openT(t, path)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("schema"), binary.BigEndian.AppendUint32(nil, 7))
	})
	openBoth(t, path, store.ErrNewerSchema, "schema 7", "up to 2")
}

func TestLockedBySameProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lifeline.db")
	openT(t, path)
	before := fileSum(t, path)
	start := time.Now()
	_, err := store.Open(path, store.Options{Timeout: 200 * time.Millisecond})
	var locked *store.LockedError
	if !errors.As(err, &locked) || !errors.Is(err, store.ErrLocked) {
		t.Fatalf("second Open = %v, want a *LockedError", err)
	}
	if waited := time.Since(start); waited < 100*time.Millisecond {
		t.Fatalf("gave up after %v, before the timeout", waited)
	}
	if locked.Path != path || locked.PID != os.Getpid() {
		t.Fatalf("LockedError = %+v, want path %s, pid %d", locked, path, os.Getpid())
	}
	if _, err := store.OpenReadOnly(path, store.Options{Timeout: -1}); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("OpenReadOnly while open = %v, want ErrLocked", err)
	}
	if fileSum(t, path) != before {
		t.Fatal("the failed opens changed the file")
	}
}

func TestOpenReadOnlyMissingOrEmpty(t *testing.T) {
	dir := t.TempDir()
	if _, err := store.OpenReadOnly(filepath.Join(dir, "missing.db"), store.Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v, want ErrNotExist", err)
	}
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := store.OpenReadOnly(empty, store.Options{}); !errors.Is(err, store.ErrNotDatabase) {
		t.Fatalf("empty file: %v, want ErrNotDatabase", err)
	}
	if fi, err := os.Stat(empty); err != nil || fi.Size() != 0 {
		t.Fatalf("empty file changed: %v %v", fi.Size(), err)
	}
}

// rawUpdate runs fn on the bbolt file at path, outside the store.
func rawUpdate(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}
