// Guest entry and exit, and the "front" stubs every IDT gate, IA32_LSTAR
// and IA32_CSTAR point at.
//
// A PV guest runs in ring 3 on its own page tables; every guest top level
// carries gohv's upper-half L4 entries (mem_unsafe.go), so gohv runs on
// whichever tables are loaded and neither the entry nor the exit switches
// CR3 unless the guest's tables changed. The entry is a call from the
// vCPU's goroutine (enterGuest); the exit returns from that call: to the
// Go runtime, guest time is time spent in one (long) assembly function.
// That goroutine's thread keeps the guest's x87 state in the CPU across
// the exit (Go code never touches x87; thread switches save it); XMM0-15
// and MXCSR, which Go code uses, are saved at the exit and loaded at the
// entry.
//
// Registers: GS_BASE holds this CPU's cpuState in ring 0 and the guest's
// GS base in the guest; SWAPGS switches them at every exit and entry.
// FS_BASE holds the runtime's TLS in ring 0 and the guest's FS base in the
// guest; the exit reads the guest's and writes the runtime's back.

#include "textflag.h"
#include "go_asm.h"

// Raw encodings of the GS-relative moves Go's assembler cannot express:
// MOVQ BX, GS:cpuState_scratch2 and MOVQ GS:cpuState_self, BX.
#define GS_SAVE_BX	BYTE $0x65; BYTE $0x48; BYTE $0x89; BYTE $0x1C; BYTE $0x25; LONG $cpuState_scratch2
#define GS_LOAD_SELF	BYTE $0x65; BYTE $0x48; BYTE $0x8B; BYTE $0x1C; BYTE $0x25; LONG $cpuState_self

// RETURN_TO_HOST returns from enterGuest (BX = this cpuState) on the
// stack it was called on, popping the BP and flags it pushed (interrupts
// back on). The pops are spelt as bytes (POPQ BP, POPFQ): the assembler
// rejects the unbalanced POPs.
#define RETURN_TO_HOST \
	MOVQ	cpuState_hostSP(BX), SP; \
	BYTE	$0x5D; \
	BYTE	$0x9D; \
	RET

// SAVE_GPRS stores the guest's general registers but RSP in its
// arch.Regs; after it, AX = that arch.Regs, BX = this cpuState, and every
// other register but SP is free. Context: just after SWAPGS.
#define SAVE_GPRS \
	GS_SAVE_BX; \
	GS_LOAD_SELF; \
	MOVQ	AX, cpuState_scratch3(BX); \
	MOVQ	cpuState_regs(BX), AX; \
	MOVQ	CX, const_regRCX(AX); \
	MOVQ	DX, const_regRDX(AX); \
	MOVQ	SI, const_regRSI(AX); \
	MOVQ	DI, const_regRDI(AX); \
	MOVQ	BP, const_regRBP(AX); \
	MOVQ	R8, const_regR8(AX); \
	MOVQ	R9, const_regR9(AX); \
	MOVQ	R10, const_regR10(AX); \
	MOVQ	R11, const_regR11(AX); \
	MOVQ	R12, const_regR12(AX); \
	MOVQ	R13, const_regR13(AX); \
	MOVQ	R14, const_regR14(AX); \
	MOVQ	R15, const_regR15(AX); \
	MOVQ	cpuState_scratch3(BX), CX; \
	MOVQ	CX, const_regRAX(AX); \
	MOVQ	cpuState_scratch2(BX), CX; \
	MOVQ	CX, const_regRBX(AX)

// SAVE_FRAME stores the CPU's interrupt frame, which sits at off(SP):
// RIP, CS, RFLAGS, RSP, SS (AX = arch.Regs; clobbers CX).
#define SAVE_FRAME(off) \
	MOVQ	(off+0)(SP), CX; \
	MOVQ	CX, const_regRIP(AX); \
	MOVQ	(off+8)(SP), CX; \
	MOVW	CX, const_regCS(AX); \
	MOVQ	(off+16)(SP), CX; \
	MOVQ	CX, const_regRFLAGS(AX); \
	MOVQ	(off+24)(SP), CX; \
	MOVQ	CX, const_regRSP(AX); \
	MOVQ	(off+32)(SP), CX; \
	MOVW	CX, const_regSS(AX)

// LOAD_GPRS loads the guest's general registers but RSP from its
// arch.Regs at R8, R8 last.
#define LOAD_GPRS \
	MOVQ	const_regRAX(R8), AX; \
	MOVQ	const_regRBX(R8), BX; \
	MOVQ	const_regRCX(R8), CX; \
	MOVQ	const_regRDX(R8), DX; \
	MOVQ	const_regRSI(R8), SI; \
	MOVQ	const_regRDI(R8), DI; \
	MOVQ	const_regRBP(R8), BP; \
	MOVQ	const_regR9(R8), R9; \
	MOVQ	const_regR10(R8), R10; \
	MOVQ	const_regR11(R8), R11; \
	MOVQ	const_regR12(R8), R12; \
	MOVQ	const_regR13(R8), R13; \
	MOVQ	const_regR14(R8), R14; \
	MOVQ	const_regR15(R8), R15; \
	MOVQ	const_regR8(R8), R8


// frontSyscall is IA32_LSTAR. The hypervisor's own Go code (IOPL 3 in
// R11) continues at syscallEntry; a guest's SYSCALL is an exit.
// In: RCX = return RIP, R11 = RFLAGS, RSP = the caller's (guest's) stack,
// which is never written.
TEXT ·frontSyscall(SB),NOSPLIT|NOFRAME,$0
	TESTL	$0x3000, R11
	JZ	fromGuest
	JMP	·syscallEntry(SB)
fromGuest:
	SWAPGS
	SAVE_GPRS
	MOVW	$0xe033, const_regCS(AX)
	JMP	·syscallExit(SB)

// frontSyscall32 is IA32_CSTAR: SYSCALL from guest code in compatibility
// mode (AMD CPUs; only guests ever run there). As frontSyscall, with the
// 32-bit code selector.
TEXT ·frontSyscall32(SB),NOSPLIT|NOFRAME,$0
	SWAPGS
	SAVE_GPRS
	MOVW	$0xe023, const_regCS(AX)
	JMP	·syscallExit(SB)

// syscallExit: a guest's SYSCALL, its general registers and CS saved (AX =
// arch.Regs, BX = cpuState, RSP still the guest's): the rest of the frame
// SYSCALL gives (RIP in RCX, RFLAGS in R11), then the fast path if the
// vCPU has one (fastSyscall), else the common exit.
TEXT ·syscallExit(SB),NOSPLIT|NOFRAME,$0
	MOVQ	SP, const_regRSP(AX)
	MOVQ	const_regRCX(AX), CX
	MOVQ	CX, const_regRIP(AX)
	MOVQ	const_regR11(AX), CX
	MOVQ	CX, const_regRFLAGS(AX)
	MOVW	$0xe02b, const_regSS(AX)
	MOVQ	cpuState_ctx(BX), R9
	CMPQ	guestCtx_fast(R9), $0
	JEQ	slow
	JMP	·fastSyscall(SB)
slow:
	JMP	·syscallSlow(SB)

// syscallSlow: a guest SYSCALL exits to Go (AX = arch.Regs, BX =
// cpuState, the frame saved as syscallExit leaves it).
TEXT ·syscallSlow(SB),NOSPLIT|NOFRAME,$0
	MOVQ	$const_exitSyscall, DX
	JMP	·guestExit(SB)

// CANONICAL_OR_SLOW(r) goes to the slow path (label slow) unless r is a
// canonical address. Clobbers CX.
#define CANONICAL_OR_SLOW(r) \
	MOVQ	r, CX; \
	SHLQ	$16, CX; \
	SARQ	$16, CX; \
	CMPQ	CX, r; \
	JNE	slow

// KERNEL_FRAME_OR_SLOW(size) puts in R11 where a bounce frame of size
// bytes goes from guest kernel mode: below the interrupted RSP (arch.Regs
// at R8) aligned down to 16, the whole frame in the guest's low or high
// part (hw.GuestRange), else the slow path (label slow); a frame in the
// low part skips the high part's check (4(PC): past its three
// instructions). Clobbers CX, SI.
#define KERNEL_FRAME_OR_SLOW(size) \
	MOVQ	const_regRSP(R8), CX; \
	ANDQ	$~15, CX; \
	MOVQ	CX, R11; \
	SUBQ	size, R11; \
	CMPQ	CX, R11; \
	JCS	slow; \
	MOVQ	$const_guestLowEnd, SI; \
	CMPQ	CX, SI; \
	JLS	4(PC); \
	MOVQ	$const_guestHighStart, SI; \
	CMPQ	R11, SI; \
	JCS	slow

// COPY_FRAME_OR_SLOW(size) loads the kernel's tables (fastCR3) and copies
// the size-byte bounce frame at SP to the guest at R11 through them
// (guestCopy), or goes to the slow path (label slow) if the copy faults.
// In: R9 = guestCtx. Clobbers AX, CX, SI and the stack below SP.
#define COPY_FRAME_OR_SLOW(size) \
	MOVQ	guestCtx_kernelCR3(R9), AX; \
	CALL	·fastCR3(SB); \
	MOVQ	SP, SI; \
	SUBQ	$40, SP; \
	MOVQ	R11, 0(SP); \
	MOVQ	SI, 8(SP); \
	MOVQ	size, 16(SP); \
	MOVQ	guestCtx_kernelCR3(R9), AX; \
	MOVQ	AX, 24(SP); \
	CALL	·guestCopy(SB); \
	CMPB	32(SP), $0; \
	JEQ	slow

// ENTER_HANDLER(handler, count) enters the guest kernel's handler with
// the bounce frame at R11 as its stack: RFLAGS (R13, the interrupted
// ones) with AC, VM, RF, NT, TF and IOPL clear, the flat 64-bit CS and
// SS, the count raised, and from user mode the kernel's GS base (the
// vCPU enters kernel mode); then guestIret. In: R8 = arch.Regs, R9 =
// guestCtx, BX = cpuState. Clobbers every register.
#define ENTER_HANDLER(handler, count) \
	ANDQ	$~const_rflagsTrapClear, R13; \
	ORQ	$const_rflagsGuestSet, R13; \
	MOVQ	R13, const_regRFLAGS(R8); \
	MOVQ	R11, const_regRSP(R8); \
	MOVQ	handler, AX; \
	MOVQ	AX, const_regRIP(R8); \
	MOVW	$const_flatCS64, const_regCS(R8); \
	MOVW	$const_flatSS, const_regSS(R8); \
	INCQ	count; \
	CMPQ	guestCtx_kernel(R9), $0; \
	JNE	3(PC); \
	CALL	·fastToggleGS(SB); \
	MOVQ	$1, guestCtx_kernel(R9); \
	JMP	·guestIret(SB)

// GUEST_READ_OR_SLOW(size) copies the size bytes of the guest at DX, if
// they lie in the guest's low or high part (hw.GuestRange), onto the
// stack through the kernel's tables (guestCopy), SP then pointing at
// them, or goes to the slow path (label slow); a range in the low part
// skips the high part's check (4(PC): past its three instructions).
// In: R9 = guestCtx. Clobbers AX, CX, SI and the stack below SP.
#define GUEST_READ_OR_SLOW(size) \
	LEAQ	size(DX), CX; \
	CMPQ	CX, DX; \
	JCS	slow; \
	MOVQ	$const_guestLowEnd, SI; \
	CMPQ	CX, SI; \
	JLS	4(PC); \
	MOVQ	$const_guestHighStart, SI; \
	CMPQ	DX, SI; \
	JCS	slow; \
	SUBQ	$size, SP; \
	MOVQ	SP, SI; \
	SUBQ	$40, SP; \
	MOVQ	SI, 0(SP); \
	MOVQ	DX, 8(SP); \
	MOVQ	$size, 16(SP); \
	MOVQ	guestCtx_kernelCR3(R9), AX; \
	MOVQ	AX, 24(SP); \
	CALL	·guestCopy(SB); \
	CMPB	32(SP), $0; \
	JEQ	slow; \
	ADDQ	$40, SP

