package lima

import (
	"os"
	"path/filepath"
	"testing"
)

// QEMU's warnings (printed at every start, such as the deprecated
// short-form boolean option of Lima 1.2.3's drive arguments) and their
// continuation lines are not why the agent stopped: the excerpt leaves
// them out and keeps QEMU's real error.
func TestExcerptSkipsQEMUWarnings(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ha.stderr.log")
	log := `{"level":"debug","msg":"qemu[stderr]: qemu-system-x86_64: -drive file=/x/cidata.iso,media=cdrom,readonly: warning: short-form boolean option 'readonly' deprecated"}
{"level":"debug","msg":"qemu[stderr]: Please use readonly=on instead"}
{"level":"debug","msg":"qemu[stderr]: warning: host doesn't support requested feature: CPUID.80000001H:ECX.svm [bit 2]"}
{"level":"debug","msg":"qemu[stderr]: qemu-system-x86_64: terminating on signal 15 from pid 1234 (limactl)"}
{"level":"info","msg":"Driver stopped due to error: \"signal: terminated\""}
`
	if err := os.WriteFile(path, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	got := errorExcerpt(path, nil)
	want := `qemu[stderr]: qemu-system-x86_64: terminating on signal 15 from pid 1234 (limactl); Driver stopped due to error: "signal: terminated"`
	if got != want {
		t.Errorf("excerpt:\n got %q\nwant %q", got, want)
	}
}
