//go:build !purego

#include "textflag.h"
#include "avx2_amd64.h"

// The AVX2+FMA vector kernels: those of vector_avx512_amd64.s, bit for bit (see avx2_amd64.h).

// func expSubAVX2(dst, x []float32, m float32) float32
//
// The sums of expSubAVX512: Y8, Y9 are its first accumulator, Y10, Y11 its second.
TEXT ·expSubAVX2(SB), NOSPLIT, $0-60
	MOVQ         dst_base+0(FP), DI
	MOVQ         x_base+24(FP), SI
	MOVQ         x_len+32(FP), CX
	VBROADCASTSS m+48(FP), Y15
	BOUNDS
	VXORPS       Y8, Y8, Y8
	VXORPS       Y9, Y9, Y9
	VXORPS       Y10, Y10, Y10
	VXORPS       Y11, Y11, Y11

exp32:
	CMPQ    CX, $32
	JB      exp16
	VMOVUPS (SI), Y4
	VSUBPS  Y15, Y4, Y4
	CLAMP(Y4)
	EXP(Y4)
	VMOVUPS Y4, (DI)
	VADDPS  Y4, Y8, Y8
	VMOVUPS 32(SI), Y4
	VSUBPS  Y15, Y4, Y4
	CLAMP(Y4)
	EXP(Y4)
	VMOVUPS Y4, 32(DI)
	VADDPS  Y4, Y9, Y9
	VMOVUPS 64(SI), Y4
	VSUBPS  Y15, Y4, Y4
	CLAMP(Y4)
	EXP(Y4)
	VMOVUPS Y4, 64(DI)
	VADDPS  Y4, Y10, Y10
	VMOVUPS 96(SI), Y4
	VSUBPS  Y15, Y4, Y4
	CLAMP(Y4)
	EXP(Y4)
	VMOVUPS Y4, 96(DI)
	VADDPS  Y4, Y11, Y11
	ADDQ    $128, SI
	ADDQ    $128, DI
	SUBQ    $32, CX
	JMP     exp32

exp16:
	CMPQ    CX, $16
	JB      exptail
	VMOVUPS (SI), Y4
	VSUBPS  Y15, Y4, Y4
	CLAMP(Y4)
	EXP(Y4)
	VMOVUPS Y4, (DI)
	VADDPS  Y4, Y8, Y8
	VMOVUPS 32(SI), Y4
	VSUBPS  Y15, Y4, Y4
	CLAMP(Y4)
	EXP(Y4)
	VMOVUPS Y4, 32(DI)
	VADDPS  Y4, Y9, Y9
	ADDQ    $64, SI
	ADDQ    $64, DI
	SUBQ    $16, CX

exptail:
	TESTQ      CX, CX
	JEQ        expdone
	VMOVUPS    Y11, Y7
	TAILMASKS
	VMASKMOVPS (SI), Y12, Y4
	VSUBPS     Y15, Y4, Y4
	CLAMP(Y4)
	EXP(Y4)
	VMASKMOVPS Y4, Y12, (DI)
	VANDPS     Y12, Y4, Y4
	VADDPS     Y4, Y10, Y10
	VMASKMOVPS 32(SI), Y11, Y4
	VSUBPS     Y15, Y4, Y4
	CLAMP(Y4)
	EXP(Y4)
	VMASKMOVPS Y4, Y11, 32(DI)
	VANDPS     Y11, Y4, Y4
	VADDPS     Y4, Y7, Y11

expdone:
	VADDPS Y10, Y8, Y0
	VADDPS Y11, Y9, Y1
	HSUM16
	VZEROUPPER
	MOVSS  X0, ret+56(FP)
	RET

