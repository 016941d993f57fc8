package engine

import (
	"errors"
	"fmt"

	"github.com/lifeline-vm/lifeline/states"
	"github.com/lifeline-vm/lifeline/store"
)

// ErrNotFound is returned for a VM name the engine does not know. It
// wraps [store.ErrNotFound]: errors.Is holds for the engine's sentinel and
// the store's, so a caller of either layer tests one value.
var ErrNotFound error = notFoundError{}

type notFoundError struct{}

func (notFoundError) Error() string { return "no such vm" }
func (notFoundError) Unwrap() error { return store.ErrNotFound }

// ErrExists is returned by Create for a name already in use.
var ErrExists = errors.New("vm already exists")

// ErrInvalidName is returned for a name that breaks the rule every driver
// shares (see ValidateName).
var ErrInvalidName = errors.New("invalid vm name")

// ErrInvalidSpec is wrapped by every refusal of a spec (an
// *InvalidSpecError, or the driver's own check): nothing was recorded.
var ErrInvalidSpec = errors.New("invalid spec")

// ErrInvalidStop is wrapped by the refusal of a stop's options (a grace
// period out of range, or with force); nothing is recorded.
var ErrInvalidStop = errors.New("invalid stop request")

// ErrClosed is returned by every command after Close or Shutdown.
var ErrClosed = errors.New("engine closed")

// ErrShuttingDown is returned by every command (and by the engine's own
// starts: a restart the policy scheduled, the restart an update asked for)
// once [Engine.Shutdown] has begun: a VM started then would outlive the
// stop of all VMs. The log keeps what was due (a backoff's deadline, an
// update's restart), and the next Open carries it out.
var ErrShuttingDown = errors.New("shutting down: no new command is taken")

// ErrLeftLive is returned by [Engine.Shutdown] for each VM it could not
// bring out of a live state (its agent survived the kill, or ctx ended
// first): the shutdown was not clean.
var ErrLeftLive = errors.New("left live by the shutdown")

// ErrStillAlive is returned by Reset and Delete when a process recorded for
// the VM still runs: force-stop it first.
var ErrStillAlive = errors.New("vm processes still alive")

// ErrSubscriberTooSlow ends a subscription whose reader fell too far behind.
var ErrSubscriberTooSlow = errors.New("subscriber too slow")

// RejectedError is returned for a command that the VM's state does not
// allow (stop a Stopped VM, delete a Running one): the event the command
// would have recorded and the state that refused it. It wraps the table's
// *states.InvalidTransitionError.
type RejectedError struct {
	VM    string
	State states.State
	Event states.Event
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("vm %q: %s rejected: vm is %s", e.VM, e.Event, e.State)
}

// Unwrap returns the table's error.
func (e *RejectedError) Unwrap() error {
	return &states.InvalidTransitionError{VM: e.VM, From: e.State, Event: e.Event}
}
