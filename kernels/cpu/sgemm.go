package cpu

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// microKernel computes one mr×nr tile of C from packed panels:
//
//	C[i][j] = alpha·Σ_p a[p·mr+i]·b[p·nr+j] + beta·C[i][j]
//
// for p < k, with C rows ldc elements apart. beta == 0 leaves old C unread.
// a holds k·mr and b holds k·nr packed values; k may be 0.
type microKernel struct {
	name       string
	mr, nr     int // tile shape
	mc, kc, nc int // blocks: A micro-panel mr×kc in L1, B panel kc×nc in L2
	// (mc sets the rows handed out at once)
	fn func(k int, a, b, c *float32, ldc int, alpha, beta float32)
	// packRows interleaves rows stored ld apart; nil means packRowsGo.
	packRows func(dst, src []float32, ld, rows, kc, w int)
	// packCols copies rows stored ld apart; nil means packColsGo.
	packCols func(dst, src []float32, ld, cols, kc, w int)
	// fnRows is fn reading mr rows of A in place, stored lda apart, instead
	// of a packed micro-panel; nil if the kernel has no such variant.
	fnRows func(k int, a *float32, lda int, b, c *float32, ldc int, alpha, beta float32)
	// inPlaceMaxN is the widest op(B) for which gemm reads A in place
	// with fnRows rather than packing it.
	inPlaceMaxN int
	// epilogue applies an Epilogue to a block of C; nil means epilogueVec.
	epilogue func(ep *Epilogue, i0, m, j0, n int, c []float32, ldc int)
}

// goKernel is the portable micro-kernel behind sgemmGo.
var goKernel = &microKernel{
	name: "go", mr: 4, nr: 4, mc: 64, kc: 256, nc: 512,
	fn: kernel4x4Go, epilogue: epilogueGo,
}

var threads atomic.Int64

// SetThreads sets how many goroutines Sgemm may use; n < 1 restores the
// default, runtime.GOMAXPROCS(0).
func SetThreads(n int) {
	if n < 1 {
		n = 0
	}
	threads.Store(int64(n))
}

// Threads reports how many goroutines Sgemm may use.
func Threads() int {
	if n := threads.Load(); n > 0 {
		return int(n)
	}
	return runtime.GOMAXPROCS(0)
}

// Features names the SGEMM micro-kernel in use: "avx512", "avx2+fma", "neon" or "go".
func Features() string { return kernel.name }

// Sgemm computes C = alpha·op(A)·op(B) + beta·C on row-major matrices,
// where op(A) is m×k and op(B) is k×n.
//
// If transA is false A is stored m×k, else k×m; in both cases consecutive
// rows of the stored matrix are lda elements apart. B is stored k×n, or n×k
// when transB, with row stride ldb. C is m×n with row stride ldc. When beta
// is 0 the old contents of C are ignored, NaNs included; when alpha is 0,
// A and B are not read. The assembly kernels treat subnormal inputs and
// partial sums as zero (x86 takes a slow path for them, a hundred times
// slower); the Go twin keeps them.
//
// Sgemm panics if a stride is shorter than its stored row or a slice is too
// short for the matrix it holds.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkSgemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	sgemm(kernel, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// sgemmGo is the pure-Go twin of Sgemm.
func sgemmGo(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkSgemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	sgemm(goKernel, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func checkSgemm(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("cpu: Sgemm: negative size m=%d n=%d k=%d", m, n, k))
	}
	checkMatrix("A", transA, m, k, a, lda)
	checkMatrix("B", transB, k, n, b, ldb)
	checkMatrix("C", false, m, n, c, ldc)
}

// checkMatrix checks that s holds an r×c matrix, stored transposed if trans,
// with row stride ld.
func checkMatrix(name string, trans bool, r, c int, s []float32, ld int) {
	if trans {
		r, c = c, r
	}
	if ld < max(c, 1) {
		panic(fmt.Sprintf("cpu: Sgemm: ld%s=%d shorter than a stored row of %d", name, ld, c))
	}
	if r == 0 || c == 0 {
		return
	}
	if need := (r-1)*ld + c; len(s) < need {
		panic(fmt.Sprintf("cpu: Sgemm: len(%s)=%d, need %d for %d×%d with stride %d", name, len(s), need, r, c, ld))
	}
}

