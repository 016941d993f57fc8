package process

import (
	"fmt"
	"strings"

	"github.com/lifeline-vm/lifeline/drivers"
)

var _ drivers.SpecValidator = (*Driver)(nil)

// ValidateSpec is the driver's check of a spec before the engine records
// it, so that no spec is recorded that Spawn would refuse later:
//
//   - name: usable as a run directory (see RunDir);
//   - template: empty (a template is Lima's section of the spec);
//   - command: a program, spec.Command[0], unless the Driver has its own
//     Command; no argument holds NUL (the OS cannot pass it);
//   - ready: empty or "agent" (a command has no readiness protocol: it
//     counts as up once it runs).
//
// Each error wraps ErrBadSpec and starts with the field's name.
func (d *Driver) ValidateSpec(vm string, spec drivers.Spec) error {
	if _, err := d.RunDir(vm); err != nil {
		return fmt.Errorf("name: %w: %w", ErrBadSpec, err)
	}
	if len(spec.Template) > 0 {
		return fmt.Errorf("template: %w: a template is for lima VMs; a command VM runs its command", ErrBadSpec)
	}
	switch {
	case len(spec.Command) == 0 && len(d.Command) == 0:
		return fmt.Errorf("command: %w: empty: give the program and its arguments", ErrBadSpec)
	case len(spec.Command) > 0 && spec.Command[0] == "":
		return fmt.Errorf("command: %w: the program (the first argument) is empty", ErrBadSpec)
	}
	for i, a := range spec.Command {
		if strings.ContainsRune(a, 0) {
			return fmt.Errorf("command: %w: argument %d contains NUL", ErrBadSpec, i)
		}
	}
	switch spec.Ready {
	case "", "agent":
	default:
		return fmt.Errorf("ready: %w: %q: a command has no readiness protocol; it is up once it runs (want %q or empty)", ErrBadSpec, spec.Ready, "agent")
	}
	return nil
}
