package cli

import (
	"os"
	"testing"
	"time"
)

// TestMain runs the package's tests in a local zone that is not UTC (set
// before any test starts a goroutine that reads the clock), so that what
// --utc changes shows on any machine, UTC ones included.
func TestMain(m *testing.M) {
	time.Local = time.FixedZone("UTC+5:30", 5*3600+1800)
	os.Exit(m.Run())
}
