package rt

import (
	"math/bits"
	"sync/atomic"
	"unsafe"

	"github.com/gohv/gohv/arch/amd64"
	"github.com/gohv/gohv/arch/amd64/hw"
	"github.com/gohv/gohv/arch/amd64/linux"
)

// Kernel threads. Each Go runtime M is one kernel thread, created by
// clone. A thread runs Go code in ring 0 on its goroutine stacks and enters
// the shim on its own kernel stack. Threads switch when one blocks in a
// system call (futex, sleep, epoll) or when the timer interrupt preempts
// Go code: timer preemption is what keeps sysmon alive next to a busy
// goroutine. One table of threads serves every CPU: schedule, on any CPU,
// runs the next runnable thread no CPU is on (kthread.onCPU). When nothing
// can run, the CPU switches to its idle context (idleLoop, on a stack of
// its own) and halts there until its tick or an IPI (kick) wakes it; the
// thread that left is on no CPU, free for any. A thread may be bound to
// some CPUs (sched_setaffinity: a vCPU's thread to the CPU its scheduler
// slot names): no other CPU switches to it; a thread running on a CPU
// outside its set leaves it at that CPU's next schedule, and an idle CPU
// of its set is kicked to take it. All of it is under the shim lock.

// sleepResolution: a nanosleep from idleTimerMin up to a tick period
// lasts a whole period (linux.SleepFor), as under a kernel whose timers
// have the tick's resolution. In the Go runtime only sysmon sleeps so:
// 20 µs, doubling only after 50 rounds, each time it has taken a P back
// from a thread blocked in a system call, which a busy dom0's vCPUs
// (parked in FUTEX_WAIT: arch/amd64/futex) make it do dozens of times a
// second. Each of those wake-ups is a timer interrupt and two switches
// of threads on a CPU that would have halted, and under QEMU that CPU's
// host thread then competes with the busy ones'. A P held by a parked
// vCPU's thread is rarely needed sooner than a period: cmd/gohv gives
// the runtime one P more than vCPUs. Shorter sleeps (the runtime's
// spin-waits, usleep(3)) stay as asked. Measured on the dom0 bench task
// (QEMU MTTCG, 2 CPUs, medians of 5 interleaved runs against the same
// build without it): fork+exec+exit 11.6 -> 8.8 ms, getppid 29.7 ->
// 24.5 µs, QEMU's CPU time 31.6 -> 25.0 s.
const sleepResolution = tickNs

const (
	// tickNs is the tick's period; idleTimerMin the earliest an idle
	// CPU's timer fires (sooner than that it only adds interrupts);
	// idleTickMax the latest (idleTimer).
	tickNs       = 1_000_000_000 / tickHz
	idleTimerMin = 20_000
	idleTickMax  = 1_000_000_000

	maxThreads = 64
	// kstackSize: a kernel stack holds a system call's frame and the
	// shim's nosplit code (interrupts and faults run on IST stacks); a
	// dom0 boot uses 1 KiB of it (ReadHeapUse's KStackDeepest), and its
	// guard page makes an overflow fault instead of corrupting.
	kstackSize = 8 << 10
	fxSize     = 512

	thFree    = 0
	thRunning = 1 // runnable or running
	thBlocked = 2
)

