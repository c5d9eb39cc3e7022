package evtchn

import (
	"sync"
	"testing"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/mm"
)

// TestTwoDomains: alloc_unbound in d1 for d2, bind_interdomain from d2,
// then sends both ways, checking the exact words of both shared_info pages
// and the kicks.
func TestTwoDomains(t *testing.T) {
	w := newWorld(t, domOpt{}, domOpt{vcpus: 2}, domOpt{vcpus: 2})
	d1, d2 := w.doms[1], w.doms[2]
	before0 := snapshot(t, w, 0)

	// Fill some ports so the pair lands in word 1 on one side.
	for i := 0; i < 70; i++ {
		d1.BindIPI(0)
	}
	p1, err := d1.AllocUnbound(abi.DOMID_SELF, 2)
	if err != 0 || p1 != 71 {
		t.Fatalf("alloc_unbound: %d %v", p1, err)
	}
	p2, err := d2.BindInterdomain(1, p1)
	if err != 0 || p2 != 1 {
		t.Fatalf("bind_interdomain: %d %v", p2, err)
	}
	// bind_interdomain marks d2's new port pending and raises vCPU 0.
	checkWords(t, w, 2, map[mm.Maddr]uint64{
		d2.shared + offPending:                     1 << 1,
		d2.shared + 0*vcpuInfoSize + offPendingSel: 1 << 0,
		d2.shared + 0*vcpuInfoSize:                 0x0101, // upcall_pending 1, mask 1
		d2.shared + 1*vcpuInfoSize:                 0x0100,
	})
	if k := w.rec[2].take(); !equalInts(k, []int{0}) {
		t.Errorf("d2 kicks %v", k)
	}
	// Guest d2 takes the event; guest d1 moves p1 to vCPU 1.
	w.ackPort(2, p2)
	w.clearUpcall(2, 0)
	wantErr(t, "bind_vcpu", d1.BindVCPU(p1, 1), 0)

	// d2 -> d1: port 71 is bit 7 of word 1, selector bit 1, on vCPU 1.
	wantErr(t, "send d2", d2.Send(p2), 0)
	checkWords(t, w, 1, map[mm.Maddr]uint64{
		d1.shared + offPending + 8:                 1 << 7,
		d1.shared + 1*vcpuInfoSize + offPendingSel: 1 << 1,
		d1.shared + 1*vcpuInfoSize:                 0x0101,
		d1.shared + 0*vcpuInfoSize + offPendingSel: 0,
		d1.shared + 0*vcpuInfoSize:                 0x0100,
	})
	if k := w.rec[1].take(); !equalInts(k, []int{1}) {
		t.Errorf("d1 kicks %v, want [1]", k)
	}
	if k := w.rec[2].take(); len(k) != 0 {
		t.Errorf("d2 kicked by its own send: %v", k)
	}
	// A second send while still pending changes nothing and kicks no one.
	wantErr(t, "send d2 again", d2.Send(p2), 0)
	if k := w.rec[1].take(); len(k) != 0 {
		t.Errorf("second send kicked %v", k)
	}

	// d1 -> d2 with d2's port masked: pending only, no selector, no kick.
	w.setMask(t, 2, p2, true)
	wantErr(t, "send d1", d1.Send(p1), 0)
	checkWords(t, w, 2, map[mm.Maddr]uint64{
		d2.shared + offPending:                     1 << 1,
		d2.shared + 0*vcpuInfoSize + offPendingSel: 0,
		d2.shared + 0*vcpuInfoSize:                 0x0100,
	})
	if k := w.rec[2].take(); len(k) != 0 {
		t.Errorf("masked send kicked %v", k)
	}
	// Unmask delivers it.
	wantErr(t, "unmask d2", d2.Unmask(p2), 0)
	checkWords(t, w, 2, map[mm.Maddr]uint64{
		d2.shared + offPending:                     1 << 1,
		d2.shared + offMask:                        0,
		d2.shared + 0*vcpuInfoSize + offPendingSel: 1 << 0,
		d2.shared + 0*vcpuInfoSize:                 0x0101,
	})
	if k := w.rec[2].take(); !equalInts(k, []int{0}) {
		t.Errorf("unmask kicks %v", k)
	}

	// Domain 0 took no part: its page is untouched.
	if after := snapshot(t, w, 0); after != before0 {
		t.Error("domain 0's shared_info changed")
	}
	if k := w.rec[0].take(); len(k) != 0 {
		t.Errorf("d0 kicked: %v", k)
	}
}