// minParallelFlops is the work below which Sgemm stays on one goroutine:
// some 80µs of one core at full speed, well above the cost of a fork and
// join even when the other cores are slow to pick up work.
const minParallelFlops = 1 << 23

func sgemm(kern *microKernel, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemmEp(kern, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nil)
}

// sgemmEp is sgemm followed by ep (nil for none) on every element of C,
// applied tile by tile as each tile of C is finished.
func sgemmEp(kern *microKernel, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, ep *Epilogue) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleMatrix(m, n, beta, c, ldc)
		if ep != nil {
			kern.applyEpilogue(ep, 0, m, 0, n, c, ldc)
		}
		return
	}
	t := Threads()
	if 2*m*n*k < minParallelFlops {
		t = 1
	}
	bands := (m + kern.mc - 1) / kern.mc
	nTiles := (n + kern.nr - 1) / kern.nr
	if t > 1 && bands < 2*t && nTiles >= 2*t {
		// Too few row bands to share out: hand out slabs of columns
		// instead, four per goroutine, each packing its own panels.
		per := (nTiles + 4*t - 1) / (4 * t)
		var next atomic.Int64
		parallel(t, func(int) {
			for {
				j0 := (int(next.Add(1)) - 1) * per * kern.nr
				if j0 >= n {
					return
				}
				j1 := min(j0+per*kern.nr, n)
				bs := b[j0:]
				if transB {
					bs = b[j0*ldb:]
				}
				gemmEp(kern, 1, transA, transB, m, j1-j0, k, alpha, a, lda, bs, ldb, beta, c[j0:], ldc, ep.cols(j0))
			}
		})
		return
	}
	gemmEp(kern, min(t, bands), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, ep)
}

// parallel runs f(0), …, f(t-1) concurrently, f(0) on the calling goroutine.
func parallel(t int, f func(w int)) {
	if t == 1 {
		f(0)
		return
	}
	var wg sync.WaitGroup
	wg.Add(t - 1)
	for w := 1; w < t; w++ {
		go func() {
			defer wg.Done()
			f(w)
		}()
	}
	f(0)
	wg.Wait()
}

// scaleMatrix sets C = beta·C, writing zeros when beta is 0.
func scaleMatrix(m, n int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		if beta != 1 {
			for j := range row {
				row[j] *= beta
			}
		}
	}
}

// Packing buffers outlive calls: a B panel is about a megabyte, too much to
// allocate per product. aPool holds one goroutine's A block followed by its
// edge-tile scratch; bPool holds shared B panels; sharedAPool holds the A
// blocks of all bands that gemm packs once for several panels of B.
var aPool, bPool, sharedAPool sync.Pool

// getBuffer returns a buffer of at least n values from pool.
func getBuffer(pool *sync.Pool, n int) *[]float32 {
	if p, ok := pool.Get().(*[]float32); ok && len(*p) >= n {
		return p
	}
	s := make([]float32, n)
	return &s
}

// gemm is the BLIS loop nest on t goroutines, with the two innermost loops
// swapped. For each kc block of k and then each kc×nc panel of B, the
// goroutines pack the panel's micro-panels into one shared buffer, then
// sweep C in bands of mc rows: each packs the mc×kc block of A for its band
// into its own buffer and runs the micro-kernel over the band's mr×nr
// tiles, row of tiles by row of tiles. The B panel stays in L2 for all the
// bands, the A micro-panel in L1 while the B micro-panels stream past it.
// Work is handed out by atomic counters rather than split evenly up front,
// so a goroutine that loses its core for a while delays the others little.
//
// Where B has several panels, the A blocks of all bands are packed into one
// buffer for the first panel and read back for the others rather than
// packed again (the ViT and text MLP and QKV products: 1-5% faster, median
// of 10 runs). Moving the panel loop inside the bands instead, to pack A
// once per band, measured no faster: the B panels then stream from L3 for
// every band. Panels wider than nc = 1024 columns no longer fit L2 beside
// the rest (nc = 2048 was 5-10% slower on 2048-column products).
func gemm(kern *microKernel, t int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	gemmEp(kern, t, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nil)
}

