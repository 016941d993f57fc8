package process

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/internal/atomicfile"
)

// Suffixes of the runtime files [RemoveStale] removes.
var staleSuffixes = []string{".pid", ".sock", ".tmp"}

// WritePIDFile writes p's identity to path atomically (a temporary
// "<name>.*.tmp" beside it, renamed over it): the pid on the first line, as
// tools expect, then the start time and the boot id.
func WritePIDFile(path string, p drivers.Proc) error {
	err := atomicfile.Write(path, 0o644, func(f *os.File) error {
		_, err := fmt.Fprintf(f, "%d\n%d\n%s\n", p.PID, p.StartTime, p.BootID)
		return err
	})
	if err != nil {
		return fmt.Errorf("pid file: %w", err)
	}
	return nil
}

// ReadPIDFile reads a pid file written by [WritePIDFile], or one that holds
// only a pid (Lima's ha.pid): then StartTime is 0, and the caller must
// establish the identity some other way before trusting it. A missing file
// gives an error wrapping os.ErrNotExist; a malformed one [ErrBadPIDFile].
func ReadPIDFile(path string) (drivers.Proc, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return drivers.Proc{}, fmt.Errorf("pid file %s: %w", path, err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(lines[0]))
	if err != nil || pid <= 0 {
		return drivers.Proc{}, fmt.Errorf("pid file %s: %q: %w", path, lines[0], ErrBadPIDFile)
	}
	p := drivers.Proc{PID: pid}
	if len(lines) > 1 {
		if p.StartTime, err = strconv.ParseUint(strings.TrimSpace(lines[1]), 10, 64); err != nil {
			return drivers.Proc{}, fmt.Errorf("pid file %s: start time %q: %w", path, lines[1], ErrBadPIDFile)
		}
	}
	if len(lines) > 2 {
		p.BootID = strings.TrimSpace(lines[2])
	}
	return p, nil
}

// RemoveStale removes dir's stale runtime files: *.pid, *.sock and *.tmp,
// found by listing dir with os.ReadDir, never with a glob (a directory may be
// named "vm[1]", which a glob reads as a character class). Call it only after
// every kill of the tree succeeded, or a live process's files are lost. A
// missing dir is not an error; the error names each file that stayed.
func RemoveStale(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("clean %s: %w", dir, err)
	}
	var errs []error
	for _, e := range entries {
		if e.IsDir() || !stale(e.Name()) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("clean %s: %w", dir, err))
		}
	}
	return errors.Join(errs...)
}

func stale(name string) bool {
	for _, s := range staleSuffixes {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}
