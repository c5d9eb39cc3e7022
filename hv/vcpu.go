package hv

import (
	"fmt"
	"sync/atomic"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/arch"
	"github.com/gohv/gohv/hv/pv"
	"github.com/gohv/gohv/hypercall"
	"github.com/gohv/gohv/internal/klog"
	"github.com/gohv/gohv/mm"
	"github.com/gohv/gohv/sched"
)

// VCPU is one virtual CPU of a domain. It implements hypercall.VCPU. All of
// it is owned by the vCPU's goroutine (Run), except what the waiter and the
// event-channel table guard themselves.
type VCPU struct {
	dom    *Domain
	id     int
	Regs   arch.Regs
	tables mm.VCPUTables
	waiter *sched.Waiter
	guest  hypercall.SpaceGuest
	caller hypercall.Caller
	args   hypercall.Args // the hypercall being dispatched (heap: handlers get a pointer)
	pv     *pv.VCPU       // the PV execution model's state of this vCPU
	st     vcpuState      // runstate, registered areas, vcpu_info frame (vcpuop.go)
	// userGuest is guest memory through the user page tables
	// (userTables: the user top level as a kernel one), made afresh at
	// each use by pvMemory; the vCPU's goroutine only.
	userGuest  hypercall.SpaceGuest
	userTables mm.VCPUTables
	// bufs are the hot paths' copies to guest memory (a local array
	// passed to memory behind an interface escapes to the heap on every
	// call). The vCPU's goroutine only; each never held across a call
	// that uses another.
	bufs struct {
		info     [8]byte  // vcpu_info's upcall mask or CR2
		time     [24]byte // vcpu_time_info's body (UpdateTime)
		version  [4]byte  // a version word (writeVersioned, writeTimeArea)
		runstate [48]byte // the runstate area (writeRunstateArea)
	}
	// sched is the vCPU in the machine's scheduler; pcpu is the physical
	// CPU its goroutine's thread was last moved to (-1: none yet). Owned
	// by the vCPU's goroutine.
	sched *sched.VCPU
	pcpu  int

	// BackendState is the metal's per-vCPU context (its FPU image); the
	// Backend owns it.
	BackendState any

	exits [5]uint64 // by arch.ExitKind; [0]: entries a kick refused (a zero Exit)
	stats exitStats // exits served in Go, by vector and hypercall (exitstats.go)
	// kickIPIs counts the kicks that sent an IPI (kicker; any goroutine).
	kickIPIs atomic.Uint64
	// fastBounces and fastIrets count the SYSCALL bounces and irets the
	// metal's fast path served without an exit (FastPathRan); read by
	// FastPathHits from any goroutine.
	fastBounces, fastIrets atomic.Uint64
	// fastFaults counts the page faults the fast path bounced
	// (FastFaultRan); read by FastPathHits from any goroutine.
	fastFaults atomic.Uint64
	// fastEvents counts the event upcalls the fast path delivered on a
	// kick (FastEventsRan); read by FastEvents from any goroutine.
	fastEvents atomic.Uint64
	// fastHypercalls counts the hypercalls the fast path served
	// (FastHypercallsRan); read by FastPathHits from any goroutine.
	fastHypercalls atomic.Uint64

	// sleeping is true while the vCPU sleeps in its waiter (SCHEDOP_block
	// or poll; waiterState): a kick then only wakes it.
	sleeping atomic.Bool

	// timeDue asks for vcpu_time_info to be rewritten before the next
	// entry; timeAt is the system time it was last written with. Owned by
	// the vCPU's goroutine.
	timeDue bool
	timeAt  int64
	// runOneshot and runPeriodic are the one-shot and periodic timers'
	// deadlines the guest's next run must end by (Waiter.FireDue before
	// the entry; 0: none). Owned by the vCPU's
	// goroutine.
	runOneshot, runPeriodic int64
}

// ID, Waiter, Tables, Flusher and Preempt implement hypercall.VCPU.
func (v *VCPU) ID() int                { return v.id }
func (v *VCPU) Waiter() *sched.Waiter  { return v.waiter }
func (v *VCPU) Tables() *mm.VCPUTables { return &v.tables }
func (v *VCPU) Flusher() mm.Flusher    { return flusher{v} }
func (v *VCPU) Domain() *Domain        { return v.dom }

