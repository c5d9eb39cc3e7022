package sched

import "time"

// Parker is what a vCPU's goroutine sleeps on in Block and Poll: a
// wake-up token, at most one pending. The Waiter's owner (the vCPU's
// goroutine) calls Clear and Park; anyone calls Unpark.
//
// ChanParker is the Go runtime's way (a channel); on the metal cmd/gohv
// gives each vCPU a futex word (arch/amd64/futex), on which the vCPU's
// thread sleeps in the kernel (gohv's shim halts its CPU) instead of
// handing its P to the Go scheduler, and which the waker wakes with a
// futex wake (the shim's IPI) only when the thread sleeps.
type Parker interface {
	// Unpark leaves the token: the Park in progress returns, or else the
	// next Park returns at once. It never blocks and allocates nothing;
	// any goroutine, any number of times (one token is kept).
	Unpark()
	// Park waits until the token is there and takes it. The owner only.
	Park()
	// ParkFor is Park for at most about ns nanoseconds: true when it took
	// the token, false when the time ran out first. It may return false
	// early (a spurious wake-up); the caller rechecks its clock. ns <= 0
	// only takes a token already there. The owner only. The Waiter sleeps
	// so until its vCPU's timers' next deadline, which then fires on the
	// vCPU's own thread, as a timer interrupt fires on Xen's CPU: through
	// the Go runtime's timers an idle machine would wake up to a
	// millisecond late (its netpoller waits in whole milliseconds).
	ParkFor(ns int64) bool
	// Clear drops a token left before now. The owner only, not inside
	// Park.
	Clear()
}

// ChanParker is a Parker over a channel of capacity 1: Park is a
// channel receive, which parks the goroutine in the Go scheduler.
type ChanParker struct {
	// c holds the token; made by NewChanParker, immutable.
	c chan struct{}
}

// NewChanParker returns a ChanParker without a token.
func NewChanParker() *ChanParker { return &ChanParker{c: make(chan struct{}, 1)} }

// Unpark implements Parker.
func (p *ChanParker) Unpark() {
	select {
	case p.c <- struct{}{}:
	default:
	}
}

// Park implements Parker.
func (p *ChanParker) Park() { <-p.c }

// ParkFor implements Parker, with a time.Timer (which allocates: host
// tests only).
func (p *ChanParker) ParkFor(ns int64) bool {
	select {
	case <-p.c:
		return true
	default:
	}
	if ns <= 0 {
		return false
	}
	t := time.NewTimer(time.Duration(ns))
	defer t.Stop()
	select {
	case <-p.c:
		return true
	case <-t.C:
		return false
	}
}

// Clear implements Parker.
func (p *ChanParker) Clear() {
	select {
	case <-p.c:
	default:
	}
}
