package selftest

import (
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Check is one named self-test.
type Check struct {
	Name string
	Run  func() (detail string, err error)
}

// Result is the outcome of one Check.
type Result struct {
	Name   string
	Detail string // figures the check measured
	Err    error  // nil when it passed
}

// Timer-accuracy bounds: how late (median of five) a 50 ms time.Sleep may
// wake and still pass. Idle, lateness is the 1 ms tick plus emulator
// slack. Next to a CPU-bound goroutine it is dominated by Go's scheduler,
// which preempts a running goroutine cooperatively after 10 ms (gohv does
// not deliver the SIGURG behind asynchronous preemption yet).
const (
	IdleSlack = 10 * time.Millisecond
	BusySlack = 50 * time.Millisecond
)

// Timer verdicts. ErrTimerLate depends on the machine not being starved
// (the host test tolerates it; gohv's selftest does not).
var (
	ErrTimerEarly = errors.New("a timer fired early")
	ErrTimerLate  = errors.New("timers fire too late")
)

// GCPressureMiB is how much the GC check allocates and drops.
const GCPressureMiB = 400

// Checks returns the suite in the order it runs.
func Checks() []Check {
	return []Check{
		{"fmt", checkFmt},
		{"maps", checkMaps},
		{"recover", checkRecover},
		{"goroutines", checkGoroutines},
		{"threads", checkLockedThreads},
		{"select", checkSelect},
		{"timers", checkTimers},
		{"preempt", checkAsyncPreempt},
		{"gc", checkGC},
		{"stress", checkStress},
	}
}

// Run runs every check and returns the results in order.
func Run() []Result {
	var out []Result
	for _, c := range Checks() {
		d, err := c.Run()
		out = append(out, Result{c.Name, d, err})
	}
	return out
}

func checkFmt() (string, error) {
	s := fmt.Sprintf("%d %x %q %v %.3f", 42, 255, "xen", []int{1, 2}, 3.14159)
	if s != `42 ff "xen" [1 2] 3.142` {
		return "", fmt.Errorf("Sprintf gave %q", s)
	}
	return "", nil
}

func checkMaps() (string, error) {
	m := make(map[uint64]uint64)
	for i := uint64(0); i < 100000; i++ {
		m[i*2654435761] = i
	}
	for i := uint64(0); i < 100000; i += 7 {
		if m[i*2654435761] != i {
			return "", fmt.Errorf("map lost key %d", i)
		}
	}
	for i := uint64(0); i < 100000; i += 2 {
		delete(m, i*2654435761)
	}
	if len(m) != 50000 {
		return "", fmt.Errorf("map has %d keys after deletes, want 50000", len(m))
	}
	return fmt.Sprintf("%d keys", 100000), nil
}

var errBoom = errors.New("boom")

func checkRecover() (string, error) {
	order := []string{}
	got := func() (r any) {
		defer func() { r = recover() }()
		defer func() { order = append(order, "second") }()
		defer func() { order = append(order, "first") }()
		panic(errBoom)
	}()
	if got != errBoom {
		return "", fmt.Errorf("recover returned %v", got)
	}
	if strings.Join(order, ",") != "first,second" {
		return "", fmt.Errorf("defers ran as %v", order)
	}
	// A runtime error (nil map write) is recoverable too.
	err := func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err, _ = r.(error)
			}
		}()
		var m map[int]int
		m[1] = 1
		return nil
	}()
	if err == nil {
		return "", errors.New("nil map write did not panic")
	}
	return "", nil
}

func checkGoroutines() (string, error) {
	const n = 64
	results := make(chan int, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			s := 0
			for j := 0; j <= 10000; j++ {
				s += j
			}
			results <- s + i
		}(i)
	}
	wg.Wait()
	close(results)
	sum := 0
	for v := range results {
		sum += v
	}
	if want := n*50005000 + n*(n-1)/2; sum != want {
		return "", fmt.Errorf("sum %d, want %d", sum, want)
	}
	return fmt.Sprintf("%d goroutines", n), nil
}

