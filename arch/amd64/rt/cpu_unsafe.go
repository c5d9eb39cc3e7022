package rt

import (
	"unsafe"

	"github.com/gohv/gohv/arch/amd64"
)

// maxCPUs bounds the per-CPU tables. Only CPU 0 runs today.
const maxCPUs = 8

// aliasBase is where the alias window maps physical [0, aliasSize): L4
// slot 257, inside Xen's reserved hypervisor hole, supervisor-only, present
// in the hypervisor's page tables and in every guest's (guest_amd64.s).
const (
	aliasBase = 0xFFFF808000000000
	aliasSlot = 257
	aliasSize = 64 << 20
)

// alias returns the alias-window address of a low (image) address.
//
//go:nosplit
func alias(p uintptr) uintptr { return p + aliasBase }

// guestState is a guest vCPU's registers while it runs on this CPU, and
// why it stopped. Written by guest_amd64.s on exit and read by it on
// entry; copied from and to the caller's arch.Regs by vcpuRun. Selectors
// are kept in 64-bit slots for the assembly's sake.
type guestState struct {
	rax, rbx, rcx, rdx, rsi, rdi, rbp, rsp uint64
	r8, r9, r10, r11, r12, r13, r14, r15   uint64
	rip, rflags, cs, ss, ds, es, fs, gs    uint64
	fsBase, gsBase                         uint64
	cr3                                    uint64
	ts                                     uint64 // 1: run the guest with CR0.TS set (its virtual TS)
	exitKind, vector, errcode, cr2         uint64
}

// Exit kinds as guest_amd64.s records them (arch.ExitKind values).
const (
	exitSyscall   = 1
	exitException = 2
	exitInterrupt = 3
)

// cpuState is one CPU's private state, reached through GS_BASE (its alias
// address) by the assembly, which uses the offsets go_asm.h gives.
type cpuState struct {
	self     uintptr // alias address of this struct (GS_BASE in the hypervisor)
	ktop     uintptr // kernel stack top of the thread running here
	scratch  uintptr // the caller's RSP during SYSCALL entry
	fxarea   uintptr // FXSAVE area of the thread running here
	idling   uintptr // 1 while halted in the idle loop
	ticks    uint64  // timer interrupts taken
	scratch2 uintptr // a guest register during exit
	hostSP   uintptr // kernel SP to resume at when the guest exits
	hostCR3  uint64  // the hypervisor's page tables
	hostFS   uint64  // FS_BASE (the runtime's TLS) of the thread running the guest
	guestFX  uintptr // alias address: the guest's FXSAVE area
	hostFX   uintptr // alias address: the hypervisor's initial FXSAVE image
	entryTop uintptr // alias address: top of entryStack
	sigRet   uintptr // alias address of the frame rt_sigreturn resumes, or 0
	guest    guestState

	entryStack [32]uint64 // IRET frame for guest entry
	cur        uintptr    // index into threads of the running thread
	id         uintptr    // CPU number
	inTrap     uintptr    // 1 while trap() runs: a fault inside it is fatal at once
	inShim     uintptr    // 1 while the syscall shim runs
}

var (
	cpus  [maxCPUs]cpuState
	cpuFX [maxCPUs*2*512 + 16]byte // per CPU: guest and host FXSAVE areas
)

//go:nosplit
func thisCPU() *cpuState {
	// Single CPU today; with SMP this reads GS:0 (cpuState.self).
	return &cpus[0]
}

// cpuInit sets up CPU id's state and points GS_BASE at it (its alias).
//
//go:nosplit
func cpuInit(id int) {
	c := &cpus[id]
	c.self = alias(uintptr(unsafe.Pointer(c)))
	c.id = uintptr(id)
	fx := alignUp(uintptr(unsafe.Pointer(&cpuFX[0])), 16) + uintptr(id)*2*512
	c.guestFX = alias(fx)
	c.hostFX = alias(fx + 512)
	c.entryTop = alias(uintptr(unsafe.Pointer(&c.entryStack[len(c.entryStack)-1])))
	amd64.WriteGSBase(uint64(c.self))
}
