package schedtest

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/sched"
)

// TestParker checks that the Parkers newParker makes keep sched.Parker's
// contract: a token left before Park (between a Waiter's event check and
// its sleep) is not lost, one token is kept however many Unparks, Clear
// drops it, Park sleeps until an Unpark from another goroutine, Unpark
// and Clear allocate nothing, and a Waiter built on one returns from
// Block when the wake-up comes between its event check and its sleep.
// sched's tests run it for ChanParker, arch/amd64/futex's for its word.
func TestParker(t *testing.T, newParker func() sched.Parker) {
	t.Run("TokenBeforePark", func(t *testing.T) {
		p := newParker()
		p.Unpark()
		parks(t, p, "Park after Unpark")
	})
	t.Run("OneToken", func(t *testing.T) {
		p := newParker()
		p.Unpark()
		p.Unpark()
		p.Unpark()
		parks(t, p, "Park after three Unparks")
		sleeps(t, p, "second Park after three Unparks")
	})
	t.Run("Clear", func(t *testing.T) {
		p := newParker()
		p.Clear() // no token: nothing to drop
		p.Unpark()
		p.Clear()
		sleeps(t, p, "Park after Unpark and Clear")
	})
	t.Run("NoAllocs", func(t *testing.T) {
		p := newParker()
		if n := testing.AllocsPerRun(100, func() { p.Unpark(); p.Clear() }); n != 0 {
			t.Errorf("Unpark and Clear: %v allocations, want 0", n)
		}
		if n := testing.AllocsPerRun(100, func() { p.Unpark(); p.Park() }); n != 0 {
			t.Errorf("Unpark and Park with the token there: %v allocations, want 0", n)
		}
	})
	t.Run("CheckThenSleep", func(t *testing.T) {
		// The Waiter's pattern, raced: the owner clears, checks a flag
		// and parks unless it is set; the other side sets it and
		// unparks. An Unpark that falls between the check and the Park
		// must end that Park.
		const rounds = 20000
		p := newParker()
		var flag atomic.Uint64
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := uint64(1); i <= rounds; i++ {
				p.Clear()
				for flag.Load() < i {
					p.Park()
				}
			}
		}()
		for i := uint64(1); i <= rounds; i++ {
			flag.Store(i)
			p.Unpark()
			if i%64 == 0 {
				time.Sleep(time.Microsecond) // sometimes let the owner reach Park
			}
		}
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatalf("owner stuck in Park: flag %d, a wake-up was lost", flag.Load())
		}
	})
	t.Run("WaiterWakeInCheck", func(t *testing.T) {
		// Block's wake-up comes right after its event check said no.
		ev := &kickInCheck{}
		c := NewManualClock(0)
		w := sched.NewWaiter(0, ev, c, c, newParker())
		ev.w = w
		returned := make(chan abi.Errno, 1)
		go func() { returned <- w.Block() }()
		select {
		case e := <-returned:
			if e != 0 || !ev.kicked.Load() {
				t.Errorf("Block: %v, kicked %v", e, ev.kicked.Load())
			}
		case <-time.After(30 * time.Second):
			t.Fatal("Block lost the wake-up that came after its event check")
		}
	})
}

// parks checks that p.Park returns (the token is there).
func parks(t *testing.T, p sched.Parker, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { p.Park(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: did not return", what)
	}
}

// sleeps checks that p.Park sleeps until an Unpark from another
// goroutine, then returns.
func sleeps(t *testing.T, p sched.Parker, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { p.Park(); close(done) }()
	select {
	case <-done:
		t.Fatalf("%s: returned without a token", what)
	case <-time.After(20 * time.Millisecond):
	}
	p.Unpark()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: did not return after Unpark", what)
	}
}

// kickInCheck is a one-vCPU sched.Events with nothing ever deliverable,
// whose event check kicks the waiter (Wake) as it answers, as an event
// sent by another CPU right after the check would.
type kickInCheck struct {
	w      *sched.Waiter
	kicked atomic.Bool
}

func (k *kickInCheck) EnableEvents(int) {}
func (k *kickInCheck) EventsNeedDelivery(int) bool {
	k.w.Wake()
	k.kicked.Store(true)
	return false
}
func (k *kickInCheck) PollPort(uint32) (bool, abi.Errno) { return false, 0 }
func (k *kickInCheck) StartPoll(int)                     {}
func (k *kickInCheck) SetPollPort(int, uint32) bool      { return true }
func (k *kickInCheck) StopPoll(int)                      {}
func (k *kickInCheck) RaiseVIRQ(int, uint32)             {}
