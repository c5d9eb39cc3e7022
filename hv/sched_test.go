package hv

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/arch"
	"github.com/gohv/gohv/mm"
	"github.com/gohv/gohv/sched"
)

// tickMetal is a Backend whose guests spin: each entry lasts a little
// while and ends with the timer tick's interrupt. It checks that no two
// vCPUs are ever in the guest on one physical CPU (the CPU hv last moved
// their threads to with Config.SetCPU).
type tickMetal struct {
	*fakeMetal
	inGuest   [2]atomic.Int32 // 1 + the vCPU id in the guest on each CPU
	entries   [3]atomic.Int64
	preempted [3]atomic.Int64 // entries after which Preempt said yes
	overlap   atomic.Bool
}

func (f *tickMetal) Run(v *VCPU, regs *arch.Regs, cr3 mm.MFN) (arch.Exit, error) {
	cpu := v.pcpu
	if cpu < 0 || !f.inGuest[cpu].CompareAndSwap(0, int32(v.id+1)) {
		f.overlap.Store(true)
		return arch.Exit{Kind: arch.ExitInterrupt}, nil
	}
	f.entries[v.id].Add(1)
	time.Sleep(200 * time.Microsecond)
	// A hypercall's continuation would ask this between its items.
	if v.Preempt() {
		f.preempted[v.id].Add(1)
	}
	f.inGuest[cpu].Store(0)
	return arch.Exit{Kind: arch.ExitInterrupt}, nil
}

// TestOvercommit runs three spinning vCPUs on two physical CPUs: each
// gets a fair share, is runnable (not running) while it waits for a CPU,
// and is told by Preempt when its slice is over.
func TestOvercommit(t *testing.T) {
	m, fm, _ := testMachine(t)
	m.sched = sched.NewScheduler(2, m.cfg.Clock, m.cfg.Timers)
	tm := &tickMetal{fakeMetal: fm}
	m.cfg.Backend = tm
	d, err := m.CreateDomain(DomainConfig{ID: 1, VCPUs: 3})
	if err != nil {
		t.Fatal(err)
	}
	var moves atomic.Int64
	m.cfg.SetCPU = func(cpu int) {
		if cpu < -1 || cpu >= 2 {
			t.Errorf("SetCPU(%d) on a 2-CPU machine", cpu)
		}
		moves.Add(1)
	}
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		v := d.VCPU(i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			v.Run()
		}()
	}
	time.Sleep(600 * time.Millisecond)
	d.dying.Store(true)
	wg.Wait()
	if tm.overlap.Load() {
		t.Fatal("two vCPUs were in the guest on one CPU at once")
	}
	var lo, hi int64 = 1 << 62, 0
	for i := 0; i < 3; i++ {
		n := tm.entries[i].Load()
		lo, hi = min(lo, n), max(hi, n)
		r := d.Runstate(i)
		if r.Time[abi.RUNSTATE_runnable] == 0 || r.Time[abi.RUNSTATE_running] == 0 {
			t.Errorf("vCPU %d runstate times %v: never waited for a CPU", i, r.Time)
		}
	}
	t.Logf("entries %d %d %d, Preempt yes %d %d %d", tm.entries[0].Load(), tm.entries[1].Load(), tm.entries[2].Load(),
		tm.preempted[0].Load(), tm.preempted[1].Load(), tm.preempted[2].Load())
	if lo < hi/3 {
		t.Errorf("entries per vCPU from %d to %d: not a fair share", lo, hi)
	}
	var pre int64
	for i := range tm.preempted {
		pre += tm.preempted[i].Load()
	}
	if pre == 0 {
		t.Error("Preempt never said a slice was over")
	}
	if moves.Load() < 3 {
		t.Errorf("SetCPU called %d times for 3 vCPUs", moves.Load())
	}
}

// TestQuietFor: a vCPU holding its CPU lets the metal keep the guest
// running through ticks (QuietFor > 0) until the scheduler must decide at
// its next tick: once it is tickled (here: its affinity left its CPU)
// QuietFor is 0 until Ran has decided, and always for a capped domain.
func TestQuietFor(t *testing.T) {
	m, _, _ := testMachine(t)
	m.sched = sched.NewScheduler(2, m.cfg.Clock, m.cfg.Timers)
	var tickled atomic.Int32
	m.sched.SetTickle(func(int) { tickled.Add(1) })
	d, err := m.CreateDomain(DomainConfig{ID: 1, VCPUs: 1})
	if err != nil {
		t.Fatal(err)
	}
	v := d.VCPU(0)
	v.takeCPU()
	cpu, ok := v.sched.Kept()
	if !ok {
		t.Fatal("the vCPU holds no CPU after takeCPU")
	}
	if q := v.QuietFor(); q != quietMax {
		t.Fatalf("QuietFor of a running vCPU with nothing to decide: %d, want %d", q, quietMax)
	}
	if err := v.sched.SetAffinity(sched.CPUMaskOf(1 - cpu)); err != nil {
		t.Fatal(err)
	}
	if q := v.QuietFor(); q != 0 || tickled.Load() == 0 {
		t.Fatalf("after its affinity left its CPU: QuietFor %d (want 0), %d tickles", q, tickled.Load())
	}
	v.sched.Ran()
	v.takeCPU()
	if q := v.QuietFor(); q != quietMax {
		t.Fatalf("QuietFor on its new CPU: %d, want %d", q, quietMax)
	}
	if err := d.Sched().SetCap(50); err != nil {
		t.Fatal(err)
	}
	if q := v.QuietFor(); q != 0 {
		t.Fatalf("QuietFor of a capped domain's vCPU: %d, want 0", q)
	}
}
