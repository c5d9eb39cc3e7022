package sched_test

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gohv/gohv/sched"
	"github.com/gohv/gohv/sched/schedtest"
)

const ms = 1_000_000

// sim drives a Scheduler from one goroutine with a manual clock, as the
// metal would with a timer tick on every CPU: each tick, time moves, every
// holder is charged (Ran) and one told to yield gives way (Enter).
type sim struct {
	t       *testing.T
	clk     *schedtest.ManualClock
	s       *sched.Scheduler
	ran     map[*sched.VCPU]int64
	on      map[*sched.VCPU]sched.CPUMask // the CPUs each vCPU has run on
	tickled []int
}

func newSim(t *testing.T, ncpus int) *sim {
	clk := schedtest.NewManualClock(0)
	m := &sim{t: t, clk: clk, s: sched.NewScheduler(ncpus, clk, clk), ran: map[*sched.VCPU]int64{}, on: map[*sched.VCPU]sched.CPUMask{}}
	m.s.SetTickle(func(cpu int) { m.tickled = append(m.tickled, cpu) })
	return m
}

// vcpus adds n vCPUs to d and makes them runnable.
func (m *sim) vcpus(d *sched.Domain, n int) []*sched.VCPU {
	var vs []*sched.VCPU
	for i := 0; i < n; i++ {
		v := d.NewVCPU(i, nil)
		v.EnterNow()
		vs = append(vs, v)
	}
	m.check()
	return vs
}

func (m *sim) check() {
	m.t.Helper()
	if err := m.s.Check(); err != nil {
		m.t.Fatal(err)
	}
}

func (m *sim) holders() []*sched.VCPU {
	h := make([]*sched.VCPU, m.s.CPUs())
	for c := range h {
		h[c] = m.s.Holder(c)
	}
	return h
}

// run moves time ticks times by d, charging the holders.
func (m *sim) run(ticks int, d int64) {
	m.t.Helper()
	for i := 0; i < ticks; i++ {
		held := m.holders()
		m.clk.Advance(d)
		for c, v := range held {
			if v == nil {
				continue
			}
			m.ran[v] += d
			m.on[v] |= sched.CPUMaskOf(c)
			if v.Ran() {
				v.EnterNow()
			}
		}
		m.check()
	}
}

func within(got, want, tol float64) bool { return got >= want*(1-tol) && got <= want*(1+tol) }

func TestCreditWeights(t *testing.T) {
	for _, tc := range []struct {
		name        string
		cpus, per   int
		wA, wB      int
		wantBoverA  float64
		tolerancePc float64
	}{
		{"1cpu 256:512", 1, 1, 256, 512, 2, 0.05},
		{"2cpus 4 vcpus 256:512", 2, 2, 256, 512, 2, 0.05},
		{"1cpu equal", 1, 2, 256, 256, 1, 0.05},
		{"2cpus 256:1024", 2, 2, 256, 1024, 4, 0.08},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newSim(t, tc.cpus)
			a, b := m.s.NewDomain(), m.s.NewDomain()
			if err := a.SetWeight(tc.wA); err != nil {
				t.Fatal(err)
			}
			if err := b.SetWeight(tc.wB); err != nil {
				t.Fatal(err)
			}
			va, vb := m.vcpus(a, tc.per), m.vcpus(b, tc.per)
			m.run(6000, ms)
			var ra, rb int64
			for _, v := range va {
				ra += m.ran[v]
			}
			for _, v := range vb {
				rb += m.ran[v]
			}
			if got := float64(rb) / float64(ra); !within(got, tc.wantBoverA, tc.tolerancePc) {
				t.Errorf("B ran %d ms, A %d ms: ratio %.3f, want %.1f", rb/ms, ra/ms, got, tc.wantBoverA)
			}
			// Within a domain the vCPUs share alike.
			for _, vs := range [][]*sched.VCPU{va, vb} {
				for _, v := range vs[1:] {
					if !within(float64(m.ran[v]), float64(m.ran[vs[0]]), 0.1) {
						t.Errorf("vCPUs of one domain ran %d and %d ms", m.ran[vs[0]]/ms, m.ran[v]/ms)
					}
				}
			}
			if m.s.Resets() == 0 {
				t.Error("no credit reset in 6 s of contention")
			}
		})
	}
}

