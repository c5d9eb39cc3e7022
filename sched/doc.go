// Package sched holds what sched_op and the vCPU timers need, independent
// of the metal: a per-vCPU Waiter that sleeps for SCHEDOP_block and
// SCHEDOP_poll and wakes on a kick, the one-shot timer (set_timer_op,
// VCPUOP_set_singleshot_timer) and the periodic timer
// (VCPUOP_set_periodic_timer, 10 ms by default), both delivering
// VIRQ_TIMER. Semantics follow Xen 4.17's common/sched/core.c and
// common/domain.c (read for facts, written afresh).
//
// # What it owns
//
//   - Clock (system time in ns, Xen's NOW()) and TimerSource (run a
//     function at an absolute time) interfaces, with HostClock over the Go
//     runtime; sched/schedtest has a manual clock for tests.
//   - Events: what the scheduler asks of a domain's event channels
//     (*evtchn.Table implements it; this package does not import evtchn).
//   - Waiter: Block, Poll, Yield for the vCPU's own goroutine; Wake (the
//     evtchn Notifier's Kick calls it), Interrupt/ClearInterrupt (pause,
//     shutdown), the timer operations, and Scheduled/Descheduled, which
//     start and stop the periodic timer as Xen does on context switch;
//     SetStateHook tells hv when Block/Poll sleep and Yield gives way, for
//     the vCPU's runstate.
//
// # Imports
//
// abi only (tests also use evtchn, mm and mm/mmtest). No unsafe.
//
// # Contracts
//
//   - A vCPU is a goroutine: Block and Poll park it on a channel until
//     Wake. A wake-up that comes between the event check and the sleep is
//     kept, so none is lost; a stale one is drained first, as the events
//     it announced are rechecked in guest memory.
//   - Block returns 0 always; Poll returns 0, or -EINVAL for nr_ports >
//     128 or a listed port that is not valid or in use. The hypercall
//     layer does the -EFAULT part (reading sched_poll and the port list).
//   - Timer callbacks run on the TimerSource's goroutine, take Waiter.mu
//     only to decide, and raise VIRQ_TIMER after releasing it.
//   - A blocked or polling vCPU gets no periodic ticks (Xen stops the
//     periodic timer of a descheduled vCPU); after waking, an overdue tick
//     is raised once. The first Scheduled of a vCPU raises one at once
//     only if a period has passed since system time 0.
//   - VCPUOP_set_singleshot_timer ignores VCPU_SSHOTTMR_future, as the
//     4.17 header allows and current Xen does: a past deadline fires now.
//   - Yield is runtime.Gosched: there is no run queue here yet. The
//     vCPUs of a domain (dom0_max_vcpus, VCPUOP_up) are independent
//     goroutines that the Go runtime shares out between the shim's
//     threads; a blocked vCPU is woken by its events (Wake) and timers
//     alone. Weights, caps and pinning (credit2, dom0_vcpus_pin) are not
//     implemented.
package sched
