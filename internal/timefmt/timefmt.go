// Package timefmt is the one way lifeline prints a time for people, on
// every verb (list, status, events, wait's progress, the fleet's views,
// the replay verbs and the report): the local time with its zone, or UTC
// when asked (--utc); a date and a time of day, to the millisecond for a
// record, to the second for a state's start or a deadline. A time of day
// alone appears only under a line that gave its date, and carries its
// zone too. JSON carries RFC 3339 (encoding/json's time.Time), and a
// duration in JSON names its unit ("sincePreviousMs").
package timefmt

import "time"

// The layouts: a moment (with its date) and a time of day, each to the
// millisecond or to the second, each with its zone's abbreviation (Go
// prints the numeric offset, "+0530", for a zone that has none).
const (
	Layout             = "2006-01-02 15:04:05.000 MST"
	LayoutSeconds      = "2006-01-02 15:04:05 MST"
	ClockLayout        = "15:04:05.000 MST"
	ClockLayoutSeconds = "15:04:05 MST"
)

// Location is where times are shown: the local zone, or UTC.
func Location(utc bool) *time.Location {
	if utc {
		return time.UTC
	}
	return time.Local
}

// Time prints t with its date, to the millisecond, in loc; "-" for none.
func Time(t time.Time, loc *time.Location) string { return format(t, loc, Layout) }

// Seconds prints t with its date, to the second, in loc; "-" for none.
func Seconds(t time.Time, loc *time.Location) string { return format(t, loc, LayoutSeconds) }

// Clock prints t's time of day, to the millisecond, with its zone; "-" for
// none.
func Clock(t time.Time, loc *time.Location) string { return format(t, loc, ClockLayout) }

// ClockSeconds prints t's time of day, to the second, with its zone; "-"
// for none.
func ClockSeconds(t time.Time, loc *time.Location) string {
	return format(t, loc, ClockLayoutSeconds)
}

// Date prints t's date in loc, with the zone ("2025-11-25 CET"): the
// heading of times of day.
func Date(t time.Time, loc *time.Location) string { return format(t, loc, "2006-01-02 MST") }

func format(t time.Time, loc *time.Location, layout string) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(loc).Format(layout)
}
