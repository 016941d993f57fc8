// Command lifeline keeps VM host agents alive and stops them cleanly.
//
// Exit codes: 0 ok, 1 error, 2 usage, 3 rejected because of the VM's
// state, 4 timed out.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd := newRootCommand()
	err := cmd.ExecuteContext(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "lifeline:", err)
	}
	stop()
	os.Exit(exitCode(err))
}
