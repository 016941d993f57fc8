//go:build !unix

package store

import (
	"fmt"
	"io/fs"
	"os"
	"time"
)

// lockBeforeCheck is false: Windows locks are mandatory and per handle, so
// the pages are checked after bbolt locked the file.
const lockBeforeCheck = false

// openNoFollow refuses a symlink at path, then opens it. (A swap between
// the two is possible here; unix closes that gap with O_NOFOLLOW.)
func openNoFollow(path string, flag int, perm os.FileMode) (*os.File, error) {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		return nil, &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("is a symlink")}
	}
	return os.OpenFile(path, flag, perm)
}

func lockFile(*os.File, bool, time.Duration) error { return nil }
