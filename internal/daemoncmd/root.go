// Package daemoncmd is the daemon's command line: the flags of lifelined
// (and of `lifeline daemon`, which runs lifelined), the drivers it builds
// from them, the Lima home it claims, its log and its signals, around
// internal/daemon.
//
// What only a real Lima or a Prometheus scrape needs is passed in
// (Options): cmd/lifelined links Lima's template check and disk
// preparation (drivers/lima/limaprep, with limayaml and yq) and the
// metrics (internal/daemon/metrics, with Prometheus). The CLI links this
// package without them, for its demo's daemon only, so that those
// packages' init is not paid by every command a person types.
package daemoncmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/lifeline-vm/lifeline/client"
	"github.com/lifeline-vm/lifeline/drivers/lima"
	"github.com/lifeline-vm/lifeline/internal/buildinfo"
	"github.com/lifeline-vm/lifeline/internal/daemon"
)

// Options are the parts of the daemon a program links in beyond this
// package. The zero Options is a daemon for the Lima host agent stand-in
// (agent-sim) and command VMs: real Lima instances need ValidateTemplate
// and Prepare.
type Options struct {
	// Use is the command's name: "lifelined", or the CLI's hidden verb.
	Use string
	// ValidateTemplate checks every template against Lima's schema before
	// it is recorded (limaprep.ValidateTemplate); nil checks only what
	// drivers/lima checks itself.
	ValidateTemplate lima.TemplateValidator
	// Prepare makes a real Lima instance's disks before limactl's host
	// agent starts (limaprep.Prepare); it is used only when the host
	// agent command is limactl.
	Prepare lima.PrepareFunc
	// ServeMetrics serves --metrics-addr (metrics.Serve); nil: the
	// command has no --metrics-addr.
	ServeMetrics daemon.MetricsServer
}

// globals are the flags the daemon shares with the CLI's: the data dir,
// the log, the fleet.
type globals struct {
	dataDir   string
	logLevel  string
	logFormat string
	fleet     fleetFlags // fleet.go
}

// NewCommand returns the daemon's command: the root of lifelined.
func NewCommand(o Options) *cobra.Command {
	g := &globals{}
	cmd := newDaemonCommand(g, o) // daemon.go
	if o.Use != "" {
		cmd.Use = o.Use
	}
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.Version = buildinfo.String(cmd.Name())
	cmd.SetVersionTemplate("{{.Version}}\n")
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	f := cmd.Flags()
	f.StringVar(&g.dataDir, "data-dir", client.DefaultDataDir(), "the daemon's data dir (env LIFELINE_HOME)")
	f.StringVar(&g.logLevel, "log-level", defaultLogLevel(), "log level: debug, info, warn, error (env LIFELINE_LOG_LEVEL)")
	f.StringVar(&g.logFormat, "log-format", DefaultLogFormat(), "log format: console (coloured on a terminal unless NO_COLOR is set), logfmt or json (env LIFELINE_LOG_FORMAT)")
	addFleetFlags(f, &g.fleet) // fleet.go
	// The CLI's other global flags, which `lifeline daemon` passes on
	// when they come before the verb: accepted, and meaningless here.
	var output, host string
	var utc bool
	f.StringVarP(&output, "output", "o", "text", "")
	f.StringVar(&host, "host", "", "")
	f.BoolVar(&utc, "utc", false, "")
	for _, name := range []string{"output", "host", "utc"} {
		_ = f.MarkHidden(name)
	}
	return cmd
}

// Run runs the daemon's command line args and returns the exit code: 0
// after a clean shutdown, 2 for a usage error, 1 for any other error,
// printed on stderr.
func Run(ctx context.Context, o Options, args []string, stdout, stderr io.Writer) int {
	cmd := NewCommand(o)
	cmd.SetArgs(args)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "%s: %v\n", cmd.Name(), err)
	if errors.As(err, new(usageError)) {
		return 2
	}
	return 1
}

// usageError is a command line the daemon cannot run: exit 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }

func (e usageError) Unwrap() error { return e.err }

// exactArgs is cobra.ExactArgs with a usage error.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}

// isTerminal tells whether w is a terminal, and not one that asks for no
// cursor tricks (TERM=dumb): colour is for people watching, never for
// files, pipes or /dev/null.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && os.Getenv("TERM") != "dumb" && term.IsTerminal(int(f.Fd()))
}

func defaultLogLevel() string {
	if l := os.Getenv("LIFELINE_LOG_LEVEL"); l != "" {
		return l
	}
	return "info"
}
