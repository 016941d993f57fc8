package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := WriteBytes(path, []byte("one"), 0o640); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := Write(path, 0o600, func(f *os.File) error { f.WriteString("partial"); return boom }); !errors.Is(err, boom) {
		t.Fatalf("failing fill: %v", err)
	}
	b, _ := os.ReadFile(path)
	fi, _ := os.Stat(path)
	if string(b) != "one" || fi.Mode().Perm() != 0o640 {
		t.Errorf("after a failed write: %q %v, want the old file", b, fi.Mode().Perm())
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("temporary files left: %v", ents)
	}
}

// TestWriteSyncsDirectoryAfterRename: a rename is an entry of the
// directory, and a power cut loses it unless the directory is synced
// (issue 14). Write must sync path's directory after the rename, before it
// returns.
func TestWriteSyncsDirectoryAfterRename(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	var synced []string
	old := syncDir
	t.Cleanup(func() { syncDir = old })
	syncDir = func(d string) error {
		b, err := os.ReadFile(path)
		if err != nil || string(b) != "new" {
			t.Errorf("directory synced before the rename: %q, %v", b, err)
		}
		synced = append(synced, d)
		return old(d) // the real one works on this file system
	}
	if err := WriteBytes(path, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	if len(synced) != 1 || synced[0] != dir {
		t.Errorf("directories synced: %q, want [%q]", synced, dir)
	}
}

// TestWriteReportsDirectorySyncFailure: a directory that cannot be synced
// is an error naming the file, not a silent success.
func TestWriteReportsDirectorySyncFailure(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	boom := errors.New("boom")
	old := syncDir
	t.Cleanup(func() { syncDir = old })
	syncDir = func(string) error { return boom }
	err := WriteBytes(path, []byte("new"), 0o644)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), path) {
		t.Fatalf("WriteBytes with a failing directory sync: %v, want an error naming %s wrapping boom", err, path)
	}
}

func TestSyncDir(t *testing.T) {
	if err := SyncDir(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing")
	if err := SyncDir(missing); runtime.GOOS != "windows" && !errors.Is(err, os.ErrNotExist) {
		t.Errorf("SyncDir(%s): %v, want ErrNotExist", missing, err)
	}
}

// TestMkdirAllSyncsParents: each directory MkdirAll creates is an entry of
// its parent, lost in a power cut until the parent is synced (issue 14: an
// instance directory, the blank disks' directory, the data dir).
func TestMkdirAllSyncsParents(t *testing.T) {
	root := t.TempDir()
	var synced []string
	old := syncDir
	t.Cleanup(func() { syncDir = old })
	syncDir = func(d string) error { synced = append(synced, d); return old(d) }
	path := filepath.Join(root, "a", "b", "c")
	if err := MkdirAll(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || !fi.IsDir() {
		t.Fatalf("MkdirAll(%s): %v", path, err)
	}
	want := []string{root, filepath.Join(root, "a"), filepath.Join(root, "a", "b")}
	if !slices.Equal(synced, want) {
		t.Errorf("synced %q, want %q", synced, want)
	}
	synced = nil
	if err := MkdirAll(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if len(synced) != 0 {
		t.Errorf("MkdirAll of an existing directory synced %q, want nothing", synced)
	}
}
