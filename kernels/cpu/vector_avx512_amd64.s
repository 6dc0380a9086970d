//go:build !purego

#include "textflag.h"

// TAILMASK sets K1 to the low CX lanes, 0 < CX < 16.
#define TAILMASK \
	MOVL  $1, AX   \
	SHLL  CX, AX   \
	DECL  AX       \
	KMOVW AX, K1

// HSUM folds the 16 lanes of Z0 into the low lane of X0.
#define HSUM \
	VEXTRACTF64X4 $1, Z0, Y1   \
	VADDPS        Y1, Y0, Y0   \
	VEXTRACTF128  $1, Y0, X1   \
	VADDPS        X1, X0, X0   \
	VPERMILPS     $0x4e, X0, X1 \
	VADDPS        X1, X0, X0   \
	VPERMILPS     $0xb1, X0, X1 \
	VADDPS        X1, X0, X0

// HMAX folds the 16 lanes of Z0 into their maximum in the low lane of X0.
#define HMAX \
	VEXTRACTF64X4 $1, Z0, Y1   \
	VMAXPS        Y1, Y0, Y0   \
	VEXTRACTF128  $1, Y0, X1   \
	VMAXPS        X1, X0, X0   \
	VPERMILPS     $0x4e, X0, X1 \
	VMAXPS        X1, X0, X0   \
	VPERMILPS     $0xb1, X0, X1 \
	VMAXPS        X1, X0, X0

// func dotAVX512(x, y []float32) float32
TEXT ·dotAVX512(SB), NOSPLIT, $0-52
	MOVQ   x_base+0(FP), SI
	MOVQ   x_len+8(FP), CX
	MOVQ   y_base+24(FP), DI
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3

dot64:
	CMPQ        CX, $64
	JB          dot16
	VMOVUPS     (SI), Z4
	VMOVUPS     64(SI), Z5
	VMOVUPS     128(SI), Z6
	VMOVUPS     192(SI), Z7
	VFMADD231PS (DI), Z4, Z0
	VFMADD231PS 64(DI), Z5, Z1
	VFMADD231PS 128(DI), Z6, Z2
	VFMADD231PS 192(DI), Z7, Z3
	ADDQ        $256, SI
	ADDQ        $256, DI
	SUBQ        $64, CX
	JMP         dot64

dot16:
	CMPQ        CX, $16
	JB          dottail
	VMOVUPS     (SI), Z4
	VFMADD231PS (DI), Z4, Z0
	ADDQ        $64, SI
	ADDQ        $64, DI
	SUBQ        $16, CX
	JMP         dot16

dottail:
	TESTQ       CX, CX
	JEQ         dotsum
	TAILMASK
	VMOVUPS.Z   (SI), K1, Z4
	VMOVUPS.Z   (DI), K1, Z5
	VFMADD231PS Z5, Z4, Z1

dotsum:
	VADDPS Z1, Z0, Z0
	VADDPS Z3, Z2, Z2
	VADDPS Z2, Z0, Z0
	HSUM
	VZEROUPPER
	MOVSS  X0, ret+48(FP)
	RET

// func axpyAVX512(alpha float32, x, y []float32)
TEXT ·axpyAVX512(SB), NOSPLIT, $0-56
	VBROADCASTSS alpha+0(FP), Z31
	MOVQ         x_base+8(FP), SI
	MOVQ         x_len+16(FP), CX
	MOVQ         y_base+32(FP), DI

axpy64:
	CMPQ        CX, $64
	JB          axpy16
	VMOVUPS     (DI), Z0
	VMOVUPS     64(DI), Z1
	VMOVUPS     128(DI), Z2
	VMOVUPS     192(DI), Z3
	VFMADD231PS (SI), Z31, Z0
	VFMADD231PS 64(SI), Z31, Z1
	VFMADD231PS 128(SI), Z31, Z2
	VFMADD231PS 192(SI), Z31, Z3
	VMOVUPS     Z0, (DI)
	VMOVUPS     Z1, 64(DI)
	VMOVUPS     Z2, 128(DI)
	VMOVUPS     Z3, 192(DI)
	ADDQ        $256, SI
	ADDQ        $256, DI
	SUBQ        $64, CX
	JMP         axpy64

