package sched

// Lock order: Scheduler.mu is taken after hv's locks and before none of
// this package's other locks (Waiter.mu is never held with it). The tickle
// hook is called with it released, the timers' Reset and Stop with it
// held: a TimerSource never runs a callback inside them.

import (
	"errors"
	"fmt"
	"math/bits"
	"sync"
	"sync/atomic"
)

// Constants of Xen 4.17's credit2 (common/sched/credit2.c) and of its
// generic scheduler (common/sched/core.c), in ns of system time.
const (
	// DefaultWeight is the weight a domain starts with.
	DefaultWeight = 256
	// MaxWeight is the largest weight sched_credit2 accepts (1..65535).
	MaxWeight = 65535
	// CreditInit is CSCHED2_CREDIT_INIT: the credit a vCPU starts with
	// and that a reset adds.
	CreditInit = 10_000_000
	// CarryoverMax is CSCHED2_CARRYOVER_MAX: the most credit above
	// CreditInit a reset leaves.
	CarryoverMax = MinTimer
	// MinTimer and MaxTimer (CSCHED2_MIN_TIMER, CSCHED2_MAX_TIMER) bound
	// a time slice.
	MinTimer = 500_000
	MaxTimer = CreditInit
	// MigrateResist is CSCHED2_MIGRATE_RESIST (sched_credit2_migrate_resist
	// defaults to 500 us): a waking vCPU must beat a runner on another
	// CPU than its last by this much more credit to preempt it.
	MigrateResist = 500_000
	// Ratelimit is sched_ratelimit_us's default (1 ms): a vCPU runs at
	// least this long before it can be descheduled for another runnable
	// one, unless it blocks, yields or runs out of budget.
	Ratelimit = 1_000_000
	// CapPeriod is CSCHED2_BDGT_REPL_PERIOD (sched_credit2_cap_period_ms
	// defaults to 10): a capped domain's budget is replenished this
	// often.
	CapPeriod = 10_000_000
	// MaxCPUs is how many physical CPUs a Scheduler drives (a CPUMask's
	// width).
	MaxCPUs = 64
)

// CPUMask is a set of physical CPUs: bit c is CPU c. A vCPU's hard
// affinity is one.
type CPUMask uint64

// CPUMaskOf returns the mask of CPU cpu alone.
func CPUMaskOf(cpu int) CPUMask { return 1 << uint(cpu) }

// AllCPUs returns the mask of CPUs 0..n-1.
func AllCPUs(n int) CPUMask {
	if n >= MaxCPUs {
		return ^CPUMask(0)
	}
	return 1<<uint(n) - 1
}

// Has reports whether cpu is in the mask.
func (m CPUMask) Has(cpu int) bool { return cpu >= 0 && cpu < MaxCPUs && m&(1<<uint(cpu)) != 0 }

// Weight is how many CPUs the mask names.
func (m CPUMask) Weight() int { return bits.OnesCount64(uint64(m)) }

// Errors of the scheduler's settings.
var (
	ErrWeight   = errors.New("sched: weight out of 1..65535")
	ErrCap      = errors.New("sched: cap out of 0..100*CPUs")
	ErrAffinity = errors.New("sched: affinity names no CPU of the machine")
)

// vCPU states in the scheduler.
const (
	vcpuAsleep  = iota // blocked, polling, down or not started: holds no CPU and wants none
	vcpuQueued         // runnable, waiting for a CPU
	vcpuRunning        // holds a CPU
)

