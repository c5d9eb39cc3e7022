// Package hypercall owns the one hypercall dispatch table of the 64-bit PV
// ABI (Xen 4.17) and the decoding of hypercall arguments: from the guest's
// registers and memory to Go values, and back.
//
// # What it owns
//
//   - Dispatcher: one array of NrHypercalls handlers indexed by hypercall
//     number (Xen's hypercall-defs.c pv64 column); empty slots and numbers
//     beyond the table return -ENOSYS. Multicall entries and continuations
//     go through the same table. hv/pv adds the handlers that change a
//     vCPU's architectural state (set_trap_table, set_gdt, stack_switch,
//     set_callbacks, iret, set_segment_base, callback_op, ...) with
//     Register at boot; a handler that needs more of the vCPU than
//     VCPU offers (its register file) reaches it by asserting the VCPU
//     to its own interface.
//   - The three-step sandwich of every handler here: decode (registers,
//     then guest memory through Guest: a failed copy is -EFAULT), a worker
//     that takes Go values only (this package's own: Features,
//     VMAssistOp, Shutdown, the console filter; or the evtchn, grant, mm
//     and sched workers), encode the OUT fields back.
//   - Result: a finished call's RAX, or a continuation (Xen's
//     hypercall_create_continuation) as data: new argument values plus
//     "re-execute", which Regs.Apply turns into RAX = number, new argument
//     registers and RIP backed up over the SYSCALL.
//   - DomainState: the one record of a domain's hypercall-visible state:
//     the vm_assist set, the shutdown code and shutting-down flag (the
//     only copy: hv stops the vCPUs on it), the console line buffer, the
//     domain handle, and the domain's evtchn table and mm space. hv's
//     Domain owns it for the domain's lifetime (see hv's doc.go).
//   - The workers of xen_version (17), console_io (18), vm_assist (21),
//     sched_op (29), sched_op_compat (6), set_timer_op (15), multicall
//     (13); and the argument handling of event_channel_op (32) and its
//     legacy form (16), grant_table_op (20), mmu_update (1), mmuext_op (26),
//     update_va_mapping (14) and update_va_mapping_otherdomain (22), whose
//     workers live in evtchn, grant, mm and sched; of vcpu_op (24) and
//     memory_op (12), whose workers are behind VCPUOps and MemoryOps (hv's
//     Domain implements both: a Domain is asserted to them, and without
//     them the call is -ENOSYS), plus MachineMemoryMap, Xen's rule for the
//     host e820 dom0 sees; of physdev_op (33), whose workers are package
//     pirq's (the machine's IRQs, Config.IRQs, and the domain's PIRQs,
//     DomainConfig.PIRQs) and the vCPU's I/O privileges (IOVCPU); and of
//     platform_op (7) over Config.Platform.
//     docs/hypercall-status.md lists every number and sub-op.
//
// # Imports
//
// abi, mm, evtchn, grant, sched, pirq and the standard library. Pure: no unsafe,
// no assembly, nothing from arch; built and tested on the host.
//
// # Contracts
//
//   - Context: goroutine context only (handlers lock, may allocate, and
//     sched_op block/poll sleep). hv calls Dispatch from the vCPU's own
//     goroutine, with that vCPU's Caller; a Caller is never shared between
//     vCPUs.
//   - Guest input never panics and never yields anything but a
//     non-negative value, a guest-visible abi.Errno (never EINTR or
//     ERESTART: preemption is a Result field, not an errno) or a
//     continuation. The fuzz target checks this.
//   - Handlers touch no guest memory outside the structures the call names,
//     and change no other domain's state unless the caller is privileged
//     (remote_shutdown, foreign mmu_update) or the operation is
//     interdomain by design (event channels, grants).
//   - Preemption: batch calls (multicall, mmu_update, mmuext_op, the
//     grant_table_op loops, console_io write) ask VCPU.Preempt between
//     elements, never before the first, so every piece makes progress.
//
// # Choices and differences from Xen 4.17
//
//   - XENVER_extraversion is ".0-gohv" (Linux prints "Xen version:
//     4.17.0-gohv"); capabilities are "xen-3.0-x86_64" only; changeset and
//     compile date come from the Go build's VCS stamp ("unavailable"
//     without one); build_id is -ENODATA for the privileged domain and
//     -EPERM for others.
//   - console_io: a domain that is not privileged may write when its
//     DomainConfig.ConsoleWrite is set (Xen release builds refuse it with
//     -EPERM), so domU early printk and panics reach the serial line; its
//     output is filtered to printable characters and buffered per line as
//     Xen does for non-hardware domains. Reading stays the privileged
//     domain's.
//   - sched_op shutdown, shutdown_code, remote_shutdown and
//     sched_op_compat shutdown refuse a reason above SHUTDOWN_MAX with
//     -EINVAL (docs/hypercall-status.md). Xen 4.17 truncates the reason to 8 bits
//     and records anything. SCHEDOP_watchdog and SCHEDOP_pin_override are
//     -ENOSYS.
//   - SHUTDOWN_suspend is recorded like the other reasons and returns 0;
//     the "1 = suspend cancelled" return is written into the guest's RAX
//     by the toolstack's resume, as with Xen.
//   - SCHEDOP_poll reads the whole port list before checking any port.
//   - Multicall: a nested multicall is -EINVAL; an iret entry ends the
//     batch (XSA-213) whether or not hv registered iret. Xen's debug-build
//     poisoning of entries is not done.
//   - mmu_update/mmuext_op foreign owners: DOMID_XEN is -ESRCH (gohv has
//     no Xen-owned frames a guest may map); other domains need the
//     privileged caller, as does DOMID_IO except for mmu_update (mm checks
//     the I/O permission of each frame), as in Xen's dummy XSM policy.
//   - Xen's guest_handle_okay range checks are reduced to overflow checks;
//     unmapped or kernel addresses fault on the copy itself (so a
//     reservation or exchange list that faults part-way stops there
//     instead of failing up front).
//   - VCPUOP_register_vcpu_info also refuses an offset that is not 8-byte
//     aligned (-EINVAL): event delivery updates the words atomically.
//     VCPUOP_send_nmi is -ENOSYS. VCPUOP_initialise reads the whole
//     5168-byte vcpu_guest_context (DecodeVCPUContext) before the
//     worker looks at it; XENMEM_memory_map is -ENOSYS for every domain (no
//     set_memory_map), XENMEM_add_to_physmap -EACCES (PV is not
//     translated).
//   - SpaceGuest copies through the vCPU's kernel page tables: by the
//     metal's DirectAccess when it can (the CPU's own walk of the loaded
//     tables, as Xen's copy_from_guest; not while a TLB flush is due on
//     that CPU), otherwise, and for the exact
//     outcome of a copy that faults, in software (mm.Space.Translate):
//     hypercalls come from guest kernel mode.
//   - physdev_op: map_pirq of MAP_PIRQ_TYPE_MULTI_MSI is -EINVAL (one
//     vector per MSI); alloc_irq_vector answers vector = irq to dom0
//     (-EPERM otherwise) as Xen does; prepare_msix, release_msix and
//     free_irq_vector are -ENOSYS; pci_mmcfg_reserved is -ENODEV for every region (gohv reads
//     no MCFG); dbgp_op succeeds doing nothing (no EHCI debug port). The
//     rest follows Xen 4.17's physdev.c and irq.c, including
//     irq_status_query's XENIRQSTAT_needs_eoi for every PIRQ; see package
//     pirq for the interrupt side.
//   - platform_op: settime32/64, firmware_info, get_cpuinfo,
//     enter_acpi_sleep and set_processor_pminfo answer as Xen 4.17 booted
//     without BIOS calls, EFI, S3 support, cpufreq or cpuidle would: no
//     EDD/MBR/EDID entries (-ESRCH), no EFI (-ENOSYS), keyboard shift
//     flags 0, S5 powers the machine off (Platform.PowerOffS5, as Xen's
//     enter_state), S3 -EOPNOTSUPP and every other sleep state -EINVAL
//     (extended sleep -EPERM, no FADT sleep registers read), Px/Cx/Tx
//     data -ENOSYS, _PDC bits masked as with no power
//     driver. get_cpuinfo's ACPI id is Xen's INVALID_ACPIID (gohv reads no
//     MADT). Other commands are -ENOSYS. No xenpf_lock: nothing here waits
//     for another platform_op.
//   - Handlers take *Args and return a three-word Result, so both travel
//     in registers; the pointer is valid for the call only (hv and
//     multicall keep the Args in the heap).
package hypercall
