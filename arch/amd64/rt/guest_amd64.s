// Guest entry and exit, and the "front" stubs every IDT gate and IA32_LSTAR
// point at.
//
// A PV guest runs in ring 3 on its own page tables, which the hypervisor
// cannot share wholesale (the guest owns the lower half and most of the
// upper). So everything the CPU touches on a transition — these stubs, the
// IDT, GDT, TSS, IST stacks and the per-CPU cpuState — is reached through
// the alias window: physical [0, 64 MiB) mapped supervisor-only at
// aliasBase (L4 slot 257, inside Xen's reserved hole), in the hypervisor's
// tables and in every guest L4 alike. Code here runs at its alias address;
// it may use RIP-relative data (the alias preserves offsets) but never an
// absolute low address while a guest CR3 is loaded.
//
// Registers: stubs that leave for the guest path keep BX = this CPU's
// cpuState (alias). GS_BASE holds that address in the hypervisor and the
// guest's GS base in the guest; SWAPGS switches them on every exit.

#include "textflag.h"
#include "go_asm.h"


// Raw encodings of the GS-relative moves Go's assembler cannot express:
// MOVQ BX, GS:cpuState_scratch2 and MOVQ GS:cpuState_self, BX.
#define GS_SAVE_BX	BYTE $0x65; BYTE $0x48; BYTE $0x89; BYTE $0x1C; BYTE $0x25; LONG $cpuState_scratch2
#define GS_LOAD_SELF	BYTE $0x65; BYTE $0x48; BYTE $0x8B; BYTE $0x1C; BYTE $0x25; LONG $cpuState_self

// SAVE_GPRS stores the guest's general registers except BX (which holds
// the cpuState) and RSP; BX's guest value is in cpuState.scratch2.
#define SAVE_GPRS \
	MOVQ	AX, (cpuState_guest+guestState_rax)(BX); \
	MOVQ	CX, (cpuState_guest+guestState_rcx)(BX); \
	MOVQ	DX, (cpuState_guest+guestState_rdx)(BX); \
	MOVQ	SI, (cpuState_guest+guestState_rsi)(BX); \
	MOVQ	DI, (cpuState_guest+guestState_rdi)(BX); \
	MOVQ	BP, (cpuState_guest+guestState_rbp)(BX); \
	MOVQ	R8, (cpuState_guest+guestState_r8)(BX); \
	MOVQ	R9, (cpuState_guest+guestState_r9)(BX); \
	MOVQ	R10, (cpuState_guest+guestState_r10)(BX); \
	MOVQ	R11, (cpuState_guest+guestState_r11)(BX); \
	MOVQ	R12, (cpuState_guest+guestState_r12)(BX); \
	MOVQ	R13, (cpuState_guest+guestState_r13)(BX); \
	MOVQ	R14, (cpuState_guest+guestState_r14)(BX); \
	MOVQ	R15, (cpuState_guest+guestState_r15)(BX); \
	MOVQ	cpuState_scratch2(BX), AX; \
	MOVQ	AX, (cpuState_guest+guestState_rbx)(BX); \
	XORL	AX, AX; \
	MOVW	DS, AX; \
	MOVQ	AX, (cpuState_guest+guestState_ds)(BX); \
	MOVW	ES, AX; \
	MOVQ	AX, (cpuState_guest+guestState_es)(BX); \
	MOVW	FS, AX; \
	MOVQ	AX, (cpuState_guest+guestState_fs)(BX); \
	MOVW	GS, AX; \
	MOVQ	AX, (cpuState_guest+guestState_gs)(BX)

// SAVE_FRAME stores the CPU's interrupt frame, which sits at off(SP):
// RIP, CS, RFLAGS, RSP, SS.
#define SAVE_FRAME(off) \
	MOVQ	(off+0)(SP), AX; \
	MOVQ	AX, (cpuState_guest+guestState_rip)(BX); \
	MOVQ	(off+8)(SP), AX; \
	MOVQ	AX, (cpuState_guest+guestState_cs)(BX); \
	MOVQ	(off+16)(SP), AX; \
	MOVQ	AX, (cpuState_guest+guestState_rflags)(BX); \
	MOVQ	(off+24)(SP), AX; \
	MOVQ	AX, (cpuState_guest+guestState_rsp)(BX); \
	MOVQ	(off+32)(SP), AX; \
	MOVQ	AX, (cpuState_guest+guestState_ss)(BX)

// frontSyscall is IA32_LSTAR. The hypervisor's own Go code (IOPL 3 in
// R11) continues at the low syscallEntry; a guest's SYSCALL exits to Go.
// In: RCX = return RIP, R11 = RFLAGS, RSP = the caller's (guest's) stack.
TEXT ·frontSyscall(SB),NOSPLIT|NOFRAME,$0
	TESTL	$0x3000, R11
	JZ	fromGuest
	PUSHQ	·lowAddrs+0(SB)
	BYTE	$0xC3	// RET: to the pushed address (spelt as bytes: the assembler rejects the unbalanced PUSH)
