package cli

import (
	"fmt"
	"io"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/internal/cli/fastpath"
)

// printResult prints what a command that settles at once did (create,
// update, reset, delete).
func printResult(w io.Writer, g *Globals, r api.Result, verb string) error {
	o := outcome{Name: r.Name, Seq: r.Seq, State: r.State}
	return printOutcome(w, g, o, func(o outcome) string { return doneLine(o, verb) })
}

// doneLine is a command that settled at once: "vm1: created (Stopped, seq 3)".
func doneLine(o outcome, verb string) string {
	return fmt.Sprintf("%s: %s (%s, seq %d)", o.Name, verb, o.State, o.Seq)
}

// settledLine is a --wait that settled: "db: Stopped at seq 15 (forced:
// the agent was still running 30s after SIGINT)".
func settledLine(o outcome) string {
	s := fmt.Sprintf("%s: %s at seq %d", o.Name, o.State, o.Seq)
	if o.Forced != "" {
		s += " (forced: " + o.Forced + ")"
	}
	return s
}

// goingLine is a command whose work goes on (start, stop without --wait),
// in the present tense: "slow: stopping (seq 14; SIGINT sent; SIGTERM at
// 18:18:31 CET if still running)".
func goingLine(g *Globals, o outcome, verbing string) string {
	if !o.State.InFlight() {
		return settledLine(o)
	}
	s := fmt.Sprintf("%s: %s (seq %d", o.Name, verbing, o.Seq)
	if st := step(g, api.Record{VM: o.Name, To: o.State, Event: o.Event, Deadline: o.Deadline}, timeZero); st != "" {
		s += "; " + st
	}
	return s + ")"
}

// writeJSON is -o json's output (fastpath.WriteJSON: the fast path's
// too).
func writeJSON(w io.Writer, v any) error { return fastpath.WriteJSON(w, v) }

func writeJSONLine(w io.Writer, v any) error { return fastpath.WriteJSONLine(w, v) }
