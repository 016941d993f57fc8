// Package daemon runs lifeline's daemon: an engine over a bbolt file in the
// data dir, served on a unix socket (mode 0600, in a 0700 directory) so that
// only its user can control VMs.
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

	"github.com/rs/zerolog"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/internal/api"
	"github.com/lifeline-vm/lifeline/internal/atomicfile"
	"github.com/lifeline-vm/lifeline/store"
)

// DBName is the database's file name in the data dir.
const DBName = "lifeline.db"

// Config configures Run.
type Config struct {
	DataDir string
	Driver  drivers.Driver
	Logger  zerolog.Logger
	Version string

	GracefulTimeout time.Duration
	StartTimeout    time.Duration
	// DetachOnExit leaves the VMs running when the daemon stops, for the
	// next daemon to adopt. Otherwise stopping the daemon stops them all,
	// in parallel.
	DetachOnExit bool
	// LockTimeout is how long to wait for another daemon's lock.
	LockTimeout time.Duration
	// MetricsAddr, if set, serves Prometheus metrics on /metrics there.
	MetricsAddr string
	// Restart tunes the restart policy of VMs created with on-failure.
	Restart RestartPolicy
	// DefaultSpec, if set, completes the spec of a create (a default
	// template when none was given).
	DefaultSpec func(name string, spec *drivers.Spec) error
	// Deleted, if set, removes what DefaultSpec made for a deleted VM.
	Deleted func(name string) error
	// Ready, if set, is called once the socket accepts connections.
	Ready func(socket string)
}

// RestartPolicy tunes the engine's restart policy; zero values take the
// engine's defaults.
type RestartPolicy struct {
	Backoff, BackoffMax, Window time.Duration
	Limit                       int
}

// ShutdownBound is added to the graceful and terminate timeouts to bound a
// daemon's stop of all VMs.
const ShutdownBound = 30 * time.Second

// Run serves until ctx is done, then stops (or detaches from) every VM and
// returns.
func Run(ctx context.Context, c Config) (err error) {
	log := c.Logger
	if err := atomicfile.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir %s: %w", c.DataDir, err)
	}
	if err := os.Chmod(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir %s: %w", c.DataDir, err)
	}
	dbPath := filepath.Join(c.DataDir, DBName)
	st, err := store.Open(dbPath, store.Options{Logger: log, Timeout: c.LockTimeout})
	if err != nil {
		if errors.Is(err, store.ErrLocked) {
			return fmt.Errorf("another daemon is running: %w", err)
		}
		return err
	}
	defer func() { err = errors.Join(err, st.Close()) }()

	log.Info().Str("db", dbPath).Uint64("boot", st.Boot()).Msg("store open")
	est, err := withCrashHook(st)
	if err != nil {
		return err
	}
	e, err := engine.Open(ctx, engine.Options{
		Store:             est,
		Driver:            c.Driver,
		Logger:            log,
		GracefulTimeout:   c.GracefulTimeout,
		StartTimeout:      c.StartTimeout,
		RestartBackoff:    c.Restart.Backoff,
		RestartBackoffMax: c.Restart.BackoffMax,
		RestartLimit:      c.Restart.Limit,
		RestartWindow:     c.Restart.Window,
	})
	if err != nil {
		return err
	}

	sock := filepath.Join(c.DataDir, api.SocketName)
	// We hold the database lock: a socket file left here is a dead
	// daemon's.
	if err := os.Remove(sock); err != nil && !errors.Is(err, os.ErrNotExist) {
		e.Close()
		return fmt.Errorf("remove stale socket %s: %w", sock, err)
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
	srv := &Server{Engine: e, Store: st, Log: log, DefaultSpec: c.DefaultSpec, Deleted: c.Deleted, Info: api.Info{PID: os.Getpid(), Boot: st.Boot(), DataDir: c.DataDir, DB: dbPath, Version: c.Version}}
	if c.MetricsAddr != "" {
		mctx, cancel := context.WithCancel(ctx)
		defer cancel()
		addr, err := serveMetrics(mctx, c.MetricsAddr, e, st.LastSeq()+1)
		if err != nil {
			ln.Close()
			e.Close()
			return fmt.Errorf("metrics on %s: %w", c.MetricsAddr, err)
		}
		log.Info().Str("addr", addr).Msg("metrics")
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
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
	} else {
		graceful := c.GracefulTimeout
		if graceful <= 0 {
			graceful = engine.DefaultGracefulTimeout
		}
		bound := graceful + engine.DefaultTerminateGrace + ShutdownBound
		log.Info().Dur("bound", bound).Msg("stopping every VM")
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bound)
		stopErr = e.Shutdown(sctx)
		cancel()
	}
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = hs.Shutdown(hctx)
	_ = os.Remove(sock)
	return stopErr
}