fromGuest:
	SWAPGS
	GS_SAVE_BX
	GS_LOAD_SELF
	SAVE_GPRS
	MOVQ	SP, (cpuState_guest+guestState_rsp)(BX)
	MOVQ	CX, (cpuState_guest+guestState_rip)(BX)
	MOVQ	R11, (cpuState_guest+guestState_rflags)(BX)
	MOVQ	$0xe033, (cpuState_guest+guestState_cs)(BX)
	MOVQ	$0xe02b, (cpuState_guest+guestState_ss)(BX)
	MOVQ	$const_exitSyscall, (cpuState_guest+guestState_exitKind)(BX)
	JMP	·guestExitCommon(SB)

// frontTrap: every exception gate's stub pushed (error code or 0,
// vector). From ring 0 it continues at the low trapCommon; from a guest
// it is an exit. Stack: [vector][error][RIP][CS][RFLAGS][RSP][SS].
TEXT ·frontTrap(SB),NOSPLIT|NOFRAME,$0
	TESTB	$3, 24(SP)
	JNZ	fromGuest
	PUSHQ	·lowAddrs+8(SB)
	BYTE	$0xC3	// RET
fromGuest:
	SWAPGS
	GS_SAVE_BX
	GS_LOAD_SELF
	SAVE_GPRS
	SAVE_FRAME(16)
	MOVQ	0(SP), AX
	MOVQ	AX, (cpuState_guest+guestState_vector)(BX)
	MOVQ	8(SP), AX
	MOVQ	AX, (cpuState_guest+guestState_errcode)(BX)
	MOVQ	CR2, AX
	MOVQ	AX, (cpuState_guest+guestState_cr2)(BX)
	MOVQ	$const_exitException, (cpuState_guest+guestState_exitKind)(BX)
	JMP	·guestExitCommon(SB)

// frontIrq: a device interrupt (vector pushed by its stub). From ring 0
// the timer continues at the low irqTimer, the other 8259 lines at the
// low irqDevice; from a guest it is an exit, acknowledged in Go.
// Stack: [vector][RIP][CS][RFLAGS][RSP][SS].
TEXT ·frontIrq(SB),NOSPLIT|NOFRAME,$0
	TESTB	$3, 16(SP)
	JNZ	fromGuest
	CMPQ	0(SP), $0x20
	JNE	device
	ADDQ	$8, SP
	PUSHQ	·lowAddrs+16(SB)
	BYTE	$0xC3	// RET: to irqTimer
device:
	PUSHQ	·lowAddrs+24(SB)
	BYTE	$0xC3	// RET: to irqDevice, the vector still pushed
fromGuest:
	SWAPGS
	GS_SAVE_BX
	GS_LOAD_SELF
	SAVE_GPRS
	SAVE_FRAME(8)
	MOVQ	0(SP), AX
	MOVQ	AX, (cpuState_guest+guestState_vector)(BX)
	MOVQ	$const_exitInterrupt, (cpuState_guest+guestState_exitKind)(BX)
	JMP	·guestExitCommon(SB)

// guestExitCommon: BX = cpuState (alias), GS_BASE = cpuState, every guest
// register saved. Saves the guest's vector state and loads the
// hypervisor's (MXCSR, FCW, zero X15 as Go's ABI needs), switches to the
// hypervisor's page tables and FS base, and returns from enterGuest on the
// kernel stack it was called on.
TEXT ·guestExitCommon(SB),NOSPLIT|NOFRAME,$0
	BYTE	$0x0F; BYTE $0x06	// CLTS: the guest may have run with CR0.TS set
	MOVQ	cpuState_guestFX(BX), AX
	FXSAVE64	(AX)
	MOVQ	cpuState_hostFX(BX), AX
	FXRSTOR64	(AX)
	MOVQ	cpuState_hostCR3(BX), AX
	MOVQ	AX, CR3
	MOVL	$0xC0000100, CX
	MOVL	cpuState_hostFS(BX), AX
	MOVL	(cpuState_hostFS+4)(BX), DX
	WRMSR
	MOVQ	cpuState_hostSP(BX), SP
	POPQ	BP
	BYTE	$0xC3	// RET: from enterGuest

// func enterGuest(cpu uintptr)
// Runs the guest whose state is in cpu.guest (cpu = this CPU's cpuState
// alias) until it exits; returns once guestExitCommon has saved it.
// Context: the shim (kernel stack, IF=0), hypervisor CR3. Clobbers every
// register but SP and BP.
TEXT ·enterGuest(SB),NOSPLIT,$0-8
	MOVQ	cpu+0(FP), BX
	PUSHQ	BP
	MOVQ	SP, cpuState_hostSP(BX)
	LEAQ	·guestEnterAlias(SB), AX
	MOVQ	$const_aliasBase, CX
	ADDQ	CX, AX
	JMP	AX

