//go:build unix

package fleet

import (
	"syscall"
	"time"
)

// processCPU is the CPU time (user and system) this process has used so
// far, all its threads: the benchmarks' CPU a transition; ok false where
// the OS does not say.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
