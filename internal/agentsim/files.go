package agentsim

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/lifeline-vm/lifeline/internal/atomicfile"
)

// claimPIDFile writes pid to path atomically, unless path already names a
// live process ([ErrPIDFileInUse]). A file naming a dead process, or
// holding no pid, is stale and replaced. Lima's hostagent refuses any
// existing file; replacing a stale one lets a test restart an agent over a
// crashed one's leftovers. The check and the rename are not one atomic step
// (Lima's are not either).
func claimPIDFile(path string, pid int) error {
	if old, err := readPID(path); err == nil && old != pid && processAlive(old) {
		return fmt.Errorf("pid file %s: pid %d: %w", path, old, ErrPIDFileInUse)
	}
	return writePIDFile(path, pid)
}

// writePIDFile writes "pid\n", Lima's format, to path: first to a
// "<name>.*.tmp" beside it (Lima's stale-file cleanup removes *.tmp), then
// renamed over it, so a reader never sees a partial file.
func writePIDFile(path string, pid int) error {
	if err := atomicfile.WriteBytes(path, []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		return fmt.Errorf("pid file: %w", err)
	}
	return nil
}

// readPID reads the pid on the first line of a pid file.
func readPID(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pid file %s: bad pid %q", path, first)
	}
	return pid, nil
}

// removeFile removes path; a file already gone is success.
func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// sshLocalPort picks the port the agent reports, the way Lima's hostagent
// does when lima.yaml sets none: 60022 for the instance "default", otherwise
// a free TCP port on 127.0.0.1. Nothing listens on it: it only has to look
// real.
func sshLocalPort(name string) (int, error) {
	if name == "default" {
		return 60022, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