axpy16:
	CMPQ        CX, $16
	JB          axpytail
	VMOVUPS     (DI), Z0
	VFMADD231PS (SI), Z31, Z0
	VMOVUPS     Z0, (DI)
	ADDQ        $64, SI
	ADDQ        $64, DI
	SUBQ        $16, CX
	JMP         axpy16

axpytail:
	TESTQ       CX, CX
	JEQ         axpydone
	TAILMASK
	VMOVUPS.Z   (DI), K1, Z0
	VMOVUPS.Z   (SI), K1, Z1
	VFMADD231PS Z1, Z31, Z0
	VMOVUPS     Z0, K1, (DI)

axpydone:
	VZEROUPPER
	RET

// func scaleAVX512(alpha float32, x []float32)
TEXT ·scaleAVX512(SB), NOSPLIT, $0-32
	VBROADCASTSS alpha+0(FP), Z31
	MOVQ         x_base+8(FP), SI
	MOVQ         x_len+16(FP), CX

scale64:
	CMPQ    CX, $64
	JB      scale16
	VMULPS  (SI), Z31, Z0
	VMULPS  64(SI), Z31, Z1
	VMULPS  128(SI), Z31, Z2
	VMULPS  192(SI), Z31, Z3
	VMOVUPS Z0, (SI)
	VMOVUPS Z1, 64(SI)
	VMOVUPS Z2, 128(SI)
	VMOVUPS Z3, 192(SI)
	ADDQ    $256, SI
	SUBQ    $64, CX
	JMP     scale64

scale16:
	CMPQ    CX, $16
	JB      scaletail
	VMULPS  (SI), Z31, Z0
	VMOVUPS Z0, (SI)
	ADDQ    $64, SI
	SUBQ    $16, CX
	JMP     scale16

scaletail:
	TESTQ     CX, CX
	JEQ       scaledone
	TAILMASK
	VMOVUPS.Z (SI), K1, Z0
	VMULPS    Z0, Z31, Z0
	VMOVUPS   Z0, K1, (SI)

scaledone:
	VZEROUPPER
	RET

// func sumAVX512(x []float32) float32
TEXT ·sumAVX512(SB), NOSPLIT, $0-28
	MOVQ   x_base+0(FP), SI
	MOVQ   x_len+8(FP), CX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3

sum64:
	CMPQ   CX, $64
	JB     sum16
	VADDPS (SI), Z0, Z0
	VADDPS 64(SI), Z1, Z1
	VADDPS 128(SI), Z2, Z2
	VADDPS 192(SI), Z3, Z3
	ADDQ   $256, SI
	SUBQ   $64, CX
	JMP    sum64

sum16:
	CMPQ   CX, $16
	JB     sumtail
	VADDPS (SI), Z0, Z0
	ADDQ   $64, SI
	SUBQ   $16, CX
	JMP    sum16

sumtail:
	TESTQ     CX, CX
	JEQ       sumdone
	TAILMASK
	VMOVUPS.Z (SI), K1, Z4
	VADDPS    Z4, Z1, Z1

sumdone:
	VADDPS Z1, Z0, Z0
	VADDPS Z3, Z2, Z2
	VADDPS Z2, Z0, Z0
	HSUM
	VZEROUPPER
	MOVSS  X0, ret+24(FP)
	RET

