// Package identity holds [Proc], the one type that names a process across
// daemon restarts and pid reuse. Drivers report it (drivers.Proc), the store
// records it (store.Proc), and the engine passes it from one to the other
// unchanged: both names are aliases of this type, and this package imports
// nothing, so that the store need not import the driver contract nor the
// drivers the store.
package identity

// Proc names one process across daemon restarts and pid reuse: its pid, the
// time it started (as the OS reports it, in the OS's own unit, so two reads
// compare equal), its process group (or job) and the machine's boot id
// where the OS has one. A zero PID means "no process". The JSON names are
// the store's (its JSON of a record, replay's dumps).
type Proc struct {
	PID       int    `json:"pid"`
	StartTime uint64 `json:"startTime"`
	Group     int    `json:"group"`
	BootID    string `json:"bootID,omitempty"`
}

// IsZero reports whether p names no process.
func (p Proc) IsZero() bool { return p.PID == 0 }