// EVENT_FRAME builds the event callback's 7-word bounce frame on the
// stack (SP moves down by its size): RCX, R11, RIP, CS | saved mask (0)
// << 32 with the CS in R12, RFLAGS from R13 with IOPL clear and IF set
// (the mask was clear), RSP, SS, from arch.Regs at R8. Clobbers AX.
#define EVENT_FRAME \
	SUBQ	$const_bounceFrameSize, SP; \
	MOVQ	const_regRCX(R8), AX; \
	MOVQ	AX, 0(SP); \
	MOVQ	const_regR11(R8), AX; \
	MOVQ	AX, 8(SP); \
	MOVQ	const_regRIP(R8), AX; \
	MOVQ	AX, 16(SP); \
	MOVQ	R12, 24(SP); \
	MOVQ	R13, AX; \
	ANDQ	$~const_rflagsFrameClear, AX; \
	ORQ	$const_rflagsIF, AX; \
	MOVQ	AX, 32(SP); \
	MOVQ	const_regRSP(R8), AX; \
	MOVQ	AX, 40(SP); \
	MOVWQZX	const_regSS(R8), AX; \
	MOVQ	AX, 48(SP)

// fastSyscall serves a guest SYSCALL in assembly, as the Go path (hv's
// run loop with hv/pv's HandleSyscall, Bounce, Iret and DeliverEvent)
// would, and re-enters the guest without leaving enterGuest: Xen builds
// the same bounce in entry.S. Two cases, everything else (and any check
// below that fails) goes to syscallSlow with nothing changed but CR3 (and
// for a bounce frame whose copy faulted part way, the part written, which
// the Go path writes again):
//   - user mode, 64-bit (CS 0xe033), a syscall callback SetFastPath
//     accepted, RFLAGS.TF clear, no event left to deliver: the bounce
//     frame (RCX, R11, RIP, CS | upcall mask<<32, RFLAGS, RSP, SS) is
//     written at syscallFrame through the kernel's tables, the upcall
//     mask set if the callback masks events, then the guest kernel mode
//     (GS swapped, kernel tables) at the callback;
//   - kernel mode, RAX = HYPERVISOR_iret: the iret_context (RAX, R11, RCX,
//     flags, RIP, CS, RFLAGS, RSP, SS) read from the guest stack, if it is
//     in the guest's part of the address space, flags without
//     VGCF_in_syscall, CS|3 a 64-bit code and SS|3 a writable data
//     segment IRETQ can load (fastSelector: Linux returns to user mode
//     with its own GDT's 0x33 and 0x2b), RIP and RSP canonical, TF clear
//     and no event left to deliver once the upcall mask follows IF: the
//     registers restored, and for a CS with RPL 3 guest user mode (GS
//     swapped, user tables).
// Guest memory is reached only through guestCopy, so a fault takes
// copyFixup's way back and the slow path then decides. The counters
// fastBounces and fastIrets say what was done; kernel keeps the mode.
// Context: SYSCALL from a guest, interrupts off, GS_BASE = cpuState.
// In: AX = arch.Regs, BX = cpuState, R9 = guestCtx, the guest's registers
// saved in arch.Regs (syscallExit), RSP the guest's (never written). Runs
// on the CPU's entry stack (entryTop). Clobbers every register: the guest's
// are loaded from arch.Regs on the way back in (guestIret).
TEXT ·fastSyscall(SB),NOSPLIT|NOFRAME,$0
	MOVQ	AX, R8
	CMPQ	guestCtx_dr7(R9), $0	// breakpoints: guestExit turns them off, the entry back on
	JNE	slow
	CMPW	const_regCS(R8), $const_flatCS64
	JNE	slow
	MOVQ	guestCtx_info(R9), R10	// the vcpu_info: upcall pending at 0, mask at 1
	MOVQ	cpuState_entryTop(BX), SP
	CMPQ	guestCtx_kernel(R9), $0
	JNE	iret

	// User mode: the bounce to the syscall callback.
	MOVQ	guestCtx_syscallCB(R9), R12
	TESTQ	R12, R12
	JEQ	slow
	MOVQ	const_regR11(R8), R13	// the RFLAGS SYSCALL saved
	TESTQ	$const_rflagsTF, R13
	JNE	slow
	MOVQ	const_regGSBaseShadow(R8), AX	// the kernel's GS base, to be loaded
	CANONICAL_OR_SLOW(AX)
	MOVBQZX	1(R10), R14		// the upcall mask now, for the frame
	MOVQ	R14, R15		// and after the bounce
	CMPQ	guestCtx_syscallMask(R9), $0
	JEQ	pending
	ORQ	$1, R15
pending:
	TESTQ	R15, R15
	JNE	frame
	CMPB	0(R10), $0		// an event the Go path would deliver next
	JNE	slow
frame:
	MOVQ	guestCtx_kernelCR3(R9), AX
	CALL	·fastCR3(SB)
	SUBQ	$const_bounceFrameSize, SP
	MOVQ	const_regRCX(R8), AX
	MOVQ	AX, 0(SP)		// RCX
	MOVQ	R13, 8(SP)		// R11
	MOVQ	AX, 16(SP)		// RIP: the instruction after the SYSCALL
	MOVQ	R14, AX
	SHLQ	$32, AX
	ORQ	$const_flatCS64, AX
	MOVQ	AX, 24(SP)		// CS | saved mask<<32
	MOVQ	R13, AX
	ANDQ	$~const_rflagsFrameClear, AX
	TESTQ	R14, R14
	JNE	masked
	ORQ	$const_rflagsIF, AX
masked:
	MOVQ	AX, 32(SP)		// RFLAGS: IF = !saved mask
	MOVQ	const_regRSP(R8), AX
	MOVQ	AX, 40(SP)		// RSP
	MOVQ	$const_flatSS, 48(SP)	// SS
	MOVQ	SP, SI
	SUBQ	$40, SP			// guestCopy(dst, src, n, cr3) (ok bool)
	MOVQ	guestCtx_syscallFrame(R9), AX
	MOVQ	AX, 0(SP)
	MOVQ	SI, 8(SP)
	MOVQ	$const_bounceFrameSize, 16(SP)
	MOVQ	guestCtx_kernelCR3(R9), AX
	MOVQ	AX, 24(SP)
	CALL	·guestCopy(SB)
	CMPB	32(SP), $0
	JEQ	slow
	CMPQ	guestCtx_syscallMask(R9), $0
	JEQ	bounced
	MOVB	R15, 1(R10)
bounced:
	MOVQ	R13, AX
	ANDQ	$~const_rflagsBounceClear, AX
	ORQ	$const_rflagsGuestSet, AX
	MOVQ	AX, const_regRFLAGS(R8)
	MOVQ	guestCtx_syscallFrame(R9), AX
	MOVQ	AX, const_regRSP(R8)
	MOVQ	R12, const_regRIP(R8)
	MOVW	$const_flatCS64, const_regCS(R8)
	MOVW	$const_flatSS, const_regSS(R8)
	CALL	·fastToggleGS(SB)
	MOVQ	$1, guestCtx_kernel(R9)
	INCQ	guestCtx_fastBounces(R9)
	JMP	·guestIret(SB)

	// Kernel mode: HYPERVISOR_iret, or another hypercall fastHypercall
	// may serve.
iret:
	CMPQ	const_regRAX(R8), $const_hypercallIret
	JNE	hypercall
	CMPQ	guestCtx_iret(R9), $0
	JEQ	slow
	MOVQ	const_regRSP(R8), DX
	GUEST_READ_OR_SLOW(const_iretContextSize)	// SP = the iret_context
	TESTQ	$const_vgcfInSyscall, 24(SP)
	JNE	slow
	MOVQ	40(SP), R12		// CS | 3
	ORQ	$3, R12
	MOVWQZX	R12, R12
	MOVQ	$const_descCSMask, DX
	MOVQ	$const_descCSWant, DI
	CALL	·fastSelector(SB)
	JNE	slow
	MOVQ	64(SP), R13		// SS | 3
	ORQ	$3, R13
	MOVWQZX	R13, R13
	MOVQ	R13, R12
	MOVQ	$const_descSSMask, DX
	MOVQ	$const_descSSWant, DI
	CALL	·fastSelector(SB)
	JNE	slow
	MOVQ	40(SP), R12
	ORQ	$3, R12
	MOVWQZX	R12, R12
	MOVQ	32(SP), AX		// RIP
	CANONICAL_OR_SLOW(AX)
	MOVQ	56(SP), AX		// RSP
	CANONICAL_OR_SLOW(AX)
	MOVQ	48(SP), R14		// RFLAGS
	TESTQ	$const_rflagsTF, R14
	JNE	slow
	MOVL	$1, R15			// the upcall mask: !IF
	TESTQ	$const_rflagsIF, R14
	JEQ	touser
	XORL	R15, R15
	CMPB	0(R10), $0		// an event the Go path would deliver next
	JNE	slow
touser:
	MOVQ	40(SP), AX
	ANDQ	$3, AX
	CMPQ	AX, $3
	JNE	restore
	CMPQ	guestCtx_userCR3(R9), $0	// no user page table: the Go path crashes the guest
	JEQ	slow
	MOVQ	const_regGSBaseShadow(R8), AX	// the user's GS base, to be loaded
	CANONICAL_OR_SLOW(AX)
restore:
	MOVB	R15, 1(R10)
	MOVQ	32(SP), AX
	MOVQ	AX, const_regRIP(R8)
	MOVW	R12, const_regCS(R8)
	ANDQ	$~const_rflagsIretClear, R14
	ORQ	$const_rflagsGuestSet, R14
	MOVQ	R14, const_regRFLAGS(R8)
	MOVQ	56(SP), AX
	MOVQ	AX, const_regRSP(R8)
	MOVW	R13, const_regSS(R8)
	MOVQ	8(SP), AX
	MOVQ	AX, const_regR11(R8)
	MOVQ	16(SP), AX
	MOVQ	AX, const_regRCX(R8)
	MOVQ	0(SP), AX
	MOVQ	AX, const_regRAX(R8)
	INCQ	guestCtx_fastIrets(R9)
	MOVQ	40(SP), AX
	ANDQ	$3, AX
	CMPQ	AX, $3
	JNE	enter
	CALL	·fastToggleGS(SB)
	MOVQ	$0, guestCtx_kernel(R9)
	MOVQ	guestCtx_userCR3(R9), AX
	CALL	·fastCR3(SB)
enter:
	JMP	·guestIret(SB)
hypercall:
	JMP	·fastHypercall(SB)

slow:
	MOVQ	R8, AX
	JMP	·syscallSlow(SB)