func TestCreditCap(t *testing.T) {
	m := newSim(t, 1)
	a, b := m.s.NewDomain(), m.s.NewDomain()
	if err := a.SetCap(25); err != nil {
		t.Fatal(err)
	}
	if a.SetCap(101) == nil || a.SetWeight(0) == nil || a.SetWeight(65536) == nil {
		t.Error("a cap over 100% of the one CPU, or a weight out of 1..65535, was accepted")
	}
	va := m.vcpus(a, 2)
	m.run(1000, 500_000)
	total := m.ran[va[0]] + m.ran[va[1]]
	if share := float64(total) / (500 * ms); share < 0.22 || share > 0.28 {
		t.Errorf("capped at 25%%, alone on the CPU, it ran %.1f%%", share*100)
	}
	// With a competitor, the competitor takes what the cap leaves.
	vb := m.vcpus(b, 1)
	m.ran = map[*sched.VCPU]int64{}
	m.run(1000, 500_000)
	total = m.ran[va[0]] + m.ran[va[1]]
	if share := float64(total) / (500 * ms); share < 0.22 || share > 0.28 {
		t.Errorf("capped at 25%% against an uncapped domain, it ran %.1f%%", share*100)
	}
	if share := float64(m.ran[vb[0]]) / (500 * ms); share < 0.7 {
		t.Errorf("the uncapped domain ran %.1f%%", share*100)
	}
	// Cap off: equal weights share alike.
	if err := a.SetCap(0); err != nil {
		t.Fatal(err)
	}
	m.ran = map[*sched.VCPU]int64{}
	m.run(3000, ms)
	if got := float64(m.ran[va[0]]+m.ran[va[1]]) / float64(m.ran[vb[0]]); !within(got, 2, 0.1) {
		t.Errorf("uncapped, 2 vCPUs against 1 ran %.2f times as long", got)
	}
}

func TestCreditPinning(t *testing.T) {
	m := newSim(t, 2)
	d := m.s.NewDomain()
	vs := make([]*sched.VCPU, 4)
	for i := range vs {
		vs[i] = d.NewVCPU(i, nil)
	}
	// v0, v1 on CPU 0; v2 on CPU 1; v3 anywhere.
	for i, mask := range []sched.CPUMask{1, 1, 2} {
		if err := vs[i].SetAffinity(mask); err != nil {
			t.Fatal(err)
		}
	}
	if vs[3].SetAffinity(4) == nil {
		t.Error("an affinity of CPU 2 on a 2-CPU machine was accepted")
	}
	if !vs[0].Pinned() || vs[3].Pinned() {
		t.Error("Pinned is wrong")
	}
	for _, v := range vs {
		v.EnterNow()
	}
	m.run(2000, ms)
	for i, want := range []sched.CPUMask{1, 1, 2, 3} {
		if m.on[vs[i]]&^want != 0 || m.ran[vs[i]] == 0 {
			t.Errorf("vCPU %d ran %d ms on CPUs %#b, affinity %#b", i, m.ran[vs[i]]/ms, m.on[vs[i]], want)
		}
	}
	// Moving a running vCPU's affinity off its CPU tickles it off.
	m.on = map[*sched.VCPU]sched.CPUMask{}
	if err := vs[3].SetAffinity(2); err != nil {
		t.Fatal(err)
	}
	m.run(1000, ms)
	if m.on[vs[3]] != 2 && m.on[vs[3]] != 0 {
		t.Errorf("after moving to CPU 1, vCPU 3 ran on %#b", m.on[vs[3]])
	}
	// Each CPU is shared by two vCPUs alike.
	m.ran = map[*sched.VCPU]int64{}
	m.run(2000, ms)
	if !within(float64(m.ran[vs[0]]), float64(m.ran[vs[1]]), 0.1) || !within(float64(m.ran[vs[2]]), float64(m.ran[vs[3]]), 0.1) {
		t.Errorf("pinned pairs ran %d/%d and %d/%d ms", m.ran[vs[0]]/ms, m.ran[vs[1]]/ms, m.ran[vs[2]]/ms, m.ran[vs[3]]/ms)
	}
}

