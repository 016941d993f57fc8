package replay

import (
	"errors"
	"fmt"

	"github.com/lifeline-vm/lifeline/store"
)

// ErrProblems is wrapped by the error of [DB.Verify] when the database has
// problems. See [ProblemsError].
var ErrProblems = errors.New("database has problems")

// ErrNoSuchVM is returned for a VM name the database has never seen.
var ErrNoSuchVM = errors.New("no such vm in the database")

// HeldError is the error of [Open] for a database whose lock a live
// process (a running daemon) holds. It wraps [store.ErrLocked].
type HeldError struct {
	Path string
	PID  int // 0 when the system cannot tell
	Err  error
}

func (e *HeldError) Error() string {
	who := "a live lifeline daemon"
	if e.PID > 0 {
		who = fmt.Sprintf("a live process, pid %d (a running lifeline daemon?)", e.PID)
	}
	return fmt.Sprintf("%s is held by %s; replay reads a copy: run `lifeline backup FILE` and pass --db FILE", e.Path, who)
}

// Unwrap returns the store's *store.LockedError.
func (e *HeldError) Unwrap() error { return e.Err }

// ProblemsError is returned by [DB.Verify] when it found problems. The
// problems themselves were printed.
type ProblemsError struct {
	Path     string
	Problems int
	Warnings int
}

func (e *ProblemsError) Error() string {
	return fmt.Sprintf("verify %s: %d problem(s), %d warning(s)", e.Path, e.Problems, e.Warnings)
}

// Unwrap returns [ErrProblems].
func (e *ProblemsError) Unwrap() error { return ErrProblems }

// corruptf makes an error about the database that wraps store.ErrCorrupt.
func corruptf(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), store.ErrCorrupt)
}
