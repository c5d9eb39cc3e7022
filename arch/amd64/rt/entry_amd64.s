// The metal under the Go runtime: the 32-bit boot entry, the long-mode
// switch, the SYSCALL entry that serves the runtime's Linux system calls,
// kernel-thread switching, and the exception and interrupt stubs.
//
// Conventions used below:
//   - Before entry64 the CPU is in 32-bit protected mode: only instructions
//     whose encoding means the same in both modes are used, and symbol
//     addresses are computed with getpc32 (Go assembles MOVL $sym(SB), R as
//     a RIP-relative LEA, which 32-bit mode reads as LEA R, [disp32]).
//   - GS_BASE points at the current CPU's cpuState (see cpu.go); the
//     offsets below must match that struct. Go's runtime uses FS only.
//   - The shim and every trap handler run with interrupts off (IF=0).

#include "textflag.h"
#include "go_asm.h"

// TEXT_PA is where the loader put the text (the Makefile links it at
// 0xffff82d040000000 + TEXT_PA; arch/amd64/hw has the layout). The ELF
// header page lies just below it; that page is only read by the loader, so
// its top serves as the few bytes of stack that entry32's first CALL needs.
// kmain checks the link address against runtime·text.
#define TEXT_PA 0x200000

// cpuState field offsets (percpu_unsafe.go, through go_asm.h).
#define CPU_KTOP    cpuState_ktop
#define CPU_SCRATCH cpuState_scratch
#define CPU_FXAREA  cpuState_fxarea
#define CPU_IDLING  cpuState_idling
#define CPU_TICKS   cpuState_ticks

// PUSH_GPRS / POP_GPRS save and restore the 15 general registers (RSP
// aside) as an interrupt frame's lower part: trapFrame in trap_unsafe.go
// and the 20-word frame irqTimer moves are laid out by this order.
#define PUSH_GPRS \
	PUSHQ AX; PUSHQ BX; PUSHQ CX; PUSHQ DX; PUSHQ SI; PUSHQ DI; PUSHQ BP; \
	PUSHQ R8; PUSHQ R9; PUSHQ R10; PUSHQ R11; PUSHQ R12; PUSHQ R13; PUSHQ R14; PUSHQ R15
#define POP_GPRS \
	POPQ R15; POPQ R14; POPQ R13; POPQ R12; POPQ R11; POPQ R10; POPQ R9; POPQ R8; \
	POPQ BP; POPQ DI; POPQ SI; POPQ DX; POPQ CX; POPQ BX; POPQ AX

// Boot GDT: null, 64-bit ring-0 code (0x08), ring-0 data (0x10). kmain
// replaces it with the full GDT (TSS included) in gdt.go.
DATA ·bootGDT+0(SB)/8, $0
DATA ·bootGDT+8(SB)/8, $0x00AF9A000000FFFF
DATA ·bootGDT+16(SB)/8, $0x00CF92000000FFFF
GLOBL ·bootGDT(SB), NOPTR, $24

DATA ·bootGDTR+0(SB)/2, $23
GLOBL ·bootGDTR(SB), NOPTR, $16