// func maxAVX512(x []float32) float32
//
// Each VMAXPS names the running maximum as its second source, which the
// instruction returns when the other operand is NaN: NaNs are skipped.
TEXT ·maxAVX512(SB), NOSPLIT, $0-28
	MOVQ         x_base+0(FP), SI
	MOVQ         x_len+8(FP), CX
	MOVL         $0xff800000, AX
	VPBROADCASTD AX, Z0
	VMOVAPS      Z0, Z1
	VMOVAPS      Z0, Z2
	VMOVAPS      Z0, Z3
	VMOVAPS      Z0, Z8

max64:
	CMPQ    CX, $64
	JB      max16
	VMOVUPS (SI), Z4
	VMOVUPS 64(SI), Z5
	VMOVUPS 128(SI), Z6
	VMOVUPS 192(SI), Z7
	VMAXPS  Z0, Z4, Z0
	VMAXPS  Z1, Z5, Z1
	VMAXPS  Z2, Z6, Z2
	VMAXPS  Z3, Z7, Z3
	ADDQ    $256, SI
	SUBQ    $64, CX
	JMP     max64

max16:
	CMPQ    CX, $16
	JB      maxtail
	VMOVUPS (SI), Z4
	VMAXPS  Z0, Z4, Z0
	ADDQ    $64, SI
	SUBQ    $16, CX
	JMP     max16

maxtail:
	TESTQ   CX, CX
	JEQ     maxdone
	TAILMASK
	VMOVAPS Z8, Z4
	VMOVUPS (SI), K1, Z4
	VMAXPS  Z1, Z4, Z1

maxdone:
	VMAXPS Z1, Z0, Z0
	VMAXPS Z3, Z2, Z2
	VMAXPS Z2, Z0, Z0
	HMAX
	VZEROUPPER
	MOVSS  X0, ret+24(FP)
	RET

// EXPCONSTS loads the constants of EXP into Z19..Z30; it clobbers AX.
#define EXPCONSTS \
	MOVL         $0xc2d00000, AX \
	VPBROADCASTD AX, Z20 \
	MOVL         $0x42b20000, AX \
	VPBROADCASTD AX, Z21 \
	MOVL         $0x3fb8aa3b, AX \
	VPBROADCASTD AX, Z22 \
	MOVL         $0x3f318000, AX \
	VPBROADCASTD AX, Z23 \
	MOVL         $0xb95e8083, AX \
	VPBROADCASTD AX, Z24 \
	MOVL         $0x39500d01, AX \
	VPBROADCASTD AX, Z25 \
	MOVL         $0x3ab60b61, AX \
	VPBROADCASTD AX, Z26 \
	MOVL         $0x3c088889, AX \
	VPBROADCASTD AX, Z27 \
	MOVL         $0x3d2aaaab, AX \
	VPBROADCASTD AX, Z28 \
	MOVL         $0x3e2aaaab, AX \
	VPBROADCASTD AX, Z29 \
	MOVL         $0x3f000000, AX \
	VPBROADCASTD AX, Z30 \
	MOVL         $0x3f800000, AX \
	VPBROADCASTD AX, Z19

// EXP sets Z in place to exp(Z) for t already clamped to [-104, 89],
// NaN passing through; it clobbers Z1 and Z2. Z20..Z30 hold the constants
// loaded by expSubAVX512.
#define EXP(Z) \
	VMULPS      Z22, Z, Z1    \
	VRNDSCALEPS $0, Z1, Z1    \
	VFNMADD231PS Z23, Z1, Z   \
	VFNMADD231PS Z24, Z1, Z   \
	VMOVAPS     Z25, Z2       \
	VFMADD213PS Z26, Z, Z2    \
	VFMADD213PS Z27, Z, Z2    \
	VFMADD213PS Z28, Z, Z2    \
	VFMADD213PS Z29, Z, Z2    \
	VFMADD213PS Z30, Z, Z2    \
	VFMADD213PS Z19, Z, Z2    \
	VFMADD213PS Z19, Z, Z2    \
	VSCALEFPS   Z1, Z2, Z

