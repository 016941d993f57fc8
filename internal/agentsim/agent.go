package agentsim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/lima-vm/lima/pkg/hostagent/api"
	"github.com/lima-vm/lima/pkg/hostagent/events"
	"github.com/lima-vm/lima/pkg/store/filenames"
)

// Timeouts, named once.
const (
	// DriverStopTimeout is how long a stopping agent waits for its driver
	// child after SIGINT before it kills the child's group.
	DriverStopTimeout = 3 * time.Second
	// DriverKillTimeout bounds the wait for a killed driver child.
	DriverKillTimeout = 5 * time.Second
	// DriverReadyTimeout bounds the wait for a new driver child to be ready.
	DriverReadyTimeout = 10 * time.Second
)

// DriverPIDFile is the driver child's pid file in the instance directory:
// Lima's filenames.PIDFile("qemu"), where QEMU writes its pid.
var DriverPIDFile = filenames.PIDFile("qemu")

// Options says where an agent lives. Name, PIDFile, Socket and DriverArgv
// are required.
type Options struct {
	Name    string // the instance name (limactl hostagent's NAME)
	PIDFile string // --pidfile; its directory is the instance directory
	Socket  string // --socket: the API's unix socket
	// DriverArgv runs this program as a driver child (see [RunDriver]):
	// DriverArgv[0] is the executable, typically os.Executable().
	DriverArgv []string
	Config     Config
	Stdout     io.Writer // events, one JSON line each; default os.Stdout
	Stderr     io.Writer // logs in logrus's JSON format; default os.Stderr
}