// checkLockedThreads runs goroutines that each own an OS thread (a kernel
// thread under gohv) and pass a token around a ring, so work crosses
// threads many times.
func checkLockedThreads() (string, error) {
	const n, rounds = 4, 200
	chans := make([]chan int, n)
	for i := range chans {
		chans[i] = make(chan int)
	}
	done := make(chan int)
	for i := 0; i < n; i++ {
		go func(i int) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			for {
				v, ok := <-chans[i]
				if !ok {
					return
				}
				if v == n*rounds {
					done <- v
					continue
				}
				chans[(i+1)%n] <- v + 1
			}
		}(i)
	}
	chans[0] <- 0
	v := <-done
	for _, c := range chans {
		close(c)
	}
	if v != n*rounds {
		return "", fmt.Errorf("token reached %d", v)
	}
	return fmt.Sprintf("%d hops over %d locked threads", v, n), nil
}

func checkSelect() (string, error) {
	a, b := make(chan int), make(chan int)
	quit := make(chan struct{})
	go func() {
		for i := 0; i < 100; i++ {
			if i%2 == 0 {
				a <- i
			} else {
				b <- i
			}
		}
		close(quit)
	}()
	na, nb := 0, 0
	for {
		select {
		case <-a:
			na++
		case <-b:
			nb++
		case <-quit:
			if na != 50 || nb != 50 {
				return "", fmt.Errorf("select got %d/%d", na, nb)
			}
			select {
			case <-time.After(time.Millisecond):
			case <-a:
				return "", errors.New("select took from an idle channel")
			}
			return "", nil
		}
	}
}

// checkTimers measures time.Sleep and a timer against the monotonic
// clock, first with the CPU idle, then with a CPU-bound goroutine running:
// timers must still fire (timer preemption keeps sysmon and the timer
// goroutines running).
func checkTimers() (string, error) {
	idle, idleTimer := sleepLateness()
	stop := make(chan struct{})
	go func() {
		spins := 0
		for {
			select {
			case <-stop:
				return
			default:
			}
			for k := 0; k < 100000; k++ {
				spins++
			}
		}
	}()
	busy, busyTimer := sleepLateness()
	close(stop)
	detail := fmt.Sprintf("50ms sleep late by median %v (max %v) idle, %v (max %v) beside a busy goroutine; 20ms timer late by median %v idle, %v busy; bounds %v idle, %v busy",
		idle[2], idle[4], busy[2], busy[4], idleTimer, busyTimer, IdleSlack, BusySlack)
	if idle[0] < 0 || busy[0] < 0 || idleTimer < 0 || busyTimer < 0 {
		return detail, ErrTimerEarly
	}
	if idle[2] > IdleSlack || idleTimer > IdleSlack {
		return detail, fmt.Errorf("%w on an idle CPU", ErrTimerLate)
	}
	if busy[2] > BusySlack || busyTimer > BusySlack {
		return detail, fmt.Errorf("%w beside a busy goroutine", ErrTimerLate)
	}
	return detail, nil
}

// sleepLateness returns how late five 50 ms sleeps woke (sorted) and the
// median lateness of three 20 ms timers.
func sleepLateness() ([5]time.Duration, time.Duration) {
	var lates [5]time.Duration
	for i := range lates {
		t0 := time.Now()
		time.Sleep(50 * time.Millisecond)
		lates[i] = time.Since(t0) - 50*time.Millisecond
	}
	sort.Slice(lates[:], func(i, j int) bool { return lates[i] < lates[j] })
	var timers [3]time.Duration
	for i := range timers {
		t0 := time.Now()
		tm := time.NewTimer(20 * time.Millisecond)
		<-tm.C
		timers[i] = time.Since(t0) - 20*time.Millisecond
	}
	sort.Slice(timers[:], func(i, j int) bool { return timers[i] < timers[j] })
	return lates, timers[1]
}

// checkAsyncPreempt runs a goroutine in a loop with no function calls,
// so no cooperative preemption point, on every P, then needs the CPU back:
// only asynchronous preemption (SIGURG to the spinning thread) can give
// it, for a sleep and a stop-the-world GC.
func checkAsyncPreempt() (string, error) {
	var stop atomic.Bool
	var spins atomic.Int64
	n := runtime.GOMAXPROCS(0)
	for i := 0; i < n; i++ {
		go func() {
			var k int64
			for !stop.Load() {
				k++
			}
			spins.Add(k)
		}()
	}
	t0 := time.Now()
	time.Sleep(20 * time.Millisecond)
	runtime.GC()
	took := time.Since(t0)
	stop.Store(true)
	if took > 2*time.Second {
		return "", fmt.Errorf("sleep plus GC took %v beside %d spinning goroutines", took, n)
	}
	return fmt.Sprintf("20ms sleep and a GC took %v beside %d spinning goroutines", took, n), nil
}