// Scheduler shares a machine's physical CPUs (its slots) among the vCPUs
// of every domain, in the manner of Xen's credit2 with one run queue:
//
//   - Each vCPU has credit, which burns while it holds a CPU at the
//     rate max weight / its domain's weight (the heaviest burn 1 per ns).
//   - A CPU that frees goes to the queued vCPU of most credit whose hard
//     affinity has it (first queued on a tie); when that vCPU's credit
//     is <= 0, every vCPU's credit is reset (Reset).
//   - A running vCPU's slice is the time its credit lead over the best
//     waiter buys it, within [MinTimer, MaxTimer] and its domain's
//     remaining budget; at its end (and when tickled) it keeps its CPU
//     unless a waiter has more credit; it always keeps it for Ratelimit
//     after it started.
//   - A vCPU that becomes runnable takes an idle CPU of its affinity (its
//     last one first), else tickles the runner it beats by most credit
//     (MigrateResist counts against CPUs other than its last).
//   - A capped domain has a budget of cap% of CapPeriod, spent by its
//     vCPUs' run time and replenished every CapPeriod (debt carries
//     over; a surplus does not); with none left its vCPUs are parked:
//     they give up their CPUs and are not picked until replenishment.
//
// Everything is under one lock (mu). The vCPU's own goroutine calls Enter,
// Ran, ShouldYield, Yield and Sleep; Wake, SetAffinity and the domain
// settings are safe from any goroutine.
type Scheduler struct {
	// Immutable after NewScheduler (tickle: before the first vCPU runs).
	clock  Clock
	timers TimerSource
	ncpu   int
	tickle func(cpu int)

	mu sync.Mutex
	// cpus[c] is the vCPU holding CPU c, nil while it idles.
	cpus []*VCPU
	// queue holds the runnable vCPUs waiting for a CPU, parked ones too.
	queue []*VCPU
	// vcpus is every vCPU of every domain not removed.
	vcpus []*VCPU
	// domains is every domain not removed; maxWeight is the largest of
	// their weights (credit2's run queue max_weight).
	domains   []*Domain
	maxWeight int64
	// seq orders the queue: first queued first on equal credit.
	seq uint64
	// tickles are the CPUs to tickle once mu is released.
	tickles []int
	// resets counts credit resets.
	resets uint64
}

// NewScheduler returns the scheduler of a machine of ncpus physical CPUs
// (1..MaxCPUs), all idle, reading time from clock and arming budget
// replenishments and slice ends on timers.
func NewScheduler(ncpus int, clock Clock, timers TimerSource) *Scheduler {
	ncpus = min(max(ncpus, 1), MaxCPUs)
	return &Scheduler{clock: clock, timers: timers, ncpu: ncpus, cpus: make([]*VCPU, ncpus), maxWeight: DefaultWeight}
}

// CPUs reports how many physical CPUs the scheduler drives.
func (s *Scheduler) CPUs() int { return s.ncpu }

// SetTickle sets the hook that makes CPU cpu's running vCPU leave the
// guest soon (an IPI on the metal) because a waiter beats it, its
// affinity moved or its budget is out. It is called with no lock of the
// scheduler held, on the goroutine whose call decided it. Set it before
// any vCPU runs; nil (the default): the running vCPU notices at its next
// Ran, its CPU's next timer tick.
func (s *Scheduler) SetTickle(hook func(cpu int)) { s.tickle = hook }

// Resets reports how many credit resets there have been.
func (s *Scheduler) Resets() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.resets
}

// unlock releases mu and then tickles the CPUs decided under it.
func (s *Scheduler) unlock() {
	t := s.tickles
	s.tickles = nil
	s.mu.Unlock()
	if s.tickle != nil {
		for _, c := range t {
			s.tickle(c)
		}
	}
}

// Domain is a domain as the scheduler sees it: its weight, its cap and
// budget, its vCPUs.
type Domain struct {
	s *Scheduler
	// Guarded by s.mu.
	weight int64
	cap    int
	// budget is what its vCPUs may still run this period (ns; capped
	// domains only); the replenishment timer is armed for replAt while
	// replArmed (its callback does nothing otherwise, or before replAt).
	budget    int64
	replArmed bool
	replAt    int64
	vcpus     []*VCPU
	removed   bool

	// replenish is the budget's timer, made by NewDomain; immutable.
	replenish Timer
	// capped mirrors cap != 0 for reads without s.mu (NeedsCheck).
	capped atomic.Bool
}

// NewDomain adds a domain of DefaultWeight and no cap.
func (s *Scheduler) NewDomain() *Domain {
	d := &Domain{s: s, weight: DefaultWeight}
	d.replenish = s.timers.NewTimer(d.replenished)
	s.mu.Lock()
	s.domains = append(s.domains, d)
	s.updateMaxWeight()
	s.mu.Unlock()
	return d
}

func (s *Scheduler) updateMaxWeight() {
	m := int64(1)
	for _, d := range s.domains {
		m = max(m, d.weight)
	}
	s.maxWeight = m
}

// Weight and Cap report the domain's settings.
func (d *Domain) Weight() int {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	return int(d.weight)
}

func (d *Domain) Cap() int {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	return d.cap
}

