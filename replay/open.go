package replay

import (
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/lifeline-vm/lifeline/store"
)

// DefaultLockTimeout is how long [Open] waits for the file's lock before it
// reports the file as held ([HeldError]).
const DefaultLockTimeout = 250 * time.Millisecond

// Options configure [Open].
type Options struct {
	// Location is the zone times print in. Default time.Local.
	Location *time.Location
	// LockTimeout is how long to wait for the file's lock. Default
	// DefaultLockTimeout.
	LockTimeout time.Duration
}

// DB is a database opened for replay: read-only, never changed.
type DB struct {
	st   *store.Store
	path string
	loc  *time.Location
}

// Open opens the database at path read-only. A file held by a live daemon
// is a *HeldError; a file that is not a lifeline database wraps
// store.ErrNotDatabase; one written by a newer build wraps
// store.ErrNewerSchema.
func Open(path string, o Options) (*DB, error) {
	if o.Location == nil {
		o.Location = time.Local
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = DefaultLockTimeout
	}
	var st *store.Store
	err := guard(func() (err error) {
		// A file whose values are damaged opens: reading what is left is
		// replay's job. One whose page structure is damaged does not
		// (store.DamagedError names the damage and the salvage).
		st, err = store.OpenReadOnly(path, store.Options{Timeout: o.LockTimeout, AllowDamage: true})
		return err
	})
	var locked *store.LockedError
	if errors.As(err, &locked) {
		return nil, &HeldError{Path: path, PID: locked.PID, Err: err}
	}
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	return &DB{st: st, path: path, loc: o.Location}, nil
}

// Close closes the file. The file is as it was before Open.
func (d *DB) Close() error { return d.st.Close() }

// Path returns the file's path as given to Open.
func (d *DB) Path() string { return d.path }

// Store returns the read-only store under d, for callers that need the
// store's own read API.
func (d *DB) Store() *store.Store { return d.st }

// Location returns the zone times print in ([Options.Location]).
func (d *DB) Location() *time.Location { return d.loc }

// Records calls fn with every record from fromSeq on, in global order. A
// damaged file's panic or fault is an error wrapping store.ErrCorrupt, and
// so is a records bucket whose keys go back.
func (d *DB) Records(fromSeq uint64, fn func(store.Record) error) error {
	return d.records(fromSeq, fn)
}

// Boots returns every boot, oldest first; a damaged file's panic or fault
// is an error wrapping store.ErrCorrupt.
func (d *DB) Boots() ([]store.Boot, error) { return d.boots() }

// guard runs f and turns a panic or a memory fault inside it (bbolt
// reading a file whose page structure is damaged) into an error that
// wraps store.ErrCorrupt, so that a bad file is reported, never a crash.
func guard(f func() error) (err error) {
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if p := recover(); p != nil {
			err = corruptf("the file's page structure is damaged (bbolt: %v)", p)
		}
	}()
	return f()
}

// records streams every record from fromSeq on, guarded. Sequences must
// increase: a damaged records bucket whose keys go back would otherwise
// make the store's chunked scan read the same records forever.
func (d *DB) records(fromSeq uint64, fn func(store.Record) error) error {
	var last uint64
	return guard(func() error {
		return d.st.Records(fromSeq, func(r store.Record) error {
			if r.Seq <= last {
				return corruptf("records: #%d follows #%d: the records bucket's key order is damaged", r.Seq, last)
			}
			last = r.Seq
			return fn(r)
		})
	})
}

// vmRecords streams vm's records, guarded; a VM never created is
// ErrNoSuchVM.
func (d *DB) vmRecords(vm string, fn func(store.Record) error) error {
	err := guard(func() error { return d.st.VMRecords(vm, 1, fn) })
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("vm %q: %w", vm, ErrNoSuchVM)
	}
	return err
}

// boots returns every boot, guarded.
func (d *DB) boots() (bs []store.Boot, err error) {
	err = guard(func() (err error) {
		bs, err = d.st.Boots()
		return err
	})
	return bs, err
}

// heads returns every head, guarded.
func (d *DB) heads() (hs []store.Head, err error) {
	err = guard(func() (err error) {
		hs, err = d.st.Heads()
		return err
	})
	return hs, err
}

// bootIndex finds boots by number.
type bootIndex []store.Boot

// get returns boot n, ok false if the database has none.
func (bi bootIndex) get(n uint64) (store.Boot, bool) {
	// Boots are numbered from 1 without gaps in a sound file; fall back to
	// a search for one that is not.
	if n >= 1 && n <= uint64(len(bi)) && bi[n-1].Number == n {
		return bi[n-1], true
	}
	for _, b := range bi {
		if b.Number == n {
			return b, true
		}
	}
	return store.Boot{}, false
}

// last returns the number of the last boot, 0 if none.
func (bi bootIndex) last() uint64 {
	if len(bi) == 0 {
		return 0
	}
	return bi[len(bi)-1].Number
}

// Started returns when the database's first daemon boot started, the zero
// time if it has none (or its boots do not read). Times of day given on
// the command line count from its date ([ParseTime]).
func (d *DB) Started() time.Time {
	bs, err := d.boots()
	if err != nil || len(bs) == 0 {
		return time.Time{}
	}
	return bs[0].Started
}
