//go:build linux || darwin

package cpu

import (
	"syscall"
	"time"
)

// processCPUTime is the user plus system time this process has used; on a
// machine shared with other jobs it measures throughput per busy core.
func processCPUTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
