package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/rs/zerolog"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/lima"
	"github.com/lifeline-vm/lifeline/drivers/lima/limaprep"
	"github.com/lifeline-vm/lifeline/internal/atomicfile"
)

// newDriver picks the daemon's driver: Lima instances, whose host agent is
// limactl's (real disks prepared the way limactl start does) or any
// program with its command line, such as `lifeline agent-sim`.
func newDriver(o *daemonOptions, log zerolog.Logger) (drivers.Driver, error) {
	cmd := strings.Fields(o.hostAgentCmd)
	if len(cmd) == 0 {
		return nil, usageError{fmt.Errorf("--hostagent-cmd is empty")}
	}
	opts := lima.Options{
		LimaHome:     o.limaHome,
		HostAgentCmd: cmd,
		Debug:        log.GetLevel() <= zerolog.DebugLevel,
		Logger:       log.With().Str("driver", "lima").Logger(),
	}
	if filepath.Base(cmd[0]) == "limactl" {
		opts.Prepare = limaprep.Prepare
	}
	return lima.New(opts)
}

// blankDisk is where defaultSpec keeps a VM's blank disk.
func blankDisk(dataDir, name string) string {
	return filepath.Join(dataDir, "disks", name+".raw")
}

// removeDefaultDisk removes a deleted VM's blank disk, if it had one.
func removeDefaultDisk(dataDir string) func(name string) error {
	return func(name string) error {
		if err := os.Remove(blankDisk(dataDir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("vm %q: remove its blank disk: %w", name, err)
		}
		return nil
	}
}

// defaultSpec fills what `create` left out: without a template, a minimal
// Lima template whose disk is a blank sparse image made here, in the data
// dir, so creating and starting never needs the network. A blank disk boots
// no guest, so such a VM counts as Running once its agent answers.
func defaultSpec(dataDir string) func(name string, spec *drivers.Spec) error {
	return func(name string, spec *drivers.Spec) error {
		if len(spec.Template) > 0 {
			return nil
		}
		disk := blankDisk(dataDir, name)
		if err := atomicfile.MkdirAll(filepath.Dir(disk), 0o700); err != nil {
			return err
		}
		if err := lima.CreateBlankDisk(disk, 0); err != nil {
			return err
		}
		tmpl, err := lima.DefaultTemplate(lima.TemplateOptions{Disk: disk})
		if err != nil {
			return err
		}
		spec.Template = tmpl
		if spec.Ready == "" {
			spec.Ready = lima.ReadyAgent
		}
		return nil
	}
}
