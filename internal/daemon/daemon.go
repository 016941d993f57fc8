// Package daemon runs lifeline's daemon: an engine over a bbolt file in the
// data dir, served on a unix socket (mode 0600, in a directory of its user
// that nobody else may write: datadir.go) so that only its user can control
// VMs.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/internal/atomicfile"
	"github.com/lifeline-vm/lifeline/server"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
	"github.com/rs/zerolog"
)

// DBName is the database's file name in the data dir.
const DBName = "lifeline.db"

// DisksDir is the directory in the data dir that holds the blank disks of
// default specs.
const DisksDir = "disks"

// CommandDir is the directory in the data dir that holds the run
// directories of command VMs (drivers/process: pid file, output logs).
const CommandDir = "command"

// Config configures Run: the engine's options, embedded, and what only the
// daemon has. Run fills in the options that are the daemon's own: Store
// (the data dir's database), PrevHostBootID (from the previous boot
// record), HostBootID when empty (the OS's), and wraps Driver with Files.
// Options.Driver is the driver the daemon routes by (drivers/mux); Logger
// is the daemon's log as well as the engine's.
type Config struct {
	engine.Options

	DataDir string
	Version string

	// DetachOnExit leaves the VMs running when the daemon stops, for the
	// next daemon to adopt. Otherwise stopping the daemon stops them all,
	// in parallel.
	DetachOnExit bool
	// LockTimeout is how long to wait for another daemon's lock.
	LockTimeout time.Duration
	// MetricsAddr, if set, serves Prometheus metrics on /metrics there,
	// with ServeMetrics.
	MetricsAddr string
	// ServeMetrics serves the metrics on MetricsAddr (package
	// internal/daemon/metrics's Serve; a function here so that programs
	// that run the daemon without metrics, the CLI's demo, do not link
	// Prometheus). MetricsAddr without it is an error.
	ServeMetrics MetricsServer
	// DefaultSpec, if set, completes the spec of a create (a default
	// template when none was given). It runs before the create is
	// recorded, so it makes no files: Files does.
	DefaultSpec func(name string, spec *drivers.Spec) error
	// Files, if set, makes and removes what a VM's spec needs outside the
	// driver's directories (the blank disk of DefaultSpec's template),
	// under the VM's lock; see [VMFiles].
	Files VMFiles
	// Ready, if set, is called once the socket accepts connections.
	Ready func(socket string)
	// Fleet, if set, runs beside the API while the daemon runs: the fleet
	// layer (package fleet, lifeline daemon --fleet), given the engine, its
	// log and the API's handler. It returns once the engine closed and its
	// last records were sent; the daemon waits FleetFlush for that.
	Fleet func(ctx context.Context, e *engine.Engine, st *store.Store, h http.Handler) error
	// ShutdownTimeout bounds the stop of every VM when the daemon stops.
	// Zero: the graceful timeout, plus the engine's terminate grace, plus
	// ShutdownBound.
	ShutdownTimeout time.Duration
}

// shutdownGrace is the longest graceful stop a shutdown at now may wait
// for: the graceful timeout grace gives each Running or Starting VM (its
// spec's own, the daemon's, or its driver's default: Lima's 3m30s, a
// command's 30s) and at least a VM of the default spec's, or what is left
// of a stop already under way (a stop --grace).
func shutdownGrace(vms []engine.VM, grace func(drivers.Spec) time.Duration, now time.Time) time.Duration {
	longest := grace(drivers.Spec{})
	for _, v := range vms {
		if d := grace(v.Spec); d > longest && (v.State == states.Running || v.State == states.Starting) {
			longest = d
		}
		if d := v.Deadline.Sub(now); v.State == states.Stopping && d > longest {
			longest = d
		}
	}
	return longest
}

// FleetFlush bounds how long a stopping daemon waits for the fleet layer
// to send the last records (the shutdown's stops); what it could not send
// the next daemon sends, from the log.
const FleetFlush = 10 * time.Second

