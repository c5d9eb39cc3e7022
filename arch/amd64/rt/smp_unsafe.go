package rt

import (
	"errors"
	"math/bits"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/gohv/gohv/arch/amd64"
	"github.com/gohv/gohv/arch/amd64/hw"
)

// Application processors. StartAP wakes a CPU the MADT lists with
// INIT-SIPI-SIPI through the trampoline (hw.Trampoline) copied to
// trampBase, below 1 MiB (cmd/gohv keeps [0, 1 MiB) from domains; by then
// the boot loader's structures there have been read into Go values). The
// AP comes up in long mode on gohv's page tables with its own cpuState,
// GDT window, TSS and IST stacks, loads the shared IDT, enables its local
// APIC and its own tick (the local APIC timer at tickHz, lapicHz as CPU 0
// measured it), sets the SYSCALL MSRs as CPU 0 did, says it is online and
// enters its idle context (idleLoop): from then on it runs the Go
// runtime's kernel threads like CPU 0, and halts when none is runnable.
//
// The shim lock (shimOwner) serialises every CPU's use of the shared shim
// state; doc.go ("CPUs.") lists what it covers and what stays per CPU.
// It is taken with interrupts off and held across a thread switch: the
// CPU that takes it is the one that releases it, in whatever thread runs
// next there (schedule's caller, the timer's preempt path, threadStart,
// idleLoop).
//
// IPIs: one vector, vecIPI (the ISA line 2 gate: the 8259 cascade, never
// raised as an interrupt), wakes a halted CPU (a thread became
// runnable: wake), asks it to service a TLB shootdown (requestFlush),
// and makes the guest it runs exit (GuestContext.Kick: an event for that
// vCPU; the exit is all it needs), or the vCPU's run loop ask the
// scheduler (KickCPU, a tickle: flagged in cpuState.tickled first, so
// the asm fastEvent never serves it as a kick). It reaches ipiIRQ through irqDevice
// from ring 0, or through a guest exit and sysGuestIRQ when the CPU was
// running a guest.
//
// TLB shootdown. Each CPU has a wanted and a done generation. A CPU that
// needs every other CPU to drop translations (release: gohv's own
// unmaps; ReleaseTables: a guest's top level stops being one) takes a new
// generation from shootGen, raises every online CPU's flushWant to it
// and sends each the IPI; the CPU serves it (serviceFlush) by loading
// gohv's own tables (idleCR3: the write flushes every non-global
// translation, and no released guest top level stays loaded) and
// publishing the generation in flushDone. A frame that may still be
// cached is reused only once every online CPU's flushDone reached the
// generation: release puts such frames in heapLimbo, and allocFrame
// takes them back only then. Nobody waits for an acknowledgement with
// the shim lock held except allocFrame when the heap has nothing else,
// and that cannot deadlock: every loop that spins with interrupts off
// (the lock's, the acknowledgement waits) serves this CPU's own
// shootdown requests while it spins, and a CPU with interrupts on takes
// the IPI.

const (
	trampBase    = 0x8000
	apStackSize  = 8192
	apStartLimit = 2 * time.Second // TCG under load is slow to start a CPU

	// vecIPI is gohv's one IPI vector: the gate of ISA line 2.
	vecIPI = vecPIC + 2
	// noThread is cpuState.cur of an AP that has not run a thread yet.
	noThread = maxThreads
)

var (
	apStacks  [maxCPUs][apStackSize]byte
	apTLS     [maxCPUs][2]uint64 // each AP's fake TLS: FS points at [1], g (at [0]) is nil
	apOnline  [maxCPUs]uint32    // 1 once the CPU schedules threads and answers shootdowns (CPU 0 from kmain)
	apicIDs   [maxCPUs]uint32    // APIC ID of each started CPU (CPU 0's from lapicInit)
	trampPage [hw.TrampSize]byte // built in Go context, copied by sysStartAP

	// cpusUp is one past the highest CPU number ever online (only
	// grows): the per-entry scan of the CPUs (noteEntry) stops there.
	cpusUp uint32

	// shimOwner is the shim lock: 0 free, else 1 + the number of the CPU
	// holding it.
	shimOwner uint32
	// shootGen hands out shootdown generations.
	shootGen uint64
	// heapLimbo lists (through the frames, as heapFree) heap frames
	// unmapped while other CPUs may still cache them, heapLimboTail its
	// last; they return to heapFree (limboMerge) once every online CPU's
	// flushDone reached limboGen. Shim lock.
	heapLimbo, heapLimboTail, limboGen uint64
)