// entry32 is the image's ELF entry and the multiboot1/multiboot2/PVH entry.
// Context: 32-bit protected mode, paging off, flat CS/DS, interrupts off,
// running at the physical load address (the code is position-independent
// until entry64 jumps to the link address).
// In:  EAX = multiboot magic (0x2BADB002 or 0x36D76289; anything else for
//      PVH), EBX = physical address of the boot information.
// Builds page tables in bootPT that map physical 0-4 GiB (2 MiB pages)
// three times: identity (for the switch), at the direct map (L4 slot 262)
// and, for the first GiB, at the image window (slot 261, where the image
// is linked); turns on PAE, long mode, SYSCALL and SSE, and far-returns to
// entry64 with SI = magic and BX = info preserved. Clobbers everything else.
//
// bootPT pages: 0 PML4, 1 PDPT of slots 0 and 262, 2-5 the four PDs,
// 6 PDPT of slot 261 (its entry 321 = the first GiB's PD).
TEXT ·entry32(SB),NOSPLIT|NOFRAME,$0
	CLI
	CLD
	MOVL	$TEXT_PA, SP
	MOVL	AX, SI

	// A CPU without long mode (CPUID 0x80000001 EDX bit 29) cannot run
	// gohv: nolm32 says so on COM1 and halts. BX (the boot information)
	// is kept in BP across CPUID.
	MOVL	BX, BP
	MOVL	$0x80000000, AX
	CPUID
	CMPL	AX, $0x80000001
	JCS	nolm
	MOVL	$0x80000001, AX
	CPUID
	BTL	$29, DX
	JCC	nolm
	MOVL	BP, BX

	// DI = bootPT rounded up to a page.
	CALL	·getpc32(SB)
	MOVL	$·bootPT(SB), DX
	ADDL	$6, AX
	ADDL	DX, AX
	ADDL	$4095, AX
	ANDL	$0xFFFFF000, AX
	MOVL	AX, BP
	MOVL	AX, DI
	XORL	AX, AX
	MOVL	$(7*1024), CX
	REP;	STOSL

	MOVL	BP, DI
	MOVL	BP, AX
	ADDL	$0x1003, AX		// PML4[0] and [262] -> PDPT, present|writable
	MOVL	AX, (DI)
	MOVL	AX, (262*8)(DI)
	ADDL	$0x5000, AX		// PML4[261] -> the image PDPT (page 6)
	MOVL	AX, (261*8)(DI)
	ADDL	$0x1000, DI		// DI = PDPT
	MOVL	BP, AX
	ADDL	$0x2003, AX		// AX = PD0 | 3
	MOVL	AX, (0x5000+321*8)(DI)	// image PDPT[321] -> PD0: VA 0xffff82d040000000 = PA 0
	MOVL	AX, (DI)
	ADDL	$0x1000, AX
	MOVL	AX, 8(DI)
	ADDL	$0x1000, AX
	MOVL	AX, 16(DI)
	ADDL	$0x1000, AX
	MOVL	AX, 24(DI)
	ADDL	$0x1000, DI		// DI = PD0; 2048 entries cover 4 GiB
	MOVL	$0x83, AX		// present|writable|2MiB
	MOVL	$2048, CX
pd:
	MOVL	AX, (DI)
	ADDL	$0x200000, AX
	ADDL	$8, DI
	DECL	CX
	JNE	pd

	MOVL	BP, AX
	MOVL	AX, CR3
	MOVL	CR4, AX
	ORL	$0x620, AX		// PAE | OSFXSR | OSXMMEXCPT
	MOVL	AX, CR4
	MOVL	$0xC0000080, CX		// EFER
	RDMSR
	ORL	$0x101, AX		// LME | SCE
	WRMSR
	MOVL	CR0, AX
	ANDL	$0xFFFFFFFB, AX		// clear EM
	ORL	$0x80010023, AX		// PG | WP | NE | MP | PE
	MOVL	AX, CR0

	// The boot GDT's pseudo-descriptor gets its physical base (32-bit
	// mode has no other), entry64High its link address.
	CALL	·getpc32(SB)
	MOVL	$·bootGDT(SB), DX
	ADDL	$6, AX
	ADDL	DX, AX
	MOVL	AX, DI
	CALL	·getpc32(SB)
	MOVL	$·bootGDTR(SB), DX
	ADDL	$6, AX
	ADDL	DX, AX
	MOVL	DI, 2(AX)
	MOVL	$0, 6(AX)
	LGDT	(AX)
	PUSHQ	$0x08			// 4-byte push in 32-bit mode
	CALL	·getpc32(SB)
	MOVL	$·entry64(SB), DX
	ADDL	$6, AX
	ADDL	DX, AX
	PUSHQ	AX
	BYTE	$0xCB			// RETF (32-bit operand size): to entry64 in CS 0x08

nolm:
	CALL	·nolm32(SB)

// getpc32 returns its caller's return address in AX. 32-bit mode only.
TEXT ·getpc32(SB),NOSPLIT|NOFRAME,$0
	MOVL	(SP), AX
	RET