// fastHypercall serves in assembly, as hv/pv's SetSegmentBase and
// StackSwitch would, the two hypercalls a PV kernel makes at every
// context switch (Linux: each thread's FS base, its user GS base, and
// the kernel stack for the next bounce from user mode), and the two it
// makes about as often for its timer and its events, and returns to
// the guest kernel without leaving enterGuest, as Xen serves them from
// its hypercall table without a scheduling decision:
//   - set_segment_base (RDI = SEGBASE_FS, SEGBASE_GS_USER or
//     SEGBASE_GS_KERNEL, RSI a canonical base): the base goes to
//     arch.Regs (FSBase, GSBaseShadow: the user's while in kernel mode,
//     GSBase) and, for those the CPU holds now, to FS_BASE or
//     KERNEL_GS_BASE (the guest's GS base since the exit's SWAPGS);
//     SEGBASE_GS_USER_SEL (Linux's at every switch to a 64-bit thread,
//     on AMD CPUs twice: __USER_DS, then the null selector) with the
//     null selector (RSI 0-3) or a GDT selector (RPL 3) of a present,
//     DPL 3, writable data segment (fastSelector, so the load cannot
//     fault): arch.Regs' GS is the selector and GSBaseShadow (the
//     user's) its base (0 for null), and the CPU's GS is loaded with it
//     as segLoad would at the next entry;
//   - stack_switch (RDI = SS, RSI = RSP) for a stack whose top (RSP
//     aligned down to 16) leaves room for the largest bounce frame
//     (64 bytes) in the guest's low or high part, which is hv/pv's
//     userFrame rule for each frame: guestCtx keeps the selector (RPL 3
//     if it had RPL 0) and RSP for Run's caller (stackSet), and the user
//     mode frames of the syscall, event and #PF bounces move below the
//     new top;
//   - vcpu_op(VCPUOP_set_singleshot_timer) for this vCPU (RSI = vcpuID)
//     when SetFastPath allowed it (sshot), with its argument readable
//     through guestCopy in the guest's low or high part and a deadline
//     at least deadlineMin ahead (flags ignored, as sched.Waiter does):
//     the deadline goes to sshotAt for Run's caller, who arms the vCPU's
//     one-shot timer with it (FastSingleshot), and this run's deadline
//     becomes the earlier of it and periodicAt, quietEnd no later, and
//     the CPU's timer is set for it if it would fire later, as
//     deadlineTimer does. A deadline due (or nearly) goes to the Go
//     path, which raises VIRQ_TIMER at once;
//   - xen_version(XENVER_version) when SetFastPath gave the version
//     (xenVersion): Linux's xen_force_evtchn_callback, the hypercall it
//     makes to have a pending event delivered when it unmasks events.
// Each returns its result in RAX (0 but for xen_version) to the
// instruction after the SYSCALL, RFLAGS from R11 as the Go path enters
// with them (GuestRFLAGS); an event pending with the upcall mask clear
// is then delivered as the Go path would at the return (hypercallEvent).
// Anything else goes to syscallSlow with nothing changed: another
// hypercall or argument (the Go path gives -EINVAL, -EFAULT and the
// SEGBASE_GS_USER_SEL selector load) or RFLAGS.TF set.
// fastHypercalls counts what was served.
// Context: fastSyscall in guest kernel mode, interrupts off, GS_BASE =
// cpuState, breakpoints off, CS the flat 64-bit one. In: R8 = arch.Regs,
// R9 = guestCtx, R10 = the vcpu_info, BX = cpuState, SP = entryTop.
// Clobbers every register: the guest's are loaded from arch.Regs on the
// way back in (guestIret).
TEXT ·fastHypercall(SB),NOSPLIT|NOFRAME,$0
	MOVQ	const_regR11(R8), R13	// the RFLAGS SYSCALL saved
	TESTQ	$const_rflagsTF, R13
	JNE	slow
	MOVQ	const_regRAX(R8), AX
	CMPQ	AX, $const_hypercallSegmentBase
	JEQ	segbase
	CMPQ	AX, $const_hypercallStackSwitch
	JEQ	stack
	CMPQ	AX, $const_hypercallVCPUOp
	JEQ	vcpuop
	CMPQ	AX, $const_hypercallXenVersion
	JEQ	xenver
	JMP	slow

xenver:
	MOVQ	guestCtx_xenVersion(R9), AX	// 0: not served here
	TESTQ	AX, AX
	JEQ	slow
	MOVL	const_regRDI(R8), CX	// the command: XENVER_version
	TESTL	CX, CX
	JNE	slow
	MOVQ	AX, const_regRAX(R8)
	JMP	result

segbase:
	MOVQ	const_regRSI(R8), AX	// the base
	CANONICAL_OR_SLOW(AX)
	MOVQ	const_regRDI(R8), CX	// which
	CMPQ	CX, $const_segbaseFS
	JEQ	fs
	CMPQ	CX, $const_segbaseGSUser
	JEQ	gsuser
	CMPQ	CX, $const_segbaseGSUserSel
	JEQ	gssel
	CMPQ	CX, $const_segbaseGSKernel
	JNE	slow
	MOVQ	AX, const_regGSBase(R8)
	MOVQ	AX, cpuState_kgsBase(BX)
	MOVL	$0xC0000102, CX		// KERNEL_GS_BASE: the guest's until the entry's SWAPGS
	JMP	wrmsr
fs:
	MOVQ	AX, const_regFSBase(R8)
	MOVL	$0xC0000100, CX		// FS_BASE: the guest's until an exit to Go
wrmsr:
	MOVQ	AX, DX
	SHRQ	$32, DX
	WRMSR
	JMP	done
gsuser:
	MOVQ	AX, const_regGSBaseShadow(R8)
	JMP	done
gssel:
	MOVWQZX	AX, R12			// the selector
	XORL	DX, DX			// the null selector's base
	TESTQ	$~3, R12
	JEQ	gsload
	ORQ	$3, R12			// RPL 3
	MOVQ	$const_descSSMask, DX
	MOVQ	$const_descSSWant, DI
	CALL	·fastSelector(SB)	// a writable data segment in the GDT
	JNE	slow
	MOVQ	cpuState_gdtVA(BX), SI
	MOVQ	R12, AX
	ANDQ	$~7, AX
	MOVQ	(SI)(AX*1), AX		// its descriptor, for the base
	MOVQ	AX, DX
	SHRQ	$16, DX
	ANDL	$0xffffff, DX
	SHRQ	$32, AX
	ANDL	$0xff000000, AX
	ORQ	AX, DX
gsload:
	MOVQ	DX, const_regGSBaseShadow(R8)
	MOVW	R12, const_regGS(R8)
	XORL	AX, AX
	MOVW	GS, AX
	CMPQ	AX, R12
	JEQ	done			// the CPU holds it
	// Loaded here, as segLoad would at an entry: GS_BASE gets the
	// cpuState back at once (the guest's GS base is in KERNEL_GS_BASE).
	MOVW	R12, GS
	MOVW	R12, cpuState_selGS(BX)
	MOVL	cpuState_self(BX), AX
	MOVL	(cpuState_self+4)(BX), DX
	MOVL	$0xC0000101, CX
	WRMSR
	JMP	done

stack:
	MOVQ	const_regRSI(R8), AX	// the stack pointer
	MOVQ	AX, CX
	ANDQ	$~15, CX		// the frames' top
	MOVQ	CX, DX
	SUBQ	$const_faultFrameSize, DX	// the largest frame's base
	CMPQ	CX, DX
	JCS	slow			// below 64: no room
	MOVQ	$const_guestLowEnd, SI
	CMPQ	CX, SI
	JLS	frames			// all in the low part
	MOVQ	$const_guestHighStart, SI
	CMPQ	DX, SI
	JCS	slow			// not all in the high part
frames:
	MOVQ	DX, guestCtx_pfFrame(R9)
	MOVQ	CX, DX
	SUBQ	$const_bounceFrameSize, DX
	MOVQ	DX, guestCtx_syscallFrame(R9)
	MOVQ	DX, guestCtx_evFrame(R9)
	MOVQ	const_regRDI(R8), DX	// the selector: RPL 3 if it had RPL 0
	TESTQ	$3, DX
	JNE	2(PC)
	ORQ	$3, DX
	MOVQ	DX, guestCtx_stackSS(R9)
	MOVQ	AX, guestCtx_stackSP(R9)
	MOVQ	$1, guestCtx_stackSet(R9)
	JMP	done

vcpuop:
	CMPQ	guestCtx_sshot(R9), $0
	JEQ	slow
	CMPQ	const_regRDI(R8), $const_vcpuopSetSingleshot
	JNE	slow
	MOVQ	guestCtx_vcpuID(R9), AX
	CMPQ	const_regRSI(R8), AX
	JNE	slow			// another vCPU: -EINVAL or -ENOENT
	MOVQ	const_regRDX(R8), DX	// the vcpu_set_singleshot_timer
	GUEST_READ_OR_SLOW(const_sshotArgSize)	// unreadable: -EFAULT
	MOVQ	0(SP), R12		// timeout_abs_ns
	ADDQ	$const_sshotArgSize, SP
	RDTSC				// now, as tscTime
	SHLQ	$32, DX
	ORQ	DX, AX
	SUBQ	·tsc0(SB), AX
	MULQ	·tscMult(SB)
	SHRQ	$32, AX
	SHLQ	$32, DX
	ORQ	DX, AX
	MOVQ	R12, CX
	SUBQ	AX, CX
	CMPQ	CX, $const_deadlineMin
	JLT	slow			// due: VIRQ_TIMER now
	MOVQ	R12, guestCtx_sshotAt(R9)
	MOVQ	$1, guestCtx_sshotSet(R9)
	MOVQ	guestCtx_periodicAt(R9), DX	// the run's deadline: the earlier
	TESTQ	DX, DX
	JEQ	sshotRun
	CMPQ	DX, R12
	JGE	sshotRun
	MOVQ	DX, R12
sshotRun:
	MOVQ	R12, guestCtx_deadline(R9)
	MOVQ	guestCtx_quietMax(R9), DX
	TESTQ	DX, DX
	JEQ	sshotTimer
	CMPQ	DX, R12
	JLE	2(PC)
	MOVQ	R12, DX
	MOVQ	DX, guestCtx_quietEnd(R9)
sshotTimer:
	MOVQ	cpuState_timerAt(BX), DX	// 0: not known
	TESTQ	DX, DX
	JEQ	sshotArm
	CMPQ	R12, DX
	JGE	done			// the timer fires by then
sshotArm:
	SUBQ	AX, R12			// the span: at least deadlineMin
	CMPQ	R12, $const_deadlineMin
	JGE	2(PC)
	MOVQ	$const_deadlineMin, R12
	MOVQ	$const_sshotSpanMax, CX
	CMPQ	R12, CX
	JLE	2(PC)
	MOVQ	CX, R12
	ADDQ	R12, AX
	MOVQ	AX, cpuState_timerAt(BX)
	MOVL	$1, cpuState_tickEarly(BX)
	MOVQ	R12, AX			// the count: hw.LAPICTimerCount(lapicHz, span)
	MULQ	·lapicHz(SB)
	ADDQ	$999999999, AX
	ADCQ	$0, DX
	MOVQ	$1000000000, CX
	DIVQ	CX
	MOVL	$0xFFFFFFFF, CX
	CMPQ	AX, CX
	JLS	2(PC)
	MOVQ	CX, AX
	MOVQ	·lapicVA(SB), DX
	MOVL	AX, const_lapicTMICT(DX)
	LOCK
	INCQ	cpuState_deadlineTimers(BX)

done:
	MOVQ	$0, const_regRAX(R8)
result:
	ANDQ	$~const_rflagsIretClear, R13
	ORQ	$const_rflagsGuestSet, R13
	MOVQ	R13, const_regRFLAGS(R8)
	INCQ	guestCtx_fastHypercalls(R9)
	CMPB	1(R10), $0		// masked: no upcall at the return
	JNE	back
	CMPB	0(R10), $0		// an event the Go path would deliver at the return
	JEQ	back
	JMP	·hypercallEvent(SB)
back:
	JMP	·guestIret(SB)
slow:
	MOVQ	R8, AX
	JMP	·syscallSlow(SB)

