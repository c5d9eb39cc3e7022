package sched_test

import (
	"sync"
	"testing"
	"time"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/sched"
	"github.com/gohv/gohv/sched/schedtest"
)

// fakeEvents is a one-vCPU sched.Events over plain fields. Raising a
// VIRQ_TIMER sets upcall_pending and kicks, as an unmasked bound port
// would.
type fakeEvents struct {
	mu      sync.Mutex
	w       *sched.Waiter
	mask    bool
	upcall  bool
	valid   map[uint32]bool
	pending map[uint32]bool
	poll    int64
	virqs   []uint32
}

func newFake() *fakeEvents {
	return &fakeEvents{mask: true, valid: map[uint32]bool{1: true, 2: true, 3: true}, pending: map[uint32]bool{}}
}

func (f *fakeEvents) EnableEvents(int) { f.mu.Lock(); f.mask = false; f.mu.Unlock() }
func (f *fakeEvents) EventsNeedDelivery(int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.upcall && !f.mask
}
func (f *fakeEvents) PollPort(p uint32) (bool, abi.Errno) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.valid[p] {
		return false, abi.EINVAL
	}
	return f.pending[p], 0
}
func (f *fakeEvents) StartPoll(int) { f.mu.Lock(); f.poll = -1; f.mu.Unlock() }
func (f *fakeEvents) SetPollPort(_ int, p uint32) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.poll != -1 {
		return false
	}
	f.poll = int64(p)
	return true
}
func (f *fakeEvents) StopPoll(int) { f.mu.Lock(); f.poll = 0; f.mu.Unlock() }
func (f *fakeEvents) RaiseVIRQ(_ int, virq uint32) {
	f.mu.Lock()
	f.virqs = append(f.virqs, virq)
	wasUp := f.upcall
	f.upcall = true
	f.mu.Unlock()
	if !wasUp {
		f.w.Wake()
	}
}

// send marks a (masked) port pending and wakes a poller of it.
func (f *fakeEvents) send(p uint32) {
	f.mu.Lock()
	f.pending[p] = true
	wake := f.poll == -1 || f.poll == int64(p)
	if wake {
		f.poll = 0
	}
	f.mu.Unlock()
	if wake {
		f.w.Wake()
	}
}

func (f *fakeEvents) timerVIRQs() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, v := range f.virqs {
		if v == abi.VIRQ_TIMER {
			n++
		}
	}
	return n
}

func (f *fakeEvents) ack() {
	f.mu.Lock()
	f.upcall = false
	f.mu.Unlock()
}

func newWaiter(now int64) (*sched.Waiter, *fakeEvents, *schedtest.ManualClock) {
	f := newFake()
	c := schedtest.NewManualClock(now)
	w := sched.NewWaiter(0, f, c, c, nil)
	f.w = w
	return w, f, c
}

// async runs fn on a new goroutine and returns a channel that gets its
// errno.
func async(fn func() abi.Errno) <-chan abi.Errno {
	ch := make(chan abi.Errno, 1)
	go func() { ch <- fn() }()
	return ch
}

// stillBlocked checks that ch stays empty for a while.
func stillBlocked(t *testing.T, what string, ch <-chan abi.Errno) {
	t.Helper()
	select {
	case e := <-ch:
		t.Fatalf("%s returned %v early", what, e)
	case <-time.After(30 * time.Millisecond):
	}
}

