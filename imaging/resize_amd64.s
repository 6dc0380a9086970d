//go:build !purego

#include "textflag.h"

// Fixed-point rounding constant 1 << (22-1) and the 16-byte shuffle that
// spreads four packed RGB pixels into four R,G,B,0 dword groups.
DATA resizeHalf<>+0(SB)/4, $0x200000
GLOBL resizeHalf<>(SB), RODATA|NOPTR, $4
DATA rgbSpread<>+0(SB)/8, $0x8005040380020100
DATA rgbSpread<>+8(SB)/8, $0x800b0a0980080706
GLOBL rgbSpread<>(SB), RODATA|NOPTR, $16
// Keeps bytes 0-2, 4-6, 8-10, 12-14: four R,G,B,0 pixels back to 12 bytes.
DATA rgbPack<>+0(SB)/8, $0x0908060504020100
DATA rgbPack<>+8(SB)/8, $0x808080800e0d0c0a
GLOBL rgbPack<>(SB), RODATA|NOPTR, $16

// func vertRowAVX512(dst, src *uint8, stride int, k *int32, n, width int)
//
// dst[i] = clip8(half + sum_t src[t*stride+i] * k[t]) for i < width, width
// a multiple of 16, n >= 1. Z0-Z3 accumulate 64 columns at a time.
TEXT ·vertRowAVX512(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ stride+16(FP), R8
	MOVQ k+24(FP), R9
	MOVQ n+32(FP), R10
	MOVQ width+40(FP), R11
	VPBROADCASTD resizeHalf<>(SB), Z31
	VPXORD Z30, Z30, Z30
	XORQ CX, CX

blk64:
	LEAQ 64(CX), AX
	CMPQ AX, R11
	JGT  blk16
	VMOVDQA32 Z31, Z0
	VMOVDQA32 Z31, Z1
	VMOVDQA32 Z31, Z2
	VMOVDQA32 Z31, Z3
	LEAQ (SI)(CX*1), BX
	MOVQ R9, DX
	MOVQ R10, R12

tap64:
	VPBROADCASTD (DX), Z4
	VPMOVZXBD (BX), Z5
	VPMOVZXBD 16(BX), Z6
	VPMOVZXBD 32(BX), Z7
	VPMOVZXBD 48(BX), Z8
	VPMULLD Z4, Z5, Z5
	VPMULLD Z4, Z6, Z6
	VPMULLD Z4, Z7, Z7
	VPMULLD Z4, Z8, Z8
	VPADDD Z5, Z0, Z0
	VPADDD Z6, Z1, Z1
	VPADDD Z7, Z2, Z2
	VPADDD Z8, Z3, Z3
	ADDQ R8, BX
	ADDQ $4, DX
	DECQ R12
	JNZ  tap64

	VPSRAD $22, Z0, Z0
	VPSRAD $22, Z1, Z1
	VPSRAD $22, Z2, Z2
	VPSRAD $22, Z3, Z3
	VPMAXSD Z30, Z0, Z0
	VPMAXSD Z30, Z1, Z1
	VPMAXSD Z30, Z2, Z2
	VPMAXSD Z30, Z3, Z3
	VPMOVUSDB Z0, X0
	VPMOVUSDB Z1, X1
	VPMOVUSDB Z2, X2
	VPMOVUSDB Z3, X3
	VMOVDQU X0, (DI)(CX*1)
	VMOVDQU X1, 16(DI)(CX*1)
	VMOVDQU X2, 32(DI)(CX*1)
	VMOVDQU X3, 48(DI)(CX*1)
	ADDQ $64, CX
	JMP  blk64

blk16:
	LEAQ 16(CX), AX
	CMPQ AX, R11
	JGT  done
	VMOVDQA32 Z31, Z0
	LEAQ (SI)(CX*1), BX
	MOVQ R9, DX
	MOVQ R10, R12

tap16:
	VPBROADCASTD (DX), Z4
	VPMOVZXBD (BX), Z5
	VPMULLD Z4, Z5, Z5
	VPADDD Z5, Z0, Z0
	ADDQ R8, BX
	ADDQ $4, DX
	DECQ R12
	JNZ  tap16

	VPSRAD $22, Z0, Z0
	VPMAXSD Z30, Z0, Z0
	VPMOVUSDB Z0, X0
	VMOVDQU X0, (DI)(CX*1)
	ADDQ $16, CX
	JMP  blk16

done:
	VZEROUPPER
	RET

// func horizRowAVX512(out, src *uint8, starts, nch *int32, kx *int32, kstride, count int)
//
// For output pixel j < count: reads nch[j] groups of four RGB pixels (16
// bytes loaded, 12 used) from src+starts[j], multiplies each group's
// spread R,G,B,0 dwords by 16 expanded coefficients at kx + j*kstride
// bytes (consecutive groups 64 bytes apart), sums the four pixel lanes and
// writes the three clipped channel bytes to out+3j. nch[j] >= 1.
//
// Pixels go four at a time (Z0-Z3), reduced together by lane shuffles and
// stored as one 16-byte write of which 12 bytes are output; the 4 extra
// bytes land on the next pixel's slot, so the group path runs only while at
// least five pixels remain.
TEXT ·horizRowAVX512(SB), NOSPLIT, $0-56
	MOVQ out+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ starts+16(FP), R8
	MOVQ nch+24(FP), R9
	MOVQ kx+32(FP), R10
	MOVQ kstride+40(FP), R11
	MOVQ count+48(FP), R13
	VMOVDQU rgbSpread<>(SB), X15
	VMOVDQU rgbPack<>(SB), X14
	VPBROADCASTD resizeHalf<>(SB), Z31
	VPXORD Z30, Z30, Z30

hgroup:
	CMPQ R13, $5
	JLT  hsingle

	MOVLQSX 0(R8), AX
	LEAQ (SI)(AX*1), BX
	MOVL 0(R9), R12
	MOVQ R10, DX
	VPXORD Z0, Z0, Z0

hg0:
	VMOVDQU (BX), X5
	VPSHUFB X15, X5, X5
	VPMOVZXBD X5, Z5
	VPMULLD (DX), Z5, Z5
	VPADDD Z5, Z0, Z0
	ADDQ $12, BX
	ADDQ $64, DX
	DECL R12
	JNZ  hg0
	ADDQ R11, R10

	MOVLQSX 4(R8), AX
	LEAQ (SI)(AX*1), BX
	MOVL 4(R9), R12
	MOVQ R10, DX
	VPXORD Z1, Z1, Z1

hg1:
	VMOVDQU (BX), X5
	VPSHUFB X15, X5, X5
	VPMOVZXBD X5, Z5
	VPMULLD (DX), Z5, Z5
	VPADDD Z5, Z1, Z1
	ADDQ $12, BX
	ADDQ $64, DX
	DECL R12
	JNZ  hg1
	ADDQ R11, R10

	MOVLQSX 8(R8), AX
	LEAQ (SI)(AX*1), BX
	MOVL 8(R9), R12
	MOVQ R10, DX
	VPXORD Z2, Z2, Z2

hg2:
	VMOVDQU (BX), X5
	VPSHUFB X15, X5, X5
	VPMOVZXBD X5, Z5
	VPMULLD (DX), Z5, Z5
	VPADDD Z5, Z2, Z2
	ADDQ $12, BX
	ADDQ $64, DX
	DECL R12
	JNZ  hg2
	ADDQ R11, R10

	MOVLQSX 12(R8), AX
	LEAQ (SI)(AX*1), BX
	MOVL 12(R9), R12
	MOVQ R10, DX
	VPXORD Z3, Z3, Z3

hg3:
	VMOVDQU (BX), X5
	VPSHUFB X15, X5, X5
	VPMOVZXBD X5, Z5
	VPMULLD (DX), Z5, Z5
	VPADDD Z5, Z3, Z3
	ADDQ $12, BX
	ADDQ $64, DX
	DECL R12
	JNZ  hg3
	ADDQ R11, R10

	VSHUFI32X4 $0x44, Z1, Z0, Z6
	VSHUFI32X4 $0xEE, Z1, Z0, Z7
	VPADDD Z7, Z6, Z6
	VSHUFI32X4 $0x44, Z3, Z2, Z8
	VSHUFI32X4 $0xEE, Z3, Z2, Z9
	VPADDD Z9, Z8, Z8
	VSHUFI32X4 $0x88, Z8, Z6, Z10
	VSHUFI32X4 $0xDD, Z8, Z6, Z11
	VPADDD Z11, Z10, Z10
	VPADDD Z31, Z10, Z10
	VPSRAD $22, Z10, Z10
	VPMAXSD Z30, Z10, Z10
	VPMOVUSDB Z10, X10
	VPSHUFB X14, X10, X10
	VMOVDQU X10, (DI)
	ADDQ $12, DI
	ADDQ $16, R8
	ADDQ $16, R9
	SUBQ $4, R13
	JMP  hgroup

hsingle:
	TESTQ R13, R13
	JEQ  hdone

hpix:
	MOVLQSX (R8), AX
	LEAQ (SI)(AX*1), BX
	MOVL (R9), R12
	MOVQ R10, DX
	VPXORD Z0, Z0, Z0

hchunk:
	VMOVDQU (BX), X1
	VPSHUFB X15, X1, X1
	VPMOVZXBD X1, Z1
	VPMULLD (DX), Z1, Z1
	VPADDD Z1, Z0, Z0
	ADDQ $12, BX
	ADDQ $64, DX
	DECL R12
	JNZ  hchunk

	VEXTRACTI64X4 $1, Z0, Y1
	VPADDD Y1, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPADDD X1, X0, X0
	VPADDD X31, X0, X0
	VPSRAD $22, X0, X0
	VPMAXSD X30, X0, X0
	VPMOVUSDB X0, X0
	VMOVD X0, AX
	MOVW AX, (DI)
	SHRL $16, AX
	MOVB AX, 2(DI)
	ADDQ $3, DI
	ADDQ $4, R8
	ADDQ $4, R9
	ADDQ R11, R10
	DECQ R13
	JNZ  hpix

hdone:
	VZEROUPPER
	RET
