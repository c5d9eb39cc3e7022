package rt

import (
	"errors"
	"math/bits"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/gohv/gohv/arch"
	"github.com/gohv/gohv/arch/amd64"
	"github.com/gohv/gohv/arch/amd64/hw"
)

// sysGuestIRQ is gohv's system call for an interrupt that arrived while a
// guest ran (GuestContext.Run makes it): the shim acknowledges and serves it as if
// it had interrupted the vCPU's thread, so a timer tick also lets other
// threads run. Args: the vector, the time (nanotime) until which a
// quiet tick may go back to the guest (SetQuietFor; 0: none may), and
// the signal count Run saw (quietTick); it returns 1 if the guest may go
// on (guestIRQ).
const sysGuestIRQ = 1101

var (
	// goMXCSR is the MXCSR Go code runs with (the power-on value: all
	// exceptions masked, round to nearest); guest_amd64.s loads it at
	// every exit.
	goMXCSR uint32 = 0x1F80
	// segFixup (guest_amd64.s): segLoad, segLoadEnd, segFault.
	segFixup [3]uintptr
	// copyFixup (guest_amd64.s): guestCopyMove, guestCopyFault,
	// guestCopyMoveEnd.
	copyFixup [3]uintptr
	// smapOn is 1 once CR4.SMAP is on: guestCopy brackets its access with
	// STAC/CLAC (which fault without SMAP).
	smapOn uint8
)

// guestCopy copies n bytes between gohv memory and guest virtual memory
// through the loaded tables, if they are cr3's (guest_amd64.s).
func guestCopy(dst, src, n uintptr, cr3 uint64) bool

// CopyFromGuest copies len(dst) bytes from guest virtual address va
// through the page tables at machine address cr3, by the CPU's own page
// walk, as Xen's copy_from_guest does; it works only while those tables
// are the loaded ones (after that vCPU's exit, until another guest runs).
// ok false means it did not copy everything: other tables loaded, a TLB
// flush due on this CPU, va not a guest address, or a fault (not present,
// not writable); the caller then
// walks the tables in software for the exact answer. Any goroutine.
func CopyFromGuest(dst []byte, va, cr3 uint64) bool {
	if len(dst) == 0 {
		return true
	}
	if !hw.GuestRange(va, len(dst)) {
		return false
	}
	return guestCopy(uintptr(unsafe.Pointer(&dst[0])), uintptr(va), uintptr(len(dst)), cr3)
}

// CopyToGuest copies src to guest virtual address va, as CopyFromGuest
// reads: a page the guest maps read-only faults (CR0.WP), so it is never
// written.
func CopyToGuest(va uint64, src []byte, cr3 uint64) bool {
	if len(src) == 0 {
		return true
	}
	if !hw.GuestRange(va, len(src)) {
		return false
	}
	return guestCopy(uintptr(va), uintptr(unsafe.Pointer(&src[0])), uintptr(len(src)), cr3)
}

// enterGuest runs the vCPU ctx describes until it exits (guest_amd64.s).
func enterGuest(ctx *guestCtx)

// GuestContext is one vCPU's state on the metal: its FPU image and what
// the entry and exit assembly keep about it. Make it with NewGuestContext;
// only the vCPU's own goroutine, locked to its thread, may use it.
type GuestContext struct {
	c guestCtx
	// inGuest is the TSC ticks spent in the guest (entry to exit, the
	// fast path's work included), slot the thread slot that ran it last,
	// and run, ready and moves that thread's account (kthread's runTSC,
	// its current run included, readyTSC and migrations) as each Run
	// ended, less what it had at the first Run (base: the thread may
	// have run other goroutines before the vCPU's locked itself to it):
	// the vCPU's account (Account), which outlives the thread. Written
	// by Run, read racily.
	inGuest, slot, run, ready, moves uint64
	base                             *[3]uint64
}

// GuestAccount is a vCPU's time on the metal (GuestContext.Account).
type GuestAccount struct {
	InGuest time.Duration // in the guest, from each entry to its exit
	Slot    int           // the kernel thread that runs it: ThreadAccount.Slot
	// Run, Ready and Migrations are that thread's ThreadAccount figures
	// at the vCPU's last return from Run (its goroutine is locked to it).
	Run, Ready time.Duration
	Migrations uint64
}

// Account reports the vCPU's time in the guest and its thread's. Any
// goroutine (a racy snapshot; for reports).
func (g *GuestContext) Account() GuestAccount {
	return GuestAccount{InGuest: tscDuration(atomic.LoadUint64(&g.inGuest)), Slot: int(atomic.LoadUint64(&g.slot)),
		Run: tscDuration(atomic.LoadUint64(&g.run)), Ready: tscDuration(atomic.LoadUint64(&g.ready)),
		Migrations: atomic.LoadUint64(&g.moves)}
}

// noteAccount copies the running thread's account into g (Account), as
// of TSC reading tsc (taken on this CPU, me). Context: Run, interrupts
// off.
//
//go:nosplit
func (g *GuestContext) noteAccount(me *cpuState, tsc uint64) {
	t := &threads[me.cur]
	b := g.base
	atomic.StoreUint64(&g.slot, uint64(t.slot))
	atomic.StoreUint64(&g.run, t.runTSC+(tsc-t.onSince)-b[0])
	atomic.StoreUint64(&g.ready, t.readyTSC-b[1])
	atomic.StoreUint64(&g.moves, t.migrations-b[2])
}