// CLAMP sets Z to x - m clamped to [-104, 89], keeping NaN: the clamp
// bound is the first source, so a NaN second source is returned.
#define CLAMP(Z) \
	VSUBPS Z31, Z, Z  \
	VMAXPS Z, Z20, Z  \
	VMINPS Z, Z21, Z

// CLAMPONLY clamps Z to [-104, 89] in place, keeping NaN.
#define CLAMPONLY(Z) \
	VMAXPS Z, Z20, Z  \
	VMINPS Z, Z21, Z

// QGELU sets Z to Z·sigmoid(1.702·Z) = Z / (1 + exp(-1.702·Z)); it
// clobbers Z1, Z2, Z5 and needs -1.702 in Z18.
#define QGELU(Z) \
	VMULPS  Z18, Z, Z5 \
	CLAMPONLY(Z5)      \
	EXP(Z5)            \
	VADDPS  Z19, Z5, Z5 \
	VDIVPS  Z5, Z, Z

// GELU sets Z to Z·Φ(Z) = Z/2·erfc(-Z/√2). With u = -Z/√2, z = |u| and
// t = 1/(1 + z/2), erfc(z) = t·exp(-z² + P(t)) for a degree-9 P with
// coefficients in Z6..Z15, and erfc(u) = 2 - erfc(z) when u < 0. It
// clobbers Z0..Z3, Z5 and K2.
#define GELU(Z) \
	VMULPS       Z16, Z, Z3  \
	VPANDD       Z31, Z3, Z5 \
	VCMPPS       $4, Z5, Z3, K2 \
	VMOVAPS      Z5, Z0      \
	VFMADD213PS  Z19, Z17, Z0 \
	VDIVPS       Z0, Z19, Z0 \
	VMOVAPS      Z15, Z1     \
	VFMADD213PS  Z14, Z0, Z1 \
	VFMADD213PS  Z13, Z0, Z1 \
	VFMADD213PS  Z12, Z0, Z1 \
	VFMADD213PS  Z11, Z0, Z1 \
	VFMADD213PS  Z10, Z0, Z1 \
	VFMADD213PS  Z9, Z0, Z1  \
	VFMADD213PS  Z8, Z0, Z1  \
	VFMADD213PS  Z7, Z0, Z1  \
	VFMADD213PS  Z6, Z0, Z1  \
	VFNMADD213PS Z1, Z5, Z5  \
	CLAMPONLY(Z5)            \
	EXP(Z5)                  \
	VMULPS       Z0, Z5, Z5  \
	VSUBPS       Z5, Z18, Z0 \
	VMOVAPS      Z0, K2, Z5  \
	VMULPS       Z17, Z, Z   \
	VMULPS       Z5, Z, Z

// func expSubAVX512(dst, x []float32, m float32) float32
TEXT ·expSubAVX512(SB), NOSPLIT, $0-60
	MOVQ         dst_base+0(FP), DI
	MOVQ         x_base+24(FP), SI
	MOVQ         x_len+32(FP), CX
	VBROADCASTSS m+48(FP), Z31
	EXPCONSTS
	VPXORD       Z16, Z16, Z16
	VPXORD       Z17, Z17, Z17

exp32:
	CMPQ    CX, $32
	JB      exp16
	VMOVUPS (SI), Z4
	VMOVUPS 64(SI), Z5
	CLAMP(Z4)
	CLAMP(Z5)
	EXP(Z4)
	EXP(Z5)
	VMOVUPS Z4, (DI)
	VMOVUPS Z5, 64(DI)
	VADDPS  Z4, Z16, Z16
	VADDPS  Z5, Z17, Z17
	ADDQ    $128, SI
	ADDQ    $128, DI
	SUBQ    $32, CX
	JMP     exp32