// hypercallEvent delivers the event pending (and not masked) at the
// return of a hypercall fastHypercall served, as the Go path delivers it
// before the next entry (hv/pv's DeliverEvent): the event callback's
// bounce frame (EVENT_FRAME: the RIP is the instruction after the
// SYSCALL, RAX the result in arch.Regs) goes below the guest kernel's
// RSP aligned down to 16 (CS with RPL 0; the whole frame in the guest's
// low or high part), written through the kernel's tables; events are
// masked and the guest runs the callback, as fastEvent's kernel-mode
// case. The hypercall is done: without an event callback, or if a check
// or the copy fails, it is an exit with nothing to serve (kind 0), and
// the Go path delivers the event. fastEvents counts the upcall.
// Context: fastHypercall, after serving. In: R8 = arch.Regs (the
// hypercall's results in), R9 = guestCtx, R10 = the vcpu_info, BX =
// cpuState, R13 = the RFLAGS the guest returns with, SP = entryTop.
// Clobbers every register: the guest's are loaded from arch.Regs on the
// way back in (guestIret).
TEXT ·hypercallEvent(SB),NOSPLIT|NOFRAME,$0
	CMPQ	guestCtx_evCB(R9), $0
	JEQ	slow
	MOVWQZX	const_regCS(R8), R12
	ANDQ	$~3, R12		// RPL 0: "interrupted guest kernel"
	KERNEL_FRAME_OR_SLOW($const_bounceFrameSize)
	EVENT_FRAME
	COPY_FRAME_OR_SLOW($const_bounceFrameSize)
	MOVB	$1, 1(R10)		// events masked
	ENTER_HANDLER(guestCtx_evCB(R9), guestCtx_fastEvents(R9))
slow:
	MOVQ	R8, AX
	XORL	DX, DX			// served: an exit with nothing to serve
	JMP	·guestExit(SB)

// fastFault serves a #PF in assembly, as the Go path (hv's exception:
// hv/pv's PageTableWrite, then HandleException, InjectException and
// Bounce, and DeliverEvent at the next entry) would, and re-enters the
// guest without leaving enterGuest: Xen's entry.S builds the same bounce
// (create_bounce_frame), and its do_page_fault tries no fix-up that this
// would skip for the faults taken here. Two cases, both with the fast
// path on, no breakpoints, RFLAGS.TF clear, a #PF handler SetFastPath
// accepted and no event left to deliver once the handler's mask applies:
//   - guest user mode (the kernel's GS base canonical): the frame goes at
//     pfFrame, on the kernel stack stack_switch gave, and the vCPU enters
//     kernel mode (GS swapped, kernel tables);
//   - guest kernel mode, unless the fault is a write to a present page,
//     which may be a write to the kernel's own page table to emulate
//     (ptwr: Xen's fixup_page_fault tries it for such faults only): the
//     frame goes below the interrupted RSP (aligned down to 16), which
//     must leave the whole frame in the guest's low or high part, its CS
//     with RPL 0 and the error code's U bit clear (the virtual mode).
// The frame (RCX, R11, error code, RIP, CS | upcall mask<<32, RFLAGS with
// IF = !mask, RSP, SS) is written through the kernel's tables, then CR2
// goes to vcpu_info.arch.cr2, the upcall mask is set if the handler masks
// events, and the guest runs the handler with AC, VM, RF, NT and TF
// clear. Anything else, or a check or copy that fails, is the exception
// exit with nothing changed but CR3 (and the part of a frame a faulting
// copy wrote, which the Go path writes again). fastFaults and fastCR2 say
// what was done; kernel keeps the mode.
// Context: frontTrap, a guest exception, interrupts off, GS_BASE =
// cpuState. In: AX = arch.Regs, BX = cpuState, DI = guestCtx, the guest's
// registers and frame saved, vector, error code and CR2 in guestCtx.
// Runs on the CPU's entry stack (entryTop), leaving the IST frame.
// Clobbers every register: the guest's are loaded from arch.Regs on the
// way back in (guestIret).
TEXT ·fastFault(SB),NOSPLIT|NOFRAME,$0
	MOVQ	AX, R8
	MOVQ	DI, R9
	CMPQ	guestCtx_vector(R9), $const_vecPF
	JNE	slow
	CMPQ	guestCtx_fast(R9), $0
	JEQ	slow
	CMPQ	guestCtx_dr7(R9), $0	// breakpoints: guestExit turns them off, the entry back on
	JNE	slow
	MOVQ	const_regRFLAGS(R8), R13
	TESTQ	$const_rflagsTF, R13
	JNE	slow
	MOVL	guestCtx_errcode(R9), DX	// the error code (32 bits)
	MOVWQZX	const_regCS(R8), R12		// the frame's CS
	CMPQ	guestCtx_kernel(R9), $0
	JNE	kernel
	MOVQ	const_regGSBaseShadow(R8), AX	// user mode: the kernel's GS base, to be loaded
	CANONICAL_OR_SLOW(AX)
	MOVQ	guestCtx_pfFrame(R9), R11
	ORL	$const_pfErrUser, DX
	JMP	mask
kernel:
	MOVL	DX, AX			// a write to a present page: maybe ptwr
	ANDL	$const_pfErrPW, AX
	CMPL	AX, $const_pfErrPW
	JEQ	slow
	ANDL	$~const_pfErrUser, DX
	ANDQ	$~3, R12		// RPL 0: "interrupted guest kernel"
	KERNEL_FRAME_OR_SLOW($const_faultFrameSize)
mask:
	// R11 = the frame's address, R12 its CS, DX its error code.
	MOVQ	guestCtx_info(R9), R10	// the vcpu_info: upcall pending at 0, mask at 1
	MOVQ	cpuState_entryTop(BX), SP
	MOVBQZX	1(R10), R14		// the upcall mask now, for the frame
	MOVQ	R14, R15		// and after the bounce
	CMPQ	guestCtx_pfMask(R9), $0
	JEQ	pending
	ORQ	$1, R15
pending:
	TESTQ	R15, R15
	JNE	frame
	CMPB	0(R10), $0		// an event the Go path would deliver next
	JNE	slow
frame:
	SUBQ	$const_faultFrameSize, SP
	MOVQ	DX, 16(SP)		// error code
	MOVQ	const_regRCX(R8), AX
	MOVQ	AX, 0(SP)		// RCX
	MOVQ	const_regR11(R8), AX
	MOVQ	AX, 8(SP)		// R11
	MOVQ	const_regRIP(R8), AX
	MOVQ	AX, 24(SP)		// RIP: the faulting instruction
	MOVQ	R14, AX
	SHLQ	$32, AX
	ORQ	R12, AX
	MOVQ	AX, 32(SP)		// CS | saved mask<<32
	MOVQ	R13, AX
	ANDQ	$~const_rflagsFrameClear, AX
	TESTQ	R14, R14
	JNE	masked
	ORQ	$const_rflagsIF, AX
masked:
	MOVQ	AX, 40(SP)		// RFLAGS: IF = !saved mask
	MOVQ	const_regRSP(R8), AX
	MOVQ	AX, 48(SP)		// RSP
	MOVWQZX	const_regSS(R8), AX
	MOVQ	AX, 56(SP)		// SS
	COPY_FRAME_OR_SLOW($const_faultFrameSize)
	MOVQ	guestCtx_cr2(R9), AX
	MOVQ	AX, const_vcpuInfoCR2(R10)
	MOVQ	AX, guestCtx_fastCR2(R9)
	CMPQ	guestCtx_pfMask(R9), $0
	JEQ	bounced
	MOVB	R15, 1(R10)
bounced:
	ENTER_HANDLER(guestCtx_pfCB(R9), guestCtx_fastFaults(R9))
slow:
	MOVQ	R8, AX
	MOVQ	$const_exitException, DX
	JMP	·guestExit(SB)

// fastSelector checks a selector the fast iret would IRETQ with (R12,
// RPL 3) against the descriptor the CPU would load, so IRETQ cannot
// fault in ring 0: a GDT selector (not the LDT) whose descriptor in this
// CPU's GDT window (the vCPU's set_gdt frames below 0xe000, gohv's above)
// has the bits DX selects equal to DI: present, DPL 3, and for CS a
// 64-bit code segment, for SS a writable data segment (the window's pages
// with present descriptors are writable, for the accessed bit). Out: ZF set if it passes. Context: fastSyscall
// (BX = cpuState). Clobbers AX, SI.
TEXT ·fastSelector(SB),NOSPLIT|NOFRAME,$0
	TESTQ	$4, R12
	JNE	done			// ZF clear: an LDT selector
	MOVQ	cpuState_gdtVA(BX), SI
	MOVQ	R12, AX
	ANDQ	$~7, AX
	MOVQ	(SI)(AX*1), AX
	ANDQ	DX, AX
	CMPQ	AX, DI
done:
	RET

// fastCR3 loads the page tables at AX into CR3 if they are not loaded or
// a TLB flush is due (this CPU's flushPending, reached through GS_BASE),
// as enterGuest does, and records them in guestCtx.cr3 (R9); Run's
// noteEntry has already counted both of the vCPU's tables as this CPU's
// (loadedCR3, loadedAltCR3). Context: fastSyscall. Clobbers CX.
TEXT ·fastCR3(SB),NOSPLIT|NOFRAME,$0
	MOVQ	AX, guestCtx_cr3(R9)
	MOVQ	CR3, CX
	CMPQ	AX, CX
	JNE	load
	// CMPL GS:cpuState_flushPending, $0 (this CPU's flag; interrupts are off)
	BYTE $0x65; BYTE $0x83; BYTE $0x3C; BYTE $0x25; LONG $cpuState_flushPending; BYTE $0x00
	JEQ	done
load:
	// MOVL $0, GS:cpuState_flushPending
	BYTE $0x65; BYTE $0xC7; BYTE $0x04; BYTE $0x25; LONG $cpuState_flushPending; LONG $0
	// INCQ GS:cpuState_cr3Fast
	BYTE $0x65; BYTE $0x48; BYTE $0xFF; BYTE $0x04; BYTE $0x25; LONG $cpuState_cr3Fast
	MOVQ	AX, CR3
done:
	RET

// fastToggleGS is the GS half of Xen's toggle_guest_mode for fastSyscall:
// the GS base the guest ran with (in KERNEL_GS_BASE since the exit's
// SWAPGS) becomes arch.Regs' GSBaseShadow, and GSBaseShadow (checked
// canonical) becomes GSBase and KERNEL_GS_BASE, for the entry's SWAPGS.
// In: R8 = arch.Regs, BX = cpuState. Clobbers AX, CX, DX.
TEXT ·fastToggleGS(SB),NOSPLIT|NOFRAME,$0
	MOVL	$0xC0000102, CX
	RDMSR
	SHLQ	$32, DX
	ORQ	DX, AX
	MOVQ	const_regGSBaseShadow(R8), DX
	MOVQ	AX, const_regGSBaseShadow(R8)
	MOVQ	DX, const_regGSBase(R8)
	MOVQ	DX, cpuState_kgsBase(BX)
	MOVQ	DX, AX
	SHRQ	$32, DX
	WRMSR
	RET

// frontTrap: every exception gate's stub pushed (error code or 0,
// vector). From ring 0 it continues at trapCommon; from a guest it is an
// exit. Stack: [vector][error][RIP][CS][RFLAGS][RSP][SS].
TEXT ·frontTrap(SB),NOSPLIT|NOFRAME,$0
	TESTB	$3, 24(SP)
	JNZ	fromGuest
	JMP	·trapCommon(SB)
fromGuest:
	SWAPGS
	SAVE_GPRS
	SAVE_FRAME(16)
	MOVQ	cpuState_ctx(BX), DI
	MOVQ	0(SP), CX
	MOVQ	CX, guestCtx_vector(DI)
	CMPQ	CX, $1
	JNE	errcode
	MOVQ	DR6, CX		// #DB: what hit, for the guest's DR6; then DR6 reset
	MOVQ	CX, guestCtx_dr6(DI)
	MOVQ	$const_dr6Default, CX
	MOVQ	CX, DR6
