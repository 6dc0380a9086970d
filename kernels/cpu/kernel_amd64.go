//go:build !purego

package cpu

import "golang.org/x/sys/cpu"

//go:noescape
func sgemmKernel14x32AVX512(k int, a, b, c *float32, ldc int, alpha, beta float32)

//go:noescape
func sgemmKernel14x32RowsAVX512(k int, a *float32, lda int, b, c *float32, ldc int, alpha, beta float32)

//go:noescape
func sgemmKernel6x16AVX2(k int, a, b, c *float32, ldc int, alpha, beta float32)

//go:noescape
func sgemmKernel6x16RowsAVX2(k int, a *float32, lda int, b, c *float32, ldc int, alpha, beta float32)

//go:noescape
func packPanelAVX512(dst, src *float32, idx *int32, k int, lo, hi, stlo, sthi uint16)

//go:noescape
func packCopyAVX512(dst, src *float32, ld, k int, lo, hi, stlo, sthi uint16)

//go:noescape
func packT32AVX512(dst, src *float32, ld, blocks int)

//go:noescape
func packT14AVX512(dst, src *float32, ld, blocks int)

var (
	hasAVX512 = cpu.X86.HasAVX512F
	hasAVX2   = cpu.X86.HasAVX2 && cpu.X86.HasFMA
)

var avx512Kernel = &microKernel{
	name: "avx512", mr: 14, nr: 32, mc: 14 * 8, kc: 256, nc: 1024,
	fn: sgemmKernel14x32AVX512, packRows: packRowsAVX512, packCols: packColsAVX512,
	fnRows: sgemmKernel14x32RowsAVX512, epilogue: epilogueAVX512,
	// Up to two column tiles, each A value meets too few columns of B to
	// repay packing it (ResNet's 7×7 channels-first maps, its 64-channel
	// channels-last convolutions); past that, 14 rows of A far apart in
	// memory crowd the B micro-panels out of L1 (BenchmarkSgemmInPlaceA).
	inPlaceMaxN: 64,
}

// packRowsAVX512 is packRowsGo in vector code: full 14- and 32-row panels
// are transposed in registers 16 columns at a time, and the rest gathered.
func packRowsAVX512(dst, src []float32, ld, rows, kc, w int) {
	if w > 32 || 32*ld > 1<<30 {
		packRowsGo(dst, src, ld, rows, kc, w)
		return
	}
	if blocks := kc / 16; blocks > 0 && rows == w && (w == 14 || w == 32) {
		if w == 32 {
			packT32AVX512(&dst[0], &src[0], ld, blocks)
		} else {
			packT14AVX512(&dst[0], &src[0], ld, blocks)
		}
		done := 16 * blocks
		if done == kc {
			return
		}
		dst, src, kc = dst[done*w:], src[done:], kc-done
	}
	var idx [32]int32
	for r := 0; r < rows; r++ {
		idx[r] = int32(r * ld)
	}
	rowMask := uint32(1)<<rows - 1
	storeMask := uint32(1)<<w - 1
	packPanelAVX512(&dst[0], &src[0], &idx[0], kc,
		uint16(rowMask), uint16(rowMask>>16), uint16(storeMask), uint16(storeMask>>16))
}

// packColsAVX512 is packColsGo with masked 16-lane moves, for w <= 32.
func packColsAVX512(dst, src []float32, ld, cols, kc, w int) {
	if w > 32 {
		packColsGo(dst, src, ld, cols, kc, w)
		return
	}
	colMask := uint32(1)<<cols - 1
	storeMask := uint32(1)<<w - 1
	packCopyAVX512(&dst[0], &src[0], ld, kc,
		uint16(colMask), uint16(colMask>>16), uint16(storeMask), uint16(storeMask>>16))
}

