// Package hv holds domains and vCPUs together: it creates a domain's
// memory model, event channels, grant table and shared_info page, runs a
// vCPU by handing it to the metal (a Backend) and handling each exit —
// hypercalls through the one dispatch table (hv/pv's PV handlers
// included, installed by NewMachine), exceptions and system calls
// through the PV execution model — carries out shutdowns, which for the
// hardware domain means powering off or rebooting the machine, and
// destroys domains (DestroyDomain).
//
// Ownership: a Domain owns everything its domain holds, from
// CreateDomain to DestroyDomain: vCPUs, the shared_info frame, the grant
// table, its registry entries, and one hypercall.DomainState, the single
// record of its hypercall-visible state (vm_assist, shutdown, console
// buffer, event channels, memory model). hv keeps no second copy of any
// of it: Domain.Space, Events and Stopped read the DomainState. That
// record lives in package hypercall rather than here because the
// hypercall layer's handlers and their host tests need its semantics
// (first shutdown code wins, vm_assist bits, the console line buffer)
// without a machine; hv decides its lifetime. CreateDomain gives back
// whatever it had set up when it fails; DestroyDomain follows Xen's
// domain_kill / domain_relinquish_resources order and returns every frame
// to the allocator. A vCPU's vcpu_info address has one record too, its
// domain's evtchn.Table (VCPUInfo).
//
// vCPUs (vcpuup.go): every vCPU is created down and not initialised; the
// domain builder initialises vCPU 0, VCPUOP_initialise the others
// (registers and PV state through pv.LoadContext, GDT, LDT and base
// pointers through the memory model, as Xen's arch_set_info_guest), and
// UpVCPU starts a vCPU's goroutine the first time it comes up
// (Config.StartVCPU; cmd/gohv's locks it to a kernel thread). A vCPU that
// is down (VCPUOP_down) parks in Run, runstate offline, until it is up
// again or its domain stops; Domain.vcpuMu orders initialise, up and
// the start. Unlike Xen, which clears VPF_down for VGCF_online but wakes
// nothing (such a vCPU runs only once something wakes it), a context
// with VGCF_online starts the vCPU at once, as VCPUOP_up would.
//
// Scheduling: the Machine has one sched.Scheduler over Config.CPUs
// physical CPUs, each Domain a sched.Domain (weight, cap: Domain.Sched)
// and each VCPU a sched.VCPU (hard affinity: SetVCPUAffinity). Run takes
// a CPU before each entry (takeCPU: the thread moves there through
// Config.SetCPU when it changes; a wait is runstate runnable), charges
// the slice at each timer-tick exit (Ran; the metal keeps the guest
// running through ticks while QuietFor allows: the scheduler tickles the
// CPU when it must decide), and gives the CPU up while the
// vCPU is blocked or polling (the waiter's state hook), down or stopped.
// Preempt is the scheduler's ShouldYield: a long hypercall stops at its
// continuation when the slice is over and another vCPU waits, or the
// cap's budget is spent (or an event is to be delivered). The vCPU's
// one-shot and periodic timers are served on its goroutine (a metal
// Parker is a sched.TimedParker): Run fires them when due before each
// entry, and Preempt does (sched.Waiter.FireDue), and Run gives the
// metal the two deadlines (RunDeadlines), the earlier of which ends the
// guest's run then; a metal that serves VCPUOP_set_singleshot_timer
// itself (FastSingleshot) hands the one-shot deadline back with
// FastSingleshotRan. A vCPU's goroutine sleeps (block, poll, a wait for a CPU) on the sched.Parkers Config.NewParker makes (cmd/gohv's:
// futex words). get_physid answers for a pinned vCPU of the
// hardware domain only (Config.PhysCPUs), as Xen 4.17.
//
// vcpu_op and memory_op: Domain implements hypercall.VCPUOps (vcpuop.go:
// vcpu_info placement with a writable reference on its frame, the
// runstate, kept on every change: block and poll sleeps through the
// waiter's state hook, yields, the metal's interrupt exits and waits for
// a CPU until the next entry, and written with the time info to the
// guest's registered areas)
// and hypercall.MemoryOps (memop.go: page count and max_pages, extents
// from the allocator, frames given back through mm.FrameTable.RemovePage,
// exchanges through Steal, the M2P's frames, the host e820 of
// Config.HostMemoryMap). At loglvl=all the first -ENOSYS a domain gets
// for each hypercall and sub-op is named on the console (enosys.go).
//
// Port I/O: each Domain has an ioport.Domain over the machine's one
// ioport.Host (Config.Ports, with Config.PCI's configuration space): the
// hardware domain reaches every port but Config.DeniedPorts, PCI
// configuration space and the RTC through the mediation Xen gives dom0;
// other domains reach no port. IOMem is an
// mm.IOPolicy over frame ranges; Dom0IOMemDenied lists what Xen keeps
// back from dom0's I/O memory.
//
// Pure: imports abi, arch, kernel, mm, evtchn, grant, pirq, pci, ioport, sched, hypercall, hv/...,
// internal/klog and the standard library; never the metal, never unsafe.
// cmd/gohv supplies the Backend (arch/amd64/rt) and the machine's power
// and console; Config.IRQ, the interrupt hardware guests' PIRQs go
// through (a pirq.Controller: the IO-APIC pins and the MSIs cmd/gohv
// programs through Config.PCI); nil stands for a machine without them,
// and physdev_op then answers as Xen does there.
// platform_op's settime moves every domain's wall clock (physdev.go).
//
// Contexts: each vCPU runs on its own goroutine, which the Backend locks to
// an OS thread; everything here is ordinary goroutine code. Domain and
// machine state are guarded by the locks named on their fields.
//
// Events (kick.go): the domain's evtchn.Notifier (kicker) wakes a vCPU
// asleep in its waiter and kicks any other through Backend.Kick (an IPI
// to the CPU it runs the guest on, or its next entry refused: Run then
// returns a zero Exit and the loop delivers first, Xen's vcpu_kick);
// VCPU.Preempt is Xen's local_events_need_delivery, so batch hypercalls
// stop at their next element with a continuation and the event is
// delivered before the guest re-issues them.
//
// TLBs: the metal keeps a guest's page tables loaded between its exits
// and entries, so every flush the PV MMU asks for goes to the Backend
// (FlushTLB, FlushLocalTLB, InvalidatePage): the vCPU's flusher for its
// own operations (the target's vCPU mask decides: the caller alone is its
// own CPU's INVLPG or flush, with no IPI, as Xen's flush_tlb_local; any
// other vCPU adds Backend.FlushTLB, a mask naming no vCPU nothing),
// machineFlusher for the grant layer's references and released frames.
// The flusher counts what it asked for (exitStats, at loglvl=all).
// set_gdt's frames (held by hv/pv) go to the Backend too (SetGDT, through
// pv.Domain.LoadGDT), which maps them in the hardware GDT when the vCPU
// runs. Cache flushes (the hardware domain's WBINVD,
// MMUEXT_FLUSH_CACHE[_GLOBAL]) reach it as FlushCache.
//
// Hardware state: what the PV layer changes that the CPU must follow (the
// pv.Changed* bits: debug registers, CR4's loaded bits) the Backend takes
// with VCPU.TakeChanged before an entry and reloads (DebugRegs,
// LoadedCR4); the virtual CR0.TS it reads at every entry (VirtualTS).
// What the metal may serve without an exit (the SYSCALL bounce,
// HYPERVISOR_iret and the bounce of a #PF) it reads with
// VCPU.FastPath before an entry, and it reports what it did with
// VCPU.FastPathRan (and FastFaultRan, FastHypercallsRan for the
// set_segment_base, stack_switch, set_singleshot_timer and xen_version
// calls it served, and FastSingleshotRan for the last deadline) before
// the exit is handled, so the PV model's mode, CR2 and kernel stack are
// always the guest's. Each vCPU counts the exits that reach Go by vector
// and hypercall, with the TSC ticks each took, printed at loglvl=all
// when the domain shuts down (exitstats.go).
package hv
