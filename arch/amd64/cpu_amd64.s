// Single-instruction CPU operations for the metal. Each routine is a leaf:
// it touches only the registers named, takes its arguments from the
// frame (ABI0) and may be called from any context, including nosplit code
// on a kernel or interrupt stack with interrupts off.

#include "textflag.h"

// func Outb(port uint16, v uint8)  — clobbers AX, DX.
TEXT ·Outb(SB),NOSPLIT,$0-3
	MOVW	port+0(FP), DX
	MOVB	v+2(FP), AX
	OUTB
	RET

// func Inb(port uint16) uint8  — clobbers AX, DX.
TEXT ·Inb(SB),NOSPLIT,$0-9
	MOVW	port+0(FP), DX
	XORL	AX, AX
	INB
	MOVB	AX, ret+8(FP)
	RET

// func Outw(port uint16, v uint16)  — clobbers AX, DX.
TEXT ·Outw(SB),NOSPLIT,$0-4
	MOVW	port+0(FP), DX
	MOVW	v+2(FP), AX
	OUTW
	RET

// func Inw(port uint16) uint16  — clobbers AX, DX.
TEXT ·Inw(SB),NOSPLIT,$0-10
	MOVW	port+0(FP), DX
	XORL	AX, AX
	INW
	MOVW	AX, ret+8(FP)
	RET

// func Outl(port uint16, v uint32)  — clobbers AX, DX.
TEXT ·Outl(SB),NOSPLIT,$0-8
	MOVW	port+0(FP), DX
	MOVL	v+4(FP), AX
	OUTL
	RET

// func Inl(port uint16) uint32  — clobbers AX, DX.
TEXT ·Inl(SB),NOSPLIT,$0-12
	MOVW	port+0(FP), DX
	INL
	MOVL	AX, ret+8(FP)
	RET

// func Rdmsr(msr uint32) uint64  — clobbers AX, CX, DX. #GP on an unknown MSR.
TEXT ·Rdmsr(SB),NOSPLIT,$0-16
	MOVL	msr+0(FP), CX
	RDMSR
	SHLQ	$32, DX
	ORQ	DX, AX
	MOVQ	AX, ret+8(FP)
	RET

// func Wrmsr(msr uint32, v uint64)  — clobbers AX, CX, DX.
TEXT ·Wrmsr(SB),NOSPLIT,$0-16
	MOVL	msr+0(FP), CX
	MOVQ	v+8(FP), AX
	MOVQ	AX, DX
	SHRQ	$32, DX
	WRMSR
	RET

// func Rdtsc() uint64  — clobbers AX, DX.
TEXT ·Rdtsc(SB),NOSPLIT,$0-8
	RDTSC
	SHLQ	$32, DX
	ORQ	DX, AX
	MOVQ	AX, ret+0(FP)
	RET

// func Cpuid(leaf, sub uint32) (eax, ebx, ecx, edx uint32)  — clobbers AX-DX.
TEXT ·Cpuid(SB),NOSPLIT,$0-24
	MOVL	leaf+0(FP), AX
	MOVL	sub+4(FP), CX
	CPUID
	MOVL	AX, eax+8(FP)
	MOVL	BX, ebx+12(FP)
	MOVL	CX, ecx+16(FP)
	MOVL	DX, edx+20(FP)
	RET

// func ReadCR0() uint64
TEXT ·ReadCR0(SB),NOSPLIT,$0-8
	MOVQ	CR0, AX
	MOVQ	AX, ret+0(FP)
	RET

// func ReadCR2() uint64
TEXT ·ReadCR2(SB),NOSPLIT,$0-8
	MOVQ	CR2, AX
	MOVQ	AX, ret+0(FP)
	RET

// func ReadCR3() uint64
TEXT ·ReadCR3(SB),NOSPLIT,$0-8
	MOVQ	CR3, AX
	MOVQ	AX, ret+0(FP)
	RET

// func WriteCR3(v uint64)  — flushes non-global TLB entries.
TEXT ·WriteCR3(SB),NOSPLIT,$0-8
	MOVQ	v+0(FP), AX
	MOVQ	AX, CR3
	RET

