package engine

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lifeline-vm/lifeline/drivers"
)

// The ready modes of drivers.Spec.Ready.
const (
	ReadyGuest = "guest"
	ReadyAgent = "agent"
)

// RestartNo is the default restart policy: a crashed VM stays Broken.
const RestartNo = "no"

// InvalidSpecError names the spec field that is refused and why. It wraps
// ErrInvalidSpec.
type InvalidSpecError struct {
	VM      string
	Field   string // "ready", "restart", "env", "gracefulTimeout"; empty when the driver refused
	Problem string
	Err     error // the driver's error (which names its field), if the driver refused
}

func (e *InvalidSpecError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("vm %q: invalid spec: %v (nothing was recorded)", e.VM, e.Err)
	}
	return fmt.Sprintf("vm %q: invalid spec: field %s: %s (nothing was recorded)", e.VM, e.Field, e.Problem)
}

// Unwrap returns ErrInvalidSpec and the driver's error.
func (e *InvalidSpecError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrInvalidSpec, e.Err}
	}
	return []error{ErrInvalidSpec}
}

// ValidateSpec checks the fields of a spec the engine and every driver
// share (drivers.Spec's documented values). The template is the driver's:
// see (*Engine).ValidateSpec.
//
//   - restart: "", "no" or "on-failure"
//   - ready: "", "guest" or "agent"
//   - env: keys non-empty, without '=' or NUL; values without NUL
//   - gracefulTimeout: 0 (the daemon's default) or MinGracefulTimeout..MaxGracefulTimeout
func ValidateSpec(name string, spec drivers.Spec) error {
	if spec.GracefulTimeout != 0 {
		if p := graceProblem(spec.GracefulTimeout); p != "" {
			return &InvalidSpecError{VM: name, Field: "gracefulTimeout", Problem: p}
		}
	}
	switch spec.Restart {
	case "", RestartNo, RestartOnFailure:
	default:
		return &InvalidSpecError{VM: name, Field: "restart", Problem: fmt.Sprintf("%q: want %q or %q", spec.Restart, RestartNo, RestartOnFailure)}
	}
	switch spec.Ready {
	case "", ReadyGuest, ReadyAgent:
	default:
		return &InvalidSpecError{VM: name, Field: "ready", Problem: fmt.Sprintf("%q: want %q or %q", spec.Ready, ReadyGuest, ReadyAgent)}
	}
	for k, v := range spec.Env {
		switch {
		case k == "":
			return &InvalidSpecError{VM: name, Field: "env", Problem: "empty variable name: want KEY=VALUE"}
		case strings.ContainsAny(k, "=\x00"):
			return &InvalidSpecError{VM: name, Field: "env", Problem: fmt.Sprintf("variable name %q contains '=' or NUL: want KEY=VALUE", printable(k))}
		case strings.ContainsRune(v, 0):
			return &InvalidSpecError{VM: name, Field: "env", Problem: fmt.Sprintf("value of %s contains NUL", printable(k))}
		}
	}
	return nil
}

// The bounds of a VM's graceful timeout (spec.GracefulTimeout) and of one
// stop's grace period: under a second no guest shuts down, and a stop that
// waits more than an hour is a typo (1h for 1m), not a shutdown.
const (
	MinGracefulTimeout = time.Second
	MaxGracefulTimeout = time.Hour
)

// graceProblem says what is wrong with a grace period, "" if nothing.
func graceProblem(d time.Duration) string {
	if d < MinGracefulTimeout || d > MaxGracefulTimeout {
		return fmt.Sprintf("%s is out of range: want %s to %s", shortDur(d), shortDur(MinGracefulTimeout), shortDur(MaxGracefulTimeout))
	}
	return ""
}

// shortDur is d without its zero minutes and seconds: 1h, 2m, 1h30m.
func shortDur(d time.Duration) string {
	s := d.String()
	if t, ok := strings.CutSuffix(s, "m0s"); ok {
		s = t + "m"
	}
	if t, ok := strings.CutSuffix(s, "h0m"); ok {
		s = t + "h"
	}
	return s
}

// ValidateSpec checks a VM name and spec the way Create and Update do
// before they record anything: the name rule, the shared fields
// (ValidateSpec), then the driver's own check when it has one
// (drivers.SpecValidator: Lima's template schema, its socket paths).
func (e *Engine) ValidateSpec(name string, spec drivers.Spec) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if err := ValidateSpec(name, spec); err != nil {
		return err
	}
	if v, ok := e.drv.(drivers.SpecValidator); ok {
		if err := v.ValidateSpec(name, spec); err != nil {
			var ise *InvalidSpecError
			if errors.As(err, &ise) {
				return err
			}
			return &InvalidSpecError{VM: name, Err: err}
		}
	}
	return nil
}
