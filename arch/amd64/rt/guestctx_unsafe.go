package rt

import (
	"unsafe"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/arch"
	"github.com/gohv/gohv/arch/amd64/hw"
)

// The guest side of rt (doc.go): what the entry and exit assembly keeps
// about a vCPU, and the offsets it uses.

// guestCtx is one vCPU's state on the metal, besides the registers it runs
// with: guest_amd64.s reads and writes it at the offsets go_asm.h gives.
// It lives in the Go heap (the vCPU's GuestContext) and is reached through
// cpuState.ctx while the vCPU runs; its fx area is inside it, so neither
// moves while in use (the Go heap does not move objects).
type guestCtx struct {
	regs   uintptr // *arch.Regs the exit saves into and the entry loads from
	cr3    uint64  // guest page tables (machine address)
	ts     uint64  // 1: run with CR0.TS set (the guest's virtual TS)
	fxLoad uint64  // 1: the entry restores the whole FXSAVE image, not only XMM/MXCSR
	sysret uint64  // 1: the registers allow SYSRET back (RCX = RIP, R11 = RFLAGS, flat 64-bit selectors)
	hostFS uint64  // FS_BASE (the runtime's TLS) of the thread that enters, for the exit
	// Why the guest stopped (guest_amd64.s).
	exitKind, vector, errcode, cr2 uint64
	fx                             uintptr // 16-byte aligned FXSAVE image inside fxBuf
	fxBuf                          [512 + 16]byte
	// gdtPTE are the PTEs of the GDT window's 14 guest pages for this
	// vCPU: its set_gdt frames, the zero page beyond them; gdtID names
	// this version of them (SetGDT gives a new one, never reused).
	gdtPTE [gdtGuestPages]uint64
	gdtID  uint64
	// checkedCR3 is the top level Run last found carrying gohv's L4
	// entries, in tablesGen generation checkedGen (Go only).
	checkedCR3 uint64
	checkedGen uint32
	// The guest's hardware state (debugreg_unsafe.go): dr and dr7 are
	// loaded at entry while dr7 is not 0, and DR7 cleared at exit; dr6 is
	// the DR6 a #DB exit read; cr4 is the CR4 the guest runs with.
	dr            [4]uint64
	dr7, dr6, cr4 uint64

	// The fast path (guest_amd64.s fastSyscall), set by SetFastPath and
	// Run before each entry. fast 1 lets a guest SYSCALL be served
	// without leaving enterGuest: from user mode the bounce to the
	// syscall callback, from kernel mode HYPERVISOR_iret. kernel is the
	// vCPU's mode (1: guest kernel, Xen's TF_kernel_mode), which the
	// fast path flips, as it swaps regs' GSBase and GSBaseShadow, writes
	// the upcall mask in the vcpu_info at info (a direct-map address) and
	// switches cr3 between kernelCR3 and userCR3. syscallCB (0: none) and
	// syscallMask are the syscall callback, syscallFrame where its bounce
	// frame goes (checked by hv/pv); iret 1 lets HYPERVISOR_iret through.
	// fastBounces and fastIrets count what the fast path did during the
	// last Run.
	fast, kernel           uint64
	kernelCR3, userCR3     uint64
	info                   uintptr
	syscallCB, syscallMask uint64
	syscallFrame           uint64
	iret                   uint64
	fastBounces, fastIrets uint64
	// fastKernelCR3, fastUserCR3 and fastGen: the pair of top levels
	// SetFastPath last found carrying gohv's L4 entries, in tablesGen
	// generation fastGen (Go only).
	fastKernelCR3, fastUserCR3 uint64
	fastGen                    uint32

	// The kick (GuestContext.Kick, Xen's vcpu_kick). onCPU is 1 + the
	// number of the CPU the vCPU is in the guest on, 0 while it is not:
	// Run sets it with interrupts off before the entry and clears it,
	// interrupts still off, once the exit is back. kick is 1 once an
	// event may have become pending for the vCPU since Run last looked:
	// Kick sets it (any goroutine), Run clears it at the entry (and
	// returns at once if it was set) and at the exit.
	onCPU uint64
	// lastCPU is 1 + the CPU the vCPU last entered the guest on (noteEntry).
	lastCPU uintptr
	kick    uint32

	// The page-fault bounce (guest_amd64.s fastFault), under fast 1 as
	// well: pfCB (0: none) and pfMask are the trap table's #PF handler
	// and its interrupt flag, pfFrame where its 8-word bounce frame goes
	// from user mode (checked by hv/pv); fastFaults counts the #PFs it
	// bounced during the last Run, fastCR2 the address of the last.
	pfCB, pfMask, pfFrame uint64
	fastFaults, fastCR2   uint64

	// The event upcall (guest_amd64.s fastEvent), under fast 1 as well:
	// evCB (0: none) is the event callback, evFrame where its 7-word
	// bounce frame goes from user mode (checked by hv/pv); fastEvents
	// counts the upcalls it delivered during the last Run.
	evCB, evFrame uint64
	fastEvents    uint64

	// The hypercalls served in assembly (guest_amd64.s fastHypercall),
	// under fast 1 as well: fastHypercalls counts them during the last
	// Run; stackSet is 1 if a stack_switch was among them, stackSS and
	// stackSP the last one's selector and stack pointer (FastHypercalls).
	fastHypercalls   uint64
	stackSet         uint64
	stackSS, stackSP uint64
	// VCPUOP_set_singleshot_timer (fastHypercall), under fast 1 as well:
	// sshot is 1 when it may be served for vCPU vcpuID (SetFastPath),
	// with a deadline at least deadlineMin ahead; sshotSet is 1 if it
	// was during the last Run, sshotAt the last one's deadline
	// (FastSingleshot). It makes deadline the earlier of sshotAt and
	// periodicAt, the periodic timer's deadline (SetDeadlines; 0: none),
	// makes quietEnd no later (quietMax is Run's start plus quietNs, 0:
	// no quiet time), and sets the CPU's timer as deadlineTimer would.
	sshot, vcpuID        uint64
	sshotSet             uint64
	sshotAt              int64
	periodicAt, quietMax int64
	// xenVersion is XENVER_version's answer, which fastHypercall gives
	// (0: xen_version exits). Set by SetFastPath.
	xenVersion uint64

	// quietNs is how long from its start Run may keep the guest through
	// the CPU's ticks (SetQuietFor), quietEnd that time as nanotime
	// (0: none), quietTicks how many ticks it stayed for (QuietTicks);
	// sigSeen is the thread's sigSent when Run last returned to Go. The
	// vCPU's goroutine, and fastHypercall's one-shot timer (quietEnd).
	quietNs, quietEnd   int64
	quietTicks, sigSeen uint64
	// deadline (nanotime; 0: none) is when Run must have returned
	// (SetDeadlines): quietEnd is no later, and the CPU's timer fires by
	// then (deadlineTimer). The vCPU's goroutine, and fastHypercall's
	// one-shot timer, which may move it either way.
	deadline int64

	// takeDev is 1 when the caller of Run takes the device vectors that
	// stop the guest (SetTakeDeviceIRQs), so they wake no other thread.
	// Go only: the vCPU's goroutine.
	takeDev uintptr
}