// returns waits for ch and checks the errno.
func returns(t *testing.T, what string, ch <-chan abi.Errno, want abi.Errno) {
	t.Helper()
	select {
	case e := <-ch:
		if e != want {
			t.Fatalf("%s: %v, want %v", what, e, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%s did not return", what)
	}
}

func TestBlockWithPendingReturnsAtOnce(t *testing.T) {
	w, f, _ := newWaiter(0)
	f.upcall = true // pending while masked
	if e := w.Block(); e != 0 {
		t.Fatalf("Block: %v", e)
	}
	if f.mask {
		t.Error("Block left the upcall mask set")
	}
}

func TestBlockSleepsUntilKick(t *testing.T) {
	w, f, _ := newWaiter(0)
	w.Wake() // a stale wake-up from before must not end the block
	ch := async(w.Block)
	stillBlocked(t, "Block", ch)
	f.RaiseVIRQ(0, abi.VIRQ_DEBUG)
	returns(t, "Block", ch, 0)
}

func TestBlockWakesOnTimer(t *testing.T) {
	w, f, c := newWaiter(1_000_000)
	w.StopPeriodic()
	if e := w.SetTimerOp(2_000_000); e != 0 {
		t.Fatalf("set_timer_op: %v", e)
	}
	ch := async(w.Block)
	stillBlocked(t, "Block", ch)
	c.Advance(999_999)
	stillBlocked(t, "Block", ch)
	c.Advance(1)
	returns(t, "Block", ch, 0)
	if n := f.timerVIRQs(); n != 1 {
		t.Errorf("%d VIRQ_TIMERs", n)
	}
}

func TestInterrupt(t *testing.T) {
	w, _, _ := newWaiter(0)
	ch := async(w.Block)
	stillBlocked(t, "Block", ch)
	w.Interrupt()
	returns(t, "Block", ch, 0)
	returns(t, "Poll while interrupted", async(func() abi.Errno { return w.Poll([]uint32{1}, 0) }), 0)
	w.ClearInterrupt()
	ch = async(w.Block)
	stillBlocked(t, "Block after ClearInterrupt", ch)
	w.Wake()
	returns(t, "Block", ch, 0)
}

func TestPollImmediate(t *testing.T) {
	ports129 := make([]uint32, sched.MaxPollPorts+1)
	for i := range ports129 {
		ports129[i] = 1
	}
	tests := []struct {
		name    string
		ports   []uint32
		pending []uint32
		upcall  bool
		want    abi.Errno
	}{
		{name: "129 ports", ports: ports129, pending: []uint32{1}, want: abi.EINVAL},
		{name: "128 ports one pending", ports: ports129[:128], pending: []uint32{1}, want: 0},
		{name: "pending masked port", ports: []uint32{2}, pending: []uint32{2}, want: 0},
		{name: "invalid port", ports: []uint32{9}, want: abi.EINVAL},
		{name: "port 0", ports: []uint32{0}, want: abi.EINVAL},
		{name: "pending before invalid", ports: []uint32{2, 9}, pending: []uint32{2}, want: 0},
		{name: "invalid before pending", ports: []uint32{9, 2}, pending: []uint32{2}, want: abi.EINVAL},
		{name: "deliverable event beats invalid port", ports: []uint32{9}, upcall: true, want: 0},
	}
	for _, tc := range tests {
		w, f, _ := newWaiter(0)
		f.mask = !tc.upcall // an upcall pending with events enabled
		f.upcall = tc.upcall
		for _, p := range tc.pending {
			f.pending[p] = true
		}
		if e := w.Poll(tc.ports, 0); e != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, e, tc.want)
		}
		if f.poll != 0 {
			t.Errorf("%s: poll state left %d", tc.name, f.poll)
		}
	}
}

func TestPollSleeps(t *testing.T) {
	t.Run("masked single port wakes", func(t *testing.T) {
		w, f, _ := newWaiter(0)
		ch := async(func() abi.Errno { return w.Poll([]uint32{2}, 0) })
		stillBlocked(t, "Poll", ch)
		f.send(3) // another port: no wake for a one-port poll
		stillBlocked(t, "Poll", ch)
		f.send(2)
		returns(t, "Poll", ch, 0)
	})
	t.Run("any of several ports wakes", func(t *testing.T) {
		w, f, _ := newWaiter(0)
		ch := async(func() abi.Errno { return w.Poll([]uint32{1, 2}, 0) })
		stillBlocked(t, "Poll", ch)
		f.send(3)
		returns(t, "Poll", ch, 0)
	})
	t.Run("upcall wakes", func(t *testing.T) {
		w, f, _ := newWaiter(0)
		ch := async(func() abi.Errno { return w.Poll([]uint32{1}, 0) })
		stillBlocked(t, "Poll", ch)
		f.RaiseVIRQ(0, abi.VIRQ_DEBUG)
		returns(t, "Poll", ch, 0)
	})
	t.Run("timeout", func(t *testing.T) {
		w, _, c := newWaiter(100)
		w.StopPeriodic()
		ch := async(func() abi.Errno { return w.Poll([]uint32{1}, 5_000_100) })
		stillBlocked(t, "Poll", ch)
		c.Advance(5_000_000)
		returns(t, "Poll", ch, 0)
		if n := c.Pending(); n != 0 {
			t.Errorf("%d timers left", n)
		}
	})
	t.Run("timeout in the past", func(t *testing.T) {
		w, _, _ := newWaiter(100)
		returns(t, "Poll", async(func() abi.Errno { return w.Poll([]uint32{1}, 50) }), 0)
		returns(t, "Poll negative", async(func() abi.Errno { return w.Poll(nil, -1) }), 0)
	})
	t.Run("woken before timeout cancels it", func(t *testing.T) {
		w, f, c := newWaiter(0)
		w.StopPeriodic()
		ch := async(func() abi.Errno { return w.Poll([]uint32{1}, 1_000_000) })
		stillBlocked(t, "Poll", ch)
		f.send(1)
		returns(t, "Poll", ch, 0)
		if n := c.Pending(); n != 0 {
			t.Errorf("%d timers left", n)
		}
	})
}

