package lima

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/lima-vm/lima/pkg/store/filenames"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/process"
)

var _ drivers.OutsideFinder = (*Driver)(nil)

// FindOutside tells what someone else did to an instance the engine holds
// Stopped, from the instance's files alone (a stat and two pid files; no
// walk of every process, since the engine asks every few seconds):
//
//   - `limactl delete NAME` removes the instance directory: Deleted.
//   - `limactl start NAME` runs the host agent (`limactl hostagent
//     --pidfile <dir>/ha.pid ...`, in a session of its own), which writes
//     ha.pid, then starts QEMU, which writes qemu.pid: once both name live
//     processes, the agent started after since (within
//     process.StartedAtSlack) and QEMU after the agent, both are returned.
//     Before QEMU runs nothing is returned, so the VM is adopted when
//     `limactl list` too says Running. An agent that started before since
//     is an earlier incarnation's, never returned.
func (d *Driver) FindOutside(ctx context.Context, vm string, spec drivers.Spec, since time.Time) (drivers.Outside, error) {
	dir, err := d.InstanceDir(vm)
	if err != nil {
		return drivers.Outside{}, err
	}
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return drivers.Outside{Deleted: true, Evidence: fmt.Sprintf("the instance directory %s is gone (limactl delete)", dir)}, nil
	} else if err != nil {
		return drivers.Outside{}, fmt.Errorf("vm %q: look for a start or delete from outside: %w", vm, err)
	}
	pidFile := filepath.Join(dir, filenames.HostAgentPID)
	agent, ok, err := livePIDFile(pidFile)
	if err != nil || !ok {
		if err != nil {
			err = fmt.Errorf("vm %q: look for a start from outside: %w", vm, err)
		}
		return drivers.Outside{}, err
	}
	at, err := process.StartedAt(agent)
	if err != nil {
		return drivers.Outside{}, fmt.Errorf("vm %q: look for a start from outside: %w", vm, err)
	}
	if at.Add(process.StartedAtSlack).Before(since) {
		return drivers.Outside{}, nil // an earlier incarnation's agent
	}
	drv, ok, err := findDriver(dir, agent)
	if err != nil || !ok {
		if err != nil {
			err = fmt.Errorf("vm %q: look for a start from outside: %w", vm, err)
		}
		return drivers.Outside{}, err
	}
	return drivers.Outside{
		Procs: drivers.Procs{Agent: agent, VMProcess: drv},
		Evidence: fmt.Sprintf("%s names host agent pid %d, started at %s (known to within %v), not before the VM's last record at %s, and its VM driver pid %d runs",
			filenames.HostAgentPID, agent.PID, at.UTC().Format(time.RFC3339Nano), process.StartedAtSlack, since.UTC().Format(time.RFC3339Nano), drv.PID),
	}, nil
}
