package recheck

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lifeline-vm/lifeline/store"
)

// The report prints times, durations and counts as replay's other verbs
// do (replay/format.go, replay/report.go).

// clock prints t's time of day in loc, to the millisecond.
func clock(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(loc).Format("15:04:05.000")
}

// dur prints a duration compactly: milliseconds from a second up,
// microseconds below.
func dur(d time.Duration) string {
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

func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	if strings.HasSuffix(thing, "sh") || strings.HasSuffix(thing, "s") {
		return fmt.Sprintf("%d %ses", n, thing)
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

func transition(r store.Record) string { return r.From.String() + " → " + r.To.String() }

// corruptf makes an error about the database that wraps store.ErrCorrupt.
func corruptf(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), store.ErrCorrupt)
}

// errStop ends a scan early without an error.
var errStop = errors.New("stop")
