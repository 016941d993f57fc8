package client

import (
	"context"
	"errors"

	"github.com/lifeline-vm/lifeline/api"
)

// Error is the daemon's refusal of a request, or the reason it ended an
// events stream: its code (branch on it), the VM and its state, and a
// message for people.
type Error struct {
	api.ErrorBody
	// StatusCode is the HTTP status of the answer; 0 for the end of an
	// events stream, which the daemon had begun with 200.
	StatusCode int
	// ResumeSeq is, for the end of an events stream, the sequence to
	// pass as Since to go on without a gap.
	ResumeSeq uint64
}

func (e *Error) Error() string { return e.Message }

// ErrNotFound is the client's sentinel for a VM the daemon does not have
// (api.CodeNotFound): errors.Is(err, ErrNotFound) holds for the daemon's
// *Error with that code, as it does for engine.ErrNotFound and
// store.ErrNotFound in the layers below.
var ErrNotFound = errors.New("no such vm")

// Is reports whether target is the sentinel of e's code ([ErrNotFound]).
func (e *Error) Is(target error) bool {
	return target == ErrNotFound && e.Code == api.CodeNotFound
}

// ErrorCode returns the code of the daemon's error in err's chain, or ""
// when err is not the daemon's refusal.
func ErrorCode(err error) api.Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// IsRejected reports whether the VM's state did not allow the command
// (api.CodeRejected), or a process of the VM still runs so a reset or
// delete cannot go on (api.CodeStillAlive): the CLI's exit 3.
func IsRejected(err error) bool {
	c := ErrorCode(err)
	return c == api.CodeRejected || c == api.CodeStillAlive
}

// IsNotFound reports whether the VM does not exist (api.CodeNotFound).
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// IsTimeout reports whether a wait ran out: the daemon's (api.CodeTimeout)
// or the caller's context deadline.
func IsTimeout(err error) bool {
	return ErrorCode(err) == api.CodeTimeout || errors.Is(err, context.DeadlineExceeded)
}

// ImportError is the error of one VM of an import (its ImportResult's
// Error) as an *Error, for IsNotFound and the others; nil when it was
// imported.
func ImportError(r api.ImportResult) error {
	if r.Error == nil {
		return nil
	}
	return &Error{ErrorBody: *r.Error}
}
