package futex

import "sync/atomic"

// States of a Word's word.
const (
	idle     = 0 // no token, the owner does not sleep
	token    = 1 // a token is pending
	sleeping = 2 // the owner sleeps (or is about to) in FUTEX_WAIT
)

// Word is a one-token wake-up on a futex word; it implements
// sched.Parker. The owner calls Park and Clear; anyone calls Unpark. A
// Word must not be copied (the kernel knows it by its address); New
// makes one on the heap, whose objects the Go runtime never moves.
type Word struct {
	// w is idle, token or sleeping. Unpark sets token, waking the
	// owner if it was sleeping; Park moves idle to sleeping and waits
	// for another value, or takes the token (back to idle).
	w atomic.Uint32
}

// New returns a Word without a token.
func New() *Word { return new(Word) }

// Unpark implements sched.Parker: it leaves the token and, if the owner
// sleeps, wakes it (FUTEX_WAKE).
func (p *Word) Unpark() {
	if p.w.Load() == token {
		return // already there: no write, no system call
	}
	if p.w.Swap(token) == sleeping {
		wake(&p.w)
	}
}

// Park implements sched.Parker: it returns once the token is there,
// taking it. The owner announces its sleep (sleeping) before FUTEX_WAIT,
// which sleeps only while the word still says so: an Unpark after the
// owner's last check of its events either finds sleeping and wakes it, or
// changes the word first and the wait returns at once (EAGAIN). A wait
// that returns for another reason (a signal, a spurious wake-up) waits
// again.
func (p *Word) Park() { p.ParkWith(wait) }

// ParkWith is Park sleeping through sleep instead of FUTEX_WAIT: sleep(w,
// val) must return at the latest when *w no longer holds val (a wake-up)
// and may return sooner (then, or for work of its own, such as device
// interrupts taken on the way: cmd/gohv's vCPU parker); ParkWith looks
// at the word again each time. The owner only.
func (p *Word) ParkWith(sleep func(w *atomic.Uint32, val uint32)) {
	if p.w.CompareAndSwap(token, idle) {
		return
	}
	if p.w.CompareAndSwap(idle, sleeping) {
		for p.w.Load() == sleeping {
			sleep(&p.w, sleeping)
		}
	}
	// Only Unpark changes sleeping, to token; the owner takes it.
	p.w.Store(idle)
}

// Clear implements sched.Parker: it drops a pending token. The owner does
// not sleep, so the word is idle or token, and an Unpark racing with
// Clear is either dropped (it came first) or kept.
func (p *Word) Clear() { p.w.CompareAndSwap(token, idle) }
