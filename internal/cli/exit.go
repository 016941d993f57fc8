package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/client"
	"github.com/lifeline-vm/lifeline/internal/cli/fastpath"
)

// Exit codes, documented in the package doc and the README.
const (
	exitOK       = 0
	exitError    = 1
	exitUsage    = 2
	exitRejected = 3
	exitTimeout  = 4
	// exitInterrupted is a command cut short by Ctrl-C (SIGINT) or
	// SIGTERM: 128 + SIGINT, as shells report it. Nothing is claimed about
	// the VM: what the daemon was doing goes on.
	exitInterrupted = 130
)

// usageError marks a bad command line.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }

func (e usageError) Unwrap() error { return e.err }

// timeoutError marks a wait that ran out on the client's side. VM and
// State, when set, name the VM and the state it was last seen in.
type timeoutError struct {
	err   error
	VM    string
	State api.State
}

func (e timeoutError) Error() string { return e.err.Error() }

func (e timeoutError) Unwrap() error { return e.err }

// vmError is a failure of a VM the CLI saw (it ended Broken instead of
// Running): exit 1, with the VM and its state for -o json.
type vmError struct {
	err   error
	VM    string
	State api.State
}

func (e vmError) Error() string { return e.err.Error() }

func (e vmError) Unwrap() error { return e.err }

// childExitError is the exit code of a child that printed its own error
// (the demo's lifelined run from a checkout): this process exits with it
// and prints nothing.
type childExitError struct{ code int }

func (e childExitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// interruptedError marks a command the user interrupted (Ctrl-C): not a
// timeout, not a failure of the VM.
type interruptedError struct{ err error }

func (e interruptedError) Error() string { return e.err.Error() }

func (e interruptedError) Unwrap() error { return e.err }

// interrupted tells whether ctx, the command's context, was cancelled by a
// signal (main's signal.NotifyContext) rather than a deadline of the
// command's own.
func interrupted(ctx context.Context) bool {
	return errors.Is(ctx.Err(), context.Canceled)
}

func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ue usageError
	var te timeoutError
	var ie interruptedError
	var ae *client.Error
	var me multiError
	var ce childExitError
	switch {
	case errors.As(err, &ce):
		return ce.code
	case errors.As(err, &me):
		return me.code()
	case errors.As(err, &ie):
		return exitInterrupted
	case errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &te):
		return exitTimeout
	case errors.As(err, &ae):
		switch ae.Code {
		case api.CodeRejected, api.CodeStillAlive:
			return exitRejected
		case api.CodeTimeout:
			return exitTimeout
		case api.CodeInvalid:
			return exitUsage
		}
	}
	return exitError
}

// errorJSON is an error as -o json prints it on stderr (the fast path's
// too).
type errorJSON = fastpath.ErrorJSON

// toErrorJSON is err as -o json prints it: the daemon's api code, or the
// CLI's own for a usage error, a timeout, an interrupt, no daemon.
func toErrorJSON(err error) errorJSON {
	e := errorJSON{Error: err.Error(), Code: api.CodeInternal, Exit: exitCode(err)}
	var ue usageError
	var te timeoutError
	var ie interruptedError
	var ae *client.Error
	var ve vmError
	switch {
	case errors.As(err, &ae):
		e.Code, e.VM, e.State = ae.Code, ae.VM, ae.State
	case errors.As(err, &te):
		e.Code, e.VM, e.State = api.CodeTimeout, te.VM, te.State
	case errors.As(err, &ve):
		e.Code, e.VM, e.State = codeEnded, ve.VM, ve.State
	case errors.As(err, &ie):
		e.Code = codeInterrupted
	case errors.As(err, &ue):
		e.Code = api.CodeInvalid
	case errors.Is(err, client.ErrNoDaemon):
		e.Code = codeNoDaemon
	}
	return e
}

// The CLI's own codes, beside the daemon's api codes.
const (
	codeInterrupted api.Code = "interrupted"
	codeNoDaemon    api.Code = "no_daemon"
	codeEnded       api.Code = "ended" // the VM settled in another state than the one waited for
)

// printError prints err for people, or, with -o json, as one errorJSON
// object.
func printError(w io.Writer, asJSON bool, err error) {
	if errors.As(err, new(childExitError)) {
		return
	}
	var me multiError
	if errors.As(err, &me) {
		// Each VM's error was printed with its result.
		if !asJSON {
			fmt.Fprintln(w, "lifeline:", err)
		}
		return
	}
	if asJSON {
		_ = writeJSONLine(w, toErrorJSON(err))
		return
	}
	fmt.Fprintln(w, "lifeline:", err)
}