// accountBase records the running thread's account at the vCPU's first
// Run (noteAccount counts from there). Context: Run, interrupts on, the
// goroutine locked to its thread.
func (g *GuestContext) accountBase() {
	b := new([3]uint64)
	amd64.Cli()
	t := &threads[thisCPU().cur]
	b[0], b[1], b[2] = t.runTSC+(amd64.Rdtsc()-t.onSince), t.readyTSC, t.migrations
	sti()
	g.base = b
}

// NewGuestContext returns the context of a vCPU that has not run yet: its
// FPU state is the CPU's power-on state (FCW 0x37F, MXCSR 0x1F80).
func NewGuestContext() *GuestContext {
	g := new(GuestContext)
	g.c.fx = alignUp(uintptr(unsafe.Pointer(&g.c.fxBuf[0])), 16)
	copyFX(g.c.fx, alignUp(uintptr(unsafe.Pointer(&initFX[0])), 16))
	g.c.fxLoad = 1
	g.c.cr4 = hostCR4()
	g.SetGDT(nil)
	return g
}

// gdtIDs hands out guestCtx.gdtID values.
var gdtIDs atomic.Uint64

// SetGDT gives the vCPU the GDT whose frames are at machine addresses
// frames (at most 14, each a validated descriptor page: hv's set_gdt):
// the next entry maps them in the CPU's GDT window, where selectors
// below 0xe000 find them; the rest of the guest's part is not present.
// Whatever the window mapped before stops being used at that entry, and
// no guest runs before it, so the caller may release the old frames once
// SetGDT returns. Context: the vCPU's goroutine.
func (g *GuestContext) SetGDT(frames []uint64) {
	c := &g.c
	for i := range c.gdtPTE {
		c.gdtPTE[i] = gdtEmptyPTE()
		if i < len(frames) {
			c.gdtPTE[i] = hw.DataPTE(frames[i], nxBit)
		}
	}
	atomic.StoreUint64(&c.gdtID, gdtIDs.Add(1))
}

// Errors of GuestContext.Run: state that cannot be entered.
var (
	ErrGuestTables   = errors.New("rt: guest page tables misaligned, beyond the direct map, or lacking the hypervisor's L4 entries")
	ErrGuestAddress  = errors.New("rt: non-canonical segment base")
	ErrGuestSelector = errors.New("rt: ring-0 CS or SS")
)

