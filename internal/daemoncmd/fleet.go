package daemoncmd

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/fleet"
	"github.com/lifeline-vm/lifeline/internal/buildinfo"
	"github.com/lifeline-vm/lifeline/internal/daemon"
	"github.com/lifeline-vm/lifeline/store"
)

// fleetFlags are the flags of the fleet the daemon joins: the NATS
// server(s) and how to authenticate, the same as the CLI's (its fleet.go).
type fleetFlags struct {
	url  string
	auth fleet.Auth
}

func addFleetFlags(f *pflag.FlagSet, ff *fleetFlags) {
	f.StringVar(&ff.url, "fleet", "", "the fleet's NATS server(s), e.g. nats://HOST:4222 (env NATS_URL when --fleet-host is given)")
	f.StringVar(&ff.auth.Creds, "fleet-creds", os.Getenv("NATS_CREDS"), "NATS credentials file (env NATS_CREDS)")
	f.StringVar(&ff.auth.TLSCert, "fleet-tls-cert", "", "TLS client certificate for NATS")
	f.StringVar(&ff.auth.TLSKey, "fleet-tls-key", "", "TLS client key for NATS")
	f.StringVar(&ff.auth.TLSCA, "fleet-tls-ca", "", "CA certificate(s) to verify the NATS server")
}

// daemonFleet returns the daemon's fleet layer for --fleet and
// --fleet-host, or nil when the daemon runs without a fleet.
func daemonFleet(g *globals, fleetHost string, replicas int, log zerolog.Logger) (func(context.Context, *engine.Engine, *store.Store, http.Handler) error, error) {
	u := g.fleet.url
	if u == "" && fleetHost != "" {
		u = os.Getenv("NATS_URL")
	}
	if u == "" {
		return nil, nil
	}
	if fleetHost == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("fleet: the machine's host name: %w; give --fleet-host", err)
		}
		fleetHost, _, _ = strings.Cut(h, ".") // the short name: a '.' is allowed, but a domain says nothing
	}
	if err := fleet.ValidateHost(fleetHost); err != nil {
		return nil, usageError{err}
	}
	opts := append(g.fleet.auth.Options(), nats.RetryOnFailedConnect(true),
		// Say why the connection went and when it came back: while it is
		// down, records wait in the log and the heads are stale.
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn().Err(err).Str("fleet_host", fleetHost).Msg("fleet: disconnected from NATS; reconnecting")
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info().Str("fleet_host", fleetHost).Str("url", fleet.RedactURLs(nc.ConnectedUrl())).Msg("fleet: reconnected to NATS")
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			ev := log.Warn().Err(err).Str("fleet_host", fleetHost)
			if sub != nil {
				ev = ev.Str("subject", sub.Subject)
			}
			ev.Msg("fleet: NATS error")
		}))
	return func(ctx context.Context, e *engine.Engine, st *store.Store, h http.Handler) error {
		nc, err := fleet.Connect(u, opts...)
		if err != nil {
			return err
		}
		defer nc.Close()
		fh, err := fleet.New(nc, fleet.Options{
			Host: fleetHost, Engine: e, Log: st, Handler: h, Logger: log, Replicas: replicas,
			Info: fleet.HostInfo{Boot: st.Boot(), Version: buildinfo.Read().Version},
		})
		if err != nil {
			return err
		}
		log.Info().Str("fleet", u).Str("fleet_host", fleetHost).Msg("fleet: publishing records and answering commands")
		return fh.Run(ctx)
	}, nil
}

// addDaemonFleetFlags adds --fleet-host to the daemon command and returns
// what sets its Config's fleet layer.
func addDaemonFleetFlags(cmd *cobra.Command, g *globals) func(*daemon.Config) error {
	var host string
	var replicas int
	cmd.Flags().StringVar(&host, "fleet-host", "", "with --fleet: this host's name in the fleet (default: the machine's short host name; the VM name rule)")
	cmd.Flags().IntVar(&replicas, "fleet-replicas", 1, "with --fleet: the replicas of the stream and buckets this daemon makes when they do not exist (3 on a JetStream cluster)")
	return func(c *daemon.Config) error {
		f, err := daemonFleet(g, host, replicas, c.Logger)
		if err != nil {
			return err
		}
		if f != nil {
			c.Fleet = f
		}
		return nil
	}
}
