package agentsim

import (
	"errors"
	"fmt"
)

// ErrPIDFileInUse means the pid file names a live process: another agent
// owns the instance.
var ErrPIDFileInUse = errors.New("pid file names a live process")

// ErrStartFailed is the exit error of an agent told to fail at start
// (LIFELINE_SIM_FAIL_START).
var ErrStartFailed = errors.New("simulated start failure")

// ErrCrashed is the exit error of an agent told to crash
// (LIFELINE_SIM_CRASH_AFTER).
var ErrCrashed = errors.New("simulated crash")

// ErrDriverExited means the driver child exited while nobody asked it to.
var ErrDriverExited = errors.New("driver child exited unexpectedly")

// ErrDriverSurvived means the driver child outlived SIGKILL and its bounded
// wait.
var ErrDriverSurvived = errors.New("driver child survived the kill")

// KnobError is a LIFELINE_SIM_* variable whose value does not parse.
// Commands report it as a usage error (exit 2).
type KnobError struct {
	Name  string // the variable
	Value string // its value
	Want  string // what a valid value looks like
}

func (e *KnobError) Error() string {
	return fmt.Sprintf("%s=%q: want %s", e.Name, e.Value, e.Want)
}

// ErrInvalidOptions means [Options] lack something required: a usage error.
var ErrInvalidOptions = errors.New("invalid options")
