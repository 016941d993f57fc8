package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/client"
	"github.com/lifeline-vm/lifeline/internal/cli/fastpath"
	"github.com/lifeline-vm/lifeline/internal/cli/vmtext"
	"github.com/lifeline-vm/lifeline/internal/datadir"
	"github.com/spf13/cobra"
)

// DefaultWaitTimeout bounds --wait and `wait` when no --timeout is given:
// longer than the default start timeout, never forever.
const DefaultWaitTimeout = 15 * time.Minute

// Globals are the flags every command has.
type Globals struct {
	dataDir   string
	output    string
	logLevel  string
	logFormat string
	utc       bool       // --utc: times in UTC instead of the local zone
	quiet     bool       // -q: names only, no progress
	fleet     FleetFlags // fleetflags.go
	// remote is the client of --host's daemon over the fleet
	// (Tree.Remote).
	remote func(*Globals) *client.Client
	// self are the arguments that run this tree again after the
	// executable (Tree.Self).
	self []string
}

// The one format of a time for people, on every verb, is
// internal/timefmt's: the local time with its zone (UTC with --utc), to
// the millisecond for a record, to the second for a state's start or a
// deadline. JSON carries RFC 3339, and durations in JSON name their unit.

// times are g's way of showing times (--utc), for vmtext.
func (g *Globals) times() vmtext.Times { return vmtext.Times{UTC: g.utc} }

// location is where times are shown: the local zone, or UTC with --utc.
func (g *Globals) location() *time.Location { return g.times().Location() }

// when formats t for people with its date and zone, to the second.
func (g *Globals) when(t time.Time) string { return g.times().When(t) }

// clock formats t for people as a time of day with its zone, for lines
// about what happens now (progress, deadlines): the date only when it is
// not today.
func (g *Globals) clock(t time.Time) string { return g.times().Clock(t) }

// defaultDataDir is the data dir the daemon and its clients agree on
// (client.DefaultDataDir: $LIFELINE_HOME, $XDG_STATE_HOME/lifeline,
// ~/.local/state/lifeline).
func defaultDataDir() string { return datadir.Default() }

// defaultLogFormat is $LIFELINE_LOG_FORMAT, else console: lifelined's
// default (internal/daemoncmd.DefaultLogFormat, TestDefaultsAreTheDaemons).
func defaultLogFormat() string {
	if f := os.Getenv("LIFELINE_LOG_FORMAT"); f != "" {
		return f
	}
	return "console"
}

func defaultLogLevel() string {
	if l := os.Getenv("LIFELINE_LOG_LEVEL"); l != "" {
		return l
	}
	return "info"
}

func (g *Globals) client() *client.Client {
	if g.fleet.Host != "" { // --host: over the fleet (Tree.Remote)
		return g.remote(g)
	}
	return client.New(filepath.Join(g.dataDir, api.SocketName))
}

func (g *Globals) json() bool { return g.output == "json" }

func (g *Globals) check() error {
	switch g.output {
	case "", "text", "json":
	default:
		return usageError{fmt.Errorf("-o %q: want text or json", g.output)}
	}
	return nil
}

func newRootCommand(t Tree) *cobra.Command {
	g := &Globals{remote: t.Remote, self: t.Self}
	root := &cobra.Command{
		Use:   "lifeline",
		Short: "Keep VM host agents alive and stop them cleanly",
		Long: `lifeline keeps VM host agents alive and stops them cleanly. Every
transition is written to a log before lifeline acts, so a restarted daemon
finishes whatever was in flight.

Exit codes: 0 ok, 1 error, 2 usage, 3 rejected because of the VM's state,
4 timed out, 130 interrupted (Ctrl-C: what the daemon does goes on).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			return g.check()
		},
	}
	root.SetFlagErrorFunc(flagError)
	pf := root.PersistentFlags()
	pf.StringVar(&g.dataDir, "data-dir", defaultDataDir(), "the daemon's data dir (env LIFELINE_HOME)")
	pf.StringVarP(&g.output, "output", "o", "text", "output format: text or json")
	pf.StringVar(&g.logLevel, "log-level", defaultLogLevel(), "log level: debug, info, warn, error (env LIFELINE_LOG_LEVEL)")
	pf.StringVar(&g.logFormat, "log-format", defaultLogFormat(), "log format: console (coloured on a terminal unless NO_COLOR is set), logfmt or json (env LIFELINE_LOG_FORMAT)")
	pf.BoolVar(&g.utc, "utc", false, "show times in UTC instead of the local zone")
	root.Version = versionString()
	root.SetVersionTemplate("{{.Version}}\n")
	addFleetFlags(root, &g.fleet) // fleetflags.go
	root.AddCommand(
		newDaemonCommand(), // daemon_exec.go
		newCreateCommand(g),
		newStartCommand(g),
		newStopCommand(g),
		newResetCommand(g),
		newDeleteCommand(g),
		newUpdateCommand(g),
		newListCommand(g),
		newStatusCommand(g),
		newWaitCommand(g),
		newEventsCommand(g),
		newLogsCommand(g),
		newBackupCommand(g),
		newVersionCommand(g),
		newAgentSimCommand(g),
		newRestartCommand(g),
		newImportCommand(g), newReleaseCommand(g), // import.go
	)
	// The verbs that live in lifelined: the real ones in `lifelined cli`,
	// stand-ins that run it in lifeline (tree.go).
	root.AddCommand(t.Verbs(g)...)
	root.InitDefaultCompletionCmd()
	strictSubcommands(root)
	return root
}

// Run executes the command line args in tree t and returns the exit
// code, having printed any error on stderr: for people, or as JSON with
// -o json. lifeline runs its own tree through Main; `lifelined cli ARGS`
// runs the whole one (internal/cli/heavy).
func Run(ctx context.Context, t Tree, args []string, stdout, stderr io.Writer) int {
	return execute(ctx, newRootCommand(t), args, stdout, stderr)
}

func execute(ctx context.Context, cmd *cobra.Command, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && (args[0] == cobra.ShellCompRequestCmd || args[0] == cobra.ShellCompNoDescRequestCmd) {
		// Only a completion request uses them: registering them on every
		// command's flags cost every command ~0.2 ms.
		registerFlagCompletions(cmd)
	}
	cmd.SetArgs(args)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	err := cmd.ExecuteContext(ctx)
	if err != nil {
		printError(stderr, wantsJSON(args), err)
	}
	return exitCode(err)
}

// wantsJSON tells whether the command line asks for -o json, read from
// the arguments themselves so that even an error in parsing them is
// printed as JSON.
func wantsJSON(args []string) bool { return fastpath.WantsJSON(args) }

// withTimeout bounds a client call: the daemon bounds the wait itself;
// the client allows a little more so the daemon's answer arrives.
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d+10*time.Second)
}
