package heavy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/lifeline-vm/lifeline/internal/cli"
	"github.com/lifeline-vm/lifeline/internal/daemon"
	"github.com/lifeline-vm/lifeline/replay"
	"github.com/lifeline-vm/lifeline/replay/recheck"
)

// replayOptions are the flags every replay verb has.
type replayOptions struct {
	db string
}

func newReplayCommand(g *cli.Globals) *cobra.Command {
	o := &replayOptions{}
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Post-mortem: tell what happened to VMs from a database (often a copy)",
		Long: `Read a lifeline database, often one copied off a machine where a VM ended
Broken, and tell what happened, in what order, and why. Every verb opens the
file read-only and leaves it byte-identical. A file a live daemon holds cannot
be read while a daemon holds it: without --db, replay then takes a consistent
copy through the daemon (as "lifeline backup FILE" does) into a temporary
file, says so on stderr, and reads that; --db FILE reads FILE.

  timeline   every record in order, the daemon's boots and crashes between
  verify     checksums, sequences, the transition table, heads, boots
  explain    how a VM came to its state, in sentences
  at         the state of every VM at a moment
  export     every record as JSON Lines
  graph      the lifecycle diagram with the arrows a VM took, counted
  report     one self-contained HTML page with an SVG timeline
  check      re-drive the history through today's engine and compare
  salvage    copy every record of a damaged database that verifies into a new file

Exit codes: 0 ok, 1 error (verify found problems, check found a
divergence), 2 usage.`,
		Args: cli.ExactArgs(0),
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&o.db, "db", "", "the database file to read (default: lifeline.db in --data-dir, or while a daemon holds it, a consistent copy taken through the daemon)")
	cmd.AddCommand(
		newReplayTimelineCommand(g, o),
		newReplayVerifyCommand(g, o),
		newReplayExplainCommand(g, o),
		newReplayAtCommand(g, o),
		newReplayExportCommand(g, o),
		newReplayGraphCommand(g, o),
		newReplayReportCommand(g, o),
		newReplayCheckCommand(g, o),
		newReplaySalvageCommand(g, o),
	)
	return cmd
}

// with opens the database for replay, read-only, runs f on it, and closes
// it. Without --db, when a live daemon holds the data dir's file, it
// replays a consistent copy taken through the daemon (its backup route)
// into a temporary file, says so in one line on stderr, and removes the
// copy afterwards; --db always reads the file it names.
func (o *replayOptions) with(cmd *cobra.Command, g *cli.Globals, f func(db *replay.DB) error) error {
	path := o.db
	if path == "" && g.Fleet().Host != "" { // --host: the host's history from its stream (fleet_replay.go)
		p, cleanup, err := fleetHistoryDB(g)
		if err != nil {
			return err
		}
		defer cleanup()
		path = p
	}
	if path == "" {
		path = filepath.Join(g.DataDir(), daemon.DBName)
	}
	db, err := replay.Open(path, replay.Options{Location: g.Location()})
	var held *replay.HeldError
	if o.db == "" && errors.As(err, &held) {
		var cleanup func()
		db, cleanup, err = o.openLiveCopy(cmd, g, path, held)
		if cleanup != nil {
			defer cleanup()
		}
	}
	if err != nil {
		return err
	}
	err = f(db)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return err
}

// openLiveCopy takes a consistent copy of the live database through the
// daemon's backup route into a temporary file and opens it. cleanup
// removes the copy.
func (o *replayOptions) openLiveCopy(cmd *cobra.Command, g *cli.Globals, path string, held *replay.HeldError) (*replay.DB, func(), error) {
	tmp, err := os.CreateTemp("", "lifeline-replay-*.db")
	if err != nil {
		return nil, nil, fmt.Errorf("%w; and a temporary copy could not be made: %v", held, err)
	}
	cleanup := func() { os.Remove(tmp.Name()) }
	ctx, cancel := context.WithTimeout(cmd.Context(), backupTimeout)
	defer cancel()
	n, err := g.Client().Backup(ctx, tmp)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, cleanup, fmt.Errorf("%w; and the daemon's backup failed: %v", held, err)
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "lifeline: %s is held by the running daemon; replaying a consistent copy taken through it (%d bytes, in %s, removed afterwards)\n", path, n, tmp.Name())
	db, err := replay.Open(tmp.Name(), replay.Options{Location: g.Location()})
	if err != nil {
		return nil, cleanup, fmt.Errorf("the daemon's copy of %s: %w", path, err)
	}
	return db, cleanup, nil
}

// backupTimeout bounds the copy a replay takes through the daemon.
const backupTimeout = 5 * time.Minute

type replayTimelineOptions struct {
	since, until       string
	sinceSeq, untilSeq uint64
}

