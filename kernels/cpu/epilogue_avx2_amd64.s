//go:build !purego

#include "textflag.h"
#include "avx2_amd64.h"

// The AVX2+FMA epilogue kernels: those of epilogue_avx512_amd64.s eight lanes at a time, the last of
// each row masked, with the same additions in the same order and the activations of geluAVX2 and
// quickGeluAVX2, so that the results match the AVX-512 kernels and the Go twin bit for bit.

// RELU sets the negative lanes of Y to 0: the zero in Y7 is the first source, so NaN and -0 pass
// through.
#define RELU(Y) \
	VMAXPS Y, Y7, Y

#define NOACT(Y)

// EPILOOP runs the loop over the block with ACT as the activation. DI walks the rows of C, R9
// rowBias, R11 the rows of add; in a row R13 walks C, R14 colBias and BX add, CX counting the columns
// left.
#define EPILOOP(ACT) \
	MOVQ  c+0(FP), DI \
	MOVQ  ldc+8(FP), SI \
	SHLQ  $2, SI \
	MOVQ  m+16(FP), DX \
	MOVQ  rowBias+32(FP), R9 \
	MOVQ  add+48(FP), R11 \
	MOVQ  ldAdd+56(FP), R12 \
	SHLQ  $2, R12 \
	MOVQ  n+24(FP), R10 \
	TESTQ R10, R10 \
	JLE   done \
	TESTQ DX, DX \
	JLE   done \
row: \
	MOVQ  R10, CX \
	MOVQ  DI, R13 \
	MOVQ  colBias+40(FP), R14 \
	MOVQ  R11, BX \
col: \
	CMPQ  CX, $8 \
	JB    tail \
	VMOVUPS (R13), Y4 \
	TESTQ R9, R9 \
	JEQ   norow \
	VBROADCASTSS (R9), Y0 \
	VADDPS Y0, Y4, Y4 \
norow: \
	TESTQ R14, R14 \
	JEQ   nocol \
	VADDPS (R14), Y4, Y4 \
	ADDQ  $32, R14 \
nocol: \
	TESTQ BX, BX \
	JEQ   noadd \
	VADDPS (BX), Y4, Y4 \
	ADDQ  $32, BX \
noadd: \
	ACT(Y4) \
	VMOVUPS Y4, (R13) \
	ADDQ  $32, R13 \
	SUBQ  $8, CX \
	JMP   col \
tail: \
	TESTQ CX, CX \
	JEQ   endrow \
	LEAQ  ·avx2TailMask+64(SB), AX \
	SHLQ  $2, CX \
	SUBQ  CX, AX \
	VMOVUPS (AX), Y12 \
	VMASKMOVPS (R13), Y12, Y4 \
	TESTQ R9, R9 \
	JEQ   tnorow \
	VBROADCASTSS (R9), Y0 \
	VADDPS Y0, Y4, Y4 \
tnorow: \
	TESTQ R14, R14 \
	JEQ   tnocol \
	VMASKMOVPS (R14), Y12, Y0 \
	VADDPS Y0, Y4, Y4 \
tnocol: \
	TESTQ BX, BX \
	JEQ   tnoadd \
	VMASKMOVPS (BX), Y12, Y0 \
	VADDPS Y0, Y4, Y4 \
tnoadd: \
	ACT(Y4) \
	VMASKMOVPS Y4, Y12, (R13) \
endrow: \
	ADDQ  SI, DI \
	TESTQ R9, R9 \
	JEQ   nextadd \
	ADDQ  $4, R9 \
nextadd: \
	TESTQ R11, R11 \
	JEQ   nextrow \
	ADDQ  R12, R11 \
nextrow: \
	DECQ  DX \
	JNE   row \
done: \
	VZEROUPPER \
	RET

// func epilogueNoneAVX2(c *float32, ldc, m, n int, rowBias, colBias, add *float32, ldAdd int)
TEXT ·epilogueNoneAVX2(SB), NOSPLIT, $0-64
	EPILOOP(NOACT)

// func epilogueReLUAVX2(c *float32, ldc, m, n int, rowBias, colBias, add *float32, ldAdd int)
TEXT ·epilogueReLUAVX2(SB), NOSPLIT, $0-64
	VXORPS Y7, Y7, Y7
	EPILOOP(RELU)

// func epilogueGeluAVX2(c *float32, ldc, m, n int, rowBias, colBias, add *float32, ldAdd int)
TEXT ·epilogueGeluAVX2(SB), NOSPLIT, $0-64
	BOUNDS
	EPILOOP(GELU)

// func epilogueQuickGeluAVX2(c *float32, ldc, m, n int, rowBias, colBias, add *float32, ldAdd int)
TEXT ·epilogueQuickGeluAVX2(SB), NOSPLIT, $0-64
	BOUNDS
	EPILOOP(QGELU)
