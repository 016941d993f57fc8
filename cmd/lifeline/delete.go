package main

import (
	"github.com/lifeline-vm/lifeline/client"
	"github.com/spf13/cobra"
)

func newDeleteCommand(g *globals) *cobra.Command {
	return simpleCommand(g, "delete NAME", "Delete a Stopped or Broken VM (its log stays)", "deleted", (*client.Client).Delete)
}
