//go:build !purego

#include "textflag.h"

// func depthwiseRowAVX2(dst, src, w, bias *float32, c, ps, ld, kh, kw, wo, stride, n int)
//
// depthwiseRowGo for the n <= 8 channels of one block, the pointers at the block's first channel;
// c and ps stay the pixel strides of dst and src. Each output pixel starts from the bias and adds the
// taps in the order of the Go twin, one fused multiply-add each, so the results match it bit for bit.
// Tiles of eight pixels keep one accumulator each and read each tap's weights once for all of them;
// a block of fewer than eight channels runs the same code with masked loads and stores.
//
// Registers: DI dst, SI src, DX w, BX bias (0 when nil), Y15 the channel mask; R8 ps·4, the bytes
// between pixels in src and taps in w; R13 stride·ps·4, between neighbouring output pixels' inputs,
// R15 3·R13; R9 ld·4 - kw·ps·4, from a row's end to the next row's start; R12 the tile's first pixel.
TEXT ·depthwiseRowAVX2(SB), NOSPLIT, $0-96
	MOVQ  dst+0(FP), DI
	MOVQ  src+8(FP), SI
	MOVQ  w+16(FP), DX
	MOVQ  bias+24(FP), BX
	MOVQ  n+88(FP), AX
	SHLQ  $2, AX
	LEAQ  ·avx2TailMask+64(SB), CX
	SUBQ  AX, CX
	VMOVUPS (CX), Y15
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
	CMPQ  n+88(FP), $8
	JLT   mstart

fstart:
	XORQ R12, R12
	CMPQ wo+72(FP), $8
	JLT  ftile1

ftile8:
	// The last tile overlaps the one before when wo is not a multiple of 8: dst is overwritten, not
	// accumulated into, so computing a pixel twice is harmless.
	MOVQ wo+72(FP), AX
	SUBQ $8, AX
	CMPQ R12, AX
	JLE  ft8go
	MOVQ AX, R12

ft8go:
	VXORPS Y0, Y0, Y0
	TESTQ  BX, BX
	JZ     ft8init
	VMOVUPS    (BX), Y0

ft8init:
	VMOVAPS Y0, Y1
	VMOVAPS Y0, Y2
	VMOVAPS Y0, Y3
	VMOVAPS Y0, Y4
	VMOVAPS Y0, Y5
	VMOVAPS Y0, Y6
	VMOVAPS Y0, Y7
	MOVQ  R12, AX
	IMULQ R13, AX
	ADDQ  SI, AX
	MOVQ  DX, R14
	MOVQ  kh+56(FP), R10

ft8ky:
	MOVQ kw+64(FP), R11

ft8kx:
	VMOVUPS    (R14), Y8
	LEAQ (AX)(R13*4), CX
	VMOVUPS    (AX), Y9
	VFMADD231PS Y9, Y8, Y0
	VMOVUPS    (AX)(R13*1), Y9
	VFMADD231PS Y9, Y8, Y1
	VMOVUPS    (AX)(R13*2), Y9
	VFMADD231PS Y9, Y8, Y2
	VMOVUPS    (AX)(R15*1), Y9
	VFMADD231PS Y9, Y8, Y3
	VMOVUPS    (CX), Y9
	VFMADD231PS Y9, Y8, Y4
	VMOVUPS    (CX)(R13*1), Y9
	VFMADD231PS Y9, Y8, Y5
	VMOVUPS    (CX)(R13*2), Y9
	VFMADD231PS Y9, Y8, Y6
	VMOVUPS    (CX)(R15*1), Y9
	VFMADD231PS Y9, Y8, Y7
	ADDQ R8, AX
	ADDQ R8, R14
	DECQ R11
	JNZ  ft8kx
	ADDQ R9, AX
	DECQ R10
	JNZ  ft8ky

	// dst: AX at the tile's first pixel, CX four pixels on; R10 one pixel, R11 three.
	MOVQ  c+32(FP), R10
	SHLQ  $2, R10
	MOVQ  R12, AX
	IMULQ R10, AX
	ADDQ  DI, AX
	LEAQ  (AX)(R10*4), CX
	LEAQ  (R10)(R10*2), R11
	VMOVUPS    Y0, (AX)
	VMOVUPS    Y1, (AX)(R10*1)
	VMOVUPS    Y2, (AX)(R10*2)
	VMOVUPS    Y3, (AX)(R11*1)
	VMOVUPS    Y4, (CX)
	VMOVUPS    Y5, (CX)(R10*1)
	VMOVUPS    Y6, (CX)(R10*2)
	VMOVUPS    Y7, (CX)(R11*1)
	ADDQ $8, R12
	CMPQ R12, wo+72(FP)
	JLT  ftile8
	VZEROUPPER
	RET

ftile1:
	VXORPS Y0, Y0, Y0
	TESTQ  BX, BX
	JZ     ft1init
	VMOVUPS    (BX), Y0

ft1init:
	MOVQ  R12, AX
	IMULQ R13, AX
	ADDQ  SI, AX
	MOVQ  DX, R14
	MOVQ  kh+56(FP), R10

ft1ky:
	MOVQ kw+64(FP), R11

