package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lifeline-vm/lifeline/internal/buildinfo"
	"github.com/lifeline-vm/lifeline/internal/daemoncmd"
)

// daemonProgram is the daemon's binary, cmd/lifelined.
const daemonProgram = "lifelined"

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

// findDaemon finds lifelined: next to the running lifeline (symlinks
// resolved, so a lifeline linked into PATH finds its own lifelined), else
// on PATH.
func findDaemon() (string, error) {
	exe, err := os.Executable()
	if err == nil {
		exe, err = filepath.EvalSymlinks(exe)
	}
	return lookDaemon(exe, err, exec.LookPath)
}

// lookDaemon is findDaemon with the executable's path (or why it is not
// known) and the PATH lookup given.
func lookDaemon(exe string, exeErr error, lookPath func(string) (string, error)) (string, error) {
	name := daemonProgram
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	var looked []string
	if exeErr == nil {
		next := filepath.Join(filepath.Dir(exe), name)
		if fi, err := os.Stat(next); err == nil && fi.Mode().IsRegular() {
			return next, nil
		}
		looked = append(looked, "next to "+exe)
	}
	if p, err := lookPath(daemonProgram); err == nil {
		return p, nil
	}
	looked = append(looked, "on PATH")
	v := buildinfo.Read().Version
	if !strings.HasPrefix(v, "v") || strings.Contains(v, "+dirty") {
		v = "latest"
	}
	return "", fmt.Errorf("%w (looked %s): install it with `go install ./cmd/...` from a checkout of lifeline, or `go install github.com/lifeline-vm/lifeline/cmd/lifelined@%s`, and put it next to lifeline or on PATH", errNoDaemon, strings.Join(looked, " and "), v)
}

// newDemoDaemonCommand is the daemon `lifeline demo` runs: the same
// daemon as lifelined's, for agent-sim and command VMs, without Lima's
// template check and disk preparation or the metrics, so that the demo
// needs nothing but this binary (`go run ./cmd/lifeline demo`).
func newDemoDaemonCommand() *cobra.Command {
	return &cobra.Command{
		Use:                demoDaemonVerb,
		Short:              "The demo's daemon (lifeline demo runs it)",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			// The daemon printed its error: its exit code is this one's.
			if code := daemoncmd.Run(cmd.Context(), daemoncmd.Options{Use: demoDaemonVerb}, args, cmd.OutOrStdout(), cmd.ErrOrStderr()); code != 0 {
				os.Exit(code)
			}
			return nil
		},
	}
}

// demoDaemonVerb is the hidden verb of the demo's daemon.
const demoDaemonVerb = "demo-daemon"