func TestSetTimerOp(t *testing.T) {
	const now = 1_000_000_000
	tests := []struct {
		name      string
		timeout   int64
		fireAt    int64 // absolute; 0 = never (cancelled)
		fireAtSet bool  // fires inside SetTimerOp
	}{
		{name: "future", timeout: now + 5_000_000, fireAt: now + 5_000_000},
		{name: "past fires now", timeout: now - 1, fireAtSet: true},
		{name: "now fires now", timeout: now, fireAtSet: true},
		{name: "negative: 100ms", timeout: -5, fireAt: now + 100_000_000},
		{name: "2^50 ahead: 100ms", timeout: now + 1<<50, fireAt: now + 100_000_000},
		{name: "just under 2^50 ahead", timeout: now + 1<<50 - 1, fireAt: now + 1<<50 - 1},
		{name: "zero cancels", timeout: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, f, c := newWaiter(now)
			w.StopPeriodic()
			if e := w.SetTimerOp(now + 7_000_000); e != 0 { // replaced below
				t.Fatal(e)
			}
			if e := w.SetTimerOp(tc.timeout); e != 0 {
				t.Fatalf("set_timer_op: %v", e)
			}
			if tc.fireAtSet {
				if f.timerVIRQs() != 1 || c.Pending() != 0 {
					t.Fatalf("virqs %d pending timers %d", f.timerVIRQs(), c.Pending())
				}
				return
			}
			if tc.fireAt == 0 {
				c.Advance(1 << 60)
				if f.timerVIRQs() != 0 {
					t.Fatal("cancelled timer fired")
				}
				return
			}
			c.Set(tc.fireAt - 1)
			if f.timerVIRQs() != 0 {
				t.Fatalf("fired before %d", tc.fireAt)
			}
			c.Set(tc.fireAt)
			if f.timerVIRQs() != 1 {
				t.Fatalf("did not fire at %d", tc.fireAt)
			}
			c.Advance(1 << 52)
			if f.timerVIRQs() != 1 {
				t.Fatal("one-shot fired twice")
			}
		})
	}
}

func TestSingleshot(t *testing.T) {
	w, f, c := newWaiter(1000)
	w.StopPeriodic()
	if e := w.SetSingleshot(999, abi.VCPU_SSHOTTMR_future); e != 0 || f.timerVIRQs() != 1 {
		t.Errorf("future flag, past: %v, %d virqs (flag is ignored: fire now)", e, f.timerVIRQs())
	}
	if e := w.SetSingleshot(998, 0); e != 0 || f.timerVIRQs() != 2 {
		t.Errorf("past without flag: %v, %d virqs", e, f.timerVIRQs())
	}
	if e := w.SetSingleshot(1<<63, 0); e != 0 || f.timerVIRQs() != 3 {
		t.Errorf("2^63 (negative s_time_t): %v, %d virqs", e, f.timerVIRQs())
	}
	if e := w.SetSingleshot(2000, abi.VCPU_SSHOTTMR_future); e != 0 {
		t.Errorf("future: %v", e)
	}
	w.StopSingleshot()
	c.Advance(5000)
	if f.timerVIRQs() != 3 {
		t.Error("stopped one-shot fired")
	}
	w.SetSingleshot(7000, 0)
	c.Set(7000)
	if f.timerVIRQs() != 4 {
		t.Error("one-shot did not fire")
	}
}

func TestPeriodic(t *testing.T) {
	const ms = 1_000_000
	w, f, c := newWaiter(50 * ms)
	if w.Period() != sched.DefaultPeriod {
		t.Fatalf("default period %d", w.Period())
	}
	for _, p := range []uint64{0, sched.MinPeriod - 1, sched.MaxPeriod + 1, 1 << 63} {
		if e := w.SetPeriodic(p); e != abi.EINVAL {
			t.Errorf("SetPeriodic(%d): %v", p, e)
		}
	}
	if f.timerVIRQs() != 0 || c.Pending() != 0 {
		t.Fatal("periodic armed before the vCPU was scheduled")
	}
	// First schedule: the last event was at 0, so one is due now.
	w.Scheduled()
	if f.timerVIRQs() != 1 {
		t.Fatalf("first Scheduled: %d events", f.timerVIRQs())
	}
	c.Advance(10 * ms)
	c.Advance(10 * ms)
	if f.timerVIRQs() != 3 {
		t.Fatalf("after 20 ms: %d events", f.timerVIRQs())
	}
	// Descheduled for 35 ms: no ticks meanwhile, one catch-up event.
	w.Descheduled()
	c.Advance(35 * ms)
	if f.timerVIRQs() != 3 {
		t.Fatalf("ticks while descheduled: %d", f.timerVIRQs())
	}
	w.Scheduled()
	if f.timerVIRQs() != 4 {
		t.Fatalf("no catch-up event: %d", f.timerVIRQs())
	}
	// A new period that has already elapsed since the last event fires.
	if e := w.SetPeriodic(sched.MinPeriod); e != 0 {
		t.Fatal(e)
	}
	c.Advance(ms)
	if f.timerVIRQs() != 5 {
		t.Fatalf("1 ms period: %d", f.timerVIRQs())
	}
	w.StopPeriodic()
	c.Advance(100 * ms)
	if f.timerVIRQs() != 5 || w.Period() != 0 {
		t.Fatalf("after stop: %d events, period %d", f.timerVIRQs(), w.Period())
	}
	w.Scheduled()
	if f.timerVIRQs() != 5 || c.Pending() != 0 {
		t.Fatal("stopped periodic timer re-armed by Scheduled")
	}
}

