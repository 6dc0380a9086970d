//go:build !purego

#include "textflag.h"

// T8X8 transposes the 8×8 block whose rows are Y0..Y7 into Y8..Y15 (row j of the result, column j of
// the block, in Y8+j); it clobbers Y0..Y7.
#define T8X8 \
	VUNPCKLPS Y1, Y0, Y8 \
	VUNPCKHPS Y1, Y0, Y9 \
	VUNPCKLPS Y3, Y2, Y10 \
	VUNPCKHPS Y3, Y2, Y11 \
	VUNPCKLPS Y5, Y4, Y12 \
	VUNPCKHPS Y5, Y4, Y13 \
	VUNPCKLPS Y7, Y6, Y14 \
	VUNPCKHPS Y7, Y6, Y15 \
	VSHUFPS $0x44, Y10, Y8, Y0 \
	VSHUFPS $0xEE, Y10, Y8, Y1 \
	VSHUFPS $0x44, Y11, Y9, Y2 \
	VSHUFPS $0xEE, Y11, Y9, Y3 \
	VSHUFPS $0x44, Y14, Y12, Y4 \
	VSHUFPS $0xEE, Y14, Y12, Y5 \
	VSHUFPS $0x44, Y15, Y13, Y6 \
	VSHUFPS $0xEE, Y15, Y13, Y7 \
	VPERM2F128 $0x20, Y4, Y0, Y8 \
	VPERM2F128 $0x20, Y5, Y1, Y9 \
	VPERM2F128 $0x20, Y6, Y2, Y10 \
	VPERM2F128 $0x20, Y7, Y3, Y11 \
	VPERM2F128 $0x31, Y4, Y0, Y12 \
	VPERM2F128 $0x31, Y5, Y1, Y13 \
	VPERM2F128 $0x31, Y6, Y2, Y14 \
	VPERM2F128 $0x31, Y7, Y3, Y15

// func packT16AVX2(dst, src *float32, ld, blocks int)
//
// packRowsGo for 16 rows (stored ld apart) and 8·blocks columns into rows of 16: each 8×8 block is
// transposed in registers.
TEXT ·packT16AVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ ld+16(FP), R8
	SHLQ $2, R8
	LEAQ (R8)(R8*2), R9 // 3 rows
	MOVQ blocks+24(FP), CX

t16:
	MOVQ    SI, AX
	LEAQ    (SI)(R8*4), BX
	VMOVUPS (AX), Y0
	VMOVUPS (AX)(R8*1), Y1
	VMOVUPS (AX)(R8*2), Y2
	VMOVUPS (AX)(R9*1), Y3
	VMOVUPS (BX), Y4
	VMOVUPS (BX)(R8*1), Y5
	VMOVUPS (BX)(R8*2), Y6
	VMOVUPS (BX)(R9*1), Y7
	T8X8
	VMOVUPS Y8, (DI)
	VMOVUPS Y9, 64(DI)
	VMOVUPS Y10, 128(DI)
	VMOVUPS Y11, 192(DI)
	VMOVUPS Y12, 256(DI)
	VMOVUPS Y13, 320(DI)
	VMOVUPS Y14, 384(DI)
	VMOVUPS Y15, 448(DI)
	LEAQ    (BX)(R8*4), AX
	LEAQ    (AX)(R8*4), BX
	VMOVUPS (AX), Y0
	VMOVUPS (AX)(R8*1), Y1
	VMOVUPS (AX)(R8*2), Y2
	VMOVUPS (AX)(R9*1), Y3
	VMOVUPS (BX), Y4
	VMOVUPS (BX)(R8*1), Y5
	VMOVUPS (BX)(R8*2), Y6
	VMOVUPS (BX)(R9*1), Y7
	T8X8
	VMOVUPS Y8, 32(DI)
	VMOVUPS Y9, 96(DI)
	VMOVUPS Y10, 160(DI)
	VMOVUPS Y11, 224(DI)
	VMOVUPS Y12, 288(DI)
	VMOVUPS Y13, 352(DI)
	VMOVUPS Y14, 416(DI)
	VMOVUPS Y15, 480(DI)
	ADDQ    $32, SI
	ADDQ    $512, DI
	DECQ    CX
	JNZ     t16
	VZEROUPPER
	RET

// func packT6AVX2(dst, src *float32, ld, blocks int)
//
// packRowsGo for 6 rows (stored ld apart) and 8·blocks columns into rows of 6: each 6×8 block,
// completed by two zero rows, is transposed in registers and the first six values of each result row
// stored.
TEXT ·packT6AVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ ld+16(FP), R8
	SHLQ $2, R8
	LEAQ (R8)(R8*2), R9
	MOVQ blocks+24(FP), CX

