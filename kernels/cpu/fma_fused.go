//go:build arm64

package cpu

// fma32 returns a·b + c rounded once to float32 (see fma_exact.go). The Go compiler fuses a float32
// a·b + c into one FMADDS instruction on arm64, which is what the vector kernels compute;
// TestKernelSetsAgreeBitwise and TestFma32 check that it did.
func fma32(a, b, c float32) float32 { return a*b + c }
