// Package schedtest holds host-side fakes of sched's interfaces for tests:
// a manual clock whose timers fire only when the test moves time. It is
// imported only by _test.go files.
package schedtest

import (
	"sync"

	"github.com/gohv/gohv/sched"
)

// ManualClock is a sched.Clock and sched.TimerSource for tests: time
// moves only when Advance or Set is called, and due timers run then, in
// deadline order, on the goroutine that moved the clock (never inside
// NewTimer, Reset or Stop).
type ManualClock struct {
	// mu guards now, timers and every timer's deadline and armed; it is
	// not held while a timer runs.
	mu  sync.Mutex
	now int64
	// timers are the armed timers, in no order.
	timers []*manualTimer
}

// manualTimer is one reusable timer of a ManualClock.
type manualTimer struct {
	c        *ManualClock // immutable
	f        func()       // immutable
	deadline int64
	armed    bool // it is in c.timers
}

// NewManualClock returns a ManualClock reading now.
func NewManualClock(now int64) *ManualClock { return &ManualClock{now: now} }

// Now implements sched.Clock.
func (c *ManualClock) Now() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer implements sched.TimerSource.
func (c *ManualClock) NewTimer(f func()) sched.Timer { return &manualTimer{c: c, f: f} }

// Reset implements sched.Timer. A deadline already past runs at the next
// Advance or Set, even Advance(0). It allocates nothing once c.timers has
// held as many timers as are armed now.
func (t *manualTimer) Reset(deadline int64) {
	c := t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	t.deadline = deadline
	if !t.armed {
		t.armed = true
		c.timers = append(c.timers, t)
	}
}

// Stop implements sched.Timer.
func (t *manualTimer) Stop() bool {
	c := t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if !t.armed {
		return false
	}
	c.removeLocked(t)
	return true
}

// removeLocked disarms armed timer t. Caller holds c.mu.
func (c *ManualClock) removeLocked(t *manualTimer) {
	for i, x := range c.timers {
		if x == t {
			c.timers = append(c.timers[:i], c.timers[i+1:]...)
			break
		}
	}
	t.armed = false
}

// Pending returns how many timers are armed (reset, and neither run nor
// stopped since).
func (c *ManualClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// Advance moves time forward by d nanoseconds and runs every due timer.
func (c *ManualClock) Advance(d int64) {
	c.mu.Lock()
	c.now += d
	c.mu.Unlock()
	c.fire()
}

// Set moves time to now (never backwards) and runs every due timer.
func (c *ManualClock) Set(now int64) {
	c.mu.Lock()
	if now > c.now {
		c.now = now
	}
	c.mu.Unlock()
	c.fire()
}

// fire runs due timers one at a time, earliest first, without c.mu held,
// so a timer may re-arm itself or others (those due run too).
func (c *ManualClock) fire() {
	for {
		c.mu.Lock()
		best := -1
		for i, t := range c.timers {
			if t.deadline <= c.now && (best < 0 || t.deadline < c.timers[best].deadline) {
				best = i
			}
		}
		if best < 0 {
			c.mu.Unlock()
			return
		}
		t := c.timers[best]
		c.removeLocked(t)
		c.mu.Unlock()
		t.f()
	}
}

var (
	_ sched.Clock       = (*ManualClock)(nil)
	_ sched.TimerSource = (*ManualClock)(nil)
)
