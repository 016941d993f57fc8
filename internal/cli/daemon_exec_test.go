package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
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

// TestOldLifelinedSaysReinstall: a lifelined on PATH from before `lifelined
// cli` (built here as a stub that refuses the verb as the old one did:
// "accepts 0 arg(s)", exit 2) makes a verb that runs there fail with
// exit 1 and a message that names it, says it is older than this
// lifeline and how to reinstall, instead of its own usage error.
func TestOldLifelinedSaysReinstall(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	stub := `package main

import (
	"fmt"
	"os"
)

// An old lifelined: the daemon's root command and no cli verb.
func main() {
	if len(os.Args) > 1 {
		fmt.Fprintf(os.Stderr, "lifelined: accepts 0 arg(s), received %d\n", len(os.Args)-1)
		os.Exit(2)
	}
}
`
	if err := os.WriteFile(src, []byte(stub), 0o600); err != nil {
		t.Fatal(err)
	}
	name := daemonProgram
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	bin := filepath.Join(dir, "bin", name)
	if out, err := exec.Command("go", "build", "-o", bin, src).CombinedOutput(); err != nil {
		t.Fatalf("build the old lifelined stub: %v\n%s", err, out)
	}
	t.Setenv("PATH", filepath.Dir(bin))
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"graph"}, &out, &errOut)
	if code != exitError {
		t.Errorf("exit %d, want %d", code, exitError)
	}
	for _, want := range []string{"`lifeline graph` runs in lifelined, but ", "the lifelined at " + bin + " is older than this lifeline [" + versionString() + "]", "accepts 0 arg(s)", "reinstall the programs with `CGO_ENABLED=0 go install ./cmd/...`"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr %q does not say %q", errOut.String(), want)
		}
	}
}