// TestConcurrentSendClose runs sends in both directions against closes and
// re-binds, under the race detector when enabled: no deadlock, no panic,
// only Xen errnos.
func TestConcurrentSendClose(t *testing.T) {
	w := newWorld(t, domOpt{}, domOpt{})
	d0, d1 := w.doms[0], w.doms[1]
	p0, _ := d0.AllocUnbound(abi.DOMID_SELF, 1)
	p1, _ := d1.BindInterdomain(0, p0)
	var wg sync.WaitGroup
	check := func(e abi.Errno) {
		if e != 0 && e != abi.EINVAL && e != abi.ENOSPC {
			t.Errorf("unexpected errno %v", e)
		}
	}
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				switch g {
				case 0:
					check(d0.Send(p0))
				case 1:
					check(d1.Send(p1))
				case 2:
					check(d1.Close(p1))
					_, e := d1.BindInterdomain(0, p0)
					check(e)
				case 3:
					check(d0.Close(p0))
					_, e := d0.AllocUnbound(abi.DOMID_SELF, 1)
					check(e)
				}
			}
		}(g)
	}
	wg.Wait()
}

func TestVIRQDelivery(t *testing.T) {
	w := newWorld(t, domOpt{vcpus: 2}, domOpt{})
	reg := w.reg
	d0 := w.doms[0]
	t0, _ := d0.BindVIRQ(abi.VIRQ_TIMER, 0)
	t1, _ := d0.BindVIRQ(abi.VIRQ_TIMER, 1)
	cons, _ := d0.BindVIRQ(abi.VIRQ_CONSOLE, 0)

	d0.RaiseVIRQ(1, abi.VIRQ_TIMER)
	if w.pending(t, 0, t0) || !w.pending(t, 0, t1) || w.sel(t, 0, 1) != selectorBit(t1) {
		t.Errorf("timer v1: t0 %v t1 %v", w.pending(t, 0, t0), w.pending(t, 0, t1))
	}
	if k := w.rec[0].take(); !equalInts(k, []int{1}) {
		t.Errorf("kicks %v", k)
	}
	// Unbound VIRQs and bad arguments are dropped.
	d0.RaiseVIRQ(0, abi.VIRQ_DEBUG)
	d0.RaiseVIRQ(5, abi.VIRQ_TIMER)
	d0.RaiseVIRQ(0, abi.NR_VIRQS)
	w.doms[1].RaiseVIRQ(0, abi.VIRQ_TIMER)
	if k := w.rec[0].take(); len(k) != 0 {
		t.Errorf("dropped VIRQs kicked %v", k)
	}

	// A global VIRQ follows bind_vcpu, both directly and via the registry.
	w.clearUpcall(0, 1)
	wantErr(t, "bind_vcpu console", d0.BindVCPU(cons, 1), 0)
	reg.SendGlobalVIRQ(abi.VIRQ_CONSOLE)
	if !w.pending(t, 0, cons) || w.sel(t, 0, 1) != selectorBit(cons) {
		t.Errorf("console: pending %v sel %#x", w.pending(t, 0, cons), w.sel(t, 0, 1))
	}
	if k := w.rec[0].take(); !equalInts(k, []int{1}) {
		t.Errorf("console kicks %v", k)
	}
	// RaiseVIRQ with a global VIRQ goes the same way.
	w.ackPort(0, cons)
	w.clearUpcall(0, 1)
	d0.RaiseVIRQ(0, abi.VIRQ_CONSOLE)
	if !w.pending(t, 0, cons) {
		t.Error("RaiseVIRQ(console) not delivered")
	}
	// Routed to domain 1, which has not bound it: dropped.
	wantErr(t, "set handler", reg.SetGlobalVIRQHandler(1, abi.VIRQ_DOM_EXC), 0)
	wantErr(t, "set handler per-vcpu", reg.SetGlobalVIRQHandler(1, abi.VIRQ_TIMER), abi.EINVAL)
	wantErr(t, "set handler no dom", reg.SetGlobalVIRQHandler(9, abi.VIRQ_DOM_EXC), abi.ESRCH)
	exc, _ := w.doms[1].BindVIRQ(abi.VIRQ_DOM_EXC, 0)
	reg.SendGlobalVIRQ(abi.VIRQ_DOM_EXC)
	if !w.pending(t, 1, exc) {
		t.Error("DOM_EXC not routed to d1")
	}
	reg.Remove(1)
	if reg.Lookup(1) != nil {
		t.Error("Remove left d1")
	}
}

