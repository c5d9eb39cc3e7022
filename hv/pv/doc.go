// Package pv owns the 64-bit PV vCPU execution model of Xen 4.17, as
// ordinary Go over an arch.Regs and guest memory: everything a guest sees
// between one exit from the metal and the next entry.
//
// # What it owns
//
//   - VCPU: the per-vCPU PV state (Xen's arch.pv): the virtual kernel/user
//     mode bit, kernel_ss/kernel_sp (stack_switch), the virtual trap table,
//     the callbacks (event, failsafe, syscall, syscall32, sysenter, nmi)
//     with their mask-events flags, virtual CR0.TS, CR2 and CR4, the debug
//     registers, the virtual IOPL and I/O bitmap, TSC_AUX, XCR0 and CPUID
//     faulting.
//   - Bounce frames (Xen's create_bounce_frame): exceptions, event upcalls,
//     the failsafe callback and guest system calls enter the guest kernel
//     through them; a frame that cannot be written crashes the domain.
//   - HYPERVISOR_iret, the exception path (trap table, #PF's CR2 and U
//     bit, #NM and the virtual TS), guest SYSCALL from user mode, and the
//     emulation of what a PV kernel still executes: the forced-emulation
//     prefix with CPUID, RDMSR/WRMSR, MOV to/from CR and DR, CLTS, WBINVD,
//     IN/OUT/INS/OUTS, XSETBV, CLI/STI and INT n/INT3/INT1. Port
//     accesses get their effect from the Domain (Xen's guest_io_read and
//     guest_io_write; package ioport behind hv); machine-check MSRs from
//     the virtual MCA of Xen's vMCE (vmce.go: two banks, nothing injected).
//   - The PV CPUID policy (Policy), Xen's leaves at 0x40000000 included.
//   - A vCPU's initial state from a vcpu_guest_context (context.go:
//     CheckContext, LoadContext), as arch_set_info_guest takes it for
//     VCPUOP_initialise; the owner adds the GDT (SetGDT) and page tables.
//   - The guest's GDT (set_gdt's frames, each with a general and a
//     descriptor-page type reference; Xen's reserved selectors above
//     0xe000) and check_descriptor (CheckSegDescPage, mm's hook).
//   - The hypercalls that change this state, workers and argument
//     decoding both: set_trap_table, set_gdt, stack_switch,
//     set_callbacks, fpu_taskswitch, set_debugreg, get_debugreg,
//     update_descriptor, iret, set_segment_base and callback_op. Register
//     puts their handlers in the one dispatch table, so they are served
//     alike as direct calls and as multicall entries (Xen's pv64 column);
//     a handler reaches the calling vCPU's PV state and register file
//     through Owner (hv's VCPU) and VCPU.Regs.
//
// # Imports
//
// abi, arch, mm (its types, GuestAddrOK, and the FrameTable's reference
// counts for the GDT's frames), hypercall (the dispatch table's Handler, Caller and
// Args), golang.org/x/arch/x86/x86asm and the standard library. Pure: no unsafe,
// no assembly; built and tested on the host.
//
// # Contracts
//
//   - Context: goroutine context only (the vCPU's own goroutine). Nothing
//     here locks: a VCPU and its Regs belong to that goroutine. The
//     instruction decoder (x86asm.Decode) allocates, so the emulation path
//     is never on a nosplit or interrupt path; its results are cached per
//     vCPU by the instruction's bytes (decode.go).
//   - Guest memory is reached only through Memory, which copies through
//     the page tables of the named mode (KernelSpace/UserSpace) and fails
//     cleanly; vcpu_info's upcall mask/pending and arch.cr2 only through
//     VCPUInfo (the owner reads the vcpu_info's current address from one
//     place); I/O ports, CR3 loads and the hardware GDT through Domain;
//     machine frames only through Machine (set_gdt, update_descriptor).
//   - Guest input never panics. A guest action Xen answers with a domain
//     crash returns a *Crash (its Reason is the text for the
//     "(XEN) d%dv%d ..." line); everything else changes the guest's
//     registers, memory or vcpu_info as Xen 4.17 does.
//   - Mode switches (bounce from user mode, iret to user mode) swap
//     Regs.GSBase and Regs.GSBaseShadow in place (Xen's swapgs) and set
//     Tables.Reload; the metal loads PageTable() on the next entry.
//     Regs.GSBase is the active base, so in kernel mode it is Xen's
//     gs_base_kernel and GSBaseShadow is gs_base_user; in user mode the
//     other way round (GSBases gives both by name).
//   - FastPath tells a metal what it may do without an exit (Fast: the
//     SYSCALL bounce from user mode, HYPERVISOR_iret and the bounce of a
//     #PF from user mode, as this package would do them); FastPathRan
//     takes back the mode it left the vCPU in, FastFaultRan the CR2.
//   - The caller tries its own #PF fix-ups (writable page tables, shadow
//     LDT, spurious faults) before HandleException bounces a #PF.
//
// # Choices and differences from Xen 4.17
//
//   - The INT n decision is taken from the instruction bytes at RIP, not
//     from the #GP error code (QEMU 7.2's TCG reports wrong ones); INT3
//     and INT1 raised through #GP are delivered without a DPL check, as
//     Xen's IDT lets them through; INTO is invalid in 64-bit mode (#UD).
//   - RDMSR of an unknown MSR before the guest has a #GP handler returns
//     0 and WRMSR is dropped (a #GP then could only
//     crash the domain); with a handler both are #GP as in Xen 4.17.
//     EFER, APIC_BASE, PLATFORM_INFO writes and ARCH_CAPABILITIES (not in
//     the policy) are #GP; MISC_ENABLE writes are dropped; PMU MSRs read 0
//     and drop writes (vPMU off).
//   - A plain CPUID only reaches the emulation when the metal runs the
//     guest with real CPUID faulting; it is then emulated from the policy
//     (#GP in user mode while the guest's own CPUID faulting is on).
//   - x86asm gives MOV to/from CRn/DRn with a memory-form ModRM the
//     length of a memory operand; the CPU ignores the mod field, so the
//     length is recomputed (prefixes + 3) before RIP advances.
//   - The bounce's stack check is Xen 4.17's: the aligned stack top must
//     not lie in (HYPERVISOR_VIRT_START, HYPERVISOR_VIRT_END+64); in
//     addition the frame must be canonical, which Xen gets from the fault
//     on the write.
//   - SYSCALL from a 32-bit process (CS 0xe023) uses the syscall32
//     callback when registered, otherwise the syscall callback.
//   - get_debugreg and set_debugreg of a register above 7 return -ENODEV,
//     as Xen 4.17's code does.
//   - REP INS/OUTS do at most 4096 iterations per exit; the instruction is
//     then re-executed with the updated RCX/RSI/RDI, as Xen's emulator
//     does on preemption.
//   - CR4.TSD is never kept (Xen lets a PV guest set it): with it the
//     guest kernel's own RDTSC would fault in ring 3, and RDTSC is not
//     emulated. CR4.FSGSBASE is kept where the CPU has it and the metal
//     loads it (CR4Loaded); CR4.DE is emulation only (DR4/DR5 aliasing,
//     I/O breakpoints matched by the IN/OUT emulation as Xen's
//     check_guest_io_breakpoint).
//   - VCPUOP_initialise's fpu_ctxt (VGCF_i387_valid) is not loaded: a new
//     vCPU starts with the power-on FPU state (FCW 0x37F, MXCSR 0x1F80),
//     which is what Xen gives a context without the flag; the metal has
//     no way yet to take an FXSAVE image for a vCPU.
//   - XSAVE, AVX and everything built on them are offered only when the
//     metal runs with CR4.OSXSAVE and context-switches XCR0
//     (PolicyConfig.XCR0); gohv's metal does neither, so its guests see
//     no XSAVE and XSETBV is #UD, as on a CPU without it.
//
// # Non-canonical stack and instruction pointers
//
// What Xen 4.17 (x86_64/entry.S, pv/iret.c, traps.c; Debian's build, run
// under QEMU by tests/guests/stackfault.c and stackcrash.c) gives a PV
// guest, and gohv with it:
//
//   - HYPERVISOR_iret and the SYSRET/IRET return load any RSP: a
//     non-canonical one is entered as it is (neither IRETQ nor SYSRET
//     checks it), and the guest's first stack access faults in ring 3
//     (#SS(0) on hardware, #GP(0) under QEMU's TCG), bounced like any
//     fault. A user process that loads one itself and then makes a
//     SYSCALL, an INT $0x80, an exception or is interrupted by an event
//     upcall is bounced onto the kernel stack (stack_switch) normally; the
//     frame's RSP is the non-canonical value.
//   - A non-canonical RIP from iret (either mode, VGCF_in_syscall or not:
//     Xen falls back from SYSRET to IRET for it) faults on the return;
//     Xen's fixup turns that into the guest's own #GP(0) at the RIP, and
//     its emulator cannot fetch there, so #GP(0) is bounced with that RIP
//     in the frame. The metal reports the same exit without entering
//     (arch/amd64/rt's Run); generalProtection bounces #GP(0) for a RIP
//     the guest may not use without fetching.
//   - The bounce frame's stack top (the guest's RSP in kernel mode, the
//     stack_switch kernel_sp from user mode) inside the hypervisor's
//     range crashes the domain; below HYPERVISOR_VIRT_END it first loses
//     bit 63 (guest_access_mask_ptr of CONFIG_SPECULATIVE_HARDEN_GUEST_ACCESS,
//     which Debian enables), so (1<<63)|a for a lower-half a puts the frame
//     at a and the guest goes on, its frame holding the non-canonical RSP.
//     Any other non-canonical top makes the frame's first write fault and
//     the domain crashes (domain_crash_sync from entry.S: "Domain 0
//     (vcpu#0) crashed", the register dump with the guest's RIP and RSP
//     of the fault, SYSCALL or interrupt). Newer Xen keeps such an alias
//     non-canonical (a crash), 4.17 as built does not.
//   - set_trap_table and callback_op refuse non-canonical handlers
//     (-EINVAL), set_segment_base and WRMSR non-canonical bases; WRFSBASE
//     and WRGSBASE of one are #GP(0) from the CPU. QEMU's TCG loads such
//     a base instead; Xen then runs on with it, while the metal cannot
//     load it and Run fails, so gohv crashes the domain there.
//
// # FSGSBASE
//
// As Xen 4.17 (cpufeatureset.h marks FSGSBASE 'A'; pv_fixup_guest_cr4,
// pv_make_cr4, toggle_guest_mode), checked by tests/guests/fsgsbase.c on
// a CPU model with it: CPUID leaf 7 offers FSGSBASE where the CPU has it;
// the guest's CR4 starts without it and RD/WR{FS,GS}BASE are #UD; a MOV
// to CR4 setting it reads back, and the real CR4 has it while the vCPU
// runs (CR4Loaded, in both guest modes). The instructions act on the live
// bases: FS's, and in kernel mode the kernel's GS base (MSR GS_BASE,
// SEGBASE_GS_KERNEL), in user mode the user's (SHADOW_GS_BASE from kernel
// mode, SEGBASE_GS_USER). The metal reads FS and the active GS base back
// at every exit, and the mode switch swaps the GS pair (Xen's swapgs in
// toggle_guest_mode), so a base one mode wrote is the other mode's shadow.
// SWAPGS itself stays #GP.
//
// # Debug registers
//
// set_debugreg and MOV to DRn validate as Xen does and set ChangedDebug;
// the metal loads DR0-3/DR7 while the guest runs and has a breakpoint
// enabled. A #DB exit carries the CPU's DR6 (arch.Exit.DR6), merged into
// the virtual DR6 (MergeDR6) before the bounce, so get_debugreg(6) shows
// B0-B3/BS as on Xen.
package pv
