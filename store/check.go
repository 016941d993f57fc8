package store

import (
	"errors"
	"fmt"
)

// maxProblems bounds how many problems Check lists; it counts the rest.
const maxProblems = 100

// Check runs [Store.Verify] and returns nil when it found no problem
// (warnings and notes are not problems), else an error joining every
// problem (up to 100, each a [Finding], which unwraps to the store's error
// under it: errors.Is(err, ErrCorrupt) holds for a value that does not
// decode).
func (s *Store) Check() error { return s.check(nil) }

// check is Check, not reporting the missing specs of specLost's VMs.
func (s *Store) check(specLost map[string]bool) error {
	var problems []error
	more := 0
	s.verify(VerifyOptions{}, specLost, func(f Finding) {
		switch {
		case f.Severity != Problem:
		case len(problems) < maxProblems:
			problems = append(problems, f)
		default:
			more++
		}
	})
	if len(problems) == 0 {
		return nil
	}
	if more > 0 {
		problems = append(problems, fmt.Errorf("and %d more problems", more))
	}
	return fmt.Errorf("check %s: %w", s.path, errors.Join(problems...))
}