// entry64: first 64-bit instruction, still at the physical address (the
// identity map). Jumps to entry64High at the link address: the absolute
// address comes from a data word the linker filled in.
TEXT ·entry64(SB),NOSPLIT|NOFRAME,$0
	MOVQ	·entry64HighAddr(SB), AX
	JMP	AX

// entry64High: SI = boot magic, BX = boot info, at the link address.
// Reloads the GDT at its link address, sets the data segments, a boot
// stack and a fake TLS (the ABI0->Go wrappers load g from -8(FS) and zero
// X15, so SSE and FS must be ready before the first Go call), runs kmain,
// then enters the Go runtime with the initial process stack kmain built.
TEXT ·entry64High(SB),NOSPLIT|NOFRAME,$0
	LEAQ	·bootGDT(SB), AX
	MOVQ	AX, ·bootGDTR+2(SB)
	LEAQ	·bootGDTR(SB), AX
	LGDT	(AX)
	MOVL	$0x10, AX
	MOVW	AX, DS
	MOVW	AX, ES
	MOVW	AX, SS
	XORL	AX, AX
	MOVW	AX, FS
	MOVW	AX, GS
	LEAQ	·bootStack+const_bootStackSize(SB), SP
	MOVL	SI, ·bootMagic(SB)
	MOVL	BX, ·bootInfo(SB)
	LEAQ	·fakeTLS+16(SB), AX
	MOVQ	AX, DX
	SHRQ	$32, DX
	MOVL	$0xC0000100, CX		// FS_BASE
	WRMSR
	SUBQ	$16, SP
	CALL	·kmain(SB)
	MOVQ	0(SP), AX
	MOVQ	AX, SP
	XORL	BP, BP
	// Ring-0 Go code runs with IF=1 and IOPL=3. IOPL is what tells the
	// SYSCALL entry the hypervisor's own calls from a guest's: ring 3 can
	// never raise its IOPL, and guests always run with IOPL 0.
	PUSHQ	$0x3202
	POPFQ
	JMP	_rt0_amd64_linux(SB)

DATA ·entry64HighAddr+0(SB)/8, $·entry64High(SB)
GLOBL ·entry64HighAddr(SB), RODATA, $8

// syscallEntry is IA32_LSTAR: the Go runtime's SYSCALL instructions land
// here, in ring 0 (CPL does not change). In: RAX = number, RDI, RSI, RDX,
// R10, R8, R9 = arguments, RCX = return RIP, R11 = RFLAGS, RSP = the
// caller's stack. FMASK has cleared IF. Switches to the current kernel
// thread's stack (cpuState.ktop), builds a sysFrame (syscall.go) and calls
// dispatch; the result is in the frame's RAX.
TEXT ·syscallEntry(SB),NOSPLIT|NOFRAME,$0
	// MOVQ SP, GS:CPU_SCRATCH
	BYTE $0x65; BYTE $0x48; BYTE $0x89; BYTE $0x24; BYTE $0x25; LONG $CPU_SCRATCH
	// MOVQ GS:CPU_KTOP, SP
	BYTE $0x65; BYTE $0x48; BYTE $0x8B; BYTE $0x24; BYTE $0x25; LONG $CPU_KTOP
	// PUSHQ GS:CPU_SCRATCH
	BYTE $0x65; BYTE $0xFF; BYTE $0x34; BYTE $0x25; LONG $CPU_SCRATCH
	PUSHQ	CX
	PUSHQ	R11
	PUSHQ	AX
	PUSHQ	BX
	PUSHQ	DX
	PUSHQ	SI
	PUSHQ	DI
	PUSHQ	BP
	PUSHQ	R8
	PUSHQ	R9
	PUSHQ	R10
	PUSHQ	R12
	PUSHQ	R13
	PUSHQ	R14
	PUSHQ	R15
	MOVQ	SP, AX
	SUBQ	$8, SP
	MOVQ	AX, 0(SP)
	CALL	·dispatch(SB)
	ADDQ	$8, SP
	// rt_sigreturn: resume the full context it left in cpuState.sigRet.
	// MOVQ GS:cpuState_sigRet, AX
	BYTE $0x65; BYTE $0x48; BYTE $0x8B; BYTE $0x04; BYTE $0x25; LONG $cpuState_sigRet
	TESTQ	AX, AX
	JNZ	sigreturn
	JMP	·syscallReturn(SB)