// ACT8 runs an activation macro over x (SI) into dst (DI), CX values, eight at a time, the last
// lanes masked.
#define ACT8(ACT, L8, LTAIL, LDONE) \
L8: \
	CMPQ    CX, $8 \
	JB      LTAIL \
	VMOVUPS (SI), Y4 \
	ACT(Y4) \
	VMOVUPS Y4, (DI) \
	ADDQ    $32, SI \
	ADDQ    $32, DI \
	SUBQ    $8, CX \
	JMP     L8 \
LTAIL: \
	TESTQ      CX, CX \
	JEQ        LDONE \
	TAILMASKS \
	VMASKMOVPS (SI), Y12, Y4 \
	ACT(Y4) \
	VMASKMOVPS Y4, Y12, (DI) \
LDONE: \
	VZEROUPPER

// func quickGeluAVX2(dst, x []float32)
TEXT ·quickGeluAVX2(SB), NOSPLIT, $0-48
	MOVQ dst_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ x_len+32(FP), CX
	BOUNDS
	ACT8(QGELU, qg8, qgtail, qgdone)
	RET

// func geluAVX2(dst, x []float32)
TEXT ·geluAVX2(SB), NOSPLIT, $0-48
	MOVQ dst_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ x_len+32(FP), CX
	BOUNDS
	ACT8(GELU, g8, gtail, gdone)
	RET

// func dotAVX2(x, y []float32) float32
//
// The accumulators of dotAVX512, Z0..Z3, are Y0:Y1, Y2:Y3, Y4:Y5, Y6:Y7.
TEXT ·dotAVX2(SB), NOSPLIT, $0-52
	MOVQ   x_base+0(FP), SI
	MOVQ   x_len+8(FP), CX
	MOVQ   y_base+24(FP), DI
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7

dot64:
	CMPQ        CX, $64
	JB          dot16
	VMOVUPS     (SI), Y8
	VMOVUPS     32(SI), Y9
	VMOVUPS     64(SI), Y10
	VMOVUPS     96(SI), Y13
	VFMADD231PS (DI), Y8, Y0
	VFMADD231PS 32(DI), Y9, Y1
	VFMADD231PS 64(DI), Y10, Y2
	VFMADD231PS 96(DI), Y13, Y3
	VMOVUPS     128(SI), Y8
	VMOVUPS     160(SI), Y9
	VMOVUPS     192(SI), Y10
	VMOVUPS     224(SI), Y13
	VFMADD231PS 128(DI), Y8, Y4
	VFMADD231PS 160(DI), Y9, Y5
	VFMADD231PS 192(DI), Y10, Y6
	VFMADD231PS 224(DI), Y13, Y7
	ADDQ        $256, SI
	ADDQ        $256, DI
	SUBQ        $64, CX
	JMP         dot64

dot16:
	CMPQ        CX, $16
	JB          dottail
	VMOVUPS     (SI), Y8
	VMOVUPS     32(SI), Y9
	VFMADD231PS (DI), Y8, Y0
	VFMADD231PS 32(DI), Y9, Y1
	ADDQ        $64, SI
	ADDQ        $64, DI
	SUBQ        $16, CX
	JMP         dot16

dottail:
	TESTQ       CX, CX
	JEQ         dotsum
	TAILMASKS
	VMASKMOVPS  (SI), Y12, Y8
	VMASKMOVPS  (DI), Y12, Y9
	VFMADD231PS Y9, Y8, Y2
	VMASKMOVPS  32(SI), Y11, Y8
	VMASKMOVPS  32(DI), Y11, Y9
	VFMADD231PS Y9, Y8, Y3

dotsum:
	VADDPS Y2, Y0, Y0
	VADDPS Y3, Y1, Y1
	VADDPS Y6, Y4, Y4
	VADDPS Y7, Y5, Y5
	VADDPS Y4, Y0, Y0
	VADDPS Y5, Y1, Y1
	HSUM16
	VZEROUPPER
	MOVSS  X0, ret+48(FP)
	RET

