package main

import (
	"github.com/lifeline-vm/lifeline/client"
	"github.com/spf13/cobra"
)

func newResetCommand(g *globals) *cobra.Command {
	return simpleCommand(g, "reset NAME", "Clear a Broken VM back to Stopped (nothing of it may still run)", "reset", (*client.Client).Reset)
}