// SetWeight sets the domain's weight (1..MaxWeight). Credit already
// burnt stays burnt; from now on its vCPUs burn at the new rate.
func (d *Domain) SetWeight(w int) error {
	if w < 1 || w > MaxWeight {
		return ErrWeight
	}
	s := d.s
	s.mu.Lock()
	now := s.clock.Now()
	s.chargeAll(now) // time run so far burns at the old rates
	d.weight = int64(w)
	s.updateMaxWeight()
	s.unlock()
	return nil
}

// SetCap sets the domain's cap in percent of one CPU (0: none; at most
// 100 per CPU). A new cap starts with a full budget.
func (d *Domain) SetCap(pct int) error {
	s := d.s
	if pct < 0 || pct > 100*s.ncpu {
		return ErrCap
	}
	s.mu.Lock()
	now := s.clock.Now()
	s.chargeAll(now)
	d.cap = pct
	d.capped.Store(pct != 0)
	d.stopReplenishLocked()
	if pct != 0 {
		d.budget = d.totBudget()
		d.armReplenishLocked(now + CapPeriod)
	}
	s.unparkLocked(d, now)
	s.unlock()
	return nil
}

// totBudget is the budget a period gives: cap% of CapPeriod.
func (d *Domain) totBudget() int64 { return CapPeriod * int64(d.cap) / 100 }

// parked reports whether the domain's vCPUs may not run: capped and out
// of budget. Caller holds s.mu.
func (d *Domain) parked() bool { return d.cap != 0 && d.budget <= 0 }

func (d *Domain) stopReplenishLocked() {
	if d.replArmed {
		d.replArmed = false
		d.replenish.Stop()
	}
}

func (d *Domain) armReplenishLocked(at int64) {
	d.replArmed, d.replAt = true, at
	d.replenish.Reset(at)
}

// replenished is the budget timer's callback: the budget grows by a
// period's worth (at most to it) and the next replenishment is armed a
// period after this one was due; parked vCPUs run again if there is
// budget.
func (d *Domain) replenished() {
	s := d.s
	s.mu.Lock()
	now := s.clock.Now()
	if !d.replArmed || now < d.replAt || d.cap == 0 || d.removed {
		s.mu.Unlock()
		return
	}
	due := d.replAt
	d.replArmed = false
	s.chargeAll(now)
	d.budget = min(d.budget+d.totBudget(), d.totBudget())
	next := due + CapPeriod
	if next <= now {
		next = now + CapPeriod // the timer ran late: no burst of replenishments
	}
	d.armReplenishLocked(next)
	s.unparkLocked(d, now)
	s.unlock()
}

// unparkLocked gives CPUs to d's queued vCPUs if it may run again.
func (s *Scheduler) unparkLocked(d *Domain, now int64) {
	if d.parked() {
		return
	}
	for _, v := range d.vcpus {
		if v.state == vcpuQueued {
			s.placeLocked(v, now, true)
		}
	}
}

// Remove takes the domain and its vCPUs out of the scheduler: each must
// be asleep (Sleep) and never Enter again. Its budget timer stops.
func (d *Domain) Remove() {
	s := d.s
	s.mu.Lock()
	d.stopReplenishLocked()
	d.removed = true
	for _, v := range d.vcpus {
		s.sleepLocked(v, s.clock.Now())
		v.slice.stop()
		s.vcpus = deleteVCPU(s.vcpus, v)
	}
	for i, x := range s.domains {
		if x == d {
			s.domains = append(s.domains[:i], s.domains[i+1:]...)
			break
		}
	}
	s.updateMaxWeight()
	s.unlock()
}

func deleteVCPU(l []*VCPU, v *VCPU) []*VCPU {
	for i, x := range l {
		if x == v {
			return append(l[:i], l[i+1:]...)
		}
	}
	return l
}

