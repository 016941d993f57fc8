package engine

import (
	"fmt"

	"github.com/lima-vm/lima/pkg/identifiers"
)

// ValidateName checks a VM name. A VM is a Lima instance, so its name
// follows Lima's own rule (pkg/identifiers): runs of ASCII letters and
// digits joined by single '.', '_' or '-', at most 76 characters. Such a
// name is always a safe path component: no "..", no "/", no control
// characters.
func ValidateName(name string) error {
	if err := identifiers.Validate(name); err != nil {
		return fmt.Errorf("%w %q: letters and digits joined by single '.', '_' or '-', at most 76 characters: %v", ErrInvalidName, printable(name), err)
	}
	return nil
}

// printable shortens and escapes a name for an error message.
func printable(s string) string {
	const max = 80
	if len(s) > max {
		return fmt.Sprintf("%.*s…", max, s)
	}
	return s
}
