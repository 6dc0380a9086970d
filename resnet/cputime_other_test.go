//go:build !unix

package resnet

import "time"

// processCPUTime is not measured here.
func processCPUTime() time.Duration { return 0 }