// shimLock takes the shim lock, serving this CPU's shootdown requests
// while it waits. Context: interrupts off, the lock not held by this CPU.
//
//go:nosplit
func shimLock() {
	me := uint32(thisCPU().id) + 1
	for !atomic.CompareAndSwapUint32(&shimOwner, 0, me) {
		serviceFlush()
		amd64.Pause()
	}
}

// shimUnlock releases the shim lock, then sends the wake-up IPIs this
// CPU asked for while it held it (wakeIPI). Context: interrupts off, on
// the CPU that holds it.
//
//go:nosplit
func shimUnlock() {
	// The modulo spares the nosplit chains a bounds check's panic path
	// (CPU numbers are below maxCPUs: cpuInit, sysStartAP).
	me := thisCPU().id % maxCPUs
	m := ipiLater[me]
	ipiLater[me] = 0
	atomic.StoreUint32(&shimOwner, 0)
	if m != 0 {
		sendWakeIPIs(me, m)
	}
}

// Wake-up IPIs (a thread made runnable for an idle CPU, a tick brought
// forward: kick, reschedCPU) are sent once the sender has released the
// shim lock, not while it holds it: the CPU they wake takes the lock
// first thing (idleLoop, guestIRQ), and under an emulator the ICR write
// that sends an IPI may take milliseconds after the IPI has arrived
// (QEMU's MTTCG on a loaded host; its local APIC is emulated outside
// the CPU's own thread's fast path), all of which the woken CPU spent
// spinning on the shim lock, its vCPU's time lost beside the sender's.
// Traced in smpbench runs on a loaded host (2 CPUs, one run): the ICR
// write took 2.8 µs at the median, 110 µs at the 90th percentile and up
// to a second, 1.9 s in all, and CPUs woken from a halt waited 2.4 s in
// all for the lock. Xen's woken CPU runs its vCPU under no lock the
// waker holds. ipiLater is, per CPU, the CPUs to send
// one to at the next shimUnlock (shim lock held to add to it); wakeIPIs
// counts the wake-up IPIs each CPU sent and lockedWakeIPIs those it sent
// while the shim lock was its own (none: the selftest's cpus check);
// haltLockTSC the TSC ticks each CPU spent taking the shim lock after a
// halt ended (idleLoop). Each written by its own CPU.
var (
	ipiLater                 [maxCPUs]uint64
	wakeIPIs, lockedWakeIPIs [maxCPUs]uint64
	haltLockTSC              [maxCPUs]uint64
)

// Per CPU, what made the runtime's threads reach other CPUs or take a
// vCPU's: threadResched counts the IPIs it sent to bring a busy CPU's
// tick forward for a thread (kick) and signalResched those for a signal
// (sysTgkill); vcpuPreempts its switches from a runnable vCPU thread
// (bound to it) to another thread; futexWakes the threads its
// FUTEX_WAKEs woke, eventfdSignals its writes to the netpoller's eventfd
// (the runtime's netpollBreak) and epollWaits its sleeps in
// epoll_pwait. Each written by its own CPU under the shim lock; read
// racily for reports (CPUStats).
var (
	threadResched, signalResched [maxCPUs]uint64
	vcpuPreempts                 [maxCPUs]uint64
	futexWakes, eventfdSignals   [maxCPUs]uint64
	epollWaits                   [maxCPUs]uint64
)

// wakeIPI has CPU cpu sent the IPI once this CPU releases the shim lock
// (shimUnlock). Context: shim lock held, interrupts off.
//
//go:nosplit
func wakeIPI(cpu uintptr) { ipiLater[thisCPU().id%maxCPUs] |= 1 << cpu }

