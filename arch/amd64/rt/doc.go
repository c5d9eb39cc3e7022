// Package rt is the Go runtime's kernel: it boots the machine and then
// serves, in ring 0, the Linux system calls the stock Go runtime makes, so
// that an ordinary GOOS=linux program (cmd/gohv) runs with no OS under it;
// and it runs PV guests: entry and exit, copies through the guest's
// tables, its GDT. api_unsafe.go and guest_unsafe.go are what cmd/gohv
// calls.
//
// Lines. rt is one package with its parts in separate files:
//
//	boot     entry_amd64.s (multiboot1/2 and PVH entry, long mode),
//	         boot_unsafe.go (kmain)
//	CPU      percpu_unsafe.go (cpuState), desc_unsafe.go (GDT window,
//	         IDT, TSS)
//	memory   mem_unsafe.go (page tables, heap, the mmap family, the
//	         stack region), heap_unsafe.go (the heap once dom0 is built:
//	         ShrinkHeap, LendHeap, ReclaimLoan and the grower's HeapWait;
//	         ReadHeapUse, where its frames are, for reports),
//	         physmem_unsafe.go (machine memory for mm)
//	shim     syscall_unsafe.go (dispatch), thread_unsafe.go (threads,
//	         futexes, epoll/eventfd), signal_unsafe.go, time_unsafe.go,
//	         random_unsafe.go (getrandom's generator and its entropy),
//	         vdso_unsafe.go and vdso_amd64.s (the vDSO: the image whose
//	         address the runtime's auxv gives as AT_SYSINFO_EHDR, and
//	         __vdso_clock_gettime and __vdso_gettimeofday, which read the
//	         clock as the shim's clock_gettime does, without entering it)
//	traps    trap_unsafe.go (exceptions, panics, reboot, power-off),
//	         fault.go
//	irqs     apic_unsafe.go (the local APIC, its timer as the tick, EOI
//	         and the spurious vector; the 8259s masked; IO-APICs and
//	         the ISA lines routed through them), devirq_unsafe.go
//	         (device vectors hw.DeviceVecBase.. for guests' PIRQs: IO-APIC
//	         pins and MSIs routed for cmd/gohv's pirq.Controller, acked
//	         by Xen's edge/level rules, an MSI without a mask bit held
//	         until the guests' EOI; taken by the vCPU's thread whose
//	         guest the vector stopped (GuestContext.SetTakeDeviceIRQs,
//	         TakeDeviceIRQs), by a blocked vCPU's thread
//	         (WaitFutexOrDevice), or else waited for by WaitDeviceIRQs;
//	         DeviceIRQStats; device memory for MSI-X tables,
//	         DeviceRead32/DeviceWrite32)
//	SMP      smp_unsafe.go (APs started by INIT-SIPI-SIPI through the low
//	         trampoline into their idle context, idleLoop; the shim lock;
//	         the IPI that wakes an idle CPU, serves TLB shootdowns and
//	         makes a guest exit for GuestContext.Kick)
//	console  console_unsafe.go, serial_unsafe.go
//	guest    guest_amd64.s (entry, exit, the gate stubs, guest copies,
//	         fastSyscall: the PV SYSCALL bounce and HYPERVISOR_iret served
//	         in assembly without an exit, fastFault: a #PF bounced
//	         likewise, fastEvent: a kick's IPI served with the event
//	         upcall's bounce, fastHypercall: set_segment_base,
//	         stack_switch, VCPUOP_set_singleshot_timer and
//	         xen_version(XENVER_version) from guest kernel mode, an
//	         event pending at their return delivered there, as
//	         GuestContext.SetFastPath allows),
//	         guestctx_unsafe.go (guestCtx and its offsets),
//	         guest_unsafe.go (GuestContext, CopyFromGuest/CopyToGuest,
//	         TLB and table release, the kick: which CPU a context is in
//	         the guest on, and its kick flag, checked at the entry with
//	         interrupts off), debugreg_unsafe.go (the guest's
//	         debug registers and CR4 bits)
//
// The guest side is not a package of its own (as gVisor's ring0 is apart
// from its platforms) because its assembly is bound to the rest: every
// IDT gate and LSTAR/CSTAR land in guest_amd64.s's stubs, which tell a
// guest exit from a ring-0 trap or system call and go on to trapCommon or
// syscallEntry (entry_amd64.s); trapCommon resumes faults of guest
// selector loads and guest copies inside guest_amd64.s (segFixup,
// copyFixup) before any Go code runs, since FS_BASE may be the guest's
// there; and
// both sides address cpuState through one go_asm.h. Go assembly reaches
// only its own package's symbols and offsets without linkname, so a
// split would duplicate the macros and offsets. The calls across the line
// are few: GuestContext.Run reads the entering thread's FS base
// (current) and, for an interrupt that stopped the guest, makes the
// sysGuestIRQ system call, which serves it as a ring-0 interrupt
// (guestIRQ: the tick's schedule or quiet tick, deviceIRQ); gdtWindowInit and
// gdtEmptyPTE give the guest side the window it maps a vCPU's GDT into.
// The shim calls nothing on the guest side.
//
// Pure parts. What can be computed on values lives in two pure,
// host-tested packages that rt calls on every path, nosplit and without
// allocating: arch/amd64/hw (descriptor and page-table encodings, the
// upper-half layout, the image's segments, the boot loader's memory
// information, the heap's place and frame count, a guest's address
// ranges and entry flags) and arch/amd64/linux (the system calls'
// arguments decoded and checked, the signal frame's layout). rt keeps what needs
// the machine: the stores into tables, the walks, the switches.
//
// Guests. gohv's L4 entries are in every guest top level, so a guest runs
// and exits on its own tables. GuestContext.Run enters it by a plain call
// from the vCPU's goroutine (locked to its thread) and the exit returns
// from that call: to the runtime the goroutine is running, and holds its
// P, while the guest runs. The tick stops the guest and runs the shim's
// schedule (other threads that are due run first); then, if the caller
// needs no tick for a while (GuestContext.SetQuietFor) and no signal was
// sent to the thread since Run last returned (guestIRQ, quietTick), the
// guest goes on at once instead of Run returning, and the CPU's timer is
// set for the end of that time or the first sleeper's deadline,
// whichever is first (quietTimer, cpuState.longTimer): a busy guest takes
// no tick it does not need, as Xen programs its timer for the next
// deadline. A run may have a deadline of its own (SetDeadlines: the
// vCPU's one-shot and periodic timers, which hv fires on its return; a
// set_singleshot_timer fastHypercall serves moves it, and sets the
// timer as deadlineTimer would): the CPU's timer
// is set for it when it comes before the timer would fire anyway
// (deadlineTimer; cpuState.timerAt follows every setting of the timer
// and each periodic expiry), quiet ticks end there, and Run returns at
// it without the runtime's timers. A runtime preemption request (sysmon's, a stop-the-world's)
// is such a signal, and a signal for a thread on a CPU whose tick is so
// held off brings that CPU's tick forward by an IPI (reschedCPU), so the
// runtime can still preempt the goroutine or stop the world within a
// tick of asking; so does a thread made runnable that no idle CPU takes
// and only that CPU may run (a vCPU's, bound to it). Any other such
// thread runs on the CPU that made it runnable, whose tick comes within
// 20 µs (kick, tickSoon), as Xen's softirqs run where they were raised:
// a busy vCPU's CPU is not stopped for runtime work its waker's CPU can
// do (the power-off report's
// "gohv CPU<n> runtime:" line counts those IPIs, the vCPUs' preemptions,
// futex wakes, eventfd signals and epoll sleeps per CPU).
// (An earlier design had a VCPU_RUN system call instead, as KVM_RUN; a
// call costs no runtime transitions on every exit.) The exit saves what Go code
// clobbers, XMM0-15 and MXCSR, and the FS base; the guest's x87 state
// stays in the CPU with the thread (the shim saves it on every switch).
// Run never returns to a non-canonical RIP (IRETQ and SYSRET would fault
// in ring 0): it reports the #GP(0) that return raises as the guest's
// exit, as Xen reflects it; a non-canonical RSP is entered as it is.
// Likewise a CS or SS the IRETQ could not load (enterGuest checks them in
// the vCPU's GDT window, iretSelectors): the #GP or #NP, selector as
// error code, is the exit, without entering.
//
// Contexts. Everything reached from the SYSCALL entry, the interrupt
// stubs or kmain runs on a kernel or IST stack with interrupts off, under
// //go:nosplit, allocates nothing and stores no Go pointers in globals
// (addresses are uintptr), so neither the stack-growth check nor a write
// barrier can run there. The exported API runs in ordinary goroutines.
// The vDSO's routines run in the runtime's own context (its g0 or signal
// stack, interrupts on) like any code of the runtime, and read only what
// kmain set before the runtime started (tsc0, tscMult, bootUnix); an id
// they do not serve is a system call from there.
//
// CPUs. Every CPU the MADT lists (up to maxcpus=) runs the Go runtime's
// kernel threads: CPU 0 from kmain, each AP from apMain (started by
// StartAP through the trampoline, with its own cpuState, GDT window, TSS,
// IST stacks, tick and SYSCALL MSRs). Kernel stacks of thread slots past
// the boot thread's and IST stacks of CPUs past CPU 0 are mapped from
// heap frames in the stack region when first used (mapStack), so gohv
// holds stacks for the threads and CPUs that exist. One table of threads serves them
// all (schedule); a thread runs on at most one CPU at a time
// (kthread.onCPU), on any CPU of its affinity (kthread.affinity, set by
// sched_setaffinity: cmd/gohv binds a vCPU's thread to the CPU its
// scheduler slot names; other threads have every CPU) over its life; a
// CPU with nothing to run switches to its idle context (idleLoop, on its
// own stack), so the thread that left is free for any CPU at once, and
// halts there until its timer or an IPI: a halting CPU takes no periodic
// tick, its timer fires at the first deadline of a sleeper it may run or
// after idleTickMax (idleTimer); a busy CPU's tick comes at once for a
// woken heap grower no idle CPU took (tickSoon) and is held off while a
// quiet guest runs (quietTimer); the tick keeps its period again after
// each, and at every switch of threads (tickRestore, cpuState.tickEarly).
//
// Per CPU, owned by that CPU with interrupts off: its cpuState (reached
// through GS_BASE, thisCPU reads GS:0; the assembly uses go_asm.h
// offsets into it): the running thread (cur, ktop, fxarea), the SYSCALL
// scratch, idling, ticks, runs, inTrap and inShim, the guest entry and
// exit's scratch and what the CPU holds now (data selectors,
// KERNEL_GS_BASE, whose GDT the window maps: an entry on CPU n maps the
// vCPU's GDT in CPU n's window, and a window still mapping frames a
// vCPU has since dropped is never loaded from before its next remap),
// flushPending (the deferred guest TLB flush, read and cleared by
// guest_amd64.s on this CPU; set on every CPU by RequestTLBFlush, which
// also shoots down the other CPUs using guest translations (usingGuest,
// set by Run's entries and guestCopy) and waits for them, by InvalidatePage,
// and by GuestContext.FlushLocal on its vCPU's CPUs) and flushDone, the
// CR3 write counters (TLBCounts); its GDT window, TSS and IST stacks;
// besides it, its sigReturn frame (signal_unsafe.go) and its reserved
// GDT pages in gdtPool. Shared and set once at boot: the IDT, the static
// page tables (image, direct map, per-CPU area; FreeInitMemory unmaps
// the image's dead pages and trims the direct map once, and
// reachDirectMap adds its GiBs back under the shim lock), gdtZeroPage, nxBit,
// smapOn, goMXCSR, lapicVA (every CPU's local APIC answers at the same
// address) and lapicHz; atomics: apOnline, apicIDs, flushWant,
// shootGen, tablesGen.
//
// The shim lock (shimOwner, smp_unsafe.go) is the one lock: a spinlock
// taken with interrupts off by dispatch (every system call), the timer's
// preempt path (preempt, released by deliverSignal), demand faults in
// trap and the device interrupt path (both only if this CPU does not
// hold it already); held across a thread switch and released by the
// thread switched to (or threadStart, or the idle loop); released while
// the CPU halts. IPIs that wake a CPU (kick, reschedCPU) leave only
// once it is released (shimUnlock sends those this CPU asked for), since
// the woken CPU takes it first; shootdown IPIs leave at once.
// It covers the thread table (affinities included) and its signal state, futex waits,
// epoll/eventfd, the heap (its free list, heapLimbo, the runs it grew
// by and its grower's wake-up) and the mmap window with the stack region, rngState, the UART, the IO-APIC table and the ISA routes
// (apic_unsafe.go), the device vectors and their pending set
// (devirq_unsafe.go; a pin or MSI is sent to the CPU that routed it).
// Nothing else is ever taken inside it, so there is no lock order; the
// one wait under it (allocFrame for frames in limbo when the heap is
// otherwise empty) cannot deadlock, since every CPU spinning with
// interrupts off (on the lock, or waiting for acknowledgements) serves
// its own shootdown requests meanwhile. A CPU in the shim never waits
// for another CPU otherwise; ReleaseTables waits for acknowledgements in
// Go code, outside the lock, with interrupts on. A guest exit's
// interrupt is served (its EOI) on the CPU that took it: Run keeps
// interrupts off from the entry to that service.
//
// Imports: abi (HYPERVISOR_VIRT_END), arch (the vCPU register file,
// Canonical), arch/amd64, arch/amd64/hw, arch/amd64/linux,
// internal/chacha20 (nosplit-safe), and the standard library (unsafe,
// sync/atomic, syscall, math/bits, errors, fmt, time). Only cmd/gohv
// imports this package.
package rt
