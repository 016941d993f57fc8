package lima

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/lima-vm/lima/pkg/store/filenames"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/drivers/process"
)

// `limactl start NAME` racing lifeline's start of the same stopped
// instance. Lima's host agent refuses to start when ha.pid exists
// (cmd/limactl/hostagent.go: "pidfile ... already exists"), so of two
// agents started at once the one that writes ha.pid first runs and the
// other exits 1. Either can win:
//
//   - limactl's agent wrote ha.pid before lifeline's Spawn looked: Spawn
//     finds it and, instead of refusing, answers
//     drivers.StartedOutsideError with its identity (startedOutside);
//   - lifeline's agent was spawned first but limactl's wrote ha.pid
//     first: lifeline's exits before it came up, and its watch reports
//     the exit with the winner as Observation.Successor (successor).
//
// The engine then follows the winner as its start's agent: the VM is
// never left Broken by the race. The winner is taken only when ha.pid
// names a live host agent that is not lifeline's own, and no VM driver
// process of an earlier incarnation runs (a QEMU started before that
// agent is an orphan, which stays a refusal).

// startedOutside returns the error that tells the engine that someone
// else's host agent runs for vm, or nil when none does, or when something
// else of the instance (an orphaned QEMU) runs too.
func (d *Driver) startedOutside(vm, dir string) *drivers.StartedOutsideError {
	if c := d.spawned(vm); c != nil {
		select {
		case <-c.Done():
		default:
			return nil // lifeline's own agent runs
		}
	}
	procs, evidence, ok := otherAgent(dir, drivers.Proc{})
	if !ok {
		return nil
	}
	return &drivers.StartedOutsideError{VM: vm, Procs: procs, Evidence: evidence}
}

// successor returns, for an agent of this watch that exited before it
// came up, the host agent someone else started that holds ha.pid, and the
// reason with the evidence added; zero and the reason unchanged when
// there is none.
func (w *watch) successor(reason string) (drivers.Procs, string) {
	procs, evidence, ok := otherAgent(w.dir, w.procs.Agent)
	if !ok {
		return drivers.Procs{}, reason
	}
	return procs, fmt.Sprintf("%s; %s", reason, evidence)
}

// otherAgent finds the live host agent ha.pid names in dir, other than
// not, and its VM driver process if one runs yet. ok is false when there
// is none, or when a VM driver process that started before that agent
// runs (not its own).
func otherAgent(dir string, not drivers.Proc) (drivers.Procs, string, bool) {
	agent, ok, err := livePIDFile(filepath.Join(dir, filenames.HostAgentPID))
	if err != nil || !ok || agent == not {
		return drivers.Procs{}, "", false
	}
	for _, name := range driverPIDFiles {
		p, ok, err := livePIDFile(filepath.Join(dir, name))
		if err != nil || (ok && startedBefore(p, agent)) {
			return drivers.Procs{}, "", false
		}
	}
	if p, ok, err := rememberedDriver(dir); err != nil || (ok && startedBefore(p, agent)) {
		return drivers.Procs{}, "", false
	}
	drv, _, err := findDriver(dir, agent)
	if err != nil {
		return drivers.Procs{}, "", false
	}
	at, err := process.StartedAt(agent)
	if err != nil {
		return drivers.Procs{}, "", false
	}
	return drivers.Procs{Agent: agent, VMProcess: drv}, fmt.Sprintf("%s names host agent pid %d, started at %s by someone else (limactl start)",
		filenames.HostAgentPID, agent.PID, at.UTC().Format(time.RFC3339Nano)), true
}