type kthread struct {
	state    uintptr
	ksp      uintptr // saved kernel SP while switched out
	ktop     uintptr // top of its kernel stack
	fx       uintptr // FXSAVE area (16-byte aligned)
	fsBase   uintptr // the runtime's TLS (arch_prctl / clone)
	tid      uintptr
	waitAddr uintptr // futex word it sleeps on, or 0
	deadline int64   // wake-up time (ns), 0 = none
	timedOut bool
	onEpoll  bool
	// devTaker: it runs a GuestContext that takes device interrupts
	// (GuestContext.Run sets it from SetTakeDeviceIRQs): a device vector
	// that interrupts it in ring 0 is left for it to take at its next
	// guest entry or park (deviceIRQLocked); one still pending when it
	// leaves its CPU wakes a parked vCPU's thread, or the generic waiter
	// if it blocks (schedule). Its own CPU, the shim lock or interrupts
	// off.
	devTaker bool
	// onCPU is 1 + the number of the CPU running it (on its kernel
	// stack), 0 when none is: only then may a CPU switch to it (or a
	// clone reuse a free slot).
	onCPU uintptr
	// affinity is the CPUs it may be switched to (bit n: CPU n), 0 for
	// any (sched_setaffinity; a new thread starts with 0).
	affinity uint64
	// slot is its index in threads.
	slot uintptr

	// Accounting (TSC ticks; threadAcct): onSince is when it last got a
	// CPU, readySince when it last became runnable with no CPU (0: it
	// is not waiting for one); runTSC and readyTSC are the sums of the
	// two; migrations counts the times it got a CPU other than the one
	// it ran on before (lastCPU, 1 + the number; 0: none yet); naps its
	// nanosleeps of idleTimerMin or more (the runtime's sysmon's).
	// Written by the CPU that switches it, under the shim lock; read
	// racily for reports (ThreadAccounts).
	onSince, readySince uint64
	runTSC, readyTSC    uint64
	migrations, naps    uint64
	lastCPU             uintptr
}

// cpuThreadTSC is, per CPU, the TSC ticks each thread slot has run there,
// and cpuIdleTSC the ticks the CPU spent halted (idleLoop): what shared
// each CPU with the vCPU bound to it. Written by that CPU under the shim
// lock; read racily for reports (ThreadAccounts, CPUStats).
var (
	cpuThreadTSC [maxCPUs][maxThreads]uint64
	cpuIdleTSC   [maxCPUs]uint64
)

// acctReady starts t's wait for a CPU (it is runnable and on none) at
// TSC now, unless it waits already. Context: shim lock held.
//
//go:nosplit
func acctReady(t *kthread, now uint64) {
	if t.readySince == 0 {
		t.readySince = now
	}
}

// acctOn charges t's wait for a CPU, if it waited, and starts its run on
// CPU c at TSC now, counting a migration when c is not the CPU it ran on
// last. Context: shim lock held, interrupts off, on c.
//
//go:nosplit
func acctOn(c *cpuState, t *kthread, now uint64) {
	if t.readySince != 0 {
		t.readyTSC += now - t.readySince
		t.readySince = 0
	}
	if t.lastCPU != 0 && t.lastCPU != c.id+1 {
		t.migrations++
	}
	t.lastCPU = c.id + 1
	t.onSince = now
}

// acctOff ends t's run on CPU c at TSC now, charging it to t and to c's
// table; a thread still runnable starts waiting for a CPU. Context: shim
// lock held, interrupts off, on c.
//
//go:nosplit
func acctOff(c *cpuState, t *kthread, now uint64) {
	d := now - t.onSince
	t.runTSC += d
	cpuThreadTSC[c.id][t.slot] += d
	if t.state == thRunning {
		acctReady(t, now)
	}
}

// setState sets t's state and keeps the table's masks true for it:
// runMask has the slots whose state is thRunning, timedMask those
// blocked with a deadline (so t.deadline must be set first), waitMask
// those blocked on a futex word (t.waitAddr set first). The scans of the
// scheduler (pickThread, idleTimer, futex wake) visit only their bits.
// Context: shim lock held.
//
//go:nosplit
func setState(t *kthread, s uintptr) {
	if s == thRunning && t.state != thRunning && t.onCPU == 0 {
		acctReady(t, amd64.Rdtsc())
	} else if s != thRunning {
		t.readySince = 0
	}
	t.state = s
	b := uint64(1) << t.slot
	runMask &^= b
	timedMask &^= b
	waitMask &^= b
	switch {
	case s == thRunning:
		runMask |= b
	case s == thBlocked:
		if t.deadline != 0 {
			timedMask |= b
			timedFirst = min(timedFirst, t.deadline)
		}
		if t.waitAddr != 0 {
			waitMask |= b
		}
	}
}