func TestCreditWakePreempts(t *testing.T) {
	m := newSim(t, 1)
	d := m.s.NewDomain()
	vs := m.vcpus(d, 2)
	runner, sleeper := vs[0], vs[1]
	if m.s.Holder(0) != runner {
		t.Fatal("the first vCPU did not take the idle CPU")
	}
	sleeper.Sleep() // it was queued: it leaves the queue
	m.check()
	m.run(4, ms) // the runner burns 4 ms of credit alone
	if m.s.Holder(0) != runner {
		t.Fatal("the runner lost the CPU with nobody waiting")
	}
	m.tickled = nil
	if cpu := sleeper.EnterNow(); cpu != -1 {
		t.Fatalf("the waker got CPU %d at once from a running vCPU", cpu)
	}
	if len(m.tickled) != 1 || m.tickled[0] != 0 {
		t.Fatalf("the waker of more credit tickled %v, want [0]", m.tickled)
	}
	if !runner.ShouldYield() {
		t.Fatal("the tickled runner need not yield")
	}
	if cpu := runner.EnterNow(); cpu != -1 || m.s.Holder(0) != sleeper {
		t.Fatalf("after its yield the runner holds %d, CPU 0 runs the waker: %v", cpu, m.s.Holder(0) == sleeper)
	}
	// A waker of less credit does not preempt.
	m.run(2, ms) // the waker burns less than the runner did (4 ms)
	runner.Sleep()
	m.check()
	m.tickled = nil
	runner.EnterNow()
	if len(m.tickled) != 0 {
		t.Errorf("a waker of less credit tickled %v", m.tickled)
	}
	// Ratelimit: a tickled runner that has run under 1 ms keeps its CPU.
	m2 := newSim(t, 1)
	d2 := m2.s.NewDomain()
	w := m2.vcpus(d2, 2)
	w[1].Sleep()
	m2.run(5, ms)
	w[0].Sleep()
	m2.check()
	w[0].EnterNow() // w[0] queued behind nobody: takes the CPU
	w[1].EnterNow() // more credit: tickles w[0], which ran 0 ms
	m2.clk.Advance(ms / 2)
	if w[0].Ran() {
		t.Error("a runner preempted 0.5 ms into its run, under the 1 ms rate limit")
	}
	m2.clk.Advance(ms / 2)
	if !w[0].Ran() {
		t.Error("the tickled runner kept its CPU past the rate limit")
	}
}

func TestCreditReset(t *testing.T) {
	m := newSim(t, 1)
	d := m.s.NewDomain()
	vs := m.vcpus(d, 1)
	m.run(9, ms)
	if m.s.Resets() != 0 {
		t.Fatalf("reset after 9 ms: credit %d", vs[0].Credit())
	}
	m.run(2, ms)
	if m.s.Resets() == 0 {
		t.Fatalf("no reset with the only vCPU's credit at %d", vs[0].Credit())
	}
	if c := vs[0].Credit(); c <= 0 || c > sched.CreditInit+sched.CarryoverMax {
		t.Errorf("credit after a reset %d", c)
	}
	// A sleeper's credit is clipped to CreditInit+CarryoverMax by resets.
	s2 := newSim(t, 1)
	d2 := s2.s.NewDomain()
	w := s2.vcpus(d2, 2)
	w[1].Sleep()
	s2.run(50, ms)
	if c := w[1].Credit(); c != sched.CreditInit+sched.CarryoverMax {
		t.Errorf("a sleeper through resets has credit %d, want %d", c, sched.CreditInit+sched.CarryoverMax)
	}
}

func TestCreditIdle(t *testing.T) {
	m := newSim(t, 2)
	d := m.s.NewDomain()
	vs := m.vcpus(d, 1)
	if vs[0].CPU() != 0 || m.s.Holder(1) != nil {
		t.Fatal("one vCPU on two idle CPUs")
	}
	vs[0].Sleep()
	m.check()
	if m.s.Holder(0) != nil {
		t.Fatal("CPU 0 still held after its vCPU slept")
	}
	// It wakes on its last CPU.
	if cpu := vs[0].EnterNow(); cpu != 0 {
		t.Errorf("woke on CPU %d, want its last, 0", cpu)
	}
	// A lone vCPU keeps its CPU slice after slice, with no yield.
	m.run(100, ms)
	if m.ran[vs[0]] != 100*ms {
		t.Errorf("a lone vCPU ran %d of 100 ms", m.ran[vs[0]]/ms)
	}
	// A second one takes the idle CPU 1 without tickling anybody.
	m.tickled = nil
	w := d.NewVCPU(1, nil)
	if cpu := w.EnterNow(); cpu != 1 || len(m.tickled) != 0 {
		t.Errorf("second vCPU on CPU %d, tickled %v", cpu, m.tickled)
	}
}