// Preempt reports whether a long hypercall should stop at its next
// continuation point: an event is to be delivered (the vCPU's timers,
// fired here if due, as Xen's timer interrupt fires during the
// hypercall) or the slice is over.
func (v *VCPU) Preempt() bool {
	v.waiter.FireDue()
	return v.eventsNeedDelivery() || v.sliceOver()
}

// sliceOver reports whether the vCPU's time slice is over and another
// vCPU waits for its CPU (or its cap's budget is spent, or its affinity
// moved): a long hypercall then stops at its continuation, and Run gives
// the CPU up before the next entry. The vCPU's goroutine.
func (v *VCPU) sliceOver() bool { return v.sched.ShouldYield() }

// takeCPU gets the vCPU a physical CPU from the scheduler before it runs
// (at once if it holds one whose slice goes on), moving its goroutine's
// thread there if it is another than last time; while it must wait it is
// runnable (runstate: a vCPU waking to a CPU it gets at once goes from
// blocked to running, the moment in between counted as blocked), and
// after it did not simply keep its CPU its time info is rewritten before
// the entry; the caller then has the periodic timer catch up
// (Waiter.Scheduled: the Run loop; the waiter itself after a sleep), as
// when Xen schedules a vCPU in. While it waits queued, its
// thread is bound to no CPU, so that the CPU it is given can run it at
// once, instead of its last CPU having to first; a vCPU given a CPU at
// once (TryEnter: a wake-up to an idle CPU, most often its last) keeps
// its binding, with no system call when the CPU is its last. It reports
// whether the vCPU did not simply keep its CPU. The vCPU's goroutine.
func (v *VCPU) takeCPU() (waited bool) {
	cpu, waited, ok := v.sched.TryEnter()
	if !ok {
		v.setRunstate(abi.RUNSTATE_runnable)
		if f := v.dom.m.cfg.SetCPU; f != nil && v.pcpu >= 0 {
			v.pcpu = -1
			f(-1)
		}
		var w bool
		cpu, w = v.sched.Enter() // w false if a CPU came meanwhile
		waited = waited || w
	}
	if cpu != v.pcpu {
		v.pcpu = cpu
		if f := v.dom.m.cfg.SetCPU; f != nil {
			f(cpu)
		}
	}
	if waited {
		v.timeDue = true
	}
	return waited
}

// Exits reports how many exits of each kind the vCPU has taken.
func (v *VCPU) Exits() (syscalls, exceptions, interrupts uint64) {
	return v.exits[arch.ExitSyscall], v.exits[arch.ExitException], v.exits[arch.ExitInterrupt]
}

// flusher performs the PV MMU's TLB maintenance for a vCPU through the
// Backend, as Xen's flush_tlb_mask over the CPUs the target vCPUs run on:
// a local flush or INVLPG, or one for a mask (TLB_FLUSH_MULTI,
// INVLPG_MULTI, UVMF_MULTI) that names only the caller, is the calling
// vCPU's CPU's (Backend.FlushLocalTLB, InvalidatePage: no other CPU is
// interrupted, as Xen's flush_tlb_local); one for all vCPUs, or for a
// mask that names another vCPU of the domain, is Backend.FlushTLB, which
// flushes every other CPU before it returns and this one before a guest
// runs here again (a full flush stands in for an INVLPG on the others);
// a mask that names none of the domain's vCPUs flushes nothing. vCPUs
// that share one physical CPU share its TLB, so the local flush is
// theirs too.
type flusher struct{ v *VCPU }

func (f flusher) ReadVCPUMask(h abi.GuestHandle) ([]uint64, bool) {
	n := (len(f.v.dom.vcpus) + 63) / 64
	b := make([]byte, 8*n)
	if !f.v.guest.CopyFromGuest(b, mm.GuestVA(h)) {
		return nil, false
	}
	mask := make([]uint64, n)
	for i := range mask {
		for j := 0; j < 8; j++ {
			mask[i] |= uint64(b[8*i+j]) << (8 * j)
		}
	}
	return mask, true
}

// reach reports whether t reaches the calling vCPU (self) and any other
// vCPU of the domain (others): Local only the caller, All every vCPU,
// Multi the vCPUs its mask names.
func (f flusher) reach(t mm.FlushTarget) (self, others bool) {
	switch t.Scope {
	case mm.FlushLocal:
		return true, false
	case mm.FlushMulti:
		for i := range f.v.dom.vcpus {
			if i/64 < len(t.Mask) && t.Mask[i/64]&(1<<(i%64)) != 0 {
				if i == f.v.id {
					self = true
				} else {
					others = true
				}
			}
		}
		return self, others
	}
	return true, true
}

