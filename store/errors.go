package store

import (
	"errors"
	"fmt"
	"strings"
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

// ErrNotRegularFile is returned by [Open] and [OpenReadOnly] for a path
// that is a symlink, a directory, a device or anything else but a regular
// file. A symlink is never followed: the file is left as it was.
var ErrNotRegularFile = errors.New("not a regular file")

// DamagedError is the error of [Open] and [OpenReadOnly] for a lifeline
// database whose file is damaged: its page structure, a meta page, a
// checksum, a head or a live VM's last records. The file is left as it
// was. It wraps [ErrCorrupt].
type DamagedError struct {
	Path string
	// Problems are the first problems found (at most maxOpenProblems);
	// More counts the others.
	Problems []error
	More     int
	// Pages are the problems of the bbolt file itself (meta pages, page
	// structure), as opposed to lifeline's values in it; also in Problems.
	Pages []error
	// Unreadable is set when bbolt's page structure is damaged (not only
	// values in it): nothing but a salvage may read the file.
	Unreadable bool
}

// join returns the problems of e and f together; either may be nil.
func (e *DamagedError) join(f *DamagedError) *DamagedError {
	if e == nil {
		return f
	}
	out := *e
	for _, p := range f.Problems {
		if len(out.Problems) < maxOpenProblems {
			out.Problems = append(out.Problems, p)
		} else {
			out.More++
		}
	}
	out.More += f.More
	out.Pages = append(out.Pages[:len(out.Pages):len(out.Pages)], f.Pages...)
	out.Unreadable = out.Unreadable || f.Unreadable
	return &out
}

func (e *DamagedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "open %s: the database is damaged: ", e.Path)
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		if i == 3 {
			fmt.Fprintf(&b, "and %d more problems", len(e.Problems)-3+e.More)
			break
		}
		b.WriteString(p.Error())
	}
	if len(e.Problems) <= 3 && e.More > 0 {
		fmt.Fprintf(&b, "; and %d more problems", e.More)
	}
	fmt.Fprintf(&b, ". Nothing was changed. Copy every record that verifies into a new file with "+
		"`lifeline replay salvage --db %s NEW.db`, read what it lost, keep the damaged file, and move NEW.db in its place", e.Path)
	return b.String()
}

// Unwrap returns [ErrCorrupt].
func (e *DamagedError) Unwrap() error { return ErrCorrupt }
