package states

import (
	"errors"
	"fmt"
)

// ErrUnknownState is returned when a name or number is not a declared state.
var ErrUnknownState = errors.New("unknown state")

// ErrUnknownEvent is returned when a name or number is not a declared event.
var ErrUnknownEvent = errors.New("unknown event")

// InvalidTransitionError is returned by [Next] for a move the table does not
// allow. VM is empty when the caller did not name one.
type InvalidTransitionError struct {
	VM    string
	From  State
	Event Event
}

func (e *InvalidTransitionError) Error() string {
	if e.VM != "" {
		return fmt.Sprintf("vm %q: %s not allowed in state %s", e.VM, e.Event, e.From)
	}
	return fmt.Sprintf("%s not allowed in state %s", e.Event, e.From)
}