func (f flusher) FlushTLB(t mm.FlushTarget) {
	switch self, others := f.reach(t); {
	case others:
		f.countAll(t)
		f.v.dom.m.cfg.Backend.FlushTLB()
	case self:
		f.v.stats.localFlushes++
		f.v.dom.m.cfg.Backend.FlushLocalTLB(f.v)
	}
}

func (f flusher) InvalidatePage(t mm.FlushTarget, va mm.GuestVA) {
	self, others := f.reach(t)
	b := f.v.dom.m.cfg.Backend
	if self {
		f.v.stats.invlpgs++
		b.InvalidatePage(va)
	}
	if others {
		f.countAll(t)
		b.FlushTLB()
	}
}

// countAll counts a flush of every CPU for target t (exitStats).
func (f flusher) countAll(t mm.FlushTarget) {
	if t.Scope == mm.FlushMulti {
		f.v.stats.maskFlushes++
	} else {
		f.v.stats.allFlushes++
	}
}

func (f flusher) FlushCache(global bool) { f.v.dom.m.cfg.Backend.FlushCache(global) }

// Run runs the vCPU until its domain stops: it enters the guest through
// the Backend and handles every exit. It must run on a goroutine the
// Backend keeps on one OS thread.
//
// Started through UpVCPU (Config.StartVCPU), it runs while the vCPU is up
// and parks while it is down (VCPUOP_down). Called directly, it first
// marks the vCPU up itself.
func (v *VCPU) Run() {
	d := v.dom
	b := d.m.cfg.Backend
	d.vcpuMu.Lock()
	if !v.st.started {
		v.st.started = true
		v.st.down.Store(false)
	}
	d.vcpuMu.Unlock()
	v.waiter.Scheduled()
	v.timeDue = true
	defer v.setRunstate(abi.RUNSTATE_offline)
	defer v.sched.Sleep()
	for !d.Stopped() {
		if v.st.down.Load() {
			v.sched.Sleep()
			if !v.parkDown() {
				return
			}
			continue
		}
		// The scheduler's say before each entry: the CPU is kept, or
		// given up to a waiter and waited for (a slice over, a yield),
		// in which time the domain may have stopped or the vCPU been
		// taken down (VCPUOP_down): the loop's checks come first then.
		if cpu, ok := v.sched.Kept(); !ok || cpu != v.pcpu {
			if v.takeCPU() {
				v.waiter.Scheduled()
				if d.Stopped() || v.st.down.Load() {
					continue
				}
			}
		}
		v.scheduledIn()
		// The one-shot and periodic timers, if due, raise VIRQ_TIMER
		// here, on the vCPU's thread, as Xen's timer interrupt on its
		// CPU; the run ends by the next deadline (RunDeadlines).
		v.runOneshot, v.runPeriodic = v.waiter.FireDue()
		// Events pending for the vCPU are delivered on every entry.
		if _, err := v.pv.DeliverEvent(&v.Regs); err != nil {
			v.crash(err.Error())
			return
		}
		if v.timeDue {
			v.UpdateTime()
			v.timeDue = false
		}
		exit, err := b.Run(v, &v.Regs, v.pv.PageTable())
		if err != nil {
			v.crash(fmt.Sprintf("cannot enter the guest: %v", err))
			return
		}
		if int(exit.Kind) < len(v.exits) {
			v.exits[exit.Kind]++
		}
		var t0 uint64 // 0: exits are not being counted (exitstats.go)
		if d.m.countExits.Load() {
			t0 = d.m.tsc()
		}
		switch exit.Kind {
		case arch.ExitSyscall:
			nr := int(v.Regs.RAX)
			hc, err := v.pv.HandleSyscall(&v.Regs)
			switch {
			case err != nil:
				v.crash(err.Error())
			case hc:
				v.hypercall()
				v.stats.note(d.m, -1, nr, false, t0)
			}
		case arch.ExitException:
			v.exception(exit)
			v.stats.note(d.m, int(exit.Vector), -1, false, t0)
		case arch.ExitInterrupt:
			// Handled by the metal. The timer's ticks that reach here
			// (the others stay in the guest while QuietFor allows) are
			// when the time info's age is looked at, and the scheduler
			// charges the vCPU's run time and decides whether its slice
			// is over (the next takeCPU gives way then). Until the next entry
			// the vCPU is runnable, not running: it is preempted by the
			// metal's interrupt (runstate).
			v.setRunstate(abi.RUNSTATE_runnable)
			v.timeDue = v.timeAged()
			v.sched.Ran()
			v.stats.note(d.m, -1, -1, true, t0)
		case arch.ExitBadSelector:
			v.failsafe()
		}
	}
}

