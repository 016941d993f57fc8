// Package atomicfile writes a file so that a reader sees the old content or
// the new one, never a part: to a "<name>.*.tmp" beside it (stale-file
// cleanups remove *.tmp), synced, then renamed over it.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// Write makes path hold what fill writes, with mode. On any failure the
// temporary file is removed and path is left as it was.
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
	return nil
}

// WriteBytes makes path hold b, with mode.
func WriteBytes(path string, b []byte, mode os.FileMode) error {
	return Write(path, mode, func(f *os.File) error {
		_, err := f.Write(b)
		return err
	})
}