// maxSharedA bounds the packed kc block of A that gemm keeps for all of
// B's panels: 32 MiB, 32768 rows at kc = 256.
var maxSharedA = 1 << 23

// gemmEp is gemm applying ep to each tile of C after its last kc block.
func gemmEp(kern *microKernel, t int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, ep *Epilogue) {
	mr, nr := kern.mr, kern.nr
	// Cut n into equal panels of at most kern.nc columns.
	ncStep := (n + kern.nc - 1) / kern.nc
	ncStep = ((n+ncStep-1)/ncStep + nr - 1) / nr * nr
	// Reading A in place saves packing it where each A value meets few
	// columns of B, so that packing would cost as much as the products.
	inPlace := kern.fnRows != nil && !transA && n <= kern.inPlaceMaxN
	aSize := (kern.mc + mr - 1) / mr * mr * kern.kc
	bufs := make([]*[]float32, t)
	for w := range bufs {
		bufs[w] = getBuffer(&aPool, aSize+mr*nr)
	}
	bbuf := getBuffer(&bPool, (kern.nc+nr-1)/nr*nr*kern.kc)
	defer func() {
		for _, buf := range bufs {
			aPool.Put(buf)
		}
		bPool.Put(bbuf)
	}()
	bpack := *bbuf
	starts := bandStarts(m, kern.mc, mr, t)
	bands := len(starts) - 1
	// With several panels of B, the kc block of A is packed once, all
	// bands of it, and read back for the later panels.
	var shared []float32
	if sz := (m + mr - 1) / mr * mr * kern.kc; !inPlace && n > ncStep && sz <= maxSharedA {
		// Whole megafloats, so that products of similar sizes reuse one.
		sbuf := getBuffer(&sharedAPool, (sz+1<<20-1)>>20<<20)
		defer sharedAPool.Put(sbuf)
		shared = *sbuf
	}
	for pc := 0; pc < k; pc += kern.kc {
		kc := min(kern.kc, k-pc)
		bet := beta
		if pc > 0 {
			bet = 1
		}
		last := pc+kc == k
		for jc := 0; jc < n; jc += ncStep {
			nc := min(ncStep, n-jc)
			panels := (nc + nr - 1) / nr
			const panelsPerGrab = 4
			var nextPanel, nextBand atomic.Int64
			parallel(t, func(w int) {
				for {
					q := int(nextPanel.Add(panelsPerGrab)) - panelsPerGrab
					if q >= panels {
						return
					}
					packB(kern, bpack, transB, b, ldb, pc, kc, jc, nc, q, min(q+panelsPerGrab, panels))
				}
			})
			parallel(t, func(w int) {
				apack := (*bufs[w])[:aSize]
				tile := (*bufs[w])[aSize : aSize+mr*nr]
				for {
					band := int(nextBand.Add(1)) - 1
					if band >= bands {
						return
					}
					ic := starts[band]
					mc := starts[band+1] - ic
					full := mc / mr * mr // rows of whole micro-panels
					switch {
					case inPlace:
						if full < mc {
							packA(kern, apack[full*kc:], false, a, lda, ic+full, mc-full, pc, kc)
						}
					case shared != nil:
						// Bands start at multiples of mr.
						apack = shared[ic*kc:]
						if jc == 0 {
							packA(kern, apack, transA, a, lda, ic, mc, pc, kc)
						}
					default:
						packA(kern, apack, transA, a, lda, ic, mc, pc, kc)
					}
					// The A micro-panel stays in L1 while the B micro-panels
					// stream past it from L2.
					for ir := 0; ir < mc; ir += mr {
						mrr := min(mr, mc-ir)
						ap := &apack[ir*kc]
						rows := inPlace && mrr == mr
						for jr := 0; jr < nc; jr += nr {
							nrr := min(nr, nc-jr)
							bp := &bpack[jr*kc]
							i0, j0 := ic+ir, jc+jr
							ci := i0*ldc + j0
							switch {
							case mrr == mr && nrr == nr && rows:
								kern.fnRows(kc, &a[i0*lda+pc], lda, bp, &c[ci], ldc, alpha, bet)
							case mrr == mr && nrr == nr:
								kern.fn(kc, ap, bp, &c[ci], ldc, alpha, bet)
							default:
								if rows {
									kern.fnRows(kc, &a[i0*lda+pc], lda, bp, &tile[0], nr, 1, 0)
								} else {
									kern.fn(kc, ap, bp, &tile[0], nr, 1, 0)
								}
								mergeTile(mrr, nrr, alpha, tile, nr, bet, c[ci:], ldc)
							}
							if last && ep != nil {
								// The tile is still in L1.
								kern.applyEpilogue(ep, i0, mrr, j0, nrr, c, ldc)
							}
						}
					}
				}
			})
		}
	}
}