var avx2Kernel = &microKernel{
	name: "avx2+fma", mr: 6, nr: 16, mc: 6 * 16, kc: 256, nc: 512,
	fn: sgemmKernel6x16AVX2, epilogue: epilogueAVX2, packRows: packRowsAVX2, packCols: packColsAVX2,
	// Its six rows of A read in place sit in L1 beside the B micro-panels
	// at every width: in place was level with packing A or up to 15%
	// faster on the model shapes of BenchmarkSgemmInPlaceA.
	fnRows: sgemmKernel6x16RowsAVX2, inPlaceMaxN: 1 << 30,
}

//go:noescape
func packT16AVX2(dst, src *float32, ld, blocks int)

//go:noescape
func packT6AVX2(dst, src *float32, ld, blocks int)

//go:noescape
func packCopy16AVX2(dst, src *float32, ld, kc int)

//go:noescape
func packCopyAVX2(dst, src *float32, ld, w, kc, safe int, masks *[32]int32)

// packColsAVX2 is packColsGo in vector code: whole 16-column panels are copied, narrower ones (the
// 6-row micro-panels of a transposed A, the last columns of B) moved with masks.
func packColsAVX2(dst, src []float32, ld, cols, kc, w int) {
	switch {
	case cols == 16 && w == 16:
		packCopy16AVX2(&dst[0], &src[0], ld, kc)
	case w <= 16 && cols > 0:
		var masks [32]int32
		for j := 0; j < 16; j++ {
			if j < cols {
				masks[j] = -1
			}
			if j < w {
				masks[16+j] = -1
			}
		}
		// A row is stored as one vector (w <= 8) or two; rows whose store would spill past the end
		// of dst are stored masked.
		span := 8
		if w > 8 {
			span = 16
		}
		safe := 0
		if kc*w >= span {
			safe = min(kc, (kc*w-span)/w+1)
		}
		packCopyAVX2(&dst[0], &src[0], ld, w, kc, safe, &masks)
	default:
		packColsGo(dst, src, ld, cols, kc, w)
	}
}

// packRowsAVX2 is packRowsGo with whole 6- and 16-row panels transposed in registers eight columns at
// a time; the rest, and partial panels, run in Go.
func packRowsAVX2(dst, src []float32, ld, rows, kc, w int) {
	if blocks := kc / 8; blocks > 0 && rows == w && (w == 6 || w == 16) {
		if w == 16 {
			packT16AVX2(&dst[0], &src[0], ld, blocks)
		} else {
			packT6AVX2(&dst[0], &src[0], ld, blocks)
		}
		done := 8 * blocks
		if done == kc {
			return
		}
		dst, src, kc = dst[done*w:], src[done:], kc-done
	}
	packRowsGo(dst, src, ld, rows, kc, w)
}

// cpuKernelSets returns the AVX-512 and AVX2+FMA sets where the CPU has them.
func cpuKernelSets() []*kernelSet {
	var sets []*kernelSet
	if hasAVX512 {
		sets = append(sets, avx512Set)
	}
	if hasAVX2 {
		sets = append(sets, avx2Set)
	}
	return sets
}

var avx512Set = &kernelSet{
	name: "avx512", gemm: avx512Kernel,
	dot: dotAVX512, axpy: axpyAVX512, scale: scaleAVX512, sum: sumAVX512, maxVal: maxAVX512,
	expSub: expSubAVX512, gelu: geluAVX512, quickGelu: quickGeluAVX512,
	layerNorm: layerNormAVX512, depthwiseRow: depthwiseRowBlocksAVX512,
}

var avx2Set = &kernelSet{
	name: "avx2", gemm: avx2Kernel,
	dot: dotAVX2, axpy: axpyAVX2, scale: scaleAVX2, sum: sumAVX2, maxVal: maxAVX2,
	expSub: expSubAVX2, gelu: geluAVX2, quickGelu: quickGeluAVX2, layerNorm: layerNormAVX2,
	depthwiseRow: depthwiseRowBlocksAVX2,
}
