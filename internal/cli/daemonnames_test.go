package cli

import (
	"os"
	"testing"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/drivers/lima"
	"github.com/lifeline-vm/lifeline/internal/daemoncmd"
)

// TestDefaultsAreTheDaemons: the names and defaults lifeline repeats,
// because it does not link the daemon's packages, are the daemon's.
func TestDefaultsAreTheDaemons(t *testing.T) {
	if driverLima != daemoncmd.DriverLima || driverCommand != daemoncmd.DriverCommand {
		t.Errorf("drivers %q, %q; the daemon's are %q, %q", driverLima, driverCommand, daemoncmd.DriverLima, daemoncmd.DriverCommand)
	}
	if limaDefaultGrace != lima.DefaultGracefulTimeout {
		t.Errorf("Lima's default grace %s; drivers/lima's is %s", limaDefaultGrace, lima.DefaultGracefulTimeout)
	}
	if api.ReadyGuest != lima.ReadyGuest || api.ReadyAgent != lima.ReadyAgent {
		t.Errorf("--ready values %q, %q; the Lima driver's are %q, %q", api.ReadyGuest, api.ReadyAgent, lima.ReadyGuest, lima.ReadyAgent)
	}
	for _, env := range []string{"", "json", "logfmt"} {
		t.Setenv("LIFELINE_LOG_FORMAT", env)
		if env == "" {
			os.Unsetenv("LIFELINE_LOG_FORMAT")
		}
		if got, want := defaultLogFormat(), daemoncmd.DefaultLogFormat(); got != want {
			t.Errorf("LIFELINE_LOG_FORMAT=%q: --log-format's default %q, the daemon's %q", env, got, want)
		}
	}
}
