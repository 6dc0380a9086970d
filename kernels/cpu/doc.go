// Package cpu holds the float32 compute kernels of the CPU backend: a packed,
// cache-blocked, multi-threaded SGEMM (Sgemm, SgemmBatched, and
// SgemmEpilogue, which adds biases, a residual and an activation to each
// tile while it is in cache), the channels-last depthwise convolution row
// (DepthwiseRow), the LayerNorm row (LayerNorm) and the vector kernels behind
// softmax and the MLP activations (Dot, Axpy, Scale, Sum, MaxVal, ExpSub,
// Gelu, QuickGelu).
//
// Each kernel written in assembly has a pure-Go twin with the same contract,
// and the tests hold the two to the same float64 reference. On amd64 the
// assembly is chosen at start-up from the CPU features: AVX-512 for
// everything, else AVX2+FMA for SGEMM; other architectures and builds
// tagged purego use the Go twins. Features names the SGEMM kernel chosen.
//
// The kernels are internal building blocks: callers must pass consistent
// sizes and strides. A violated precondition is a programming error and
// panics with a message naming the argument.
package cpu
