// Package atomicfile writes a file so that a reader sees the old content or
// the new one, never a part, also after a power cut: to a "<name>.*.tmp"
// beside it (stale-file cleanups remove *.tmp), synced, renamed over it,
// and then its directory synced, so that the rename itself is on disk
// before Write returns.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// syncDir is [SyncDir]; a test replaces it to see when it is called.
var syncDir = SyncDir

// Write makes path hold what fill writes, with mode. On any failure before
// the rename the temporary file is removed and path is left as it was; a
// failure to sync the directory after it is reported too (path then holds
// the new content, but a power cut may bring the old one back).
func Write(path string, mode os.FileMode, fill func(f *os.File) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	err = fill(f)
	if err == nil {
		err = f.Chmod(mode)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("write %s: renamed into place, but its directory was not synced (a power cut may undo it; write it again): %w", path, err)
	}
	return nil
}

// WriteBytes makes path hold b, with mode.
func WriteBytes(path string, b []byte, mode os.FileMode) error {
	return Write(path, mode, func(f *os.File) error {
		_, err := f.Write(b)
		return err
	})
}

// SyncDir flushes the entries of directory dir (files created, renamed or
// removed in it) to stable storage. Until then a power cut may undo them,
// even for files that were synced themselves. On Windows, where a
// directory cannot be opened for a flush and NTFS journals renames, it
// does nothing.
func SyncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// MkdirAll is os.MkdirAll that also syncs the parent of every directory it
// creates, so that the new directories are still there after a power cut
// (a file synced inside a directory whose own entry was lost is lost with
// it). An existing path costs one stat and no sync.
func MkdirAll(path string, perm os.FileMode) error {
	path = filepath.Clean(path)
	// The directories to create, deepest first.
	var missing []string
	for p := path; ; p = filepath.Dir(p) {
		if _, err := os.Stat(p); err == nil {
			break
		}
		missing = append(missing, p)
		if filepath.Dir(p) == p {
			break
		}
	}
	if err := os.MkdirAll(path, perm); err != nil {
		return err
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := syncDir(filepath.Dir(missing[i])); err != nil {
			return fmt.Errorf("mkdir %s: created, but not synced (a power cut may undo it; try again): %w", missing[i], err)
		}
	}
	return nil
}
