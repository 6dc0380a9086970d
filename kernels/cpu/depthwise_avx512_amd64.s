//go:build !purego

#include "textflag.h"

// Register use in depthwiseRowAVX512:
//   DI dst, SI src, DX w, BX bias (0 when nil), K1 the channel mask
//   R8  ps·4, the byte stride of a pixel in src and of a tap in w
//   R13 stride·ps·4, the src bytes between neighbouring output pixels; R15 = 3·R13
//   R9  ld·4 - kw·ps·4, what takes the tap pointer from a row's end to the next row's start
//   R12 the first output pixel of the tile; AX, CX the tile's src pointers (pixels 0-3 and 4-7)
//   R14 the tap pointer; R10, R11 the ky and kx counters, then c·4 and 3·c·4 for the stores
// Each tile keeps one accumulator per output pixel and reads each tap's 16 weights once for all of them.
// In the 7-tap path, R13 and R15 are pixel pointers too, R11 is 3·ps·4 and R9 is ld·4.

// TILEINIT points AX at the tile's first input pixel, R14 at the first tap and loads the bias into Z0.
#define TILEINIT \
	MOVQ     R12, AX        \
	IMULQ    R13, AX        \
	ADDQ     SI, AX         \
	MOVQ     DX, R14        \
	VPXORD   Z0, Z0, Z0     \
	TESTQ    BX, BX         \
	JZ       2(PC)          \
	VMOVUPS.Z (BX), K1, Z0  \
	MOVQ     kh+56(FP), R10

// TILEDST points AX at the tile's first output pixel (CX four pixels on), R10 at the next pixel and R11
// at three pixels.
#define TILEDST \
	MOVQ  c+32(FP), R10     \
	SHLQ  $2, R10           \
	MOVQ  R12, AX           \
	IMULQ R10, AX           \
	ADDQ  DI, AX            \
	LEAQ  (AX)(R10*4), CX   \
	LEAQ  (R10)(R10*2), R11

// func depthwiseRowAVX512(dst, src, w, bias *float32, c, ps, ld, kh, kw, wo, stride, mask int)
TEXT ·depthwiseRowAVX512(SB), NOSPLIT, $0-96
	MOVQ  dst+0(FP), DI
	MOVQ  src+8(FP), SI
	MOVQ  w+16(FP), DX
	MOVQ  bias+24(FP), BX
	MOVQ  mask+88(FP), AX
	KMOVW AX, K1
	MOVQ  ps+40(FP), R8
	SHLQ  $2, R8
	MOVQ  stride+80(FP), R13
	IMULQ R8, R13
	LEAQ  (R13)(R13*2), R15
	MOVQ  kw+64(FP), R9
	IMULQ R8, R9
	NEGQ  R9
	MOVQ  ld+48(FP), AX
	LEAQ  (R9)(AX*4), R9
	XORQ  R12, R12
	MOVQ  wo+72(FP), AX
	CMPQ  AX, $8
	JLT   small
	CMPQ  kw+64(FP), $7
	JNE   tile8
	CMPQ  stride+80(FP), $1
	JEQ   tap7

tile8:
	// The last tile overlaps the one before when wo is not a multiple of 8: dst is overwritten, not
	// accumulated into, so computing a pixel twice is harmless.
	MOVQ wo+72(FP), AX
	SUBQ $8, AX
	CMPQ R12, AX
	JLE  t8go
	MOVQ AX, R12

t8go:
	TILEINIT
	VMOVAPS Z0, Z1
	VMOVAPS Z0, Z2
	VMOVAPS Z0, Z3
	VMOVAPS Z0, Z4
	VMOVAPS Z0, Z5
	VMOVAPS Z0, Z6
	VMOVAPS Z0, Z7

t8ky:
	MOVQ kw+64(FP), R11

t8kx:
	VMOVUPS.Z   (R14), K1, Z16
	LEAQ        (AX)(R13*4), CX
	VFMADD231PS (AX), Z16, K1, Z0
	VFMADD231PS (AX)(R13*1), Z16, K1, Z1
	VFMADD231PS (AX)(R13*2), Z16, K1, Z2
	VFMADD231PS (AX)(R15*1), Z16, K1, Z3
	VFMADD231PS (CX), Z16, K1, Z4
	VFMADD231PS (CX)(R13*1), Z16, K1, Z5
	VFMADD231PS (CX)(R13*2), Z16, K1, Z6
	VFMADD231PS (CX)(R15*1), Z16, K1, Z7
	ADDQ        R8, AX
	ADDQ        R8, R14
	DECQ        R11
	JNZ         t8kx
	ADDQ        R9, AX
	DECQ        R10
	JNZ         t8ky

	TILEDST
	VMOVUPS Z0, K1, (AX)
	VMOVUPS Z1, K1, (AX)(R10*1)
	VMOVUPS Z2, K1, (AX)(R10*2)
	VMOVUPS Z3, K1, (AX)(R11*1)
	VMOVUPS Z4, K1, (CX)
	VMOVUPS Z5, K1, (CX)(R10*1)
	VMOVUPS Z6, K1, (CX)(R10*2)
	VMOVUPS Z7, K1, (CX)(R11*1)
	ADDQ    $8, R12
	CMPQ    R12, wo+72(FP)
	JLT     tile8
	VZEROUPPER
	RET