errcode:
	MOVQ	8(SP), CX
	MOVQ	CX, guestCtx_errcode(DI)
	MOVQ	CR2, CX
	MOVQ	CX, guestCtx_cr2(DI)
	CMPQ	guestCtx_pfCB(DI), $0	// a #PF handler the fast path may bounce to
	JEQ	exit
	JMP	·fastFault(SB)
exit:
	MOVQ	$const_exitException, DX
	JMP	·guestExit(SB)

// frontIrq: a device interrupt (vector pushed by its stub). From ring 0
// the timer continues at irqTimer, the other 8259 lines at irqDevice;
// from a guest it is an exit, acknowledged and served by the shim when
// GuestContext.Run reports it (sysGuestIRQ). Stack: [vector][RIP][CS][RFLAGS][RSP][SS].
TEXT ·frontIrq(SB),NOSPLIT|NOFRAME,$0
	TESTB	$3, 16(SP)
	JNZ	fromGuest
	CMPQ	0(SP), $0x20
	JNE	device
	ADDQ	$8, SP
	JMP	·irqTimer(SB)
device:
	JMP	·irqDevice(SB)	// the vector still pushed
fromGuest:
	SWAPGS
	SAVE_GPRS
	SAVE_FRAME(8)
	MOVQ	cpuState_ctx(BX), DI
	MOVQ	0(SP), CX
	MOVQ	CX, guestCtx_vector(DI)
	CMPQ	CX, $const_vecIPI
	JNE	exit
	CMPQ	guestCtx_evCB(DI), $0	// an event callback the fast path may bounce to
	JEQ	exit
	JMP	·fastEvent(SB)
exit:
	MOVQ	$const_exitInterrupt, DX
	JMP	·guestExit(SB)

// fastEvent serves the IPI of a kick (GuestContext.Kick: an event became
// pending for the vCPU) in assembly, as the Go path would (the shim's
// ipiIRQ, then hv/pv's DeliverEvent before the next entry), and
// re-enters the guest without leaving enterGuest: Xen's entry.S does the
// same (test_guest_events, create_bounce_frame). Only a kick, with the
// fast path on, no breakpoints, RFLAGS.TF clear, no TLB shootdown
// asked of this CPU (the shim's) and no scheduler tickle (KickCPU's
// cpuState.tickled: the run loop must ask the scheduler, so it is an
// exit even with a kick): the kick flag is taken, the local APIC
// acknowledged, and if vcpu_info's upcall is pending and unmasked the
// event callback gets a bounce frame (RCX, R11, RIP, CS | saved mask 0
// << 32, RFLAGS with IF set, RSP, SS) at evFrame from user mode (the
// vCPU then enters kernel mode: GS swapped, kernel tables) or below the
// interrupted RSP aligned down to 16 from kernel mode (CS with RPL 0; the
// whole frame in the guest's low or high part), written through the
// kernel's tables; events are then masked and the guest runs the
// callback with AC, VM, RF, NT, TF and IOPL clear. With nothing to
// deliver the guest just goes on. Anything else before the
// acknowledgement is the interrupt exit; a check or copy that fails after
// it is an exit with nothing to serve (kind 0), and the Go path delivers
// the event. fastEvents says what was done; kernel keeps the mode.
// Context: frontIrq, an interrupt from a guest, interrupts off, GS_BASE
// = cpuState. In: AX = arch.Regs, BX = cpuState, DI = guestCtx, the
// guest's registers and frame saved. Runs on the CPU's entry stack
// (entryTop), leaving the interrupt frame. Clobbers every register: the
// guest's are loaded from arch.Regs on the way back in (guestIret).
TEXT ·fastEvent(SB),NOSPLIT|NOFRAME,$0
	MOVQ	AX, R8
	MOVQ	DI, R9
	CMPQ	guestCtx_fast(R9), $0
	JEQ	exit
	CMPQ	guestCtx_dr7(R9), $0	// breakpoints: guestExit turns them off, the entry back on
	JNE	exit
	MOVQ	const_regRFLAGS(R8), R13
	TESTQ	$const_rflagsTF, R13
	JNE	exit
	MOVQ	cpuState_flushWant(BX), CX	// a shootdown asked of this CPU: the shim serves it
	CMPQ	CX, cpuState_flushDone(BX)
	JHI	exit
	CMPL	cpuState_tickled(BX), $0	// a scheduler tickle (KickCPU): the run loop must see it
	JNE	exit
	XORL	CX, CX
	XCHGL	CX, guestCtx_kick(R9)	// no kick: the IPI is the shim's (a wake-up, a tickle)
	TESTL	CX, CX
	JEQ	exit
	// Served from here on: the EOI, as ipiIRQ's.
	MOVQ	·lapicEOIReg(SB), CX
	MOVL	$0, (CX)
	INCQ	cpuState_ipis(BX)
	MOVQ	guestCtx_info(R9), R10	// the vcpu_info: upcall pending at 0, mask at 1
	MOVQ	cpuState_entryTop(BX), SP
	CMPB	1(R10), $0		// masked: nothing to deliver now
	JNE	resume
	CMPB	0(R10), $0		// nothing pending
	JEQ	resume
	MOVWQZX	const_regCS(R8), R12	// the frame's CS
	CMPQ	guestCtx_kernel(R9), $0
	JNE	kernel
	MOVQ	const_regGSBaseShadow(R8), AX	// user mode: the kernel's GS base, to be loaded
	CANONICAL_OR_SLOW(AX)
	MOVQ	guestCtx_evFrame(R9), R11
	TESTQ	R11, R11		// no frame hv/pv vouched for
	JEQ	slow
	JMP	frame
kernel:
	ANDQ	$~3, R12		// RPL 0: "interrupted guest kernel"
	KERNEL_FRAME_OR_SLOW($const_bounceFrameSize)
frame:
	// R11 = the frame's address, R12 its CS (the saved mask is 0); the
	// RIP is the interrupted instruction.
	EVENT_FRAME
	COPY_FRAME_OR_SLOW($const_bounceFrameSize)
	MOVB	$1, 1(R10)		// events masked
	ENTER_HANDLER(guestCtx_evCB(R9), guestCtx_fastEvents(R9))
resume:
	JMP	·guestIret(SB)
slow:
	MOVQ	R8, AX
	XORL	DX, DX			// acknowledged: an exit with nothing to serve
	JMP	·guestExit(SB)
exit:
	MOVQ	R8, AX
	MOVQ	$const_exitInterrupt, DX
	JMP	·guestExit(SB)

// guestExit: AX = the guest's arch.Regs (general registers, RIP, RFLAGS,
// CS, SS and RSP saved), BX = this cpuState, DX = the exit kind, GS_BASE =
// the cpuState, interrupts off. Saves the guest's data selectors, segment
// bases and XMM/MXCSR, gives the runtime its TLS and MXCSR back, and
// returns from enterGuest on the stack it was called on, with the
// flags it was called with (interrupts on).
TEXT ·guestExit(SB),NOSPLIT|NOFRAME,$0
	MOVQ	AX, R8
	MOVQ	cpuState_ctx(BX), R9
	MOVQ	DX, guestCtx_exitKind(R9)
	CMPQ	guestCtx_dr7(R9), $0
	JEQ	fpu
	XORL	AX, AX
	MOVQ	AX, DR7		// the guest's breakpoints off before gohv's code runs on
fpu:
	CMPQ	guestCtx_ts(R9), $0
	JEQ	selectors
	BYTE	$0x0F; BYTE $0x06	// CLTS: the guest ran with CR0.TS set
selectors:
	XORL	AX, AX
	MOVW	DS, AX
	MOVW	AX, const_regDS(R8)
	MOVW	AX, cpuState_selDS(BX)
	MOVW	ES, AX
	MOVW	AX, const_regES(R8)
	MOVW	AX, cpuState_selES(BX)
	MOVW	FS, AX
	MOVW	AX, const_regFS(R8)
	MOVW	AX, cpuState_selFS(BX)
	MOVW	GS, AX
	MOVW	AX, const_regGS(R8)
	MOVW	AX, cpuState_selGS(BX)
	// The guest's FS base (loading FS changes it), then the runtime's TLS.
	MOVL	$0xC0000100, CX
	RDMSR
	MOVL	AX, const_regFSBase(R8)
	MOVL	DX, (const_regFSBase+4)(R8)
	MOVL	guestCtx_hostFS(R9), AX
	MOVL	(guestCtx_hostFS+4)(R9), DX
	WRMSR
	// The guest's GS base: the exit's SWAPGS moved it to KERNEL_GS_BASE.
	MOVL	$0xC0000102, CX
	RDMSR
	MOVL	AX, const_regGSBase(R8)
	MOVL	DX, (const_regGSBase+4)(R8)
	MOVL	AX, cpuState_kgsBase(BX)
	MOVL	DX, (cpuState_kgsBase+4)(BX)
	// The vector state Go code clobbers.
	MOVQ	guestCtx_fx(R9), CX
	STMXCSR	const_fxMXCSR(CX)
	MOVUPS	X0, (const_fxXMM0+0)(CX)
	MOVUPS	X1, (const_fxXMM0+16)(CX)
	MOVUPS	X2, (const_fxXMM0+32)(CX)
	MOVUPS	X3, (const_fxXMM0+48)(CX)
	MOVUPS	X4, (const_fxXMM0+64)(CX)
	MOVUPS	X5, (const_fxXMM0+80)(CX)
	MOVUPS	X6, (const_fxXMM0+96)(CX)
	MOVUPS	X7, (const_fxXMM0+112)(CX)
	MOVUPS	X8, (const_fxXMM0+128)(CX)
	MOVUPS	X9, (const_fxXMM0+144)(CX)
	MOVUPS	X10, (const_fxXMM0+160)(CX)
	MOVUPS	X11, (const_fxXMM0+176)(CX)
	MOVUPS	X12, (const_fxXMM0+192)(CX)
	MOVUPS	X13, (const_fxXMM0+208)(CX)
	MOVUPS	X14, (const_fxXMM0+224)(CX)
	MOVUPS	X15, (const_fxXMM0+240)(CX)
	LDMXCSR	·goMXCSR(SB)
	RETURN_TO_HOST

// func enterGuest(ctx *guestCtx)
// Runs the vCPU ctx describes (GuestContext.Run has checked its registers) until
// it exits; returns once guestExit has saved it, exit kind in ctx.
// Context: the vCPU's goroutine, locked to its thread. Maps the vCPU's
// GDT frames in the CPU's window (if it holds another's), loads the guest's
// data selectors (those the CPU does not hold), checks the CS and SS an
// IRETQ would load (iretSelectors: one that would fault is the exception
// exit instead, before anything else is loaded), then loads vector state,
// segment bases, CR0.TS, CR3 (if it changes or a TLB flush is due) and
// registers, then SYSRET or IRETQ to ring 3. Clobbers every register but
// SP and BP.
TEXT ·enterGuest(SB),NOSPLIT|NOFRAME,$0-8
	MOVQ	ctx+0(FP), R9
	PUSHFQ
	CLI
	PUSHQ	BP
	GS_LOAD_SELF
	MOVQ	SP, cpuState_hostSP(BX)
	MOVQ	R9, cpuState_ctx(BX)
	MOVQ	guestCtx_regs(R9), R8
	MOVQ	R8, cpuState_regs(BX)
	// The vCPU's GDT frames in this CPU's window, unless they are there.
	MOVQ	guestCtx_gdtID(R9), AX
	CMPQ	AX, cpuState_gdtOwner(BX)
	JEQ	selectors
	MOVQ	AX, cpuState_gdtOwner(BX)
	MOVQ	cpuState_gdtPT(BX), DI
	LEAQ	guestCtx_gdtPTE(R9), SI
	MOVQ	cpuState_gdtVA(BX), DX
	MOVL	$const_gdtGuestPages, CX