func newReplayTimelineCommand(g *cli.Globals, ro *replayOptions) *cobra.Command {
	o := &replayTimelineOptions{}
	cmd := &cobra.Command{
		Use:   "timeline [VM...]",
		Short: "Print every record in global order, with the daemon's boots and crashes",
		Long: `Print every record in global order. The daemon's boots are separators; a boot
that never closed, followed by a later boot, is a daemon crash. Each record
shows how long after its VM's previous transition it came, and the deadline it
set. With VMs, only their records. TIME is RFC 3339, "2006-01-02 15:04:05" or a
time of day ("15:04:05", on the day of the first boot). -o json prints one
JSON object per line. It streams: memory stays flat on any size of log.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.since != "" && o.sinceSeq != 0 || o.until != "" && o.untilSeq != 0 {
				return cli.UsageError(fmt.Errorf("timeline: give --since or --since-seq, --until or --until-seq, not both"))
			}
			return ro.with(cmd, g, func(db *replay.DB) error {
				to := replay.TimelineOptions{VMs: args, SinceSeq: o.sinceSeq, UntilSeq: o.untilSeq, JSON: g.JSON()}
				var err error
				if o.since != "" {
					if to.Since, err = replay.ParseTime(o.since, g.Location(), db.Started()); err != nil {
						return cli.UsageError(fmt.Errorf("--since: %w", err))
					}
				}
				if o.until != "" {
					if to.Until, err = replay.ParseTime(o.until, g.Location(), db.Started()); err != nil {
						return cli.UsageError(fmt.Errorf("--until: %w", err))
					}
				}
				return db.Timeline(cmd.OutOrStdout(), to)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.since, "since", "", "only records at or after TIME")
	f.StringVar(&o.until, "until", "", "only records at or before TIME")
	f.Uint64Var(&o.sinceSeq, "since-seq", 0, "only records from this global sequence on")
	f.Uint64Var(&o.untilSeq, "until-seq", 0, "only records up to this global sequence")
	return cmd
}

func newReplayVerifyCommand(g *cli.Globals, ro *replayOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "verify",
		Short: "Check the database: checksums, sequences, transitions, heads, boots",
		Long: `Check every record, head and boot: checksums; global sequences strictly
increasing and gap-free; each VM's sequences contiguous; every record's
transition allowed by the table and following (and linked to) the VM's
previous one; heads equal to the fold of their logs; specs matching their
hashes; boots numbered and closed. Every problem is printed with its position; a boot that never
closed is a daemon crash, reported as a warning. Exits 1 when any problem is
found.`,
		Args: cli.ExactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return ro.with(cmd, g, func(db *replay.DB) error {
				_, err := db.Verify(cmd.OutOrStdout())
				return err
			})
		},
	}
}

func newReplayExplainCommand(g *cli.Globals, ro *replayOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "explain VM",
		Short: "Tell in sentences how a VM came to its current state",
		Long: `Tell, in plain sentences, the chain of records that led a VM to its current
state since it was last healthy (Running or Stopped): what was asked, which
deadlines were set, what the agent and the driver did, which daemon crashes
and restarts came in between, with the recorded reasons verbatim.`,
		Args: cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return ro.with(cmd, g, func(db *replay.DB) error { return db.Explain(cmd.OutOrStdout(), args[0]) })
		},
	}
}

func newReplayAtCommand(g *cli.Globals, ro *replayOptions) *cobra.Command {
	var seq uint64
	cmd := &cobra.Command{
		Use:   "at TIME | at --seq N",
		Short: "Print the state of every VM at a moment",
		Long: `Fold the log up to a moment (a time, or a record's global sequence) and print
every VM's state then, and what the daemon was doing.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if (len(args) == 1) == (seq != 0) || len(args) > 1 {
				return cli.UsageError(fmt.Errorf("at: give a TIME or --seq N"))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return ro.with(cmd, g, func(db *replay.DB) error {
				ao := replay.AtOptions{Seq: seq, JSON: g.JSON()}
				if len(args) == 1 {
					t, err := replay.ParseTime(args[0], g.Location(), db.Started())
					if err != nil {
						return cli.UsageError(err)
					}
					ao.Time = t
				}
				_, err := db.At(cmd.OutOrStdout(), ao)
				return err
			})
		},
	}
	cmd.Flags().Uint64Var(&seq, "seq", 0, "the moment right after this record")
	return cmd
}

func newReplayExportCommand(g *cli.Globals, ro *replayOptions) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write every record as one JSON object per line",
		Long: `Write every record, in global order, as one JSON object per line (JSON Lines)
with stable field names: seq, vmSeq, vm, event, from, to, time, boot,
hostAgent, driver, deadline, reason, specHash. For jq and other tools.`,
		Args: cli.ExactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "jsonl" {
				return cli.UsageError(fmt.Errorf("export: unknown --format %q (want jsonl)", format))
			}
			return ro.with(cmd, g, func(db *replay.DB) error { return db.Export(cmd.OutOrStdout(), format) })
		},
	}
	cmd.Flags().StringVar(&format, "format", "jsonl", "output format: jsonl")
	return cmd
}

