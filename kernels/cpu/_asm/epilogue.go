package main

import (
	"github.com/mmcloughlin/avo/attr"
	"github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The epilogue kernels apply a SgemmEpilogue to an m×n block of C:
//
//	C[i][j] = act(C[i][j] + rowBias[i] + colBias[j] + add[i·ldAdd+j])
//
// skipping the terms whose pointer is nil, one vector at a time. The
// additions run in the order of the Go twin, and the activations are those
// of the vector kernels (geluAVX512, quickGeluAVX512 and their AVX2 twins),
// so the results match Gelu and QuickGelu bit for bit.
//
// Registers: DI walks the rows of C, SI is ldc in bytes, DX counts the rows
// left, R9 walks rowBias, R11 the rows of add (R12 ldAdd in bytes), R10 is n;
// in a row R13 walks C, R14 colBias and BX add, CX counting the columns left.
// The tile vector is in v[4], a loaded term in v[0].

// epilogueISA is what the AVX2 and AVX-512 epilogues do differently.
type epilogueISA struct {
	suffix string
	lanes  int
	v      []VecPhysical
	// columns emits the loop over a row's columns, calling e.vector for
	// each vector of it.
	columns func(ctx *build.Context, e *epilogue)
	// rowBias adds the broadcast float at m to the tile vector.
	rowBias func(ctx *build.Context, m Mem)
	// consts gives each named constant of an activation its operand, a
	// register or (most of AVX2's) memory, and what sets them up on entry.
	consts func(act string) (map[string]Op, func(ctx *build.Context))
	// mask holds GELU's sign test (a mask register on AVX-512, a vector on
	// AVX2), and sel merges src into dst under it.
	mask Register
	sel  func(ctx *build.Context, src, dst Register)
	and  func(ctx *build.Context, a, b, dst Op)         // bitwise a AND b
	vmov func(ctx *build.Context, src Op, dst Register) // dst = src, a constant
	// round rounds to the nearest integer, ties to even; scale sets dst to
	// p·2ⁿ for the integer-valued float vector n (clobbering n).
	round func(ctx *build.Context, src, dst Op)
	scale func(ctx *build.Context, k map[string]Op, n, p, dst Register)
}

// epilogue is one kernel being written: its ISA, activation and constants.
type epilogue struct {
	isa *epilogueISA
	act string
	k   map[string]Op
}

const epilogueSignature = "func(c *float32, ldc, m, n int, rowBias, colBias, add *float32, ldAdd int)"

// epilogueActs are the activations in the order the kernels are written.
var epilogueActs = []string{"None", "ReLU", "Gelu", "QuickGelu"}

// writeEpilogues generates the four epilogue kernels of isa into ctx.
func writeEpilogues(ctx *build.Context, isa *epilogueISA) {
	for _, act := range epilogueActs {
		ctx.Function("epilogue" + act + isa.suffix)
		ctx.Attributes(attr.NOSPLIT)
		ctx.SignatureExpr(epilogueSignature)
		k, setup := isa.consts(act)
		setup(ctx)
		e := &epilogue{isa: isa, act: act, k: k}
		e.loop(ctx)
	}
}

// loop is the loop over the block's rows.
func (e *epilogue) loop(ctx *build.Context) {
	ctx.MOVQ(arg(ctx, "c"), RDI)
	ctx.MOVQ(arg(ctx, "ldc"), RSI)
	ctx.SHLQ(U8(2), RSI)
	ctx.MOVQ(arg(ctx, "m"), RDX)
	ctx.MOVQ(arg(ctx, "rowBias"), R9)
	ctx.MOVQ(arg(ctx, "add"), R11)
	ctx.MOVQ(arg(ctx, "ldAdd"), R12)
	ctx.SHLQ(U8(2), R12)
	ctx.MOVQ(arg(ctx, "n"), R10)
	ctx.TESTQ(R10, R10)
	ctx.JLE(LabelRef("done"))
	ctx.TESTQ(RDX, RDX)
	ctx.JLE(LabelRef("done"))
	ctx.Label("row")
	ctx.MOVQ(R10, RCX)
	ctx.MOVQ(RDI, R13)
	ctx.MOVQ(arg(ctx, "colBias"), R14)
	ctx.MOVQ(R11, RBX)
	e.isa.columns(ctx, e)
	ctx.Label("endrow")
	ctx.ADDQ(RSI, RDI)
	ifNotNil(ctx, R9, "nextadd", func() { ctx.ADDQ(U8(4), R9) })
	ifNotNil(ctx, R11, "nextrow", func() { ctx.ADDQ(R12, R11) })
	ctx.DECQ(RDX)
	ctx.JNE(LabelRef("row"))
	ctx.Label("done")
	ctx.VZEROUPPER()
	ctx.RET()
}

// vector adds the terms to the tile vector, loaded from (R13), applies the
// activation and stores it with store. load(m, dst) returns an operand VADDPS
// can take holding the vector at m, loading it into dst where it must; labels
// are prefixed by pfx; with step set, the colBias and add pointers move on by
// a vector.
func (e *epilogue) vector(ctx *build.Context, pfx string, load func(m Mem, dst Register) Op, store func(), step bool) {
	x := e.isa.v[4]
	bytes := 4 * e.isa.lanes
	if m := load(Mem{Base: R13}, x); m != x {
		ctx.VMOVUPS(m, x)
	}
	ifNotNil(ctx, R9, pfx+"norow", func() { e.isa.rowBias(ctx, Mem{Base: R9}) })
	for _, t := range []struct {
		p     Register
		label string
	}{{R14, "nocol"}, {RBX, "noadd"}} {
		ifNotNil(ctx, t.p, pfx+t.label, func() {
			ctx.VADDPS(load(Mem{Base: t.p}, e.isa.v[0]), x, x)
			if step {
				ctx.ADDQ(U8(bytes), t.p)
			}
		})
	}
	e.activation(ctx, x)
	store()
}

// ifNotNil emits body, skipped to label when p is nil.
func ifNotNil(ctx *build.Context, p Register, label string, body func()) {
	ctx.TESTQ(p, p)
	ctx.JEQ(LabelRef(label))
	body()
	ctx.Label(label)
}

// activation applies e.act to x in place.
func (e *epilogue) activation(ctx *build.Context, x Register) {
	switch e.act {
	case "ReLU":
		// The zero is the first source, so NaN and -0 pass through.
		ctx.VMAXPS(x, e.isa.v[7], x)
	case "Gelu":
		e.gelu(ctx, x)
	case "QuickGelu":
		e.quickGelu(ctx, x)
	}
}

// reg returns constant name in a register, loading it into scratch when it
// lives in memory.
func (e *epilogue) reg(ctx *build.Context, name string, scratch Register) Op {
	if r, ok := e.k[name].(Register); ok {
		return r
	}
	ctx.VMOVUPS(e.k[name], scratch)
	return scratch
}

// clamp clamps x to [-104, 89] in place, keeping NaN: the bound is the first
// source, so a NaN second source is returned.
func (e *epilogue) clamp(ctx *build.Context, x Register) {
	ctx.VMAXPS(x, e.k["expLo"], x)
	ctx.VMINPS(x, e.k["expHi"], x)
}

// exp sets x in place to exp(x) for x clamped, NaN passing through: x =
// n·ln2 + r with n = round(x·log2e), exp(r) by a degree-7 polynomial, then
// scaled by 2ⁿ. It clobbers v[1]..v[3].
func (e *epilogue) exp(ctx *build.Context, x Register) {
	v, k := e.isa.v, e.k
	ctx.VMULPS(k["log2e"], x, v[1])
	e.isa.round(ctx, v[1], v[1])
	ctx.VFNMADD231PS(k["ln2Hi"], v[1], x)
	ctx.VFNMADD231PS(k["ln2Lo"], v[1], x)
	e.isa.vmov(ctx, k["c7"], v[2])
	for _, c := range []string{"c6", "c5", "c4", "c3", "c2", "one", "one"} {
		ctx.VFMADD213PS(k[c], x, v[2])
	}
	e.isa.scale(ctx, k, v[1], v[2], x)
}

// quickGelu sets x to x / (1 + exp(-1.702·x)); it clobbers v[1]..v[3], v[5].
func (e *epilogue) quickGelu(ctx *build.Context, x Register) {
	v := e.isa.v
	ctx.VMULPS(e.k["negQ"], x, v[5])
	e.clamp(ctx, v[5])
	e.exp(ctx, v[5])
	ctx.VADDPS(e.k["one"], v[5], v[5])
	ctx.VDIVPS(v[5], x, x)
}

// gelu sets x to x·Φ(x) = x/2·erfc(-x/√2): with u = -x/√2 and z = |u|,
// erfc(z) = t·exp(-z² + P(t)) for t = 1/(1 + z/2), and erfc(u) = 2 - erfc(z)
// where u < 0. It clobbers v[0]..v[3], v[5] and the mask.
func (e *epilogue) gelu(ctx *build.Context, x Register) {
	v, k, isa := e.isa.v, e.k, e.isa
	ctx.VMULPS(k["negInvSqrt2"], x, v[3])
	isa.and(ctx, k["absMask"], v[3], v[5])
	ctx.VCMPPS(U8(4), v[5], v[3], isa.mask) // u ≠ z: u < 0
	isa.vmov(ctx, k["half"], v[0])
	ctx.VFMADD213PS(k["one"], v[5], v[0])
	ctx.VDIVPS(v[0], e.reg(ctx, "one", v[1]), v[0])
	isa.vmov(ctx, k["e9"], v[1])
	for _, c := range []string{"e8", "e7", "e6", "e5", "e4", "e3", "e2", "e1", "e0"} {
		ctx.VFMADD213PS(k[c], v[0], v[1])
	}
	ctx.VFNMADD213PS(v[1], v[5], v[5])
	e.clamp(ctx, v[5])
	e.exp(ctx, v[5])
	ctx.VMULPS(v[0], v[5], v[5])
	ctx.VSUBPS(v[5], e.reg(ctx, "two", v[1]), v[0])
	isa.sel(ctx, v[0], v[5])
	ctx.VMULPS(k["half"], x, x)
	ctx.VMULPS(v[5], x, x)
}

// avx512Epilogue takes a row sixteen lanes at a time, the last vector
// masked, with its constants in registers.
var avx512Epilogue = &epilogueISA{
	suffix: "AVX512", lanes: 16, v: zmm, mask: K2,
	columns: func(ctx *build.Context, e *epilogue) {
		ctx.Label("col")
		ctx.MOVL(U32(0xffff), EAX)
		ctx.CMPQ(RCX, U8(16))
		ctx.JAE(LabelRef("full"))
		ctx.MOVL(U32(1), EAX)
		ctx.SHLL(CL, EAX)
		ctx.DECL(EAX)
		ctx.Label("full")
		ctx.KMOVW(EAX, K1)
		load := func(m Mem, dst Register) Op {
			ctx.VMOVUPS_Z(m, K1, dst)
			return dst
		}
		e.vector(ctx, "", load, func() { ctx.VMOVUPS(Z4, K1, Mem{Base: R13}) }, true)
		ctx.ADDQ(U8(64), R13)
		ctx.SUBQ(U8(16), RCX)
		ctx.JG(LabelRef("col"))
	},
	rowBias: func(ctx *build.Context, m Mem) { ctx.VADDPS_BCST(m, Z4, Z4) },
	consts: func(act string) (map[string]Op, func(*build.Context)) {
		var regs []constReg
		switch act {
		case "ReLU":
			return nil, func(ctx *build.Context) { ctx.VPXORD(Z7, Z7, Z7) }
		case "Gelu":
			regs = append(append(regs, expConsts...), geluConsts...)
		case "QuickGelu":
			regs = append(regs, expConsts...)
			regs = append(regs, constReg{"negQ", Z18, 0xbfd9db23})
		}
		k := map[string]Op{}
		for _, c := range regs {
			k[c.name] = c.reg
		}
		return k, func(ctx *build.Context) {
			for _, c := range regs {
				ctx.MOVL(U32(c.bits), EAX)
				ctx.VPBROADCASTD(EAX, c.reg)
			}
		}
	},
	and:   func(ctx *build.Context, a, b, dst Op) { ctx.VPANDD(a, b, dst) },
	round: func(ctx *build.Context, src, dst Op) { ctx.VRNDSCALEPS(U8(0), src, dst) },
	scale: func(ctx *build.Context, _ map[string]Op, n, p, dst Register) { ctx.VSCALEFPS(n, p, dst) },
	sel:   func(ctx *build.Context, src, dst Register) { ctx.VMOVAPS(src, K2, dst) },
	vmov:  func(ctx *build.Context, src Op, dst Register) { ctx.VMOVAPS(src, dst) },
}

// constReg is an AVX-512 constant: its name, register and float32 bits.
type constReg struct {
	name string
	reg  Register
	bits uint32
}

// expConsts are the constants of exp, in the order they are loaded.
var expConsts = []constReg{
	{"expLo", Z20, 0xc2d00000}, // -104
	{"expHi", Z21, 0x42b20000}, // 89
	{"log2e", Z22, 0x3fb8aa3b},
	{"ln2Hi", Z23, 0x3f318000},
	{"ln2Lo", Z24, 0xb95e8083},
	{"c7", Z25, 0x39500d01},
	{"c6", Z26, 0x3ab60b61},
	{"c5", Z27, 0x3c088889},
	{"c4", Z28, 0x3d2aaaab},
	{"c3", Z29, 0x3e2aaaab},
	{"c2", Z30, 0x3f000000}, // 0.5
	{"one", Z19, 0x3f800000},
}

// geluConsts are the coefficients of erfc's polynomial P and the other
// constants of GELU.
var geluConsts = []constReg{
	{"e0", Z6, 0xbfa1fc4e},
	{"e1", Z7, 0x3f8000c7},
	{"e2", Z8, 0x3ebf88fb},
	{"e3", Z9, 0x3dc636c9},
	{"e4", Z10, 0xbe3ec24c},
	{"e5", Z11, 0x3e8ec7cc},
	{"e6", Z12, 0xbf914e5d},
	{"e7", Z13, 0x3fbe87b0},
	{"e8", Z14, 0xbf527892},
	{"e9", Z15, 0x3e2ef945},
	{"negInvSqrt2", Z16, 0xbf3504f3},
	{"half", Z17, 0x3f000000},
	{"two", Z18, 0x40000000},
	{"absMask", Z31, 0x7fffffff},
}

// avx2Epilogue takes a row eight lanes at a time, then the rest under a lane
// mask from ·avx2TailMask. Its constants are eight copies each in
// ·avx2Consts (avx2consts_amd64.s), but for exp's bounds, kept in Y13, Y14.
var avx2Epilogue = &epilogueISA{
	suffix: "AVX2", lanes: 8, v: ymm, mask: Y6,
	columns: func(ctx *build.Context, e *epilogue) {
		ctx.Label("col")
		ctx.CMPQ(RCX, U8(8))
		ctx.JB(LabelRef("tail"))
		// VADDPS takes a whole vector from memory.
		full := func(m Mem, _ Register) Op { return m }
		e.vector(ctx, "", full, func() { ctx.VMOVUPS(Y4, Mem{Base: R13}) }, true)
		ctx.ADDQ(U8(32), R13)
		ctx.SUBQ(U8(8), RCX)
		ctx.JMP(LabelRef("col"))

		ctx.Label("tail")
		ctx.TESTQ(RCX, RCX)
		ctx.JEQ(LabelRef("endrow"))
		ctx.LEAQ(avx2Sym("avx2TailMask", 64), RAX)
		ctx.SHLQ(U8(2), RCX)
		ctx.SUBQ(RCX, RAX)
		ctx.VMOVUPS(Mem{Base: RAX}, Y12)
		masked := func(m Mem, dst Register) Op {
			ctx.VMASKMOVPS(m, Y12, dst)
			return dst
		}
		e.vector(ctx, "t", masked, func() { ctx.VMASKMOVPS(Y4, Y12, Mem{Base: R13}) }, false)
	},
	rowBias: func(ctx *build.Context, m Mem) {
		ctx.VBROADCASTSS(m, Y0)
		ctx.VADDPS(Y0, Y4, Y4)
	},
	consts: func(act string) (map[string]Op, func(*build.Context)) {
		switch act {
		case "ReLU":
			return nil, func(ctx *build.Context) { ctx.VXORPS(Y7, Y7, Y7) }
		case "Gelu", "QuickGelu":
			k := map[string]Op{"expLo": Y13, "expHi": Y14}
			for name, off := range avx2ConstOffsets {
				k[name] = avx2Sym("avx2Consts", off)
			}
			return k, func(ctx *build.Context) {
				ctx.VMOVUPS(avx2Sym("avx2Consts", 0), Y13)
				ctx.VMOVUPS(avx2Sym("avx2Consts", 32), Y14)
			}
		}
		return nil, func(*build.Context) {}
	},
	and:   func(ctx *build.Context, a, b, dst Op) { ctx.VANDPS(a, b, dst) },
	round: func(ctx *build.Context, src, dst Op) { ctx.VROUNDPS(U8(0), src, dst) },
	// Without VSCALEFPS, 2ⁿ·p is two exact power-of-two products,
	// 2^(n>>1) and then 2^(n-(n>>1)), which round once like it.
	scale: func(ctx *build.Context, k map[string]Op, n, p, dst Register) {
		h := Y3
		ctx.VCVTPS2DQ(n, n)
		ctx.VPSRAD(U8(1), n, h)
		ctx.VPSUBD(h, n, n)
		ctx.VPADDD(k["bias127"], h, h)
		ctx.VPSLLD(U8(23), h, h)
		ctx.VPADDD(k["bias127"], n, n)
		ctx.VPSLLD(U8(23), n, n)
		ctx.VMULPS(h, p, p)
		ctx.VMULPS(n, p, dst)
	},
	sel:  func(ctx *build.Context, src, dst Register) { ctx.VBLENDVPS(Y6, src, dst, dst) },
	vmov: func(ctx *build.Context, src Op, dst Register) { ctx.VMOVUPS(src, dst) },
}

// avx2ConstOffsets are the offsets of the constants in ·avx2Consts.
var avx2ConstOffsets = map[string]int{
	"log2e": 64, "ln2Hi": 96, "ln2Lo": 128,
	"c7": 160, "c6": 192, "c5": 224, "c4": 256, "c3": 288, "c2": 320, "half": 320, "one": 352,
	"bias127": 384,
	"e0":      416, "e1": 448, "e2": 480, "e3": 512, "e4": 544,
	"e5": 576, "e6": 608, "e7": 640, "e8": 672, "e9": 704,
	"negInvSqrt2": 736, "two": 768, "absMask": 800, "negQ": 832,
}

// avx2Sym is the address off bytes into the package's symbol name.
func avx2Sym(name string, off int) Mem {
	return NewDataAddr(Symbol{Name: "·" + name}, off)
}