// sendWakeIPIs sends the IPI to the CPUs of mask, counting each, and
// those sent with the shim lock this CPU's (me). Context: interrupts off.
//
//go:nosplit
func sendWakeIPIs(me uintptr, mask uint64) {
	me %= maxCPUs
	for ; mask != 0; mask &= mask - 1 {
		if atomic.LoadUint32(&shimOwner) == uint32(me)+1 {
			atomic.AddUint64(&lockedWakeIPIs[me], 1)
		}
		atomic.AddUint64(&wakeIPIs[me], 1)
		sendIPI(uintptr(bits.TrailingZeros64(mask)))
	}
}

// shimLockNested takes the shim lock unless this CPU holds it already
// (a demand fault or device interrupt path reached from the shim) and
// says whether it took it. Context: interrupts off.
//
//go:nosplit
func shimLockNested() bool {
	if atomic.LoadUint32(&shimOwner) == uint32(thisCPU().id)+1 {
		return false
	}
	shimLock()
	return true
}

// stopOthers takes the shim lock for a panic and never gives it back, so
// the other CPUs stop at their next system call, tick or device
// interrupt instead of printing over the banner. It gives up after about
// a second (the holder may be the CPU that is stuck) and goes on.
// Context: interrupts off; a CPU that holds the lock keeps it.
//
//go:nosplit
func stopOthers() {
	me := uint32(thisCPU().id) + 1
	for i := 0; i < 1<<24; i++ {
		if o := atomic.LoadUint32(&shimOwner); o == me || atomic.CompareAndSwapUint32(&shimOwner, 0, me) {
			return
		}
		amd64.Pause()
	}
}

// sendIPI sends vecIPI to CPU cpu. Context: interrupts off (the ICR is
// two writes to this CPU's local APIC).
//
//go:nosplit
func sendIPI(cpu uintptr) {
	lapicICR(uint8(apicIDs[cpu]), hw.ICRFixed(vecIPI))
}

// ipiIRQ serves vecIPI: the EOI, the count, any shootdown asked of this
// CPU and a tick brought forward (reschedCPU): it reports whether the IPI
// asked for one; in a guest the caller serves it as a tick (guestIRQ),
// elsewhere the tick comes in idleTimerMin (tickSoon). A wake needs
// nothing more: the halted CPU's idle loop looks for work when the
// interrupt returns. Context: interrupts off, the shim lock held or not.
//
//go:nosplit
func ipiIRQ(inGuest bool) (resched bool) {
	lapicEOI()
	c := thisCPU()
	atomic.AddUint64(&c.ipis, 1)
	atomic.StoreUint32(&c.tickled, 0)
	serviceFlush()
	resched = atomic.SwapUint32(&c.resched, 0) != 0
	if resched && !inGuest {
		tickSoon(c) // the tick comes now, not at the quiet timer's end
	}
	return resched
}

// serviceFlush carries out the shootdowns asked of this CPU: it loads
// gohv's own tables, which drops every translation (gohv uses no global
// pages) and any guest top level, then publishes the generation it
// served. A guest's next entry reloads its CR3. Context: interrupts off.
//
//go:nosplit
func serviceFlush() {
	c := thisCPU()
	w := atomic.LoadUint64(&c.flushWant)
	if w <= atomic.LoadUint64(&c.flushDone) {
		return
	}
	if atomic.SwapUint32(&c.wbinvdWant, 0) != 0 {
		amd64.Wbinvd()
	}
	c.cr3Shoot++
	amd64.WriteCR3(idleCR3)
	atomic.StoreUint64(&c.loadedAltCR3, 0)
	atomic.StoreUint64(&c.loadedCR3, idleCR3)
	atomic.StoreUint64(&c.flushDone, w)
}

// sysFlushCaches asks every online CPU to write back and invalidate its
// caches (served with a shootdown, this CPU's at once) and returns the
// generation to wait for. Context: the shim.
//
//go:nosplit
func sysFlushCaches() uintptr {
	for i := range cpus {
		if atomic.LoadUint32(&apOnline[i]) != 0 {
			atomic.StoreUint32(&cpus[i].wbinvdWant, 1)
		}
	}
	return uintptr(requestFlush())
}