// Run runs the vCPU in ring 3 with regs on the page tables at machine
// address cr3 (a top level carrying HypervisorL4Slots) until it exits,
// and says why in exit. ts runs it with CR0.TS set, so its first FPU
// instruction exits with #NM. regs is loaded before and saved after
// (RFLAGS as the guest may have it: IF set, IOPL 0). An interrupt that
// stops the guest has been served when Run returns.
//
// A non-canonical RIP is not entered: Run reports the #GP(0) the return
// to it raises, as an exception exit (regs unchanged); so is a CS or SS
// the IRETQ could not load from the vCPU's GDT (not null, not the LDT, a
// code segment / writable data segment with DPL 3, present): the #GP or
// #NP with the selector (RPL clear) as error code. An entry a Kick got
// to first is not made: Run returns at once with a zero Exit (nothing
// ran; the caller looks at the vCPU's events and calls again). Run
// fails, entering nothing, if the state cannot be entered. A tick of the
// CPU's LAPIC timer that stops the guest while SetQuietFor allows is a
// quiet tick if the shim has nothing for this CPU (guestIRQ): Run enters
// the guest again at once instead of returning. Context:
// the vCPU's goroutine, locked to its OS thread (runtime.LockOSThread),
// which keeps the guest's x87 state between runs.
func (g *GuestContext) Run(regs *arch.Regs, cr3 uint64, ts bool, exit *arch.Exit) error {
	c := &g.c
	// The generation is read before the check, so a release during it
	// makes the next Run check again.
	if gen := atomic.LoadUint32(&tablesGen); cr3 != c.checkedCR3 || c.checkedGen != gen {
		if !hasHypervisorSlots(cr3) {
			return ErrGuestTables
		}
		c.checkedCR3, c.checkedGen = cr3, gen
	}
	if !arch.Canonical(regs.FSBase) || !arch.Canonical(regs.GSBase) {
		return ErrGuestAddress
	}
	if !arch.Canonical(regs.RIP) {
		// IRETQ (and SYSRET) fault on a non-canonical return address in
		// ring 0, before anything of the guest is loaded; Xen's iret
		// fixup reflects that fault into the guest as its own: #GP(0)
		// at the RIP. That is the exit, without entering. A
		// non-canonical RSP is entered as it is: neither instruction
		// checks it, and the guest's first stack access faults in ring 3.
		*exit = arch.Exit{Kind: arch.ExitException, Vector: arch.VecGP}
		return nil
	}
	if regs.CS&3 != 3 || regs.SS&3 != 3 {
		return ErrGuestSelector
	}
	regs.RFLAGS = hw.GuestRFLAGS(regs.RFLAGS)
	c.regs = uintptr(unsafe.Pointer(regs))
	c.hostFS = amd64.Rdmsr(amd64.MSR_FS_BASE) // this thread's TLS, whichever CPU it is on
	c.cr3 = cr3
	c.ts = 0
	if ts {
		c.ts = 1
	}
	c.sysret = 0
	if hw.SysretOK(regs.CS, regs.SS, regs.RIP, regs.RFLAGS, regs.RCX, regs.R11) {
		c.sysret = 1
	}
	c.fastBounces, c.fastIrets, c.fastFaults, c.fastEvents = 0, 0, 0, 0
	c.fastHypercalls, c.stackSet, c.sshotSet = 0, 0, 0
	if c.fast != 0 && cr3 != c.kernelCR3 && cr3 != c.userCR3 {
		c.fast = 0 // not the tables SetFastPath was given
	}

	if g.base == nil {
		g.accountBase()
	}
	c.quietTicks, c.quietEnd, c.quietMax = 0, 0, 0

	// Interrupts stay off from here until the exit's interrupt, if any,
	// has been served: the thread cannot move to another CPU before its
	// EOI reaches the local APIC that took the interrupt (enterGuest
	// returns with the flags it was called with).
	amd64.Cli()
	// me is this CPU until the shim's guestIRQ below, which may switch
	// threads (and this one then come back elsewhere).
	me := thisCPU()
	threads[me.cur].devTaker = c.takeDev != 0
	// One TSC reading, on this CPU, serves the quiet time, the first
	// deadline check, the account and the start of the guest time
	// (inGuest: the entry is a few hundred instructions on).
	tsc := amd64.Rdtsc()
	now := tscTime(tsc)
	if c.quietNs > 0 {
		c.quietMax = now + c.quietNs
		c.quietEnd = c.quietMax
		if c.deadline != 0 && c.deadline < c.quietEnd {
			c.quietEnd = c.deadline
		}
	}
	for {
		if c.deadline != 0 && !deadlineTimer(c, me, now) {
			// The deadline came (before the first entry, or during a
			// quiet tick): nothing more is entered.
			g.noteAccount(me, tsc)
			sti()
			*exit = arch.Exit{}
			return nil
		}
		if !kickEntry(c, me) {
			g.noteAccount(me, tsc)
			sti()
			*exit = arch.Exit{}
			return nil
		}
		alt := uint64(0)
		if c.fast != 0 {
			alt = c.kernelCR3 ^ c.userCR3 ^ c.cr3 // the mode's other table
		}
		noteEntry(c, me, c.cr3, alt)
		devEntry()
		enterGuest(c)
		t1 := amd64.Rdtsc()
		atomic.AddUint64(&g.inGuest, t1-tsc)
		tsc = t1
		kicked := kickExit(c, me)
		if c.exitKind != exitInterrupt {
			break
		}
		stay := uintptr(0)
		if (c.vector == vecPIC || c.vector == vecIPI) && !kicked {
			stay = uintptr(c.quietEnd) // an IPI may be a tick brought forward (guestIRQ)
		}
		// Raw: the runtime must not run (nor park this thread) with
		// interrupts off; the shim returns with them still off.
		if r, _, _ := syscall.RawSyscall6(sysGuestIRQ, uintptr(c.vector), stay, uintptr(c.sigSeen), c.takeDev, 0, 0); r == 0 {
			break
		}
		// A quiet tick: the guest goes on where it was stopped, in the
		// mode and on the tables it was in (c.cr3: the fast path may
		// have switched them), through IRETQ unless SYSRET restores
		// the same state.
		c.quietTicks++
		me = thisCPU()
		tsc = amd64.Rdtsc()
		now = tscTime(tsc)
		regs.RFLAGS = hw.GuestRFLAGS(regs.RFLAGS)
		c.sysret = 0
		if hw.SysretOK(regs.CS, regs.SS, regs.RIP, regs.RFLAGS, regs.RCX, regs.R11) {
			c.sysret = 1
		}
	}

	// Back to Go: a preemption request the runtime made before now
	// (its flag first, then the signal) is taken at the caller's next
	// function call; one after it makes a quiet tick an exit.
	c.sigSeen = atomic.LoadUint64(&sigSent[me.cur])

	*exit = arch.Exit{Kind: arch.ExitKind(c.exitKind)}
	switch c.exitKind {
	case exitException:
		exit.Vector, exit.ErrorCode, exit.CR2 = uint8(c.vector), c.errcode, c.cr2
		if c.vector == 1 {
			exit.DR6 = c.dr6
		}
	case exitInterrupt:
		exit.Vector = uint8(c.vector) // served (sysGuestIRQ) in the loop
	case exitSegments:
		exit.Kind = arch.ExitBadSelector
	case exitDebugLost:
		g.noteAccount(me, tsc)
		sti()
		*exit = arch.Exit{}
		return ErrDebugFrameLost
	}
	g.noteAccount(me, tsc)
	sti()
	return nil
}

// SetTakeDeviceIRQs says whether Run's caller takes the device vectors
// that stop the guest (TakeDeviceIRQs with TakenAtExit after an
// ExitInterrupt of a device vector, as Xen's do_IRQ sends the PIRQ on the
// CPU it came to): they then wake no other thread. Context: the vCPU's
// goroutine, before Run.
func (g *GuestContext) SetTakeDeviceIRQs(on bool) { g.c.takeDev = b2u(on) }

// SetQuietFor lets the next Run keep the guest running through the ticks
// of the next ns nanoseconds (from Run's start) instead of returning at
// each: the caller needs no tick of its own until then (its scheduler
// tickles the CPU when it must decide sooner: KickCPU, an exit). A tick
// stays in the guest only if the shim has nothing for this CPU either
// (guestIRQ: no thread to run here, no sleeper due, no signal for the
// vCPU's thread); the first that does not is Run's exit as before. One
// that stays sets the CPU's timer for the end of that time or the first
// sleeper's deadline, whichever comes first (quietTimer), so a busy
// guest takes no tick it does not need. 0 (or less): every tick is an
// exit. Context: the vCPU's goroutine, before Run.
func (g *GuestContext) SetQuietFor(ns int64) {
	g.c.quietNs = max(ns, 0)
}

