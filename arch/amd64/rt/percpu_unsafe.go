package rt

import (
	"unsafe"

	"github.com/gohv/gohv/arch/amd64"
	"github.com/gohv/gohv/arch/amd64/hw"
)

// cpuState is one CPU's private state, reached through GS_BASE by the
// assembly, which uses the offsets go_asm.h gives. Owner: the CPU itself,
// with interrupts off (the shim, the traps, the guest entry and exit);
// doc.go lists what else is per CPU and what SMP changes.
type cpuState struct {
	self    uintptr // address of this struct (GS_BASE in ring 0)
	ktop    uintptr // kernel stack top of the thread running here
	scratch uintptr // the caller's RSP during SYSCALL entry
	fxarea  uintptr // FXSAVE area of the thread running here
	idling  uintptr // 1 while halted in the idle loop
	ticks   uint64  // timer interrupts taken
	sigRet  uintptr // the frame rt_sigreturn resumes, or 0

	// Guest entry and exit (guest_amd64.s). A vCPU enters from its own
	// goroutine with interrupts off and the exit returns there, so these
	// belong to the one vCPU running here and are dead once it has left.
	scratch2 uintptr // guest RBX during the exit
	scratch3 uintptr // guest RAX during the exit
	hostSP   uintptr // the stack pointer enterGuest returns on
	ctx      uintptr // *guestCtx of the vCPU running here
	regs     uintptr // its *arch.Regs
	entryTop uintptr // top of entryStack
	// What the CPU holds now, so an entry loads only what changed: the
	// data selectors, and KERNEL_GS_BASE (the guest's GS base while gohv
	// runs, swapped in by the entry's SWAPGS).
	selDS, selES, selFS, selGS uint16
	kgsBase                    uint64
	// The GDT window (desc_unsafe.go): its address, the PTEs of its 16
	// pages, and the guestCtx.gdtID its guest pages map now (0: none; the
	// entry maps a vCPU's when it differs).
	gdtVA    uintptr
	gdtPT    uintptr
	gdtOwner uint64

	entryStack [32]uint64 // IRET frame for guest entry; below it, the fast path's stack (guest_amd64.s fastSyscall)
	cur        uintptr    // index into threads of the running thread
	id         uintptr    // CPU number
	inTrap     uintptr    // 1 while trap() runs: a fault inside it is fatal at once
	inShim     uintptr    // 1 while the syscall shim runs
	ipis       uint64     // IPIs taken (ipiIRQ)
	runs       uint64     // switches to a kernel thread on this CPU (schedule)
	idleSP     uintptr    // the idle context's saved SP while a thread runs here (idleLoop)
	last       uintptr    // the thread that ran here last: round robin goes on after it
	touchPage  uintptr    // the page touch last found backed here, while releaseGen is touchGen (mem_unsafe.go)
	tickEarly  uint32     // 1 while the tick's count is changed (tickSoon, idleTimer, quietTimer) until tickRestore
	lastCtx    uintptr    // the guestCtx that last entered the guest here (noteEntry)
	touchGen   uint64

	// longTimer is 1 while the timer is set beyond the tick's period for
	// a guest that stays (quietTimer) until tickRestore: another CPU
	// that needs this one to schedule sooner sets resched and sends an
	// IPI (kick, sysTgkill; ipiIRQ takes it). Both under the shim lock
	// but for ipiIRQ's atomic swap of resched.
	longTimer, resched uint32
	// idleAt is when the idle timer fires (idleTimer), read while
	// idling is 1 (quietDeadline). Shim lock.
	idleAt int64
	// timerAt is when the local APIC timer fires next (nanotime; 0:
	// not known), kept by every write of its count and by each
	// expiry of the periodic tick (tickExpired), for deadlineTimer.
	// This CPU only, interrupts off.
	timerAt int64
	// deadlineTimers counts deadlineTimer's settings of the timer.
	// Written by this CPU, interrupts off; read racily (CPUStats).
	deadlineTimers uint64

	// tickled is 1 from a KickCPU of this CPU (any CPU sets it, before
	// the IPI) until ipiIRQ here takes it: fastEvent then leaves the IPI
	// to the Go path even with a kick pending, so the guest exits and
	// its vCPU's run loop asks the scheduler (the two IPIs may have
	// merged into one in the local APIC).
	tickled uint32

	// TLB shootdown (smp_unsafe.go). flushPending: the next guest entry
	// on this CPU reloads CR3, and guestCopy leaves the copy to the
	// software walk until then (RequestTLBFlush sets every CPU's;
	// guest_amd64.s reads and clears this CPU's). flushWant: the
	// newest shootdown generation asked of this CPU (raised atomically
	// by any CPU); flushDone: the newest it has carried out (only this
	// CPU writes it, in serviceFlush).
	flushPending uint32
	flushWant    uint64
	flushDone    uint64
	wbinvdWant   uint32 // 1: serviceFlush also writes back and invalidates the caches (FlushCaches)
	// CR3 writes on this CPU (each flushes the TLB; under QEMU's TCG it
	// empties the soft TLB too), by where: a guest entry that changes
	// tables or has a flush due (enterGuest), the fast path's switch
	// between a vCPU's two modes (fastCR3), and a shootdown's switch to
	// gohv's own tables (serviceFlush); and the guest copies a due flush
	// sent to the software walk (guestCopy). Only this CPU writes them,
	// with interrupts off; TLBCounts reads them.
	cr3Entry, cr3Fast, cr3Shoot, copyDeferred uint64
	// usingGuest is 1 while this CPU may translate through a guest's
	// tables: from Run's noteEntry until kickExit (the guest and the
	// fast path run), and during a guestCopy (guest_amd64.s). Only this
	// CPU writes it, with locked stores (XCHG) before it reads
	// flushPending; RequestTLBFlush sets flushPending (XCHG) before it
	// reads this, so a CPU it does not interrupt (0) finds its flag set
	// before its next use of guest translations.
	usingGuest uint32
	// loadedCR3 is the top level this CPU has loaded (0 or idleCR3:
	// gohv's own): set by GuestContext.Run before the entry loads a
	// guest's (with interrupts off, on this CPU), and by serviceFlush.
	// ReleaseTables shoots down only the CPUs that hold the table.
	// loadedAltCR3: while Run's vCPU has the fast path, the other
	// mode's top level, which guest_amd64.s's fastCR3 may load with no
	// return to Go (0: none; set and cleared with loadedCR3).
	loadedCR3    uint64
	loadedAltCR3 uint64

	// What the CPU reads on a transition to ring 0 (desc_unsafe.go): its
	// TSS, and the base of the four IST stacks (istSize each) the TSS
	// points at: IST1 exceptions and interrupts, IST2 NMI and #MC, IST3
	// #DF, IST4 #DB. CPU 0's are ist0, an AP's in the stack region.
	tss [hw.TSSSize / 8]uint64
	ist uintptr
}

// ist0 is CPU 0's IST stacks (see cpuState.ist).
var ist0 [4 * istSize]byte

// maxCPUs bounds the per-CPU tables.
const maxCPUs = hw.MaxCPUs

var cpus [maxCPUs]cpuState

// thisCPU returns the running CPU's cpuState (GS:0). The answer stays
// true only while the caller cannot move to another CPU: with interrupts
// off (the shim, the interrupt paths), or for a racy report.
//
//go:nosplit
func thisCPU() *cpuState {
	return (*cpuState)(unsafe.Pointer(cpuSelf()))
}

// cpuInit sets up CPU id's state and points GS_BASE at it.
//
//go:nosplit
func cpuInit(id int) {
	c := &cpus[id]
	c.self = uintptr(unsafe.Pointer(c))
	c.id = uintptr(id)
	c.entryTop = uintptr(unsafe.Pointer(&c.entryStack[len(c.entryStack)-1]))
	amd64.WriteGSBase(uint64(c.self))
}
