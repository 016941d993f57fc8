// Package cli is the lifeline CLI's command tree: every verb but those in
// internal/cli/heavy, its global flags, its output and its exit codes
// (0 ok, 1 error, 2 usage, 3 rejected because of the VM's state,
// 4 timed out, 130 interrupted). cmd/lifeline-cli (and on Windows cmd/lifeline) runs it through Main;
// lifelined runs it with heavy's verbs through Run (`lifelined cli`).
package cli

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lifeline-vm/lifeline/client"
)

// lifeline is the everyday CLI: the verbs that talk to the local daemon,
// and agent-sim. The verbs that need what only the daemon links (the
// fleet's NATS client, the store and the engine for replay, the demo's
// daemon) live in lifelined, which runs the
// whole tree as `lifelined cli VERB ARGS` with the program name shown as
// lifeline: `lifeline VERB ARGS` for such a verb, or any verb given
// --fleet or --host, runs that (Main). Their package initialisation and
// the pages of a bigger binary cost every command milliseconds when
// lifeline linked them (issue 12 item 19, BENCHMARKS.md).

// EntryVerb is lifelined's hidden verb that runs the CLI's whole tree:
// `lifelined cli ARGS` is `lifeline ARGS` with every verb.
const EntryVerb = "cli"

// Tree is what makes the two programs' trees differ: the verbs that live
// in lifelined, and the client of --host's daemon over the fleet.
type Tree struct {
	// Verbs are the verbs that live in lifelined: the real ones in
	// `lifelined cli` (internal/cli/heavy), stand-ins that run it in
	// lifeline (StandIns).
	Verbs func(g *Globals) []*cobra.Command
	// Remote is the client of --host's daemon over the fleet.
	Remote func(g *Globals) *client.Client
	// Self are the arguments that run this tree again after the
	// executable: none in lifeline, EntryVerb in lifelined.
	Self []string
}

// Verb is a verb that lives in lifelined as lifeline lists it: its stand-in
// in lifeline has the same use line, summary and visibility
// (internal/cli/heavy's TestStandInsAreTheVerbs).
type Verb struct {
	Use, Short string
	Hidden     bool
}

// LifelinedVerbs are the top-level verbs that live in lifelined.
var LifelinedVerbs = []Verb{
	{Use: "fleet", Short: "The fleet of hosts on NATS JetStream: every host's VMs and records"},
	{Use: "replay", Short: "Post-mortem: tell what happened to VMs from a database (often a copy)"},
	{Use: "graph", Short: "Print the lifecycle diagram, generated from the transition table"},
	{Use: "demo", Short: "A one-minute tour: real agents, a crash, a forced stop, a killed daemon, recovery"},
	{Use: DemoDaemonVerb, Short: "The demo's daemon (lifeline demo runs it)", Hidden: true},
}

// DemoDaemonVerb is the hidden verb of the demo's daemon.
const DemoDaemonVerb = "demo-daemon"

// inLifelined marks a stand-in.
const inLifelined = "lifeline/in-lifelined"

// thinTree is lifeline's: stand-ins that run `lifelined cli args`.
func thinTree(args []string) Tree {
	return Tree{
		Verbs: func(*Globals) []*cobra.Command {
			var cmds []*cobra.Command
			for _, v := range LifelinedVerbs {
				cmds = append(cmds, &cobra.Command{
					Use:                v.Use,
					Short:              v.Short,
					Hidden:             v.Hidden,
					Annotations:        map[string]string{inLifelined: "yes"},
					DisableFlagParsing: true,
					RunE: func(cmd *cobra.Command, _ []string) error {
						return runLifelined(cmd.Context(), cmd.Name(), args)
					},
				})
			}
			return cmds
		},
		Remote: func(*Globals) *client.Client {
			err := errors.New("--host goes over the fleet, which lifelined serves: run the command as `lifelined cli ARGS`")
			return &client.Client{Dial: func(context.Context, string, string) (net.Conn, error) { return nil, err }}
		},
	}
}

// Main is lifeline: it runs args in lifeline's tree, or, for a verb that
// lives in lifelined or a command line with --fleet or --host, runs
// `lifelined cli args` in its place. It returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return run(ctx, args, stdout, stderr)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCommand(thinTree(args))
	if verb, ok := lifelinedVerb(root, args); ok {
		err := runLifelined(ctx, verb, args)
		if err != nil {
			printError(stderr, wantsJSON(args), err)
		}
		return exitCode(err)
	}
	return execute(ctx, root, args, stdout, stderr)
}

// lifelinedVerb tells whether args name a verb that lives in lifelined
// (with `help` or cobra's completion request before it too), or give
// --fleet or --host to any verb but daemon, and which verb.
func lifelinedVerb(root *cobra.Command, args []string) (string, bool) {
	a := args
	if len(a) > 0 && (a[0] == cobra.ShellCompRequestCmd || a[0] == cobra.ShellCompNoDescRequestCmd) {
		a = a[1:]
	}
	root.InitDefaultHelpCmd()
	cmd, rest, err := root.Find(a)
	if err == nil && cmd.Name() == "help" && cmd.Parent() == root {
		cmd, _, err = root.Find(rest)
	}
	if err != nil || cmd == root {
		return "", fleetFlagGiven(args)
	}
	for cmd.Parent() != root {
		cmd = cmd.Parent()
	}
	if cmd.Annotations[inLifelined] != "" {
		return cmd.Name(), true
	}
	return cmd.Name(), cmd.Name() != "daemon" && fleetFlagGiven(args)
}

// fleetFlagGiven tells whether args give --fleet or --host (before a
// "--").
func fleetFlagGiven(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		name, _, _ := strings.Cut(a, "=")
		if name == "--fleet" || name == "--host" {
			return true
		}
	}
	return false
}
