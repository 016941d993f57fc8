package store

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestOpenSyncsDirectoryOfNewFile: bbolt syncs the file it creates but not
// its directory, and a power cut can then lose the whole database with
// every record the daemon acknowledged (issue 14). Open of a new file
// syncs its directory once the file is initialized; Open of an existing
// one does not need to.
func TestOpenSyncsDirectoryOfNewFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "lifeline.db")
	var synced []string
	old := syncDir
	t.Cleanup(func() { syncDir = old })
	syncDir = func(d string) error {
		if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
			t.Errorf("directory synced before the file was initialized: %v", err)
		}
		synced = append(synced, d)
		return old(d)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(synced, []string{dir}) {
		t.Fatalf("directories synced by the first open: %q, want [%q]", synced, dir)
	}
	synced = nil
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if len(synced) != 0 {
		t.Errorf("directories synced by the open of an existing file: %q, want none", synced)
	}
}

// TestOpenReportsDirectorySyncFailure: a new database whose directory
// cannot be synced is not opened as if it were durable.
func TestOpenReportsDirectorySyncFailure(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lifeline.db")
	boom := errors.New("boom")
	old := syncDir
	t.Cleanup(func() { syncDir = old })
	syncDir = func(string) error { return boom }
	s, err := Open(path, Options{})
	if err == nil {
		s.Close()
	}
	if !errors.Is(err, boom) {
		t.Fatalf("Open with a failing directory sync: %v, want boom", err)
	}
}
