package main

import (
	"os"
	"strings"

	"github.com/lifeline-vm/lifeline/internal/daemoncmd"
)

// The drivers a VM may name (drivers.Spec.Driver), as the daemon routes
// them.
const (
	driverLima    = daemoncmd.DriverLima
	driverCommand = daemoncmd.DriverCommand
)

// dataDirLimaHomeFile is the file of the data dir that records its Lima
// home (the daemon's limahome.go).
const dataDirLimaHomeFile = daemoncmd.DataDirLimaHomeFile

// readLine is a one-line file's line.
func readLine(path string) (string, error) {
	b, err := os.ReadFile(path)
	return strings.TrimSpace(string(b)), err
}