// TestBlockStopsPeriodic: a blocked vCPU gets no periodic ticks, as Xen
// stops the periodic timer of a descheduled vCPU; its one-shot still
// wakes it, and the periodic timer catches up then.
func TestBlockStopsPeriodic(t *testing.T) {
	const ms = 1_000_000
	w, f, c := newWaiter(0)
	w.Scheduled() // at t=0 no period has passed yet: armed for 10 ms
	base := f.timerVIRQs()
	w.SetTimerOp(25 * ms)
	ch := async(w.Block)
	stillBlocked(t, "Block", ch)
	c.Set(24 * ms)
	if f.timerVIRQs() != base {
		f.ack()
		t.Fatalf("periodic ticked while blocked: %d", f.timerVIRQs()-base)
	}
	c.Set(25 * ms)
	returns(t, "Block", ch, 0)
	// one-shot + periodic catch-up
	if got := f.timerVIRQs() - base; got != 2 {
		t.Errorf("%d timer events after wake, want 2", got)
	}
}

func TestYieldAndStop(t *testing.T) {
	w, f, c := newWaiter(0)
	if e := w.Yield(); e != 0 {
		t.Errorf("Yield: %v", e)
	}
	w.Scheduled()
	w.SetTimerOp(5)
	w.Stop()
	c.Advance(1 << 40)
	if f.timerVIRQs() != 0 || c.Pending() != 0 {
		t.Errorf("after Stop: %d events, %d timers", f.timerVIRQs(), c.Pending())
	}
}

// TestHostClock checks the runtime-timer clocks: HostClock, and a
// FuncClock reading time since its start through time.Since (on the
// metal it reads the shim's TSC clock, which the runtime's follows).
func TestHostClock(t *testing.T) {
	start := time.Now()
	clocks := map[string]interface {
		sched.Clock
		sched.TimerSource
	}{
		"HostClock": sched.NewHostClock(),
		"FuncClock": sched.NewFuncClock(func() int64 { return int64(time.Since(start)) }),
	}
	for name, c := range clocks {
		t.Run(name, func(t *testing.T) { testRuntimeClock(t, c) })
	}
}

