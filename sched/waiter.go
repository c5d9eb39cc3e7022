package sched

// Lock order: Waiter.mu is a leaf lock with respect to this package. It is
// never held while calling Events (which takes event-channel locks and
// kicks, and a kick calls Wake): timer callbacks decide under mu and raise
// VIRQ_TIMER after releasing it. Timer.Reset and Stop are called with mu
// held (a TimerSource never runs a callback inside them).

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/gohv/gohv/abi"
)

// Events is the event-channel state of one domain as the scheduler needs
// it; *evtchn.Table implements it. vcpu is the vCPU id within the domain.
type Events interface {
	// EnableEvents clears the vCPU's evtchn_upcall_mask.
	EnableEvents(vcpu int)
	// EventsNeedDelivery reports upcall_pending && !upcall_mask.
	EventsNeedDelivery(vcpu int) bool
	// PollPort reports whether port is pending, masked or not; -EINVAL
	// for a port that is not valid or not in use.
	PollPort(port uint32) (pending bool, err abi.Errno)
	// StartPoll registers the vCPU as polling every port; SetPollPort
	// narrows it to one port, reporting false if the vCPU was woken
	// meanwhile; StopPoll ends the poll. A port becoming pending while
	// the vCPU polls it kicks the vCPU (which calls Wake).
	StartPoll(vcpu int)
	SetPollPort(vcpu int, port uint32) bool
	StopPoll(vcpu int)
	// RaiseVIRQ sends virq to the vCPU (VIRQ_TIMER here).
	RaiseVIRQ(vcpu int, virq uint32)
}

// Limits and defaults of Xen 4.17's sched_op, set_timer_op and vcpu_op
// timers, in nanoseconds of system time.
const (
	// MaxPollPorts is the largest nr_ports SCHEDOP_poll accepts.
	MaxPollPorts = 128
	// DefaultPeriod is the periodic timer a PV vCPU starts with (100 Hz).
	DefaultPeriod = 10_000_000
	// MinPeriod is the shortest period VCPUOP_set_periodic_timer accepts.
	MinPeriod = 1_000_000
	// MaxPeriod is STIME_DELTA_MAX, the longest period accepted.
	MaxPeriod = 1<<62 - 1
	// hugeTimeoutLimit is how far ahead set_timer_op may aim (2^50 ns,
	// about 13 days) before Xen assumes a wrapped Linux jiffy value.
	hugeTimeoutLimit = 1 << 50
	// hugeTimeoutDelay is when such a timeout fires instead: 100 ms.
	hugeTimeoutDelay = 100_000_000
)

// Waiter is the scheduler-side state of one vCPU: the sleep of
// SCHEDOP_block and SCHEDOP_poll, the one-shot timer and the periodic
// timer. Block, Poll and Yield are called only by the vCPU's own goroutine
// (the one running it); every other method is safe from any goroutine.
type Waiter struct {
	// Immutable after NewWaiter.
	vcpu  int
	ev    Events
	clock Clock
	// park holds at most one pending wake-up; Wake leaves it, Block and
	// Poll clear it before checking for events and park on it after.
	park Parker
	// oneshot and pollTimer are the vCPU's timers (the periodic one is
	// below), made once and re-armed (Reset) and disarmed (Stop) under
	// mu.
	oneshot, pollTimer Timer
	// interrupted makes Block and Poll return at once (Interrupt).
	interrupted atomic.Bool
	// ownTimers: the park is a TimedParker, and the vCPU's goroutine
	// serves its one-shot and periodic timers and its poll timeout
	// itself (FireDue before each entry, the guest run bounded by the
	// deadline it returns; the sleep's ParkUntil), so the TimerSource's
	// one-shot, periodic and poll timers are never armed. Immutable.
	ownTimers bool
	// dueAt mirrors oneshotAt while oneshotArmed, and periodicDue
	// periodicAt while periodicArmed (0: not armed), for FireDue's
	// check without mu when ownTimers. Written under mu.
	dueAt, periodicDue atomic.Int64

	// mu guards the fields below. A timer's callback acts only if its
	// timer is armed and its deadline has come (both read under mu), so
	// that a call that lost a race with a Stop or Reset does nothing.
	mu sync.Mutex
	// oneshotArmed: the one-shot timer is armed, for oneshotAt.
	oneshotArmed bool
	oneshotAt    int64
	// period is the periodic timer's period (0 = stopped); lastPeriodic
	// is the time of its last event (Xen's periodic_last_event); the
	// timer is armed for periodicAt while periodicArmed. periodic is
	// lazy: Descheduled disarms it without stopping it, so that a short
	// sleep's Scheduled, which arms it for the same deadline again,
	// need not reset it either.
	period        int64
	lastPeriodic  int64
	periodicArmed bool
	periodicAt    int64
	periodic      lazyTimer
	// pollArmed: the timeout of the poll in progress is armed for pollAt.
	pollArmed bool
	pollAt    int64

	// stateHook hears the vCPU leave and re-enter the running state inside
	// the waiter (SetStateHook); nil: nobody listens. Set before the vCPU
	// runs, called only on the vCPU's own goroutine.
	stateHook func(state int32)
}

