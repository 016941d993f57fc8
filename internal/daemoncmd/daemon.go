package daemoncmd

import (
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/lifeline-vm/lifeline/drivers/lima"
	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/internal/buildinfo"
	"github.com/lifeline-vm/lifeline/internal/daemon"
)

type daemonOptions struct {
	limaHome        string
	hostAgentCmd    string
	gracefulTimeout time.Duration
	startTimeout    time.Duration
	detachOnExit    bool
	metricsAddr     string
	restartBackoff  time.Duration
	restartMax      time.Duration
	restartLimit    int
	restartWindow   time.Duration
}

func newDaemonCommand(g *globals, opts Options) *cobra.Command {
	o := &daemonOptions{}
	var setFleet func(*daemon.Config) error // fleet.go
	cmd := &cobra.Command{
		Use:   "lifelined",
		Short: "The lifeline daemon: supervise VMs and serve the control socket",
		Long: `Run the daemon over the database in --data-dir, serving the control socket
there (mode 0600: only this user may control VMs). SIGTERM or SIGINT stops
every VM in parallel, each escalating at its own deadline, then exits;
with --detach-on-exit the VMs keep running for the next daemon to adopt.

Other signals do not end supervision: SIGHUP is logged and ignored, a
closed stderr (SIGPIPE) only loses log lines, and SIGQUIT writes every
goroutine's stack to the log and goes on.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(&logWriter{w: cmd.ErrOrStderr()}, g.logLevel, g.logFormat, isTerminal(cmd.ErrOrStderr()))
			if err != nil {
				return err
			}
			defer handleDaemonSignals(log)()
			drv, err := newDriver(o, opts, g.dataDir, log)
			if err != nil {
				return err
			}
			cfg := daemon.Config{
				Options: engine.Options{
					Driver:            drv,
					Logger:            log,
					GracefulTimeout:   o.gracefulTimeout, // 0: each driver's default
					StartTimeout:      o.startTimeout,
					RestartBackoff:    o.restartBackoff,
					RestartBackoffMax: o.restartMax,
					RestartLimit:      o.restartLimit,
					RestartWindow:     o.restartWindow,
				},
				DataDir:      g.dataDir,
				Version:      buildinfo.Read().Version,
				DetachOnExit: o.detachOnExit,
				LockTimeout:  time.Second,
				MetricsAddr:  o.metricsAddr,
				ServeMetrics: opts.ServeMetrics,
				DefaultSpec:  defaultSpec(g.dataDir),
				Files:        blankDisks{dataDir: g.dataDir},
			}
			if err := setFleet(&cfg); err != nil { // fleet.go
				return err
			}
			return daemon.Run(cmd.Context(), cfg)
		},
	}
	setFleet = addDaemonFleetFlags(cmd, g)
	f := cmd.Flags()
	f.StringVar(&o.limaHome, "lima-home", os.Getenv("LIMA_HOME"), "Lima's home (env LIMA_HOME; default ~/.lima)")
	f.StringVar(&o.hostAgentCmd, "hostagent-cmd", "limactl hostagent", `the host agent command; "lifeline agent-sim" runs everything without Lima`)
	f.DurationVar(&o.gracefulTimeout, "graceful-timeout", 0, "how long a stopping VM's agent has before it is force-stopped, for VMs whose spec sets no --graceful-timeout, of every driver (default: per driver, "+lima.DefaultGracefulTimeout.String()+" for Lima VMs with limactl's host agent, which itself waits up to 3m for the guest to power off; "+engine.DefaultGracefulTimeout.String()+" for command VMs and agent-sim)")
	f.DurationVar(&o.startTimeout, "start-timeout", engine.DefaultStartTimeout, "how long a starting VM has to report running")
	f.BoolVar(&o.detachOnExit, "detach-on-exit", false, "leave VMs running when the daemon exits")
	f.DurationVar(&o.restartBackoff, "restart-backoff", engine.DefaultRestartBackoff, "first wait before a crashed VM with --restart on-failure starts again; doubles each time")
	f.DurationVar(&o.restartMax, "restart-backoff-max", engine.DefaultRestartBackoffMax, "cap of the doubling backoff")
	f.IntVar(&o.restartLimit, "restart-limit", engine.DefaultRestartLimit, "restarts allowed in --restart-window; one more crash leaves the VM Broken")
	f.DurationVar(&o.restartWindow, "restart-window", engine.DefaultRestartWindow, "window of --restart-limit")
	if opts.ServeMetrics != nil {
		f.StringVar(&o.metricsAddr, "metrics-addr", "", "serve Prometheus metrics on this address (e.g. 127.0.0.1:9464); off by default")
	}
	return cmd
}
