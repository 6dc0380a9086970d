//go:build !unix

package tensor

import "time"

// processCPUTime is not measured here.
func processCPUTime() time.Duration { return 0 }
