// Package cpu holds the float32 compute kernels of the CPU backend: a packed,
// cache-blocked, multi-threaded SGEMM and the vector kernels behind softmax,
// layer norm and friends.
//
// Each kernel written in assembly has a pure-Go twin with the same contract.
// On amd64 the assembly kernels are chosen at start-up from the CPU features
// (AVX-512, else AVX2+FMA); other architectures and builds tagged purego use
// the Go twins. Features reports the choice.
//
// The kernels are internal building blocks: callers must pass consistent
// sizes and strides. A violated precondition is a programming error and
// panics with a message naming the argument.
package cpu