// VCPU is a vCPU as the scheduler sees it. Its own goroutine calls Enter,
// Ran, ShouldYield, Yield and Sleep; any goroutine Wake and SetAffinity.
type VCPU struct {
	s   *Scheduler
	dom *Domain
	id  int
	// grant is unparked (under mu) when the vCPU is given a CPU; its
	// goroutine parks on it in Enter. Its own, immutable.
	grant Parker

	// Guarded by s.mu.
	state    int
	cpu      int // the CPU it holds, or last held (-1: none yet): Xen's v->processor
	credit   int64
	affinity CPUMask
	seq      uint64 // queue order
	// lastCharge is when its run time was last charged; runStart when
	// it got its CPU; sliceEnd when its slice ends.
	lastCharge, runStart, sliceEnd int64
	// tickled: a waiter beat it, or its affinity or budget changed: it
	// reconsiders at its next Ran or ShouldYield.
	tickled bool
	// yieldOp: SCHEDOP_yield asked it to give way to any waiter.
	yieldOp bool
	// sliceArmed: the slice timer is armed, for sliceEnd. slice is the
	// timer marking the slice's end (sliceExpired), made by NewVCPU;
	// lazy: a release disarms it without stopping it, and a new slice
	// that ends later leaves it set for the earlier end, when its
	// callback sets it again.
	sliceArmed bool
	slice      lazyTimer

	// Read without s.mu by the vCPU's own goroutine (fast paths), written
	// under it. holding: it holds CPU heldCPU; yield: it must give the
	// CPU up at its next Enter; keep: 1 + heldCPU while it holds it and
	// need not yield, else 0 (one load for the run loop's fast path);
	// check: it must reconsider (tickled, or its slice expired).
	holding atomic.Bool
	heldCPU atomic.Int32
	yield   atomic.Bool
	keep    atomic.Int32
	check   atomic.Bool
}

// mustYield makes v give its CPU up at its next Enter. Caller holds mu.
func (v *VCPU) mustYield() {
	v.yield.Store(true)
	v.keep.Store(0)
}

// NewVCPU adds vCPU id of the domain, asleep, with CreditInit credit and
// every CPU in its affinity. Its goroutine waits for a CPU in Enter on
// park (nil: a NewChanParker), which is its alone.
func (d *Domain) NewVCPU(id int, park Parker) *VCPU {
	s := d.s
	if park == nil {
		park = NewChanParker()
	}
	v := &VCPU{s: s, dom: d, id: id, grant: park, cpu: -1, credit: CreditInit, affinity: AllCPUs(s.ncpu)}
	v.slice.t = s.timers.NewTimer(v.sliceExpired)
	s.mu.Lock()
	d.vcpus = append(d.vcpus, v)
	s.vcpus = append(s.vcpus, v)
	s.mu.Unlock()
	return v
}

// Affinity returns the vCPU's hard affinity.
func (v *VCPU) Affinity() CPUMask {
	v.s.mu.Lock()
	defer v.s.mu.Unlock()
	return v.affinity
}

// Pinned reports whether the vCPU's hard affinity is one CPU (Xen's
// is_hwdom_pinned_vcpu test, for the hardware domain's get_physid).
func (v *VCPU) Pinned() bool { return v.Affinity().Weight() == 1 }

// Credit returns the vCPU's credit, its run time so far charged.
func (v *VCPU) Credit() int64 {
	s := v.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if v.state == vcpuRunning {
		s.charge(v, s.clock.Now())
	}
	return v.credit
}

// CPU returns the CPU the vCPU holds, or last held (-1: none yet).
func (v *VCPU) CPU() int {
	v.s.mu.Lock()
	defer v.s.mu.Unlock()
	return v.cpu
}

// SetAffinity sets the vCPU's hard affinity (CPUs beyond the machine's
// are dropped). A running vCPU whose CPU left it is tickled to move; a
// queued one takes an idle CPU of the new set if there is one.
func (v *VCPU) SetAffinity(m CPUMask) error {
	s := v.s
	m &= AllCPUs(s.ncpu)
	if m == 0 {
		return ErrAffinity
	}
	s.mu.Lock()
	v.affinity = m
	now := s.clock.Now()
	switch v.state {
	case vcpuRunning:
		if !m.Has(v.cpu) {
			s.tickleLocked(v)
		}
	case vcpuQueued:
		s.placeLocked(v, now, true)
	}
	s.unlock()
	return nil
}

// Enter returns the CPU the vCPU may run on, blocking until it holds one:
// at once if it holds one and need not give it up; a vCPU asked to yield
// (Ran or ShouldYield said so, or Yield) is queued again and the CPU goes
// to the best waiter (maybe itself); an asleep vCPU wakes (Wake). waited
// reports whether it did not simply keep its CPU (the caller's periodic
// timer catches up then). The vCPU's goroutine only.
func (v *VCPU) Enter() (cpu int, waited bool) {
	if v.holding.Load() && !v.yield.Load() {
		return int(v.heldCPU.Load()), false
	}
	s := v.s
	s.mu.Lock()
	waited = s.enterLocked(v, s.clock.Now())
	if v.state != vcpuRunning {
		// A token left by an earlier grant is stale: no grant can come
		// while mu is held, and the state is rechecked under it.
		v.grant.Clear()
	}
	for v.state != vcpuRunning {
		s.unlock()
		v.grant.Park()
		s.mu.Lock()
	}
	cpu = v.cpu
	s.unlock()
	return cpu, waited
}

