//go:build unix

package cli

import (
	"context"
	"fmt"
	"os"
	"syscall"
)

// execDaemon replaces this process with lifelined (path), given args: the
// same pid, so a service manager, a signal or a kill aimed at `lifeline
// daemon` reaches the daemon itself. It returns only when the exec failed.
func execDaemon(_ context.Context, path string, args []string) error {
	argv := append([]string{path}, args...)
	if err := syscall.Exec(path, argv, os.Environ()); err != nil {
		return fmt.Errorf("run the daemon %s: %w", path, err)
	}
	return nil
}