small:
	CMPQ AX, $4
	JLT  tile1

tile4:
	MOVQ wo+72(FP), AX
	SUBQ $4, AX
	CMPQ R12, AX
	JLE  t4go
	MOVQ AX, R12

t4go:
	TILEINIT
	VMOVAPS Z0, Z1
	VMOVAPS Z0, Z2
	VMOVAPS Z0, Z3

t4ky:
	MOVQ kw+64(FP), R11

t4kx:
	VMOVUPS.Z   (R14), K1, Z16
	VFMADD231PS (AX), Z16, K1, Z0
	VFMADD231PS (AX)(R13*1), Z16, K1, Z1
	VFMADD231PS (AX)(R13*2), Z16, K1, Z2
	VFMADD231PS (AX)(R15*1), Z16, K1, Z3
	ADDQ        R8, AX
	ADDQ        R8, R14
	DECQ        R11
	JNZ         t4kx
	ADDQ        R9, AX
	DECQ        R10
	JNZ         t4ky

	TILEDST
	VMOVUPS Z0, K1, (AX)
	VMOVUPS Z1, K1, (AX)(R10*1)
	VMOVUPS Z2, K1, (AX)(R10*2)
	VMOVUPS Z3, K1, (AX)(R11*1)
	ADDQ    $4, R12
	CMPQ    R12, wo+72(FP)
	JLT     tile4
	VZEROUPPER
	RET

tile1:
	TILEINIT

t1ky:
	MOVQ kw+64(FP), R11

t1kx:
	VMOVUPS.Z   (R14), K1, Z16
	VFMADD231PS (AX), Z16, K1, Z0
	ADDQ        R8, AX
	ADDQ        R8, R14
	DECQ        R11
	JNZ         t1kx
	ADDQ        R9, AX
	DECQ        R10
	JNZ         t1ky

	TILEDST
	VMOVUPS Z0, K1, (AX)
	INCQ    R12
	CMPQ    R12, wo+72(FP)
	JLT     tile1
	VZEROUPPER
	RET

	// 7 taps at stride 1 (ConvNeXt): per kernel row the taps stay in Z16-Z22, and each of the tile's 14
	// input pixels is loaded once and used by every tap that reaches it: 56 FMAs for 21 loads.
tap7:
	MOVQ ld+48(FP), R9
	SHLQ $2, R9

t7tile:
	MOVQ wo+72(FP), AX
	SUBQ $8, AX
	CMPQ R12, AX
	JLE  t7go
	MOVQ AX, R12

t7go:
	// TILEINIT with the pixel step in R8: R13 is a pixel pointer here. TILEDST changed R11.
	LEAQ      (R8)(R8*2), R11
	MOVQ      R12, AX
	IMULQ     R8, AX
	ADDQ      SI, AX
	MOVQ      DX, R14
	VPXORD    Z0, Z0, Z0
	TESTQ     BX, BX
	JZ        2(PC)
	VMOVUPS.Z (BX), K1, Z0
	MOVQ      kh+56(FP), R10
	VMOVAPS Z0, Z1
	VMOVAPS Z0, Z2
	VMOVAPS Z0, Z3
	VMOVAPS Z0, Z4
	VMOVAPS Z0, Z5
	VMOVAPS Z0, Z6
	VMOVAPS Z0, Z7

