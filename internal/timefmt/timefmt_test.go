package timefmt

import (
	"testing"
	"time"
)

// TestEveryLayoutCarriesTheZone: each way of printing a time names its
// zone, and the moments read back to the instant they print.
func TestEveryLayoutCarriesTheZone(t *testing.T) {
	kolkata := time.FixedZone("IST", 5*3600+1800)
	at := time.Date(2025, 11, 25, 3, 30, 5, 123456789, time.UTC)
	for _, c := range []struct {
		got, want string
	}{
		{Time(at, kolkata), "2025-11-25 09:00:05.123 IST"},
		{Seconds(at, kolkata), "2025-11-25 09:00:05 IST"},
		{Clock(at, kolkata), "09:00:05.123 IST"},
		{ClockSeconds(at, kolkata), "09:00:05 IST"},
		{Date(at, kolkata), "2025-11-25 IST"},
		{Time(at, Location(true)), "2025-11-25 03:30:05.123 UTC"},
		{Time(time.Time{}, kolkata), "-"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	back, err := time.ParseInLocation(Layout, Time(at, kolkata), kolkata)
	if err != nil || !back.Equal(at.Truncate(time.Millisecond)) {
		t.Errorf("%s reads back as %v, %v", Time(at, kolkata), back, err)
	}
}
