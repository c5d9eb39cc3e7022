package lockorder

import (
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

// recorder is a sync.Locker that logs its calls to a shared journal.
type recorder struct {
	name string
	log  *[]string
}

func (r *recorder) Lock()   { *r.log = append(*r.log, "lock "+r.name) }
func (r *recorder) Unlock() { *r.log = append(*r.log, "unlock "+r.name) }

func TestLockOrder(t *testing.T) {
	var log []string
	x := &recorder{"x", &log}
	y := &recorder{"y", &log}
	tests := []struct {
		name   string
		a, b   sync.Locker
		ka, kb uint16
		want   []string
	}{
		{"ascending", x, y, 1, 2, []string{"lock x", "lock y", "unlock x", "unlock y"}},
		{"descending", x, y, 2, 1, []string{"lock y", "lock x", "unlock x", "unlock y"}},
		{"descending from 0", y, x, 7, 0, []string{"lock x", "lock y", "unlock y", "unlock x"}},
		{"same lock", x, x, 3, 3, []string{"lock x", "unlock x"}},
		{"same lock, keys ignored", y, y, 1, 9, []string{"lock y", "unlock y"}},
	}
	for _, tt := range tests {
		log = nil
		Lock(tt.a, tt.b, tt.ka, tt.kb)
		Unlock(tt.a, tt.b)
		if !slices.Equal(log, tt.want) {
			t.Errorf("%s: calls %q, want %q", tt.name, log, tt.want)
		}
	}
}

// yielder is a mutex that yields the processor once it holds the lock, so
// that the other goroutine of TestOppositeOrdersNoDeadlock runs between a
// Lock's two acquisitions.
type yielder struct{ sync.Mutex }

func (y *yielder) Lock() {
	y.Mutex.Lock()
	runtime.Gosched()
}

// TestOppositeOrdersNoDeadlock has two goroutines lock the same pair of
// mutexes, one as (a, b) and one as (b, a), many times each, starting
// together and yielding between the two acquisitions; a helper that locked
// in argument order would deadlock them. Run it with -race: the counter
// both guard is also checked for mutual exclusion.
func TestOppositeOrdersNoDeadlock(t *testing.T) {
	var a, b yielder
	const ka, kb = 4, 11
	const rounds = 20000
	counter := 0
	start, done := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	run := func(x, y *yielder, kx, ky int) {
		defer wg.Done()
		<-start
		for range rounds {
			Lock(x, y, kx, ky)
			counter++
			Unlock(x, y)
		}
	}
	wg.Add(2)
	go run(&a, &b, ka, kb)
	go run(&b, &a, kb, ka)
	close(start)
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("deadlock: opposite-order Lock calls did not finish in 30s")
	}
	if counter != 2*rounds {
		t.Errorf("counter = %d, want %d", counter, 2*rounds)
	}
	if !a.TryLock() || !b.TryLock() {
		t.Error("a lock is still held after the last Unlock")
	}
}