// FlushCaches runs WBINVD on every CPU (Xen's MMUEXT_FLUSH_CACHE_GLOBAL;
// FLUSH_CACHE is this CPU's alone) and returns once all have. Any
// goroutine.
func FlushCaches() {
	g, _, _ := syscall.RawSyscall(sysFlushAll, 0, 0, 0)
	for !flushedAll(uint64(g)) {
		amd64.Pause() // interrupts on: this CPU takes its own requests as IPIs
	}
}

// requestFlush starts a shootdown on every online CPU, this one included
// (served here before it returns), and returns its generation: frames
// unmapped before the call are out of every TLB once flushedAll says so
// for it. Context: interrupts off.
//
//go:nosplit
func requestFlush() uint64 { return requestFlushOf(onlineMask()) }

// requestFlushOf is requestFlush for the CPUs in mask (bit n: CPU n).
//
//go:nosplit
func requestFlushOf(mask uint64) uint64 {
	g := atomic.AddUint64(&shootGen, 1)
	me := thisCPU().id
	for i := uintptr(0); i < maxCPUs; i++ {
		if mask&(1<<i) == 0 || atomic.LoadUint32(&apOnline[i]) == 0 {
			continue
		}
		c := &cpus[i]
		for {
			w := atomic.LoadUint64(&c.flushWant)
			if w >= g || atomic.CompareAndSwapUint64(&c.flushWant, w, g) {
				break
			}
		}
		if i != me {
			sendIPI(i)
		}
	}
	serviceFlush()
	return g
}

// flushedAll reports whether every online CPU asked to serve shootdown
// generation g (its flushWant reached g) has served it. Any context,
// once the request has been made (requestFlushOf returned).
//
//go:nosplit
func flushedAll(g uint64) bool {
	for i := 0; i < maxCPUs; i++ {
		c := &cpus[i]
		if atomic.LoadUint32(&apOnline[i]) != 0 && atomic.LoadUint64(&c.flushWant) >= g && atomic.LoadUint64(&c.flushDone) < g {
			return false
		}
	}
	return true
}

// waitFlushed spins until flushedAll(g), serving this CPU's own requests
// meanwhile. Context: interrupts off.
//
//go:nosplit
func waitFlushed(g uint64) {
	for !flushedAll(g) {
		serviceFlush()
		amd64.Pause()
	}
}

// othersOnline reports whether any CPU but this one is online.
//
//go:nosplit
func othersOnline() bool {
	me := thisCPU().id
	for i := uintptr(0); i < maxCPUs; i++ {
		if i != me && atomic.LoadUint32(&apOnline[i]) != 0 {
			return true
		}
	}
	return false
}

// kick makes sure a CPU will look at t, just made runnable (or moved
// off the CPU it ran on): an idle CPU of its affinity, other than this
// one, is sent an IPI; a thread some CPU runs needs none. With no idle
// CPU, a thread that may run on this CPU runs here, as Xen's softirqs
// and tasklets run on the CPU that raised them: this CPU's next schedule
// takes it, its tick brought to within idleTimerMin (tickSoon) so that
// it does not wait a period behind a guest; no other CPU is interrupted
// for it, so a busy vCPU's CPU does not run the runtime's threads that
// this one can run.
// Only a thread this CPU may not run (another CPU's vCPU thread) has a
// CPU of its affinity whose tick is held off for a quiet guest
// (longTimer) sent an IPI that brings its tick forward (reschedCPU).
// The IPIs leave once the lock is released (wakeIPI). It reports
// whether the thread runs or another CPU was sent for (false: it waits
// for this CPU, or a running CPU's next tick). Context: shim lock held.
//
//go:nosplit
func kick(t *kthread) (sent bool) {
	if t.onCPU != 0 {
		return true // it runs: nothing to do
	}
	c := thisCPU()
	me := c.id
	for i := uintptr(0); i < maxCPUs; i++ {
		if i != me && t.mayRunOn(i) && atomic.LoadUint32(&apOnline[i]) != 0 && cpus[i].idling != 0 {
			wakeIPI(i) // sent once the lock is released
			return true
		}
	}
	if t.mayRunOn(me) {
		tickSoon(c)
		return false
	}
	for i := uintptr(0); i < maxCPUs; i++ {
		if i != me && t.mayRunOn(i) && cpus[i].longTimer != 0 {
			threadResched[me%maxCPUs]++
			reschedCPU(i)
			return true
		}
	}
	return false
}

