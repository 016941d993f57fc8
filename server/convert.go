package server

import (
	"slices"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/drivers"
	"github.com/lifeline-vm/lifeline/engine"
	"github.com/lifeline-vm/lifeline/store"
)

// VMOf is a VM's status on the wire, as GET /v1/vms/{name} answers it.
func VMOf(v engine.VM) api.VM {
	out := api.VM{
		Name:         v.Name,
		State:        api.State(v.State.String()),
		Seq:          v.Seq,
		VMSeq:        v.VMSeq,
		Since:        v.Since,
		Event:        api.Event(v.Event.String()),
		Cause:        causeOf(v.Cause),
		Reason:       v.Reason,
		HostAgentPID: int64(v.Agent.PID),
		VMProcessPID: int64(v.VMProcess.PID),
		Deadline:     v.Deadline,
		Ready:        v.Spec.Ready,
		Driver:       v.Spec.Driver,
		Autostart:    v.Spec.Autostart,
		Unrecorded:   v.Unrecorded,
		Degraded:     v.Degraded,
		AgentError:   v.AgentError,
		AgentErrorAt: v.AgentErrorAt,
	}
	for k, val := range v.Spec.Env {
		out.Env = append(out.Env, k+"="+val)
	}
	slices.Sort(out.Env)
	return out
}

// RecordOf is a record on the wire, as GET /v1/events streams it: every
// field the log keeps (a test compares it with the store's own JSON of the
// record).
func RecordOf(r store.Record) api.Record {
	out := api.Record{
		Seq:       r.Seq,
		VMSeq:     r.VMSeq,
		VM:        r.VM,
		Event:     api.Event(r.Event.String()),
		From:      api.State(r.From.String()),
		To:        api.State(r.To.String()),
		Time:      r.Time,
		Boot:      r.Boot,
		HostAgent: procOf(r.Agent),
		VMProcess: procOf(r.VMProcess),
		Deadline:  r.Deadline,
		Cause:     causeOf(r.Cause),
		Reason:    r.Reason,
	}
	if !r.SpecHash.IsZero() {
		out.SpecHash = r.SpecHash.String()
	}
	return out
}

func causeOf(c store.Cause) api.Cause {
	if c.IsZero() {
		return api.Cause{}
	}
	return api.Cause{
		Kind: api.CauseKind(c.Kind.String()), Code: c.Code, Signal: c.Signal, Exiting: c.Exiting,
		Deadline: c.Deadline, PID: c.PID, VMProcessPID: c.VMProcessPID, Err: c.Err, Detail: c.Detail,
		N: c.N, Limit: c.Limit, Window: c.Window, Backoff: c.Backoff, Grace: c.Grace,
	}
}

func procOf(p store.Proc) api.Proc {
	return api.Proc{PID: int64(p.PID), StartTime: p.StartTime, Group: int64(p.Group), BootID: p.BootID}
}

// driverSpec is a spec from the wire, as the engine takes it.
func driverSpec(s api.Spec) drivers.Spec {
	return drivers.Spec{Driver: s.Driver, Template: s.Template, Command: s.Command, Env: s.Env, Ready: s.Ready, Restart: s.Restart, GracefulTimeout: s.GracefulTimeout, Autostart: s.Autostart}
}
