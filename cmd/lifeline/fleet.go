package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/lifeline-vm/lifeline/client"
	"github.com/lifeline-vm/lifeline/fleet"
)

// fleetFlags are the flags of the fleet: the NATS server(s) and how to
// authenticate, shared by the daemon (--fleet-host), the VM verbs
// (--host) and lifeline fleet.
type fleetFlags struct {
	url  string
	host string // the host a VM verb commands
	auth fleet.Auth
}

func addFleetFlags(root *cobra.Command, f *fleetFlags) {
	pf := root.PersistentFlags()
	pf.StringVar(&f.url, "fleet", "", "the fleet's NATS server(s), e.g. nats://HOST:4222 (env NATS_URL when --host or --fleet-host is given)")
	pf.StringVar(&f.host, "host", "", "with --fleet: the host whose daemon a VM command goes to")
	pf.StringVar(&f.auth.Creds, "fleet-creds", os.Getenv("NATS_CREDS"), "NATS credentials file (env NATS_CREDS)")
	pf.StringVar(&f.auth.TLSCert, "fleet-tls-cert", "", "TLS client certificate for NATS")
	pf.StringVar(&f.auth.TLSKey, "fleet-tls-key", "", "TLS client key for NATS")
	pf.StringVar(&f.auth.TLSCA, "fleet-tls-ca", "", "CA certificate(s) to verify the NATS server")
}

// serverURL is --fleet, else $NATS_URL.
func (f *fleetFlags) serverURL() string {
	if f.url != "" {
		return f.url
	}
	return os.Getenv("NATS_URL")
}

// connect connects a command of the CLI to the fleet.
func (f *fleetFlags) connect() (*nats.Conn, error) {
	u := f.serverURL()
	if u == "" {
		return nil, usageError{errors.New("no fleet: give --fleet nats://HOST:4222 or set NATS_URL")}
	}
	return fleet.Connect(u, append(f.auth.Options(), nats.Timeout(5*time.Second))...)
}

// remoteClient is the client of --host's daemon over the fleet, or nil
// without --host.
func (g *globals) remoteClient() *client.Client {
	if g.fleet.host == "" {
		return nil
	}
	nc, err := g.fleet.connect()
	if err != nil {
		return &client.Client{Dial: func(context.Context, string, string) (net.Conn, error) { return nil, err }}
	}
	return &client.Client{Dial: fleet.Dialer(nc, g.fleet.host, func(note string) {
		fmt.Fprintln(os.Stderr, "lifeline: "+note)
	})}
}

func newFleetCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "fleet",
		Short: "The fleet of hosts on NATS JetStream: every host's VMs and records",
		Long: `The fleet: daemons started with --fleet publish their records to the
NATS JetStream stream of their host, keep their VMs' heads and their
liveness in KV buckets, and answer commands on lifeline.cmd.<host>.

Every VM command works against a remote host with --fleet URL --host H.`,
	}
	cmd.AddCommand(newFleetListCommand(g), newFleetEventsCommand(g))
	return cmd
}

func newFleetListCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List every host's VMs, with whether the host is up",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			nc, err := g.fleet.connect()
			if err != nil {
				return err
			}
			defer nc.Close()
			js, err := jetstream.New(nc)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			hosts, err := fleet.List(ctx, js)
			if err != nil {
				return err
			}
			if g.json() {
				if hosts == nil {
					hosts = []fleet.HostView{}
				}
				return writeJSON(cmd.OutOrStdout(), hosts)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 2, ' ', 0)
			fmt.Fprintln(tw, "HOST\tHOST STATE\tVM\tSTATE\tSINCE\tREASON")
			for _, h := range hosts {
				hs := "down"
				if h.Live {
					hs = "up"
				}
				if len(h.VMs) == 0 {
					fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t-\n", h.Host, hs)
				}
				for _, v := range h.VMs {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", h.Host, hs, v.Name, v.State, g.when(v.Since), v.Reason)
				}
			}
			return tw.Flush()
		},
	}
}

func newFleetEventsCommand(g *globals) *cobra.Command {
	var follow bool
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Print the records of every host (or --host's), and with --follow the ones to come",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			nc, err := g.fleet.connect()
			if err != nil {
				return err
			}
			defer nc.Close()
			js, err := jetstream.New(nc)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			return fleet.Events(cmd.Context(), js, g.fleet.host, follow, func(ev fleet.Event) error {
				if g.json() {
					return writeJSONLine(w, ev)
				}
				_, err := fmt.Fprintf(w, "%s  %s\n", ev.Host, formatRecord(ev.Record, g.location()))
				return err
			})
		},
	}
	cmd.Flags().BoolVar(&follow, "follow", false, "keep printing new records")
	return cmd
}
