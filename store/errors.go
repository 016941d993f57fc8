package store

import (
	"errors"
	"fmt"
)

// ErrClosed is returned by a Store's methods after [Store.Close] or
// [Store.Crash], and by appends still queued when Crash was called.
var ErrClosed = errors.New("store closed")

// ErrReadOnly is returned by writes to a Store opened with [OpenReadOnly].
var ErrReadOnly = errors.New("store is read-only")

// ErrNotFound is returned when a VM or its spec does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned by [Store.Append] when the record's From is not
// the VM's current state: another writer moved the VM first.
var ErrConflict = errors.New("record conflicts with the VM's head")

// ErrInvalidRecord is returned by [Store.Append] for a record that is not
// well-formed: no VM name, an undeclared event or state, a To that is not
// where the event leads, a time out of range. A move the transition table
// forbids is a *states.InvalidTransitionError instead.
var ErrInvalidRecord = errors.New("invalid record")

// ErrCorrupt is wrapped by every error about a value in the file that does
// not decode or whose checksum does not match. See [CorruptError].
var ErrCorrupt = errors.New("corrupt")

// ErrNotDatabase is returned by [Open] and [OpenReadOnly] for a file that
// is not a lifeline database (not bbolt, or bbolt without lifeline's
// schema). The file is left as it was.
var ErrNotDatabase = errors.New("not a lifeline database")

// ErrNewerSchema is returned by [Open] and [OpenReadOnly] for a database
// written by a newer build, whose schema this build does not know. The file
// is left as it was.
var ErrNewerSchema = errors.New("schema newer than this build knows")

// ErrLocked is returned by [Open] and [OpenReadOnly] when another open of
// the file, in this process or another, holds its lock. See [LockedError].
var ErrLocked = errors.New("database locked")

// CorruptError says where a corrupt value is. It wraps [ErrCorrupt].
type CorruptError struct {
	Bucket string // the bucket: "records", "heads", "boots", "meta"
	Key    []byte // the raw key, nil when the bucket itself is missing
	Seq    uint64 // the record's global sequence (records) or boot number (boots), 0 if none
	VM     string // the VM the value belongs to, "" if unknown
	Reason string // what is wrong: "checksum mismatch", "missing bucket"
}

func (e *CorruptError) Error() string {
	where := e.Bucket
	switch {
	case e.Bucket == "records" && e.Seq != 0:
		where = fmt.Sprintf("record seq %d", e.Seq)
	case e.Bucket == "boots" && e.Seq != 0:
		where = fmt.Sprintf("boot %d", e.Seq)
	case e.Bucket == "heads" && e.VM != "":
		return fmt.Sprintf("store: head of vm %q: %s: %v", e.VM, e.Reason, ErrCorrupt)
	case e.Key != nil:
		where = fmt.Sprintf("%s key %x", e.Bucket, e.Key)
	}
	if e.VM != "" {
		where += fmt.Sprintf(" (vm %q)", e.VM)
	}
	return fmt.Sprintf("store: %s: %s: %v", where, e.Reason, ErrCorrupt)
}

// Unwrap returns [ErrCorrupt].
func (e *CorruptError) Unwrap() error { return ErrCorrupt }

// LockedError is the error of an open whose file stayed locked for
// [Options.Timeout]. It wraps [ErrLocked].
type LockedError struct {
	Path string
	// PID is the process holding the lock, as /proc/locks reports it on
	// Linux (this process's own pid when it opened the file twice). 0 when
	// unknown, and always 0 on other systems.
	PID int
}

func (e *LockedError) Error() string {
	if e.PID > 0 {
		return fmt.Sprintf("open %s: held by pid %d: %v", e.Path, e.PID, ErrLocked)
	}
	return fmt.Sprintf("open %s: %v", e.Path, ErrLocked)
}

// Unwrap returns [ErrLocked].
func (e *LockedError) Unwrap() error { return ErrLocked }
