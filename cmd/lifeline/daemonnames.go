package main

import "github.com/lifeline-vm/lifeline/internal/daemoncmd"

// The drivers a VM may name (drivers.Spec.Driver), as the daemon routes
// them.
const (
	driverLima    = daemoncmd.DriverLima
	driverCommand = daemoncmd.DriverCommand
)
