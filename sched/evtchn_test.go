package sched_test

// End-to-end tests of the waiter over the real 2-level event channels and
// a fake machine memory: what a guest sees in its shared_info page.

import (
	"testing"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/evtchn"
	"github.com/gohv/gohv/mm"
	"github.com/gohv/gohv/mm/mmtest"
	"github.com/gohv/gohv/sched"
	"github.com/gohv/gohv/sched/schedtest"
)

var _ sched.Events = (*evtchn.Table)(nil)

// waiters is the Notifier of the test domain: a kick wakes the vCPU's
// waiter, as hv's Notifier does.
type waiters []*sched.Waiter

func (ws waiters) Kick(vcpu int) { ws[vcpu].Wake() }

type pvDomain struct {
	mem   *mmtest.Memory
	tab   *evtchn.Table
	ws    waiters
	clock *schedtest.ManualClock
}

const sharedInfo = mm.Maddr(mm.PageSize) // MFN 1

func newDomain(t *testing.T, vcpus int) *pvDomain {
	t.Helper()
	d := &pvDomain{mem: mmtest.NewMemory(2), ws: make(waiters, vcpus), clock: schedtest.NewManualClock(1_000_000_000)}
	d.tab = evtchn.New(evtchn.Config{Dom: 1, VCPUs: vcpus, Memory: d.mem, SharedInfo: sharedInfo, Notifier: d.ws})
	if !d.tab.InitSharedInfo() {
		t.Fatal("InitSharedInfo")
	}
	for v := range d.ws {
		d.ws[v] = sched.NewWaiter(v, d.tab, d.clock, d.clock, nil)
		d.ws[v].StopPeriodic()
	}
	return d
}

func (d *pvDomain) word(t *testing.T, off uint64) uint64 {
	t.Helper()
	v, ok := d.mem.Load64(sharedInfo + mm.Maddr(off))
	if !ok {
		t.Fatal("load")
	}
	return v
}

// Offsets in shared_info (public/xen.h).
const (
	offPending = 2048
	offMask    = 2560
)

// TestTimerWakesBlock: set_timer_op(now+1ms), then SCHEDOP_block wakes
// with VIRQ_TIMER pending and the upcall raised.
func TestTimerWakesBlock(t *testing.T) {
	d := newDomain(t, 1)
	w := d.ws[0]
	port, err := d.tab.BindVIRQ(abi.VIRQ_TIMER, 0)
	if err != 0 {
		t.Fatal(err)
	}
	w.SetTimerOp(d.clock.Now() + 1_000_000)
	ch := async(w.Block)
	stillBlocked(t, "Block", ch)
	if got := d.word(t, 0); got != 0 {
		t.Fatalf("vcpu_info word 0 while blocked: %#x (mask should be clear)", got)
	}
	d.clock.Advance(1_000_000)
	returns(t, "Block", ch, 0)
	if got := d.word(t, offPending); got != 1<<port {
		t.Errorf("evtchn_pending[0] %#x, want %#x", got, uint64(1)<<port)
	}
	if got := d.word(t, 8); got != 1 {
		t.Errorf("evtchn_pending_sel %#x", got)
	}
	if got := d.word(t, 0); got != 1 {
		t.Errorf("upcall word %#x, want pending 1 mask 0", got)
	}
}

// TestBlockWithPendingEvent: an upcall already pending while masked; block
// unmasks and returns at once.
func TestBlockWithPendingEvent(t *testing.T) {
	d := newDomain(t, 1)
	p, _ := d.tab.BindIPI(0)
	d.tab.Send(p)
	if got := d.word(t, 0); got != 0x0101 {
		t.Fatalf("upcall word %#x, want pending and masked", got)
	}
	if e := d.ws[0].Block(); e != 0 {
		t.Fatal(e)
	}
	if got := d.word(t, 0); got != 0x0001 {
		t.Errorf("upcall word after block %#x", got)
	}
}

// TestPollMaskedPortWakes: vCPU 0 polls its masked spinlock-kick port;
// vCPU 1 sends on it; the poll returns with the port pending and no
// upcall (public/sched.h SCHEDOP_poll: masked ports still wake a poller).
func TestPollMaskedPortWakes(t *testing.T) {
	d := newDomain(t, 2)
	p, _ := d.tab.BindIPI(0)
	d.mem.Or64(sharedInfo+offMask, 1<<p)
	ch := async(func() abi.Errno { return d.ws[0].Poll([]uint32{uint32(p)}, 0) })
	stillBlocked(t, "Poll", ch)
	if e := d.tab.Send(p); e != 0 {
		t.Fatal(e)
	}
	returns(t, "Poll", ch, 0)
	if got := d.word(t, offPending); got != 1<<p {
		t.Errorf("pending %#x", got)
	}
	if got := d.word(t, 0); got != 0x0100 {
		t.Errorf("upcall word %#x, want no upcall, still masked", got)
	}
	// A second poll sees the port pending and returns at once.
	if e := d.ws[0].Poll([]uint32{uint32(p)}, 0); e != 0 {
		t.Fatal(e)
	}
	// Invalid ports are refused.
	if e := d.ws[0].Poll([]uint32{0}, 0); e != abi.EINVAL {
		t.Errorf("poll port 0: %v", e)
	}
}

// TestPollTimeoutNoEvent: a poll with a timeout and no event ends at the
// timeout.
func TestPollTimeoutNoEvent(t *testing.T) {
	d := newDomain(t, 1)
	p, _ := d.tab.BindIPI(0)
	deadline := d.clock.Now() + 3_000_000
	ch := async(func() abi.Errno { return d.ws[0].Poll([]uint32{uint32(p)}, deadline) })
	stillBlocked(t, "Poll", ch)
	d.clock.Set(deadline)
	returns(t, "Poll", ch, 0)
}
