package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lifeline-vm/lifeline/internal/buildinfo"
	"github.com/lifeline-vm/lifeline/internal/progs"
)

// daemonProgram is the daemon's binary, cmd/lifelined.
const daemonProgram = progs.Daemon

// newDaemonCommand is `lifeline daemon ARGS`: it runs `lifelined ARGS`,
// the daemon's own binary, which links what the CLI leaves out (Lima's
// template check and disk preparation, Prometheus). On unix lifelined
// replaces this process (same pid: service units, signals and kills reach
// the daemon as before); on Windows it runs as a child with this
// process's stdio, and its exit code is this one's.
func newDaemonCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "daemon [flags]",
		Short: "Run the daemon (lifelined): supervise VMs and serve the control socket",
		Long: `Run the daemon: lifeline daemon ARGS runs lifelined ARGS, found next to
the lifeline executable, else on PATH. ` + "`lifeline daemon --help`" + ` (or
` + "`lifelined --help`" + `) lists its flags. Install both with
` + "`go install ./cmd/...`" + ` from a checkout.`,
		// Every argument, flags before and after the verb, goes to
		// lifelined as it was given.
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			path, err := findDaemon()
			if err != nil {
				return err
			}
			return execDaemon(cmd.Context(), path, args) // daemon_exec_unix.go, daemon_exec_windows.go
		},
	}
}

// errNoDaemon is a lifeline without its lifelined.
var errNoDaemon = errors.New("the daemon's program " + daemonProgram + " is not installed")

// findDaemon finds lifelined: next to the running lifeline-cli (symlinks
// resolved), else on PATH.
func findDaemon() (string, error) {
	path, looked := progs.Find(daemonProgram)
	return daemonFound(path, looked)
}

// lookDaemon is findDaemon with the executable's path (or why it is not
// known) and the PATH lookup given.
func lookDaemon(exe string, exeErr error, lookPath func(string) (string, error)) (string, error) {
	return daemonFound(progs.Look(daemonProgram, exe, exeErr, lookPath))
}

// daemonFound is lifelined's path, or errNoDaemon saying where it was
// looked for and how to install it.
func daemonFound(path string, looked []string) (string, error) {
	if path != "" {
		return path, nil
	}
	v := buildinfo.Read().Version
	if !strings.HasPrefix(v, "v") || strings.Contains(v, "+dirty") {
		v = "latest"
	}
	return "", fmt.Errorf("%w (looked %s): install it with `go install ./cmd/...` from a checkout of lifeline, or `go install github.com/lifeline-vm/lifeline/cmd/lifelined@%s`, and put it next to lifeline or on PATH", errNoDaemon, strings.Join(looked, " and "), v)
}

// runLifelined runs `lifelined cli args` in this process's place (on
// Windows as its child), for verb, which lives in lifelined: found as
// `lifeline daemon` finds it. It returns only when that failed. Without an
// installed lifelined, `lifeline demo` run from a checkout of lifeline
// (`go run ./cmd/lifeline demo`) builds one first (demoFromCheckout).
func runLifelined(ctx context.Context, verb string, args []string) error {
	path, err := findDaemon()
	if err != nil && verb == "demo" {
		if dir, ok := progs.ModuleDir(); ok {
			return demoFromCheckout(ctx, dir, args)
		}
	}
	if err != nil {
		return fmt.Errorf("`lifeline %s` runs in %s: %w", verb, daemonProgram, err)
	}
	if err := checkLifelined(ctx, path, verb); err != nil {
		return err
	}
	return execDaemon(ctx, path, append([]string{EntryVerb}, args...))
}

// probeTimeout bounds checkLifelined's run of lifelined.
const probeTimeout = 30 * time.Second

// errOldLifelined is a lifelined without the hidden verb `cli` that runs
// lifeline's verbs: a lifelined older than the lifeline that runs it.
var errOldLifelined = errors.New("older than this lifeline")

// checkLifelined makes sure the lifelined at path runs `lifelined cli
// ARGS`, before lifeline hands verb over to it for good (on unix it
// replaces this process): it runs `lifelined cli version`, which a
// lifelined from before the verb refuses with its own usage error
// ("accepts 0 arg(s)", "unknown flag"), which would then be all the user
// saw. It costs one start of lifelined (~15 ms), for the verbs that run
// there only.
func checkLifelined(ctx context.Context, path, verb string) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, EntryVerb, "version")
	// A lifelined (a wrapper script) whose child keeps the output open
	// past the bound does not hold lifeline up.
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return nil
	case interrupted(ctx):
		return interruptedError{fmt.Errorf("interrupted while checking %s at %s", daemonProgram, path)}
	case errors.As(err, &ee) && ee.ExitCode() > 0:
		return fmt.Errorf("`lifeline %s` runs in %s, but the %s at %s is %w [%s]: it has no `%s %s` (it said: %s); reinstall the programs with `CGO_ENABLED=0 go install ./cmd/...` from a checkout of lifeline", verb, daemonProgram, daemonProgram, path, errOldLifelined, versionString(), daemonProgram, EntryVerb, strings.TrimSpace(firstLine(out)))
	}
	return fmt.Errorf("`lifeline %s` runs in %s: run %s %s version: %w", verb, daemonProgram, path, EntryVerb, err)
}

// firstLine is b's first line.
func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	return s
}

// demoFromCheckout builds lifelined from the checkout in dir into a
// temporary directory, says so on stderr in one line, runs the demo
// through it as a child and removes it.
func demoFromCheckout(ctx context.Context, dir string, args []string) error {
	tmp, err := os.MkdirTemp("", "lifeline-demo-bin-")
	if err != nil {
		return fmt.Errorf("build %s for the demo: %w", daemonProgram, err)
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, daemonProgram)
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	fmt.Fprintf(os.Stderr, "lifeline: %s is not installed: building it from %s for the demo (`go install ./cmd/...` installs all three programs and avoids this)\n", daemonProgram, dir)
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, progs.Module+"/cmd/"+daemonProgram)
	build.Dir = dir
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		if interrupted(ctx) {
			return interruptedError{fmt.Errorf("the build of %s for the demo was interrupted", daemonProgram)}
		}
		return fmt.Errorf("build %s from %s for the demo: %w; install the programs with `go install ./cmd/...`", daemonProgram, dir, err)
	}
	cmd := exec.Command(bin, append([]string{EntryVerb}, args...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err = progs.RunChild(ctx, cmd, demoStopWait, os.Stderr)
	return childExit(ctx, bin, err)
}

// demoStopWait bounds the wait for the demo's child after an interrupt:
// its own cleanup stops its VMs within their graceful timeouts.
const demoStopWait = 2 * time.Minute

// childExit is how lifeline ends after the demo's child did: nothing
// when it succeeded, interrupted (130) when Ctrl-C or SIGTERM ended it,
// its exit code when it exited with one (it printed its error), else an
// error that says what ended it (a child killed by a signal has no exit
// code: -1, which would be exit status 255).
func childExit(ctx context.Context, bin string, err error) error {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return nil
	case interrupted(ctx):
		return interruptedError{fmt.Errorf("the demo was interrupted: %w", err)}
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		return childExitError{code: ee.ExitCode()} // the demo printed its error
	}
	return fmt.Errorf("run the demo's %s: %w", bin, err)
}
