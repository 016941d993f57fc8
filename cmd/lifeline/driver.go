package main

import (
	"path/filepath"
	"strings"

	"github.com/rs/zerolog"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/process"
)

// newDriver picks the daemon's driver. (Interim: a plain process driver
// until the Lima driver lands.)
func newDriver(g *globals, o *daemonOptions, _ zerolog.Logger) (drivers.Driver, error) {
	return process.NewDriver(filepath.Join(g.dataDir, "run"), strings.Fields(o.hostAgentCmd)...), nil
}