sigreturn:
	// MOVQ $0, GS:cpuState_sigRet
	BYTE $0x65; BYTE $0x48; BYTE $0xC7; BYTE $0x04; BYTE $0x25; LONG $cpuState_sigRet; LONG $0
	MOVQ	AX, SP
	// MOVQ GS:CPU_FXAREA, AX
	BYTE $0x65; BYTE $0x48; BYTE $0x8B; BYTE $0x04; BYTE $0x25; LONG $CPU_FXAREA
	FXRSTOR64	(AX)
	POP_GPRS
	IRETQ

// syscallReturn pops the sysFrame at SP and returns to the caller with
// its RFLAGS (IF back on). POPFQ; JMP instead of SYSRET, which would
// drop to ring 3.
TEXT ·syscallReturn(SB),NOSPLIT|NOFRAME,$0
	POPQ	R15
	POPQ	R14
	POPQ	R13
	POPQ	R12
	POPQ	R10
	POPQ	R9
	POPQ	R8
	POPQ	BP
	POPQ	DI
	POPQ	SI
	POPQ	DX
	POPQ	BX
	POPQ	AX
	POPQ	R11
	POPQ	CX
	MOVQ	0(SP), SP
	PUSHQ	R11
	POPFQ
	JMP	CX

// threadStart is where a new kernel thread first runs: SP points at the
// sysFrame clone copied from its parent (RAX = 0, RSP = the new stack).
// It leaves the shim for Go code, as dispatch would.
TEXT ·threadStart(SB),NOSPLIT|NOFRAME,$0
	// The CPU that switched here holds the shim lock (schedule).
	CALL	·shimUnlock(SB)
	// MOVQ $0, GS:cpuState_inShim
	BYTE $0x65; BYTE $0x48; BYTE $0xC7; BYTE $0x04; BYTE $0x25; LONG $cpuState_inShim; LONG $0
	JMP	·syscallReturn(SB)

// idleStart is where CPU 0's idle context first runs, switched to by
// schedule (switchStack's resume frame on idleStack0): with the shim lock
// held and interrupts off it calls idleLoop, which never returns.
TEXT ·idleStart(SB),NOSPLIT|NOFRAME,$0
	CALL	·idleLoop(SB)
	HLT

// func switchStack(save *uintptr, to uintptr)
// Saves the callee's resume point on the current kernel stack, stores SP in
// *save and resumes the thread whose saved SP is to. Context: shim, IF=0.
// Go treats every register as clobbered by this call; BP and BX are kept
// for the frame-pointer chain.
TEXT ·switchStack(SB),NOSPLIT|NOFRAME,$0-16
	MOVQ	save+0(FP), AX
	MOVQ	to+8(FP), DX
	PUSHQ	BP
	PUSHQ	BX
	MOVQ	SP, (AX)
	MOVQ	DX, SP
	POPQ	BX
	POPQ	BP
	RET

// irqTimer is the local APIC timer's vector (IST1). It acknowledges the
// interrupt with an EOI write to the local APIC (lapicEOIReg: its EOI
// register in the direct map; clobbers nothing but AX, saved). If the CPU
// was idling in the shim, it returns. Otherwise it interrupted ring-0 Go code: move
// the frame to the current thread's kernel stack (unused while Go code
// runs), save the vector state and let preempt switch threads.
TEXT ·irqTimer(SB),NOSPLIT|NOFRAME,$0
	PUSHQ	AX
	MOVQ	·lapicEOIReg(SB), AX
	MOVL	$0, (AX)		// EOI to the local APIC
	// INCQ GS:CPU_TICKS
	BYTE $0x65; BYTE $0x48; BYTE $0xFF; BYTE $0x04; BYTE $0x25; LONG $CPU_TICKS
	// CMPQ GS:CPU_IDLING, $0
	BYTE $0x65; BYTE $0x48; BYTE $0x83; BYTE $0x3C; BYTE $0x25; LONG $CPU_IDLING; BYTE $0x00
	JEQ	preempt
	POPQ	AX
	IRETQ
