// Command lifelined is the lifeline daemon: it supervises VMs' host
// agents, writes every transition to its log before it acts, and serves
// the control socket the lifeline CLI talks to. `lifeline daemon ARGS`
// runs `lifelined ARGS`.
//
// It is a program of its own so that what only the daemon needs, Lima's
// template check and disk preparation (drivers/lima/limaprep: limayaml,
// yq) and the Prometheus metrics, is not linked into the CLI, where its
// package initialisation cost every command ~10 ms.
//
// `lifelined cli ARGS` (hidden) is the CLI with every verb: lifeline runs
// it for the verbs that need what only this program links (fleet, replay,
// graph, demo, any verb with --fleet or --host), shown as
// lifeline, with the CLI's exit codes (internal/cli).
//
// Exit codes: 0 after a clean shutdown (SIGTERM or SIGINT), 1 error,
// 2 usage.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/lifeline-vm/lifeline/drivers/lima/limaprep"
	"github.com/lifeline-vm/lifeline/internal/cli"
	"github.com/lifeline-vm/lifeline/internal/cli/heavy"
	"github.com/lifeline-vm/lifeline/internal/daemon/metrics"
	"github.com/lifeline-vm/lifeline/internal/daemoncmd"
)

// options are the parts of the daemon only lifelined links.
var options = daemoncmd.Options{
	Use:              "lifelined",
	ValidateTemplate: limaprep.ValidateTemplate,
	Prepare:          limaprep.Prepare,
	ServeMetrics:     metrics.Serve,
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	var code int
	if len(os.Args) > 1 && os.Args[1] == cli.EntryVerb {
		code = cli.Run(ctx, heavy.Tree(), os.Args[2:], os.Stdout, os.Stderr)
	} else {
		code = daemoncmd.Run(ctx, options, os.Args[1:], os.Stdout, os.Stderr)
	}
	stop()
	os.Exit(code)
}
