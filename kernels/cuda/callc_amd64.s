#include "textflag.h"

// callC24 runs on the system stack, entered from runtime.cgocall with the C calling convention:
// DI points at a callFrame {fn, args[24], ret}. It calls fn with args[0:6] in DI, SI, DX, CX, R8, R9
// and args[6:24] on the stack (System V AMD64), all in integer registers or slots, and stores RAX in ret.
TEXT callC24<>(SB), NOSPLIT|NOFRAME, $0
	PUSHQ BP
	MOVQ  SP, BP
	PUSHQ BX
	PUSHQ R12
	MOVQ  DI, R12
	SUBQ  $144, SP // 18 stack slots
	ANDQ  $~15, SP // 16-byte aligned at the call
	MOVQ  56(R12), AX
	MOVQ  AX, 0(SP)
	MOVQ  64(R12), AX
	MOVQ  AX, 8(SP)
	MOVQ  72(R12), AX
	MOVQ  AX, 16(SP)
	MOVQ  80(R12), AX
	MOVQ  AX, 24(SP)
	MOVQ  88(R12), AX
	MOVQ  AX, 32(SP)
	MOVQ  96(R12), AX
	MOVQ  AX, 40(SP)
	MOVQ  104(R12), AX
	MOVQ  AX, 48(SP)
	MOVQ  112(R12), AX
	MOVQ  AX, 56(SP)
	MOVQ  120(R12), AX
	MOVQ  AX, 64(SP)
	MOVQ  128(R12), AX
	MOVQ  AX, 72(SP)
	MOVQ  136(R12), AX
	MOVQ  AX, 80(SP)
	MOVQ  144(R12), AX
	MOVQ  AX, 88(SP)
	MOVQ  152(R12), AX
	MOVQ  AX, 96(SP)
	MOVQ  160(R12), AX
	MOVQ  AX, 104(SP)
	MOVQ  168(R12), AX
	MOVQ  AX, 112(SP)
	MOVQ  176(R12), AX
	MOVQ  AX, 120(SP)
	MOVQ  184(R12), AX
	MOVQ  AX, 128(SP)
	MOVQ  192(R12), AX
	MOVQ  AX, 136(SP)
	MOVQ  8(R12), DI
	MOVQ  16(R12), SI
	MOVQ  24(R12), DX
	MOVQ  32(R12), CX
	MOVQ  40(R12), R8
	MOVQ  48(R12), R9
	MOVQ  0(R12), R11
	XORL  AX, AX // no vector registers used (matters for variadic callees)
	CALL  R11
	MOVQ  AX, 200(R12)
	LEAQ  -16(BP), SP
	POPQ  R12
	POPQ  BX
	POPQ  BP
	RET

// callC24ABI0 holds callC24's address for runtime.cgocall.
GLOBL ·callC24ABI0(SB), NOPTR|RODATA, $8
DATA ·callC24ABI0(SB)/8, $callC24<>(SB)
