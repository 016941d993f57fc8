package cli

import "time"

// The drivers a VM may name (drivers.Spec.Driver), as the daemon routes
// them: internal/daemoncmd's DriverLima and DriverCommand, which lifeline
// does not link (TestDefaultsAreTheDaemons).
const (
	driverLima    = "lima"
	driverCommand = "command"
)

// limaDefaultGrace is drivers/lima.DefaultGracefulTimeout, the graceful
// timeout of a Lima VM with limactl's host agent, for --graceful-timeout's
// help: lifeline does not link the Lima driver.
const limaDefaultGrace = 3*time.Minute + 30*time.Second
