package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// BenchmarkCLIRoundTrip measures, in the same run and alternating so that
// all see the same machine, the wall time of: a minimal Go program
// (process start alone; it imports no net, so it is statically linked),
// `lifeline --version` (lifeline's start, then lifeline-cli's in its place
// with the command tree), `lifeline status vm000 -o json` (lifeline alone:
// the fast path's socket and the daemon's answer), each as built by
// default (with cgo: lifeline-cli's `net` makes it dynamically linked,
// loaded by ld.so) and with CGO_ENABLED=0 (static, as the README installs
// it), the static text form, the same status answered by lifeline-cli's
// command tree (static-cli-status: what every command paid before
// lifeline was a program of its own), and `lifelined --version` (the
// daemon's binary, which links what the CLI leaves out). Issue 12 item
// 19: the round trip should be within 2 ms of the minimal program.
func BenchmarkCLIRoundTrip(b *testing.B) {
	dir := b.TempDir()
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte("package main\n\nimport \"os\"\n\nfunc main() { os.Stdout.WriteString(\"ok\\n\") }\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	minimal := filepath.Join(dir, "minimal")
	if out, err := exec.Command("go", "build", "-o", minimal, src).CombinedOutput(); err != nil {
		b.Fatalf("build the minimal program: %v: %s", err, out)
	}
	static := filepath.Join(dir, "static")
	build := exec.Command("go", "build", "-o", static+string(os.PathSeparator), "github.com/lifeline-vm/lifeline/cmd/lifeline", "github.com/lifeline-vm/lifeline/cmd/lifeline-cli")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build a static lifeline: %v: %s", err, out)
	}
	staticBin := filepath.Join(static, filepath.Base(lifelineBin))
	home := shortTemp(b)
	d := startDaemon(b, home)
	defer d.stop(b)
	startVMs(b, d, 1, nil)
	env := append(os.Environ(), "LIFELINE_HOME="+home)
	cmds := []struct {
		name string
		argv []string
	}{
		{"minimal", []string{minimal}},
		{"version", []string{lifelineBin, "--version"}},
		{"status", []string{lifelineBin, "status", "vm000", "-o", "json"}},
		{"static-version", []string{staticBin, "--version"}},
		{"static-status", []string{staticBin, "status", "vm000", "-o", "json"}},
		{"static-status-text", []string{staticBin, "status", "vm000"}},
		{"static-cli-status", []string{filepath.Join(static, "lifeline-cli"), "status", "vm000", "-o", "json"}},
		{"lifelined-version", []string{lifelinedBin, "--version"}},
	}
	took := make([][]time.Duration, len(cmds))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j, c := range cmds {
			cmd := exec.Command(c.argv[0], c.argv[1:]...)
			cmd.Env = env
			start := time.Now()
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("%s: %v: %s", c.name, err, out)
			}
			took[j] = append(took[j], time.Since(start))
		}
	}
	b.StopTimer()
	for j, c := range cmds {
		slices.Sort(took[j])
		b.ReportMetric(float64(took[j][len(took[j])/2].Microseconds())/1000, "ms-p50/"+c.name)
	}
}