// SetStateHook makes the waiter tell hook when its vCPU stops running
// inside Block, Poll or Yield and when it runs again: hook(RUNSTATE_blocked)
// before Block or Poll sleeps and hook(RUNSTATE_running) after it wakes;
// hook(RUNSTATE_runnable) before Yield gives way and hook(RUNSTATE_running)
// after. hv keeps the vCPU's runstate (VCPUOP_get_runstate_info, the
// registered runstate area) with it. Call it before the vCPU first runs;
// hook runs on the vCPU's goroutine with no lock of the waiter held.
func (w *Waiter) SetStateHook(hook func(state int32)) { w.stateHook = hook }

func (w *Waiter) setState(state int32) {
	if w.stateHook != nil {
		w.stateHook(state)
	}
}

// NewWaiter returns the waiter of vCPU vcpu with the default 10 ms
// periodic timer configured but not armed: it starts with the first
// Scheduled. Its timers come from timers, made here once; its sleeps are
// on park (nil: a NewChanParker), which is its alone.
//
// With a TimedParker, the vCPU's goroutine serves its one-shot and
// periodic timers and its poll's timeout itself, as Xen's timer
// interrupt on the vCPU's own CPU does: it calls FireDue before each
// entry to the guest and bounds the guest's run by the earlier deadline
// FireDue returns, and a sleep ends at the deadline (ParkUntil; the periodic
// timer is stopped while the vCPU sleeps). timers' one-shot, periodic
// and poll timers are then never armed: on the metal they are the Go
// runtime's timers, which come up to a millisecond late, and each one
// armed earlier than the runtime's poller sleeps wakes that poller's
// thread on a CPU the guest wants.
func NewWaiter(vcpu int, ev Events, clock Clock, timers TimerSource, park Parker) *Waiter {
	if park == nil {
		park = NewChanParker()
	}
	w := &Waiter{
		vcpu:   vcpu,
		ev:     ev,
		clock:  clock,
		park:   park,
		period: DefaultPeriod,
	}
	_, w.ownTimers = park.(TimedParker)
	w.oneshot = timers.NewTimer(w.oneshotFired)
	w.periodic.t = timers.NewTimer(w.periodicFired)
	w.pollTimer = timers.NewTimer(w.pollTimedOut)
	return w
}

// Wake wakes the vCPU if it sleeps in Block or Poll, or makes its next
// sleep end at once if it is between its event check and its sleep. It
// never blocks; call it from the evtchn Notifier's Kick.
func (w *Waiter) Wake() { w.park.Unpark() }

// Interrupt makes the current Block or Poll, and every later one until
// ClearInterrupt, return 0 at once (for pausing or shutting down the
// vCPU).
func (w *Waiter) Interrupt() {
	w.interrupted.Store(true)
	w.Wake()
}

// ClearInterrupt undoes Interrupt.
func (w *Waiter) ClearInterrupt() { w.interrupted.Store(false) }

