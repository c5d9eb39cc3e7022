package sched

import "time"

// Clock reads Xen system time: nanoseconds since boot, monotonic (NOW()).
type Clock interface {
	Now() int64
}

// TimerSource runs functions at absolute system times.
type TimerSource interface {
	// AfterFunc arranges for f to run once, as soon as system time
	// reaches deadline (promptly for a deadline already past). f never
	// runs inside AfterFunc: it runs on the source's own goroutine (for a
	// test clock, on the goroutine that moves time), so the caller may
	// hold locks that f takes.
	AfterFunc(deadline int64, f func()) Timer
}

// Timer is a pending AfterFunc.
type Timer interface {
	// Stop cancels the call if it has not started, reporting whether it
	// did so. f may still run after a Stop that returns false.
	Stop() bool
}

// HostClock is the Clock and TimerSource of the Go runtime: system time
// counts from the HostClock's creation, timers are time.AfterFunc. It
// serves host tests and, on the metal, any build whose runtime clock is
// the calibrated TSC behind the Linux-syscall shim.
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

// AfterFunc implements TimerSource.
func (c *HostClock) AfterFunc(deadline int64, f func()) Timer {
	return hostTimer{time.AfterFunc(time.Duration(deadline-c.Now()), f)}
}

// hostTimer adapts *time.Timer to Timer.
type hostTimer struct{ t *time.Timer }

func (h hostTimer) Stop() bool { return h.t.Stop() }
