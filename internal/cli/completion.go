package cli

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lifeline-vm/lifeline/api"
)

// completionTimeout bounds the daemon's answer to a completion: a shell
// waits for it on every TAB.
const completionTimeout = time.Second

// completeVMs completes VM names from the daemon: the VMs in one of
// states, or every VM without states; each name described with its state.
// Names already on the command line are left out. No daemon: nothing.
func completeVMs(g *Globals, states ...api.State) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		ctx, cancel := context.WithTimeout(context.Background(), completionTimeout)
		defer cancel()
		vms, err := g.client().List(ctx)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []cobra.Completion
		for _, v := range vms {
			if len(states) > 0 && !slices.Contains(states, v.State) {
				continue
			}
			if slices.Contains(args, v.Name) || !strings.HasPrefix(v.Name, toComplete) {
				continue
			}
			out = append(out, cobra.CompletionWithDesc(v.Name, string(v.State)))
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeOneVM is completeVMs for a verb that takes one VM.
func completeOneVM(g *Globals) cobra.CompletionFunc {
	all := completeVMs(g)
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return all(cmd, args, toComplete)
	}
}

// completeValues completes a flag's fixed values.
func completeValues(values ...string) cobra.CompletionFunc {
	return cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp)
}

// registerFlagCompletions completes the flag values the CLI knows: -o,
// --for=state=..., --ready, --restart, --driver, --log-level,
// --log-format, wherever those flags are.
func registerFlagCompletions(root *cobra.Command) {
	forValues := []string{"delete"}
	for _, s := range api.States() {
		if s != api.Absent {
			forValues = append(forValues, "state="+string(s))
		}
	}
	values := map[string][]string{
		"output":     {"text", "json"},
		"for":        forValues,
		"ready":      {api.ReadyGuest, api.ReadyAgent},
		"restart":    {api.RestartNo, api.RestartOnFailure},
		"driver":     {driverLima, driverCommand},
		"log-level":  {"debug", "info", "warn", "error"},
		"log-format": {"console", "json"},
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for name, vals := range values {
			if c.Flags().Lookup(name) != nil || c.PersistentFlags().Lookup(name) != nil {
				_ = c.RegisterFlagCompletionFunc(name, completeValues(vals...))
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}
