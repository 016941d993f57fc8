package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestDaemonWithoutLifelinedSaysHowToInstall: `lifeline daemon` with no
// lifelined next to it or on PATH exits 1 and says how to install it.
func TestDaemonWithoutLifelinedSaysHowToInstall(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"daemon", "--data-dir", t.TempDir()}, &out, &errOut)
	if code != exitError {
		t.Errorf("exit %d, want %d", code, exitError)
	}
	for _, want := range []string{"lifelined is not installed", "next to ", "on PATH", "go install ./cmd/...", "go install github.com/lifeline-vm/lifeline/cmd/lifelined@"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr %q does not say %q", errOut.String(), want)
		}
	}
}

// TestLookDaemon: lifelined next to the lifeline executable wins over one
// on PATH; without one there, PATH's; without either, errNoDaemon.
func TestLookDaemon(t *testing.T) {
	name := daemonProgram
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	bin := t.TempDir()
	exe := filepath.Join(bin, "lifeline")
	onPath := filepath.Join(t.TempDir(), name)
	path := func(string) (string, error) { return onPath, nil }
	noPath := func(string) (string, error) { return "", errors.New("not found") }

	if got, err := lookDaemon(exe, nil, path); err != nil || got != onPath {
		t.Errorf("none next to lifeline: %q, %v; want PATH's %q", got, err, onPath)
	}
	if _, err := lookDaemon(exe, nil, noPath); !errors.Is(err, errNoDaemon) {
		t.Errorf("none anywhere: %v, want errNoDaemon", err)
	}
	if _, err := lookDaemon("", errors.New("no executable"), noPath); !errors.Is(err, errNoDaemon) {
		t.Errorf("unknown executable, none on PATH: %v, want errNoDaemon", err)
	}
	next := filepath.Join(bin, name)
	if err := os.WriteFile(next, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := lookDaemon(exe, nil, path); err != nil || got != next {
		t.Errorf("one next to lifeline: %q, %v; want %q", got, err, next)
	}
	if got, err := lookDaemon(exe, errors.New("no executable"), path); err != nil || got != onPath {
		t.Errorf("unknown executable: %q, %v; want PATH's %q", got, err, onPath)
	}
}