// mayRunOn reports whether cpu is in t's affinity. Context: shim lock.
//
//go:nosplit
func (t *kthread) mayRunOn(cpu uintptr) bool { return t.affinity == 0 || t.affinity&(1<<cpu) != 0 }

var (
	threads [maxThreads]kthread
	kstack0 [kstackSize]byte // slot 0's; the others are in the stack region (mapStack)
	// idleStack0 is CPU 0's idle context's stack (an AP idles on its
	// boot stack).
	idleStack0 [8 << 10]byte
	fxAreas    [maxThreads*fxSize + 16]byte
	nextTid    uintptr = 1
	nThreads   uint64  // live threads
	nSwitch    uint64
	// runMask, timedMask and waitMask are the slots running or runnable,
	// asleep with a deadline and asleep on a futex word (setState);
	// timedFirst is at most the earliest deadline of timedMask's (exact
	// after each expireSleepers), maxInt64 when there is none. Shim lock.
	runMask, timedMask, waitMask uint64
	timedFirst                   int64 = maxInt64
)

const maxInt64 = 1<<63 - 1

// Each slot is a bit of the masks above.
var _ [64 - maxThreads]struct{}

//go:nosplit
func current() *kthread { return &threads[thisCPU().cur] }

// threadInit prepares slot i with its stacks.
//
//go:nosplit
func threadInit(i int) *kthread {
	t := &threads[i]
	t.ktop = uintptr(unsafe.Pointer(&kstack0[0])) + kstackSize
	if i != 0 {
		t.ktop = kstackVA(i) + kstackSize // sysClone mapped it
	}
	t.fx = alignUp(uintptr(unsafe.Pointer(&fxAreas[0])), 16) + uintptr(i)*fxSize
	t.tid = nextTid
	nextTid++
	t.waitAddr, t.deadline, t.timedOut, t.onEpoll, t.devTaker = 0, 0, false, false, false
	t.affinity = 0 // not its creator's: only vCPU threads are bound, never the runtime's other Ms
	t.readySince, t.runTSC, t.readyTSC, t.migrations, t.naps, t.lastCPU = 0, 0, 0, 0, 0, 0
	for k := range cpuThreadTSC {
		cpuThreadTSC[k][i] = 0
	}
	// A reused slot starts with no signal state of its predecessor's.
	sigPending[i], sigmasks[i], altStack[i] = 0, 0, linux.AltStack{}
	rxWaiting[i] = false
	t.slot = uintptr(i)
	setState(t, thRunning)
	nThreads++
	return t
}

// firstThread makes slot 0 the boot thread (the runtime's m0).
//
//go:nosplit
func firstThread() {
	t := threadInit(0)
	c := thisCPU()
	c.cur = 0
	c.ktop = t.ktop
	c.fxarea = t.fx
	t.onCPU = c.id + 1
	acctOn(c, t, amd64.Rdtsc())
	// CPU 0's idle context starts in idleStart, from switchStack's
	// resume frame (BX, BP, return address).
	sp := uintptr(unsafe.Pointer(&idleStack0[0])) + uintptr(len(idleStack0)) - 3*8
	*word(sp + 16) = uint64(asmAddrs[10]) // idleStart
	*word(sp + 8) = 0                     // BP
	*word(sp) = 0                         // BX
	c.idleSP = sp
}

// pickThread returns the thread this CPU should switch to next, or
// noThread: the first, in round-robin order of the slots after from, that
// is runnable, is on no CPU, has this CPU in its affinity and is not self
// (sleepers whose deadline has passed become runnable first:
// expireSleepers). It visits only runMask's slots. Context: shim lock
// held, interrupts off.
//
//go:nosplit
func pickThread(c *cpuState, from, self uintptr) uintptr {
	if timedMask != 0 {
		expireSleepers()
	}
	m := runMask
	if self < maxThreads {
		m &^= 1 << self
	}
	// after: the slots above from, taken first; then the others.
	after := m
	if from < maxThreads {
		after = m &^ (uint64(2)<<from - 1)
	}
	for _, s := range [2]uint64{after, m &^ after} {
		for ; s != 0; s &= s - 1 {
			j := uintptr(bits.TrailingZeros64(s))
			if t := &threads[j]; t.onCPU == 0 && t.mayRunOn(c.id) {
				return j
			}
		}
	}
	return noThread
}