type node struct {
	next *node
	pad  [48]byte
}

// checkGC allocates GCPressureMiB in 1 MiB slices and small linked objects
// while keeping only a small window alive, so the collector must run
// repeatedly and give memory back to be reused.
func checkGC() (string, error) {
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	window := make([][]byte, 8)
	var list *node
	for i := 0; i < GCPressureMiB; i++ {
		b := make([]byte, 1<<20)
		b[0], b[len(b)-1] = byte(i), byte(i)
		window[i%len(window)] = b
		for j := 0; j < 2000; j++ {
			list = &node{next: list}
			if j%500 == 0 {
				list = nil
			}
		}
	}
	for i, b := range window {
		if b[0] != b[len(b)-1] {
			return "", fmt.Errorf("slice %d corrupted", i)
		}
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	allocated := (after.TotalAlloc - before.TotalAlloc) >> 20
	cycles := after.NumGC - before.NumGC
	detail := fmt.Sprintf("%d MiB allocated, %d GC cycles, heap %d MiB, sys %d MiB",
		allocated, cycles, after.HeapAlloc>>20, after.Sys>>20)
	if allocated < GCPressureMiB {
		return detail, fmt.Errorf("only %d MiB allocated", allocated)
	}
	if cycles < 5 {
		return detail, fmt.Errorf("only %d GC cycles", cycles)
	}
	return detail, nil
}

// StressDuration is how long the stress check runs.
var StressDuration = 3 * time.Second

// checkStress runs 4 goroutines per P for StressDuration, each allocating
// (slices and maps it checks), passing its work over channels to a
// collector and waiting on timers, while the GC runs (forced every 100
// ms besides the allocation's own cycles): the runtime's threads on every
// CPU at once. Every item sent must arrive, intact, exactly once.
func checkStress() (string, error) {
	workers := 4 * runtime.GOMAXPROCS(0)
	type item struct {
		worker, seq int
		sum         uint64
		data        []uint64
	}
	items := make(chan item, 64)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var bad atomic.Int64
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			tick := time.NewTicker(time.Duration(1+w%5) * time.Millisecond)
			defer tick.Stop()
			for seq := 0; ; seq++ {
				n := 64 + (seq*7+w)%960
				d := make([]uint64, n)
				m := make(map[int]uint64, 16)
				var sum uint64
				for i := range d {
					d[i] = uint64(w)<<40 | uint64(seq)<<16 | uint64(i)
					sum += d[i]
					if i%64 == 0 {
						m[i] = d[i]
					}
				}
				for k, v := range m {
					if d[k] != v {
						bad.Add(1)
					}
				}
				select {
				case items <- item{w, seq, sum, d}:
				case <-stop:
					return
				}
				if seq%8 == 0 {
					select {
					case <-tick.C:
					case <-stop:
						return
					}
				}
			}
		}(w)
	}
	got := make([]int, workers) // next seq expected from each worker
	var n int
	deadline := time.After(StressDuration)
	gc := time.NewTicker(100 * time.Millisecond)
	defer gc.Stop()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
loop:
	for {
		select {
		case it := <-items:
			var sum uint64
			for _, v := range it.data {
				sum += v
			}
			if sum != it.sum || it.seq != got[it.worker] {
				bad.Add(1)
			}
			got[it.worker] = it.seq + 1
			n++
		case <-gc.C:
			runtime.GC()
		case <-deadline:
			break loop
		}
	}
	close(stop)
	go func() {
		for range items {
		}
	}()
	wg.Wait()
	close(items)
	runtime.ReadMemStats(&ms1)
	detail := fmt.Sprintf("%d goroutines passed %d items in %v, %d GC cycles", workers, n, StressDuration, ms1.NumGC-ms0.NumGC)
	if b := bad.Load(); b != 0 {
		return detail, fmt.Errorf("%d items corrupt, lost or out of order", b)
	}
	for w, next := range got {
		if next == 0 {
			return detail, fmt.Errorf("worker %d never delivered", w)
		}
	}
	return detail, nil
}
