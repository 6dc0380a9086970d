package main

import (
	"github.com/mmcloughlin/avo/attr"
	"github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// kernel describes one SGEMM micro-kernel, C = alpha·A·B + beta·C on a
// rows × (2·lanes) tile of C:
//
//	func name(k int, a..., b, c *float32, ldc int, alpha, beta float32)
//
// B is a packed micro-panel, one row of 2·lanes values per step of k. Row r
// of the tile accumulates in acc[2r] (columns 0..lanes-1) and acc[2r+1]; a
// step of k loads B's row into b[0], b[1] and adds to each accumulator its
// product with the row's A value, broadcast. The loop takes four steps of k
// at a time, then single steps. After the loop the tile is multiplied by
// alpha and, unless beta is ±0, C·beta is added with one FMA per vector, so
// C is not read at all when beta is zero. Each accumulator takes its FMAs in
// the order of k, which is the order of the Go kernel, so the two agree bit
// for bit.
//
// Subnormal arithmetic takes microcode assists that slow FMAs a hundredfold,
// so the kernel runs with MXCSR.FTZ and DAZ set, restoring MXCSR on return.
type kernel struct {
	name  string
	rows  int
	vec   vectorISA
	acc   []VecPhysical // 2·rows accumulators
	b     [2]VecPhysical
	a     aSource
	bcast []VecPhysical // registers A's values are broadcast into, in turn; none: FMAs broadcast from memory
	// prefetch holds the offsets into each row of C that are prefetched
	// before the loop, so that C's lines arrive while the tile is computed.
	prefetch []int
}

// vectorISA is what differs between AVX2 and AVX-512 beyond the registers.
type vectorISA struct {
	bytes int                                  // bytes in a vector register
	zero  func(ctx *build.Context, v Register) // sets v to +0
}

var (
	avx2 = vectorISA{bytes: 32, zero: func(ctx *build.Context, v Register) { ctx.VXORPS(v, v, v) }}
	// VPXORD, unlike VXORPS, is in AVX-512F for 512-bit registers.
	avx512 = vectorISA{bytes: 64, zero: func(ctx *build.Context, v Register) { ctx.VPXORD(v, v, v) }}
)

// avx2Kernel6x16 uses 12 of the 16 ymm registers for the tile, two for B's
// row and two for A's values, broadcast in turn so that one broadcast can
// overlap the FMAs of the previous. B streams from L2 under the hardware
// prefetcher (a software prefetch of it measured no faster).
var avx2Kernel6x16 = &kernel{
	name: "sgemmKernel6x16AVX2", rows: 6, vec: avx2,
	acc: ymm[:12], b: [2]VecPhysical{Y12, Y13}, bcast: []VecPhysical{Y14, Y15},
	a:        packedA{rows: 6},
	prefetch: []int{0, 63},
}

// avx2Kernel6x16Rows is avx2Kernel6x16 reading A in place, row r of the
// tile's A at a + r·lda.
var avx2Kernel6x16Rows = &kernel{
	name: "sgemmKernel6x16RowsAVX2", rows: 6, vec: avx2,
	acc: ymm[:12], b: [2]VecPhysical{Y12, Y13}, bcast: []VecPhysical{Y14, Y15},
	a:        rowsA{bases: []GPPhysical{RSI, R10}, lda: R11, lda3: R13},
	prefetch: []int{0, 63},
}

// avx512Kernel14x32 uses 28 zmm registers for the tile and two for B's row;
// the FMAs broadcast A's values from memory.
var avx512Kernel14x32 = &kernel{
	name: "sgemmKernel14x32AVX512", rows: 14, vec: avx512,
	acc: zmm[:28], b: [2]VecPhysical{Z30, Z31},
	a:        packedA{rows: 14},
	prefetch: []int{0, 64},
}

// avx512Kernel14x32Rows is avx512Kernel14x32 reading A in place, row r of
// the tile's A at a + r·lda.
var avx512Kernel14x32Rows = &kernel{
	name: "sgemmKernel14x32RowsAVX512", rows: 14, vec: avx512,
	acc: zmm[:28], b: [2]VecPhysical{Z30, Z31},
	a:        rowsA{bases: []GPPhysical{RSI, R10, R12}, lda: R11, lda3: R13},
	prefetch: []int{0, 64},
}

// write generates the kernel into ctx. Registers the kernels share: k in CX,
// k/4 in BX, B in DI, C in DX, ldc in bytes in R8, the row of C being
// prefetched in R9, scratch in AX.
func (k *kernel) write(ctx *build.Context) {
	ctx.Function(k.name)
	ctx.Attributes(attr.NOSPLIT)
	ctx.SignatureExpr(k.a.signature())
	mxcsr := ctx.AllocLocal(8)
	ctx.MOVQ(arg(ctx, "k"), RCX)
	ctx.STMXCSR(mxcsr)
	ctx.MOVL(mxcsr, EAX)
	ctx.ORL(U32(0x8040), EAX) // FTZ | DAZ
	ctx.MOVL(EAX, mxcsr.Offset(4))
	ctx.LDMXCSR(mxcsr.Offset(4))
	k.a.load(ctx)
	ctx.MOVQ(arg(ctx, "b"), RDI)
	ctx.MOVQ(arg(ctx, "c"), RDX)
	ctx.MOVQ(arg(ctx, "ldc"), R8)
	ctx.SHLQ(U8(2), R8)
	for _, v := range k.acc {
		k.vec.zero(ctx, v)
	}

	ctx.MOVQ(RDX, R9)
	for r := 0; r < k.rows; r++ {
		for _, off := range k.prefetch {
			ctx.PREFETCHT0(Mem{Base: R9, Disp: off})
		}
		ctx.ADDQ(R8, R9)
	}

	ctx.MOVQ(RCX, RBX)
	ctx.SHRQ(U8(2), RBX)
	ctx.JEQ(LabelRef("tail"))
	ctx.Label("loop")
	for s := 0; s < 4; s++ {
		k.step(ctx, s)
	}
	k.a.advance(ctx, 4)
	ctx.ADDQ(U32(4*2*k.vec.bytes), RDI)
	ctx.DECQ(RBX)
	ctx.JNE(LabelRef("loop"))

	ctx.Label("tail")
	ctx.ANDQ(U8(3), RCX)
	ctx.JEQ(LabelRef("done"))
	ctx.Label("tailloop")
	k.step(ctx, 0)
	k.a.advance(ctx, 1)
	ctx.ADDQ(U32(2*k.vec.bytes), RDI)
	ctx.DECQ(RCX)
	ctx.JNE(LabelRef("tailloop"))

	ctx.Label("done")
	alpha, beta := k.b[0], k.b[1]
	ctx.VBROADCASTSS(arg(ctx, "alpha"), alpha)
	for _, v := range k.acc {
		ctx.VMULPS(alpha, v, v)
	}
	ctx.MOVL(arg(ctx, "beta"), EAX)
	ctx.TESTL(U32(0x7fffffff), EAX)
	ctx.JEQ(LabelRef("store"))
	ctx.VBROADCASTSS(arg(ctx, "beta"), beta)
	k.storeC(ctx, func(c Mem, v Register) {
		ctx.VFMADD231PS(c, beta, v)
	}, mxcsr)

	ctx.Label("store")
	k.storeC(ctx, nil, mxcsr)
}

// step adds step s of the loop body's k to the tile: B's row s, A's column s.
func (k *kernel) step(ctx *build.Context, s int) {
	w := k.vec.bytes
	ctx.VMOVUPS(Mem{Base: RDI, Disp: 2 * s * w}, k.b[0])
	ctx.VMOVUPS(Mem{Base: RDI, Disp: (2*s + 1) * w}, k.b[1])
	for r := 0; r < k.rows; r++ {
		a := k.a.value(s, r)
		lo, hi := k.acc[2*r], k.acc[2*r+1]
		if len(k.bcast) == 0 {
			ctx.VFMADD231PS_BCST(a, k.b[0], lo)
			ctx.VFMADD231PS_BCST(a, k.b[1], hi)
			continue
		}
		x := k.bcast[r%len(k.bcast)]
		ctx.VBROADCASTSS(a, x)
		ctx.VFMADD231PS(k.b[0], x, lo)
		ctx.VFMADD231PS(k.b[1], x, hi)
	}
}

// storeC writes the tile to C row by row, restores MXCSR and returns. With
// update set it first combines each vector with C's (update loads C itself).
func (k *kernel) storeC(ctx *build.Context, update func(c Mem, v Register), mxcsr Mem) {
	w := k.vec.bytes
	for r := 0; r < k.rows; r++ {
		lo, hi := k.acc[2*r], k.acc[2*r+1]
		if update != nil {
			update(Mem{Base: RDX}, lo)
			update(Mem{Base: RDX, Disp: w}, hi)
		}
		ctx.VMOVUPS(lo, Mem{Base: RDX})
		ctx.VMOVUPS(hi, Mem{Base: RDX, Disp: w})
		ctx.ADDQ(R8, RDX)
	}
	ctx.LDMXCSR(mxcsr)
	ctx.VZEROUPPER()
	ctx.RET()
}

// aSource is how a kernel finds A's value for row r of the tile at step s of
// k, counted from where its pointers stand.
type aSource interface {
	signature() string
	load(ctx *build.Context)               // loads A's pointers from the arguments
	value(s, r int) Mem                    // the float32 of row r at step s
	advance(ctx *build.Context, steps int) // moves A's pointers on by steps of k
}

// packedA is A packed in a micro-panel: a column of rows values per step of
// k, pointed to by SI.
type packedA struct{ rows int }

func (packedA) signature() string {
	return "func(k int, a, b, c *float32, ldc int, alpha, beta float32)"
}

func (p packedA) load(ctx *build.Context) { ctx.MOVQ(arg(ctx, "a"), RSI) }

func (p packedA) value(s, r int) Mem { return Mem{Base: RSI, Disp: 4 * (s*p.rows + r)} }

func (p packedA) advance(ctx *build.Context, steps int) {
	ctx.ADDQ(U32(4*steps*p.rows), RSI)
}

// rowsA is A read in place: row r at a + r·lda. The rows are addressed in
// groups of five, from one base register a group (a, a + 5·lda, ...) plus
// 0, lda, 2·lda, 3·lda or 4·lda, with lda and 3·lda in bytes in registers.
type rowsA struct {
	bases     []GPPhysical
	lda, lda3 GPPhysical
}

func (rowsA) signature() string {
	return "func(k int, a *float32, lda int, b, c *float32, ldc int, alpha, beta float32)"
}

func (p rowsA) load(ctx *build.Context) {
	ctx.MOVQ(arg(ctx, "a"), p.bases[0])
	ctx.MOVQ(arg(ctx, "lda"), p.lda)
	ctx.SHLQ(U8(2), p.lda)
	ctx.LEAQ(Mem{Base: p.lda, Index: p.lda, Scale: 2}, p.lda3)
	for i := 1; i < len(p.bases); i++ {
		ctx.LEAQ(Mem{Base: p.bases[i-1], Index: p.lda, Scale: 4}, p.bases[i])
		ctx.ADDQ(p.lda, p.bases[i])
	}
}

func (p rowsA) value(s, r int) Mem {
	m := Mem{Base: p.bases[r/5], Disp: 4 * s}
	switch r % 5 {
	case 1:
		m.Index, m.Scale = p.lda, 1
	case 2:
		m.Index, m.Scale = p.lda, 2
	case 3:
		m.Index, m.Scale = p.lda3, 1
	case 4:
		m.Index, m.Scale = p.lda, 4
	}
	return m
}

func (p rowsA) advance(ctx *build.Context, steps int) {
	for _, b := range p.bases {
		ctx.ADDQ(U32(4*steps), b)
	}
}

// arg is the stack address of the named argument.
func arg(ctx *build.Context, name string) Mem {
	b, err := ctx.Param(name).Resolve()
	if err != nil {
		panic(err)
	}
	return b.Addr
}

var (
	ymm = []VecPhysical{Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11, Y12, Y13, Y14, Y15}
	zmm = []VecPhysical{
		Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15,
		Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23, Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31,
	}
)
