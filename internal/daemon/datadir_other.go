//go:build !unix

package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/lifeline-vm/lifeline/internal/atomicfile"
)

// prepareDataDir creates a missing data dir; ownership and mode are not
// checked on this system (see datadir.go). A symlink at the database path
// is refused by store.Open.
func prepareDataDir(dir string) error {
	if err := atomicfile.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data dir %s: %w", dir, err)
	}
	if fi, err := os.Lstat(filepath.Join(dir, DBName)); err == nil && !fi.Mode().IsRegular() {
		return fmt.Errorf("database %s: not a regular file: %w", filepath.Join(dir, DBName), ErrUnsafeDataDir)
	}
	return nil
}

// removeStaleSocket removes a socket left at sock; anything else there is
// refused.
func removeStaleSocket(sock string) error {
	fi, err := os.Lstat(sock)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("socket %s: %w", sock, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("socket %s: not a socket: %w; move it away", sock, ErrUnsafeDataDir)
	}
	return os.Remove(sock)
}

func removeSocket(sock string) {
	if fi, err := os.Lstat(sock); err == nil && fi.Mode().Type() == fs.ModeSocket {
		_ = os.Remove(sock)
	}
}