preempt:
	POPQ	AX
	PUSH_GPRS
	// Move the 20-word frame (15 registers + the CPU's 5) to the kernel stack.
	MOVQ	SP, SI
	// MOVQ GS:CPU_KTOP, DI
	BYTE $0x65; BYTE $0x48; BYTE $0x8B; BYTE $0x3C; BYTE $0x25; LONG $CPU_KTOP
	SUBQ	$160, DI
	MOVQ	DI, SP
	MOVQ	$20, CX
	CLD
	REP;	MOVSQ
	// MOVQ GS:CPU_FXAREA, AX
	BYTE $0x65; BYTE $0x48; BYTE $0x8B; BYTE $0x04; BYTE $0x25; LONG $CPU_FXAREA
	FXSAVE64	(AX)
	CALL	·preempt(SB)
	// A pending SIGURG for this thread: resume in its handler instead.
	MOVQ	SP, AX
	SUBQ	$16, SP
	MOVQ	AX, 0(SP)
	CALL	·deliverSignal(SB)
	ADDQ	$16, SP
	BYTE $0x65; BYTE $0x48; BYTE $0x8B; BYTE $0x04; BYTE $0x25; LONG $CPU_FXAREA
	FXRSTOR64	(AX)
	POP_GPRS
	IRETQ

// irqSpurious is the local APIC's spurious vector (IST1): it takes no
// EOI, and nothing is touched, so it returns at once to whatever ran
// (ring 0 or a guest). Clobbers nothing.
TEXT ·irqSpurious(SB),NOSPLIT|NOFRAME,$0
	IRETQ

// apEntry is where an AP arrives from the low trampoline (hw.Trampoline):
// 64-bit mode on the trampoline's page tables, interrupts off, AX = gohv's
// CR3, DI = the AP's cpuState, SP = its boot stack (apStacks). It loads
// gohv's tables, points FS at the AP's zeroed fake TLS (the ABI0->Go
// wrapper reads g at -8(FS)) and calls apMain(cpuState), which never
// returns. Clobbers everything; nothing is live.
TEXT ·apEntry(SB),NOSPLIT|NOFRAME,$0
	MOVQ	AX, CR3
	MOVQ	DI, BX
	MOVQ	cpuState_id(BX), AX
	SHLQ	$4, AX
	LEAQ	·apTLS+8(SB), DX
	ADDQ	DX, AX
	MOVQ	AX, DX
	SHRQ	$32, DX
	MOVL	$0xC0000100, CX		// FS_BASE
	WRMSR
	SUBQ	$16, SP
	MOVQ	BX, 0(SP)
	CALL	·apMain(SB)
	HLT

// irqDevice: an ISA line other than the timer (vecPIC+irq), from ring 0 (frontIrq
// left the vector on the stack, above the CPU's frame). Saves registers and
// vector state and calls deviceIRQ(vector), which acknowledges the
// controller and serves the device. Context: IST1, interrupts off.
TEXT ·irqDevice(SB),NOSPLIT|NOFRAME,$0
	PUSH_GPRS
	MOVQ	SP, BX
	SUBQ	$528, SP
	ANDQ	$~15, SP
	FXSAVE64	(SP)
	SUBQ	$16, SP
	MOVQ	(15*8)(BX), AX
	MOVQ	AX, 0(SP)
	MOVQ	BX, 8(SP)
	CALL	·deviceIRQ(SB)
	MOVQ	8(SP), BX
	ADDQ	$16, SP
	FXRSTOR64	(SP)
	MOVQ	BX, SP
	POP_GPRS
	ADDQ	$8, SP
	IRETQ

