package cli

import (
	"context"
	"io"

	"github.com/lifeline-vm/lifeline/internal/cli/fastpath"
)

// fastStatus is the fast path (package fastpath) of `status NAME` for
// people: without building the command tree and without net/http, one
// GET over the socket, printed by the status verb's own showStatus. (The
// -o json form is answered earlier, from the init of
// internal/cli/fastpath/early, which cmd/lifeline imports.) ok is false,
// with nothing written, when the tree must run the command instead.
func fastStatus(ctx context.Context, args []string, stdout, stderr io.Writer) (code int, ok bool) {
	name, output, ok := fastpath.StatusArgs(args)
	if !ok || output != "text" {
		return 0, false
	}
	g := &Globals{dataDir: defaultDataDir(), output: output}
	v, ok := fastpath.Status(ctx, g.dataDir, name)
	if !ok {
		return 0, false
	}
	// From here on it is the status verb's output and execute's handling
	// of its error, since something may have been written.
	err := showStatus(stdout, g, v)
	if err != nil {
		printError(stderr, false, err)
	}
	return exitCode(err), true
}
