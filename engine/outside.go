package engine

import (
	"fmt"

	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// A stop from outside.
//
// A user who runs `limactl stop NAME` on a VM lifeline runs stops its agent
// without lifeline. The driver reports the agent's exit with its evidence
// that someone else asked for it (Observation.Outside: for Lima, the host
// agent's own log line of the signal it received, or the files
// `limactl stop -f` removes). The engine trusts that evidence only while
// it sent the agent no signal itself, that is while the VM is Starting or
// Running (its own stop is recorded Stopping before the interrupt is
// sent): the exit is then a stop, recorded stopped_outside (→ Stopped, the
// identities cleared), not a crash, and the restart policy does not
// restart it. Without evidence the exit stays what it was: crashed
// (Running) or start_failed (Starting).

// outsideStop reports whether o is the exit of an agent someone else
// stopped, while the VM is in a state where lifeline sent it no signal.
// It needs v.mu.
func outsideStop(v *vm, o drivers.Observation) bool {
	return o.Kind == drivers.ObsExited && o.Outside != "" &&
		(v.head.State == states.Starting || v.head.State == states.Running)
}

// stoppedOutside records that someone else stopped v's agent: stopped_outside
// (→ Stopped, which clears the recorded identities). Nothing is done to
// the OS: the driver reports Outside only once nothing of the VM it knows
// of runs (drivers.Observation), and the runtime files the agent left are
// the next spawn's to clear, as after any stop (they may well be someone
// else's by then: a `limactl start` right after the stop). A record that
// fails is retried as any observation's. It needs v.mu.
func (e *Engine) stoppedOutside(v *vm, o drivers.Observation) {
	v.stopWatch()
	_, _ = e.transition(e.ctx, v, states.StoppedOutside, change{cause: stoppedOutsideCause(v.head.State, o)})
}

// stoppedOutsideCause is the cause of a stopped_outside record: lifeline
// sent no signal while the VM was from, the driver's evidence of who did,
// and how the agent exited.
func stoppedOutsideCause(from states.State, o drivers.Observation) store.Cause {
	return store.Cause{Kind: store.CauseStoppedOutside, Code: o.Code, Signal: o.Signal, Exiting: o.Exiting,
		Detail: fmt.Sprintf("lifeline sent no signal (the VM was %s); %s; %s", from, o.Outside, o.Reason)}
}