// trapCommon: every exception stub pushes (error code or 0, vector) and
// jumps here, on its IST stack. The two guest-access fix-ups come first,
// here, as trap() would make them: a #PF in guestCopyMove at an address
// outside gohv's range (copyFixup; gohv's own pages are trap()'s demand
// faults) and a #TS, #NP, #SS or #GP in segLoad (segFixup) resume at
// their fix-up. They are not left to Go code, which reads g through
// FS_BASE, because FS_BASE may be the guest's there: the fast path's
// guest copies run with it (guest_amd64.s fastSyscall), and segLoad may
// have loaded FS before the selector that faults. Anything else: saves
// all registers and the vector state, calls trap(*trapFrame)
// (trap_unsafe.go), which may edit the frame (demand paging fixes the
// fault; a fatal fault in Go code is redirected to faultTrampoline),
// then restores and returns.
TEXT ·trapCommon(SB),NOSPLIT|NOFRAME,$0
	PUSHQ	AX
	PUSHQ	CX
	MOVQ	16(SP), AX		// vector
	MOVQ	32(SP), CX		// RIP
	CMPQ	AX, $14
	JNE	seg
	CMPQ	CX, ·copyFixup+0(SB)
	JCS	goTrap
	CMPQ	CX, ·copyFixup+16(SB)
	JCC	goTrap
	MOVQ	CR2, AX
	MOVQ	$const_hypervisorStart, CX
	CMPQ	AX, CX
	JCS	copyFix			// the guest's low part
	MOVQ	$const_guestHighStart, CX
	CMPQ	AX, CX
	JCS	goTrap			// gohv's own range
copyFix:
	MOVQ	·copyFixup+8(SB), AX
	JMP	resume
seg:
	CMPQ	AX, $10
	JCS	goTrap
	CMPQ	AX, $13
	JHI	goTrap
	CMPQ	CX, ·segFixup+0(SB)
	JCS	goTrap
	CMPQ	CX, ·segFixup+8(SB)
	JCC	goTrap
	MOVQ	·segFixup+16(SB), AX
resume:
	MOVQ	AX, 32(SP)		// the fix-up's RIP
	POPQ	CX
	POPQ	AX
	ADDQ	$16, SP
	IRETQ
goTrap:
	POPQ	CX
	POPQ	AX
	PUSH_GPRS
	// Below the registers: a 16-byte aligned FXSAVE area, then the
	// argument slot and (at 8(SP), out of the callee's reach) the frame
	// address, since Go calls clobber every register.
	MOVQ	SP, BX
	SUBQ	$528, SP
	ANDQ	$~15, SP
	FXSAVE64	(SP)
	SUBQ	$16, SP
	MOVQ	BX, 0(SP)
	MOVQ	BX, 8(SP)
	CALL	·trap(SB)
	MOVQ	8(SP), BX
	ADDQ	$16, SP
	FXRSTOR64	(SP)
	MOVQ	BX, SP
	POP_GPRS
	ADDQ	$16, SP
	IRETQ

// faultTrampoline is entered, by trap editing the frame, as if the
// faulting instruction had called it: the faulting RIP is the return
// address on the goroutine's stack. It calls faultPanic (ordinary Go), so
// the runtime prints a traceback through the faulting function.
TEXT ·faultTrampoline(SB),NOSPLIT|NOFRAME,$0
	CALL	·faultPanic(SB)
	INT	$3

// Addresses of asm entry points, for the descriptor tables and MSRs
// (absolute, low: the linker writes them). asmAddrs[0] is unused: the
// SYSCALL entry is reached through frontSyscall (guest_amd64.s).
DATA ·asmAddrs+0(SB)/8, $·syscallEntry(SB)
DATA ·asmAddrs+8(SB)/8, $·threadStart(SB)
DATA ·asmAddrs+16(SB)/8, $·irqTimer(SB)
DATA ·asmAddrs+24(SB)/8, $·irqDevice(SB)
DATA ·asmAddrs+32(SB)/8, $·faultTrampoline(SB)
DATA ·asmAddrs+40(SB)/8, $runtime·text(SB)
DATA ·asmAddrs+48(SB)/8, $runtime·end(SB)
DATA ·asmAddrs+56(SB)/8, $runtime·etext(SB)
DATA ·asmAddrs+64(SB)/8, $·irqSpurious(SB)
DATA ·asmAddrs+72(SB)/8, $·apEntry(SB)
DATA ·asmAddrs+80(SB)/8, $·idleStart(SB)
GLOBL ·asmAddrs(SB), RODATA, $88

