// Package evtchn implements Xen's event channels with the 2-level and the
// FIFO ABI, as Xen 4.17 does (common/event_channel.c, event_2l.c and
// event_fifo.c were read for facts; this code is written afresh).
//
// # What it owns
//
//   - Each domain's port table (Table): port 0 reserved, ports 1..MaxPort
//     (default 1023, as libxl; never beyond 4095 on 2-level, 131071 on
//     FIFO), each
//     free, unbound (for one remote domain), interdomain (peer domain and
//     port), VIRQ (virq, vCPU), IPI (vCPU) or PIRQ (pirq). Channel state
//     exists a bucket of 64 ports at a time, as in Xen, so "valid port"
//     answers (-EINVAL against "closed") match Xen's.
//   - The workers of EVTCHNOP_*: AllocUnbound, BindInterdomain, BindVIRQ,
//     BindIPI, BindPIRQ, BindVCPU, Close, Send, Status, Unmask, Reset,
//     ResetCont, InitControl, ExpandArray, SetPriority; plus Destroy for a dying
//     domain. They take Go values, never guest addresses, and return Xen's
//     errno as abi.Errno (0 on success, positive values: the hypercall
//     layer negates them). The receiver is the calling domain's table.
//   - Hypervisor-side senders: RaiseVIRQ (per-vCPU VIRQs such as
//     VIRQ_TIMER), SendVIRQGlobal and Registry.SendGlobalVIRQ (global
//     VIRQs such as VIRQ_CONSOLE and VIRQ_DOM_EXC, routed to the hardware
//     domain unless a handler domain was set), SendPIRQ.
//   - 2-level delivery into the real shared_info page through
//     mm.MachineMemory, with the atomic Or64/And64/Load64 operations
//     (evtchn_pending at 2048, evtchn_mask at 2560; in each vcpu_info
//     upcall_pending at 0, upcall_mask at 1, evtchn_pending_sel at 8). A
//     vCPU's vcpu_info address is settable (SetVCPUInfo, for
//     VCPUOP_register_vcpu_info); vCPUs 32 and up have none until then.
//     The Table is the one record of that address (VCPUInfo): hv reads
//     it for everything else it writes into a vcpu_info.
//   - Masked, the guest's mask bit of a port (PHYSDEVOP_IRQ_UNMASK_NOTIFY).
//   - FIFO delivery (fifo.go) once the domain calls init_control: per-vCPU
//     control blocks (ready bitmap, head[16]) and the event array (32-bit
//     event words, PENDING/MASKED/LINKED/BUSY/LINK) in guest frames held
//     through Config.Frames (FrameTableFrames: get_page plus a writable
//     type reference, as Xen's map_guest_page) until EVTCHNOP_reset, which
//     returns the domain to 2-level, or Destroy; the queue tails and each
//     port's priority and last queue; queue linking with the tail word's
//     compare-and-swap and the BUSY protocol; evtchn_upcall_pending is set
//     when a queue's ready bit goes 0 -> 1 (evtchn_pending_sel is not
//     used). Ports still LINKED are not reallocated.
//   - Poll registration for SCHEDOP_poll (StartPoll, SetPollPort,
//     StopPoll, PollPort) and the upcall-mask operations of SCHEDOP_block
//     (EnableEvents, EventsNeedDelivery): *Table implements sched.Events.
//   - Argument codecs for the hypercall layer (decode.go): ArgSize(cmd),
//     DecodeX / EncodeX over the generated abi structures, StatusInfo.Fill.
//     The hypercall layer copies ArgSize bytes in (-EFAULT), decodes,
//     calls the worker, fills OUT fields and encodes them back on success.
//
// # Imports
//
// abi, mm and internal/lockorder only (tests also use mm/mmtest). No unsafe,
// no arch code.
//
// # Contracts
//
//   - Locking: one mutex per domain table (Xen's event_lock); two-domain
//     operations lock both tables in increasing domain-id order. See the
//     lock-order block in table.go. Every exported method is safe for
//     concurrent use from goroutine context.
//   - Notifier.Kick(vcpu) is called, with table locks held, when an
//     upcall becomes pending for a vCPU (upcall_pending went 0 -> 1) or a
//     port a vCPU polls becomes pending. It must not block or call back
//     into evtchn; hv wires it to sched.Waiter.Wake plus an IPI to the
//     vCPU's physical CPU if it runs elsewhere.
//   - The guest owns evtchn_mask and clears pending and selector bits; the
//     hypervisor only sets pending, selector and upcall_pending bits, reads
//     the mask, and clears a port's pending bit when the port is freed.
//     With FIFO the guest owns MASKED and may clear PENDING and LINKED; the
//     hypervisor sets PENDING, LINKED, BUSY (only while linking), writes
//     LINK of a linked tail, head[] and ready bits, and clears MASKED for
//     EVTCHNOP_unmask. Event words are 32 bits inside 64-bit words: each
//     atomic operation leaves the neighbouring word as it finds it.
//   - Frames.GetWritable/PutWritable are called with a table's mu held.
//   - Guest input never panics; a machine word outside RAM (a bad
//     vcpu_info registration) makes the delivery step a no-op.
//
// # Differences from Xen 4.17, on purpose
//
//   - A table made without Config.Frames does not offer FIFO:
//     EVTCHNOP_init_control returns -ENOSYS and a guest such as Linux stays
//     on 2-level (hv always supplies Frames). Xen's queue locks are folded
//     into the table's mu. An event raised on a port with no event word
//     yet is kept for expand_array, but freeing the port forgets it (Xen
//     keeps the flag and raises a stale event after a re-bind).
//   - A 32-bit compare-and-swap on an event word (through the 64-bit
//     atomics) retries at most 64 times when the guest keeps changing
//     the neighbouring word; it then counts as a failed try of Xen's
//     linking loop, which ends after five tries (Xen does the same to a
//     guest that keeps changing the word itself).
//   - XSM is the dummy policy reduced to Config.Privileged: a domain acts
//     on itself, a privileged domain on any (device-model targets are not
//     modelled).
//   - Channels consumed by the hypervisor itself
//     (alloc_unbound_xen_event_channel) do not exist yet.
//   - Reset closes at most 4096 ports without preemption, so no reset is
//     ever in progress: a guest's EVTCHNOP_reset_cont gets -EBUSY
//     (ResetCont), as Xen answers one with no reset to continue.
//   - BindPIRQ records the binding (status, close, bind_vcpu, SendPIRQ
//     work); routing the machine interrupt (pirq_guest_bind) belongs to
//     package pirq, reached through Config.PIRQBind and PIRQUnbind.
package evtchn