// reschedCPU makes another CPU, whose timer is held off for a quiet
// guest (longTimer), take its tick soon: its schedule then runs (a
// thread made runnable for it) or its thread takes a signal sent to it.
// The flag is set now, the IPI sent once the lock is released (wakeIPI).
// Context: shim lock held.
//
//go:nosplit
func reschedCPU(cpu uintptr) {
	if cpu < maxCPUs {
		atomic.StoreUint32(&cpus[cpu].resched, 1)
		wakeIPI(cpu)
	}
}

// apMain runs on an AP, on its boot stack, once it is in long mode on
// gohv's tables. It loads its GDT window, segments, TSS and the IDT,
// points GS_BASE at its cpuState, sets the PAT and SYSCALL MSRs as CPU 0
// has them, enables its local APIC and starts its tick, says it is online
// and becomes the CPU's idle context (idleLoop), which runs the kernel
// threads that are runnable and never returns here. Context: the AP, interrupts off until
// schedule's idle loop or the first thread.
//
//go:nosplit
func apMain(cp uintptr) {
	c := (*cpuState)(unsafe.Pointer(cp))
	amd64.WriteGSBase(uint64(c.self))
	amd64.Wrmsr(amd64.MSR_PAT, 0x0000050100070406) // Xen's PAT layout, as CPU 0
	var d [2]uint64
	d[0], d[1] = hw.PseudoDesc(uint64(c.gdtVA), gdtPages*pageSize)
	amd64.Lgdt(uint64(uintptr(unsafe.Pointer(&d[0]))))
	reloadSegments()
	amd64.Ltr(selTSS)
	c.selDS, c.selES, c.selFS, c.selGS = selKernelDS, selKernelDS, 0, 0
	d[0], d[1] = hw.PseudoDesc(uint64(uintptr(unsafe.Pointer(&idt[0]))), uint64(unsafe.Sizeof(idt)))
	amd64.Lidt(uint64(uintptr(unsafe.Pointer(&d[0]))))
	syscallMSRs()
	amd64.Wrmsr(hw.MSR_APIC_BASE, hw.LAPICEnableMSR(amd64.Rdmsr(hw.MSR_APIC_BASE)&^hw.APICBaseX2APIC))
	lapicWrite(hw.LAPIC_SVR, hw.LAPICSVR(hw.LAPICSpuriousVec))
	lapicWrite(hw.LAPIC_TPR, 0)
	lapicWrite(hw.LAPIC_LINT0, hw.LAPICLVTMasked)
	lapicWrite(hw.LAPIC_LVTE, hw.LAPICLVTMasked)
	lapicWrite(hw.LAPIC_ESR, 0)
	lapicEOI()
	lapicTick()
	c.cur = noThread
	shimLock()
	// Its TLB holds nothing of gohv's older than this: it loaded CR3 in
	// apEntry and has touched no mmap-window page (every shootdown is
	// requested under the shim lock).
	c.flushDone = atomic.LoadUint64(&shootGen)
	atomic.StoreUint64(&c.flushWant, c.flushDone)
	for n := atomic.LoadUint32(&cpusUp); n < uint32(c.id)+1 && !atomic.CompareAndSwapUint32(&cpusUp, n, uint32(c.id)+1); n = atomic.LoadUint32(&cpusUp) {
	}
	atomic.StoreUint32(&apOnline[c.id], 1)
	idleLoop() // on the boot stack, which becomes the CPU's idle stack
}

