package cli

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// strictSubcommands makes every command that has subcommands (the root,
// replay, completion) refuse an unknown one with exit 2 and the close
// names, instead of printing its help and exiting 0 (so that `lifeline
// replay verfy && echo ok` does not pass in a script). Alone, such a
// command prints its help.
func strictSubcommands(cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		strictSubcommands(c)
	}
	if !cmd.HasSubCommands() || cmd.Run != nil || cmd.RunE != nil {
		return
	}
	cmd.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		return unknownCommandError(cmd, args[0])
	}
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
}

// unknownCommandError is an unknown verb of cmd, with the verbs it may
// have meant.
func unknownCommandError(cmd *cobra.Command, verb string) error {
	var names []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			names = append(names, c.Name())
			names = append(names, c.Aliases...)
		}
	}
	msg := fmt.Sprintf("unknown command %q for %q", verb, cmd.CommandPath())
	if s := closeNames(verb, names); len(s) > 0 {
		msg += "; did you mean " + orList(s) + "?"
	}
	return usageError{fmt.Errorf("%s (`%s --help` lists them)", msg, cmd.CommandPath())}
}

// flagError is a bad flag, with the flags the user may have meant.
func flagError(cmd *cobra.Command, err error) error {
	var ne *pflag.NotExistError
	if errors.As(err, &ne) && ne.GetSpecifiedName() != "" {
		var names []string
		cmd.Flags().VisitAll(func(f *pflag.Flag) {
			if !f.Hidden {
				names = append(names, f.Name)
			}
		})
		cmd.InheritedFlags().VisitAll(func(f *pflag.Flag) {
			if !f.Hidden {
				names = append(names, f.Name)
			}
		})
		if s := closeNames(ne.GetSpecifiedName(), names); len(s) > 0 {
			for i := range s {
				s[i] = "--" + s[i]
			}
			err = fmt.Errorf("%w; did you mean %s?", err, orList(s))
		}
	}
	return usageError{fmt.Errorf("%w (`%s --help` lists the flags)", err, cmd.CommandPath())}
}

// closeNames are the names near typed: within an edit distance of a third
// of its length (at least 1, at most 3), or one starts with the other;
// the nearest first.
func closeNames(typed string, names []string) []string {
	typed = strings.ToLower(typed)
	maxDist := min(max(len(typed)/3, 1), 3)
	type cand struct {
		name string
		d    int
	}
	var cs []cand
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] || n == "" {
			continue
		}
		seen[n] = true
		d := editDistance(typed, strings.ToLower(n))
		if d <= maxDist || (len(typed) >= 2 && strings.HasPrefix(strings.ToLower(n), typed)) {
			cs = append(cs, cand{n, d})
		}
	}
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].d != cs[j].d {
			return cs[i].d < cs[j].d
		}
		return cs[i].name < cs[j].name
	})
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.name)
	}
	if len(out) > 3 {
		out = out[:3]
	}
	return out
}

// orList is "a", "a or b", "a, b or c", each quoted.
func orList(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = fmt.Sprintf("%q", v)
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// editDistance is the Damerau-Levenshtein distance (with transpositions)
// of a and b, in bytes.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
