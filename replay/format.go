package replay

import (
	"fmt"
	"strings"
	"time"

	"github.com/lifeline-vm/lifeline/replay/internal/text"
	"github.com/lifeline-vm/lifeline/store"
)

// ParseTime reads a moment given on the command line, in loc: RFC 3339
// ("2025-11-25T09:00:05Z"), a date and time ("2025-11-25 09:00:05",
// fractions allowed), or a time of day alone ("09:00:05"), which means that
// time on the day of ref (the database's first boot), or the next day that
// has it at or after ref.
func ParseTime(s string, loc *time.Location, ref time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	for _, layout := range []string{"15:04:05.999999999", "15:04"} {
		tod, err := time.ParseInLocation(layout, s, loc)
		if err != nil {
			continue
		}
		if ref.IsZero() {
			return time.Time{}, fmt.Errorf("time %q: a time of day needs a date: the database has no boots", s)
		}
		r := ref.In(loc)
		t := time.Date(r.Year(), r.Month(), r.Day(), tod.Hour(), tod.Minute(), tod.Second(), tod.Nanosecond(), loc)
		if t.Before(r.Truncate(time.Second)) {
			t = t.AddDate(0, 0, 1)
		}
		return t, nil
	}
	return time.Time{}, fmt.Errorf("time %q: want RFC 3339, \"2006-01-02 15:04:05\" or \"15:04:05\"", s)
}

// pidOf prints a process identity's pid, "-" for none.
func pidOf(p store.Proc) string {
	if p.IsZero() {
		return "-"
	}
	return fmt.Sprint(p.PID)
}

// How times, durations, counts and transitions print: one way for replay
// and replay check (replay/internal/text).
var (
	clock        = text.Clock
	when         = text.When
	clockSeconds = text.ClockSeconds
	dateOf       = text.Date
	dur          = text.Duration
	plural       = text.Plural
	transition   = text.Transition
)
