// Package progs finds lifeline's programs, each by the others:
//
//   - lifeline, the command people type: it answers `status` and `list`
//     itself (internal/cli/fastpath) and runs lifeline-cli for the rest
//     (on Windows it is the whole CLI);
//   - lifeline-cli, the CLI with every verb (internal/cli);
//   - lifelined, the daemon, which also runs the verbs that need what only
//     it links (`lifelined cli VERB`).
//
// A program looks for another next to its own executable (symlinks
// resolved, so a lifeline linked into PATH finds its own siblings), then
// on PATH. It imports only small standard packages: lifeline, which must
// start as fast as a minimal Go program, links it.
package progs

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// The programs' names (without Windows's ".exe").
const (
	Front  = "lifeline"
	CLI    = "lifeline-cli"
	Daemon = "lifelined"
)

// FrontExecEnv is set in the environment of the lifeline-cli that
// lifeline execs, to its path; lifeline-cli unsets it as it starts. A
// lifeline that finds it set was exec'd as lifeline-cli: a copy of, or a
// link to, lifeline installed under lifeline-cli's name, which would
// otherwise exec itself without end.
const FrontExecEnv = "LIFELINE_FRONT_EXEC"

// Module is this module's path, the module line of a checkout's go.mod.
const Module = "github.com/lifeline-vm/lifeline"

// Find finds program name next to the running executable, else on PATH.
// When it is in neither, path is "" and looked says where it looked
// ("next to /usr/bin/lifeline", "on PATH"), for the caller's error.
func Find(name string) (path string, looked []string) {
	exe, err := Executable()
	return Look(name, exe, err, exec.LookPath)
}

// Executable is the running program's path with symlinks resolved: where
// its siblings are.
func Executable() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(exe)
}

// Look is Find with the executable's path (or why it is not known) and
// the PATH lookup given.
func Look(name, exe string, exeErr error, lookPath func(string) (string, error)) (path string, looked []string) {
	file := name
	if runtime.GOOS == "windows" {
		file += ".exe"
	}
	if exeErr == nil {
		next := filepath.Join(filepath.Dir(exe), file)
		if fi, err := os.Stat(next); err == nil && fi.Mode().IsRegular() && (runtime.GOOS == "windows" || fi.Mode()&0o111 != 0) {
			return next, nil
		}
		looked = append(looked, "next to "+exe)
	}
	if p, err := lookPath(name); err == nil {
		return p, nil
	}
	return "", append(looked, "on PATH")
}

// ModuleDir is the directory of the go.mod of the current directory's
// module (`go env GOMOD`), and whether that module is lifeline: where
// `go run ./cmd/lifeline` runs from.
func ModuleDir() (string, bool) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", false
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", false
	}
	b, err := os.ReadFile(gomod)
	if err != nil {
		return "", false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "module" {
			return filepath.Dir(gomod), strings.Trim(f[1], `"`) == Module
		}
	}
	return "", false
}

// RunChild runs cmd (its stdio set by the caller) and waits for it. When
// ctx ends first (Ctrl-C or SIGTERM to this process; Ctrl-C from a
// terminal reached the child too) it passes an interrupt on and waits up
// to stopWait more for the child to clean up and exit, then kills it,
// saying so on stderr. The error is cmd.Wait's.
func RunChild(ctx context.Context, cmd *exec.Cmd, stopWait time.Duration, stderr io.Writer) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	_ = cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-done:
		return err
	case <-time.After(stopWait):
		fmt.Fprintf(stderr, "lifeline: %s did not end within %v of the interrupt; killing it (a demo's data dir may keep agent processes: see its last lines)\n", filepath.Base(cmd.Path), stopWait)
		_ = cmd.Process.Kill()
		return <-done
	}
}