// TryEnter is Enter without its wait: ok reports whether the vCPU holds
// a CPU afterwards, cpu and waited being then what Enter would have
// returned. If not, the vCPU waits queued for a CPU, which the Enter to
// follow waits for: the caller may prepare for the wait in between (hv
// unbinds the vCPU's thread from its CPU), which a vCPU waking to an
// idle CPU, the common case, does not need. The vCPU's goroutine only.
func (v *VCPU) TryEnter() (cpu int, waited, ok bool) {
	if v.holding.Load() && !v.yield.Load() {
		return int(v.heldCPU.Load()), false, true
	}
	s := v.s
	s.mu.Lock()
	waited = s.enterLocked(v, s.clock.Now())
	cpu, ok = v.cpu, v.state == vcpuRunning
	s.unlock()
	return cpu, waited, ok
}

// enterLocked is Enter's decision: a running vCPU keeps its CPU unless it
// must yield, when it is queued again and its CPU dispatched; an asleep
// one wakes. It reports whether the vCPU did not simply keep its CPU.
func (s *Scheduler) enterLocked(v *VCPU, now int64) bool {
	switch v.state {
	case vcpuRunning:
		if !v.yield.Load() {
			return false
		}
		c := v.cpu
		s.charge(v, now)
		s.releaseLocked(v)
		s.enqueueLocked(v)
		s.dispatchLocked(c, now)
		if v.state == vcpuQueued {
			s.placeLocked(v, now, false)
		}
	case vcpuAsleep:
		s.wakeLocked(v, now)
	}
	return true
}

// Wake makes an asleep vCPU runnable: it takes an idle CPU of its
// affinity, else waits queued, tickling the runner it beats by most. A
// vCPU already runnable is left alone. Its goroutine still calls Enter to
// run. Any goroutine.
func (v *VCPU) Wake() {
	s := v.s
	s.mu.Lock()
	if v.state == vcpuAsleep {
		s.wakeLocked(v, s.clock.Now())
	}
	s.unlock()
}

// Sleep gives up the vCPU's CPU, or its place in the queue: it blocks,
// polls, goes down or stops. The CPU goes to the best waiter. The vCPU's
// goroutine (or, for a vCPU that never runs again, whoever removes it).
func (v *VCPU) Sleep() {
	s := v.s
	s.mu.Lock()
	s.sleepLocked(v, s.clock.Now())
	s.unlock()
}

// Ran charges the vCPU's run time after an exit from the guest (the
// timer tick's exit is the slice's preemption point) and reports whether
// it must give its CPU up at its next Enter. The vCPU's goroutine only.
func (v *VCPU) Ran() bool {
	s := v.s
	s.mu.Lock()
	if v.state == vcpuRunning {
		now := s.clock.Now()
		s.charge(v, now)
		s.decideLocked(v, now)
	}
	s.unlock()
	return v.yield.Load()
}

// NeedsCheck reports whether the vCPU's run loop must ask the scheduler
// (Ran) at its CPU's next tick: it was told to yield, or its slice is
// over or it was tickled and the decision is still to be made, or its
// domain is capped (the budget its other vCPUs burn is seen only at the
// ticks). When it reports false, every later reason to decide comes with
// a tickle of the vCPU's CPU (the slice timer, a waiter that beats it, a
// new affinity), so the CPU's periodic ticks may stay in the guest. The
// vCPU's goroutine.
func (v *VCPU) NeedsCheck() bool {
	return v.yield.Load() || v.check.Load() || v.dom.capped.Load()
}

// ShouldYield reports whether the vCPU's slice is over and a waiter is
// to take its CPU (or its budget or affinity says it must go): a long
// hypercall asks it between items, to preempt itself through its
// continuation. Cheap unless the slice expired or the vCPU was tickled.
// The vCPU's goroutine only.
func (v *VCPU) ShouldYield() bool {
	if v.yield.Load() {
		return true
	}
	if !v.check.Load() {
		return false
	}
	return v.Ran()
}

