// Package early runs lifeline's fast path (package fastpath) from its
// init, before Go initialises the packages the command tree needs; only
// cmd/lifeline imports it, for that init. A command line the fast path
// does not answer goes on to main unchanged.
//
// It sets up no signal handling (os/signal's goroutine and thread cost
// the fast path ~0.9 ms): Ctrl-C while it waits on the daemon ends the
// process as it does during any program's initialisation, killed by
// SIGINT (130 in the shell), with nothing written; SIGTERM likewise (143),
// and a SIGINT the shell ignores for it (a command run with & in a
// script) stays ignored there.
package early

import (
	"context"
	"os"

	"github.com/lifeline-vm/lifeline/internal/cli/fastpath"
	"github.com/lifeline-vm/lifeline/internal/datadir"
)

func init() {
	if code, ok := fastpath.Run(context.Background(), datadir.Default(), os.Args[1:], os.Stdout, os.Stderr); ok {
		os.Exit(code)
	}
}
