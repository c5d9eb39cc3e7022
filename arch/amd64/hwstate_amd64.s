// Cache, debug-register and entropy instructions (hwstate.go). Leaves as
// in cpu_amd64.s: arguments from the frame (ABI0), only the registers
// named are touched, any context (ring 0).

#include "textflag.h"

// func Wbinvd()  — clobbers nothing. Takes as long as the caches are big.
TEXT ·Wbinvd(SB),NOSPLIT,$0-0
	WBINVD
	RET

// func ReadDR6() uint64  — clobbers AX.
TEXT ·ReadDR6(SB),NOSPLIT,$0-8
	MOVQ	DR6, AX
	MOVQ	AX, ret+0(FP)
	RET

// func WriteDR6(v uint64)  — clobbers AX.
TEXT ·WriteDR6(SB),NOSPLIT,$0-8
	MOVQ	v+0(FP), AX
	MOVQ	AX, DR6
	RET

// func ReadDR7() uint64  — clobbers AX.
TEXT ·ReadDR7(SB),NOSPLIT,$0-8
	MOVQ	DR7, AX
	MOVQ	AX, ret+0(FP)
	RET

// func WriteDR7(v uint64)  — clobbers AX.
TEXT ·WriteDR7(SB),NOSPLIT,$0-8
	MOVQ	v+0(FP), AX
	MOVQ	AX, DR7
	RET

// func Rdseed() (v uint64, ok bool)  — clobbers AX. Caller checks CPUID first.
TEXT ·Rdseed(SB),NOSPLIT,$0-9
	BYTE $0x48; BYTE $0x0F; BYTE $0xC7; BYTE $0xF8	// RDSEED RAX
	SETCS	ok+8(FP)
	MOVQ	AX, v+0(FP)
	RET