// func cpuSelf() uintptr
// Returns GS:0, this CPU's cpuState.self (GS_BASE points at the cpuState
// in ring 0). Context: ring 0 with interrupts off, or any code that only
// needs some CPU's number at that instant. Clobbers AX.
TEXT ·cpuSelf(SB),NOSPLIT|NOFRAME,$0-8
	// MOVQ GS:cpuState_self, AX
	BYTE $0x65; BYTE $0x48; BYTE $0x8B; BYTE $0x04; BYTE $0x25; LONG $cpuState_self
	MOVQ	AX, ret+0(FP)
	RET

// func sti()
// Enables interrupts (GuestContext.Run, after the exit's interrupt has
// been served on the CPU that took it). Clobbers nothing.
TEXT ·sti(SB),NOSPLIT|NOFRAME,$0
	STI
	RET

// func reloadSegments()
// After LGDT of the Xen-layout GDT: DS/ES/SS = 0xe010, then a far return
// to the caller with CS = 0xe008. Clobbers AX. Context: kmain.
TEXT ·reloadSegments(SB),NOSPLIT|NOFRAME,$0
	MOVL	$0xe010, AX
	MOVW	AX, DS
	MOVW	AX, ES
	MOVW	AX, SS
	POPQ	AX
	PUSHQ	$0xe008
	PUSHQ	AX
	BYTE	$0x48; BYTE $0xCB	// LRETQ

// PUTC32 writes the character c on COM1 through putc32.
#define PUTC32(c) MOVB $c, AX; CALL ·putc32(SB)

// nolm32 prints Xen's message for a CPU without long mode on COM1,
// "(XEN) ERR: Not a 64-bit CPU!", and halts for good. Context: entry32's
// 32-bit protected mode, stack at TEXT_PA, interrupts off. Never returns.
// Clobbers: AX, CX, DX, DI.
TEXT ·nolm32(SB),NOSPLIT|NOFRAME,$0
	PUTC32('\r')
	PUTC32('\n')
	PUTC32('(')
	PUTC32('X')
	PUTC32('E')
	PUTC32('N')
	PUTC32(')')
	PUTC32(' ')
	PUTC32('E')
	PUTC32('R')
	PUTC32('R')
	PUTC32(':')
	PUTC32(' ')
	PUTC32('N')
	PUTC32('o')
	PUTC32('t')
	PUTC32(' ')
	PUTC32('a')
	PUTC32(' ')
	PUTC32('6')
	PUTC32('4')
	PUTC32('-')
	PUTC32('b')
	PUTC32('i')
	PUTC32('t')
	PUTC32(' ')
	PUTC32('C')
	PUTC32('P')
	PUTC32('U')
	PUTC32('!')
	PUTC32('\r')
	PUTC32('\n')
halt:
	CLI
	HLT
	JMP	halt

// putc32 writes the byte in AL to COM1 (port 0x3f8) once the transmitter
// is empty (line status 0x3fd bit 5), polling at most 65536 times so that a
// machine without the UART does not hang here. The UART is left as the
// firmware set it. Context: 32-bit protected mode (entry32, nolm32); only
// instructions that encode alike in 32- and 64-bit mode. In: AL.
// Clobbers: AX, CX, DX, DI.
TEXT ·putc32(SB),NOSPLIT|NOFRAME,$0
	MOVB	AX, CX
	MOVL	$0x10000, DI
	MOVL	$0x3fd, DX
wait:
	INB
	TESTB	$0x20, AX
	JNE	ready
	DECL	DI
	JNE	wait
ready:
	MOVB	CX, AX
	MOVL	$0x3f8, DX
	OUTB
	RET