// quietMax bounds QuietFor: the run loop still looks at the time info's
// age (timeRefresh) and charges the scheduler at least that often while
// the guest runs without exits.
const quietMax = sched.MaxTimer

// QuietFor is how long the metal may keep the vCPU in the guest through
// its CPU's periodic ticks, returning only for other exits (ns; 0: every
// tick is an exit, as when the scheduler must decide at the next one:
// sched.VCPU.NeedsCheck). The run loop needs the tick for the scheduler
// alone (Ran), and the scheduler tickles the CPU (an IPI: an exit) when
// a slice ends or a waiter beats the vCPU; events come with a kick, and
// the time info is rewritten at most every timeRefresh. Context: the
// vCPU's goroutine, from Backend.Run.
func (v *VCPU) QuietFor() int64 {
	if v.sched.NeedsCheck() {
		return 0
	}
	return quietMax
}

// RunDeadlines are the system times of the vCPU's one-shot and periodic
// timers (0: not armed): by the earlier the metal must end the guest's
// run (an exit, or no entry if it has come) so that the run loop fires
// the timer then (sched.Waiter.FireDue). A metal that serves
// VCPUOP_set_singleshot_timer itself (FastSingleshot) replaces the
// one-shot deadline while the guest runs and tells FastSingleshotRan.
// Context: the vCPU's goroutine, from Backend.Run.
func (v *VCPU) RunDeadlines() (oneshot, periodic int64) { return v.runOneshot, v.runPeriodic }

// FastSingleshot reports whether the metal may serve the vCPU's
// VCPUOP_set_singleshot_timer without an exit: the vCPU's goroutine
// fires its timers (sched.Waiter.OwnsTimers), so a deadline the metal
// keeps for the run (RunDeadlines) and hands back (FastSingleshotRan)
// loses nothing. Context: the vCPU's goroutine, from Backend.Run.
func (v *VCPU) FastSingleshot() bool { return v.waiter.OwnsTimers() }

// FastSingleshotRan is told by the metal that during its last entry it
// served VCPUOP_set_singleshot_timer for the vCPU, the last time with
// deadline at (system time): the one-shot timer is armed for it as
// sched.Waiter.SetSingleshot would have armed it then (if it has come by
// now, the next FireDue fires it: the run ended by it). The hypercall
// counts are FastHypercallsRan's. Context: the vCPU's goroutine, from
// Backend.Run, before the exit is handled.
func (v *VCPU) FastSingleshotRan(at int64) { v.waiter.SetSingleshotServed(at) }

// FastPath returns what the metal may do for the vCPU until its next exit
// instead of returning every SYSCALL (pv.Fast), and the machine address
// of its vcpu_info, whose upcall mask and pending bytes the fast path
// reads and writes. ok false: nothing. Context: the vCPU's goroutine,
// from Backend.Run.
func (v *VCPU) FastPath() (f pv.Fast, info mm.Maddr, ok bool) {
	if info, ok = v.vcpuInfoAddr(); !ok {
		return pv.Fast{}, 0, false
	}
	f, ok = v.pv.FastPath()
	return f, info, ok
}

// FastPathRan is told by the metal that during its last entry the fast
// path served bounces SYSCALL bounces and irets HYPERVISOR_irets, and
// left the vCPU in kernel mode or not (Regs are already as the PV model
// would have left them). Context: the vCPU's goroutine, from Backend.Run.
func (v *VCPU) FastPathRan(kernel bool, bounces, irets uint64) {
	v.pv.FastPathRan(kernel)
	v.fastBounces.Add(bounces)
	v.fastIrets.Add(irets)
}

