//go:build (!amd64 && !arm64) || purego

package cpu

// cpuKernelSets returns no sets: other architectures, and builds tagged purego, run the Go twins.
func cpuKernelSets() []*kernelSet { return nil }
