//go:build !linux

package process

import (
	"errors"
	"fmt"
)

// scan walks /proc, which only Linux has.
func scan(func(pid int) bool) ([]Info, error) {
	return nil, fmt.Errorf("scan the process table: %w", errors.ErrUnsupported)
}
