package cli

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/spf13/cobra"

	"github.com/lifeline-vm/lifeline/api"
)

// targets are the VMs a verb acts on: the names given, or with --all
// every VM in a state the verb applies to.
type targets struct{ all bool }

func (t *targets) add(cmd *cobra.Command, which string) {
	cmd.Flags().BoolVarP(&t.all, "all", "a", false, "every VM "+which)
}

// names resolves the VMs: args, or with --all the VMs for which eligible
// is true (none is not an error).
func (t *targets) names(ctx context.Context, g *Globals, cmd *cobra.Command, args []string, eligible func(api.VM) bool) ([]string, error) {
	if t.all {
		if len(args) > 0 {
			return nil, usageError{fmt.Errorf("%s: give VM names or --all, not both", cmd.Name())}
		}
		vms, err := g.client().List(ctx)
		if err != nil {
			return nil, err
		}
		var out []string
		for _, v := range vms {
			if eligible(v) {
				out = append(out, v.Name)
			}
		}
		return out, nil
	}
	if len(args) == 0 {
		if cmd.Flags().Lookup("all") == nil {
			return nil, usageError{fmt.Errorf("%s: give one or more VM names", cmd.Name())}
		}
		return nil, usageError{fmt.Errorf("%s: give one or more VM names, or --all", cmd.Name())}
	}
	seen := map[string]bool{}
	for _, a := range args {
		if seen[a] {
			return nil, usageError{fmt.Errorf("%s: vm %q named twice", cmd.Name(), a)}
		}
		seen[a] = true
	}
	return args, nil
}

// multiError is the combined failure of a verb run for several VMs: each
// VM's error was printed beside its result.
type multiError struct {
	failed []error
	total  int
}

func (e multiError) Error() string {
	return fmt.Sprintf("%d of %d VMs failed", len(e.failed), e.total)
}

// code is the combined exit code: the failures' own when they agree, else
// 1.
func (e multiError) code() int {
	c := exitCode(e.failed[0])
	for _, err := range e.failed[1:] {
		if exitCode(err) != c {
			return exitError
		}
	}
	return c
}

// forEachVM runs do for every VM at once (one request each), then prints
// each VM's outcome in the order the VMs were given: its line, or its
// error on stderr. One VM: its error is the command's. Several: the
// combined multiError; with -o json, one array of outcomes, a failed VM's
// with its error.
func forEachVM(cmd *cobra.Command, g *Globals, names []string, do func(ctx context.Context, name string) (outcome, error), line func(outcome) string) error {
	type result struct {
		o   outcome
		err error
	}
	results := make([]result, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, err := do(cmd.Context(), name)
			if o.Name == "" {
				o.Name = name
			}
			results[i] = result{o, err}
		}()
	}
	wg.Wait()
	w, ew := cmd.OutOrStdout(), cmd.ErrOrStderr()
	if len(names) == 1 {
		if results[0].err != nil {
			return results[0].err
		}
		return printOutcome(w, g, results[0].o, line)
	}
	var failed []error
	var all []outcome
	for _, r := range results {
		if r.err != nil {
			failed = append(failed, r.err)
			e := toErrorJSON(r.err)
			if e.VM == "" {
				e.VM = r.o.Name
			}
			r.o.Error = &e
			if !g.json() {
				fmt.Fprintln(ew, "lifeline:", r.err)
			}
		} else if !g.json() {
			if err := printOutcome(w, g, r.o, line); err != nil {
				return err
			}
		}
		all = append(all, r.o)
	}
	if g.json() {
		if all == nil {
			all = []outcome{}
		}
		if err := writeJSON(w, all); err != nil {
			return err
		}
	}
	if len(failed) > 0 {
		return multiError{failed: failed, total: len(names)}
	}
	return nil
}

func printOutcome(w io.Writer, g *Globals, o outcome, line func(outcome) string) error {
	switch {
	case g.json():
		return writeJSON(w, o)
	case g.quiet:
		_, err := fmt.Fprintln(w, o.Name)
		return err
	}
	_, err := fmt.Fprintln(w, line(o))
	return err
}