// Yield is SCHEDOP_yield: the vCPU gives its CPU to the best waiter its
// CPU may run, whatever their credit, at its next Enter (it keeps the CPU
// when none waits). The vCPU's goroutine only.
func (v *VCPU) Yield() {
	s := v.s
	s.mu.Lock()
	if v.state == vcpuRunning {
		now := s.clock.Now()
		s.charge(v, now)
		if s.pickLocked(v.cpu) != nil {
			v.mustYield()
		}
	}
	s.unlock()
}

// charge burns the run time since v's last charge from its credit (at
// max weight / weight) and from its domain's budget. Caller holds mu; v
// is running.
func (s *Scheduler) charge(v *VCPU, now int64) {
	delta := now - v.lastCharge
	if delta <= 0 {
		return
	}
	v.lastCharge = now
	v.credit -= delta * s.maxWeight / v.dom.weight
	if v.dom.cap != 0 {
		v.dom.budget -= delta
	}
}

// chargeAll charges every running vCPU (before rates or credits change).
func (s *Scheduler) chargeAll(now int64) {
	for _, v := range s.cpus {
		if v != nil {
			s.charge(v, now)
		}
	}
}

// decideLocked is what a running vCPU's CPU decides at a tick (or when
// asked, at ShouldYield): it must go when out of budget or off its
// affinity; at its slice's end or when tickled, past the rate limit, it
// gives way to a waiter of more credit, else runs a new slice (after a
// reset if its credit is spent).
func (s *Scheduler) decideLocked(v *VCPU, now int64) {
	if v.yield.Load() {
		return
	}
	if v.dom.parked() || !v.affinity.Has(v.cpu) {
		v.mustYield()
		return
	}
	if !v.tickled && now < v.sliceEnd {
		return
	}
	if now-v.runStart < Ratelimit {
		return // check stays set: the next Ran decides
	}
	if w := s.pickLocked(v.cpu); w != nil && (w.credit > v.credit || v.yieldOp) {
		v.mustYield()
		return
	}
	v.tickled = false
	v.check.Store(false)
	if v.credit <= 0 {
		s.resetLocked(v, now)
	}
	s.setSliceLocked(v, now)
}

// pickLocked returns the queued vCPU that CPU cpu would run next: of its
// affinity, not parked, most credit, first queued on a tie; nil if none.
func (s *Scheduler) pickLocked(cpu int) *VCPU {
	var best *VCPU
	for _, w := range s.queue {
		if !w.affinity.Has(cpu) || w.dom.parked() {
			continue
		}
		if best == nil || w.credit > best.credit || (w.credit == best.credit && w.seq < best.seq) {
			best = w
		}
	}
	return best
}

// dispatchLocked gives the free CPU cpu to the vCPU pickLocked chooses,
// or leaves it idle.
func (s *Scheduler) dispatchLocked(cpu int, now int64) {
	if s.cpus[cpu] != nil {
		return
	}
	if w := s.pickLocked(cpu); w != nil {
		s.assignLocked(w, cpu, now)
	}
}

// assignLocked gives CPU cpu (free) to queued vCPU v: a reset first if
// its credit is spent, then its slice; its goroutine is signalled.
func (s *Scheduler) assignLocked(v *VCPU, cpu int, now int64) {
	s.queue = deleteVCPU(s.queue, v)
	s.cpus[cpu] = v
	v.state = vcpuRunning
	v.cpu = cpu
	v.lastCharge, v.runStart = now, now
	v.tickled, v.yieldOp = false, false
	v.yield.Store(false)
	v.check.Store(false)
	v.heldCPU.Store(int32(cpu))
	v.holding.Store(true)
	v.keep.Store(int32(cpu) + 1)
	if v.credit <= 0 {
		s.resetLocked(v, now)
	}
	s.setSliceLocked(v, now)
	v.grant.Unpark()
}

// releaseLocked takes running v off its CPU (the caller queues it or puts
// it to sleep, and dispatches the CPU).
func (s *Scheduler) releaseLocked(v *VCPU) {
	s.cpus[v.cpu] = nil
	v.holding.Store(false)
	v.keep.Store(0)
	v.yield.Store(false)
	v.check.Store(false)
	v.tickled, v.yieldOp = false, false
	v.sliceArmed = false
}

