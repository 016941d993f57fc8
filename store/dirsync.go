package store

import (
	"fmt"
	"os"
	"runtime"
)

// syncDir is syncDirOS; a test replaces it to see when it is called.
var syncDir = syncDirOS

// syncDirOS flushes the entries of directory dir to stable storage: a
// file just created in it is not there after a power cut until its
// directory is synced, however often the file itself was. On Windows,
// where a directory cannot be opened for a flush, it does nothing.
func syncDirOS(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
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
