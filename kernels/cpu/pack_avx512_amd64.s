//go:build !purego

#include "textflag.h"

// func packPanelAVX512(dst, src *float32, idx *int32, k int, lo, hi, stlo, sthi uint16)
//
// For p < k it gathers src[idx[r]+p] for the lanes r set in lo (r < 16) and
// hi (r >= 16), zero in the other lanes, and stores the lanes set in stlo
// and sthi to dst[p·w+r], where w is the number of stored lanes.
TEXT ·packPanelAVX512(SB), NOSPLIT, $0-40
	MOVQ    dst+0(FP), DI
	MOVQ    src+8(FP), SI
	MOVQ    idx+16(FP), AX
	MOVQ    k+24(FP), CX
	MOVWQZX lo+32(FP), R10
	MOVWQZX hi+34(FP), R11
	MOVWQZX stlo+36(FP), R12
	MOVWQZX sthi+38(FP), R13
	VMOVDQU32 (AX), Z1
	VMOVDQU32 64(AX), Z2
	KMOVW   R12, K3
	KMOVW   R13, K4
	POPCNTQ R12, BX
	POPCNTQ R13, DX
	ADDQ    DX, BX
	SHLQ    $2, BX
	TESTQ   CX, CX
	JEQ     done
	TESTQ   R13, R13
	JNE     wide

narrow:
	VPXORD     Z0, Z0, Z0
	KMOVW      R10, K1
	VGATHERDPS (SI)(Z1*4), K1, Z0
	VMOVUPS    Z0, K3, (DI)
	ADDQ       $4, SI
	ADDQ       BX, DI
	DECQ       CX
	JNE        narrow
	VZEROUPPER
	RET

wide:
	VPXORD     Z0, Z0, Z0
	VPXORD     Z3, Z3, Z3
	KMOVW      R10, K1
	KMOVW      R11, K2
	VGATHERDPS (SI)(Z1*4), K1, Z0
	VGATHERDPS (SI)(Z2*4), K2, Z3
	VMOVUPS    Z0, K3, (DI)
	VMOVUPS    Z3, K4, 64(DI)
	ADDQ       $4, SI
	ADDQ       BX, DI
	DECQ       CX
	JNE        wide

done:
	VZEROUPPER
	RET
