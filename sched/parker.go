package sched

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
	// Clear drops a token left before now. The owner only, not inside
	// Park.
	Clear()
}

// TimedParker is a Parker that can also sleep until a deadline of the
// Waiter's clock: a blocked vCPU's one-shot timer then ends its sleep on
// the vCPU's own thread, as Xen's timer interrupt on the vCPU's CPU does,
// instead of when the TimerSource's goroutine runs (on the metal, the Go
// runtime's timers have about a millisecond's resolution).
type TimedParker interface {
	Parker
	// ParkUntil is Park that also returns once the clock reaches
	// deadline; it reports whether it returned for the deadline (then no
	// token was taken, or one taken with it was dropped: the caller
	// rechecks its events). The owner only.
	ParkUntil(deadline int64) (timedOut bool)
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

// Clear implements Parker.
func (p *ChanParker) Clear() {
	select {
	case <-p.c:
	default:
	}
}