// TestTryEnter: TryEnter takes a free CPU without waiting, keeps a held
// one, and else leaves the vCPU queued for the Enter that follows, which
// returns once a CPU is given.
func TestTryEnter(t *testing.T) {
	m := newSim(t, 1)
	d := m.s.NewDomain()
	a, b := d.NewVCPU(0, nil), d.NewVCPU(1, nil)
	if cpu, waited, ok := a.TryEnter(); cpu != 0 || !waited || !ok {
		t.Fatalf("asleep vCPU, idle CPU: TryEnter %d %v %v, want 0 true true", cpu, waited, ok)
	}
	if cpu, waited, ok := a.TryEnter(); cpu != 0 || waited || !ok {
		t.Fatalf("holder: TryEnter %d %v %v, want 0 false true", cpu, waited, ok)
	}
	if _, waited, ok := b.TryEnter(); !waited || ok {
		t.Fatalf("CPU held: TryEnter waited %v ok %v, want true false", waited, ok)
	}
	m.check()
	got := make(chan int, 1)
	go func() { cpu, _ := b.Enter(); got <- cpu }()
	select {
	case cpu := <-got:
		t.Fatalf("Enter returned CPU %d while a held it", cpu)
	case <-time.After(20 * time.Millisecond):
	}
	a.Sleep()
	select {
	case cpu := <-got:
		if cpu != 0 {
			t.Errorf("Enter after a slept: CPU %d", cpu)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Enter did not return once the CPU was free")
	}
	m.check()
}

// TestSliceLazy: a runner's slice timer is armed once a vCPU waits for
// its CPU; a vCPU that sleeps within its slice leaves the timer set for
// that end, when it does nothing; the next holder's slice, armed when
// the sleeper wakes to wait, still ends on time.
func TestSliceLazy(t *testing.T) {
	m := newSim(t, 1)
	d := m.s.NewDomain()
	a, b := d.NewVCPU(0, nil), d.NewVCPU(1, nil)
	a.EnterNow() // alone: its slice is its credit, MaxTimer (10 ms), untimed
	if m.clk.Pending() != 0 {
		t.Fatalf("a lone vCPU: %d timers set, want 0 (nothing to decide at its slice's end)", m.clk.Pending())
	}
	b.Wake() // b waits: a's slice, to 10 ms, is timed now
	if m.clk.Pending() != 1 || len(m.tickled) != 0 {
		t.Fatalf("a waiter came: %d timers set, tickles %v; want 1, none", m.clk.Pending(), m.tickled)
	}
	m.clk.Set(2 * ms)
	a.Sleep() // b takes the CPU, alone: untimed
	if m.s.Holder(0) != b || m.clk.Pending() != 1 {
		t.Fatalf("after a's Sleep: holder %v, %d timers set, want b and 1 (a's left set)", m.s.Holder(0) == b, m.clk.Pending())
	}
	m.clk.Set(3 * ms)
	a.Wake() // a waits: b's slice (its credit, 10 ms, to 12 ms) is timed
	if m.clk.Pending() != 2 {
		t.Fatalf("a waits: %d timers set, want 2", m.clk.Pending())
	}
	m.clk.Set(10 * ms) // a's old setting fires and does nothing
	if m.clk.Pending() != 1 || len(m.tickled) != 0 {
		t.Fatalf("at a's old slice end: %d timers set, tickles %v; want 1, none", m.clk.Pending(), m.tickled)
	}
	m.clk.Set(12*ms - 1)
	if len(m.tickled) != 0 {
		t.Fatal("b's slice timer fired before its end")
	}
	m.clk.Set(12 * ms)
	if m.clk.Pending() != 0 || len(m.tickled) != 1 || m.tickled[0] != 0 || !b.NeedsCheck() {
		t.Fatalf("at b's slice end: %d timers set, tickles %v, NeedsCheck %v; want 0, [0], true", m.clk.Pending(), m.tickled, b.NeedsCheck())
	}
	m.check()
}

// TestCreditGoroutines runs vCPU goroutines that enter, spin, block and
// wake against a host clock (go test -race in make test): no CPU is ever
// held by two of them, and every one runs.
func TestCreditGoroutines(t *testing.T) {
	const ncpus, nvcpus = 2, 5
	clk := sched.NewHostClock()
	s := sched.NewScheduler(ncpus, clk, clk)
	var tickles atomic.Int64
	s.SetTickle(func(int) { tickles.Add(1) })
	doms := []*sched.Domain{s.NewDomain(), s.NewDomain()}
	var owner [ncpus]atomic.Int32
	var entries [nvcpus]atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var failed atomic.Value
	for i := 0; i < nvcpus; i++ {
		v := doms[i%2].NewVCPU(i, nil)
		wg.Add(1)
		go func(i int, v *sched.VCPU) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(i), 1))
			held := -1
			for {
				select {
				case <-stop:
					if held >= 0 {
						owner[held].Store(0)
					}
					v.Sleep()
					return
				default:
				}
				if held >= 0 {
					owner[held].Store(0)
				}
				cpu, _ := v.Enter()
				if !owner[cpu].CompareAndSwap(0, int32(i+1)) {
					failed.Store("two vCPUs hold one CPU")
				}
				if !v.Affinity().Has(cpu) {
					failed.Store("a vCPU entered outside its affinity")
				}
				held = cpu
				entries[i].Add(1)
				for j := 0; j < r.IntN(2000); j++ {
					if v.ShouldYield() {
						break
					}
				}
				runtime.Gosched()
				v.Ran()
				switch r.IntN(20) {
				case 0:
					owner[held].Store(0)
					held = -1
					v.Sleep()
					time.Sleep(time.Duration(r.IntN(200)) * time.Microsecond)
				case 1:
					v.Yield()
				}
			}
		}(i, v)
	}
	// Meanwhile the domains' settings change.
	go func() {
		r := rand.New(rand.NewPCG(9, 9))
		for k := 0; k < 200; k++ {
			doms[r.IntN(2)].SetWeight(1 + r.IntN(1024))
			doms[r.IntN(2)].SetCap([]int{0, 0, 50, 150}[r.IntN(4)])
			if err := s.Check(); err != nil {
				failed.Store(err.Error())
			}
			time.Sleep(time.Millisecond)
		}
		close(stop)
	}()
	wg.Wait()
	if f := failed.Load(); f != nil {
		t.Fatal(f)
	}
	for i := range entries {
		if entries[i].Load() == 0 {
			t.Errorf("vCPU %d never ran", i)
		}
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

// FuzzScheduler runs random operation sequences on a manual clock and
// checks the invariants after each: no CPU held by two vCPUs, no vCPU on
// two CPUs, affinity respected, no runnable vCPU left waiting while a CPU
// it may use idles.
func FuzzScheduler(f *testing.F) {
	f.Add([]byte{1, 3, 0, 0, 0, 1, 0, 2, 2, 9, 6, 0, 3, 1, 2, 2, 40, 1, 2, 5, 4})
	f.Add([]byte{3, 5, 0, 0, 0, 1, 0, 2, 0, 3, 0, 4, 5, 1, 2, 2, 200, 3, 0, 1, 2, 7, 0, 4, 0, 9, 2, 255})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		ncpus, nv := 1+int(data[0]%4), 1+int(data[1]%6)
		clk := schedtest.NewManualClock(0)
		s := sched.NewScheduler(ncpus, clk, clk)
		s.SetTickle(func(cpu int) {
			if cpu < 0 || cpu >= ncpus {
				t.Fatalf("tickled CPU %d", cpu)
			}
		})
		doms := []*sched.Domain{s.NewDomain(), s.NewDomain()}
		vs := make([]*sched.VCPU, nv)
		for i := range vs {
			vs[i] = doms[i%2].NewVCPU(i, nil)
		}
		check := func(op string) {
			if err := s.Check(); err != nil {
				t.Fatalf("after %s: %v", op, err)
			}
		}
		for k := 2; k+1 < len(data); k += 2 {
			op, arg := data[k]%9, data[k+1]
			v := vs[int(arg)%nv]
			switch op {
			case 0:
				v.EnterNow()
			case 1:
				v.Sleep()
			case 2:
				held := make([]*sched.VCPU, ncpus)
				for c := range held {
					held[c] = s.Holder(c)
				}
				clk.Advance(int64(arg) * 37_000)
				for _, h := range held {
					if h != nil && h.Ran() {
						h.EnterNow()
					}
				}
			case 3:
				v.SetAffinity(sched.CPUMask(arg>>3) & sched.AllCPUs(ncpus))
			case 4:
				doms[arg%2].SetWeight(1 + int(arg)*200)
			case 5:
				doms[arg%2].SetCap(int(arg>>1) % (100*ncpus + 1))
			case 6:
				v.Yield()
				v.EnterNow()
			case 7:
				if v.ShouldYield() {
					v.EnterNow()
				}
			case 8:
				v.Wake()
			}
			check([]string{"enter", "sleep", "tick", "affinity", "weight", "cap", "yield", "shouldyield", "wake"}[op])
		}
	})
}

