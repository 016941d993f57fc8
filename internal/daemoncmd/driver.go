package daemoncmd

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/rs/zerolog"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/lima"
	"github.com/lifeline-vm/lifeline/drivers/mux"
	"github.com/lifeline-vm/lifeline/drivers/process"
	"github.com/lifeline-vm/lifeline/internal/atomicfile"
	"github.com/lifeline-vm/lifeline/internal/daemon"
)

// The drivers a VM may name (drivers.Spec.Driver).
const (
	DriverLima    = "lima"
	DriverCommand = "command"
)

// newDriver makes the daemon's drivers and routes each VM to the one its
// spec names (drivers/mux): "lima", the default, and "command", which
// supervises the program a VM's spec gives, its run directory (pid file,
// output logs) under <data-dir>/command/<vm>.
func newDriver(o *daemonOptions, opts Options, dataDir string, log zerolog.Logger) (*mux.Mux, error) {
	home, err := useLimaHome(dataDir, o.limaHome)
	if err != nil {
		return nil, err
	}
	o.limaHome = home
	l, err := newLimaDriver(o, opts, log)
	if err != nil {
		return nil, err
	}
	cmd := &process.Driver{Dir: filepath.Join(dataDir, daemon.CommandDir)}
	return mux.New(DriverLima, map[string]drivers.Driver{DriverLima: l, DriverCommand: cmd})
}

// newLimaDriver makes the driver of Lima instances, whose host agent is
// limactl's (real disks prepared the way limactl start does) or any
// program with its command line, such as `lifeline agent-sim`.
func newLimaDriver(o *daemonOptions, opts Options, log zerolog.Logger) (drivers.Driver, error) {
	cmd := strings.Fields(o.hostAgentCmd)
	if len(cmd) == 0 {
		return nil, usageError{fmt.Errorf("--hostagent-cmd is empty")}
	}
	if err := checkHostAgent(cmd); err != nil {
		return nil, err
	}
	lo := lima.Options{
		LimaHome:     o.limaHome,
		HostAgentCmd: cmd,
		Debug:        log.GetLevel() <= zerolog.DebugLevel,
		Logger:       log.With().Str("driver", "lima").Logger(),
		// Lima's own schema check of every template, before it is
		// recorded (lifelined's: limaprep.ValidateTemplate).
		ValidateTemplate: opts.ValidateTemplate,
	}
	if filepath.Base(cmd[0]) == "limactl" {
		if opts.Prepare == nil {
			return nil, fmt.Errorf("--hostagent-cmd %q: %s runs real Lima instances, which only lifelined prepares: run `lifelined` (go install ./cmd/...), or give --hostagent-cmd \"lifeline agent-sim\"", o.hostAgentCmd, cmd[0])
		}
		lo.Prepare = opts.Prepare
	}
	return lima.New(lo)
}

// blankDisk is where a default spec's blank disk is kept.
func blankDisk(dataDir, name string) string {
	return filepath.Join(dataDir, daemon.DisksDir, name+".raw")
}

// blankDisks makes and removes the blank disks of default specs, for the
// daemon (daemon.VMFiles): it makes a VM's disk when its template boots
// from it, just before the driver defines the VM, and removes it after the
// driver removed the VM, both under the VM's lock. A create that was not
// recorded makes no disk, and a delete never removes a later VM's.
type blankDisks struct{ dataDir string }

// Make creates name's blank disk if spec's template boots from it; an
// existing disk is left alone.
func (b blankDisks) Make(name string, spec drivers.Spec) error {
	disk := blankDisk(b.dataDir, name)
	if !bytes.Contains(spec.Template, []byte(strconv.Quote(disk))) {
		return nil
	}
	if err := atomicfile.MkdirAll(filepath.Dir(disk), 0o700); err != nil {
		return fmt.Errorf("vm %q: blank disk: %w", name, err)
	}
	if err := lima.CreateBlankDisk(disk, 0); err != nil {
		return fmt.Errorf("vm %q: %w", name, err)
	}
	return nil
}

// Remove removes a deleted VM's blank disk, if it had one.
func (b blankDisks) Remove(name string) error {
	if err := os.Remove(blankDisk(b.dataDir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("vm %q: remove its blank disk: %w", name, err)
	}
	return nil
}

// defaultSpec fills what `create` left out: the driver (lima), and, for a
// lima VM without a template, a minimal
// Lima template whose disk is a blank sparse image in the data dir (made
// by blankDisks once the create is recorded), so creating and starting
// never needs the network. A blank disk boots no guest, so such a VM
// counts as Running once its agent answers.
func defaultSpec(dataDir string) func(name string, spec *drivers.Spec) error {
	return func(name string, spec *drivers.Spec) error {
		if spec.Driver == "" {
			spec.Driver = DriverLima
		}
		if spec.Driver != DriverLima || len(spec.Template) > 0 {
			return nil
		}
		tmpl, err := lima.DefaultTemplate(lima.TemplateOptions{Disk: blankDisk(dataDir, name)})
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