// drain forgets a stale wake-up: events it announced are rechecked in
// guest memory right after.
func (w *Waiter) drain() { w.park.Clear() }

// sleep waits for a wake-up, with the periodic timer stopped meanwhile, as
// Xen stops it while a vCPU is descheduled. With a TimedParker and the
// one-shot timer or a poll's timeout armed, the sleep also ends at the
// earlier deadline, and the vCPU fires what is due itself (oneshotFired,
// pollTimedOut; the TimerSource's timers are not armed then: NewWaiter),
// as Xen's timer interrupt wakes the blocked vCPU on its own CPU: the Go
// runtime's timers come on an idle machine up to a millisecond late (its
// netpoller waits in whole milliseconds). A sleep that ends at its
// deadline returns even if the timer's event is masked: the guest
// rechecks its events, as after any wake-up.
func (w *Waiter) sleep() {
	w.setState(abi.RUNSTATE_blocked)
	w.Descheduled()
	tp, timed := w.park.(TimedParker)
	if dl, armed := w.sleepDeadline(); timed && armed {
		if tp.ParkUntil(dl) {
			w.oneshotFired()
			w.pollTimedOut()
		}
	} else {
		w.park.Park()
	}
	w.setState(abi.RUNSTATE_running)
	w.Scheduled()
}

// sleepDeadline returns the earlier deadline of the armed one-shot timer
// and the armed poll timeout; false if neither is armed.
func (w *Waiter) sleepDeadline() (deadline int64, armed bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.oneshotArmed {
		deadline, armed = w.oneshotAt, true
	}
	if w.pollArmed && (!armed || w.pollAt < deadline) {
		deadline, armed = w.pollAt, true
	}
	return deadline, armed
}

// Block is SCHEDOP_block: clear the upcall mask; if an event is then
// deliverable return at once, else sleep until a wake-up. It returns 0
// always (Linux BUG()s on anything else); the pending upcall is delivered
// on the way back to the guest.
func (w *Waiter) Block() abi.Errno {
	w.drain()
	w.ev.EnableEvents(w.vcpu)
	if w.ev.EventsNeedDelivery(w.vcpu) || w.interrupted.Load() {
		return 0
	}
	w.sleep()
	return 0
}

// Poll is SCHEDOP_poll once the hypercall layer has copied the port list
// in (nr_ports > MaxPollPorts must give -EINVAL before any copy, as Xen
// checks it first, then -EFAULT for an unreadable list). It returns 0 at
// once if an event is deliverable or any listed port is pending, masked
// or not; -EINVAL at the first listed port that is not valid or not in
// use; otherwise it sleeps until a listed port (any port, unless exactly
// one is listed) becomes pending, an upcall is raised, or system time
// reaches timeout (absolute ns; 0 = no timeout; a time already past or a
// negative one ends the poll at once), and returns 0. The upcall mask is
// left alone.
func (w *Waiter) Poll(ports []uint32, timeout int64) abi.Errno {
	if len(ports) > MaxPollPorts {
		return abi.EINVAL
	}
	w.drain()
	w.ev.StartPoll(w.vcpu)
	defer w.ev.StopPoll(w.vcpu)
	if w.ev.EventsNeedDelivery(w.vcpu) || w.interrupted.Load() {
		return 0
	}
	for _, p := range ports {
		pending, err := w.ev.PollPort(p)
		if err != 0 {
			return err
		}
		if pending {
			return 0
		}
	}
	if len(ports) == 1 && !w.ev.SetPollPort(w.vcpu, ports[0]) {
		return 0 // woken between StartPoll and now
	}
	if timeout != 0 {
		if timeout <= w.clock.Now() {
			return 0
		}
		w.mu.Lock()
		w.pollArmed, w.pollAt = true, timeout
		if !w.ownTimers {
			w.pollTimer.Reset(timeout)
		}
		w.mu.Unlock()
		defer w.stopPollTimer()
	}
	w.sleep()
	return 0
}