t6:
	LEAQ    (SI)(R8*4), BX
	VMOVUPS (SI), Y0
	VMOVUPS (SI)(R8*1), Y1
	VMOVUPS (SI)(R8*2), Y2
	VMOVUPS (SI)(R9*1), Y3
	VMOVUPS (BX), Y4
	VMOVUPS (BX)(R8*1), Y5
	VXORPS  Y6, Y6, Y6
	VXORPS  Y7, Y7, Y7
	T8X8
	VMOVUPS      X8, 0(DI)
	VEXTRACTF128 $1, Y8, X8
	VMOVQ        X8, 16(DI)
	VMOVUPS      X9, 24(DI)
	VEXTRACTF128 $1, Y9, X9
	VMOVQ        X9, 40(DI)
	VMOVUPS      X10, 48(DI)
	VEXTRACTF128 $1, Y10, X10
	VMOVQ        X10, 64(DI)
	VMOVUPS      X11, 72(DI)
	VEXTRACTF128 $1, Y11, X11
	VMOVQ        X11, 88(DI)
	VMOVUPS      X12, 96(DI)
	VEXTRACTF128 $1, Y12, X12
	VMOVQ        X12, 112(DI)
	VMOVUPS      X13, 120(DI)
	VEXTRACTF128 $1, Y13, X13
	VMOVQ        X13, 136(DI)
	VMOVUPS      X14, 144(DI)
	VEXTRACTF128 $1, Y14, X14
	VMOVQ        X14, 160(DI)
	VMOVUPS      X15, 168(DI)
	VEXTRACTF128 $1, Y15, X15
	VMOVQ        X15, 184(DI)
	ADDQ $32, SI
	ADDQ $192, DI
	DECQ CX
	JNZ  t6
	VZEROUPPER
	RET

// func packCopy16AVX2(dst, src *float32, ld, kc int)
//
// packColsGo for 16 columns of kc rows stored ld apart, kc > 0.
TEXT ·packCopy16AVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ ld+16(FP), R8
	SHLQ $2, R8
	MOVQ kc+24(FP), CX

c16:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ    R8, SI
	ADDQ    $64, DI
	DECQ    CX
	JNZ     c16
	VZEROUPPER
	RET

// func packCopyAVX2(dst, src *float32, ld, w, kc, safe int, masks *[32]int32)
//
// packColsGo for 0 < cols <= w <= 16 and kc > 0: masks[0:16] selects the cols lanes to load (the
// others read as zero and are not touched in memory) and masks[16:32] the w lanes of a row of dst.
// The first safe rows are stored whole, one or two vectors, spilling zeros into the start of the next
// row, which its own store overwrites; the rows after them, whose spill would pass the end of dst,
// are stored masked.
TEXT ·packCopyAVX2(SB), NOSPLIT, $0-56
	MOVQ    dst+0(FP), DI
	MOVQ    src+8(FP), SI
	MOVQ    ld+16(FP), R8
	SHLQ    $2, R8
	MOVQ    w+24(FP), R9
	SHLQ    $2, R9
	MOVQ    kc+32(FP), CX
	MOVQ    safe+40(FP), BX
	MOVQ    masks+48(FP), AX
	VMOVDQU (AX), Y4
	VMOVDQU 32(AX), Y5
	VMOVDQU 64(AX), Y6
	VMOVDQU 96(AX), Y7
	SUBQ    BX, CX
	CMPQ    R9, $32
	JGT     wide
	TESTQ   BX, BX
	JEQ     narrowTail

narrow:
	VMASKMOVPS (SI), Y4, Y0
	VMOVUPS    Y0, (DI)
	ADDQ       R8, SI
	ADDQ       R9, DI
	DECQ       BX
	JNZ        narrow

narrowTail:
	TESTQ CX, CX
	JEQ   done

narrowMasked:
	VMASKMOVPS (SI), Y4, Y0
	VMASKMOVPS Y0, Y6, (DI)
	ADDQ       R8, SI
	ADDQ       R9, DI
	DECQ       CX
	JNZ        narrowMasked
	JMP        done

wide:
	TESTQ BX, BX
	JEQ   wideTail

wideLoop:
	VMASKMOVPS (SI), Y4, Y0
	VMASKMOVPS 32(SI), Y5, Y1
	VMOVUPS    Y0, (DI)
	VMOVUPS    Y1, 32(DI)
	ADDQ       R8, SI
	ADDQ       R9, DI
	DECQ       BX
	JNZ        wideLoop

wideTail:
	TESTQ CX, CX
	JEQ   done

wideMasked:
	VMASKMOVPS (SI), Y4, Y0
	VMASKMOVPS 32(SI), Y5, Y1
	VMASKMOVPS Y0, Y6, (DI)
	VMASKMOVPS Y1, Y7, 32(DI)
	ADDQ       R8, SI
	ADDQ       R9, DI
	DECQ       CX
	JNZ        wideMasked

done:
	VZEROUPPER
	RET