// FastFaultRan is told by the metal that during its last entry the fast
// path bounced n page faults to the guest kernel, the
// last at address cr2 (FastPathRan has the mode it left). Context: the
// vCPU's goroutine, from Backend.Run.
func (v *VCPU) FastFaultRan(n, cr2 uint64) {
	v.pv.FastFaultRan(cr2)
	v.fastFaults.Add(n)
}

// FastEventsRan is told by the metal that during its last entry the fast
// path delivered n event upcalls itself, for a kick's IPI or at the
// return of a hypercall it served (FastPathRan has the mode it left). Context: the vCPU's goroutine, from Backend.Run.
func (v *VCPU) FastEventsRan(n uint64) { v.fastEvents.Add(n) }

// FastHypercallsRan is told by the metal that during its last entry the
// fast path served n hypercalls (set_segment_base, stack_switch and
// VCPUOP_set_singleshot_timer, whose register, frame and run-deadline
// changes the metal made: FastSingleshotRan arms the timer); if a
// stack_switch was among them, the last one's selector and stack pointer become the vCPU's
// kernel stack, as pv.VCPU.StackSwitch would have made them. Context: the
// vCPU's goroutine, from Backend.Run, before the exit is handled.
func (v *VCPU) FastHypercallsRan(n uint64, stackSet bool, ss, sp uint64) {
	if stackSet {
		v.pv.StackSwitch(ss, sp)
	}
	v.fastHypercalls.Add(n)
}

// FastEvents reports how many event upcalls the metal's fast path has
// delivered for the vCPU. Any goroutine.
func (v *VCPU) FastEvents() uint64 { return v.fastEvents.Load() }

// FastPathHits reports how many SYSCALL bounces, irets, page-fault
// bounces and hypercalls the metal's fast path has served for the vCPU.
// Any goroutine.
func (v *VCPU) FastPathHits() (bounces, irets, faults, hypercalls uint64) {
	return v.fastBounces.Load(), v.fastIrets.Load(), v.fastFaults.Load(), v.fastHypercalls.Load()
}

// hypercall serves a SYSCALL from guest kernel mode.
func (v *VCPU) hypercall() {
	r := &v.Regs
	nr := r.RAX
	v.args = hypercall.Args{r.RDI, r.RSI, r.RDX, r.R10, r.R8}
	res := v.dom.m.disp.Dispatch(&v.caller, nr, &v.args)
	// An iret's "result" is the RAX it restored, which may well be an
	// earlier call's -ENOSYS: not the iret's.
	if !res.Continue && res.Ret == enosysRet && !v.pv.IretDone {
		v.noteENOSYS(nr, &v.args)
	}
	switch nr {
	case abi.HYPERVISOR_sched_op, abi.HYPERVISOR_sched_op_compat, abi.HYPERVISOR_multicall:
		// The vCPU may have blocked or yielded: it is scheduled in again
		// now, and its time info is rewritten as Xen does then.
		v.timeDue = true
	}
	if p := v.pv; p.IretDone {
		p.IretDone = false
		if err := p.IretErr; err != nil {
			p.IretErr = nil
			v.crash(err.Error())
		}
		return
	}
	if !res.Continue {
		r.RAX = res.Ret
		return
	}
	hr := hypercall.Regs{RAX: nr, RDI: r.RDI, RSI: r.RSI, RDX: r.RDX, R10: r.R10, R8: r.R8, RIP: r.RIP}
	hr.Apply(nr, res)
	r.RAX, r.RDI, r.RSI, r.RDX, r.R10, r.R8, r.RIP = hr.RAX, hr.RDI, hr.RSI, hr.RDX, hr.R10, hr.R8, hr.RIP
}

// exception handles a CPU exception the guest took: the PV model emulates
// what a PV kernel may still execute, or bounces the exception to the
// guest's trap table; without a handler the domain crashes.
func (v *VCPU) exception(e arch.Exit) {
	if e.Vector == arch.VecPF {
		// A kernel write to its own (read-only) L1 table: emulate it.
		if handled, err := v.pv.PageTableWrite(&v.Regs, e); handled {
			if err != nil {
				v.crash(err.Error())
			}
			return
		}
	}
	err := v.pv.HandleException(&v.Regs, e)
	if err == nil {
		return
	}
	if int(e.Vector) < len(v.pv.Traps) && v.pv.Traps[e.Vector].Address == 0 {
		v.dom.log().Guestf(int(v.dom.id), v.id, klog.Err, "Unhandled: vec %d, %s[%04x]", e.Vector, vecName(e.Vector), e.ErrorCode)
	}
	v.crash(err.Error())
}