gdtpage:
	MOVQ	(SI), AX
	MOVQ	AX, (DI)
	INVLPG	(DX)
	ADDQ	$8, SI
	ADDQ	$8, DI
	ADDQ	$const_pageSize, DX
	DECL	CX
	JNE	gdtpage
selectors:
	// Selectors first: a fault there leaves nothing of the guest loaded.
	CALL	·segLoad(SB)
	// The CS and SS the IRETQ loads: a fault there would come in ring 0
	// after the SWAPGS, so one that would fault is the exit instead.
	CMPQ	guestCtx_sysret(R9), $0
	JNE	fpu
	CALL	·iretSelectors(SB)
	TESTQ	CX, CX
	JNE	iretfault
fpu:
	MOVQ	guestCtx_fx(R9), CX
	CMPQ	guestCtx_fxLoad(R9), $0
	JEQ	xmm
	FXRSTOR64	(CX)
	MOVQ	$0, guestCtx_fxLoad(R9)
	JMP	vector
xmm:
	LDMXCSR	const_fxMXCSR(CX)
	MOVUPS	(const_fxXMM0+0)(CX), X0
	MOVUPS	(const_fxXMM0+16)(CX), X1
	MOVUPS	(const_fxXMM0+32)(CX), X2
	MOVUPS	(const_fxXMM0+48)(CX), X3
	MOVUPS	(const_fxXMM0+64)(CX), X4
	MOVUPS	(const_fxXMM0+80)(CX), X5
	MOVUPS	(const_fxXMM0+96)(CX), X6
	MOVUPS	(const_fxXMM0+112)(CX), X7
	MOVUPS	(const_fxXMM0+128)(CX), X8
	MOVUPS	(const_fxXMM0+144)(CX), X9
	MOVUPS	(const_fxXMM0+160)(CX), X10
	MOVUPS	(const_fxXMM0+176)(CX), X11
	MOVUPS	(const_fxXMM0+192)(CX), X12
	MOVUPS	(const_fxXMM0+208)(CX), X13
	MOVUPS	(const_fxXMM0+224)(CX), X14
	MOVUPS	(const_fxXMM0+240)(CX), X15
vector:
	// The guest's virtual CR0.TS (fpu_taskswitch): its next FPU
	// instruction then exits with #NM.
	CMPQ	guestCtx_ts(R9), $0
	JEQ	bases
	MOVQ	CR0, AX
	ORQ	$8, AX
	MOVQ	AX, CR0
bases:
	MOVL	$0xC0000100, CX		// FS_BASE: always (the runtime's was there)
	MOVL	const_regFSBase(R8), AX
	MOVL	(const_regFSBase+4)(R8), DX
	WRMSR
	MOVQ	const_regGSBase(R8), AX	// KERNEL_GS_BASE: the SWAPGS below makes it GS_BASE
	CMPQ	AX, cpuState_kgsBase(BX)
	JEQ	tables
	MOVQ	AX, cpuState_kgsBase(BX)
	MOVQ	AX, DX
	SHRQ	$32, DX
	MOVL	$0xC0000102, CX
	WRMSR
tables:
	// A CR3 write flushes the TLB: only when the tables change or a
	// flush is due (this CPU's flushPending, set by RequestTLBFlush).
	MOVQ	guestCtx_cr3(R9), AX
	MOVQ	CR3, CX
	CMPQ	AX, CX
	JNE	loadcr3
	CMPL	cpuState_flushPending(BX), $0
	JEQ	hwstate
loadcr3:
	MOVL	$0, cpuState_flushPending(BX)
	INCQ	cpuState_cr3Entry(BX)
	MOVQ	AX, CR3
hwstate:
	// The guest's CR4 (its FSGSBASE) if the CPU has another; its
	// breakpoints, last: from here on gohv touches no guest address.
	MOVQ	guestCtx_cr4(R9), AX
	TESTQ	AX, AX
	JEQ	debugregs
	MOVQ	CR4, CX
	CMPQ	AX, CX
	JEQ	debugregs
	MOVQ	AX, CR4
debugregs:
	MOVQ	guestCtx_dr7(R9), AX
	TESTQ	AX, AX
	JEQ	regs
	MOVQ	(guestCtx_dr+0)(R9), CX
	MOVQ	CX, DR0
	MOVQ	(guestCtx_dr+8)(R9), CX	// the assembler knows DR0, DR6 and DR7 only:
	BYTE	$0x0F; BYTE $0x23; BYTE $0xC9	// MOVQ CX, DR1
	MOVQ	(guestCtx_dr+16)(R9), CX
	BYTE	$0x0F; BYTE $0x23; BYTE $0xD1	// MOVQ CX, DR2
	MOVQ	(guestCtx_dr+24)(R9), CX
	BYTE	$0x0F; BYTE $0x23; BYTE $0xD9	// MOVQ CX, DR3
	MOVQ	AX, DR7
regs:
	CMPQ	guestCtx_sysret(R9), $0
	JNE	sysret
	JMP	·guestIret(SB)
sysret:
	// RCX = RIP and R11 = RFLAGS, CS/SS the flat 64-bit pair SYSRET
	// gives (STAR), RIP canonical: GuestContext.Run checked.
	MOVQ	const_regRSP(R8), SP
	LOAD_GPRS
	SWAPGS
	BYTE	$0x48; BYTE $0x0F; BYTE $0x07	// SYSRETQ
iretfault:
	// The exception IRETQ would raise, as if the guest had: nothing of
	// it is loaded but its data selectors (segLoad, recorded).
	MOVQ	CX, guestCtx_vector(R9)
	MOVQ	DX, guestCtx_errcode(R9)
	MOVQ	$0, guestCtx_cr2(R9)
	MOVQ	$const_exitException, guestCtx_exitKind(R9)
	JMP	·hostFSBack(SB)

// guestIret enters the guest by IRETQ with the registers in its arch.Regs
// (R8), on the CPU's entry stack: the last step of enterGuest and of
// fastSyscall, once everything else the guest runs with is loaded.
// In: R8 = arch.Regs, BX = cpuState, GS_BASE = cpuState, interrupts
// off. Clobbers every register (the guest's are loaded).
TEXT ·guestIret(SB),NOSPLIT|NOFRAME,$0
	MOVQ	cpuState_entryTop(BX), SP
	MOVWQZX	const_regSS(R8), AX
	PUSHQ	AX
	PUSHQ	const_regRSP(R8)
	PUSHQ	const_regRFLAGS(R8)
	MOVWQZX	const_regCS(R8), AX
	PUSHQ	AX
	PUSHQ	const_regRIP(R8)
	LOAD_GPRS
	SWAPGS
	IRETQ

// iretSelectors checks the CS and SS of arch.Regs (R8; RPL 3, Run
// checked) as guestIret's IRETQ to ring 3 would load them, so that it
// cannot fault in ring 0: CS a GDT selector, not null, whose descriptor
// in this CPU's GDT window (mapped by enterGuest; its limit covers every
// selector; gohv loads no LDT, so an LDT selector faults) is a code
// segment, not both 64-bit (L) and D, DPL 3 unless conforming, present;
// SS likewise a writable data segment with DPL 3, present. The CPU's
// faults, in its order: #GP(selector with RPL clear) for a null (error 0),
// LDT or unfit selector, #NP(selector) for a CS or SS not present (the
// SDM's IRET exception list and QEMU, under which Xen 4.17 reflects #NP
// to the guest; the SDM's pseudocode says #SS for SS). The accessed bit
// IRETQ sets needs no check: the window's pages with present descriptors
// are writable.
// In: R8 = arch.Regs, BX = cpuState. Out: CX = 0 if IRETQ can load both,
// else the vector, DX its error code. Context: enterGuest, interrupts
// off. Clobbers AX, CX, DX, SI.
TEXT ·iretSelectors(SB),NOSPLIT|NOFRAME,$0
	MOVQ	cpuState_gdtVA(BX), SI
	MOVWQZX	const_regCS(R8), DX
	ANDQ	$~3, DX			// the error code: the selector, RPL clear
	MOVL	$const_vecGP, CX
	TESTQ	DX, DX
	JEQ	done			// null: #GP(0)
	TESTQ	$4, DX
	JNE	done			// the LDT (none loaded)
	MOVQ	(SI)(DX*1), AX
	BTQ	$44, AX			// S: code or data
	JCC	done
	BTQ	$43, AX			// code
	JCC	done
	BTQ	$53, AX			// L
	JCC	dpl
	BTQ	$54, AX			// L and D: no mode
	JCS	done
dpl:
	BTQ	$42, AX			// conforming: any DPL <= RPL 3
	JCS	cspresent
	SHRQ	$45, AX
	ANDL	$3, AX
	CMPL	AX, $3
	JNE	done
	MOVQ	(SI)(DX*1), AX
cspresent:
	MOVL	$const_vecNP, CX
	BTQ	$47, AX
	JCC	done
	MOVWQZX	const_regSS(R8), DX
	ANDQ	$~3, DX
	MOVL	$const_vecGP, CX
	TESTQ	DX, DX
	JEQ	done			// null: #GP(0) for a return to ring 3
	TESTQ	$4, DX
	JNE	done
	MOVQ	(SI)(DX*1), AX
	BTQ	$44, AX			// S
	JCC	done
	BTQ	$43, AX			// not code
	JCS	done
	BTQ	$41, AX			// writable
	JCC	done
	MOVQ	AX, SI
	SHRQ	$45, SI
	ANDL	$3, SI
	CMPL	SI, $3
	JNE	done
	MOVL	$const_vecNP, CX
	BTQ	$47, AX
	JCC	done
	XORL	CX, CX
	XORL	DX, DX
done:
	RET

// hostFSBack ends an entry that did not reach the guest: the runtime's
// TLS back in FS_BASE (loading FS may have replaced it; segLoad has put
// GS_BASE back itself), then enterGuest returns with the exit kind
// already in guestCtx. In: R9 = guestCtx, BX = cpuState. Context:
// enterGuest's exits before anything but the data selectors is loaded.
TEXT ·hostFSBack(SB),NOSPLIT|NOFRAME,$0
	MOVL	$0xC0000100, CX
	MOVL	guestCtx_hostFS(R9), AX
	MOVL	(guestCtx_hostFS+4)(R9), DX
	WRMSR
	RETURN_TO_HOST

// segLoad loads the guest's data selectors the CPU does not hold already
// (R8 = arch.Regs, BX = cpuState), keeping cpuState's record of them. A
// selector that does not load (#GP, #NP) faults here, in ring 0: trapCommon
// sees the RIP in [segLoad, segLoadEnd) and resumes at segFault. GS last,
// since loading it replaces GS_BASE, which gets the cpuState back.
// Clobbers AX, CX, DX.
TEXT ·segLoad(SB),NOSPLIT|NOFRAME,$0
	MOVWLZX	const_regDS(R8), AX
	CMPW	AX, cpuState_selDS(BX)
	JEQ	es
	MOVW	AX, DS
	MOVW	AX, cpuState_selDS(BX)
es:
	MOVWLZX	const_regES(R8), AX
	CMPW	AX, cpuState_selES(BX)
	JEQ	fs
	MOVW	AX, ES
	MOVW	AX, cpuState_selES(BX)
fs:
	MOVWLZX	const_regFS(R8), AX
	CMPW	AX, cpuState_selFS(BX)
	JEQ	gs
	MOVW	AX, FS
	MOVW	AX, cpuState_selFS(BX)