func (s *Scheduler) enqueueLocked(v *VCPU) {
	v.state = vcpuQueued
	s.seq++
	v.seq = s.seq
	s.queue = append(s.queue, v)
}

func (s *Scheduler) sleepLocked(v *VCPU, now int64) {
	switch v.state {
	case vcpuRunning:
		c := v.cpu
		s.charge(v, now)
		s.releaseLocked(v)
		v.state = vcpuAsleep
		s.dispatchLocked(c, now)
	case vcpuQueued:
		s.queue = deleteVCPU(s.queue, v)
		v.state = vcpuAsleep
	}
}

func (s *Scheduler) wakeLocked(v *VCPU, now int64) {
	s.enqueueLocked(v)
	s.placeLocked(v, now, true)
}

// placeLocked gives queued v an idle CPU of its affinity, its last one
// first; failing that, with tickle, it tickles the runner of its affinity
// it beats by most credit (credit2's runq_tickle), if any.
func (s *Scheduler) placeLocked(v *VCPU, now int64, tickle bool) {
	if v.dom.parked() {
		return
	}
	if v.affinity.Has(v.cpu) && s.cpus[v.cpu] == nil {
		s.assignLocked(v, v.cpu, now)
		return
	}
	for c := range s.cpus {
		if v.affinity.Has(c) && s.cpus[c] == nil {
			s.assignLocked(v, c, now)
			return
		}
	}
	s.waitingLocked(v, now)
	if !tickle {
		return
	}
	best, bestScore := -1, int64(0)
	for c, cur := range s.cpus {
		if !v.affinity.Has(c) || cur.tickled || cur.yield.Load() {
			continue
		}
		s.charge(cur, now)
		score := v.credit - cur.credit
		if c != v.cpu {
			score -= MigrateResist
		}
		if score > bestScore {
			best, bestScore = c, score
		}
	}
	if best >= 0 {
		s.tickleLocked(s.cpus[best])
	}
}

// tickleLocked makes running v decide at once (check; tickled, so that
// it is not tickled twice) and queues its CPU's tickle for after mu is
// released. Caller holds mu.
func (s *Scheduler) tickleLocked(v *VCPU) {
	v.tickled = true
	v.check.Store(true)
	s.tickles = append(s.tickles, v.cpu)
}

// resetLocked is credit2's reset_credit, when snext is to run with credit
// <= 0: every vCPU (running ones charged first) gets CreditInit more,
// times 1 + how many CreditInit snext is below -CreditInit, clipped to
// CreditInit + CarryoverMax.
func (s *Scheduler) resetLocked(snext *VCPU, now int64) {
	s.chargeAll(now)
	m := int64(1)
	if snext.credit < -CreditInit {
		m += -snext.credit / CreditInit
	}
	for _, v := range s.vcpus {
		v.credit = min(v.credit+m*CreditInit, CreditInit+CarryoverMax)
	}
	s.resets++
}

// setSliceLocked sets running v's slice (credit2's csched2_runtime): the
// time its credit lead over the best waiter for its CPU lasts at its
// burn rate (its credit alone if none waits), within [MinTimer,
// MaxTimer], at most its domain's budget; a timer marks its end while a
// vCPU waits that its CPU could run, or its domain is capped. A slice
// that no waiter could end runs untimed: at its end there is nothing to
// decide (Xen's timer would fire to find that out on the vCPU's CPU;
// here it is a Go timer, a goroutine and an IPI that stop a busy vCPU
// for nothing), and the run loop's Ran at its quiet time's end
// (hv.quietMax) charges it and resets a spent credit as that decision
// would have. A vCPU that comes to wait arms it (waitingLocked).
func (s *Scheduler) setSliceLocked(v *VCPU, now int64) {
	lead := v.credit
	w := s.pickLocked(v.cpu)
	if w != nil {
		lead -= w.credit
	}
	t := int64(MinTimer)
	if lead > 0 {
		t = lead * v.dom.weight / s.maxWeight
	}
	t = min(max(t, MinTimer), MaxTimer)
	if v.dom.cap != 0 && v.dom.budget > 0 {
		t = min(t, v.dom.budget)
	}
	v.sliceEnd = now + t
	v.sliceArmed = w != nil || v.dom.cap != 0
	if v.sliceArmed {
		v.slice.arm(v.sliceEnd)
	}
}

