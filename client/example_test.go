package client_test

import (
	"context"
	"fmt"
	"time"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/client"
)

// Start a VM and wait until it runs, from the record the start wrote, so
// that no transition in between is missed; a VM whose state does not
// allow the start is told apart by its code.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var c client.Client // the daemon of the default data dir
	r, err := c.Start(ctx, "vm1")
	switch {
	case client.IsRejected(err):
		fmt.Println("vm1 cannot start now:", err)
		return
	case err != nil:
		fmt.Println(err)
		return
	}
	v, err := c.Wait(ctx, "vm1", api.Running, client.WaitOptions{Since: r.Seq, Timeout: 4 * time.Minute})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("vm1 runs, agent pid", v.HostAgentPID)
}