// ShutdownBound is added to the graceful and terminate timeouts to bound a
// daemon's stop of all VMs.
const ShutdownBound = 30 * time.Second

// MetricsServer serves the daemon's Prometheus metrics on addr until ctx
// ends, fed by e's records from seq from on, and returns the address it
// listens on (package internal/daemon/metrics's Serve).
type MetricsServer func(ctx context.Context, addr string, e *engine.Engine, from uint64, version string) (string, error)

// Run serves until ctx is done, then stops (or detaches from) every VM and
// returns.
func Run(ctx context.Context, c Config) (err error) {
	log := c.Logger
	if c.MetricsAddr != "" && c.ServeMetrics == nil {
		return fmt.Errorf("metrics on %s: %w", c.MetricsAddr, ErrNoMetrics)
	}
	if err := prepareDataDir(c.DataDir); err != nil { // datadir.go
		return err
	}
	dbPath := filepath.Join(c.DataDir, DBName)
	bi := bootInfo(c)
	st, err := store.Open(dbPath, store.Options{Logger: log, Timeout: c.LockTimeout, BootInfo: bi})
	if err != nil {
		if errors.Is(err, store.ErrLocked) {
			return fmt.Errorf("another daemon is running: %w", err)
		}
		return err
	}
	// The boot is recorded closed (a clean shutdown) only when no VM was
	// left live, or when the daemon detached and left them running on
	// purpose (closed with the detach mark); otherwise the store is closed
	// as after a crash, and the next daemon's recovery deals with what
	// runs.
	unclean, detached := false, false
	defer func() {
		switch {
		case unclean:
			err = errors.Join(err, st.Crash())
		case detached:
			err = errors.Join(err, st.CloseDetached())
		default:
			err = errors.Join(err, st.Close())
		}
	}()
	prev, err := st.PrevBoot()
	if err != nil {
		return err
	}

	logOpened(log, dbPath, st.Boot(), st.LastSeq(), bi, prev)
	// We hold the database lock: no other writer of this data dir runs,
	// so a temporary file left in it is a killed writer's.
	for _, dir := range []string{c.DataDir, filepath.Join(c.DataDir, DisksDir)} {
		removed, err := atomicfile.RemoveStale(dir)
		for _, p := range removed {
			log.Warn().Str("file", p).Msg("removed a stale temporary file of a killed writer")
		}
		if err != nil {
			log.Warn().Err(err).Msg("stale temporary files remain; remove them by hand")
		}
	}
	est, err := withCrashHook(st)
	if err != nil {
		return err
	}
	opts := c.Options
	opts.Store = est
	opts.Driver = withFiles(c.Driver, c.Files)
	opts.Logger = log
	opts.PrevHostBootID, opts.HostBootID = prev.HostBootID, bi.HostBootID
	e, err := engine.Open(ctx, opts)
	if err != nil {
		return err
	}
	// A driver that routes by the spec (drivers/mux) learns the driver of
	// each VM recovered Stopped or Broken, before any command can reach it.
	if b, ok := c.Driver.(specBinder); ok {
		for _, v := range e.List() {
			if err := b.Bind(v.Name, v.Spec); err != nil {
				log.Error().Err(err).Str("vm", v.Name).Msg("the vm's recorded driver is not one of this daemon's; commands on it fail")
			}
		}
	}

	sock := filepath.Join(c.DataDir, api.SocketName)
	// We hold the database lock: a socket left here is a dead daemon's.
	if err := removeStaleSocket(sock); err != nil {
		e.Close()
		return err
	}
	ln, err := net.Listen("unix", sock)
	if err != nil {
		e.Close()
		return fmt.Errorf("listen on %s: %w", sock, err)
	}
	if err := os.Chmod(sock, 0o600); err != nil {
		ln.Close()
		e.Close()
		return fmt.Errorf("socket %s: %w", sock, err)
	}
	logs, _ := c.Driver.(drivers.LogReader) // nil: no VM has an agent log
	loc, _ := c.Driver.(drivers.Locator)    // nil: status names no files
	handler := server.NewHandler(e, st, server.Options{
		Info:        api.Info{PID: os.Getpid(), Boot: st.Boot(), DataDir: c.DataDir, DB: dbPath, Version: c.Version},
		Logger:      log,
		DefaultSpec: c.DefaultSpec,
		Logs:        logs,
		Locate:      loc,
	})
	if c.Fleet != nil {
		fctx, fcancel := context.WithCancel(context.WithoutCancel(ctx))
		fleetDone := make(chan struct{})
		go func() {
			defer close(fleetDone)
			if err := c.Fleet(fctx, e, st, handler); err != nil {
				log.Error().Err(err).Msg("fleet: stopped; the daemon goes on without it")
			}
		}()
		// Runs after the engine closed (the deferred store close after it).
		defer func() {
			t := time.NewTimer(FleetFlush)
			defer t.Stop()
			select {
			case <-fleetDone:
			case <-t.C:
				log.Warn().Dur("bound", FleetFlush).Msg("fleet: the last records were not all sent; the next daemon sends them")
			}
			fcancel()
			<-fleetDone
		}()
	}
	if c.MetricsAddr != "" {
		mctx, cancel := context.WithCancel(ctx)
		defer cancel()
		addr, err := c.ServeMetrics(mctx, c.MetricsAddr, e, st.LastSeq()+1, c.Version)
		if err != nil {
			ln.Close()
			e.Close()
			return fmt.Errorf("metrics on %s: %w", c.MetricsAddr, err)
		}
		log.Info().Str("addr", addr).Msg("metrics")
	}
	hs, cln := controlServer(handler, ln, log)
	served := make(chan error, 1)
	go func() { served <- hs.Serve(cln) }()
	log.Info().Str("socket", sock).Uint64("boot", st.Boot()).Int("pid", os.Getpid()).Msg("daemon ready")
	if c.Ready != nil {
		c.Ready(sock)
	}

	select {
	case <-ctx.Done():
	case err := <-served:
		e.Close()
		return fmt.Errorf("serve %s: %w", sock, err)
	}

	var stopErr error
	if c.DetachOnExit {
		log.Info().Msg("detaching: agents keep running for the next daemon")
		stopErr = e.Close()
		for _, v := range e.List() {
			if v.State == states.Running || v.State.InFlight() {
				detached = true // the boot closes saying so
			}
		}
	} else {
		bound := shutdownGrace(e.List(), e.GracefulTimeout, time.Now()) + engine.DefaultTerminateGrace + ShutdownBound
		if c.ShutdownTimeout > 0 {
			bound = c.ShutdownTimeout
		}
		log.Info().Dur("bound", bound).Msg("stopping every VM")
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bound)
		stopErr = e.Shutdown(sctx)
		cancel()
		if errors.Is(stopErr, engine.ErrLeftLive) {
			unclean = true
			log.Error().Err(stopErr).Msg("shutdown left VMs live: the boot stays open, the next daemon recovers them")
		}
	}
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = hs.Shutdown(hctx)
	removeSocket(sock)
	return stopErr
}

// logOpened logs the one "store opened" line of a daemon's start, without
// empty fields, and warns when the previous daemon crashed: its boot was
// never closed, so recovery looks at every VM it left.
func logOpened(log zerolog.Logger, db string, boot, seq uint64, bi store.BootInfo, prev store.Boot) {
	ev := log.Info().Str("db", db).Uint64("boot", boot).Uint64("seq", seq)
	for _, f := range [][2]string{{"version", bi.Version}, {"host_boot", bi.HostBootID}, {"prev_host_boot", prev.HostBootID}} {
		if f[1] != "" {
			ev = ev.Str(f[0], f[1])
		}
	}
	ev.Msg("store opened")
	if prev.Number > 0 && prev.Closed.IsZero() {
		log.Warn().Uint64("boot", prev.Number).Int("pid", prev.PID).Time("started", prev.Started).
			Msgf("previous daemon crashed (boot %d never closed): recovery checks every VM it left", prev.Number)
	}
}
