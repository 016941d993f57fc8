package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/client"
)

// Exit codes, documented in the package doc and the README.
const (
	exitOK       = 0
	exitError    = 1
	exitUsage    = 2
	exitRejected = 3
	exitTimeout  = 4
)

// DefaultWaitTimeout bounds --wait and `wait` when no --timeout is given:
// longer than the default start timeout, never forever.
const DefaultWaitTimeout = 15 * time.Minute

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// usageError marks a bad command line.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// timeoutError marks a wait that ran out on the client's side.
type timeoutError struct{ err error }

func (e timeoutError) Error() string { return e.err.Error() }
func (e timeoutError) Unwrap() error { return e.err }

func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ue usageError
	var te timeoutError
	var ae *client.Error
	switch {
	case errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &te):
		return exitTimeout
	case errors.As(err, &ae):
		switch ae.Code {
		case api.CodeRejected, api.CodeStillAlive:
			return exitRejected
		case api.CodeTimeout:
			return exitTimeout
		case api.CodeInvalid:
			return exitUsage
		}
	}
	return exitError
}

// globals are the flags every command has.
type globals struct {
	dataDir   string
	output    string
	logLevel  string
	logFormat string
	fleet     fleetFlags // fleet.go
}

// defaultDataDir is the data dir the daemon and its clients agree on
// (client.DefaultDataDir: $LIFELINE_HOME, $XDG_STATE_HOME/lifeline,
// ~/.local/state/lifeline).
func defaultDataDir() string { return client.DefaultDataDir() }

func defaultLogLevel() string {
	if l := os.Getenv("LIFELINE_LOG_LEVEL"); l != "" {
		return l
	}
	return "info"
}

func (g *globals) client() *client.Client {
	if c := g.remoteClient(); c != nil { // --host: over the fleet (fleet.go)
		return c
	}
	return client.New(filepath.Join(g.dataDir, api.SocketName))
}

func (g *globals) json() bool { return g.output == "json" }

func (g *globals) check() error {
	switch g.output {
	case "", "text", "json":
	default:
		return usageError{fmt.Errorf("-o %q: want text or json", g.output)}
	}
	return nil
}

// logger builds the daemon's logger from --log-level and --log-format.
func (g *globals) logger(w io.Writer) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(g.logLevel)
	if err != nil {
		return zerolog.Nop(), usageError{fmt.Errorf("--log-level %q: %w", g.logLevel, err)}
	}
	switch g.logFormat {
	case "json":
	case "console":
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339}
	default:
		return zerolog.Nop(), usageError{fmt.Errorf("--log-format %q: want json or console", g.logFormat)}
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
}

func newRootCommand() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "lifeline",
		Short: "Keep VM host agents alive and stop them cleanly",
		Long: `lifeline keeps VM host agents alive and stops them cleanly. Every
transition is written to a log before lifeline acts, so a restarted daemon
finishes whatever was in flight.

Exit codes: 0 ok, 1 error, 2 usage, 3 rejected because of the VM's state,
4 timed out.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			return g.check()
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&g.dataDir, "data-dir", defaultDataDir(), "the daemon's data dir (env LIFELINE_HOME)")
	pf.StringVarP(&g.output, "output", "o", "text", "output format: text or json")
	pf.StringVar(&g.logLevel, "log-level", defaultLogLevel(), "log level: debug, info, warn, error (env LIFELINE_LOG_LEVEL)")
	pf.StringVar(&g.logFormat, "log-format", "console", "log format: json or console")
	addFleetFlags(root, &g.fleet) // fleet.go
	root.AddCommand(
		newGraphCommand(),
		newDaemonCommand(g),
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
		newAgentSimCommand(),
		newDemoCommand(g),
		newReplayCommand(g),
		newFleetCommand(g), // fleet.go
	)
	return root
}

// withTimeout bounds a client call: the daemon bounds the wait itself;
// the client allows a little more so the daemon's answer arrives.
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d+10*time.Second)
}
