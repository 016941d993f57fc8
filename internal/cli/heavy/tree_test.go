package heavy

import (
	"bytes"
	"context"
	"slices"
	"testing"

	"github.com/lifeline-vm/lifeline/internal/cli"
)

// TestStandInsAreTheVerbs: lifeline's stand-ins for the verbs that live in
// lifelined are those verbs as lifeline lists them (use line, summary,
// visibility, no aliases lost), one for one.
func TestStandInsAreTheVerbs(t *testing.T) {
	var got []cli.Verb
	for _, c := range Tree().Verbs(new(cli.Globals)) {
		if len(c.Aliases) > 0 {
			t.Errorf("%s has aliases %v, which its stand-in in lifeline lacks", c.Name(), c.Aliases)
		}
		got = append(got, cli.Verb{Use: c.Use, Short: c.Short, Hidden: c.Hidden})
	}
	if !slices.Equal(got, cli.LifelinedVerbs) {
		t.Errorf("lifelined's verbs\n%+v\nlifeline's stand-ins (cli.LifelinedVerbs)\n%+v", got, cli.LifelinedVerbs)
	}
}

// TestBothTreesLookTheSame: lifeline's own tree and `lifelined cli`'s
// print the same help, the same verbs to complete and the same
// suggestions for an unknown verb, with the same exit codes.
func TestBothTreesLookTheSame(t *testing.T) {
	for _, args := range [][]string{
		{"--help"},
		{"help"},
		{"status", "--help"},
		{"__complete", ""},
		{"__complete", "re"},
		{"__complete", "status", "--"},
		{"__complete", "list", "-o", ""},
		{"__completeNoDesc", "wait", "vm1", "--for", ""},
		{"repaly"},
		{"stauts", "vm1"},
		{"--version"},
		{"completion", "bash"},
	} {
		var thinOut, thinErr, fullOut, fullErr bytes.Buffer
		thin := cli.Main(context.Background(), args, &thinOut, &thinErr)
		full := cli.Run(context.Background(), Tree(), args, &fullOut, &fullErr)
		if thin != full || thinOut.String() != fullOut.String() || thinErr.String() != fullErr.String() {
			t.Errorf("lifeline %q: lifeline exits %d with\n%s%s\nlifelined cli exits %d with\n%s%s", args, thin, thinOut.String(), thinErr.String(), full, fullOut.String(), fullErr.String())
		}
	}
}
