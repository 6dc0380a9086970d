// Package cpu holds the float32 compute kernels of the CPU backend: a packed,
// cache-blocked, multi-threaded SGEMM (Sgemm, SgemmBatched, and
// SgemmEpilogue, which adds biases, a residual and an activation to each
// tile while it is in cache), the channels-last depthwise convolution row
// (DepthwiseRow), the LayerNorm row (LayerNorm) and the vector kernels behind
// softmax and the MLP activations (Dot, Axpy, Scale, Sum, MaxVal, ExpSub,
// Gelu, QuickGelu).
//
// Each kernel written in assembly has a pure-Go twin with the same contract,
// and the tests hold them to the same float64 reference and to each other
// bit for bit: the twins fuse multiply-adds and order their sums as the
// vector code does, so results do not depend on the CPU.
//
// The kernels come in sets, one per instruction set ("avx512", "avx2",
// "neon", and "go" for the twins), chosen once at start-up (dispatch.go):
// the fastest the CPU runs, or a lower one named by the environment
// variable PLP_CPU (PLP_CPU=avx2 on an AVX-512 machine runs every kernel as
// an AVX2 CPU would). KernelSet names the set in use, Features the SGEMM
// micro-kernel. Builds tagged purego use the Go twins.
//
// The kernels are internal building blocks: callers must pass consistent
// sizes and strides. A violated precondition is a programming error and
// panics with a message naming the argument.
package cpu
