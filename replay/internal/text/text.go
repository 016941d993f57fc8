// Package text is how replay's verbs and replay check print times,
// durations, counts and transitions: one way, for both packages.
package text

import (
	"fmt"
	"strings"
	"time"

	"github.com/lifeline-vm/lifeline/store"
)

// Clock prints t's time of day in loc, to the millisecond; "-" for none.
func Clock(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(loc).Format("15:04:05.000")
}

// Duration prints a duration compactly: milliseconds from a second up,
// microseconds below.
func Duration(d time.Duration) string {
	neg := d < 0
	if neg {
		d = -d
	}
	var s string
	switch {
	case d >= time.Second:
		s = d.Round(time.Millisecond).String()
	case d >= time.Millisecond:
		s = d.Round(time.Microsecond).String()
	default:
		s = d.String()
	}
	if neg {
		return "-" + s
	}
	return s
}

// Plural prints n things, "1 daemon crash", "2 daemon crashes".
func Plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	if strings.HasSuffix(thing, "sh") || strings.HasSuffix(thing, "s") {
		return fmt.Sprintf("%d %ses", n, thing)
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// Transition prints a record's move, "Running → Stopping".
func Transition(r store.Record) string { return r.From.String() + " → " + r.To.String() }
