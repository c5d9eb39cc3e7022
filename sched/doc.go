// Package sched holds what sched_op and the vCPU timers need, independent
// of the metal: a per-vCPU Waiter that sleeps for SCHEDOP_block and
// SCHEDOP_poll and wakes on a kick, the one-shot timer (set_timer_op,
// VCPUOP_set_singleshot_timer) and the periodic timer
// (VCPUOP_set_periodic_timer, 10 ms by default), both delivering
// VIRQ_TIMER; and the Scheduler that shares a machine's physical CPUs
// among the vCPUs of every domain, in the manner of credit2. Semantics
// follow Xen 4.17's common/sched/core.c, common/sched/credit2.c and
// common/domain.c (read for facts, written afresh).
//
// # What it owns
//
//   - Clock (system time in ns, Xen's NOW()) and TimerSource (reusable
//     timers running a function at an absolute time, made once per
//     purpose and re-armed with Reset and Stop, which allocate nothing)
//     interfaces, with HostClock over the Go runtime (time.Timer) and
//     FuncClock, which reads system time through a function (cmd/gohv:
//     the shim's TSC clock) and arms the runtime's timers;
//     sched/schedtest has a manual clock for tests.
//   - Parker: what a vCPU's goroutine sleeps on in Block and Poll, and
//     in Enter while it waits for a CPU (a one-token wake-up), with ChanParker over a channel; cmd/gohv gives
//     hv a futex word (arch/amd64/futex) instead; schedtest.TestParker
//     checks either. A TimedParker also sleeps until a deadline: Block
//     and Poll then sleep until the one-shot timer's deadline or the
//     poll's timeout and fire it themselves (cmd/gohv's vCPU parker: the
//     shim's timer, not the Go runtime's millisecond ones).
//   - Events: what the scheduler asks of a domain's event channels
//     (*evtchn.Table implements it; this package does not import evtchn).
//   - Waiter: Block, Poll, Yield for the vCPU's own goroutine; Wake (the
//     evtchn Notifier's Kick calls it), Interrupt/ClearInterrupt (pause,
//     shutdown), the timer operations, and Scheduled/Descheduled, which
//     start and stop the periodic timer as Xen does on context switch;
//     SetStateHook tells hv when Block/Poll sleep and Yield gives way, for
//     the vCPU's runstate.
//   - Scheduler (one per machine, over N physical CPUs, its slots), with
//     a Domain (weight, cap) per domain and a VCPU (credit, hard
//     affinity) per vCPU: Enter, Ran, ShouldYield, Yield and Sleep for
//     the vCPU's own goroutine; Wake, SetAffinity, SetWeight, SetCap from
//     any; a Tickle hook the metal supplies.
//
// # Imports
//
// abi only (tests also use evtchn, mm and mm/mmtest). No unsafe.
//
// # Contracts
//
//   - A vCPU is a goroutine: Block and Poll park it on its Parker until
//     Wake. A wake-up that comes between the event check and the sleep is
//     kept (the Parker's token), so none is lost; a stale one is cleared
//     first, as the events it announced are rechecked in guest memory.
//   - Block returns 0 always; Poll returns 0, or -EINVAL for nr_ports >
//     128 or a listed port that is not valid or in use. The hypercall
//     layer does the -EFAULT part (reading sched_poll and the port list).
//   - With a TimedParker, the vCPU's goroutine serves its one-shot and
//     periodic timers and its poll's timeout itself, as Xen's timer
//     interrupt fires on the vCPU's CPU, and the TimerSource's timers for
//     them are never armed: a vCPU sleeping in Block or Poll sleeps until the earlier
//     deadline and then runs the timer's callback; a running one calls
//     Waiter.FireDue before each entry to its guest (hv's run loop) and
//     leaves the guest by the earlier of the deadlines FireDue returns
//     (the metal's GuestContext.SetDeadlines, given them apart). A
//     metal that serves VCPUOP_set_singleshot_timer without an exit
//     hands the deadline back after the run (SetSingleshotServed),
//     which fires at the next FireDue if it has come. On the metal the Go runtime's timers may
//     come up to a millisecond late (its netpoller waits in whole
//     milliseconds), and each one armed earlier than the runtime's poller
//     sleeps wakes that poller's thread. The fired one-shot timers'
//     lateness is counted (ReadOneshotLateness; cmd/gohv prints it at
//     power-off).
//   - Timer callbacks run on the TimerSource's goroutine, take Waiter.mu
//     only to decide, and raise VIRQ_TIMER after releasing it. A callback
//     acts only if its timer is armed and the armed deadline has come
//     (read under the lock), so one that lost a race with a Stop or Reset
//     does nothing; the Scheduler's slice and budget timers do the same.
//     The periodic and slice timers, disarmed and armed at every sleep
//     and wake, are lazy: disarming leaves the Timer set (it fires at
//     most once for nothing), and arming for a deadline no earlier than
//     the one it is set for leaves it so (its callback sets it again).
//   - A blocked or polling vCPU gets no periodic ticks (Xen stops the
//     periodic timer of a descheduled vCPU); after waking, an overdue tick
//     is raised once. The first Scheduled of a vCPU raises one at once
//     only if a period has passed since system time 0.
//   - VCPUOP_set_singleshot_timer ignores VCPU_SSHOTTMR_future, as the
//     4.17 header allows and current Xen does: a past deadline fires now.
//   - Waiter.Yield is runtime.Gosched between its state hooks; the
//     hook's listener (hv) asks the Scheduler to give the CPU away
//     (VCPU.Yield, then Enter). A blocked vCPU is woken by its events
//     (Waiter.Wake) and timers alone; its goroutine then takes a CPU
//     (Enter), which is where the Scheduler learns it is runnable.
//
// # The Scheduler's contract
//
//   - A CPU is held by at most one vCPU, a vCPU holds at most one CPU,
//     and a holder is in its hard affinity (a vCPU whose affinity moved
//     off its CPU is told to yield and tickled). No CPU idles while a
//     queued vCPU that is not parked may run there (no lost wake-up).
//     The tests check these after every step, in a fuzz target too.
//   - Enter blocks the vCPU's goroutine until it holds a CPU and returns
//     it (it sleeps on the vCPU's Parker, given to NewVCPU); it returns
//     at once while the vCPU holds one it need not give up. TryEnter is
//     Enter without the wait. Between Enter and its next Enter or Sleep the goroutine owns
//     the CPU; the metal binds its thread there (hv's Config.SetCPU).
//   - Credit burns while a vCPU holds a CPU, at max weight / its
//     domain's weight per ns (Ran, Sleep and the yielding Enter charge
//     it). A CPU that frees goes to the queued vCPU of most credit its
//     affinity allows (first queued on a tie); when the vCPU to run has
//     credit <= 0, every vCPU gets CreditInit (10 ms) added, times 1 +
//     how many CreditInit it is below -CreditInit, and is clipped to
//     CreditInit + CarryoverMax (credit2's reset_credit).
//   - A slice is the vCPU's credit lead over the best waiter for its CPU
//     at its burn rate, within [MinTimer 0.5 ms, MaxTimer 10 ms] and its
//     domain's budget. When it ends (the slice's timer marks it and
//     tickles the vCPU's CPU; Ran at the exit or the metal's tick, or
//     ShouldYield in a long hypercall) or the vCPU was tickled (until
//     Ran decides, NeedsCheck asks the metal for every tick; a capped
//     domain's vCPUs always), and the vCPU has run Ratelimit (1 ms)
//     since it took the CPU, it yields to a waiter of more credit, else
//     goes on with a new slice. Yield hands the CPU to any waiter.
//     The slice's timer is armed only while a vCPU waits that its CPU
//     could run (or its domain is capped): a lone vCPU's slice runs
//     untimed, nothing being to decide at its end but a new slice,
//     which the metal's Ran at the end of its quiet time gives (charging
//     it, and resetting a spent credit); a vCPU that comes to wait arms
//     the runners' timers, tickling one whose slice is already over.
//     Xen's timer fires on the vCPU's own CPU; here a Go timer, its
//     goroutine and a tickle's IPI would stop the busy vCPU each time.
//   - Wake (and Enter of an asleep vCPU) takes an idle CPU of the
//     vCPU's affinity, its last CPU first; else it tickles the runner
//     whose credit it beats by most (MigrateResist counting against
//     CPUs other than its last), calling the Tickle hook after the lock
//     is released.
//   - A cap is percent of one CPU: the domain's budget is cap% of
//     CapPeriod (10 ms), refilled every CapPeriod to at most that (debt
//     carries over); while it is spent its vCPUs are parked (a holder
//     yields at its next Ran or ShouldYield; queued ones are not picked)
//     until the refill.
//   - One lock (Scheduler.mu), taken after the caller's and never held
//     with a Waiter's; timers' callbacks take it; the Tickle hook runs
//     outside it. Fast paths (Enter keeping the CPU, ShouldYield with
//     nothing to decide) read atomics only.
//   - One run queue for the machine: no per-socket queues, load
//     balancing or soft affinity, as credit2 has; a vCPU changes CPU
//     only when it is given a free one (after a wake-up or a yield).
package sched