// expireSleepers makes runnable the sleepers whose deadline has passed
// (their sleep timed out) and makes timedFirst exact again; the clock is
// read once, and the sleepers visited only if the first deadline has
// passed. Context: shim lock held, interrupts off.
//
//go:nosplit
func expireSleepers() {
	now := nanotime()
	if now < timedFirst {
		return
	}
	first := int64(maxInt64)
	for s := timedMask; s != 0; s &= s - 1 {
		t := &threads[bits.TrailingZeros64(s)]
		if now >= t.deadline {
			t.timedOut = true
			setState(t, thRunning)
		} else {
			first = min(first, t.deadline)
		}
	}
	timedFirst = first
}

// switchIn makes thread j this CPU's running thread: its kernel stack
// for the next ring-3 or interrupt entry, its vector-state area and its
// TLS. The caller then switches to j's saved stack. Context: shim lock
// held, interrupts off.
//
//go:nosplit
func switchIn(c *cpuState, j uintptr) *kthread {
	t := &threads[j]
	t.onCPU = c.id + 1
	acctOn(c, t, amd64.Rdtsc())
	c.cur, c.last = j, j
	c.ktop = t.ktop
	c.fxarea = t.fx
	c.runs++
	amd64.Wrmsr(amd64.MSR_FS_BASE, uint64(t.fsBase))
	nSwitch++
	return t
}

// schedule gives the CPU to the next runnable thread that no other CPU
// is on and whose affinity has this CPU (round robin after the calling
// one); it returns when the calling thread runs again, on whichever CPU
// chose it. If there is none, the calling thread goes on when it is
// runnable and may run here; otherwise (it blocked, exited, or this CPU
// left its affinity) the CPU switches to its idle context (idleLoop),
// which frees the thread's stack at once for any CPU of its affinity (a
// runnable one's is kicked). Context: shim or timer preemption,
// interrupts off, the shim lock held (held again on return). saveFPU
// keeps the thread's vector state across the switch: the shim passes
// true (a vCPU thread holds its guest's x87 state in the CPU); irqTimer,
// which saves and restores the whole state itself, false.
//
//go:nosplit
func schedule(saveFPU bool) {
	c := thisCPU()
	old := &threads[c.cur]
	j := pickThread(c, c.cur, c.cur)
	if j == noThread && old.state == thRunning && old.mayRunOn(c.id) {
		return
	}
	// inShim is the calling thread's: the one resumed here may resume
	// in Go code (preempted there), or the idle loop in the shim.
	inShim := c.inShim
	if saveFPU {
		amd64.Fxsave(uint64(old.fx))
	}
	// No other CPU takes it before its ksp is saved: this CPU holds the
	// shim lock until the thread it switches to (or its idle loop) has
	// left switchStack.
	old.onCPU = 0
	if old.devTaker && devPending != 0 {
		// It leaves the CPU with device vectors it was left to take
		// (deviceIRQLocked): a vCPU parked for them takes them now; if
		// there is none, the generic waiter takes them unless the thread
		// is only preempted (it takes them when it runs again, as a
		// runnable vCPU sees on Xen the PIRQ do_IRQ sent meanwhile).
		devWakeParked(old.state == thRunning)
	}
	acctOff(c, old, amd64.Rdtsc())
	if c.longTimer != 0 {
		// The quiet guest's long timer was its thread's alone
		// (quietTimer): the next thread has the tick's period.
		tickRestore(c)
	}
	if old.state == thRunning && !old.mayRunOn(c.id) {
		kick(old) // it moves to a CPU of its affinity
	} else if old.state == thRunning && old.affinity != 0 && j != noThread {
		vcpuPreempts[c.id%maxCPUs]++
	}
	if j == noThread {
		c.cur = noThread
		switchStack(&old.ksp, c.idleSP)
	} else {
		t := switchIn(c, j)
		switchStack(&old.ksp, t.ksp)
	}
	// Back in the calling thread, maybe on another CPU.
	thisCPU().inShim = inShim
	if saveFPU {
		amd64.Fxrstor(uint64(old.fx))
	}
}