// lapicICR sends an IPI and waits (bounded) for the local APIC to accept
// it. false: still pending. Context: the shim, interrupts off.
//
//go:nosplit
func lapicICR(dest uint8, lo uint32) bool {
	lapicWrite(hw.LAPIC_ICRHI, hw.ICRDest(dest))
	lapicWrite(hw.LAPIC_ICRLO, lo)
	for i := 0; i < 1000000; i++ {
		if lapicRead(hw.LAPIC_ICRLO)&hw.ICRPending == 0 {
			return true
		}
		amd64.Pause()
	}
	return false
}

//go:nosplit
func tscDelay(us uint64) {
	t0 := amd64.Rdtsc()
	for amd64.Rdtsc()-t0 < tscHz/1000000*us {
		amd64.Pause()
	}
}

// sysStartAP prepares CPU cpu's tables, copies trampPage to trampBase and
// sends INIT, then two SIPIs (10 ms and 200 us apart, the MP
// specification's waits) to APIC ID apicID. Context: the shim.
//
//go:nosplit
func sysStartAP(cpu, apicID uintptr) uintptr {
	if initFreed != 0 {
		return errno(ebusy) // its boot stack, GDT pages and trampoline are the domains' (FreeInitMemory)
	}
	apTried = max(apTried, cpu+1)
	c := &cpus[cpu]
	c.self = uintptr(unsafe.Pointer(c))
	c.id = cpu
	c.entryTop = uintptr(unsafe.Pointer(&c.entryStack[len(c.entryStack)-1]))
	c.selDS, c.selES = selKernelDS, selKernelDS
	cpuTables(c)
	apicIDs[cpu] = uint32(apicID)
	copy(unsafe.Slice((*byte)(unsafe.Pointer(dm(trampBase))), hw.TrampSize), trampPage[:])
	if !lapicICR(uint8(apicID), hw.ICRInit) {
		return errno(eagain)
	}
	tscDelay(10000)
	for i := 0; i < 2 && atomic.LoadUint32(&apOnline[cpu]) == 0; i++ {
		if !lapicICR(uint8(apicID), hw.ICRStartup(hw.SIPIVector(trampBase))) {
			return errno(eagain)
		}
		tscDelay(200)
	}
	return 0
}

// sysSendIPI sends CPU cpu the IPI (PingAP). Context: the shim.
//
//go:nosplit
func sysSendIPI(cpu uintptr) uintptr {
	if cpu >= maxCPUs || atomic.LoadUint32(&apOnline[cpu]) == 0 {
		return errno(einval)
	}
	if !lapicICR(uint8(apicIDs[cpu]), hw.ICRFixed(vecIPI)) {
		return errno(eagain)
	}
	return 0
}

// ErrAPTimeout is StartAP's error when the CPU does not come up.
var ErrAPTimeout = errors.New("rt: the CPU did not come up")

// StartAP brings up the CPU with xAPIC ID apicID as CPU number cpu (1 to
// MaxCPUs-1, each once, in order; CPU 0 is the boot CPU) and waits for it
// to come online: from then on it runs the runtime's threads. Context: Go
// code, one caller at a time (main), before FreeInitMemory (EBUSY after:
// what an AP needs to start is given back then).
func StartAP(cpu int, apicID uint32) error {
	if cpu < 1 || cpu >= maxCPUs || apicID >= 0xFF || atomic.LoadUint32(&apOnline[cpu]) != 0 {
		return syscall.EINVAL
	}
	if atomic.LoadUint32(&initFreed) != 0 {
		return syscall.EBUSY
	}
	if !hw.TrampolineOK(trampBase) {
		return syscall.EINVAL
	}
	var upper [256]uint64
	copy(upper[:], unsafe.Slice((*uint64)(unsafe.Pointer(pml4+256*8)), 256))
	efer := amd64.Rdmsr(amd64.MSR_EFER)
	hw.Trampoline(&trampPage, trampBase, amd64.ReadCR0(), amd64.ReadCR4(), efer, &upper,
		uint64(asmAddrs[9]), uint64(uintptr(unsafe.Pointer(&apStacks[cpu]))+apStackSize),
		uint64(uintptr(unsafe.Pointer(&cpus[cpu]))), idleCR3)
	if _, _, e := syscall.Syscall(sysAPStart, uintptr(cpu), uintptr(apicID), 0); e != 0 {
		return e
	}
	for t0 := time.Now(); time.Since(t0) < apStartLimit; time.Sleep(time.Millisecond) {
		if atomic.LoadUint32(&apOnline[cpu]) != 0 {
			return nil
		}
	}
	return ErrAPTimeout
}

