package lima

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/lima-vm/lima/pkg/store/filenames"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/process"
)

var _ drivers.Importer = (*Driver)(nil)

// Instances lists the instances under the driver's LIMA_HOME: every
// directory whose name is a Lima instance name and that holds a lima.yaml
// (`limactl list` shows the same). Lima's own directories (_config,
// _cache, _disks, _networks) are not instances.
func (d *Driver) Instances(context.Context) ([]string, error) {
	ents, err := os.ReadDir(d.home)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lima: list the instances of %s: %w", d.home, err)
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), "_") {
			continue
		}
		dir, err := d.InstanceDir(e.Name())
		if err != nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, filenames.LimaYAML)); err == nil {
			out = append(out, e.Name())
		}
	}
	slices.Sort(out)
	return out, nil
}

// FindInstance reads an instance `limactl create` made: its lima.yaml is
// the template of the spec (Ready left to the default, guest), read and
// nothing written. It runs when ha.pid names a live host agent (the pid
// file's writer, not a process that reused its pid) and a VM driver pid
// file (qemu.pid) names a live process started after it: both are
// returned, as `limactl list` says Running. An agent without its VM, or a
// VM without its agent, is refused: the instance is half-way (starting,
// stopping, or left broken), and `limactl list` tells which.
func (d *Driver) FindInstance(_ context.Context, vm string) (drivers.Spec, drivers.Outside, error) {
	dir, err := d.InstanceDir(vm)
	if err != nil {
		return drivers.Spec{}, drivers.Outside{}, err
	}
	tmpl, err := os.ReadFile(filepath.Join(dir, filenames.LimaYAML))
	if errors.Is(err, os.ErrNotExist) {
		return drivers.Spec{}, drivers.Outside{}, fmt.Errorf("vm %q: no Lima instance %s (no %s): %w", vm, dir, filenames.LimaYAML, drivers.ErrNotFound)
	}
	if err != nil {
		return drivers.Spec{}, drivers.Outside{}, fmt.Errorf("vm %q: read the instance's %s: %w", vm, filenames.LimaYAML, err)
	}
	spec := drivers.Spec{Template: tmpl}
	agent, ok, err := livePIDFile(filepath.Join(dir, filenames.HostAgentPID))
	if err != nil {
		return drivers.Spec{}, drivers.Outside{}, fmt.Errorf("vm %q: look for its host agent: %w", vm, err)
	}
	if !ok {
		// Stopped, unless a VM driver process runs on its own.
		for _, name := range driverPIDFiles {
			p, ok, err := livePIDFile(filepath.Join(dir, name))
			if err != nil {
				return drivers.Spec{}, drivers.Outside{}, fmt.Errorf("vm %q: look for its VM process: %w", vm, err)
			}
			if ok {
				return drivers.Spec{}, drivers.Outside{}, fmt.Errorf("vm %q: %w: its VM process (%s names pid %d) runs without a host agent: stop it (`limactl stop -f %s`) and import again", vm, ErrNotSettled, name, p.PID, vm)
			}
		}
		return spec, drivers.Outside{}, nil
	}
	drv, ok, err := findDriver(dir, agent)
	if err != nil {
		return drivers.Spec{}, drivers.Outside{}, fmt.Errorf("vm %q: look for its VM process: %w", vm, err)
	}
	if !ok {
		return drivers.Spec{}, drivers.Outside{}, fmt.Errorf("vm %q: %w: host agent pid %d runs but its VM (%s) does not: wait until `limactl list` says Running, or stop it, and import again", vm, ErrNotSettled, agent.PID, driverPIDFiles[0])
	}
	at, err := process.StartedAt(agent)
	if err != nil {
		return drivers.Spec{}, drivers.Outside{}, fmt.Errorf("vm %q: look for its host agent: %w", vm, err)
	}
	return spec, drivers.Outside{
		Procs: drivers.Procs{Agent: agent, VMProcess: drv},
		Evidence: fmt.Sprintf("%s names host agent pid %d, started at %s, and its VM driver pid %d runs",
			filenames.HostAgentPID, agent.PID, at.UTC().Format(time.RFC3339), drv.PID),
	}, nil
}