gs:
	MOVWLZX	const_regGS(R8), AX
	CMPW	AX, cpuState_selGS(BX)
	JEQ	done
	MOVW	AX, GS
	MOVW	AX, cpuState_selGS(BX)
	MOVL	cpuState_self(BX), AX
	MOVL	(cpuState_self+4)(BX), DX
	MOVL	$0xC0000101, CX
	WRMSR
done:
	RET

// segLoadEnd marks the end of segLoad for the fault fixup (never called;
// kmain checks that the linker kept it right after segLoad).
TEXT ·segLoadEnd(SB),NOSPLIT|NOFRAME,$0
	RET

// segFault is where trapCommon resumes a selector load that faulted: the
// registers are as segLoad had them (R9 = guestCtx, BX = cpuState).
// Nothing of the guest is loaded but the selectors before the faulting
// one; the exit kind says so and enterGuest returns (hostFSBack, as a
// loaded FS may have replaced the runtime's FS base).
TEXT ·segFault(SB),NOSPLIT|NOFRAME,$0
	MOVQ	$const_exitSegments, guestCtx_exitKind(R9)
	JMP	·hostFSBack(SB)

// The gate stubs: push (0 or nothing for the CPU's error code, vector);
// gateIRQn for the 8259's line n (vector 0x20+n).
#define EXC(n)		PUSHQ $0; PUSHQ $n; JMP ·frontTrap(SB)
#define EXCERR(n)	PUSHQ $n; JMP ·frontTrap(SB)
#define IRQ(n)		PUSHQ $n; JMP ·frontIrq(SB)

TEXT ·gate0(SB),NOSPLIT|NOFRAME,$0
	EXC(0)
// gate1 is #DB's (IST4). From a guest it is an exit as any exception.
// In ring 0 it is a guest's data breakpoint that the CPU held back over a
// MOV SS/POP SS and delivered after the SYSCALL or INT that followed, on
// the first instruction of gohv's entry stub: GS is still the guest's and
// RSP (for SYSCALL) the guest's stack, so this path uses neither. It
// records the event (hostDebugTraps, hostDebugDR6, hostDebugRIP), resets
// DR6, turns the breakpoints off (the guest's next entry loads them
// again) and returns to the stub, which goes on as if nothing happened:
// Xen's do_debug does the same for a #DB in hypervisor context. Clobbers
// nothing.
TEXT ·gate1(SB),NOSPLIT|NOFRAME,$0
	TESTB	$3, 8(SP)
	JNZ	guest
	PUSHQ	AX
	MOVQ	DR6, AX
	MOVQ	AX, ·hostDebugDR6(SB)
	MOVQ	8(SP), AX
	MOVQ	AX, ·hostDebugRIP(SB)
	ADDQ	$1, ·hostDebugTraps(SB)
	MOVQ	$const_dr6Default, AX
	MOVQ	AX, DR6
	XORL	AX, AX
	MOVQ	AX, DR7
	LEAQ	·gate1(SB), AX
	CMPQ	AX, 8(SP)
	POPQ	AX
	JEQ	lost
	IRETQ
lost:
	JMP	·debugFrameLost(SB)
guest:
	EXC(1)

// debugFrameLost: the #DB above hit gate1's own first instruction, over a
// #DB from the guest whose frame it overwrote on the same IST stack (a
// data breakpoint on a MOV SS/POP SS operand, then INT1). Returning would
// loop on the overwritten frame for ever. The registers and GS are still
// the guest's, its RIP, RSP and flags are lost: save what is left as an
// exit of kind exitDebugLost, which GuestContext.Run reports as an error
// (the vCPU cannot go on; hv crashes the domain).
TEXT ·debugFrameLost(SB),NOSPLIT|NOFRAME,$0
	SWAPGS
	SAVE_GPRS
	MOVQ	$const_exitDebugLost, DX
	JMP	·guestExit(SB)
TEXT ·gate2(SB),NOSPLIT|NOFRAME,$0
	EXC(2)
TEXT ·gate3(SB),NOSPLIT|NOFRAME,$0
	EXC(3)
TEXT ·gate4(SB),NOSPLIT|NOFRAME,$0
	EXC(4)
TEXT ·gate5(SB),NOSPLIT|NOFRAME,$0
	EXC(5)
TEXT ·gate6(SB),NOSPLIT|NOFRAME,$0
	EXC(6)
TEXT ·gate7(SB),NOSPLIT|NOFRAME,$0
	EXC(7)
TEXT ·gate8(SB),NOSPLIT|NOFRAME,$0
	EXCERR(8)
TEXT ·gate9(SB),NOSPLIT|NOFRAME,$0
	EXC(9)
TEXT ·gate10(SB),NOSPLIT|NOFRAME,$0
	EXCERR(10)
TEXT ·gate11(SB),NOSPLIT|NOFRAME,$0
	EXCERR(11)
TEXT ·gate12(SB),NOSPLIT|NOFRAME,$0
	EXCERR(12)
TEXT ·gate13(SB),NOSPLIT|NOFRAME,$0
	EXCERR(13)
TEXT ·gate14(SB),NOSPLIT|NOFRAME,$0
	EXCERR(14)
TEXT ·gate15(SB),NOSPLIT|NOFRAME,$0
	EXC(15)
TEXT ·gate16(SB),NOSPLIT|NOFRAME,$0
	EXC(16)
TEXT ·gate17(SB),NOSPLIT|NOFRAME,$0
	EXCERR(17)
TEXT ·gate18(SB),NOSPLIT|NOFRAME,$0
	EXC(18)
TEXT ·gate19(SB),NOSPLIT|NOFRAME,$0
	EXC(19)
TEXT ·gate20(SB),NOSPLIT|NOFRAME,$0
	EXC(20)
TEXT ·gate21(SB),NOSPLIT|NOFRAME,$0
	EXCERR(21)
TEXT ·gateIRQ0(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x20)
TEXT ·gateIRQ1(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x21)
TEXT ·gateIRQ2(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x22)
TEXT ·gateIRQ3(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x23)
TEXT ·gateIRQ4(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x24)
TEXT ·gateIRQ5(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x25)
TEXT ·gateIRQ6(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x26)
TEXT ·gateIRQ7(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x27)
TEXT ·gateIRQ8(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x28)
TEXT ·gateIRQ9(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x29)
TEXT ·gateIRQ10(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x2a)
TEXT ·gateIRQ11(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x2b)
TEXT ·gateIRQ12(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x2c)
TEXT ·gateIRQ13(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x2d)
TEXT ·gateIRQ14(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x2e)
TEXT ·gateIRQ15(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x2f)

// gateDevn: device vector hw.DeviceVecBase+n (IO-APIC pins and MSIs routed
// for guests' PIRQs), through frontIrq as the 8259's lines.
TEXT ·gateDev0(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x30)
TEXT ·gateDev1(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x31)
TEXT ·gateDev2(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x32)
TEXT ·gateDev3(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x33)
TEXT ·gateDev4(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x34)
TEXT ·gateDev5(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x35)
TEXT ·gateDev6(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x36)
TEXT ·gateDev7(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x37)
TEXT ·gateDev8(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x38)
TEXT ·gateDev9(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x39)
TEXT ·gateDev10(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x3a)
TEXT ·gateDev11(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x3b)
TEXT ·gateDev12(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x3c)
TEXT ·gateDev13(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x3d)
TEXT ·gateDev14(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x3e)
TEXT ·gateDev15(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x3f)
TEXT ·gateDev16(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x40)
TEXT ·gateDev17(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x41)
TEXT ·gateDev18(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x42)
TEXT ·gateDev19(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x43)
TEXT ·gateDev20(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x44)
TEXT ·gateDev21(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x45)
TEXT ·gateDev22(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x46)
TEXT ·gateDev23(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x47)
TEXT ·gateDev24(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x48)
TEXT ·gateDev25(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x49)
TEXT ·gateDev26(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x4a)
TEXT ·gateDev27(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x4b)
TEXT ·gateDev28(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x4c)
TEXT ·gateDev29(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x4d)
TEXT ·gateDev30(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x4e)
TEXT ·gateDev31(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x4f)
TEXT ·gateDev32(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x50)
TEXT ·gateDev33(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x51)
TEXT ·gateDev34(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x52)
TEXT ·gateDev35(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x53)
TEXT ·gateDev36(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x54)
TEXT ·gateDev37(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x55)
TEXT ·gateDev38(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x56)
TEXT ·gateDev39(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x57)
TEXT ·gateDev40(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x58)
TEXT ·gateDev41(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x59)
TEXT ·gateDev42(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x5a)
TEXT ·gateDev43(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x5b)
TEXT ·gateDev44(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x5c)
TEXT ·gateDev45(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x5d)
TEXT ·gateDev46(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x5e)
TEXT ·gateDev47(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x5f)
TEXT ·gateDev48(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x60)
TEXT ·gateDev49(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x61)
TEXT ·gateDev50(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x62)
TEXT ·gateDev51(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x63)
TEXT ·gateDev52(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x64)
TEXT ·gateDev53(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x65)
TEXT ·gateDev54(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x66)
TEXT ·gateDev55(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x67)
TEXT ·gateDev56(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x68)
TEXT ·gateDev57(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x69)
TEXT ·gateDev58(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x6a)
TEXT ·gateDev59(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x6b)
TEXT ·gateDev60(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x6c)
TEXT ·gateDev61(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x6d)
TEXT ·gateDev62(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x6e)
TEXT ·gateDev63(SB),NOSPLIT|NOFRAME,$0
	IRQ(0x6f)