// guestEnterAlias (alias address): build the IRET frame on this CPU's
// entry stack, load the guest's selectors, bases, vector state, CR3 and
// registers, and IRETQ to ring 3.
TEXT ·guestEnterAlias(SB),NOSPLIT|NOFRAME,$0
	MOVQ	cpuState_entryTop(BX), SP
	PUSHQ	(cpuState_guest+guestState_ss)(BX)
	PUSHQ	(cpuState_guest+guestState_rsp)(BX)
	PUSHQ	(cpuState_guest+guestState_rflags)(BX)
	PUSHQ	(cpuState_guest+guestState_cs)(BX)
	PUSHQ	(cpuState_guest+guestState_rip)(BX)
	// Selectors first: loading FS or GS reloads its base.
	MOVQ	(cpuState_guest+guestState_ds)(BX), AX
	MOVW	AX, DS
	MOVQ	(cpuState_guest+guestState_es)(BX), AX
	MOVW	AX, ES
	MOVQ	(cpuState_guest+guestState_fs)(BX), AX
	MOVW	AX, FS
	MOVQ	(cpuState_guest+guestState_gs)(BX), AX
	MOVW	AX, GS
	// FS_BASE = the guest's; GS_BASE = this cpuState and KERNEL_GS_BASE =
	// the guest's GS, so the SWAPGS below hands the guest its GS and the
	// next exit's SWAPGS gives the hypervisor its cpuState back.
	MOVL	$0xC0000100, CX
	MOVL	(cpuState_guest+guestState_fsBase)(BX), AX
	MOVL	(cpuState_guest+guestState_fsBase+4)(BX), DX
	WRMSR
	MOVL	$0xC0000101, CX
	MOVL	cpuState_self(BX), AX
	MOVL	(cpuState_self+4)(BX), DX
	WRMSR
	MOVL	$0xC0000102, CX
	MOVL	(cpuState_guest+guestState_gsBase)(BX), AX
	MOVL	(cpuState_guest+guestState_gsBase+4)(BX), DX
	WRMSR
	MOVQ	cpuState_guestFX(BX), AX
	FXRSTOR64	(AX)
	// The guest's virtual CR0.TS (fpu_taskswitch): its next FPU
	// instruction then exits with #NM.
	CMPQ	(cpuState_guest+guestState_ts)(BX), $0
	JEQ	nots
	MOVQ	CR0, AX
	ORQ	$8, AX
	MOVQ	AX, CR0
nots:
	MOVQ	(cpuState_guest+guestState_cr3)(BX), AX
	MOVQ	AX, CR3
	MOVQ	(cpuState_guest+guestState_rax)(BX), AX
	MOVQ	(cpuState_guest+guestState_rcx)(BX), CX
	MOVQ	(cpuState_guest+guestState_rdx)(BX), DX
	MOVQ	(cpuState_guest+guestState_rsi)(BX), SI
	MOVQ	(cpuState_guest+guestState_rdi)(BX), DI
	MOVQ	(cpuState_guest+guestState_rbp)(BX), BP
	MOVQ	(cpuState_guest+guestState_r8)(BX), R8
	MOVQ	(cpuState_guest+guestState_r9)(BX), R9
	MOVQ	(cpuState_guest+guestState_r10)(BX), R10
	MOVQ	(cpuState_guest+guestState_r11)(BX), R11
	MOVQ	(cpuState_guest+guestState_r12)(BX), R12
	MOVQ	(cpuState_guest+guestState_r13)(BX), R13
	MOVQ	(cpuState_guest+guestState_r14)(BX), R14
	MOVQ	(cpuState_guest+guestState_r15)(BX), R15
	MOVQ	(cpuState_guest+guestState_rbx)(BX), BX
	SWAPGS
	IRETQ

// The gate stubs: push (0 or nothing for the CPU's error code, vector);
// gateIRQn for the 8259's line n (vector 0x20+n).
#define EXC(n)		PUSHQ $0; PUSHQ $n; JMP ·frontTrap(SB)
#define EXCERR(n)	PUSHQ $n; JMP ·frontTrap(SB)
#define IRQ(n)		PUSHQ $n; JMP ·frontIrq(SB)

TEXT ·gate0(SB),NOSPLIT|NOFRAME,$0
	EXC(0)
TEXT ·gate1(SB),NOSPLIT|NOFRAME,$0
	EXC(1)
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
GLOBL ·gateStubs(SB), RODATA, $312

// Low (identity-mapped) continuations the front stubs jump to from ring 0.
DATA ·lowAddrs+0(SB)/8, $·syscallEntry(SB)
DATA ·lowAddrs+8(SB)/8, $·trapCommon(SB)
DATA ·lowAddrs+16(SB)/8, $·irqTimer(SB)
DATA ·lowAddrs+24(SB)/8, $·irqDevice(SB)
GLOBL ·lowAddrs(SB), RODATA, $32
