package recheck

import (
	"errors"
	"fmt"

	"github.com/lifeline-vm/lifeline/replay/internal/text"
	"github.com/lifeline-vm/lifeline/store"
)

// corruptf makes an error about the database that wraps store.ErrCorrupt.
func corruptf(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), store.ErrCorrupt)
}

// errStop ends a scan early without an error.
var errStop = errors.New("stop")

// How times, durations, counts and transitions print: one way for replay
// and replay check (replay/internal/text).
var (
	clock      = text.Clock
	when       = text.When
	dur        = text.Duration
	plural     = text.Plural
	transition = text.Transition
)
