package cli

import (
	"context"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/client"
)

// What the verbs that live in lifelined (internal/cli/heavy) use of the
// tree's conventions: the global flags, the output, the errors and their
// exit codes.

// JSON tells whether -o json was given.
func (g *Globals) JSON() bool { return g.json() }

// Location is where times are shown: the local zone, or UTC with --utc.
func (g *Globals) Location() *time.Location { return g.location() }

// When formats t for people with its date and zone, to the second.
func (g *Globals) When(t time.Time) string { return g.when(t) }

// DataDir is --data-dir.
func (g *Globals) DataDir() string { return g.dataDir }

// Client is the client of the daemon: --data-dir's, or --host's over the
// fleet.
func (g *Globals) Client() *client.Client { return g.client() }

// Fleet are the fleet's flags.
func (g *Globals) Fleet() *FleetFlags { return &g.fleet }

// ExactArgs is cobra.ExactArgs with a usage error (exit 2).
func ExactArgs(n int) cobra.PositionalArgs { return exactArgs(n) }

// UsageError marks err as a bad command line (exit 2).
func UsageError(err error) error { return usageError{err} }

// WriteJSON writes v as indented JSON.
func WriteJSON(w io.Writer, v any) error { return writeJSON(w, v) }

// WriteJSONLine writes v as one line of JSON.
func WriteJSONLine(w io.Writer, v any) error { return writeJSONLine(w, v) }

// FormatRecord is a record as `lifeline events` prints it.
func FormatRecord(r api.Record, loc *time.Location) string { return formatRecord(r, loc) }

// Settle waits, without showing progress, until the VM of res settles
// after res's record: in want, or in another state (an error).
func Settle(ctx context.Context, c *client.Client, res api.Result, want api.State, timeout time.Duration) error {
	_, err := settle(ctx, c, res, want, timeout, noProgress{})
	return err
}