func TestVCPUInfoRegistration(t *testing.T) {
	w := newWorld(t, domOpt{vcpus: 34})
	d := w.doms[0]
	if _, ok := d.VCPUInfo(33); ok {
		t.Fatal("vCPU 33 has a vcpu_info before registering")
	}
	if a, ok := d.VCPUInfo(31); !ok || a != d.shared+31*vcpuInfoSize {
		t.Fatalf("vCPU 31 vcpu_info %#x %v", a, ok)
	}
	p, _ := d.BindIPI(33)
	wantErr(t, "send unregistered", d.Send(p), 0)
	if !w.pending(t, 0, p) {
		t.Error("pending bit not set for vCPU without vcpu_info")
	}
	if k := w.rec[0].take(); len(k) != 0 {
		t.Errorf("kick without vcpu_info: %v", k)
	}
	w.ackPort(0, p)
	// Register vCPU 33's vcpu_info in another frame (MFN 2 offset 0x40).
	ma := mm.MFN(2).Addr() + 0x40
	wantErr(t, "misaligned", d.SetVCPUInfo(33, ma+4), abi.EINVAL)
	wantErr(t, "crosses page", d.SetVCPUInfo(33, mm.MFN(2).Addr()+mm.PageSize-32), abi.EINVAL)
	wantErr(t, "no such vcpu", d.SetVCPUInfo(34, ma), abi.ENOENT)
	wantErr(t, "register", d.SetVCPUInfo(33, ma), 0)
	d.MarkAllPending(33)
	if got := w.word(t, ma+offPendingSel); got != ^uint64(0) {
		t.Errorf("MarkAllPending selector %#x", got)
	}
	if k := w.rec[0].take(); !equalInts(k, []int{33}) {
		t.Errorf("MarkAllPending kicks %v", k)
	}
	w.mem.And64(ma+offPendingSel, 0)
	w.mem.And64(ma, 0)
	wantErr(t, "send registered", d.Send(p), 0)
	if got := w.word(t, ma+offPendingSel); got != selectorBit(p) {
		t.Errorf("selector at new vcpu_info %#x", got)
	}
	if got := w.word(t, ma); got != 1 {
		t.Errorf("upcall word at new vcpu_info %#x", got)
	}
	// EnableEvents/EventsNeedDelivery use the new address too.
	w.mem.Or64(ma, 0x100)
	if d.EventsNeedDelivery(33) {
		t.Error("masked vCPU needs delivery")
	}
	d.EnableEvents(33)
	if !d.EventsNeedDelivery(33) {
		t.Error("unmasked vCPU with upcall pending does not need delivery")
	}
}

func TestPollers(t *testing.T) {
	w := newWorld(t, domOpt{vcpus: 3})
	d := w.doms[0]
	a, _ := d.BindIPI(0)
	b, _ := d.BindIPI(0)
	w.setMask(t, 0, a, true)
	w.setMask(t, 0, b, true)
	if pending, err := d.PollPort(uint32(a)); pending || err != 0 {
		t.Errorf("PollPort a: %v %v", pending, err)
	}
	for _, p := range []uint32{0, 40, 64, 0xffffffff} {
		if _, err := d.PollPort(p); err != abi.EINVAL {
			t.Errorf("PollPort %d: %v", p, err)
		}
	}
	d.StartPoll(1) // any port
	d.StartPoll(2)
	if !d.SetPollPort(2, uint32(b)) {
		t.Fatal("SetPollPort refused")
	}
	wantErr(t, "send a", d.Send(a), 0) // masked: only vCPU 1 (any port) wakes
	if k := w.rec[0].take(); !equalInts(k, []int{1}) {
		t.Errorf("kicks after a %v, want [1]", k)
	}
	if pending, _ := d.PollPort(uint32(a)); !pending {
		t.Error("masked a not reported pending")
	}
	wantErr(t, "send b", d.Send(b), 0)
	if k := w.rec[0].take(); !equalInts(k, []int{2}) {
		t.Errorf("kicks after b %v, want [2]", k)
	}
	if d.SetPollPort(2, uint32(b)) {
		t.Error("SetPollPort after wake succeeded")
	}
	d.StopPoll(1)
	d.StopPoll(2)
	if n := d.pollers.Load(); n != 0 {
		t.Errorf("pollers %d", n)
	}
}

