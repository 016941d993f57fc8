package store

import (
	"encoding/hex"
	"fmt"
	"time"

	"github.com/lifeline-vm/lifeline/identity"
	"github.com/lifeline-vm/lifeline/states"
)

// Proc is a process identity as the log keeps it: pid, the OS's start time
// of that pid, its group, and the machine's boot id (see [identity.Proc]).
// A zero PID means none. It is the drivers' Proc too: what a driver reports
// is recorded as it is. The encoding writes PID and Group as signed varints,
// as when they were int64 here.
type Proc = identity.Proc

// Record is one transition of one VM. Seq, VMSeq and Boot are assigned by
// the store when the record is appended; the caller fills the rest.
type Record struct {
	Seq   uint64       `json:"seq"`   // global sequence, strictly increasing across all VMs, from 1
	VMSeq uint64       `json:"vmSeq"` // this VM's sequence, contiguous from 1 (across delete and re-create)
	VM    string       `json:"vm"`
	Event states.Event `json:"event"`
	From  states.State `json:"from"`
	To    states.State `json:"to"`
	Time  time.Time    `json:"time"` // when the engine decided (its clock), UTC, ns precision
	Boot  uint64       `json:"boot"` // the daemon boot that wrote it
	// Agent and VMProcess are the processes the record is about: the
	// host agent and, where separate, the process that runs the VM (Lima's
	// QEMU; its JSON name "driver" is Lima's and stays).
	Agent     Proc `json:"hostAgent,omitzero"`
	VMProcess Proc `json:"driver,omitzero"`
	// Deadline is when the state entered must be left: the graceful
	// deadline of Stopping, the start deadline of Starting. Zero if none.
	Deadline time.Time `json:"deadline,omitzero"`
	// Cause is why the transition happened, as data.
	Cause Cause `json:"cause,omitzero"`
	// Reason is the cause's sentence (Cause.Render with the record's
	// event), which the store fills in: a writer sets Cause, and leaves
	// Reason empty or sets it to that sentence. A record of encoding
	// version 1 reads back with the sentence it was written with.
	Reason string `json:"reason,omitempty"`
	// SpecHash is set on records that change the VM's spec (create, update).
	SpecHash SpecHash `json:"specHash,omitzero"`
}

// SpecHash is the SHA-256 of a VM's spec; it prints and marshals as hex.
type SpecHash [32]byte

// IsZero reports whether no hash is set.
func (h SpecHash) IsZero() bool { return h == SpecHash{} }

func (h SpecHash) String() string { return hex.EncodeToString(h[:]) }

// MarshalText implements encoding.TextMarshaler (hex).
func (h SpecHash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler (hex).
func (h *SpecHash) UnmarshalText(b []byte) error {
	if len(b) != 2*len(h) {
		return fmt.Errorf("spec hash: want %d hex digits, got %d", 2*len(h), len(b))
	}
	_, err := hex.Decode(h[:], b)
	return err
}

// Head is a VM's current state, kept in the same transaction as its last
// record so that loading many VMs does not fold many logs. A head always
// equals [Fold] of the VM's records.
type Head struct {
	VM        string
	State     states.State
	Seq       uint64 // global sequence of the last record
	VMSeq     uint64 // per-VM sequence of the last record
	Since     time.Time
	Event     states.Event // the event of the last record
	Cause     Cause        // the cause of the last record
	Reason    string       // the reason of the last record
	Agent     Proc
	VMProcess Proc
	Deadline  time.Time
	SpecHash  SpecHash
}

// Apply folds one record into h and returns the new head. It is the one
// definition of what a head is:
//   - state, sequences, time, event, cause and reason come from the record;
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
	h.Cause = r.Cause
	h.Reason = r.Reason
	if !r.Agent.IsZero() {
		h.Agent = r.Agent
	}
	if !r.VMProcess.IsZero() {
		h.VMProcess = r.VMProcess
	}
	if r.To == states.Stopped || r.To == states.Absent {
		h.Agent, h.VMProcess = Proc{}, Proc{}
	}
	h.Deadline = r.Deadline
	if !r.SpecHash.IsZero() {
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