// SetDeadline makes the next Run return by system time at (rt's clock:
// Uptime; 0: no deadline), or not enter the guest if it has come: an
// exit at the deadline, whose caller then fires what is due. The CPU's
// timer is set for it when it comes before the next tick
// (deadlineTimer); quiet ticks end there (SetQuietFor). Context: the
// vCPU's goroutine, before Run.
func (g *GuestContext) SetDeadline(at int64) { g.SetDeadlines(at, 0) }

// SetDeadlines is SetDeadline for the earlier of the vCPU's one-shot and
// periodic timer deadlines (0: not armed), whose caller then fires the
// timer that is due (hv's, sched.Waiter.FireDue), as Xen programs its
// timer for the vCPU's deadline. A VCPUOP_set_singleshot_timer the fast
// path serves during the Run (FastPath.Singleshot) replaces oneshot.
// Context: the vCPU's goroutine, before Run.
func (g *GuestContext) SetDeadlines(oneshot, periodic int64) {
	c := &g.c
	c.periodicAt = periodic
	c.deadline = oneshot
	if periodic != 0 && (oneshot == 0 || periodic < oneshot) {
		c.deadline = periodic
	}
}

// QuietTicks reports how many ticks the last Run took without returning.
// Context: the vCPU's goroutine, after Run.
func (g *GuestContext) QuietTicks() uint64 { return g.c.quietTicks }

// Kick makes the vCPU look at its events soon, as Xen's vcpu_kick: the
// caller has just made an upcall pending for it. If the vCPU is in the
// guest on another CPU, that CPU gets an IPI, so the guest exits at once
// and the caller of Run delivers the event before entering it again. If
// it is about to enter (between its caller's event check and the entry),
// the entry does not happen: Run returns at once with a zero Exit
// (nothing ran), and its caller looks at the events again. If it is in
// gohv (a hypercall, an exit being handled), nothing more is needed: its
// caller looks at the events before the next entry. It never blocks and
// never sends an IPI to this CPU (a vCPU in the guest here cannot be, as
// this goroutine runs here). It reports whether it sent an IPI. Any
// goroutine, any locks held.
func (g *GuestContext) Kick() (ipi bool) {
	c := &g.c
	// The flag first, then onCPU: Run stores onCPU, then reads the flag
	// (kickEntry). Both are locked operations (XCHG, a full barrier),
	// so either Run sees the flag or this sees onCPU, and the kick is
	// never lost.
	atomic.StoreUint32(&c.kick, 1)
	if atomic.LoadUint64(&c.onCPU) == 0 {
		return false
	}
	amd64.Cli()
	ipi = kickCPU(c)
	sti()
	return ipi
}

// KickCPU makes a guest running on CPU cpu exit soon, as Xen's scheduler
// raises SCHEDULE_SOFTIRQ on another CPU: the IPI, unless cpu is this CPU
// or not online. The vCPU there finds out why from whoever asked for it
// (the scheduler's tickle); if no guest runs there the IPI is a spurious
// wake-up. Any goroutine.
func KickCPU(cpu int) {
	if cpu < 0 || cpu >= maxCPUs || atomic.LoadUint32(&apOnline[cpu]) == 0 {
		return
	}
	amd64.Cli()
	if uintptr(cpu) != thisCPU().id {
		// The flag before the IPI: the guest's exit by the IPI (or by
		// an event kick's, if the two merged) sees it.
		atomic.StoreUint32(&cpus[cpu].tickled, 1)
		sendIPI(uintptr(cpu))
	}
	sti()
}

// kickCPU sends the IPI of Kick to the CPU the vCPU of c is in the guest
// on, unless it is none or this one, and reports whether it did. The IPI
// may arrive after the vCPU has left (a spurious exit of whatever runs
// there then): harmless. Context: interrupts off (sendIPI).
//
//go:nosplit
func kickCPU(c *guestCtx) bool {
	if o := atomic.LoadUint64(&c.onCPU); o != 0 && uintptr(o-1) != thisCPU().id {
		sendIPI(uintptr(o - 1))
		return true
	}
	return false
}

// kickEntry records that the vCPU of c enters the guest on this CPU and
// reports whether it may: false if a Kick came since the last check
// (the flag is cleared and the vCPU marked out of the guest again), so
// its caller looks at the events first. A Kick after this sees onCPU
// and sends the IPI, which waits in this CPU's local APIC until the
// guest runs with interrupts on and then makes it exit at once.
// Context: Run, interrupts off.
//
//go:nosplit
func kickEntry(c *guestCtx, me *cpuState) bool {
	atomic.StoreUint64(&c.onCPU, uint64(me.id)+1)
	if atomic.SwapUint32(&c.kick, 0) == 0 {
		return true
	}
	atomic.StoreUint64(&c.onCPU, 0)
	return false
}

// kickExit records that the vCPU of c has left the guest and forgets
// the kicks that came while it ran: its caller looks at the events
// before the next entry, and a Kick after this sets the flag again. It
// reports whether a kick came (so the exit is no quiet tick: Run returns
// for its caller to look). Before sysGuestIRQ, which may switch threads
// on this CPU. Context: Run, interrupts off.
//
//go:nosplit
func kickExit(c *guestCtx, me *cpuState) (kicked bool) {
	atomic.StoreUint32(&me.usingGuest, 0)
	atomic.StoreUint64(&c.onCPU, 0)
	return atomic.SwapUint32(&c.kick, 0) != 0
}