DATA ·gateStubs+0(SB)/8, $·gate0(SB)
DATA ·gateStubs+8(SB)/8, $·gate1(SB)
DATA ·gateStubs+16(SB)/8, $·gate2(SB)
DATA ·gateStubs+24(SB)/8, $·gate3(SB)
DATA ·gateStubs+32(SB)/8, $·gate4(SB)
DATA ·gateStubs+40(SB)/8, $·gate5(SB)
DATA ·gateStubs+48(SB)/8, $·gate6(SB)
DATA ·gateStubs+56(SB)/8, $·gate7(SB)
DATA ·gateStubs+64(SB)/8, $·gate8(SB)
DATA ·gateStubs+72(SB)/8, $·gate9(SB)
DATA ·gateStubs+80(SB)/8, $·gate10(SB)
DATA ·gateStubs+88(SB)/8, $·gate11(SB)
DATA ·gateStubs+96(SB)/8, $·gate12(SB)
DATA ·gateStubs+104(SB)/8, $·gate13(SB)
DATA ·gateStubs+112(SB)/8, $·gate14(SB)
DATA ·gateStubs+120(SB)/8, $·gate15(SB)
DATA ·gateStubs+128(SB)/8, $·gate16(SB)
DATA ·gateStubs+136(SB)/8, $·gate17(SB)
DATA ·gateStubs+144(SB)/8, $·gate18(SB)
DATA ·gateStubs+152(SB)/8, $·gate19(SB)
DATA ·gateStubs+160(SB)/8, $·gate20(SB)
DATA ·gateStubs+168(SB)/8, $·gate21(SB)
DATA ·gateStubs+176(SB)/8, $·gateIRQ0(SB)
DATA ·gateStubs+184(SB)/8, $·gateIRQ1(SB)
DATA ·gateStubs+192(SB)/8, $·gateIRQ2(SB)
DATA ·gateStubs+200(SB)/8, $·gateIRQ3(SB)
DATA ·gateStubs+208(SB)/8, $·gateIRQ4(SB)
DATA ·gateStubs+216(SB)/8, $·gateIRQ5(SB)
DATA ·gateStubs+224(SB)/8, $·gateIRQ6(SB)
DATA ·gateStubs+232(SB)/8, $·gateIRQ7(SB)
DATA ·gateStubs+240(SB)/8, $·gateIRQ8(SB)
DATA ·gateStubs+248(SB)/8, $·gateIRQ9(SB)
DATA ·gateStubs+256(SB)/8, $·gateIRQ10(SB)
DATA ·gateStubs+264(SB)/8, $·gateIRQ11(SB)
DATA ·gateStubs+272(SB)/8, $·gateIRQ12(SB)
DATA ·gateStubs+280(SB)/8, $·gateIRQ13(SB)
DATA ·gateStubs+288(SB)/8, $·gateIRQ14(SB)
DATA ·gateStubs+296(SB)/8, $·gateIRQ15(SB)
DATA ·gateStubs+304(SB)/8, $·frontSyscall(SB)
DATA ·gateStubs+312(SB)/8, $·frontSyscall32(SB)
DATA ·gateStubs+320(SB)/8, $·gateDev0(SB)
DATA ·gateStubs+328(SB)/8, $·gateDev1(SB)
DATA ·gateStubs+336(SB)/8, $·gateDev2(SB)
DATA ·gateStubs+344(SB)/8, $·gateDev3(SB)
DATA ·gateStubs+352(SB)/8, $·gateDev4(SB)
DATA ·gateStubs+360(SB)/8, $·gateDev5(SB)
DATA ·gateStubs+368(SB)/8, $·gateDev6(SB)
DATA ·gateStubs+376(SB)/8, $·gateDev7(SB)
DATA ·gateStubs+384(SB)/8, $·gateDev8(SB)
DATA ·gateStubs+392(SB)/8, $·gateDev9(SB)
DATA ·gateStubs+400(SB)/8, $·gateDev10(SB)
DATA ·gateStubs+408(SB)/8, $·gateDev11(SB)
DATA ·gateStubs+416(SB)/8, $·gateDev12(SB)
DATA ·gateStubs+424(SB)/8, $·gateDev13(SB)
DATA ·gateStubs+432(SB)/8, $·gateDev14(SB)
DATA ·gateStubs+440(SB)/8, $·gateDev15(SB)
DATA ·gateStubs+448(SB)/8, $·gateDev16(SB)
DATA ·gateStubs+456(SB)/8, $·gateDev17(SB)
DATA ·gateStubs+464(SB)/8, $·gateDev18(SB)
DATA ·gateStubs+472(SB)/8, $·gateDev19(SB)
DATA ·gateStubs+480(SB)/8, $·gateDev20(SB)
DATA ·gateStubs+488(SB)/8, $·gateDev21(SB)
DATA ·gateStubs+496(SB)/8, $·gateDev22(SB)
DATA ·gateStubs+504(SB)/8, $·gateDev23(SB)
DATA ·gateStubs+512(SB)/8, $·gateDev24(SB)
DATA ·gateStubs+520(SB)/8, $·gateDev25(SB)
DATA ·gateStubs+528(SB)/8, $·gateDev26(SB)
DATA ·gateStubs+536(SB)/8, $·gateDev27(SB)
DATA ·gateStubs+544(SB)/8, $·gateDev28(SB)
DATA ·gateStubs+552(SB)/8, $·gateDev29(SB)
DATA ·gateStubs+560(SB)/8, $·gateDev30(SB)
DATA ·gateStubs+568(SB)/8, $·gateDev31(SB)
DATA ·gateStubs+576(SB)/8, $·gateDev32(SB)
DATA ·gateStubs+584(SB)/8, $·gateDev33(SB)
DATA ·gateStubs+592(SB)/8, $·gateDev34(SB)
DATA ·gateStubs+600(SB)/8, $·gateDev35(SB)
DATA ·gateStubs+608(SB)/8, $·gateDev36(SB)
DATA ·gateStubs+616(SB)/8, $·gateDev37(SB)
DATA ·gateStubs+624(SB)/8, $·gateDev38(SB)
DATA ·gateStubs+632(SB)/8, $·gateDev39(SB)
DATA ·gateStubs+640(SB)/8, $·gateDev40(SB)
DATA ·gateStubs+648(SB)/8, $·gateDev41(SB)
DATA ·gateStubs+656(SB)/8, $·gateDev42(SB)
DATA ·gateStubs+664(SB)/8, $·gateDev43(SB)
DATA ·gateStubs+672(SB)/8, $·gateDev44(SB)
DATA ·gateStubs+680(SB)/8, $·gateDev45(SB)
DATA ·gateStubs+688(SB)/8, $·gateDev46(SB)
DATA ·gateStubs+696(SB)/8, $·gateDev47(SB)
DATA ·gateStubs+704(SB)/8, $·gateDev48(SB)
DATA ·gateStubs+712(SB)/8, $·gateDev49(SB)
DATA ·gateStubs+720(SB)/8, $·gateDev50(SB)
DATA ·gateStubs+728(SB)/8, $·gateDev51(SB)
DATA ·gateStubs+736(SB)/8, $·gateDev52(SB)
DATA ·gateStubs+744(SB)/8, $·gateDev53(SB)
DATA ·gateStubs+752(SB)/8, $·gateDev54(SB)
DATA ·gateStubs+760(SB)/8, $·gateDev55(SB)
DATA ·gateStubs+768(SB)/8, $·gateDev56(SB)
DATA ·gateStubs+776(SB)/8, $·gateDev57(SB)
DATA ·gateStubs+784(SB)/8, $·gateDev58(SB)
DATA ·gateStubs+792(SB)/8, $·gateDev59(SB)
DATA ·gateStubs+800(SB)/8, $·gateDev60(SB)
DATA ·gateStubs+808(SB)/8, $·gateDev61(SB)
DATA ·gateStubs+816(SB)/8, $·gateDev62(SB)
DATA ·gateStubs+824(SB)/8, $·gateDev63(SB)
GLOBL ·gateStubs(SB), RODATA, $832

// The selector-load fixup's range and target, for trap().
DATA ·segFixup+0(SB)/8, $·segLoad(SB)
DATA ·segFixup+8(SB)/8, $·segLoadEnd(SB)
DATA ·segFixup+16(SB)/8, $·segFault(SB)
GLOBL ·segFixup(SB), RODATA, $24

// func guestCopy(dst, src, n uintptr, cr3 uint64) (ok bool)
// Copies n bytes between gohv memory and guest virtual memory (either
// side; CopyFromGuest and CopyToGuest have checked the guest's range)
// through the CPU's own walk of the guest's page tables, if the tables at
// machine address cr3 are the ones loaded: as Xen's copy_from_guest does,
// with the same fixup of a fault. ok false: other tables loaded, or the
// copy faulted (part of it may be done); the caller then walks the tables
// in software for the exact outcome. With a TLB flush due on this CPU
// (flushPending) it copies nothing and reports false: no stale
// translation is used, and the flush is left to the next guest entry;
// while it copies, cpuState.usingGuest is 1 (a shootdown waits for the
// copy).
// Context: any goroutine; interrupts are off during the copy (the loaded
// tables must stay the caller's). Clobbers AX, CX, DX, SI, DI.
TEXT ·guestCopy(SB),NOSPLIT|NOFRAME,$0-33
	MOVQ	dst+0(FP), DI
	MOVQ	src+8(FP), SI
	MOVQ	n+16(FP), CX
	MOVQ	cr3+24(FP), DX
	BYTE	$0x9C	// PUSHFQ (spelt as bytes: the paths below pop it before different RETs)
	CLI
	MOVQ	CR3, AX
	CMPQ	AX, DX
	JNE	notLoaded
	// This CPU uses guest translations until the copy ends, before it
	// reads flushPending (see cpuState.usingGuest): DX keeps the flag's
	// old value, put back on the way out. Inside Run's fast path it is 1
	// already (set with XCHG before the entry), and stays so.
	// MOVL GS:cpuState_usingGuest, DX
	BYTE $0x65; BYTE $0x8B; BYTE $0x14; BYTE $0x25; LONG $cpuState_usingGuest
	TESTL	DX, DX
	JNE	marked
	MOVL	$1, DX
	// XCHGL DX, GS:cpuState_usingGuest
	BYTE $0x65; BYTE $0x87; BYTE $0x14; BYTE $0x25; LONG $cpuState_usingGuest
marked:
	// CMPL GS:cpuState_flushPending, $0 (this CPU's flag; interrupts are off)
	BYTE $0x65; BYTE $0x83; BYTE $0x3C; BYTE $0x25; LONG $cpuState_flushPending; BYTE $0x00
	JNE	flushDue
loaded:
	CMPB	·smapOn(SB), $0
	JEQ	move
	BYTE	$0x0F; BYTE $0x01; BYTE $0xCB	// STAC: guest pages are user pages
move:
	CALL	·guestCopyMove(SB)
	CMPB	·smapOn(SB), $0
	JEQ	done
	BYTE	$0x0F; BYTE $0x01; BYTE $0xCA	// CLAC
done:
	// MOVL DX, GS:cpuState_usingGuest
	BYTE $0x65; BYTE $0x89; BYTE $0x14; BYTE $0x25; LONG $cpuState_usingGuest
	BYTE	$0x9D	// POPFQ
	MOVB	$1, ret+32(FP)
	RET
flushDue:
	// The TLB may hold stale translations: the caller walks the tables
	// in software instead, and the flush waits for the next entry here,
	// so the flushes asked for before it cost one CR3 write between
	// them (each empties QEMU's soft TLB, gohv's own entries too).
	// INCQ GS:cpuState_copyDeferred
	BYTE $0x65; BYTE $0x48; BYTE $0xFF; BYTE $0x04; BYTE $0x25; LONG $cpuState_copyDeferred
	// MOVL DX, GS:cpuState_usingGuest
	BYTE $0x65; BYTE $0x89; BYTE $0x14; BYTE $0x25; LONG $cpuState_usingGuest
notLoaded:
	BYTE	$0x9D	// POPFQ
	MOVB	$0, ret+32(FP)
	RET

// guestCopyMove is guestCopy's access to guest memory: CX bytes from SI
// to DI, eight at a time and then the rest (under an emulator each
// iteration of a string instruction is a translated block's run); a
// fault on either move (trapCommon sees the RIP in [guestCopyMove,
// guestCopyMoveEnd)) resumes at guestCopyFault. Clobbers AX, CX, SI, DI.
TEXT ·guestCopyMove(SB),NOSPLIT|NOFRAME,$0
	MOVQ	CX, AX
	SHRQ	$3, CX
	REP;	MOVSQ
	MOVQ	AX, CX
	ANDQ	$7, CX
	REP;	MOVSB
	RET

// guestCopyMoveEnd marks the end of guestCopyMove's range for trap().
TEXT ·guestCopyMoveEnd(SB),NOSPLIT|NOFRAME,$0
	RET

// guestCopyFault: the registers as the fault left them, SP at
// guestCopyMove's return address, guestCopy's saved flags above it.
// Returns false from guestCopy.
TEXT ·guestCopyFault(SB),NOSPLIT|NOFRAME,$0
	ADDQ	$8, SP
	CMPB	·smapOn(SB), $0
	JEQ	flags
	BYTE	$0x0F; BYTE $0x01; BYTE $0xCA	// CLAC
flags:
	// MOVL DX, GS:cpuState_usingGuest (DX as the fault left it: the old flag)
	BYTE $0x65; BYTE $0x89; BYTE $0x14; BYTE $0x25; LONG $cpuState_usingGuest
	BYTE	$0x9D	// POPFQ
	MOVB	$0, 40(SP)	// guestCopy's ok (ret+32(FP) there)
	RET

DATA ·copyFixup+0(SB)/8, $·guestCopyMove(SB)
DATA ·copyFixup+8(SB)/8, $·guestCopyFault(SB)
DATA ·copyFixup+16(SB)/8, $·guestCopyMoveEnd(SB)
GLOBL ·copyFixup(SB), RODATA, $24
