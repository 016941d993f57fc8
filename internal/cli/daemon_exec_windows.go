//go:build windows

package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
)

// execDaemon runs lifelined (path) with args as a child with this
// process's stdin, stdout and stderr, and exits with its exit code:
// Windows has no exec that keeps the process. Ctrl-C and a closed console
// reach the child through the console they share; this process only
// waits for it.
func execDaemon(_ context.Context, path string, args []string) error {
	cmd := exec.Command(path, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ee):
		os.Exit(ee.ExitCode()) // the daemon printed its error
	}
	return fmt.Errorf("run the daemon %s: %w", path, err)
}
