package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeline-vm/lifeline/drivers/process"
)

// TestEmbedExampleRuns builds the example and runs it: it embeds the
// engine, serves the API on its own socket and drives a VM through the
// public client from create to Stopped, exiting 0. Its agent ran with the
// spec's environment and was stopped by its interrupt, not killed.
func TestEmbedExampleRuns(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "embed")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// A short directory: a unix socket's path is limited to about 100 bytes.
	dir, err := os.MkdirTemp("", "embed")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-dir", dir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("embed: %v (exit code %d)\nstdout:\n%s\nstderr:\n%s", err, cmd.ProcessState.ExitCode(), out, stderr.String())
	}
	for _, want := range []string{
		"created web: Stopped (seq 1)\n",
		"web: Running, its agent has pid ",
		"web: Stopped (exited)\n",
		"stop web again: rejected, it is Stopped\n",
		"records of web:\n" +
			"  1 create Absent -> Stopped\n" +
			"  2 start Stopped -> Starting\n" +
			"  3 spawned Starting -> Starting\n" +
			"  4 running Starting -> Running\n" +
			"  5 stop Running -> Stopping\n" +
			"  6 exited Stopping -> Stopped\n",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the output lacks %q:\n%s", want, out)
		}
	}
	agentOut, err := os.ReadFile(filepath.Join(dir, "run", "web", process.StdoutFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"agent web up: hello from the embedder\n", "agent asked to stop; exiting\n"} {
		if !strings.Contains(string(agentOut), want) {
			t.Errorf("the agent's output lacks %q:\n%s", want, agentOut)
		}
	}
}
