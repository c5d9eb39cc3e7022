package futex_test

import (
	"sync/atomic"
	"testing"

	"github.com/gohv/gohv/arch/amd64/futex"
	"github.com/gohv/gohv/sched"
	"github.com/gohv/gohv/sched/schedtest"
)

var _ sched.Parker = (*futex.Word)(nil)

// TestWord: the futex word keeps sched.Parker's contract, on the host's
// futex system calls.
func TestWord(t *testing.T) {
	schedtest.TestParker(t, func() sched.Parker { return futex.New() })
}

// TestParkWith: the sleep given to ParkWith runs while the owner sleeps,
// and an Unpark it makes itself (cmd/gohv's vCPU parker delivering an
// interrupt that kicks its own vCPU) ends the park; a token left before
// the park ends it without a sleep.
func TestParkWith(t *testing.T) {
	p := futex.New()
	calls := 0
	p.ParkWith(func(w *atomic.Uint32, val uint32) {
		calls++
		if w.Load() != val {
			t.Errorf("sleep called with the word %d, want %d", w.Load(), val)
		}
		if calls == 3 {
			p.Unpark()
		}
	})
	if calls != 3 {
		t.Errorf("sleep called %d times, want 3 (until its own Unpark)", calls)
	}
	p.Unpark()
	p.ParkWith(func(*atomic.Uint32, uint32) { t.Error("sleep called with a token pending") })
}