// failsafe handles a data selector the metal could not load on the way
// into the guest, as Xen's load_segments does: the guest enters its
// failsafe callback with the four selectors on its stack, and runs with
// null ones.
func (v *VCPU) failsafe() {
	if err := v.pv.Failsafe(&v.Regs); err != nil {
		v.crash(err.Error())
		return
	}
	v.Regs.DS, v.Regs.ES, v.Regs.FS, v.Regs.GS = 0, 0, 0, 0
}

// crash stops the domain as Xen's domain_crash does: a register dump,
// then shutdown with SHUTDOWN_crash.
func (v *VCPU) crash(why string) {
	d := v.dom
	l := d.log()
	if why != "" {
		l.Guestf(int(d.id), v.id, klog.Err, "%s", why)
	}
	l.Lines([]string{fmt.Sprintf("Domain %d (vcpu#%d) crashed on cpu#0:", d.id, v.id)})
	l.Lines(v.registerDump())
	s, e, i := v.Exits()
	fb, fi, ff, fh := v.FastPathHits()
	l.Lines([]string{fmt.Sprintf("d%dv%d ran until here: %d syscall exits (hypercalls), %d exceptions, %d interrupts; fast path: %d syscall bounces, %d irets, %d page faults, %d hypercalls",
		d.id, v.id, s, e, i, fb, fi, ff, fh)})
	hypercall.Shutdown(d, abi.SHUTDOWN_crash)
}

func (v *VCPU) registerDump() []string {
	r := &v.Regs
	return []string{
		fmt.Sprintf("RIP:    %04x:[<%016x>]", r.CS, r.RIP),
		fmt.Sprintf("RFLAGS: %016x   CONTEXT: pv guest (d%dv%d)", r.RFLAGS, v.dom.id, v.id),
		fmt.Sprintf("rax: %016x   rbx: %016x   rcx: %016x", r.RAX, r.RBX, r.RCX),
		fmt.Sprintf("rdx: %016x   rsi: %016x   rdi: %016x", r.RDX, r.RSI, r.RDI),
		fmt.Sprintf("rbp: %016x   rsp: %016x   r8:  %016x", r.RBP, r.RSP, r.R8),
		fmt.Sprintf("r9:  %016x   r10: %016x   r11: %016x", r.R9, r.R10, r.R11),
		fmt.Sprintf("r12: %016x   r13: %016x   r14: %016x", r.R12, r.R13, r.R14),
		fmt.Sprintf("r15: %016x   cr3: %016x", r.R15, uint64(v.tables.Kernel.Addr())),
		fmt.Sprintf("ds: %04x   es: %04x   fs: %04x   gs: %04x   ss: %04x   cs: %04x", r.DS, r.ES, r.FS, r.GS, r.SS, r.CS),
	}
}

var vecNames = [...]string{"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "", "#TS", "#NP", "#SS", "#GP", "#PF", "", "#MF", "#AC", "#MC", "#XM"}

func vecName(v uint8) string {
	if int(v) < len(vecNames) {
		return vecNames[v]
	}
	return "?"
}

// TakeChanged returns the pv.Changed* bits set since it was last called
// and clears them: the Backend reloads what they name (DebugRegs,
// LoadedCR4) before it enters the vCPU. Context: the vCPU's goroutine.
func (v *VCPU) TakeChanged() uint32 {
	c := v.pv.Changed
	v.pv.Changed = 0
	return c
}

// DebugRegs are the vCPU's DR0-3 and DR7 as the hardware must run it:
// validated by set_debugreg/MOV DR (guest addresses only, no GD), without
// the I/O breakpoints pv emulates.
func (v *VCPU) DebugRegs() (dr [4]uint64, dr7 uint64) { return v.pv.DR, v.pv.DR7 }

// LoadedCR4 are the bits of the vCPU's CR4 the real CR4 must have while
// it runs (pv.CR4Loaded).
func (v *VCPU) LoadedCR4() uint64 { return v.pv.CR4 & pv.CR4Loaded }

// VirtualTS reports the vCPU's virtual CR0.TS (fpu_taskswitch, CLTS): the
// metal runs it with the real TS set so its next FPU use exits with #NM.
func (v *VCPU) VirtualTS() bool { return v.pv.TS }