// TestSliceEndTickles: a running vCPU whose CPU takes no ticks (NeedsCheck
// false) still learns its slice is over once a vCPU waits for its CPU:
// the slice timer tickles its CPU, and NeedsCheck stays true until Ran
// has decided; one that waits after the slice's end tickles it at once.
// A lone vCPU's slice ends with no timer, no tickle and no NeedsCheck
// (nothing to decide: the metal keeps it in the guest). A capped
// domain's vCPU always needs its ticks.
func TestSliceEndTickles(t *testing.T) {
	m := newSim(t, 2)
	d := m.s.NewDomain()
	a := d.NewVCPU(0, nil)
	cpu := a.EnterNow() // alone: a slice of MaxTimer (10 ms), untimed
	if a.NeedsCheck() || m.clk.Pending() != 0 {
		t.Fatalf("at the slice's start: NeedsCheck %v, %d timers set", a.NeedsCheck(), m.clk.Pending())
	}
	m.clk.Set(10 * ms)
	if a.NeedsCheck() || len(m.tickled) != 0 {
		t.Fatalf("a lone vCPU's slice end: NeedsCheck %v, tickles %v; want false, none", a.NeedsCheck(), m.tickled)
	}
	if a.Ran() || m.clk.Pending() != 0 {
		t.Fatalf("Ran at a lone vCPU's slice end: a yield or a timer (%d set)", m.clk.Pending())
	}
	// b waits for a's CPU (pinned to it): a's new slice (to 20 ms) is timed.
	b := d.NewVCPU(1, nil)
	if err := b.SetAffinity(sched.CPUMaskOf(cpu)); err != nil {
		t.Fatal(err)
	}
	b.Wake()
	if m.clk.Pending() != 1 || len(m.tickled) != 0 || a.NeedsCheck() {
		t.Fatalf("a waiter came within the slice: %d timers set, tickles %v, NeedsCheck %v; want 1, none, false", m.clk.Pending(), m.tickled, a.NeedsCheck())
	}
	m.clk.Set(20*ms - 1)
	if a.NeedsCheck() || len(m.tickled) != 0 {
		t.Fatalf("before the slice's end: NeedsCheck %v, tickles %v", a.NeedsCheck(), m.tickled)
	}
	m.clk.Set(20 * ms)
	if !a.NeedsCheck() || len(m.tickled) != 1 || m.tickled[0] != cpu {
		t.Fatalf("at the slice's end: NeedsCheck %v, tickles %v, want CPU %d tickled", a.NeedsCheck(), m.tickled, cpu)
	}
	if !a.Ran() {
		t.Fatal("Ran: a spent vCPU kept its CPU from a waiter of more credit")
	}
	a.EnterNow() // b takes a's CPU (timed: a waited then), a the other
	m.check()
	if m.s.Holder(cpu) != b {
		t.Fatalf("after the yield: b does not hold CPU %d", cpu)
	}
	m.clk.Set(40 * ms) // b's slice ends: it keeps its CPU, alone, untimed
	if b.Ran() || m.clk.Pending() != 0 {
		t.Fatalf("b alone at its slice's end: a yield or a timer (%d set)", m.clk.Pending())
	}
	// c waits for b's CPU after b's new slice is over: b is tickled at
	// once, once.
	m.tickled = nil
	c := d.NewVCPU(2, nil)
	if err := c.SetAffinity(sched.CPUMaskOf(cpu)); err != nil {
		t.Fatal(err)
	}
	m.clk.Set(51 * ms)
	c.Wake()
	if !b.NeedsCheck() || len(m.tickled) != 1 || m.tickled[0] != cpu {
		t.Fatalf("a waiter after the slice's end: NeedsCheck %v, tickles %v, want CPU %d tickled once", b.NeedsCheck(), m.tickled, cpu)
	}
	if err := d.SetCap(50); err != nil {
		t.Fatal(err)
	}
	if !a.NeedsCheck() {
		t.Fatal("NeedsCheck false for a capped domain's vCPU")
	}
	m.check()
}
