package powercut

import (
	"encoding/json"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/store"
)

// Line is one report of the guest program (./guest) to the host: one JSON
// line on the guest's second serial port. K says which fields are set.
type Line struct {
	K string `json:"k"`
	// work: "ready" (the daemon answers), "intent" (a template about to
	// be sent: Op, VM, SHA), "cmd" (a command's answer: Op, VM, Seq,
	// State), "file" (a file read back after the answer of command Seq:
	// VM, Path, SHA, Size; or Op "backup": a `lifeline backup` file), "rec" (a committed record from the event
	// stream: Rec).
	// audit: "boot" (BootID), "manifest" (Path, SHA, Size; Out holds a pid
	// file's content), "nodb" (no database file, or an empty one), "bolt"
	// and "verify" (Err, Out), "log" (a record of the cut database: Rec),
	// "after" (a record recovery wrote: Rec), "final" (VMs), "done".
	// Both: "error" (Err).
	Op     string        `json:"op,omitempty"`
	VM     string        `json:"vm,omitempty"`
	Seq    uint64        `json:"seq,omitempty"`
	State  string        `json:"state,omitempty"`
	Path   string        `json:"path,omitempty"`
	SHA    string        `json:"sha,omitempty"`
	Size   int64         `json:"size,omitempty"`
	Rec    *store.Record `json:"rec,omitempty"`
	BootID string        `json:"bootID,omitempty"`
	Err    string        `json:"err,omitempty"`
	Out    string        `json:"out,omitempty"`
	VMs    []api.VM      `json:"vms,omitempty"`
}

// parseLine decodes one report line.
func parseLine(b []byte) (Line, error) {
	var l Line
	err := json.Unmarshal(b, &l)
	return l, err
}