// FastPath is what the entry's assembly may do for a 64-bit PV vCPU
// without returning from Run (guest_amd64.s fastSyscall, fastFault and
// fastEvent): bounce a SYSCALL from guest user mode to the syscall
// callback, serve HYPERVISOR_iret from guest kernel mode, bounce a #PF to
// the trap table's handler, and serve a kick's IPI by delivering the
// event upcall, as hv/pv does, switching the
// mode, the GS bases and the page tables itself. The values are hv/pv's
// (its Fast), already checked against Xen's rules there.
type FastPath struct {
	Kernel             bool   // the vCPU is in guest kernel mode
	KernelCR3, UserCR3 uint64 // the top levels of the two modes (machine addresses; UserCR3 0: none, user mode is never entered here)
	VCPUInfo           uint64 // machine address of the vCPU's vcpu_info
	// Syscall is the syscall callback (0: SYSCALL from user mode exits),
	// SyscallMask its CALLBACKF_mask_events, SyscallFrame the guest
	// address its 56-byte bounce frame goes to.
	Syscall, SyscallFrame uint64
	SyscallMask           bool
	Iret                  bool // HYPERVISOR_iret may be served
	// PageFault is the trap table's #PF handler (0: every #PF exits),
	// PageFaultMask its interrupt flag (events masked on entry),
	// PageFaultFrame the guest address its 64-byte bounce frame goes to
	// from user mode (from kernel mode: below the interrupted RSP).
	PageFault, PageFaultFrame uint64
	PageFaultMask             bool
	// Event is the event callback (0: a kick's IPI always exits),
	// EventFrame the guest address its 56-byte bounce frame goes to from
	// user mode (from kernel mode: below the interrupted RSP).
	Event, EventFrame uint64
	// Singleshot lets VCPUOP_set_singleshot_timer for vCPU VCPUID be
	// served: the caller fires the vCPU's timers from the deadlines it
	// gives Run (SetDeadlines), and arms the one-shot timer at the
	// deadline FastSingleshot reports after Run.
	Singleshot bool
	VCPUID     uint32
	// XenVersion is xen_version(XENVER_version)'s answer, for the fast
	// path to give (0: that hypercall exits).
	XenVersion uint32
}

// SetFastPath gives the next Run the vCPU's fast path; nil (or tables
// that cannot be entered, or a vcpu_info beyond the direct map) turns it
// off, so every SYSCALL exits. Context: the vCPU's goroutine, before Run.
func (g *GuestContext) SetFastPath(f *FastPath) {
	c := &g.c
	c.fast = 0
	if f == nil || f.VCPUInfo >= directMapEnd-64 || f.VCPUInfo&7 != 0 {
		return
	}
	if gen := atomic.LoadUint32(&tablesGen); f.KernelCR3 != c.fastKernelCR3 || f.UserCR3 != c.fastUserCR3 || gen != c.fastGen {
		c.fastKernelCR3, c.fastUserCR3 = 0, 0
		if !hasHypervisorSlots(f.KernelCR3) || f.UserCR3 != 0 && !hasHypervisorSlots(f.UserCR3) {
			return
		}
		c.fastKernelCR3, c.fastUserCR3, c.fastGen = f.KernelCR3, f.UserCR3, gen
	}
	c.kernelCR3, c.userCR3 = f.KernelCR3, f.UserCR3
	c.info = dm(f.VCPUInfo)
	c.kernel = uint64(b2u(f.Kernel))
	c.syscallCB, c.syscallFrame, c.syscallMask = f.Syscall, f.SyscallFrame, uint64(b2u(f.SyscallMask))
	c.iret = uint64(b2u(f.Iret))
	c.pfCB, c.pfFrame, c.pfMask = f.PageFault, f.PageFaultFrame, uint64(b2u(f.PageFaultMask))
	if !arch.Canonical(f.PageFault) {
		c.pfCB = 0 // IRETQ to it would fault in ring 0
	}
	c.evCB, c.evFrame = f.Event, f.EventFrame
	if !arch.Canonical(f.Event) {
		c.evCB = 0
	}
	c.sshot, c.vcpuID = uint64(b2u(f.Singleshot)), uint64(f.VCPUID)
	c.xenVersion = uint64(f.XenVersion)
	c.fast = 1
}

// FastPathRan reports what the fast path did during the last Run: the
// SYSCALL bounces and irets it served, and the guest mode the vCPU is in
// now (regs hold the registers it is in that mode with). Context: the
// vCPU's goroutine, after Run.
func (g *GuestContext) FastPathRan() (bounces, irets uint64, kernel bool) {
	c := &g.c
	return c.fastBounces, c.fastIrets, c.kernel != 0
}

// FastHypercalls reports the hypercalls the fast path served during the
// last Run (guest_amd64.s fastHypercall: set_segment_base, stack_switch,
// VCPUOP_set_singleshot_timer and xen_version(XENVER_version)), and if a
// stack_switch was among them, the last one's stack selector (RPL 3 if
// it had RPL 0) and stack pointer, which the caller records as the
// vCPU's (its frames for bounces from user mode have already moved).
// Context: the vCPU's goroutine, after Run.
func (g *GuestContext) FastHypercalls() (n uint64, stackSet bool, ss, sp uint64) {
	c := &g.c
	return c.fastHypercalls, c.stackSet != 0, c.stackSS, c.stackSP
}