// pollTimedOut wakes the vCPU if the timeout of the poll in progress has
// come: the poll timer's callback.
func (w *Waiter) pollTimedOut() {
	w.mu.Lock()
	due := w.pollArmed && w.clock.Now() >= w.pollAt
	if due {
		w.pollArmed = false
	}
	w.mu.Unlock()
	if due {
		w.Wake()
	}
}

// stopPollTimer cancels the timeout of the poll that is ending.
func (w *Waiter) stopPollTimer() {
	w.mu.Lock()
	w.stopPollLocked()
	w.mu.Unlock()
}

func (w *Waiter) stopPollLocked() {
	if w.pollArmed {
		w.pollArmed = false
		if !w.ownTimers {
			w.pollTimer.Stop()
		}
	}
}

// Yield is SCHEDOP_yield: let other goroutines run, then return 0 (the
// periodic timer catching up, as after a sleep: the vCPU may have waited
// for a CPU).
func (w *Waiter) Yield() abi.Errno {
	w.setState(abi.RUNSTATE_runnable)
	runtime.Gosched()
	w.setState(abi.RUNSTATE_running)
	w.Scheduled()
	return 0
}

// SetTimerOp is set_timer_op: arm the one-shot timer at absolute system
// time timeout. 0 cancels it. A negative timeout, or one more than 2^50 ns
// ahead (a wrapped Linux jiffy value), fires in 100 ms instead. A time
// already past fires now: VIRQ_TIMER is raised before SetTimerOp returns.
// Always 0.
func (w *Waiter) SetTimerOp(timeout int64) abi.Errno {
	if timeout == 0 {
		w.StopSingleshot()
		return 0
	}
	now := w.clock.Now()
	if offset := timeout - now; timeout < 0 || (offset > 0 && offset >= hugeTimeoutLimit) {
		timeout = now + hugeTimeoutDelay
	}
	w.armOneshot(timeout, now)
	return 0
}

// SetSingleshot is VCPUOP_set_singleshot_timer for the calling vCPU
// (the hypercall layer refuses another vCPU with -EINVAL, and an
// unreadable argument with -EFAULT): the timer is armed at timeoutAbs,
// and a time already past fires now. flags is ignored: the 4.17 header
// lets the hypervisor ignore VCPU_SSHOTTMR_future, and Xen's current code
// does (a past deadline fires at once rather than failing with -ETIME,
// which old Linux kernels could not handle). Always 0.
func (w *Waiter) SetSingleshot(timeoutAbs uint64, flags uint32) abi.Errno {
	w.armOneshot(int64(timeoutAbs), w.clock.Now())
	return 0
}

// SetSingleshotServed arms the one-shot timer at deadline for a
// VCPUOP_set_singleshot_timer the metal served without an exit while the
// deadline was still ahead (hv.VCPU.FastSingleshotRan): as
// SetSingleshot then, except that a deadline that has come since fires
// at the next FireDue, its lateness counted (ReadOneshotLateness), as
// the timer armed at the hypercall would have fired. Without a
// TimedParker it is SetSingleshot. Context: the vCPU's goroutine.
func (w *Waiter) SetSingleshotServed(deadline int64) {
	if !w.ownTimers {
		w.armOneshot(deadline, w.clock.Now())
		return
	}
	w.mu.Lock()
	w.oneshotArmed, w.oneshotAt = true, deadline
	w.dueAt.Store(deadline)
	w.mu.Unlock()
}

// StopSingleshot cancels the one-shot timer (VCPUOP_stop_singleshot_timer,
// set_timer_op(0)).
func (w *Waiter) StopSingleshot() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopOneshotLocked()
}

func (w *Waiter) stopOneshotLocked() {
	if w.oneshotArmed {
		w.oneshotArmed = false
		w.dueAt.Store(0)
		if !w.ownTimers {
			w.oneshot.Stop()
		}
	}
}

