// Command lifeline keeps VM host agents alive and stops them cleanly.
//
// It is the everyday CLI: the verbs that talk to the local daemon. The
// verbs that need what only the daemon's program links (fleet, replay,
// graph, demo, and any verb given --fleet or --host) run in
// lifelined as `lifelined cli VERB ARGS`, which lifeline runs in its
// place (internal/cli.Main). `lifeline status NAME` and `lifeline list` are
// answered before the rest of the program is initialised, from the init of
// internal/cli/fastpath/early.
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
	_ "github.com/lifeline-vm/lifeline/internal/cli/fastpath/early" // the fast path, from its init
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