// idleLoop is a CPU's idle context, on its own stack (an AP's boot
// stack; CPU 0's idleStack0, entered through idleStart): it runs the
// threads pickThread gives it and halts while there is none, until its
// tick or an IPI (kick). A thread's schedule switches back here when it
// has nothing else to run; so no thread's stack is ever held by an idle
// CPU. Context: shim lock held, interrupts off (on only in the halt,
// with idling set); never returns.
//
//go:nosplit
func idleLoop() {
	c := thisCPU()
	for {
		c.inShim = 1
		if j := pickThread(c, c.last, noThread); j != noThread {
			t := switchIn(c, j)
			switchStack(&c.idleSP, t.ksp)
			// Back from a thread's schedule, whose pickThread found
			// nothing for this CPU under the shim lock held since:
			// halt without looking again (a blocking vCPU's way to
			// the halt, twice a blocked event round trip).
			c.inShim = 1
		}
		c.idling = 1
		idleTimer(c)
		c.tickEarly = 1
		t0 := amd64.Rdtsc()
		shimUnlock()
		amd64.StiHlt()
		t1 := amd64.Rdtsc()
		shimLock()
		t2 := amd64.Rdtsc()
		cpuIdleTSC[c.id] += t1 - t0
		atomic.AddUint64(&haltLockTSC[c.id], t2-t1)
		tickRestore(c)
		c.idling = 0
	}
}

// tickSoon makes this CPU's tick come in idleTimerMin, so that its
// schedule runs then (from the timer's preemption of Go code, a guest's
// exit or the idle loop): for a thread just woken that no idle CPU took.
// Context: interrupts off.
//
//go:nosplit
func tickSoon(c *cpuState) {
	lapicWrite(hw.LAPIC_TMICT, hw.LAPICTimerCount(lapicHz, idleTimerMin))
	c.tickEarly, c.timerAt = 1, nanotime()+idleTimerMin
}

// tickRestore gives the tick its period again, from now, after tickSoon,
// idleTimer or quietTimer changed it (the changed count would otherwise
// repeat). Context: the tick's handling (preempt, guestIRQ), the idle
// loop's wake-up or a switch of threads (schedule), interrupts off.
//
//go:nosplit
func tickRestore(c *cpuState) {
	if c.tickEarly != 0 {
		c.tickEarly, c.longTimer = 0, 0
		lapicTickCount()
		c.timerAt = nanotime() + tickNs
	}
}

// tickExpired is the tick's handling of its own expiry (preempt,
// guestIRQ): the periodic count fires again a period from now, unless
// it was changed (tickEarly: tickRestore, next, starts the period).
// Context: interrupts off, this CPU.
//
//go:nosplit
func tickExpired(c *cpuState) {
	if c.tickEarly == 0 {
		c.timerAt = nanotime() + tickNs
	}
}

// idleTimer sets the halting CPU's timer for the first deadline of a
// sleeper this CPU may run (at least idleTimerMin from now), or for
// idleTickMax when there is none or it is later: an idle CPU takes no
// tick it does not need (every tick of an idle CPU wakes its host
// thread under an emulator, and the busy CPUs' host threads lose that
// time), and a short sleep (a Go timer: a guest's one-shot timer, a
// runtime sleep) still wakes on time. Nothing else needs an idle CPU's
// tick: a thread made runnable for it, a signal, a shootdown and a
// device interrupt come as IPIs or interrupts, and a sleeper that
// blocks later does so on a CPU that is busy (its tick expires the
// sleeper) or halts after it (and sets its own timer). The caller marks
// the timer changed (tickEarly) and restores the period once the CPU
// wakes (tickRestore). Context: idleLoop, the shim lock held,
// interrupts off.
//
//go:nosplit
func idleTimer(c *cpuState) {
	d := int64(idleTickMax)
	now := nanotime()
	for s := timedMask; s != 0; s &= s - 1 {
		if t := &threads[bits.TrailingZeros64(s)]; t.mayRunOn(c.id) {
			d = min(d, t.deadline-now)
		}
	}
	d = max(d, idleTimerMin)
	c.idleAt = now + d // quietDeadline counts on it while this CPU idles
	c.timerAt = c.idleAt
	lapicWrite(hw.LAPIC_TMICT, hw.LAPICTimerCount(lapicHz, uint64(d)))
}