// Exit kinds as guest_amd64.s records them (arch.ExitKind values), and the
// metal's own: exitSegments is a data selector the entry could not load.
const (
	exitSyscall   = 1
	exitException = 2
	exitInterrupt = 3
	exitSegments  = 100
)

// The faults an IRETQ to ring 3 can raise for its CS and SS
// (guest_amd64.s iretSelectors), which the entry reports as the guest's.
const (
	vecNP = arch.VecNP
	vecGP = arch.VecGP
)

// Offsets into arch.Regs for guest_amd64.s (go_asm.h has them as
// const_reg*).
const (
	regRAX          = unsafe.Offsetof(arch.Regs{}.RAX)
	regRBX          = unsafe.Offsetof(arch.Regs{}.RBX)
	regRCX          = unsafe.Offsetof(arch.Regs{}.RCX)
	regRDX          = unsafe.Offsetof(arch.Regs{}.RDX)
	regRSI          = unsafe.Offsetof(arch.Regs{}.RSI)
	regRDI          = unsafe.Offsetof(arch.Regs{}.RDI)
	regRBP          = unsafe.Offsetof(arch.Regs{}.RBP)
	regRSP          = unsafe.Offsetof(arch.Regs{}.RSP)
	regR8           = unsafe.Offsetof(arch.Regs{}.R8)
	regR9           = unsafe.Offsetof(arch.Regs{}.R9)
	regR10          = unsafe.Offsetof(arch.Regs{}.R10)
	regR11          = unsafe.Offsetof(arch.Regs{}.R11)
	regR12          = unsafe.Offsetof(arch.Regs{}.R12)
	regR13          = unsafe.Offsetof(arch.Regs{}.R13)
	regR14          = unsafe.Offsetof(arch.Regs{}.R14)
	regR15          = unsafe.Offsetof(arch.Regs{}.R15)
	regRIP          = unsafe.Offsetof(arch.Regs{}.RIP)
	regRFLAGS       = unsafe.Offsetof(arch.Regs{}.RFLAGS)
	regCS           = unsafe.Offsetof(arch.Regs{}.CS)
	regSS           = unsafe.Offsetof(arch.Regs{}.SS)
	regDS           = unsafe.Offsetof(arch.Regs{}.DS)
	regES           = unsafe.Offsetof(arch.Regs{}.ES)
	regFS           = unsafe.Offsetof(arch.Regs{}.FS)
	regGS           = unsafe.Offsetof(arch.Regs{}.GS)
	regFSBase       = unsafe.Offsetof(arch.Regs{}.FSBase)
	regGSBase       = unsafe.Offsetof(arch.Regs{}.GSBase)
	regGSBaseShadow = unsafe.Offsetof(arch.Regs{}.GSBaseShadow)

	// The fast path's numbers (guest_amd64.s fastSyscall): the
	// HYPERVISOR_iret hypercall, its frame's VGCF_in_syscall flag, the
	// flat 64-bit ring-3 selectors the fast path enters with, the
	// lower half's end and the guest's upper part (hw.GuestRange).
	hypercallIret   = abi.HYPERVISOR_iret
	vgcfInSyscall   = abi.VGCF_in_syscall
	iretContextSize = 72
	bounceFrameSize = 56
	faultFrameSize  = 64
	vecPF           = arch.VecPF
	pfErrUser       = arch.PFErrUser // #PF error code: U, the virtual mode
	pfErrPW         = 3              // #PF error code: P and W, a write to a present page
	// vcpuInfoCR2 is vcpu_info.arch.cr2 (Xen's public arch-x86/xen.h).
	vcpuInfoCR2    = 16
	flatCS64       = hw.SelUser64CS
	flatSS         = hw.SelUserDS
	guestLowEnd    = hw.GuestLowEnd
	guestHighStart = hw.GuestHighStart
	// hypervisorStart is where gohv's range starts (trapCommon: gohv's
	// range is [hypervisorStart, guestHighStart)).
	hypervisorStart = abi.HYPERVISOR_VIRT_START
	// Descriptor bits the fast iret checks (fastSelector): present, DPL
	// 3, code/data, code, writable (data), 64-bit (L) and default size
	// (D, which L requires clear); fastHypercall's GS_USER_SEL checks
	// its data segment with the SS pair. The accessed bit IRETQ may set is
	// not looked at: every page of the GDT window that holds a present
	// descriptor is mapped writable (gdtWindowInit, SetGDT).
	descCSMask = descP | descDPL3 | descS | descCode | descL | descD
	descCSWant = descP | descDPL3 | descS | descCode | descL
	descSSMask = descP | descDPL3 | descS | descCode | descW
	descSSWant = descP | descDPL3 | descS | descW
	descW      = 1 << 41
	descCode   = 1 << 43
	descS      = 1 << 44
	descDPL3   = 3 << 45
	descP      = 1 << 47
	descL      = 1 << 53
	descD      = 1 << 54

	// fastHypercall's: set_segment_base with the segments it serves,
	// stack_switch, vcpu_op's set_singleshot_timer (its argument's size,
	// the LAPIC timer's count register) and xen_version.
	hypercallSegmentBase = abi.HYPERVISOR_set_segment_base
	hypercallStackSwitch = abi.HYPERVISOR_stack_switch
	hypercallVCPUOp      = abi.HYPERVISOR_vcpu_op
	hypercallXenVersion  = abi.HYPERVISOR_xen_version
	vcpuopSetSingleshot  = abi.VCPUOP_set_singleshot_timer
	sshotArgSize         = int(unsafe.Sizeof(abi.VcpuSetSingleshotTimer{}))
	// sshotSpanMax bounds the span fastHypercall turns into a timer
	// count, so that its multiplication cannot overflow: the count
	// saturates (hw.LAPICTimerCount) long before.
	sshotSpanMax     = 1 << 40
	lapicTMICT       = hw.LAPIC_TMICT
	segbaseFS        = abi.SEGBASE_FS
	segbaseGSUser    = abi.SEGBASE_GS_USER
	segbaseGSKernel  = abi.SEGBASE_GS_KERNEL
	segbaseGSUserSel = abi.SEGBASE_GS_USER_SEL

	// RFLAGS: the bounce's (HandleSyscall and Bounce clear AC, VM, RF,
	// NT, TF and DF; GuestRFLAGS clears IOPL and sets IF and bit 1), the
	// frame's (IF from the upcall mask, IOPL 0) and HYPERVISOR_iret's
	// (IOPL, VM and NT cleared, IF set).
	rflagsTF          = hw.RFLAGS_TF
	rflagsIF          = hw.RFLAGS_IF
	rflagsBounceClear = hw.RFLAGS_AC | hw.RFLAGS_VM | hw.RFLAGS_RF | hw.RFLAGS_NT | hw.RFLAGS_TF | hw.RFLAGS_DF | hw.RFLAGS_IOPL
	rflagsFrameClear  = hw.RFLAGS_IF | hw.RFLAGS_IOPL
	rflagsIretClear   = hw.RFLAGS_IOPL | hw.RFLAGS_VM | hw.RFLAGS_NT
	// An exception's bounce (Bounce) clears AC, VM, RF, NT and TF, not DF.
	rflagsTrapClear = hw.RFLAGS_AC | hw.RFLAGS_VM | hw.RFLAGS_RF | hw.RFLAGS_NT | hw.RFLAGS_TF | hw.RFLAGS_IOPL
	rflagsGuestSet  = hw.RFLAGS_IF | 2

	fxMXCSR = 24  // FXSAVE image: MXCSR
	fxXMM0  = 160 // FXSAVE image: XMM0, then XMM1-15 every 16 bytes
)