func (o *Options) check() error {
	switch {
	case o.Name == "":
		return fmt.Errorf("%w: no instance name", ErrInvalidOptions)
	case o.PIDFile == "":
		return fmt.Errorf("%w: no pid file", ErrInvalidOptions)
	case o.Socket == "":
		return fmt.Errorf("%w: no socket", ErrInvalidOptions)
	case len(o.DriverArgv) == 0:
		return fmt.Errorf("%w: no driver command", ErrInvalidOptions)
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	return nil
}

// Run is the agent's main. It owns the process's SIGINT and SIGTERM, so call
// it once, from a process that is only the agent. It returns nil after a
// graceful stop (a signal, or ctx) and for LIFELINE_SIM_EXIT_ZERO_LEAVING_DRIVER;
// otherwise the reason the agent gave up ([ErrStartFailed], [ErrCrashed],
// [ErrDriverExited], [ErrPIDFileInUse], ...), for an exit status of 1.
func Run(ctx context.Context, o Options) error {
	if err := o.check(); err != nil {
		return err
	}
	sigs, stop := notifySignals(o.Config)
	defer stop()
	a := &agent{
		o:         o,
		out:       &output{stdout: o.Stdout, stderr: o.Stderr},
		driverPID: filepath.Join(filepath.Dir(o.PIDFile), DriverPIDFile),
	}
	return a.run(ctx, sigs)
}

type agent struct {
	o         Options
	out       *output
	driverPID string // path of qemu.pid
	srv       *infoServer
	driver    *driver
	crashed   bool // leave ha.pid and ha.sock behind, as a killed agent does
}

func (a *agent) run(ctx context.Context, sigs <-chan os.Signal) (err error) {
	if err := claimPIDFile(a.o.PIDFile, os.Getpid()); err != nil {
		return err
	}
	defer func() { err = errors.Join(err, a.cleanup()) }()

	port, err := sshLocalPort(a.o.Name)
	if err != nil {
		return err
	}
	if a.srv, err = serveInfo(a.o.Socket, api.Info{SSHLocalPort: port}, a.out); err != nil {
		return err
	}
	// From here on every end but a crash reports "exiting" last, as the
	// real hostagent's Run does in a defer: after the driver has stopped,
	// before ha.pid goes.
	defer func() {
		if !a.crashed {
			a.out.emit(events.Status{Exiting: true})
		}
	}()
	cfg := a.o.Config
	if cfg.FailStart {
		a.out.logf("error", "%v (%s)", ErrStartFailed, EnvFailStart)
		a.out.emit(events.Status{Errors: []string{fmt.Sprintf("%v (%s)", ErrStartFailed, EnvFailStart)}})
		return ErrStartFailed
	}
	if a.driver, err = startDriver(a.o.DriverArgv, a.out); err != nil {
		return err
	}
	if err := writePIDFile(a.driverPID, a.driver.pid()); err != nil {
		return errors.Join(err, a.driver.kill())
	}
	a.out.logPID("info", "driver child started", a.driver.pid())
	a.out.emit(events.Status{SSHLocalPort: port})

	if cfg.ExitZeroLeavingDriver {
		// What a new hostagent does when its QEMU fails on an old QEMU's
		// locks: qemu.pid goes, the agent exits 0, and a QEMU lives on.
		a.out.logf("info", "Driver stopped due to error: %q", "simulated by "+EnvExitZeroLeavingDriver)
		return removeFile(a.driverPID)
	}

	running := events.Status{Running: true, SSHLocalPort: port}
	if cfg.Degraded != "" {
		running.Degraded, running.Errors = true, []string{cfg.Degraded}
	}
	var runningC, crashC <-chan time.Time
	switch {
	case cfg.NeverRunning:
	case cfg.StartDelay == 0: // at once, before any signal is looked at
		a.out.emit(running)
		crashC = crashTimer(cfg)
	default:
		runningC = time.After(cfg.StartDelay)
	}
	for {
		select {
		case <-runningC:
			runningC = nil
			a.out.emit(running)
			crashC = crashTimer(cfg)
		case <-crashC:
			return a.crash()
		case sig := <-sigs:
			a.out.logf("info", "Received %s, shutting down the host agent", signalName(sig))
			return a.shutdown()
		case <-ctx.Done():
			a.out.logf("info", "%v, shutting down the host agent", context.Cause(ctx))
			return a.shutdown()
		case <-a.driver.done:
			// How it ended tells a signal from outside (exit status 0: it
			// caught SIGINT or SIGTERM; "signal: killed") from a crash.
			a.out.logf("info", "driver child %d ended: %s", a.driver.pid(), a.driver.state)
			a.out.logf("info", "Driver stopped due to error: %q", ErrDriverExited)
			return errors.Join(ErrDriverExited, removeFile(a.driverPID))
		}
	}
}

// crashTimer fires LIFELINE_SIM_CRASH_AFTER after "running"; nil: never.
func crashTimer(cfg Config) <-chan time.Time {
	if cfg.CrashAfter == 0 {
		return nil
	}
	return time.After(cfg.CrashAfter)
}

// shutdown is the graceful path, in Lima's order: stop the driver; run's
// defers then report "exiting" and remove ha.sock and ha.pid. With
// LIFELINE_SIM_ORPHAN_DRIVER the driver and qemu.pid stay.
func (a *agent) shutdown() error {
	if a.o.Config.OrphanDriver {
		return nil
	}
	if err := a.driver.stop(); err != nil {
		return err
	}
	return removeFile(a.driverPID)
}

// crash ends the agent the way a killed one ends: no "exiting" event, and
// ha.pid, ha.sock and qemu.pid stay. The driver child is killed unless
// LIFELINE_SIM_ORPHAN_DRIVER says to leave it.
func (a *agent) crash() error {
	a.out.logf("error", "%v (%s)", ErrCrashed, EnvCrashAfter)
	a.crashed = true
	if a.o.Config.OrphanDriver {
		return ErrCrashed
	}
	return errors.Join(ErrCrashed, a.driver.kill())
}

// cleanup closes the socket and removes ha.pid and ha.sock, unless the agent
// crashed.
func (a *agent) cleanup() error {
	var err error
	if a.srv != nil {
		err = a.srv.close(a.crashed)
	}
	if !a.crashed {
		err = errors.Join(err, removeFile(a.o.PIDFile))
	}
	return err
}