// PingAP sends CPU cpu (started by StartAP) an IPI and waits up to a
// second for its handler to count it; it returns the CPU's count after.
func PingAP(cpu int) (uint64, error) {
	if cpu < 1 || cpu >= maxCPUs || atomic.LoadUint32(&apOnline[cpu]) == 0 {
		return 0, syscall.EINVAL
	}
	before := atomic.LoadUint64(&cpus[cpu].ipis)
	if _, _, e := syscall.Syscall(sysIPI, uintptr(cpu), 0, 0); e != 0 {
		return before, e
	}
	for t0 := time.Now(); time.Since(t0) < time.Second; time.Sleep(time.Millisecond) {
		if n := atomic.LoadUint64(&cpus[cpu].ipis); n != before {
			return n, nil
		}
	}
	return before, ErrAPTimeout
}

// BootCPUAPICID is the boot CPU's local APIC ID.
func BootCPUAPICID() uint32 { return lapicRead(hw.LAPIC_ID) >> 24 }

// MaxCPUs is how many CPUs gohv can run (the per-CPU tables' size).
const MaxCPUs = maxCPUs

// TrampolineRange is the low memory StartAP overwrites with the
// trampoline: it must be RAM that holds nothing still needed.
func TrampolineRange() Range { return Range{Start: trampBase, End: trampBase + hw.TrampSize} }

// onlineMask is the online CPUs as a CPU bit mask (sched_getaffinity).
//
//go:nosplit
func onlineMask() uint64 {
	var m uint64
	for i := 0; i < maxCPUs; i++ {
		if atomic.LoadUint32(&apOnline[i]) != 0 {
			m |= 1 << i
		}
	}
	return m
}

// OnlineCPUs is how many CPUs run the Go runtime's threads now.
func OnlineCPUs() int { return bits.OnesCount64(onlineMask()) }

// CPUStat is one CPU's counters.
type CPUStat struct {
	Online bool
	Ticks  uint64 // timer interrupts taken
	Runs   uint64 // switches to a kernel thread (schedule)
	IPIs   uint64 // IPIs taken
	// Idle is the time it spent halted with nothing to run; Threads the
	// time each thread slot ran on it (ThreadAccount.Slot indexes it).
	Idle    time.Duration
	Threads [maxThreads]time.Duration
	// HaltLock is the time it spent taking the shim lock as each halt
	// ended; WakeIPIs the wake-up IPIs it sent (kick, reschedCPU), and
	// LockedWakeIPIs those it sent holding the shim lock (shimUnlock
	// sends them after releasing it: 0).
	HaltLock                 time.Duration
	WakeIPIs, LockedWakeIPIs uint64
	// ThreadResched and SignalResched are the IPIs it sent to bring
	// another CPU's held-off tick forward, for a thread made runnable and
	// for a signal; VCPUPreempts its switches from a runnable
	// vCPU thread to another thread (the runtime's work on a busy vCPU's
	// CPU); FutexWakes the threads its FUTEX_WAKEs woke; EventfdSignals
	// its writes to the netpoller's eventfd (netpollBreak: a timer reset
	// earlier, work for a sleeping P); EpollWaits its sleeps in
	// epoll_pwait (an idle P's netpoller).
	ThreadResched, SignalResched, VCPUPreempts uint64
	FutexWakes, EventfdSignals, EpollWaits     uint64
	// DeadlineTimers counts the times its timer was set for a guest's
	// run deadline (GuestContext.SetDeadline) that came before its next
	// tick.
	DeadlineTimers uint64
}

