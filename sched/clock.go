package sched

import (
	"math"
	"time"
)

// Clock reads Xen system time: nanoseconds since boot, monotonic (NOW()).
type Clock interface {
	Now() int64
}

// TimerSource makes reusable timers that run a function at absolute
// system times. A user makes one timer per purpose (a vCPU's one-shot,
// periodic and poll timers, its slice, a domain's budget refill) once,
// and re-arms it with Reset and Stop, which allocate nothing.
type TimerSource interface {
	// NewTimer returns a stopped timer that runs f each time it fires.
	// f never runs inside NewTimer, Reset or Stop: it runs on the
	// source's own goroutine (for a test clock, on the goroutine that
	// moves time), so their caller may hold locks that f takes.
	NewTimer(f func()) Timer
}

// Timer is one reusable timer of a TimerSource. Reset and Stop are safe
// from any goroutine and allocate nothing.
//
// A callback may still run after a Stop or Reset that did not catch it
// (it had already started): f is to check, under its owner's lock, that
// the deadline its owner armed has come (see Waiter and Scheduler), so
// that such a stale call does nothing.
type Timer interface {
	// Reset arms the timer to fire once, as soon as system time reaches
	// deadline (promptly for a deadline already past), replacing any
	// earlier arming.
	Reset(deadline int64)
	// Stop disarms the timer, reporting whether it was armed and had
	// not fired.
	Stop() bool
}

// HostClock is the Clock and TimerSource of the Go runtime: system time
// counts from the HostClock's creation, timers are time.Timers of
// time.AfterFunc, re-armed by time.Timer.Reset. It serves host tests
// and, on the metal, any build whose runtime clock is the calibrated TSC
// behind the Linux-syscall shim.
type HostClock struct {
	// start is the instant of system time 0; immutable.
	start time.Time
}

// NewHostClock returns a HostClock whose system time starts at 0 now.
func NewHostClock() *HostClock { return &HostClock{start: time.Now()} }

// NewHostClockSince returns a HostClock whose system time 0 was start (on
// the metal: the moment the TSC was calibrated, so system time here is
// the one guests see in vcpu_time_info).
func NewHostClockSince(start time.Time) *HostClock { return &HostClock{start: start} }

// Now implements Clock.
func (c *HostClock) Now() int64 { return int64(time.Since(c.start)) }

// NewTimer implements TimerSource: one time.Timer, created stopped.
func (c *HostClock) NewTimer(f func()) Timer { return newHostTimer(c, f) }

// FuncClock is a Clock that reads system time through a function, with
// the Go runtime's timers as its TimerSource (as HostClock's). On the
// metal the function is the shim's own clock (the calibrated TSC, read
// directly: a few instructions where time.Since goes through the
// runtime's vDSO call); it must advance exactly as the runtime's
// monotonic clock does (there: the same TSC reading and scale), so that
// a timer armed for a deadline fires once Now has reached it.
type FuncClock struct {
	now func() int64 // immutable
}

// NewFuncClock returns the FuncClock that reads system time from now.
func NewFuncClock(now func() int64) *FuncClock { return &FuncClock{now: now} }

// Now implements Clock.
func (c *FuncClock) Now() int64 { return c.now() }

// NewTimer implements TimerSource: one time.Timer, created stopped.
func (c *FuncClock) NewTimer(f func()) Timer { return newHostTimer(c, f) }

func newHostTimer(c Clock, f func()) *hostTimer {
	t := &hostTimer{c: c, t: time.AfterFunc(math.MaxInt64, f)}
	t.t.Stop()
	return t
}

// hostTimer adapts *time.Timer to Timer for a Clock that advances with
// the runtime's monotonic clock (HostClock, FuncClock); immutable.
type hostTimer struct {
	c Clock
	t *time.Timer
}

// Reset implements Timer. time.Timer.Reset of an AfterFunc timer
// allocates nothing. The time.Timer fires when the runtime's monotonic
// clock, which Now follows, has moved by deadline - Now(), so Now() is
// at least deadline when f runs.
func (h *hostTimer) Reset(deadline int64) { h.t.Reset(time.Duration(deadline - h.c.Now())) }

// Stop implements Timer.
func (h *hostTimer) Stop() bool { return h.t.Stop() }

// lazyTimer is a Timer its owner re-arms and disarms often (a vCPU's
// periodic timer at every sleep and wake, its slice at every CPU it
// takes): disarming leaves the Timer set, and arming resets it only if it
// is not already set to fire no later than asked. The owner keeps its own
// armed state and deadline, and its callback, under the owner's lock,
// first calls fired, then acts if its deadline has come, or else calls
// arm again with it (the Timer fired early for an earlier arming, or
// still fires for one the owner disarmed): a callback the owner did not
// want does nothing but, at most, set the Timer again. Guarded by its
// owner's lock.
type lazyTimer struct {
	t Timer
	// set: t is set for at (Reset and, as far as the owner knows, not
	// fired).
	set bool
	at  int64
}

// arm makes the Timer fire no later than deadline.
func (l *lazyTimer) arm(deadline int64) {
	if l.set && l.at <= deadline {
		return
	}
	l.set, l.at = true, deadline
	l.t.Reset(deadline)
}

// fired is the first thing the Timer's callback does: at now, a setting
// whose time has come is over (a call for an earlier setting, now
// replaced, leaves a later one set).
func (l *lazyTimer) fired(now int64) {
	if l.set && now >= l.at {
		l.set = false
	}
}

// stop stops the Timer (nothing is to fire for a long while, or ever).
func (l *lazyTimer) stop() {
	if l.set {
		l.set = false
		l.t.Stop()
	}
}
