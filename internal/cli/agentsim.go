package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lifeline-vm/lifeline/internal/agentsim"
)

type agentSimOptions struct {
	pidfile     string
	socket      string
	driverChild bool
	// Accepted so that limactl's command lines work unchanged; ignored.
	// (--log-level and --log-format are the root's persistent flags.)
	guestagent, nerdctlArchive string
	runGUI, debug              bool
	// self are the arguments that run this tree again after the
	// executable (Tree.Self).
	self []string
}

func newAgentSimCommand(g *Globals) *cobra.Command {
	o := &agentSimOptions{self: g.self}
	cmd := &cobra.Command{
		Use:   "agent-sim [flags] NAME",
		Short: "Stand in for Lima's limactl hostagent (tests, demo, benchmarks)",
		Long: `A stand-in for Lima's "limactl hostagent NAME" that speaks the same protocol:
it writes its pid to --pidfile, serves GET /v1/info on the unix socket
--socket, prints Lima's JSON events on stdout ({"status":{"running":true}},
{"status":{"exiting":true}}, ...), and starts a driver child, the stand-in
for QEMU, in its own process group with its pid in qemu.pid. The instance
directory is the directory of --pidfile (Lima: $LIMA_HOME/NAME/ha.pid).
SIGINT or SIGTERM stops it: the driver child first, then "exiting", then
its files go, exit 0.

Environment variables set how it behaves:
` + agentsim.KnobsHelp() + `
Exit status: 0 after a graceful stop, 1 on an error or a simulated failure,
2 for a bad command line or a bad LIFELINE_SIM_* value.`,
		Hidden: true,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{fmt.Errorf("agent-sim: want one instance NAME, got %d arguments", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.pidfile, "pidfile", "p", "", "write the pid to this file; its directory is the instance directory (required)")
	f.StringVar(&o.socket, "socket", "", "serve the hostagent API on this unix socket (required)")
	f.BoolVar(&o.driverChild, "driver-child", false, "run as the driver child (started by agent-sim itself)")
	_ = f.MarkHidden("driver-child")
	f.StringVar(&o.guestagent, "guestagent", "", "accepted for limactl compatibility; ignored")
	f.StringVar(&o.nerdctlArchive, "nerdctl-archive", "", "accepted for limactl compatibility; ignored")
	f.BoolVar(&o.runGUI, "run-gui", false, "accepted for limactl compatibility; ignored")
	f.BoolVar(&o.debug, "debug", false, "accepted for limactl compatibility; ignored")
	return cmd
}

func (o *agentSimOptions) run(cmd *cobra.Command, name string) error {
	cfg, err := agentsim.ConfigFromEnv(os.Getenv)
	if err != nil {
		return usageError{fmt.Errorf("agent-sim: %w", err)}
	}
	if o.driverChild {
		return agentsim.RunDriver(cmd.Context(), cfg, cmd.OutOrStdout())
	}
	if o.pidfile == "" || o.socket == "" {
		return usageError{errors.New("agent-sim: --pidfile and --socket are required")}
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("agent-sim: %w", err)
	}
	// The driver child is this command again: "lifeline agent-sim
	// --driver-child NAME" (or "lifelined cli agent-sim ..." in the
	// demo's daemon), wherever the command sits in the tree.
	argv := append(append([]string{exe}, o.self...), strings.Fields(cmd.CommandPath())[1:]...)
	argv = append(argv, "--driver-child", name)
	// The agent catches SIGINT and SIGTERM itself and logs them as Lima's
	// host agent does ("Received SIGINT, shutting down the host agent",
	// the evidence of a limactl stop): the CLI's context, which the same
	// signals cancel, must not race it to the shutdown.
	err = agentsim.Run(context.WithoutCancel(cmd.Context()), agentsim.Options{
		Name:       name,
		PIDFile:    o.pidfile,
		Socket:     o.socket,
		DriverArgv: argv,
		Config:     cfg,
		Stdout:     cmd.OutOrStdout(),
		Stderr:     cmd.ErrOrStderr(),
	})
	if errors.Is(err, agentsim.ErrInvalidOptions) {
		return usageError{fmt.Errorf("agent-sim: %w", err)}
	}
	if err != nil {
		return fmt.Errorf("agent-sim %q: %w", name, err)
	}
	return nil
}