// func sumAVX2(x []float32) float32
TEXT ·sumAVX2(SB), NOSPLIT, $0-28
	MOVQ   x_base+0(FP), SI
	MOVQ   x_len+8(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7

sum64:
	CMPQ   CX, $64
	JB     sum16
	VADDPS (SI), Y0, Y0
	VADDPS 32(SI), Y1, Y1
	VADDPS 64(SI), Y2, Y2
	VADDPS 96(SI), Y3, Y3
	VADDPS 128(SI), Y4, Y4
	VADDPS 160(SI), Y5, Y5
	VADDPS 192(SI), Y6, Y6
	VADDPS 224(SI), Y7, Y7
	ADDQ   $256, SI
	SUBQ   $64, CX
	JMP    sum64

sum16:
	CMPQ   CX, $16
	JB     sumtail
	VADDPS (SI), Y0, Y0
	VADDPS 32(SI), Y1, Y1
	ADDQ   $64, SI
	SUBQ   $16, CX
	JMP    sum16

sumtail:
	TESTQ      CX, CX
	JEQ        sumdone
	TAILMASKS
	VMASKMOVPS (SI), Y12, Y8
	VADDPS     Y8, Y2, Y2
	VMASKMOVPS 32(SI), Y11, Y8
	VADDPS     Y8, Y3, Y3

sumdone:
	VADDPS Y2, Y0, Y0
	VADDPS Y3, Y1, Y1
	VADDPS Y6, Y4, Y4
	VADDPS Y7, Y5, Y5
	VADDPS Y4, Y0, Y0
	VADDPS Y5, Y1, Y1
	HSUM16
	VZEROUPPER
	MOVSS  X0, ret+24(FP)
	RET

// func axpyAVX2(alpha float32, x, y []float32)
TEXT ·axpyAVX2(SB), NOSPLIT, $0-56
	VBROADCASTSS alpha+0(FP), Y15
	MOVQ         x_base+8(FP), SI
	MOVQ         x_len+16(FP), CX
	MOVQ         y_base+32(FP), DI

axpy32:
	CMPQ        CX, $32
	JB          axpy8
	VMOVUPS     (DI), Y0
	VMOVUPS     32(DI), Y1
	VMOVUPS     64(DI), Y2
	VMOVUPS     96(DI), Y3
	VFMADD231PS (SI), Y15, Y0
	VFMADD231PS 32(SI), Y15, Y1
	VFMADD231PS 64(SI), Y15, Y2
	VFMADD231PS 96(SI), Y15, Y3
	VMOVUPS     Y0, (DI)
	VMOVUPS     Y1, 32(DI)
	VMOVUPS     Y2, 64(DI)
	VMOVUPS     Y3, 96(DI)
	ADDQ        $128, SI
	ADDQ        $128, DI
	SUBQ        $32, CX
	JMP         axpy32

axpy8:
	CMPQ        CX, $8
	JB          axpytail
	VMOVUPS     (DI), Y0
	VFMADD231PS (SI), Y15, Y0
	VMOVUPS     Y0, (DI)
	ADDQ        $32, SI
	ADDQ        $32, DI
	SUBQ        $8, CX
	JMP         axpy8

axpytail:
	TESTQ       CX, CX
	JEQ         axpydone
	TAILMASKS
	VMASKMOVPS  (DI), Y12, Y0
	VMASKMOVPS  (SI), Y12, Y1
	VFMADD231PS Y1, Y15, Y0
	VMASKMOVPS  Y0, Y12, (DI)

axpydone:
	VZEROUPPER
	RET

// func scaleAVX2(alpha float32, x []float32)
TEXT ·scaleAVX2(SB), NOSPLIT, $0-32
	VBROADCASTSS alpha+0(FP), Y15
	MOVQ         x_base+8(FP), DI
	MOVQ         x_len+16(FP), CX

scale32:
	CMPQ    CX, $32
	JB      scale8
	VMULPS  (DI), Y15, Y0
	VMULPS  32(DI), Y15, Y1
	VMULPS  64(DI), Y15, Y2
	VMULPS  96(DI), Y15, Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ    $128, DI
	SUBQ    $32, CX
	JMP     scale32

scale8:
	CMPQ    CX, $8
	JB      scaletail
	VMULPS  (DI), Y15, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     scale8

scaletail:
	TESTQ      CX, CX
	JEQ        scaledone
	TAILMASKS
	VMASKMOVPS (DI), Y12, Y0
	VMULPS     Y0, Y15, Y0
	VMASKMOVPS Y0, Y12, (DI)

scaledone:
	VZEROUPPER
	RET

// func maxAVX2(x []float32) float32
//
// maxAVX512 with its accumulators Z0..Z3 as the pairs Y0:Y1, Y2:Y3, Y4:Y5, Y6:Y7. Each VMAXPS names
// the running maximum as its second source, which the instruction returns when the other operand is
// NaN: NaNs are skipped.
TEXT ·maxAVX2(SB), NOSPLIT, $0-28
	MOVQ      x_base+0(FP), SI
	MOVQ      x_len+8(FP), CX
	VPCMPEQD  Y0, Y0, Y0
	VPSLLD    $23, Y0, Y0 // -Inf
	VMOVAPS   Y0, Y1
	VMOVAPS   Y0, Y2
	VMOVAPS   Y0, Y3
	VMOVAPS   Y0, Y4
	VMOVAPS   Y0, Y5
	VMOVAPS   Y0, Y6
	VMOVAPS   Y0, Y7
	VMOVAPS   Y0, Y13

max64:
	CMPQ   CX, $64
	JB     max16
	VMOVUPS (SI), Y8
	VMAXPS Y0, Y8, Y0
	VMOVUPS 32(SI), Y8
	VMAXPS Y1, Y8, Y1
	VMOVUPS 64(SI), Y8
	VMAXPS Y2, Y8, Y2
	VMOVUPS 96(SI), Y8
	VMAXPS Y3, Y8, Y3
	VMOVUPS 128(SI), Y8
	VMAXPS Y4, Y8, Y4
	VMOVUPS 160(SI), Y8
	VMAXPS Y5, Y8, Y5
	VMOVUPS 192(SI), Y8
	VMAXPS Y6, Y8, Y6
	VMOVUPS 224(SI), Y8
	VMAXPS Y7, Y8, Y7
	ADDQ   $256, SI
	SUBQ   $64, CX
	JMP    max64

max16:
	CMPQ    CX, $16
	JB      maxtail
	VMOVUPS (SI), Y8
	VMAXPS  Y0, Y8, Y0
	VMOVUPS 32(SI), Y8
	VMAXPS  Y1, Y8, Y1
	ADDQ    $64, SI
	SUBQ    $16, CX
	JMP     max16

maxtail:
	TESTQ      CX, CX
	JEQ        maxdone
	TAILMASKS
	VMASKMOVPS (SI), Y12, Y8
	VBLENDVPS  Y12, Y8, Y13, Y8
	VMAXPS     Y2, Y8, Y2
	VMASKMOVPS 32(SI), Y11, Y8
	VBLENDVPS  Y11, Y8, Y13, Y8
	VMAXPS     Y3, Y8, Y3

maxdone:
	VMAXPS       Y2, Y0, Y0
	VMAXPS       Y3, Y1, Y1
	VMAXPS       Y6, Y4, Y4
	VMAXPS       Y7, Y5, Y5
	VMAXPS       Y4, Y0, Y0
	VMAXPS       Y5, Y1, Y1
	VMAXPS       Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VMAXPS       X1, X0, X0
	VPERMILPS    $0x4e, X0, X1
	VMAXPS       X1, X0, X0
	VPERMILPS    $0xb1, X0, X1
	VMAXPS       X1, X0, X0
	VZEROUPPER
	MOVSS        X0, ret+24(FP)
	RET