// waitingLocked is placeLocked's for queued v that got no CPU: the
// runners of its affinity whose slices run untimed (setSliceLocked) get
// their slice timers armed, and one whose slice is already over is
// tickled to decide now, as its timer would have (sliceExpired; tickled
// too, so that placeLocked does not tickle it twice).
func (s *Scheduler) waitingLocked(v *VCPU, now int64) {
	for c, cur := range s.cpus {
		if cur == nil || !v.affinity.Has(c) || cur.sliceArmed || cur.check.Load() {
			continue
		}
		if now >= cur.sliceEnd {
			s.tickleLocked(cur)
			continue
		}
		cur.sliceArmed = true
		cur.slice.arm(cur.sliceEnd)
	}
}

// sliceExpired is the slice timer's callback: it marks v's slice over if
// the timer is armed and the slice's end has come, and tickles v's CPU
// so that its run loop decides (Ran) now, as Xen's slice timer raises
// the schedule softirq there: a running vCPU's CPU need not take its
// periodic tick out of the guest (NeedsCheck). It sets the timer again
// if the slice ends later.
func (v *VCPU) sliceExpired() {
	s := v.s
	s.mu.Lock()
	now := s.clock.Now()
	v.slice.fired(now)
	if v.sliceArmed && v.state == vcpuRunning {
		if now >= v.sliceEnd {
			v.sliceArmed = false
			v.check.Store(true)
			s.tickles = append(s.tickles, v.cpu)
		} else {
			v.slice.arm(v.sliceEnd)
		}
	}
	s.unlock()
}

// checkLocked verifies the scheduler's invariants (tests): no CPU held by
// two vCPUs, no vCPU on two CPUs, every holder in its affinity, queued
// vCPUs exactly in the queue, and no idle CPU while a queued unparked
// vCPU may run on it (no lost wake-up).
func (s *Scheduler) checkLocked() error {
	seen := map[*VCPU]int{}
	for c, v := range s.cpus {
		if v == nil {
			if w := s.pickLocked(c); w != nil {
				return fmt.Errorf("CPU %d idles while vCPU %d waits for it", c, w.id)
			}
			continue
		}
		if _, dup := seen[v]; dup {
			return fmt.Errorf("vCPU %d holds two CPUs", v.id)
		}
		seen[v] = c
		if v.state != vcpuRunning || v.cpu != c || !v.holding.Load() || int(v.heldCPU.Load()) != c {
			return fmt.Errorf("CPU %d's vCPU %d is not running there", c, v.id)
		}
		if k, ok := v.Kept(); ok == v.yield.Load() || (ok && k != c) {
			return fmt.Errorf("vCPU %d on CPU %d: Enter's fast path says %d %v, yield %v", v.id, c, k, ok, v.yield.Load())
		}
		if !v.affinity.Has(c) && !v.yield.Load() && !v.tickled {
			return fmt.Errorf("vCPU %d runs on CPU %d outside its affinity %#x", v.id, c, v.affinity)
		}
	}
	inQueue := map[*VCPU]bool{}
	for _, v := range s.queue {
		if inQueue[v] || v.state != vcpuQueued {
			return fmt.Errorf("vCPU %d is in the queue twice or is not queued", v.id)
		}
		inQueue[v] = true
	}
	for _, v := range s.vcpus {
		switch v.state {
		case vcpuRunning:
			if _, ok := seen[v]; !ok {
				return fmt.Errorf("running vCPU %d holds no CPU", v.id)
			}
		case vcpuQueued, vcpuAsleep:
			if _, ok := v.Kept(); ok || v.holding.Load() {
				return fmt.Errorf("vCPU %d holds no CPU but Enter's fast path would keep one", v.id)
			}
		}
		switch v.state {
		case vcpuQueued:
			if !inQueue[v] {
				return fmt.Errorf("queued vCPU %d is not in the queue", v.id)
			}
		}
	}
	return nil
}

// Holds reports whether the vCPU holds a CPU it need not give up: Enter
// would return at once. The vCPU's goroutine.
func (v *VCPU) Holds() bool { return v.holding.Load() && !v.yield.Load() }

// Kept is Enter's fast path alone, small enough to inline into the run
// loop: the CPU the vCPU holds and need not give up, ok false when Enter
// has to decide. The vCPU's goroutine.
func (v *VCPU) Kept() (cpu int, ok bool) {
	k := v.keep.Load()
	return int(k) - 1, k != 0
}
