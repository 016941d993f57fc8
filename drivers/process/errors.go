package process

import "errors"

// ErrGone means the recorded process no longer runs: it exited, or its pid
// now names an unrelated process (a different start time or boot id). Such a
// process is never signalled. Interrupt and Terminate return it wrapped;
// KillTree treats it as success.
var ErrGone = errors.New("process gone")

// ErrTimeout means a bounded wait ran out before the process (or its tree)
// exited. It never means success: the process may still run.
var ErrTimeout = errors.New("timed out waiting for exit")

// ErrAlive means an operation was refused because the recorded process still
// runs; Driver.Cleanup returns it rather than hide a live agent's files.
var ErrAlive = errors.New("process still running")

// ErrSurvived means the tree was sent the kill but some of it was still there
// when the bounded wait ran out. It wraps together with ErrTimeout.
var ErrSurvived = errors.New("process tree survived the kill")

// ErrBadPIDFile means a pid file exists but does not hold a pid.
var ErrBadPIDFile = errors.New("malformed pid file")

// ErrBadSpec is wrapped by ValidateSpec's refusals of a spec.
var ErrBadSpec = errors.New("invalid spec")