// func ReadCR4() uint64
TEXT ·ReadCR4(SB),NOSPLIT,$0-8
	MOVQ	CR4, AX
	MOVQ	AX, ret+0(FP)
	RET

// func WriteCR4(v uint64)
TEXT ·WriteCR4(SB),NOSPLIT,$0-8
	MOVQ	v+0(FP), AX
	MOVQ	AX, CR4
	RET

// func Invlpg(va uint64)  — drops the TLB entry for va on this CPU.
TEXT ·Invlpg(SB),NOSPLIT,$0-8
	MOVQ	va+0(FP), AX
	INVLPG	(AX)
	RET

// func Lgdt(desc uint64)  — desc is the address of a 10-byte pseudo-descriptor.
TEXT ·Lgdt(SB),NOSPLIT,$0-8
	MOVQ	desc+0(FP), AX
	LGDT	(AX)
	RET

// func Lidt(desc uint64)  — desc is the address of a 10-byte pseudo-descriptor.
TEXT ·Lidt(SB),NOSPLIT,$0-8
	MOVQ	desc+0(FP), AX
	LIDT	(AX)
	RET

// func Ltr(sel uint16)
TEXT ·Ltr(SB),NOSPLIT,$0-2
	MOVW	sel+0(FP), AX
	LTR	AX
	RET

// func Cli()
TEXT ·Cli(SB),NOSPLIT,$0
	CLI
	RET

// func StiHlt()  — enables interrupts and halts in one step (STI's shadow
// covers HLT, so a pending interrupt wakes the HLT rather than slipping in
// between), then disables them again after the wake-up interrupt ran.
TEXT ·StiHlt(SB),NOSPLIT,$0
	STI
	HLT
	CLI
	RET

// func Halt()  — stops this CPU for good (interrupts off). Never returns.
TEXT ·Halt(SB),NOSPLIT,$0
	CLI
	HLT
	JMP	-2(PC)

// func Pause()
TEXT ·Pause(SB),NOSPLIT,$0
	PAUSE
	RET

// func Rdrand() (v uint64, ok bool)  — clobbers AX. Caller checks CPUID first.
TEXT ·Rdrand(SB),NOSPLIT,$0-9
	BYTE $0x48; BYTE $0x0F; BYTE $0xC7; BYTE $0xF0	// RDRAND RAX
	SETCS	ok+8(FP)
	MOVQ	AX, v+0(FP)
	RET

// func ReadRFLAGS() uint64
TEXT ·ReadRFLAGS(SB),NOSPLIT,$0-8
	PUSHFQ
	POPQ	AX
	MOVQ	AX, ret+0(FP)
	RET

// func WriteGSBase(v uint64)  — sets IA32_GS_BASE (per-CPU state pointer).
TEXT ·WriteGSBase(SB),NOSPLIT,$0-8
	MOVL	$0xC0000101, CX
	MOVQ	v+0(FP), AX
	MOVQ	AX, DX
	SHRQ	$32, DX
	WRMSR
	RET

// func Xchg32(addr uint64, v uint32) uint32  — atomic exchange, for spinlocks.
TEXT ·Xchg32(SB),NOSPLIT,$0-20
	MOVQ	addr+0(FP), BX
	MOVL	v+8(FP), AX
	XCHGL	AX, 0(BX)
	MOVL	AX, ret+16(FP)
	RET

// func MMIOWrite32(addr uintptr, v uint32)  — one MOVL to device memory.
TEXT ·MMIOWrite32(SB),NOSPLIT,$0-12
	MOVQ	addr+0(FP), BX
	MOVL	v+8(FP), AX
	MOVL	AX, 0(BX)
	RET

// func Fxsave(addr uint64)  — FXSAVE64 to a 16-byte aligned 512-byte area.
TEXT ·Fxsave(SB),NOSPLIT,$0-8
	MOVQ	addr+0(FP), AX
	FXSAVE64	(AX)
	RET

// func Fxrstor(addr uint64)  — FXRSTOR64 from a 16-byte aligned 512-byte area.
TEXT ·Fxrstor(SB),NOSPLIT,$0-8
	MOVQ	addr+0(FP), AX
	FXRSTOR64	(AX)
	RET