// block sleeps the current thread until woken or until deadline (ns, 0 =
// none); it reports whether the deadline ended the sleep.
//
//go:nosplit
func block(deadline int64) bool {
	t := current()
	t.deadline = deadline
	t.timedOut = false
	setState(t, thBlocked)
	schedule(true)
	t.deadline = 0
	return t.timedOut
}

// wake makes t runnable and kicks a CPU to run it. Context: shim lock.
//
//go:nosplit
func wake(t *kthread) {
	setState(t, thRunning)
	kick(t)
}

// preempt is the timer interrupt's switch (irqTimer saved the full state):
// it takes the shim lock, which deliverSignal, next on the same path,
// releases. Context: the thread's kernel stack, interrupts off.
//
//go:nosplit
func preempt() {
	shimLock()
	c := thisCPU()
	tickExpired(c)
	tickRestore(c)
	schedule(false)
}

// sysClone creates a kernel thread for a new M: a copy of the caller's
// frame that returns 0 on the new stack with the new TLS.
//
//go:nosplit
func sysClone(f *sysFrame) uintptr {
	if !linux.CloneIsThread(f.di) {
		return errno(enosys) // only threads: there are no processes
	}
	for i := 1; i < maxThreads; i++ {
		if threads[i].state != thFree || threads[i].onCPU != 0 {
			continue // in use, or a CPU is still on its stack (it is exiting)
		}
		if !mapStack(kstackVA(i), kstackSize) {
			heapExhausted()
		}
		t := threadInit(i)
		sigmasks[i] = sigmasks[thisCPU().cur] // a new thread inherits its creator's mask
		cf := (*sysFrame)(unsafe.Pointer(t.ktop - unsafe.Sizeof(sysFrame{})))
		*cf = *f
		cf.ax = 0
		cf.sp = f.si
		// switchStack's resume frame: BX, BP, then the return address.
		sp := uintptr(unsafe.Pointer(cf)) - 3*8
		*word(sp + 16) = uint64(asmAddrs[1]) // threadStart
		*word(sp + 8) = 0                    // BP
		*word(sp) = 0                        // BX
		t.ksp = sp
		t.fsBase = f.r8
		return t.tid
	}
	xputs("rt: out of kernel threads\n")
	return errno(eagain)
}

// sysSetAffinity is sched_setaffinity(pid, len, mask): thread pid (0:
// the calling one) may run only on the CPUs of the first word of mask
// that are online. -EINVAL for len < 8 or a mask with no online CPU,
// -ESRCH for no such thread. A thread moved off the CPU it runs on
// yields at once (the calling one here; another at its CPU's next
// schedule), so a CPU of the new set takes it.
//
//go:nosplit
func sysSetAffinity(pid, size, mask uintptr) uintptr {
	if size < 8 {
		return errno(einval)
	}
	touch(mask)
	m := *(*uint64)(unsafe.Pointer(mask)) & onlineMask()
	if m == 0 {
		return errno(einval)
	}
	t := current()
	if pid != 0 && pid != t.tid {
		t = nil
		for i := range threads {
			if threads[i].state != thFree && threads[i].tid == pid {
				t = &threads[i]
				break
			}
		}
		if t == nil {
			return errno(linux.ESRCH)
		}
	}
	t.affinity = m
	if t == current() && !t.mayRunOn(thisCPU().id) {
		schedule(true)
	}
	return 0
}

