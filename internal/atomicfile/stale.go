package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// IsTemp reports whether name, a base name, is one of Write's temporary
// files: the target's name, a dot, the decimal digits os.CreateTemp puts
// in place of "*", and ".tmp".
func IsTemp(name string) bool {
	rest, ok := strings.CutSuffix(name, ".tmp")
	if !ok {
		return false
	}
	i := strings.LastIndexByte(rest, '.')
	if i <= 0 || i == len(rest)-1 {
		return false // no target name, or no digits
	}
	for _, c := range rest[i+1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// RemoveStale removes the temporary files a killed writer left in dir:
// regular files (not symlinks, not directories) whose names match
// [IsTemp], in dir itself, not below it. Call it only where no Write can
// be in flight, such as the daemon at start, holding its lock, on the
// directories it alone writes. A missing dir is not an error. It returns
// the paths it removed; on an error, those it removed before it.
func RemoveStale(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("remove stale temporary files in %s: %w", dir, err)
	}
	var removed []string
	var errs []error
	for _, ent := range ents {
		if !ent.Type().IsRegular() || !IsTemp(ent.Name()) {
			continue
		}
		path := filepath.Join(dir, ent.Name())
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove stale temporary file %s: %w", path, err))
			continue
		}
		removed = append(removed, path)
	}
	return removed, errors.Join(errs...)
}