// FastSingleshot reports whether the fast path served a
// VCPUOP_set_singleshot_timer during the last Run, and the last one's
// deadline (system time, at least deadlineMin after the time it was
// served), which the caller makes its one-shot timer's (it may have come
// by now: Run has returned by it). The hypercall's count is in
// FastHypercalls'. Context: the vCPU's goroutine, after Run.
func (g *GuestContext) FastSingleshot() (at int64, ok bool) {
	c := &g.c
	return c.sshotAt, c.sshotSet != 0
}

// FastEvents reports the event upcalls the fast path delivered during
// the last Run (a kick's IPI served without an exit, fastEvent, or an
// event pending at the return of a hypercall it served,
// hypercallEvent). Context: the vCPU's goroutine, after Run.
func (g *GuestContext) FastEvents() uint64 { return g.c.fastEvents }

// FastFaults reports the page faults the fast path bounced during the
// last Run, and the address (CR2) of the last one.
// Context: the vCPU's goroutine, after Run.
func (g *GuestContext) FastFaults() (n, cr2 uint64) {
	c := &g.c
	return c.fastFaults, c.fastCR2
}

// noteEntry records that this CPU is about to load top level cr3 (every
// guest entry is Run's) and, while the fast path is on, alt, the other
// mode's top level, which guest_amd64.s's fastCR3 may load without a
// return to Go (0: none): ReleaseTables shoots down the CPUs that hold a
// table. And it has this CPU's TLB flushed at the entry (flushPending:
// CR3 is loaded even if equal) unless the vCPU of c is the last one to
// have entered here and entered nowhere else since, as Xen writes CR3 at
// a context switch: a vCPU that comes back to a CPU it left may have
// changed its tables elsewhere with only that CPU's flush, and another
// vCPU's translations here are not its own. The CPUs this vCPU entered
// on last and that hold its tables still flush before their next use of
// them (a guest copy there, should its thread move back, uses the TLB
// with the tables loaded). Two vCPUs that share tables on two CPUs at
// once do not flush each other's TLBs at every entry: a guest that
// changes shared tables flushes the other vCPUs itself (TLB_FLUSH_MULTI
// and its kin, which reach every CPU: flusher).
// Context: Run, interrupts off.
//
//go:nosplit
func noteEntry(c *guestCtx, me *cpuState, cr3, alt uint64) {
	// Before enterGuest reads flushPending (RequestTLBFlush's order).
	atomic.StoreUint32(&me.usingGuest, 1)
	atomic.StoreUint64(&me.loadedCR3, cr3)
	atomic.StoreUint64(&me.loadedAltCR3, alt)
	ctx := uintptr(unsafe.Pointer(c))
	if me.lastCtx != ctx || c.lastCPU != me.id+1 {
		atomic.StoreUint32(&me.flushPending, 1)
		me.lastCtx, c.lastCPU = ctx, me.id+1
	}
	for i, n := uintptr(0), uintptr(atomic.LoadUint32(&cpusUp)); i < n; i++ {
		if o := &cpus[i]; o != me && o.lastCtx == ctx && (o.holds(cr3) || alt != 0 && o.holds(alt)) {
			atomic.StoreUint32(&o.flushPending, 1)
		}
	}
}

// tablesGen counts ReleaseTables calls: a GuestContext trusts the top
// level it last checked (hasHypervisorSlots) only within one generation.
var tablesGen uint32

// hasHypervisorSlots reports whether the top-level table at machine address
// cr3 carries gohv's L4 entries: without them the first instruction after
// the CR3 switch faults with nowhere to go. (mm writes them when it
// validates an L4 and refuses guest writes to them, so a validated L4
// keeps them until it stops being one.)
func hasHypervisorSlots(cr3 uint64) bool {
	if cr3&(pageSize-1) != 0 || cr3 >= directMapEnd {
		return false
	}
	const ad = amd64.PTE_A | amd64.PTE_D // the CPU sets these as it walks
	l4 := dm(cr3)
	for _, s := range hw.GohvSlots {
		i := uintptr(s)
		if atomic.LoadUint64(word(l4+i*8))&^ad != atomic.LoadUint64(word(pml4+i*8))&^ad {
			return false
		}
	}
	return true
}

// guestIRQ serves an interrupt that stopped a guest, as irqTimer and
// irqDevice would have had it interrupted ring 0. A tick before
// quietEnd (nanotime; 0: none) that finds nothing for this CPU
// (quietTick) switches nothing, sets the timer for the rest of the quiet
// time (quietTimer) and reports true: the guest may go on; so does one
// after which the thread is back on this CPU with no signal sent to it
// meanwhile. An IPI that brings the tick forward (reschedCPU) is served
// as such a tick at once; any other IPI, and a device interrupt, are
// exits (takeDev: the device vector is left for Run's caller,
// guestDeviceIRQ). Context: the shim.
//
//go:nosplit
func guestIRQ(vector uint64, quietEnd int64, sigSeen uint64, takeDev bool) bool {
	c := thisCPU()
	switch vector {
	case vecPIC:
		lapicEOI()
		c.ticks++
		tickExpired(c)
	case vecIPI:
		if !ipiIRQ(true) {
			return false // no tick brought forward: an exit
		}
	default:
		guestDeviceIRQ(vector, takeDev)
		return false
	}
	tickRestore(c)
	now := nanotime()
	stay := quietEnd != 0 && now < quietEnd
	if stay && quietTick(c, sigSeen) {
		quietTimer(c, now, quietEnd)
		return true
	}
	schedule(true) // the tick slices time between kernel threads
	// Back on the vCPU's thread after the others had their turn: the
	// guest may still go on, on the same CPU, if no signal came meanwhile
	// (sysmon, which may have run, preempts by one).
	return stay && thisCPU() == c && atomic.LoadUint64(&sigSent[c.cur]) == sigSeen
}