func newReplayGraphCommand(g *cli.Globals, ro *replayOptions) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "graph VM",
		Short: "Print the lifecycle diagram with the transitions a VM took, counted",
		Args:  cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "mermaid" && format != "dot" {
				return cli.UsageError(fmt.Errorf("graph: unknown --format %q (want mermaid or dot)", format))
			}
			return ro.with(cmd, g, func(db *replay.DB) error { return db.Graph(cmd.OutOrStdout(), args[0], format) })
		},
	}
	cmd.Flags().StringVar(&format, "format", "mermaid", "diagram format: mermaid or dot")
	return cmd
}

func newReplayReportCommand(g *cli.Globals, ro *replayOptions) *cobra.Command {
	var html string
	var max int
	cmd := &cobra.Command{
		Use:   "report --html FILE [VM...]",
		Short: "Write one self-contained HTML page with an SVG timeline",
		Long: `Write one self-contained HTML page (no external script, font or style; one
inline script): an SVG timeline with a lane per VM, a coloured segment per
state, markers for VM crashes, forced stops and daemon crashes, dates and
times on the axis, a record's details on hover (its deadline and reason), and
for every VM that is Broken, crashed or was forced, each such record in a
sentence and its explain text. The time axis is compressed (the page says
so); a checkbox switches to a linear one; the wheel zooms at the pointer and
a drag pans. The address's fragment opens a view: FILE#linear&zoom=4&seq=17.
With VMs, only those.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if html == "" {
				return cli.UsageError(fmt.Errorf("report: --html FILE is required"))
			}
			return ro.with(cmd, g, func(db *replay.DB) error {
				return writeFileAtomic(html, func(w io.Writer) error {
					return db.Report(w, replay.ReportOptions{VMs: args, MaxRecords: max})
				})
			})
		},
	}
	cmd.Flags().StringVar(&html, "html", "", "the HTML file to write")
	cmd.Flags().IntVar(&max, "max-records", replay.DefaultReportMax, "draw at most this many records (the last ones)")
	return cmd
}

func newReplayCheckCommand(g *cli.Globals, ro *replayOptions) *cobra.Command {
	o := recheck.Options{}
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Re-drive the recorded history through today's engine and compare",
		Long: `Re-drive the recorded history through today's engine, on virtual time, over the
scripted driver and a scratch database (never a real process, never the file
read): user commands at their recorded times, the driver's observations (the
agent's pid, running, exits, failures, kills that failed) at theirs, the
daemon's restarts at its boot changes. Compare, for every VM, the records the
engine writes with the recorded ones (event, from, to, boot; time and deadline
within --tolerance), and report the first divergence: which VM, which record,
what was recorded, what today's engine decided. Timeouts not given are
inferred from the recorded deadlines. Exits 1 on a divergence.`,
		Args: cli.ExactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return ro.with(cmd, g, func(db *replay.DB) error {
				_, err := recheck.Check(db, cmd.OutOrStdout(), o)
				return err
			})
		},
	}
	f := cmd.Flags()
	f.DurationVar(&o.GracefulTimeout, "graceful-timeout", 0, "run the engine with this graceful timeout (default: inferred from the history)")
	f.DurationVar(&o.StartTimeout, "start-timeout", 0, "run the engine with this start timeout (default: inferred)")
	f.DurationVar(&o.TerminateGrace, "terminate-grace", 0, "run the engine with this terminate grace (default: inferred)")
	f.DurationVar(&o.RestartBackoff, "restart-backoff", 0, "run the restart policy with this first backoff (default: the shortest one recorded)")
	f.DurationVar(&o.RestartBackoffMax, "restart-backoff-max", 0, "run the restart policy with this backoff cap (default: the engine's)")
	f.IntVar(&o.RestartLimit, "restart-limit", 0, "run the restart policy with this limit (default: the engine's)")
	f.DurationVar(&o.RestartWindow, "restart-window", 0, "run the restart policy with this window (default: the engine's)")
	f.DurationVar(&o.Tolerance, "tolerance", recheck.DefaultTolerance, "how far a replayed time or deadline may be from the recorded one")
	return cmd
}

func newReplaySalvageCommand(g *cli.Globals, ro *replayOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "salvage --db DAMAGED OUT",
		Short: "Copy every record of a damaged database that verifies into a new file",
		Long: `Read a damaged database page by page (never through bbolt's tree alone, never
writing it) and copy every record that verifies (its checksum, its place in its
VM's chain) into OUT, a new database the daemon can open: heads rebuilt from the
records, specs whose hash matches, boots (a lost one becomes a placeholder).
Records that follow a lost one of the same VM cannot be placed and are left
out; seqs are renumbered to close the gaps. Prints what was lost. The damaged
file is left as it was; OUT must not exist.`,
		Args: cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			src := ro.db
			if src == "" {
				src = filepath.Join(g.DataDir(), daemon.DBName)
			}
			_, err := replay.Salvage(cmd.OutOrStdout(), src, args[0])
			return err
		},
	}
}

// writeFileAtomic writes path through a temporary file, renamed into place
// once complete.
func writeFileAtomic(path string, f func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	err = f(tmp)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
