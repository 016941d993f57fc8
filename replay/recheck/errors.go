package recheck

import (
	"errors"
	"fmt"
)

// ErrDivergence is wrapped by the error of [Check] when today's engine
// decides differently from the recorded history. See [DivergenceError].
var ErrDivergence = errors.New("today's engine diverges from the recorded history")

// DivergenceError is returned by [Check] when the replay diverged. The
// report was printed; D says where.
type DivergenceError struct {
	Path string
	D    Divergence
}

func (e *DivergenceError) Error() string {
	return fmt.Sprintf("check %s: %s", e.Path, e.D.Summary())
}

// Unwrap returns [ErrDivergence].
func (e *DivergenceError) Unwrap() error { return ErrDivergence }
