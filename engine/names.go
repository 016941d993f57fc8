package engine

import (
	"fmt"
)

// MaxNameLen is the longest VM name the engine accepts: a name becomes a
// file name and part of socket paths, whose length the OS bounds
// (UNIX_PATH_MAX), so it is kept short. It is Lima's instance name bound.
const MaxNameLen = 76

// ValidateName checks a VM name against the rule every driver shares: 1
// to MaxNameLen ASCII letters, digits, '.', '_' and '-', starting with a
// letter or a digit. Such a name is always a safe path component (no "/",
// no leading '.', so neither "." nor ".."; no control characters) and never
// reads as a command-line option. A driver may narrow the rule for its own
// VMs in its drivers.SpecValidator (Lima: runs of letters and digits joined
// by single separators).
func ValidateName(name string) error {
	const rule = "ASCII letters, digits, '.', '_' or '-', starting with a letter or digit, at most %d characters"
	bad := func(why string) error {
		return fmt.Errorf("%w %q: %s: want "+rule, ErrInvalidName, printable(name), why, MaxNameLen)
	}
	switch {
	case name == "":
		return bad("empty")
	case len(name) > MaxNameLen:
		return bad(fmt.Sprintf("%d characters", len(name)))
	case !isAlnum(name[0]):
		return bad(fmt.Sprintf("starts with %q", name[0]))
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !isAlnum(c) && c != '.' && c != '_' && c != '-' {
			return bad(fmt.Sprintf("character %q at %d", c, i))
		}
	}
	return nil
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// printable shortens and escapes a name for an error message.
func printable(s string) string {
	const max = 80
	if len(s) > max {
		return fmt.Sprintf("%.*s…", max, s)
	}
	return s
}
