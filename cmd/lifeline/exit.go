package main

import (
	"errors"

	"github.com/lifeline-vm/lifeline/api"
	"github.com/lifeline-vm/lifeline/client"
)

// Exit codes, documented in the package doc and the README.
const (
	exitOK       = 0
	exitError    = 1
	exitUsage    = 2
	exitRejected = 3
	exitTimeout  = 4
)

// usageError marks a bad command line.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }

func (e usageError) Unwrap() error { return e.err }

// timeoutError marks a wait that ran out on the client's side.
type timeoutError struct{ err error }

func (e timeoutError) Error() string { return e.err.Error() }

func (e timeoutError) Unwrap() error { return e.err }

func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ue usageError
	var te timeoutError
	var ae *client.Error
	switch {
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
