// Command lifeline-cli is lifeline's CLI with every verb (internal/cli).
// On unix, lifeline answers `status` and `list` itself and runs
// lifeline-cli in its place for every other command line, so people type
// `lifeline`; lifeline-cli shows itself as lifeline.
//
// Exit codes: 0 ok, 1 error, 2 usage, 3 rejected because of the VM's
// state, 4 timed out, 130 interrupted (Ctrl-C).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/lifeline-vm/lifeline/internal/cli"
	"github.com/lifeline-vm/lifeline/internal/progs"
)

func main() {
	// Set by the lifeline that exec'd this one; not for what this one
	// runs (agents, lifelined).
	os.Unsetenv(progs.FrontExecEnv)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