// quietTick reports whether a tick that stopped the guest of this CPU's
// thread has nothing to do here: no other thread to run (pickThread,
// which first wakes the sleepers whose deadline passed: the runtime's
// sysmon, timers and netpoller sleep so), the thread may stay on this
// CPU, and no signal was sent to it since its Run last returned to Go
// (sigSeen: a runtime preemption request, sysmon's or a
// stop-the-world's, which the goroutine takes once back in Go). The Go
// runtime thus gets this CPU at the same ticks as before; only the
// vCPU's own return to Go is skipped. Context: the shim lock held,
// interrupts off.
//
//go:nosplit
func quietTick(c *cpuState, sigSeen uint64) bool {
	return atomic.LoadUint64(&sigSent[c.cur]) == sigSeen && threads[c.cur].mayRunOn(c.id) && pickThread(c, c.cur, c.cur) == noThread
}

// quietTimer sets the timer of a CPU whose tick stays in the guest
// (guestIRQ) for quietEnd or the first deadline of a sleeper no idle CPU
// wakes for first (quietDeadline), whichever comes first, when that is
// at least two tick periods away; nearer, the tick keeps its period.
// Nothing else needs this CPU's tick until then while its thread stays
// on it: a thread made runnable that no idle CPU takes waits for the
// CPU that made it runnable unless only this CPU may run it, and that
// one, and a signal for this CPU's thread, come with an IPI that brings
// the tick forward (cpuState.longTimer: kick, sysTgkill, ipiIRQ); a
// sleeper that blocks meanwhile blocks on another CPU, whose tick keeps
// its period (a switch of threads restores it: schedule) or whose idle
// timer counts it. Under an emulator each tick wakes the host's timer
// thread and stops the busy CPU's; Xen too programs its timer for the
// next deadline, not a period. Context: guestIRQ, the shim lock held,
// interrupts off.
//
//go:nosplit
func quietTimer(c *cpuState, now, quietEnd int64) {
	d := quietDeadline(c, quietEnd) - now
	if d < 2*tickNs {
		return
	}
	lapicWrite(hw.LAPIC_TMICT, hw.LAPICTimerCount(lapicHz, uint64(d)))
	c.tickEarly, c.longTimer, c.timerAt = 1, 1, now+d
}

// deadlineMin is the shortest time deadlineTimer sets the timer for: a
// deadline nearer than that is taken as come a little late rather than
// entered for a count that rounds to nothing (a zero count stops the
// timer).
const deadlineMin = 1000

// deadlineTimer readies this CPU's timer for the guest's deadline
// (SetDeadline) before an entry: false if the deadline has come (Run
// returns without entering: its caller fires what is due); otherwise,
// if the timer would fire later (timerAt), it is set to fire then
// (tickEarly: the tick's handling gives the period back), so the guest
// leaves at its deadline: the tick that stops it cannot stay, as
// quietEnd is no later. now is the time Run last read on this CPU, c.
// Context: Run's loop, interrupts off.
//
//go:nosplit
func deadlineTimer(g *guestCtx, c *cpuState, now int64) bool {
	if now >= g.deadline {
		return false
	}
	if c.timerAt == 0 || g.deadline < c.timerAt {
		d := max(g.deadline-now, deadlineMin)
		lapicWrite(hw.LAPIC_TMICT, hw.LAPICTimerCount(lapicHz, uint64(d)))
		c.tickEarly, c.timerAt = 1, now+d
		atomic.AddUint64(&c.deadlineTimers, 1)
	}
	return true
}

// quietDeadline is the earlier of end and the first deadline of the
// sleepers (exact after quietTick's pickThread) that no other CPU wakes
// for by then: one that is idling, may run the sleeper and whose idle
// timer fires at or before its deadline (cpuState.idleAt) wakes and
// looks again (idleLoop), so it takes the sleeper or sets its timer for
// it. Context: the shim lock held, interrupts off.
//
//go:nosplit
func quietDeadline(c *cpuState, end int64) int64 {
	if timedFirst >= end {
		return end
	}
	for s := timedMask; s != 0; s &= s - 1 {
		t := &threads[bits.TrailingZeros64(s)]
		if t.deadline >= end {
			continue
		}
		covered := false
		for i := uintptr(0); i < maxCPUs && !covered; i++ {
			o := &cpus[i]
			covered = i != c.id && o.idling != 0 && o.idleAt <= t.deadline && t.mayRunOn(i)
		}
		if !covered {
			end = t.deadline
		}
	}
	return end
}

