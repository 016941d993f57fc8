package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/client"
	"github.com/spf13/cobra"
)

func newWaitCommand(g *globals) *cobra.Command {
	var forArg string
	var since uint64
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "wait NAME --for=state=Running|--for=delete",
		Short: "Wait until a VM reaches a state, or is deleted",
		Long: `Wait until a VM reaches a state, or is deleted. Without --since the VM's
current state counts; with --since SEQ every transition after record SEQ
counts, in order, even one that happened before this command ran.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if forArg == "" {
				return usageError{fmt.Errorf("wait: --for is required (state=STATE or delete)")}
			}
			want, err := parseFor(forArg)
			if err != nil {
				return err
			}
			ctx, cancel := withTimeout(cmd.Context(), timeout)
			defer cancel()
			v, err := g.client().Wait(ctx, args[0], want, client.WaitOptions{Since: since, Timeout: timeout})
			if err != nil {
				if ctx.Err() != nil {
					return timeoutError{fmt.Errorf("vm %q: wait: timed out after %v", args[0], timeout)}
				}
				return err
			}
			if g.json() {
				return writeJSON(cmd.OutOrStdout(), v)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s: %s (seq %d)\n", args[0], v.State, v.Seq)
			return err
		},
	}
	cmd.Flags().StringVar(&forArg, "for", "", "state=STATE or delete")
	cmd.Flags().Uint64Var(&since, "since", 0, "count every transition after this record sequence")
	cmd.Flags().DurationVar(&timeout, "timeout", DefaultWaitTimeout, "give up (exit 4) after this long")
	return cmd
}

// parseFor reads --for: state=STATE, or delete (the state Absent). The
// daemon checks the state's name.
func parseFor(s string) (api.State, error) {
	if s == "delete" {
		return api.Absent, nil
	}
	if st, ok := strings.CutPrefix(s, "state="); ok {
		return api.State(st), nil
	}
	return "", usageError{fmt.Errorf("wait: --for=%q: want state=STATE or delete", s)}
}