// bandStarts cuts rows [0, m) into bands for t goroutines that take them in
// order, with the first row of band b at starts[b] and starts[len-1] = m.
// Bands hold whole micro-panels of mr rows (the last may be short), at most
// mc rows, and as nearly the same number of panels as can be: their count is
// the fewest that fit mc, raised to a multiple of t, so that the goroutines
// finish together instead of one running a last band while the others wait
// (1232 rows in bands of 96 gave 7 bands to one goroutine and 6 to the
// other). mc is a multiple of mr.
func bandStarts(m, mc, mr, t int) []int {
	if m == 0 {
		return []int{0}
	}
	panels := (m + mr - 1) / mr
	per := mc / mr
	bands := (panels + per - 1) / per
	if t > 1 {
		bands = min((bands+t-1)/t*t, panels)
	}
	starts := make([]int, 0, bands+1)
	for b := 0; b < bands; b++ {
		starts = append(starts, b*panels/bands*mr)
	}
	return append(starts, m)
}

// mergeTile sets the m×n corner of C to alpha·T + beta·C.
func mergeTile(m, n int, alpha float32, t []float32, ldt int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		tr := t[i*ldt : i*ldt+n]
		cr := c[i*ldc : i*ldc+n]
		if beta == 0 {
			for j, v := range tr {
				cr[j] = alpha * v
			}
			continue
		}
		for j, v := range tr {
			cr[j] = fma32(beta, cr[j], alpha*v)
		}
	}
}

// packA copies rows [i0, i0+mc) and columns [p0, p0+kc) of op(A) into
// micro-panels of mr rows: panel q holds op(A)[i0+q·mr+r][p0+p] at
// q·mr·kc + p·mr + r. Rows past mc are zero.
func packA(kern *microKernel, dst []float32, trans bool, a []float32, lda, i0, mc, p0, kc int) {
	mr := kern.mr
	for q := 0; q < mc; q += mr {
		rows := min(mr, mc-q)
		panel := dst[q*kc : q*kc+mr*kc]
		if trans {
			// Stored k×m: the mr values for one p are contiguous.
			packCols(kern, panel, a[p0*lda+i0+q:], lda, rows, kc, mr)
			continue
		}
		packRows(kern, panel, a[(i0+q)*lda+p0:], lda, rows, kc, mr)
	}
}

// packB copies rows [p0, p0+kc) and columns [j0, j0+nc) of op(B) into
// micro-panels of nr columns: panel q holds op(B)[p0+p][j0+q·nr+j] at
// q·nr·kc + p·nr + j. Columns past nc are zero. Only panels [q0, q1) are
// written.
func packB(kern *microKernel, dst []float32, trans bool, b []float32, ldb, p0, kc, j0, nc, q0, q1 int) {
	nr := kern.nr
	for q := q0 * nr; q < min(q1*nr, nc); q += nr {
		cols := min(nr, nc-q)
		panel := dst[q*kc : q*kc+nr*kc]
		if !trans {
			packCols(kern, panel, b[p0*ldb+j0+q:], ldb, cols, kc, nr)
			continue
		}
		packRows(kern, panel, b[(j0+q)*ldb+p0:], ldb, cols, kc, nr)
	}
}