// RequestTLBFlush flushes every CPU's TLB of guest translations, as
// Xen's flush_tlb_mask does before a hypercall that changed mappings
// returns: every other online CPU that is using guest translations now
// (usingGuest: running a guest, or in a guestCopy) at once, by an IPI
// each (one running a guest exits to take it, and its next entry loads
// the tables again), and returns once all have; every other CPU, and
// this one, before it next uses guest translations (flushPending: its
// next entry reloads CR3, and gohv's one access through guest mappings,
// CopyFromGuest/CopyToGuest, refuses until then). Xen filters its
// mask by the CPUs' flush times (tlbflush_filter); an idle CPU here is
// not woken at all. A vCPU may run on any CPU, and a CPU keeps a guest's
// translations after its exit, so a changed mapping or a freed or
// retyped frame is safe to reuse once this returns. Context: a goroutine
// (it waits with interrupts on).
func RequestTLBFlush() {
	for i := range cpus {
		atomic.StoreUint32(&cpus[i].flushPending, 1)
	}
	if !othersOnline() {
		return
	}
	g, _, _ := syscall.RawSyscall(sysTLBShootdown, 0, 0, 0)
	for g != 0 && !flushedAll(uint64(g)) {
		amd64.Pause() // interrupts on: this CPU takes others' requests as IPIs
	}
}

// sysShootdownOthers starts a shootdown on every online CPU but this one
// that is using guest translations (RequestTLBFlush has set every CPU's
// flushPending before) and returns the generation to wait for (0: no
// such CPU). Context: the shim.
//
//go:nosplit
func sysShootdownOthers() uintptr {
	mask := onlineMask() &^ (1 << thisCPU().id)
	for i := uintptr(0); i < maxCPUs; i++ {
		if mask&(1<<i) != 0 && atomic.LoadUint32(&cpus[i].usingGuest) == 0 {
			mask &^= 1 << i
		}
	}
	if mask == 0 {
		return 0
	}
	return uintptr(requestFlushOf(mask))
}

// FlushLocal flushes the TLB the vCPU's translations are in, as Xen's
// flush_tlb_local for the CPU a vCPU runs on (MMUEXT_TLB_FLUSH_LOCAL): the
// CPU the vCPU last entered the guest on and the one this goroutine runs
// on now reload CR3 before their next guest entry, and no guest copy
// there uses the TLB until then (flushPending), with no IPI and no wait.
// No other CPU needs it: one the vCPU entered before flushes before it
// enters there again (noteEntry: it entered elsewhere since), and no
// guest copy there uses its TLB (noteEntry set its flag if it still held
// the vCPU's tables), and another vCPU's
// translations of the same tables are the guest's to flush. Context: the
// vCPU's goroutine.
func (g *GuestContext) FlushLocal() {
	c := &g.c
	amd64.Cli()
	atomic.StoreUint32(&thisCPU().flushPending, 1)
	if l := c.lastCPU; l != 0 {
		atomic.StoreUint32(&cpus[l-1].flushPending, 1)
	}
	sti()
}

// TLBCounts returns the CR3 writes of every CPU since boot, by where
// (cpuState: guest entries, the fast path's mode switches, shootdowns),
// the guest copies a due flush sent to the software walk, and the IPIs
// taken, for a debug line. The counts are read while other CPUs may add
// to them (one behind is harmless). Any goroutine.
func TLBCounts() (entry, fast, shoot, deferred, ipis uint64) {
	for i := range cpus {
		c := &cpus[i]
		entry += atomic.LoadUint64(&c.cr3Entry)
		fast += atomic.LoadUint64(&c.cr3Fast)
		shoot += atomic.LoadUint64(&c.cr3Shoot)
		deferred += atomic.LoadUint64(&c.copyDeferred)
		ipis += atomic.LoadUint64(&c.ipis)
	}
	return
}

// InvalidatePage drops the translation of va (a guest virtual address)
// from this CPU's TLB now, and has every other CPU flush before a guest
// runs there again (the vCPU, or its thread, may have run there).
func InvalidatePage(va uint64) {
	if !arch.Canonical(va) {
		return
	}
	amd64.Cli()
	me := thisCPU()
	amd64.Invlpg(va)
	for i := range cpus {
		if c := &cpus[i]; c != me {
			atomic.StoreUint32(&c.flushPending, 1)
		}
	}
	sti()
}

// ReleaseTables is told that the top-level table at machine address cr3
// is no longer one (its last L4 type reference went): every CPU that
// still has it loaded or may load it (cpuState.holds) loads gohv's own tables
// instead, since the frame may be reused for anything, and ReleaseTables
// returns once all have. Any goroutine.
func ReleaseTables(cr3 uint64) {
	atomic.AddUint32(&tablesGen, 1)
	g, _, _ := syscall.RawSyscall(sysShootdown, uintptr(cr3), 0, 0)
	for g != 0 && !flushedAll(uint64(g)) {
		amd64.Pause() // interrupts on: this CPU takes its own requests as IPIs
	}
}

// sysReleaseTables starts a shootdown on the CPUs that have top level
// cr3 loaded (this one's served at once) and returns the generation to
// wait for (0: none has it). Context: the shim.
//
//go:nosplit
func sysReleaseTables(cr3 uint64) uintptr {
	var mask uint64
	for i := 0; i < maxCPUs; i++ {
		if cpus[i].holds(cr3) {
			mask |= 1 << i
		}
	}
	if mask == 0 {
		return 0
	}
	return uintptr(requestFlushOf(mask))
}

// HypervisorL4Slots returns the entries every guest top-level table must
// hold in L4 slots 256-271 (Xen's reserved range), 0 where gohv has
// none: slot 256 is the M2P's, which hv adds.
func HypervisorL4Slots() [16]uint64 { return hypervisorSlots() }

//go:nosplit
func copyFX(dst, src uintptr) {
	d := (*[64]uint64)(unsafe.Pointer(dst))
	s := (*[64]uint64)(unsafe.Pointer(src))
	*d = *s
}