ft1kx:
	VMOVUPS    (R14), Y8
	VMOVUPS    (AX), Y9
	VFMADD231PS Y9, Y8, Y0
	ADDQ R8, AX
	ADDQ R8, R14
	DECQ R11
	JNZ  ft1kx
	ADDQ R9, AX
	DECQ R10
	JNZ  ft1ky
	MOVQ  c+32(FP), R10
	SHLQ  $2, R10
	MOVQ  R12, AX
	IMULQ R10, AX
	ADDQ  DI, AX
	VMOVUPS    Y0, (AX)
	INCQ R12
	CMPQ R12, wo+72(FP)
	JLT  ftile1
	VZEROUPPER
	RET

mstart:
	XORQ R12, R12
	CMPQ wo+72(FP), $8
	JLT  mtile1

mtile8:
	// The last tile overlaps the one before when wo is not a multiple of 8: dst is overwritten, not
	// accumulated into, so computing a pixel twice is harmless.
	MOVQ wo+72(FP), AX
	SUBQ $8, AX
	CMPQ R12, AX
	JLE  mt8go
	MOVQ AX, R12

mt8go:
	VXORPS Y0, Y0, Y0
	TESTQ  BX, BX
	JZ     mt8init
	VMASKMOVPS (BX), Y15, Y0

mt8init:
	VMOVAPS Y0, Y1
	VMOVAPS Y0, Y2
	VMOVAPS Y0, Y3
	VMOVAPS Y0, Y4
	VMOVAPS Y0, Y5
	VMOVAPS Y0, Y6
	VMOVAPS Y0, Y7
	MOVQ  R12, AX
	IMULQ R13, AX
	ADDQ  SI, AX
	MOVQ  DX, R14
	MOVQ  kh+56(FP), R10

mt8ky:
	MOVQ kw+64(FP), R11

mt8kx:
	VMASKMOVPS (R14), Y15, Y8
	LEAQ (AX)(R13*4), CX
	VMASKMOVPS (AX), Y15, Y9
	VFMADD231PS Y9, Y8, Y0
	VMASKMOVPS (AX)(R13*1), Y15, Y9
	VFMADD231PS Y9, Y8, Y1
	VMASKMOVPS (AX)(R13*2), Y15, Y9
	VFMADD231PS Y9, Y8, Y2
	VMASKMOVPS (AX)(R15*1), Y15, Y9
	VFMADD231PS Y9, Y8, Y3
	VMASKMOVPS (CX), Y15, Y9
	VFMADD231PS Y9, Y8, Y4
	VMASKMOVPS (CX)(R13*1), Y15, Y9
	VFMADD231PS Y9, Y8, Y5
	VMASKMOVPS (CX)(R13*2), Y15, Y9
	VFMADD231PS Y9, Y8, Y6
	VMASKMOVPS (CX)(R15*1), Y15, Y9
	VFMADD231PS Y9, Y8, Y7
	ADDQ R8, AX
	ADDQ R8, R14
	DECQ R11
	JNZ  mt8kx
	ADDQ R9, AX
	DECQ R10
	JNZ  mt8ky

	// dst: AX at the tile's first pixel, CX four pixels on; R10 one pixel, R11 three.
	MOVQ  c+32(FP), R10
	SHLQ  $2, R10
	MOVQ  R12, AX
	IMULQ R10, AX
	ADDQ  DI, AX
	LEAQ  (AX)(R10*4), CX
	LEAQ  (R10)(R10*2), R11
	VMASKMOVPS Y0, Y15, (AX)
	VMASKMOVPS Y1, Y15, (AX)(R10*1)
	VMASKMOVPS Y2, Y15, (AX)(R10*2)
	VMASKMOVPS Y3, Y15, (AX)(R11*1)
	VMASKMOVPS Y4, Y15, (CX)
	VMASKMOVPS Y5, Y15, (CX)(R10*1)
	VMASKMOVPS Y6, Y15, (CX)(R10*2)
	VMASKMOVPS Y7, Y15, (CX)(R11*1)
	ADDQ $8, R12
	CMPQ R12, wo+72(FP)
	JLT  mtile8
	VZEROUPPER
	RET

mtile1:
	VXORPS Y0, Y0, Y0
	TESTQ  BX, BX
	JZ     mt1init
	VMASKMOVPS (BX), Y15, Y0

mt1init:
	MOVQ  R12, AX
	IMULQ R13, AX
	ADDQ  SI, AX
	MOVQ  DX, R14
	MOVQ  kh+56(FP), R10

mt1ky:
	MOVQ kw+64(FP), R11

mt1kx:
	VMASKMOVPS (R14), Y15, Y8
	VMASKMOVPS (AX), Y15, Y9
	VFMADD231PS Y9, Y8, Y0
	ADDQ R8, AX
	ADDQ R8, R14
	DECQ R11
	JNZ  mt1kx
	ADDQ R9, AX
	DECQ R10
	JNZ  mt1ky
	MOVQ  c+32(FP), R10
	SHLQ  $2, R10
	MOVQ  R12, AX
	IMULQ R10, AX
	ADDQ  DI, AX
	VMASKMOVPS Y0, Y15, (AX)
	INCQ R12
	CMPQ R12, wo+72(FP)
	JLT  mtile1
	VZEROUPPER
	RET