// sysGetAffinity is sched_getaffinity(pid, len, mask) for the calling
// thread (pid 0 or its tid; the runtime asks once, for the CPU count):
// its affinity, or every online CPU; it returns the 8 bytes written.
//
//go:nosplit
func sysGetAffinity(pid, size, mask uintptr) uintptr {
	t := current()
	if pid != 0 && pid != t.tid {
		return errno(linux.ESRCH)
	}
	if size < 8 {
		return errno(einval)
	}
	m := onlineMask()
	if t.affinity != 0 {
		m &= t.affinity
	}
	touch(mask)
	*word(mask) = m
	return 8
}

//go:nosplit
func sysExitThread() {
	t := current()
	setState(t, thFree)
	nThreads--
	schedule(false) // never returns: nothing runs a free slot
}

// futexes: FUTEX_WAIT and FUTEX_WAKE, private, on one address space.
//
//go:nosplit
func sysFutex(addr, op, val, timeout uintptr) uintptr {
	cmd, ok := linux.FutexOp(op)
	if !ok {
		return errno(enosys)
	}
	if cmd == linux.FutexWake {
		n := uintptr(0)
		for s := waitMask; s != 0 && n < val; s &= s - 1 {
			t := &threads[bits.TrailingZeros64(s)]
			if t.waitAddr == addr {
				t.waitAddr = 0
				wake(t)
				n++
			}
		}
		futexWakes[thisCPU().id%maxCPUs] += uint64(n)
		return n
	}
	// FUTEX_WAIT
	touch(addr)
	if *(*uint32)(unsafe.Pointer(addr)) != uint32(val) {
		return errno(eagain)
	}
	var dl int64
	if timeout != 0 {
		ns, ok := timespecNs(timeout)
		if !ok {
			return errno(einval)
		}
		dl = linux.Deadline(nanotime(), ns)
	}
	t := current()
	t.waitAddr = addr
	timedOut := block(dl)
	t.waitAddr = 0
	if timedOut {
		return errno(etimedout)
	}
	return 0
}

// timespecNs reads the struct timespec at p (linux.TimespecNs).
//
//go:nosplit
func timespecNs(p uintptr) (int64, bool) {
	touch(p)
	ts := (*[2]int64)(unsafe.Pointer(p))
	return linux.TimespecNs(ts[0], ts[1])
}

// The netpoller's epoll instance and its eventfd: the only file
// descriptors there are. An idle P sleeps in epoll_pwait until its next
// timer; netpollBreak writes the eventfd to wake it.
const (
	fdEpoll   = 3
	fdEventfd = 4
)

var (
	epollMade, eventfdMade bool
	eventfdCount           uint64
	eventfdData            uint64 // epoll_event.data registered for the eventfd
	eventfdWatched         bool
)

//go:nosplit
func eventfdSignal(n uint64) {
	eventfdSignals[thisCPU().id%maxCPUs]++
	eventfdCount += n
	for i := range threads {
		if threads[i].state == thBlocked && threads[i].onEpoll {
			wake(&threads[i])
		}
	}
}

//go:nosplit
func sysEpollWait(events, maxEvents uintptr, timeoutMs int64) uintptr {
	if maxEvents == 0 {
		return errno(einval)
	}
	if eventfdCount == 0 && timeoutMs != 0 {
		var dl int64
		if timeoutMs > 0 {
			dl = linux.Deadline(nanotime(), timeoutMs*1000000)
		}
		t := current()
		epollWaits[thisCPU().id%maxCPUs]++
		t.onEpoll = true
		block(dl)
		t.onEpoll = false
	}
	if eventfdCount > 0 && eventfdWatched {
		touch(events)
		touch(events + 11)
		*(*uint32)(unsafe.Pointer(events)) = 1 // EPOLLIN
		*(*uint64)(unsafe.Pointer(events + 4)) = eventfdData
		return 1
	}
	return 0
}