exp16:
	CMPQ    CX, $16
	JB      exptail
	VMOVUPS (SI), Z4
	CLAMP(Z4)
	EXP(Z4)
	VMOVUPS Z4, (DI)
	VADDPS  Z4, Z16, Z16
	ADDQ    $64, SI
	ADDQ    $64, DI
	SUBQ    $16, CX

exptail:
	TESTQ     CX, CX
	JEQ       expdone
	TAILMASK
	VMOVUPS.Z (SI), K1, Z4
	CLAMP(Z4)
	EXP(Z4)
	VMOVUPS   Z4, K1, (DI)
	VADDPS    Z4, Z17, K1, Z17

expdone:
	VADDPS Z17, Z16, Z0
	HSUM
	VZEROUPPER
	MOVSS  X0, ret+56(FP)
	RET

// func quickGeluAVX512(dst, x []float32)
TEXT ·quickGeluAVX512(SB), NOSPLIT, $0-48
	MOVQ         dst_base+0(FP), DI
	MOVQ         x_base+24(FP), SI
	MOVQ         x_len+32(FP), CX
	EXPCONSTS
	MOVL         $0xbfd9db23, AX // -1.702
	VPBROADCASTD AX, Z18

qgelu16:
	CMPQ    CX, $16
	JB      qgelutail
	VMOVUPS (SI), Z4
	QGELU(Z4)
	VMOVUPS Z4, (DI)
	ADDQ    $64, SI
	ADDQ    $64, DI
	SUBQ    $16, CX
	JMP     qgelu16

qgelutail:
	TESTQ     CX, CX
	JEQ       qgeludone
	TAILMASK
	VMOVUPS.Z (SI), K1, Z4
	QGELU(Z4)
	VMOVUPS   Z4, K1, (DI)

qgeludone:
	VZEROUPPER
	RET

// func geluAVX512(dst, x []float32)
TEXT ·geluAVX512(SB), NOSPLIT, $0-48
	MOVQ         dst_base+0(FP), DI
	MOVQ         x_base+24(FP), SI
	MOVQ         x_len+32(FP), CX
	EXPCONSTS
	MOVL         $0xbfa1fc4e, AX // erfc coefficients c0..c9
	VPBROADCASTD AX, Z6
	MOVL         $0x3f8000c7, AX
	VPBROADCASTD AX, Z7
	MOVL         $0x3ebf88fb, AX
	VPBROADCASTD AX, Z8
	MOVL         $0x3dc636c9, AX
	VPBROADCASTD AX, Z9
	MOVL         $0xbe3ec24c, AX
	VPBROADCASTD AX, Z10
	MOVL         $0x3e8ec7cc, AX
	VPBROADCASTD AX, Z11
	MOVL         $0xbf914e5d, AX
	VPBROADCASTD AX, Z12
	MOVL         $0x3fbe87b0, AX
	VPBROADCASTD AX, Z13
	MOVL         $0xbf527892, AX
	VPBROADCASTD AX, Z14
	MOVL         $0x3e2ef945, AX
	VPBROADCASTD AX, Z15
	MOVL         $0xbf3504f3, AX // -1/√2
	VPBROADCASTD AX, Z16
	MOVL         $0x3f000000, AX // 0.5
	VPBROADCASTD AX, Z17
	MOVL         $0x40000000, AX // 2
	VPBROADCASTD AX, Z18
	MOVL         $0x7fffffff, AX // |·| mask
	VPBROADCASTD AX, Z31

gelu16:
	CMPQ    CX, $16
	JB      gelutail
	VMOVUPS (SI), Z4
	GELU(Z4)
	VMOVUPS Z4, (DI)
	ADDQ    $64, SI
	ADDQ    $64, DI
	SUBQ    $16, CX
	JMP     gelu16

gelutail:
	TESTQ     CX, CX
	JEQ       geludone
	TAILMASK
	VMOVUPS.Z (SI), K1, Z4
	GELU(Z4)
	VMOVUPS   Z4, K1, (DI)

geludone:
	VZEROUPPER
	RET
