//go:build unix

package plan_test

import (
	"syscall"
	"time"
)

// processCPU is the CPU time (user + system) the process has used so far,
// on every thread: the planner's and, in these benchmarks, the in-process
// lab servers' and the garbage collector's.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
