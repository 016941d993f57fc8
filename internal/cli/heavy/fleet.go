package heavy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/lifeline-vm/lifeline/client"
	"github.com/lifeline-vm/lifeline/fleet"
	"github.com/lifeline-vm/lifeline/internal/cli"
)

// connect connects a command of the CLI to the fleet: --fleet (or
// $NATS_URL) with --fleet-creds and the TLS flags.
func connect(g *cli.Globals) (*nats.Conn, error) {
	f := g.Fleet()
	u := f.ServerURL()
	if u == "" {
		return nil, cli.UsageError(errors.New("no fleet: give --fleet nats://HOST:4222 or set NATS_URL"))
	}
	auth := fleet.Auth{Creds: f.Creds, TLSCert: f.TLSCert, TLSKey: f.TLSKey, TLSCA: f.TLSCA}
	return fleet.Connect(u, append(auth.Options(), nats.Timeout(5*time.Second))...)
}

// connectJS connects to the fleet (connect) and opens its JetStream; the
// caller closes nc.
func connectJS(g *cli.Globals) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := connect(g)
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

// remoteClient is the client of --host's daemon over the fleet.
func remoteClient(g *cli.Globals) *client.Client {
	nc, err := connect(g)
	if err != nil {
		return &client.Client{Dial: func(context.Context, string, string) (net.Conn, error) { return nil, err }}
	}
	return &client.Client{Dial: fleet.Dialer(nc, g.Fleet().Host, func(note string) {
		fmt.Fprintln(os.Stderr, "lifeline: "+note)
	})}
}

func newFleetCommand(g *cli.Globals) *cobra.Command {
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

func newFleetListCommand(g *cli.Globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List every host's VMs, with whether the host is up",
		Args:  cli.ExactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			nc, js, err := connectJS(g)
			if err != nil {
				return err
			}
			defer nc.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			hosts, err := fleet.List(ctx, js)
			if err != nil {
				return err
			}
			if g.JSON() {
				if hosts == nil {
					hosts = []fleet.HostView{}
				}
				return cli.WriteJSON(cmd.OutOrStdout(), hosts)
			}
			return printFleet(cmd.OutOrStdout(), g.When, hosts)
		},
	}
}

// printFleet is fleet list's table: each host's VMs, with whether the
// host is up. A VM whose agent says it runs only partly (Lima's degraded
// flag, not a state of the log) shows it after its state.
func printFleet(w io.Writer, when func(time.Time) string, hosts []fleet.HostView) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
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
			state := string(v.State)
			if v.Degraded {
				state += " (degraded)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", h.Host, hs, v.Name, state, when(v.Since), v.Reason)
		}
	}
	return tw.Flush()
}

func newFleetEventsCommand(g *cli.Globals) *cobra.Command {
	var follow bool
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Print the records of every host (or --host's), and with --follow the ones to come",
		Args:  cli.ExactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			nc, js, err := connectJS(g)
			if err != nil {
				return err
			}
			defer nc.Close()
			w := cmd.OutOrStdout()
			notice := func(s string) { fmt.Fprintln(cmd.ErrOrStderr(), "lifeline: "+s) }
			return fleet.Events(cmd.Context(), js, g.Fleet().Host, follow, notice, func(ev fleet.Event) error {
				if g.JSON() {
					return cli.WriteJSONLine(w, ev)
				}
				_, err := fmt.Fprintf(w, "%s  %s\n", ev.Host, cli.FormatRecord(ev.Record, g.Location()))
				return err
			})
		},
	}
	cmd.Flags().BoolVar(&follow, "follow", false, "keep printing new records")
	return cmd
}
