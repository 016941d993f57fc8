//go:build unix

package front

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/internal/buildinfo"
	"github.com/lifeline-vm/lifeline/internal/cli/fastpath"
	"github.com/lifeline-vm/lifeline/internal/datadir"
	"github.com/lifeline-vm/lifeline/internal/progs"
)

// Run runs lifeline's command line args and returns the exit code: the
// fast path's answer, else lifeline-cli's in this process's place (Run
// returns only when that exec failed), else, with no lifeline-cli
// installed or when run by `go run`, lifeline-cli built from the checkout
// Run is started in (`go run ./cmd/lifeline ...`) and run as a child.
func Run(args []string, stdout, stderr io.Writer) int {
	// Set: this lifeline was exec'd as lifeline-cli (progs.FrontExecEnv).
	if p := os.Getenv(progs.FrontExecEnv); p != "" {
		return fail(stderr, args, fmt.Sprintf("%s is not %s but a copy of (or a link to) lifeline, which runs %s for every command but `status` and `list`: install the three programs again with `CGO_ENABLED=0 go install ./cmd/...` from a checkout of lifeline", p, progs.CLI, progs.CLI))
	}
	if code, ok := fastpath.Run(context.Background(), datadir.Default(), args, stdout, stderr); ok {
		return code
	}
	exe, exeErr := progs.Executable()
	if exeErr == nil && goRun(exe) {
		// `go run ./cmd/lifeline` runs the checkout's code, not a
		// lifeline-cli installed on PATH from another version.
		if dir, ok := progs.ModuleDir(); ok {
			return fromCheckout(dir, args, stdout, stderr)
		}
	}
	path, looked := progs.Look(progs.CLI, exe, exeErr, exec.LookPath)
	if path == "" {
		if dir, ok := progs.ModuleDir(); ok {
			return fromCheckout(dir, args, stdout, stderr)
		}
		v := buildinfo.Read().Version
		if !strings.HasPrefix(v, "v") || strings.Contains(v, "+dirty") {
			v = "latest"
		}
		return fail(stderr, args, fmt.Sprintf("%s is not installed (looked %s): lifeline answers `status` and `list` itself and runs every other command in %s; install the three programs (lifeline, %s, %s) with `CGO_ENABLED=0 go install ./cmd/...` from a checkout of lifeline, or `go install github.com/lifeline-vm/lifeline/cmd/...@%s`, into one directory", progs.CLI, strings.Join(looked, " and "), progs.CLI, progs.CLI, progs.Daemon, v))
	}
	err := syscall.Exec(path, append([]string{path}, args...), append(os.Environ(), progs.FrontExecEnv+"="+path))
	return fail(stderr, args, fmt.Sprintf("run %s: %v: install the three programs again with `CGO_ENABLED=0 go install ./cmd/...` from a checkout of lifeline", path, err))
}

// goRun is whether exe is a binary `go run` built: it runs it from
// exe/NAME in a go-build directory of its own.
func goRun(exe string) bool {
	dir := filepath.Dir(exe)
	return filepath.Base(dir) == "exe" && strings.Contains(dir, string(os.PathSeparator)+"go-build")
}

// checkoutStopWait bounds the wait for lifeline-cli built from a checkout
// after an interrupt: a demo's cleanup stops its VMs within their
// graceful timeouts.
const checkoutStopWait = 2 * time.Minute

// fromCheckout builds the three programs from the checkout in dir into a
// temporary directory, says so on stderr in one line, runs args through
// lifeline-cli as a child and removes them: what makes `go run
// ./cmd/lifeline demo` work with nothing installed (lifelined finds the
// lifeline next to it for agent-sim).
func fromCheckout(dir string, args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tmp, err := os.MkdirTemp("", "lifeline-bin-")
	if err != nil {
		return fail(stderr, args, fmt.Sprintf("build %s from %s: %v", progs.CLI, dir, err))
	}
	defer os.RemoveAll(tmp)
	fmt.Fprintf(stderr, "lifeline: building %s and %s from %s into a temporary directory (`go install ./cmd/...` installs all three programs and avoids this)\n", progs.CLI, progs.Daemon, dir)
	build := exec.CommandContext(ctx, "go", "build", "-o", tmp+string(os.PathSeparator), progs.Module+"/cmd/"+progs.Front, progs.Module+"/cmd/"+progs.CLI, progs.Module+"/cmd/"+progs.Daemon)
	build.Dir = dir
	build.Stdout, build.Stderr = stderr, stderr
	if err := build.Run(); err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(stderr, "lifeline: the build of %s was interrupted\n", progs.CLI)
			return exitInterrupted
		}
		return fail(stderr, args, fmt.Sprintf("build %s from %s: %v; install the programs with `go install ./cmd/...`", progs.CLI, dir, err))
	}
	bin := filepath.Join(tmp, progs.CLI)
	cmd := exec.Command(bin, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stdout, stderr
	err = progs.RunChild(ctx, cmd, checkoutStopWait, stderr)
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case ctx.Err() != nil:
		return exitInterrupted
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		return ee.ExitCode() // it printed its error
	}
	return fail(stderr, args, fmt.Sprintf("run %s: %v", bin, err))
}

// exitInterrupted is the CLI's exit code after Ctrl-C.
const exitInterrupted = 130

// fail prints msg as the CLI prints an error, as JSON on stderr when args
// ask for -o json, and returns exit code 1.
func fail(stderr io.Writer, args []string, msg string) int {
	if fastpath.WantsJSON(args) {
		_ = fastpath.WriteJSONLine(stderr, fastpath.ErrorJSON{Error: msg, Code: api.CodeInternal, Exit: 1})
	} else {
		fmt.Fprintln(stderr, "lifeline:", msg)
	}
	return 1
}