func testRuntimeClock(t *testing.T, c interface {
	sched.Clock
	sched.TimerSource
}) {
	fired := make(chan int64, 1)
	tm := c.NewTimer(func() { fired <- c.Now() })
	select {
	case <-fired:
		t.Fatal("a new timer fired before Reset")
	case <-time.After(10 * time.Millisecond):
	}
	for i := 0; i < 2; i++ { // the same timer, twice
		a := c.Now()
		tm.Reset(a + 2_000_000)
		select {
		case at := <-fired:
			if at < a+2_000_000 {
				t.Errorf("fired at %d, before %d", at, a+2_000_000)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("host timer did not fire")
		}
	}
	if tm.Stop() {
		t.Error("Stop of a timer that fired reported true")
	}
	tm.Reset(c.Now() + int64(time.Hour))
	// Brought nearer, then stopped: 200 ms ahead, so that a loaded host
	// (make test's QEMUs) does not let it fire before the Stop (1 ms did).
	tm.Reset(c.Now() + 200_000_000)
	if !tm.Stop() {
		t.Error("Stop of an armed timer reported false")
	}
	select {
	case <-fired:
		t.Error("stopped timer fired")
	case <-time.After(300 * time.Millisecond): // past the stopped deadline
	}
}

// TestTimersAllocateNothing: re-arming and stopping a reusable timer, and
// the waiter's timer operations on such timers, allocate nothing, on the
// host clock and on the manual one.
func TestTimersAllocateNothing(t *testing.T) {
	hc := sched.NewHostClock()
	tm := hc.NewTimer(func() {})
	if n := testing.AllocsPerRun(100, func() {
		tm.Reset(hc.Now() + int64(time.Hour))
		tm.Reset(hc.Now() + int64(2*time.Hour))
		tm.Stop()
	}); n != 0 {
		t.Errorf("HostClock timer Reset, Reset, Stop: %v allocations, want 0", n)
	}
	mc := schedtest.NewManualClock(0)
	mt := mc.NewTimer(func() {})
	mt.Reset(1) // c.timers grows once
	if n := testing.AllocsPerRun(100, func() { mt.Reset(1 << 40); mt.Reset(1 << 41); mt.Stop() }); n != 0 {
		t.Errorf("ManualClock timer Reset, Reset, Stop: %v allocations, want 0", n)
	}

	f := newFake()
	w := sched.NewWaiter(0, f, hc, hc, nil)
	f.w = w
	w.Scheduled()
	ops := func() {
		w.SetTimerOp(hc.Now() + int64(time.Hour))
		w.SetSingleshot(uint64(hc.Now()+int64(2*time.Hour)), 0)
		w.StopSingleshot()
		w.Descheduled()
		w.Scheduled()
	}
	ops()
	if n := testing.AllocsPerRun(100, ops); n != 0 {
		t.Errorf("waiter's timer operations: %v allocations, want 0", n)
	}
	w.Stop()
}

// spyTimers is a TimerSource over a ManualClock that keeps every timer's
// callback, so that a test can call one late, as a host timer's
// goroutine may after the Stop or Reset that did not catch it.
type spyTimers struct {
	c  *schedtest.ManualClock
	fs []func()
}

func (s *spyTimers) NewTimer(f func()) sched.Timer {
	s.fs = append(s.fs, f)
	return s.c.NewTimer(f)
}

// TestStaleTimerCallbacks: a timer callback that runs after its timer was
// re-armed for later, or stopped, does nothing; the re-armed timer still
// fires once at its deadline.
func TestStaleTimerCallbacks(t *testing.T) {
	const ms = 1_000_000
	f := newFake()
	c := schedtest.NewManualClock(0)
	spy := &spyTimers{c: c}
	w := sched.NewWaiter(0, f, c, spy, nil)
	f.w = w
	if len(spy.fs) != 3 {
		t.Fatalf("waiter made %d timers, want 3 (one-shot, periodic, poll)", len(spy.fs))
	}
	oneshot, periodic, poll := spy.fs[0], spy.fs[1], spy.fs[2]

	w.SetTimerOp(10 * ms)
	c.Set(9 * ms)
	w.SetTimerOp(20 * ms) // the 10 ms callback is stale from here
	c.Set(15 * ms)
	oneshot()
	if f.timerVIRQs() != 0 {
		t.Fatalf("stale one-shot callback raised %d events", f.timerVIRQs())
	}
	w.StopSingleshot()
	c.Set(25 * ms)
	oneshot()
	if f.timerVIRQs() != 0 || c.Pending() != 0 {
		t.Fatalf("stopped one-shot: %d events, %d timers armed", f.timerVIRQs(), c.Pending())
	}
	w.SetTimerOp(30 * ms)
	c.Set(30 * ms)
	oneshot() // after the real firing: stale again
	if f.timerVIRQs() != 1 {
		t.Fatalf("re-armed one-shot: %d events, want 1", f.timerVIRQs())
	}
	f.ack()

	w.Scheduled() // periodic: 30 ms since 0, one due now, next at 40 ms
	base := f.timerVIRQs()
	c.Set(35 * ms)
	periodic()
	w.Descheduled()
	c.Set(45 * ms)
	periodic()
	if got := f.timerVIRQs() - base; got != 0 {
		t.Fatalf("stale periodic callbacks raised %d events", got)
	}

	pollDone := async(func() abi.Errno { return w.Poll([]uint32{1}, 60*ms) })
	stillBlocked(t, "Poll", pollDone)
	poll() // at 45 ms, before its 60 ms timeout: nothing
	stillBlocked(t, "Poll after an early poll callback", pollDone)
	c.Set(60 * ms)
	returns(t, "Poll at its timeout", pollDone, 0)
	poll()
	if c.Pending() != 1 {
		t.Errorf("%d timers armed after the poll, want 1 (the periodic one)", c.Pending())
	}
	w.Stop()
	if c.Pending() != 0 {
		t.Errorf("%d timers armed after Stop", c.Pending())
	}
}

// TestPeriodicLazy: a sleep shorter than the period leaves the periodic
// timer set for the same deadline (no Stop, no Reset), raises nothing
// while the vCPU is descheduled, and one that outlasts the deadline sees
// a callback that does nothing, then the catch-up at Scheduled.
func TestPeriodicLazy(t *testing.T) {
	const ms = 1_000_000
	w, f, c := newWaiter(0)
	w.Scheduled() // armed for 10 ms
	w.Descheduled()
	if c.Pending() != 1 {
		t.Fatalf("Descheduled: %d timers set, want 1 (left set)", c.Pending())
	}
	c.Set(2 * ms)
	w.Scheduled()
	c.Set(10 * ms)
	if f.timerVIRQs() != 1 {
		t.Fatalf("after a short sleep: %d ticks at 10 ms, want 1", f.timerVIRQs())
	}
	f.ack()
	w.Descheduled()
	c.Set(35 * ms) // the 20 ms deadline passes while descheduled
	if f.timerVIRQs() != 1 || c.Pending() != 0 {
		t.Fatalf("descheduled: %d ticks, %d timers set", f.timerVIRQs(), c.Pending())
	}
	w.Scheduled() // overdue: one now, next at 45 ms
	c.Set(44 * ms)
	if f.timerVIRQs() != 2 {
		t.Fatalf("catch-up: %d ticks, want 2", f.timerVIRQs())
	}
	c.Set(45 * ms)
	if f.timerVIRQs() != 3 {
		t.Fatalf("after catch-up: %d ticks, want 3", f.timerVIRQs())
	}
}

// TestChanParker: the channel Parker keeps sched.Parker's contract.
func TestChanParker(t *testing.T) {
	schedtest.TestParker(t, func() sched.Parker { return sched.NewChanParker() })
}

// deafTimers is a TimerSource whose timers never fire: what the Go
// runtime's timers look like to a vCPU that must wake before they do.
type deafTimers struct{}

type deafTimer struct{}

func (deafTimers) NewTimer(func()) sched.Timer { return deafTimer{} }
func (deafTimer) Reset(int64)                  {}
func (deafTimer) Stop() bool                   { return false }

// timedParker is a TimedParker whose ParkUntil sleeps until its deadline
// at once (it sets the clock there) and whose Park takes a token left
// before.
type timedParker struct {
	c         *schedtest.ManualClock
	token     bool
	deadlines []int64
	parks     int
}

func (p *timedParker) Unpark() { p.token = true }
func (p *timedParker) Clear()  { p.token = false }
func (p *timedParker) Park()   { p.parks++; p.token = false }
func (p *timedParker) ParkUntil(d int64) bool {
	p.deadlines = append(p.deadlines, d)
	p.c.Set(d)
	return true
}

// newTimedWaiter returns a waiter on a timedParker over a manual clock at
// 1 ms, with deafTimers and its periodic timer stopped, and its fake
// events.
func newTimedWaiter() (*sched.Waiter, *fakeEvents, *timedParker) {
	f := newFake()
	c := schedtest.NewManualClock(1_000_000)
	p := &timedParker{c: c}
	w := sched.NewWaiter(0, f, c, deafTimers{}, p)
	f.w = w
	w.StopPeriodic()
	return w, f, p
}

// TestBlockTimedParker: with a TimedParker, a block with the one-shot
// timer armed sleeps until the timer's deadline and raises VIRQ_TIMER
// itself, once, though the TimerSource never fires (as Xen's timer
// interrupt on the vCPU's CPU); with no timer armed it parks without a
// deadline.
func TestBlockTimedParker(t *testing.T) {
	w, f, p := newTimedWaiter()
	if e := w.SetTimerOp(1_250_000); e != 0 {
		t.Fatalf("set_timer_op: %v", e)
	}
	if e := w.Block(); e != 0 {
		t.Fatalf("Block: %v", e)
	}
	if len(p.deadlines) != 1 || p.deadlines[0] != 1_250_000 || p.parks != 0 {
		t.Errorf("ParkUntil deadlines %v, Park calls %d: want [1250000], 0", p.deadlines, p.parks)
	}
	if n := f.timerVIRQs(); n != 1 {
		t.Fatalf("%d VIRQ_TIMERs at the deadline, want 1", n)
	}
	f.ack()
	if e := w.Block(); e != 0 { // the timer fired: disarmed
		t.Fatalf("Block: %v", e)
	}
	if len(p.deadlines) != 1 || p.parks != 1 || f.timerVIRQs() != 1 {
		t.Errorf("second block: ParkUntil deadlines %v, Park calls %d, %d VIRQ_TIMERs in all: want one deadline, one Park, no new one", p.deadlines, p.parks, f.timerVIRQs())
	}
}

// TestPollTimedParker: with a TimedParker, a poll with a timeout sleeps
// until the earlier of the timeout and the one-shot timer's deadline and
// ends there itself, though the TimerSource never fires: at the timeout
// with no timer event, at the one-shot's deadline with VIRQ_TIMER raised
// (the event is masked for a poll, so it returns all the same).
func TestPollTimedParker(t *testing.T) {
	w, f, p := newTimedWaiter()
	if e := w.Poll([]uint32{1}, 1_500_000); e != 0 {
		t.Fatalf("Poll: %v", e)
	}
	if len(p.deadlines) != 1 || p.deadlines[0] != 1_500_000 || f.timerVIRQs() != 0 {
		t.Fatalf("poll with a timeout: ParkUntil deadlines %v, %d VIRQ_TIMERs: want [1500000], 0", p.deadlines, f.timerVIRQs())
	}
	w.SetTimerOp(1_700_000)
	if e := w.Poll([]uint32{1}, 2_000_000); e != 0 {
		t.Fatalf("Poll: %v", e)
	}
	if len(p.deadlines) != 2 || p.deadlines[1] != 1_700_000 || f.timerVIRQs() != 1 {
		t.Fatalf("poll with the one-shot first: ParkUntil deadlines %v, %d VIRQ_TIMERs: want [... 1700000], 1", p.deadlines, f.timerVIRQs())
	}
}

// firstDue is FireDue's earlier deadline (0: none): the one a guest's
// run must end by.
func firstDue(w *sched.Waiter) int64 {
	at, per := w.FireDue()
	if at == 0 || (per != 0 && per < at) {
		return per
	}
	return at
}

// TestFireDueOwnTimers: with a TimedParker the vCPU's goroutine serves
// its one-shot and periodic timers (FireDue before each entry) and its
// poll timeout (the sleep's deadline): the TimerSource's timers are never armed (on
// the metal each arming would wake the Go runtime's poller), FireDue
// returns the deadline the guest's run must end by and raises
// VIRQ_TIMER once it has come, once; a stopped timer leaves nothing to
// fire. Without a TimedParker, FireDue leaves the timer to the
// TimerSource.
func TestFireDueOwnTimers(t *testing.T) {
	f := newFake()
	c := schedtest.NewManualClock(1_000_000)
	p := &timedParker{c: c}
	w := sched.NewWaiter(0, f, c, c, p)
	f.w = w
	w.StopPeriodic()
	w.SetSingleshot(1_500_000, 0)
	if n := c.Pending(); n != 0 {
		t.Errorf("%d TimerSource timers armed by set_singleshot_timer, want 0", n)
	}
	if d := firstDue(w); d != 1_500_000 || f.timerVIRQs() != 0 {
		t.Fatalf("before the deadline: FireDue %d, %d VIRQ_TIMERs; want 1500000, 0", d, f.timerVIRQs())
	}
	c.Set(1_600_000)
	if d := firstDue(w); d != 0 || f.timerVIRQs() != 1 {
		t.Fatalf("after the deadline: FireDue %d, %d VIRQ_TIMERs; want 0, 1", d, f.timerVIRQs())
	}
	if d := firstDue(w); d != 0 || f.timerVIRQs() != 1 {
		t.Fatalf("again: FireDue %d, %d VIRQ_TIMERs; want 0, still 1", d, f.timerVIRQs())
	}
	if l := sched.ReadOneshotLateness(); l.MaxNs < 100_000 {
		t.Errorf("lateness max %d ns after a fire 100 us late", l.MaxNs)
	}
	w.SetTimerOp(1_700_000)
	w.StopSingleshot()
	c.Set(1_800_000)
	if d := firstDue(w); d != 0 || f.timerVIRQs() != 1 {
		t.Fatalf("stopped: FireDue %d, %d VIRQ_TIMERs; want 0, still 1", d, f.timerVIRQs())
	}
	w.SetTimerOp(1_900_000)
	if e := w.Poll([]uint32{1}, 1_850_000); e != 0 || c.Pending() != 0 || len(p.deadlines) != 1 || p.deadlines[0] != 1_850_000 {
		t.Fatalf("poll: %v, %d TimerSource timers armed, ParkUntil deadlines %v; want 0, 0, [1850000]", e, c.Pending(), p.deadlines)
	}
	if d := firstDue(w); d != 1_900_000 || f.timerVIRQs() != 1 {
		t.Fatalf("after the poll's timeout: FireDue %d, %d VIRQ_TIMERs; want 1900000, 1", d, f.timerVIRQs())
	}

	// The periodic timer too, while the vCPU is scheduled.
	w.StopSingleshot()
	c.Set(2_000_000)
	w.SetPeriodic(sched.MinPeriod) // a period has passed since 0: one now
	if f.timerVIRQs() != 2 || c.Pending() != 0 {
		t.Fatalf("periodic: %d VIRQ_TIMERs, %d TimerSource timers armed; want 2, 0", f.timerVIRQs(), c.Pending())
	}
	if d := firstDue(w); d != 3_000_000 {
		t.Fatalf("periodic: FireDue %d, want 3000000", d)
	}
	w.SetTimerOp(2_500_000)
	if d := firstDue(w); d != 2_500_000 {
		t.Fatalf("periodic and one-shot: FireDue %d, want the one-shot's 2500000", d)
	}
	c.Set(3_100_000)
	if d := firstDue(w); d != 4_100_000 || f.timerVIRQs() != 4 {
		t.Fatalf("both due: FireDue %d, %d VIRQ_TIMERs; want 4100000 (the next period), 4", d, f.timerVIRQs())
	}
	w.Descheduled()
	c.Set(5_000_000)
	if d := firstDue(w); d != 0 || f.timerVIRQs() != 4 {
		t.Fatalf("descheduled: FireDue %d, %d VIRQ_TIMERs; want 0, still 4", d, f.timerVIRQs())
	}
	w.StopPeriodic()

	// A ChanParker: the TimerSource's timer, FireDue out of it.
	g := newFake()
	x := sched.NewWaiter(0, g, c, c, nil)
	g.w = x
	x.StopPeriodic()
	x.SetTimerOp(6_000_000)
	if d := firstDue(x); d != 0 || c.Pending() != 1 {
		t.Fatalf("ChanParker: FireDue %d with %d TimerSource timers armed; want 0, 1", d, c.Pending())
	}
	c.Set(6_000_000)
	if g.timerVIRQs() != 1 {
		t.Fatalf("ChanParker: %d VIRQ_TIMERs from the TimerSource, want 1", g.timerVIRQs())
	}
}

// TestSetSingleshotServed: a one-shot deadline the metal served without
// an exit (hv.VCPU.FastSingleshotRan) replaces the armed one; FireDue
// reports it beside the periodic timer's; one that has come by the time
// it is handed back fires at the next FireDue, once, its lateness
// counted, not at once. Without a TimedParker it is SetSingleshot's
// TimerSource timer.
func TestSetSingleshotServed(t *testing.T) {
	f := newFake()
	c := schedtest.NewManualClock(1_000_000)
	w := sched.NewWaiter(0, f, c, c, &timedParker{c: c})
	f.w = w
	w.StopPeriodic()
	w.SetSingleshot(1_200_000, 0)
	w.SetSingleshotServed(1_500_000) // re-armed later in the guest
	if at, per := w.FireDue(); at != 1_500_000 || per != 0 {
		t.Fatalf("FireDue %d, %d; want 1500000, 0", at, per)
	}
	c.Set(1_300_000)
	if d := firstDue(w); d != 1_500_000 || f.timerVIRQs() != 0 {
		t.Fatalf("past the replaced deadline: FireDue %d, %d VIRQ_TIMERs; want 1500000, 0", d, f.timerVIRQs())
	}
	c.Set(1_700_000)
	before := sched.ReadOneshotLateness()
	w.SetSingleshotServed(1_600_000) // came during the run that served it
	if f.timerVIRQs() != 0 {
		t.Fatalf("a served deadline that has come raised %d VIRQ_TIMERs before FireDue", f.timerVIRQs())
	}
	if d := firstDue(w); d != 0 || f.timerVIRQs() != 1 {
		t.Fatalf("FireDue %d, %d VIRQ_TIMERs; want 0, 1", d, f.timerVIRQs())
	}
	if l := sched.ReadOneshotLateness(); l.Fired != before.Fired+1 || l.SumNs-before.SumNs != 100_000 {
		t.Errorf("lateness: %d fired, %d ns added; want %d, 100000", l.Fired, l.SumNs-before.SumNs, before.Fired+1)
	}
	if d := firstDue(w); d != 0 || f.timerVIRQs() != 1 {
		t.Fatalf("again: FireDue %d, %d VIRQ_TIMERs; want 0, still 1", d, f.timerVIRQs())
	}
	w.SetPeriodic(sched.MinPeriod)
	if _, per := w.FireDue(); per == 0 {
		t.Fatalf("FireDue gives no periodic deadline with the periodic timer armed")
	}

	g := newFake()
	x := sched.NewWaiter(0, g, c, c, nil)
	g.w = x
	x.StopPeriodic()
	x.SetSingleshotServed(1_800_000)
	if at, per := x.FireDue(); at != 0 || per != 0 || c.Pending() != 1 || x.OwnsTimers() {
		t.Fatalf("ChanParker: FireDue %d, %d, %d TimerSource timers, OwnsTimers %v; want 0, 0, 1, false", at, per, c.Pending(), x.OwnsTimers())
	}
}