// CPUStats returns every CPU slot's counters (a racy snapshot; for
// reports), CPU 0 first.
func CPUStats() []CPUStat {
	s := make([]CPUStat, maxCPUs)
	for i := range s {
		c := &cpus[i]
		s[i] = CPUStat{Online: atomic.LoadUint32(&apOnline[i]) != 0, Ticks: atomic.LoadUint64(&c.ticks),
			Runs: atomic.LoadUint64(&c.runs), IPIs: atomic.LoadUint64(&c.ipis),
			Idle: tscDuration(atomic.LoadUint64(&cpuIdleTSC[i])), HaltLock: tscDuration(atomic.LoadUint64(&haltLockTSC[i])),
			WakeIPIs: atomic.LoadUint64(&wakeIPIs[i]), LockedWakeIPIs: atomic.LoadUint64(&lockedWakeIPIs[i]),
			ThreadResched: atomic.LoadUint64(&threadResched[i]), SignalResched: atomic.LoadUint64(&signalResched[i]),
			VCPUPreempts: atomic.LoadUint64(&vcpuPreempts[i]), FutexWakes: atomic.LoadUint64(&futexWakes[i]),
			EventfdSignals: atomic.LoadUint64(&eventfdSignals[i]), EpollWaits: atomic.LoadUint64(&epollWaits[i]),
			DeadlineTimers: atomic.LoadUint64(&c.deadlineTimers)}
		for j := range s[i].Threads {
			s[i].Threads[j] = tscDuration(atomic.LoadUint64(&cpuThreadTSC[i][j]))
		}
	}
	return s
}

// ThreadAccount is what one kernel thread (a runtime M) has had of the
// CPUs since it was made (threadAcct).
type ThreadAccount struct {
	Slot int    // its slot: CPUStat.Threads index
	Tid  uint64 // its thread ID (gettid)
	// Bound is the CPUs it may run on (bit n: CPU n; 0: any): a vCPU's
	// thread is bound to the CPU its scheduler gave it.
	Bound uint64
	// Run is its time on a CPU (in Go, the shim or a guest it entered);
	// Ready its time runnable while no CPU ran it (queued: the CPUs of
	// its affinity ran other threads).
	Run, Ready time.Duration
	// Migrations counts its moves to a CPU other than the one it ran on
	// before; Naps its nanosleeps of 20 µs or more (the runtime's sysmon
	// sleeps so, no other M does).
	Migrations, Naps uint64
	// Exited: the thread has exited (a vCPU's when its domain is gone);
	// its slot keeps its account until a new thread takes it.
	Exited bool
}

// ThreadAccounts returns the account of every kernel thread that has
// run, exited ones included until their slot is reused (a racy snapshot;
// for reports). A thread on a CPU now has its current run counted up to
// its last switch only. Any goroutine.
func ThreadAccounts() []ThreadAccount {
	var s []ThreadAccount
	for i := range threads {
		t := &threads[i]
		free := atomic.LoadUintptr(&t.state) == thFree
		if free && atomic.LoadUint64(&t.runTSC) == 0 {
			continue
		}
		s = append(s, ThreadAccount{Slot: i, Tid: uint64(t.tid), Bound: atomic.LoadUint64(&t.affinity), Exited: free,
			Run: tscDuration(atomic.LoadUint64(&t.runTSC)), Ready: tscDuration(atomic.LoadUint64(&t.readyTSC)),
			Migrations: atomic.LoadUint64(&t.migrations), Naps: atomic.LoadUint64(&t.naps)})
	}
	return s
}

// tscDuration converts TSC ticks to a duration.
func tscDuration(ticks uint64) time.Duration { return time.Duration(hw.TSCNanos(ticks, tscMult)) }

// holds reports whether CPU c has top level cr3 loaded or may load it
// with no return to Go (the fast path's other table): loadedCR3 and
// loadedAltCR3. Any CPU.
//
//go:nosplit
func (c *cpuState) holds(cr3 uint64) bool {
	return atomic.LoadUint64(&c.loadedCR3) == cr3 || atomic.LoadUint64(&c.loadedAltCR3) == cr3
}