// packRows sets dst[p·w+r] = src[r·ld+p] for p < kc and r < rows, and
// zeroes dst[p·w+r] for rows <= r < w: it interleaves the first kc values
// of rows stored ld apart.
func packRows(kern *microKernel, dst, src []float32, ld, rows, kc, w int) {
	_ = dst[kc*w-1]
	_ = src[(rows-1)*ld+kc-1]
	if kern.packRows != nil {
		kern.packRows(dst, src, ld, rows, kc, w)
		return
	}
	packRowsGo(dst, src, ld, rows, kc, w)
}

func packRowsGo(dst, src []float32, ld, rows, kc, w int) {
	for r := 0; r < rows; r++ {
		row := src[r*ld : r*ld+kc]
		for p, v := range row {
			dst[p*w+r] = v
		}
	}
	for r := rows; r < w; r++ {
		for p := 0; p < kc; p++ {
			dst[p*w+r] = 0
		}
	}
}

// packCols sets dst[p·w+j] = src[p·ld+j] for p < kc and j < cols, and
// zeroes dst[p·w+j] for cols <= j < w: it copies the first cols values of
// kc rows stored ld apart into rows of w.
func packCols(kern *microKernel, dst, src []float32, ld, cols, kc, w int) {
	_ = dst[kc*w-1]
	_ = src[(kc-1)*ld+cols-1]
	if kern.packCols != nil {
		kern.packCols(dst, src, ld, cols, kc, w)
		return
	}
	packColsGo(dst, src, ld, cols, kc, w)
}

func packColsGo(dst, src []float32, ld, cols, kc, w int) {
	for p := 0; p < kc; p++ {
		d := dst[p*w : p*w+w]
		copy(d, src[p*ld:p*ld+cols])
		clear(d[cols:])
	}
}

// kernel4x4Go is the portable micro-kernel: a 4×4 tile kept in sixteen
// scalar accumulators, each a chain of fused multiply-adds over p as in the
// vector kernels, so that it rounds as they do.
func kernel4x4Go(k int, ap, bp, cp *float32, ldc int, alpha, beta float32) {
	a := unsafe.Slice(ap, 4*k)
	b := unsafe.Slice(bp, 4*k)
	var c00, c01, c02, c03, c10, c11, c12, c13 float32
	var c20, c21, c22, c23, c30, c31, c32, c33 float32
	for len(a) >= 4 && len(b) >= 4 {
		a0, a1, a2, a3 := a[0], a[1], a[2], a[3]
		b0, b1, b2, b3 := b[0], b[1], b[2], b[3]
		c00 = fma32(a0, b0, c00)
		c01 = fma32(a0, b1, c01)
		c02 = fma32(a0, b2, c02)
		c03 = fma32(a0, b3, c03)
		c10 = fma32(a1, b0, c10)
		c11 = fma32(a1, b1, c11)
		c12 = fma32(a1, b2, c12)
		c13 = fma32(a1, b3, c13)
		c20 = fma32(a2, b0, c20)
		c21 = fma32(a2, b1, c21)
		c22 = fma32(a2, b2, c22)
		c23 = fma32(a2, b3, c23)
		c30 = fma32(a3, b0, c30)
		c31 = fma32(a3, b1, c31)
		c32 = fma32(a3, b2, c32)
		c33 = fma32(a3, b3, c33)
		a, b = a[4:], b[4:]
	}
	c := unsafe.Slice(cp, 3*ldc+4)
	acc := [16]float32{c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33}
	for i := 0; i < 4; i++ {
		row := c[i*ldc : i*ldc+4]
		for j := range row {
			// As the vector kernels: alpha·acc rounded, then one fused step with beta·C.
			if beta == 0 {
				row[j] = alpha * acc[i*4+j]
			} else {
				row[j] = fma32(beta, row[j], alpha*acc[i*4+j])
			}
		}
	}
}
