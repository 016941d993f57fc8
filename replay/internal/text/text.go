// Package text is how replay's verbs and replay check print times,
// durations, counts and transitions: one way, for both packages.
package text

import (
	"fmt"
	"strings"
	"time"

	"github.com/lifeline-vm/lifeline/internal/timefmt"
	"github.com/lifeline-vm/lifeline/store"
)

// Clock prints t's time of day in loc, to the millisecond, with its zone
// (the CLI's one time format, internal/timefmt); "-" for none.
func Clock(t time.Time, loc *time.Location) string { return timefmt.Clock(t, loc) }

// When prints t with its date and zone, to the millisecond; "-" for none.
func When(t time.Time, loc *time.Location) string { return timefmt.Time(t, loc) }

// Date prints t's date with its zone, the heading of times of day.
func Date(t time.Time, loc *time.Location) string { return timefmt.Date(t, loc) }

// ClockSeconds prints t's time of day in loc, to the second, with its
// zone.
func ClockSeconds(t time.Time, loc *time.Location) string { return timefmt.ClockSeconds(t, loc) }

// Millis is d in milliseconds, the unit of a duration in JSON (a field
// named "…Ms"), with fractions down to the nanosecond.
func Millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

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
