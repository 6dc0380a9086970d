//go:build !purego

package cpu

//go:noescape
func sgemmKernel12x8NEON(k int, a, b, c *float32, ldc int, alpha, beta float32)

// neonKernel keeps a 12×8 tile of C in 24 of the 32 vector registers. Eight columns divide the widths
// of the models (512, 768, 3072, channel counts), so whole tiles are the rule. kc = 256 as for every
// kernel: the k blocks are summed alike, so all sets give the same bits. A 12×256 micro-panel of A
// (12 KiB) and a 256×8 one of B stay in a 64 KiB L1; a 256×512 panel of B (512 KiB) fits the L2 of
// current cores.
var neonKernel = &microKernel{
	name: "neon", mr: 12, nr: 8, mc: 12 * 8, kc: 256, nc: 512,
	fn: sgemmKernel12x8NEON, packRows: packRowsNEON, packCols: packColsNEON, epilogue: epilogueNEON,
}

// neonSet is the Advanced SIMD (NEON) set, part of every ARMv8-A core, so no feature test guards it.
var neonSet = &kernelSet{
	name: "neon", gemm: neonKernel,
	dot: dotNEON, axpy: axpyNEON, scale: scaleNEON, sum: sumNEON, maxVal: maxValNEON,
	expSub: expSubNEON, gelu: geluNEON, quickGelu: quickGeluNEON, layerNorm: layerNormNEON,
	depthwiseRow: depthwiseRowNEON,
}

// cpuKernelSets returns the NEON set.
func cpuKernelSets() []*kernelSet { return []*kernelSet{neonSet} }