// armOneshot (re)arms the one-shot timer at deadline; a deadline at or
// before now raises VIRQ_TIMER at once instead.
func (w *Waiter) armOneshot(deadline, now int64) {
	w.mu.Lock()
	if deadline <= now {
		w.stopOneshotLocked()
		w.mu.Unlock()
		w.ev.RaiseVIRQ(w.vcpu, abi.VIRQ_TIMER)
		return
	}
	w.oneshotArmed, w.oneshotAt = true, deadline
	if w.ownTimers {
		w.dueAt.Store(deadline)
	} else {
		w.oneshot.Reset(deadline)
	}
	w.mu.Unlock()
}

// oneshotFired raises VIRQ_TIMER if the one-shot timer is armed and its
// deadline has come: the one-shot timer's callback.
func (w *Waiter) oneshotFired() {
	w.mu.Lock()
	now := w.clock.Now()
	due := w.oneshotArmed && now >= w.oneshotAt
	if due {
		w.oneshotArmed = false
		w.dueAt.Store(0)
		noteLateness(now - w.oneshotAt)
	}
	w.mu.Unlock()
	if due {
		w.ev.RaiseVIRQ(w.vcpu, abi.VIRQ_TIMER)
	}
}

// FireDue is the owner's timer check before each entry to the guest,
// with a TimedParker (NewWaiter): it raises VIRQ_TIMER if the one-shot
// timer's or the periodic timer's deadline has come (the periodic one
// then set for its next period), and returns the deadlines still armed
// (0: not armed): the guest's run must end by the earlier so that this
// is called again. They come apart for a metal that serves
// VCPUOP_set_singleshot_timer without an exit: it replaces the run's
// one-shot deadline, keeps the periodic one, and arms the one-shot timer
// with SetSingleshotServed after the run. Without a TimedParker the
// TimerSource fires the timers and FireDue does nothing but return 0s.
// Context: the vCPU's goroutine, on the path of every entry: without a
// deadline armed it reads two atomics.
func (w *Waiter) FireDue() (oneshot, periodic int64) {
	if !w.ownTimers {
		return 0, 0
	}
	at, pat := w.dueAt.Load(), w.periodicDue.Load()
	if at == 0 && pat == 0 {
		return 0, 0
	}
	now := w.clock.Now()
	if at != 0 && now >= at {
		w.oneshotFired()
		at = w.dueAt.Load()
	}
	if pat != 0 && now >= pat {
		w.periodicFired()
		pat = w.periodicDue.Load()
	}
	return at, pat
}

// OwnsTimers reports whether the vCPU's goroutine fires the vCPU's
// timers itself (a TimedParker: FireDue).
func (w *Waiter) OwnsTimers() bool { return w.ownTimers }

// Lateness of the one-shot timers that fired (every Waiter's, since
// boot): how long after its deadline each raised VIRQ_TIMER. Atomics,
// written under each Waiter's mu, read by anyone (ReadOneshotLateness).
var (
	oneshotFires   atomic.Uint64
	oneshotLateSum atomic.Uint64 // ns
	oneshotLateMax atomic.Uint64 // ns
	oneshotLate    atomic.Uint64 // fires more than LateBound after the deadline
)

// LateBound is how late a one-shot timer may fire before
// ReadOneshotLateness counts it late: Xen's default timer_slop.
const LateBound = 50_000

func noteLateness(ns int64) {
	oneshotFires.Add(1)
	oneshotLateSum.Add(uint64(ns))
	for m := oneshotLateMax.Load(); uint64(ns) > m && !oneshotLateMax.CompareAndSwap(m, uint64(ns)); m = oneshotLateMax.Load() {
	}
	if ns > LateBound {
		oneshotLate.Add(1)
	}
}

// OneshotLateness is what ReadOneshotLateness reports.
type OneshotLateness struct {
	Fired uint64 // one-shot timers that raised VIRQ_TIMER
	Late  uint64 // of them, more than LateBound after their deadline
	SumNs uint64 // their lateness added up
	MaxNs uint64 // the latest
}

// ReadOneshotLateness returns the lateness of every one-shot timer fired
// since boot (not one snapshot: the counters are read one by one).
func ReadOneshotLateness() OneshotLateness {
	return OneshotLateness{Fired: oneshotFires.Load(), Late: oneshotLate.Load(), SumNs: oneshotLateSum.Load(), MaxNs: oneshotLateMax.Load()}
}

