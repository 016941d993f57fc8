package atomicfile

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestIsTemp(t *testing.T) {
	for name, want := range map[string]bool{
		"r.raw.123456789.tmp": true,
		"ha.pid.1.tmp":        true,
		"lima.yaml.42.tmp":    true,
		"r.raw":               false,
		"x.tmp":               false, // no digits
		".123.tmp":            false, // no target name
		"r.raw..tmp":          false,
		"r.raw.12a.tmp":       false,
		"r.raw.123.tmp.bak":   false,
		"notes.tmp":           false,
		"123.tmp":             false,
	} {
		if got := IsTemp(name); got != want {
			t.Errorf("IsTemp(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestRemoveStale is issue 9 item 6's "stale *.tmp files from killed
// writers are removed at start": a temporary file of Write whose writer
// died is removed; every other file, a symlink or directory with such a
// name, and anything below dir are left alone.
func TestRemoveStale(t *testing.T) {
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// A writer killed between CreateTemp and Rename leaves exactly this.
	f, err := os.CreateTemp(dir, "r.raw.*.tmp")
	must(err)
	must(f.Close())
	stale := f.Name()
	keep := []string{"r.raw", "lifeline.db", "notes.tmp", "r.raw.12a.tmp"}
	for _, name := range keep {
		must(os.WriteFile(filepath.Join(dir, name), nil, 0o600))
	}
	outside := filepath.Join(t.TempDir(), "victim.1.tmp")
	must(os.WriteFile(outside, nil, 0o600))
	must(os.Symlink(outside, filepath.Join(dir, "link.2.tmp")))
	must(os.Mkdir(filepath.Join(dir, "sub.3.tmp"), 0o700))
	must(os.WriteFile(filepath.Join(dir, "sub.3.tmp", "deep.4.tmp"), nil, 0o600))
	keep = append(keep, "link.2.tmp", "sub.3.tmp")

	removed, err := RemoveStale(dir)
	must(err)
	if !slices.Equal(removed, []string{stale}) {
		t.Errorf("removed %v, want only %s", removed, stale)
	}
	for _, name := range keep {
		if _, err := os.Lstat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, p := range []string{outside, filepath.Join(dir, "sub.3.tmp", "deep.4.tmp")} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	if removed, err := RemoveStale(filepath.Join(dir, "missing")); err != nil || removed != nil {
		t.Errorf("missing dir: %v %v", removed, err)
	}
}
