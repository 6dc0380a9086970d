package cpu

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// kernelSet is one consistent choice of kernels, all of them written for one instruction set: the
// SGEMM micro-kernel with its packing and epilogue, and the row and vector kernels. Every kernel the
// package runs is taken from the active set, so that capping the set (PLP_CPU) caps every kernel.
//
// A nil function means the pure-Go twin: an instruction set can be brought up one kernel at a time.
type kernelSet struct {
	name         string
	gemm         *microKernel
	dot          func(x, y []float32) float32
	axpy         func(alpha float32, x, y []float32)
	scale        func(alpha float32, x []float32)
	sum          func(x []float32) float32
	maxVal       func(x []float32) float32
	expSub       func(dst, x []float32, m float32) float32
	gelu         func(dst, x []float32)
	quickGelu    func(dst, x []float32)
	layerNorm    func(dst, x, w, b []float32, eps float32)
	depthwiseRow func(dst, src []float32, ld, ps int, w, bias []float32, c, kh, kw, wo, stride int)
}

// goSet holds the pure-Go twins, the reference every other set is tested against; every CPU runs it.
var goSet = &kernelSet{
	name: "go", gemm: goKernel,
	dot: dotGo, axpy: axpyGo, scale: scaleGo, sum: sumGo, maxVal: maxValGo, expSub: expSubGo,
	gelu: geluGo, quickGelu: quickGeluGo, layerNorm: layerNormGo, depthwiseRow: depthwiseRowGo,
}

// kernelSetNames are the names PLP_CPU accepts, lowest instruction set first within each architecture.
var kernelSetNames = []string{"go", "avx2", "avx512", "neon"}

// Each architecture provides
//
//	func cpuKernelSets() []*kernelSet
//
// in kernel_<arch>.go: the sets this CPU can run, fastest first, leaving out goSet, which dispatch
// appends. kernel_other.go returns none (pure Go). A set's nil kernels are filled with the Go twins.

// active is the kernel set in use and kernel its SGEMM micro-kernel; both are set at start-up (and by
// tests, between runs), never while kernels run.
var (
	active *kernelSet
	kernel *microKernel
)

func init() {
	useKernelSet(chooseKernelSet(os.Getenv("PLP_CPU"), os.Stderr))
}

// supportedSets returns the sets this CPU runs, fastest first, goSet last, with nil kernels filled in.
func supportedSets() []*kernelSet {
	sets := append(cpuKernelSets(), goSet)
	for _, s := range sets {
		s.fill()
	}
	return sets
}

// fill replaces s's nil kernels with the Go twins.
func (s *kernelSet) fill() {
	g := goSet
	if s.gemm == nil {
		s.gemm = g.gemm
	}
	if s.dot == nil {
		s.dot = g.dot
	}
	if s.axpy == nil {
		s.axpy = g.axpy
	}
	if s.scale == nil {
		s.scale = g.scale
	}
	if s.sum == nil {
		s.sum = g.sum
	}
	if s.maxVal == nil {
		s.maxVal = g.maxVal
	}
	if s.expSub == nil {
		s.expSub = g.expSub
	}
	if s.gelu == nil {
		s.gelu = g.gelu
	}
	if s.quickGelu == nil {
		s.quickGelu = g.quickGelu
	}
	if s.layerNorm == nil {
		s.layerNorm = g.layerNorm
	}
	if s.depthwiseRow == nil {
		s.depthwiseRow = g.depthwiseRow
	}
}

// chooseKernelSet returns the set PLP_CPU = want selects: the fastest the CPU runs when want is empty;
// the named set when the CPU runs it; else, for a set the CPU lacks (avx512 on an AVX2 CPU, neon on
// x86) or for an unknown name, the fastest the CPU runs, after saying so on msg. It never picks a set
// the CPU cannot run.
func chooseKernelSet(want string, msg io.Writer) *kernelSet {
	sets := supportedSets()
	want = strings.ToLower(strings.TrimSpace(want))
	if want == "" {
		return sets[0]
	}
	for _, s := range sets {
		if s.name == want {
			return s
		}
	}
	if slices.Contains(kernelSetNames, want) {
		fmt.Fprintf(msg, "plp: PLP_CPU=%s: this CPU cannot run the %s kernels; using %s\n", want, want, sets[0].name)
	} else {
		fmt.Fprintf(msg, "plp: PLP_CPU=%q is not a kernel set (want one of %s); using %s\n", want, strings.Join(kernelSetNames, ", "), sets[0].name)
	}
	return sets[0]
}

func useKernelSet(s *kernelSet) {
	active = s
	kernel = s.gemm
}

// KernelSet names the kernel set in use: "go", "avx2", "avx512" or "neon". It is the fastest set the
// CPU runs unless the environment variable PLP_CPU names a lower one; PLP_CPU=go runs the pure-Go
// twins on any machine.
func KernelSet() string { return active.name }

// SupportedKernelSets names the kernel sets this CPU runs, fastest first; "go" is always last.
func SupportedKernelSets() []string {
	var names []string
	for _, s := range supportedSets() {
		names = append(names, s.name)
	}
	return names
}

// setKernelSet makes the named set active and returns a function restoring the previous one; it is
// for tests, which must not run kernels meanwhile. It panics if the CPU does not run the set.
func setKernelSet(name string) (restore func()) {
	prev := active
	for _, s := range supportedSets() {
		if s.name == name {
			useKernelSet(s)
			return func() { useKernelSet(prev) }
		}
	}
	panic(fmt.Sprintf("cpu: kernel set %q not supported here", name))
}

func dot(x, y []float32) float32                 { return active.dot(x, y) }
func axpy(alpha float32, x, y []float32)         { active.axpy(alpha, x, y) }
func scale(alpha float32, x []float32)           { active.scale(alpha, x) }
func sum(x []float32) float32                    { return active.sum(x) }
func maxVal(x []float32) float32                 { return active.maxVal(x) }
func expSub(dst, x []float32, m float32) float32 { return active.expSub(dst, x, m) }
func gelu(dst, x []float32)                      { active.gelu(dst, x) }
func quickGelu(dst, x []float32)                 { active.quickGelu(dst, x) }
func layerNorm(dst, x, w, b []float32, eps float32) {
	active.layerNorm(dst, x, w, b, eps)
}
func depthwiseRow(dst, src []float32, ld, ps int, w, bias []float32, c, kh, kw, wo, stride int) {
	active.depthwiseRow(dst, src, ld, ps, w, bias, c, kh, kw, wo, stride)
}
