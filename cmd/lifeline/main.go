// Command lifeline keeps VM host agents alive and stops them cleanly.
//
// Exit codes: 0 ok, 1 error, 2 usage, 3 rejected because of the VM's
// state, 4 timed out, 130 interrupted (Ctrl-C).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
