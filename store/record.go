package store

import (
	"time"

	"github.com/lifeline-vm/lifeline/states"
)

// Proc is a process identity as the log keeps it: pid, the OS's start time
// of that pid, its group, and the machine's boot id. A zero PID means none.
type Proc struct {
	PID       int64
	StartTime uint64
	Group     int64
	BootID    string
}

// IsZero reports whether p names no process.
func (p Proc) IsZero() bool { return p.PID == 0 }

// Record is one transition of one VM. Seq, VMSeq and Boot are assigned by
// the store when the record is appended; the caller fills the rest.
type Record struct {
	Seq   uint64 // global sequence, strictly increasing across all VMs, from 1
	VMSeq uint64 // this VM's sequence, contiguous from 1 (across delete and re-create)
	VM    string
	Event states.Event
	From  states.State
	To    states.State
	Time  time.Time // when the engine decided (its clock), UTC, ns precision
	Boot  uint64    // the daemon boot that wrote it
	// Agent and Driver are the processes the record is about: the host
	// agent and, where separate, the VM driver process (QEMU).
	Agent  Proc
	Driver Proc
	// Deadline is when the state entered must be left: the graceful
	// deadline of Stopping, the start deadline of Starting. Zero if none.
	Deadline time.Time
	// Reason is human text: why a command was given, what failed.
	Reason string
	// SpecHash is set on records that change the VM's spec (create, update).
	SpecHash [32]byte
}

// Head is a VM's current state, kept in the same transaction as its last
// record so that loading many VMs does not fold many logs. A head always
// equals [Fold] of the VM's records.
type Head struct {
	VM       string
	State    states.State
	Seq      uint64 // global sequence of the last record
	VMSeq    uint64 // per-VM sequence of the last record
	Since    time.Time
	Event    states.Event // the event of the last record
	Reason   string       // the reason of the last record
	Agent    Proc
	Driver   Proc
	Deadline time.Time
	SpecHash [32]byte
}

// Apply folds one record into h and returns the new head. It is the one
// definition of what a head is:
//   - state, sequences, time, event and reason come from the record;
//   - a process identity in the record replaces the one in the head;
//     entering Stopped or Absent clears both (nothing runs, and nothing
//     recorded may be signalled later);
//   - the deadline is the record's (zero clears it);
//   - a non-zero spec hash replaces the head's.
func (h Head) Apply(r Record) Head {
	h.VM = r.VM
	h.State = r.To
	h.Seq = r.Seq
	h.VMSeq = r.VMSeq
	h.Since = r.Time
	h.Event = r.Event
	h.Reason = r.Reason
	if !r.Agent.IsZero() {
		h.Agent = r.Agent
	}
	if !r.Driver.IsZero() {
		h.Driver = r.Driver
	}
	if r.To == states.Stopped || r.To == states.Absent {
		h.Agent, h.Driver = Proc{}, Proc{}
	}
	h.Deadline = r.Deadline
	if r.SpecHash != ([32]byte{}) {
		h.SpecHash = r.SpecHash
	}
	return h
}

// Fold folds a VM's records, oldest first, into its head.
func Fold(recs []Record) Head {
	var h Head
	for _, r := range recs {
		h = h.Apply(r)
	}
	return h
}
