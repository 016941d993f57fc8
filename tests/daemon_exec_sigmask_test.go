//go:build linux

package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDaemonVerbExecsWithSignalsUnblocked: `lifeline daemon` replaces
// itself with lifelined, and execve keeps the calling thread's signal
// mask. Called from a Go thread that had its signals blocked, lifelined
// (and every agent and QEMU it starts, which inherit the mask) would
// ignore SIGINT and SIGTERM, and every graceful stop would wait out its
// deadline. A stand-in lifelined prints its own mask; it must be the one
// lifeline was started with (none blocked), every time.
func TestDaemonVerbExecsWithSignalsUnblocked(t *testing.T) {
	dir := filepath.Dir(copyPrograms(t, "lifeline", "lifeline-cli"))
	script := "#!/bin/sh\nexec grep '^SigBlk:' /proc/self/status\n"
	if err := os.WriteFile(filepath.Join(dir, "lifelined"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	const runs = 40
	blocked := 0
	for i := range runs {
		out, err := exec.Command(filepath.Join(dir, "lifeline"), "daemon").CombinedOutput()
		got := strings.TrimSpace(string(out))
		if err != nil || !strings.HasPrefix(got, "SigBlk:") {
			t.Fatalf("run %d: lifeline daemon: %v: %q", i, err, got)
		}
		if mask := strings.TrimSpace(strings.TrimPrefix(got, "SigBlk:")); strings.Trim(mask, "0") != "" {
			blocked++
			t.Logf("run %d: lifelined started with signals blocked: SigBlk %s", i, mask)
		}
	}
	if blocked > 0 {
		t.Errorf("%d of %d runs of lifeline daemon started lifelined with signals blocked, want none", blocked, runs)
	}
}