t7ky:
	VMOVUPS.Z (R14), K1, Z16
	VMOVUPS.Z (R14)(R8*1), K1, Z17
	VMOVUPS.Z (R14)(R8*2), K1, Z18
	VMOVUPS.Z (R14)(R11*1), K1, Z19
	LEAQ      (R14)(R8*4), R14
	VMOVUPS.Z (R14), K1, Z20
	VMOVUPS.Z (R14)(R8*1), K1, Z21
	VMOVUPS.Z (R14)(R8*2), K1, Z22
	LEAQ      (R14)(R11*1), R14
	LEAQ      (AX)(R8*4), CX
	LEAQ      (CX)(R8*4), R13
	LEAQ      (R13)(R8*4), R15
	VMOVUPS.Z   (AX), K1, Z24
	VFMADD231PS Z24, Z16, Z0
	VMOVUPS.Z   (AX)(R8*1), K1, Z25
	VFMADD231PS Z25, Z16, Z1
	VFMADD231PS Z25, Z17, Z0
	VMOVUPS.Z   (AX)(R8*2), K1, Z26
	VFMADD231PS Z26, Z16, Z2
	VFMADD231PS Z26, Z17, Z1
	VFMADD231PS Z26, Z18, Z0
	VMOVUPS.Z   (AX)(R11*1), K1, Z27
	VFMADD231PS Z27, Z16, Z3
	VFMADD231PS Z27, Z17, Z2
	VFMADD231PS Z27, Z18, Z1
	VFMADD231PS Z27, Z19, Z0
	VMOVUPS.Z   (CX), K1, Z24
	VFMADD231PS Z24, Z16, Z4
	VFMADD231PS Z24, Z17, Z3
	VFMADD231PS Z24, Z18, Z2
	VFMADD231PS Z24, Z19, Z1
	VFMADD231PS Z24, Z20, Z0
	VMOVUPS.Z   (CX)(R8*1), K1, Z25
	VFMADD231PS Z25, Z16, Z5
	VFMADD231PS Z25, Z17, Z4
	VFMADD231PS Z25, Z18, Z3
	VFMADD231PS Z25, Z19, Z2
	VFMADD231PS Z25, Z20, Z1
	VFMADD231PS Z25, Z21, Z0
	VMOVUPS.Z   (CX)(R8*2), K1, Z26
	VFMADD231PS Z26, Z16, Z6
	VFMADD231PS Z26, Z17, Z5
	VFMADD231PS Z26, Z18, Z4
	VFMADD231PS Z26, Z19, Z3
	VFMADD231PS Z26, Z20, Z2
	VFMADD231PS Z26, Z21, Z1
	VFMADD231PS Z26, Z22, Z0
	VMOVUPS.Z   (CX)(R11*1), K1, Z27
	VFMADD231PS Z27, Z16, Z7
	VFMADD231PS Z27, Z17, Z6
	VFMADD231PS Z27, Z18, Z5
	VFMADD231PS Z27, Z19, Z4
	VFMADD231PS Z27, Z20, Z3
	VFMADD231PS Z27, Z21, Z2
	VFMADD231PS Z27, Z22, Z1
	VMOVUPS.Z   (R13), K1, Z24
	VFMADD231PS Z24, Z17, Z7
	VFMADD231PS Z24, Z18, Z6
	VFMADD231PS Z24, Z19, Z5
	VFMADD231PS Z24, Z20, Z4
	VFMADD231PS Z24, Z21, Z3
	VFMADD231PS Z24, Z22, Z2
	VMOVUPS.Z   (R13)(R8*1), K1, Z25
	VFMADD231PS Z25, Z18, Z7
	VFMADD231PS Z25, Z19, Z6
	VFMADD231PS Z25, Z20, Z5
	VFMADD231PS Z25, Z21, Z4
	VFMADD231PS Z25, Z22, Z3
	VMOVUPS.Z   (R13)(R8*2), K1, Z26
	VFMADD231PS Z26, Z19, Z7
	VFMADD231PS Z26, Z20, Z6
	VFMADD231PS Z26, Z21, Z5
	VFMADD231PS Z26, Z22, Z4
	VMOVUPS.Z   (R13)(R11*1), K1, Z27
	VFMADD231PS Z27, Z20, Z7
	VFMADD231PS Z27, Z21, Z6
	VFMADD231PS Z27, Z22, Z5
	VMOVUPS.Z   (R15), K1, Z24
	VFMADD231PS Z24, Z21, Z7
	VFMADD231PS Z24, Z22, Z6
	VMOVUPS.Z   (R15)(R8*1), K1, Z25
	VFMADD231PS Z25, Z22, Z7
	ADDQ      R9, AX
	DECQ      R10
	JNZ       t7ky

	TILEDST
	VMOVUPS Z0, K1, (AX)
	VMOVUPS Z1, K1, (AX)(R10*1)
	VMOVUPS Z2, K1, (AX)(R10*2)
	VMOVUPS Z3, K1, (AX)(R11*1)
	VMOVUPS Z4, K1, (CX)
	VMOVUPS Z5, K1, (CX)(R10*1)
	VMOVUPS Z6, K1, (CX)(R10*2)
	VMOVUPS Z7, K1, (CX)(R11*1)
	ADDQ    $8, R12
	CMPQ    R12, wo+72(FP)
	JLT     t7tile
	VZEROUPPER
	RET
