//go:build !linux

package jpeg

import "testing"

// cpuTimer reports nothing where per-thread CPU time is not available.
func cpuTimer(b *testing.B) func() { return func() {} }