// snapshot copies domain d's whole shared_info page.
func snapshot(t testing.TB, w *world, d int) [mm.PageSize]byte {
	var b [mm.PageSize]byte
	if !w.mem.Read(w.doms[d].shared, b[:]) {
		t.Fatal("read shared_info")
	}
	return b
}

// checkWords checks that each listed word of domain d's memory has the
// given value, and that every evtchn_pending word not listed is zero.
func checkWords(t testing.TB, w *world, d int, want map[mm.Maddr]uint64) {
	t.Helper()
	for a, v := range want {
		if got := w.word(t, a); got != v {
			t.Errorf("d%d word %#x (offset %d) = %#x, want %#x", d, a, a.Offset(), got, v)
		}
	}
	for i := 0; i < wordsPerBitmap; i++ {
		a := w.doms[d].shared + offPending + mm.Maddr(i*8)
		if _, listed := want[a]; !listed && w.word(t, a) != 0 {
			t.Errorf("d%d pending word %d = %#x, want 0", d, i, w.word(t, a))
		}
	}
}

// TestNeedDeliveryByte: Xen reads evtchn_upcall_pending and
// evtchn_upcall_mask as whole bytes, so any nonzero value counts.
func TestNeedDeliveryByte(t *testing.T) {
	tests := []struct {
		word uint64 // first vcpu_info word: byte 0 pending, byte 1 mask
		want bool
	}{
		{0x0000, false},
		{0x0001, true},
		{0x0002, true},
		{0x0080, true},
		{0x0101, false},
		{0x0201, false},
		{0xff00ff, true}, // bytes 2..7 are padding
	}
	for _, tc := range tests {
		w := newWorld(t, domOpt{vcpus: 1})
		vi, _ := w.doms[0].VCPUInfo(0)
		w.mem.And64(vi, 0)
		w.mem.Or64(vi, tc.word)
		if got := w.doms[0].EventsNeedDelivery(0); got != tc.want {
			t.Errorf("word %#x: %v, want %v", tc.word, got, tc.want)
		}
	}
	w := newWorld(t, domOpt{vcpus: 1})
	for _, v := range []int{-1, 1} {
		if w.doms[0].EventsNeedDelivery(v) {
			t.Errorf("vCPU %d needs delivery", v)
		}
		w.doms[0].EnableEvents(v) // no-op, no panic
		w.doms[0].StartPoll(v)
		w.doms[0].StopPoll(v)
		w.doms[0].MarkAllPending(v)
		if w.doms[0].SetPollPort(v, 1) {
			t.Errorf("SetPollPort vCPU %d", v)
		}
	}
}

// TestSendAllocs: the send path (lookup, delivery, kick) allocates nothing.
func TestSendAllocs(t *testing.T) {
	w := newWorld(t, domOpt{}, domOpt{})
	w.rec[0].kicks = make([]int, 0, 1<<16)
	w.rec[1].kicks = make([]int, 0, 1<<16)
	p0, _ := w.doms[0].AllocUnbound(abi.DOMID_SELF, 1)
	p1, _ := w.doms[1].BindInterdomain(0, p0)
	ipi, _ := w.doms[0].BindIPI(1)
	allocs := testing.AllocsPerRun(1000, func() {
		w.doms[1].Send(p1)
		w.ackPort(0, p0)
		w.clearUpcall(0, 0)
		w.doms[0].Send(p0)
		w.ackPort(1, p1)
		w.doms[0].Send(ipi)
		w.ackPort(0, ipi)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per send round", allocs)
	}
}

// BenchmarkSendInterdomain measures EVTCHNOP_send between two domains,
// including delivery into the peer's shared_info.
func BenchmarkSendInterdomain(b *testing.B) {
	w := newWorld(b, domOpt{}, domOpt{})
	p0, _ := w.doms[0].AllocUnbound(abi.DOMID_SELF, 1)
	p1, _ := w.doms[1].BindInterdomain(0, p0)
	for b.Loop() {
		w.doms[1].Send(p1)
		w.ackPort(0, p0)
		w.rec[0].kicks = w.rec[0].kicks[:0]
	}
}
