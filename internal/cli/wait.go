package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/client"
	"github.com/spf13/cobra"
)

func newWaitCommand(g *Globals) *cobra.Command {
	var forArg string
	var since uint64
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "wait NAME --for=state=Running|--for=delete",
		Short: "Wait until a VM reaches a state, or is deleted",
		Long: `Wait until a VM reaches a state, or is deleted. Without --since the VM's
current state counts; with --since SEQ every transition after record SEQ
counts, in order, even one that happened before this command ran.`,
		Args:              exactArgs(1),
		ValidArgsFunction: completeOneVM(g),
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
			name := args[0]
			v, err := g.client().Wait(ctx, name, want, client.WaitOptions{Since: since, Timeout: timeout})
			if err != nil {
				return waitError(cmd.Context(), g, name, want, timeout, err)
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

// waitError says why a wait for want ended without it: Ctrl-C (claims
// nothing), a timeout (names the state the VM is in), a VM that does not
// exist (close names).
func waitError(ctx context.Context, g *Globals, name string, want api.State, timeout time.Duration, err error) error {
	if interrupted(ctx) {
		return interruptedError{fmt.Errorf("interrupted: stopped waiting for vm %q", name)}
	}
	if !client.IsTimeout(err) {
		return withHint(ctx, g, "wait", name, err)
	}
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), hintTimeout)
	defer cancel()
	te := timeoutError{err: fmt.Errorf("vm %q: wait: timed out after %v", name, timeout), VM: name}
	if v, serr := g.client().Status(hctx, name); serr == nil {
		te.State = v.State
		what := "in state " + string(want)
		if want == api.Absent {
			what = "deleted"
		}
		te.err = fmt.Errorf("vm %q: wait: timed out after %v: still %s (seq %d), not %s; `lifeline status %s` shows why", name, timeout, v.State, v.Seq, what, name)
	}
	return te
}