// SetPeriodic is VCPUOP_set_periodic_timer: VIRQ_TIMER every period ns
// while the vCPU is scheduled. An event is due at once if a period has
// passed since the last one.
//
// Errors: -EINVAL period < 1 ms or > STIME_DELTA_MAX.
func (w *Waiter) SetPeriodic(period uint64) abi.Errno {
	if period < MinPeriod || period > MaxPeriod {
		return abi.EINVAL
	}
	w.setPeriodic(int64(period))
	return 0
}

// StopPeriodic is VCPUOP_stop_periodic_timer.
func (w *Waiter) StopPeriodic() { w.setPeriodic(0) }

// Period returns the periodic timer's period, 0 if stopped.
func (w *Waiter) Period() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.period
}

func (w *Waiter) setPeriodic(period int64) {
	w.mu.Lock()
	w.stopPeriodicLocked()
	w.period = period
	send := period != 0 && w.periodicWorkLocked()
	w.mu.Unlock()
	if send {
		w.ev.RaiseVIRQ(w.vcpu, abi.VIRQ_TIMER)
	}
}

func (w *Waiter) stopPeriodicLocked() {
	w.periodicArmed = false
	w.periodicDue.Store(0)
	w.periodic.stop()
}

// periodicWorkLocked is Xen's vcpu_periodic_timer_work: if a period has
// passed since the last event, one is due now (reported to the caller,
// who raises it after unlocking); then the timer is armed for the next.
// Caller holds mu and period != 0.
func (w *Waiter) periodicWorkLocked() (send bool) {
	now := w.clock.Now()
	next := w.lastPeriodic + w.period
	if now >= next {
		send = true
		w.lastPeriodic = now
		next = now + w.period
	}
	w.periodicArmed, w.periodicAt = true, next
	if w.ownTimers {
		w.periodicDue.Store(next)
	} else {
		w.periodic.arm(next)
	}
	return send
}

// periodicFired runs the periodic work if the periodic timer is armed
// and its deadline has come, and sets the timer again if it is armed
// for later: the periodic timer's callback.
func (w *Waiter) periodicFired() {
	w.mu.Lock()
	now := w.clock.Now()
	w.periodic.fired(now)
	send := false
	if w.periodicArmed && w.period != 0 {
		if now >= w.periodicAt {
			send = w.periodicWorkLocked()
		} else if !w.ownTimers {
			w.periodic.arm(w.periodicAt)
		}
	}
	w.mu.Unlock()
	if send {
		w.ev.RaiseVIRQ(w.vcpu, abi.VIRQ_TIMER)
	}
}

// Scheduled tells the waiter its vCPU is about to run: the periodic timer
// catches up (an overdue event is raised now) and is re-armed. hv calls it
// when the vCPU first runs and whenever it runs again after being
// descheduled; Block and Poll call it after their sleep, Yield after its
// turn.
func (w *Waiter) Scheduled() {
	w.mu.Lock()
	send := w.period != 0 && w.periodicWorkLocked()
	w.mu.Unlock()
	if send {
		w.ev.RaiseVIRQ(w.vcpu, abi.VIRQ_TIMER)
	}
}

// Descheduled tells the waiter its vCPU stopped running: the periodic
// timer stops until the next Scheduled (it raises nothing meanwhile;
// its Timer is left set, and fires at most once for nothing).
func (w *Waiter) Descheduled() {
	w.mu.Lock()
	w.periodicArmed = false
	w.periodicDue.Store(0)
	w.mu.Unlock()
}

// Stop cancels every timer (vCPU destruction). The periodic period is
// kept; nothing fires until SetTimerOp, SetSingleshot, SetPeriodic or
// Scheduled.
func (w *Waiter) Stop() {
	w.mu.Lock()
	w.stopOneshotLocked()
	w.stopPeriodicLocked()
	w.stopPollLocked()
	w.mu.Unlock()
}
