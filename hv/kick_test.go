package hv

import (
	"slices"
	"testing"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/evtchn"
	"github.com/gohv/gohv/mm"
)

// An upcall made pending for a vCPU kicks it through the Backend unless
// it sleeps in its waiter, and Preempt says yes while the upcall is
// pending and not masked (Xen's local_events_need_delivery).
func TestKickAndPreempt(t *testing.T) {
	m, d, fm, _, _ := testGuest(t, false)
	v := d.VCPU(0)
	ev := d.Events()
	info, ok := ev.VCPUInfo(0)
	if !ok {
		t.Fatal("vCPU 0 has no vcpu_info")
	}
	setMask := func(masked bool) {
		b := []byte{0}
		if masked {
			b[0] = 1
		}
		if !m.cfg.Mem.Write(info+1, b) { // evtchn_upcall_mask
			t.Fatal("cannot write the upcall mask")
		}
	}
	clearPending := func() {
		if !m.cfg.Mem.Write(info, []byte{0}) { // evtchn_upcall_pending
			t.Fatal("cannot clear upcall_pending")
		}
	}
	port, e := ev.BindIPI(0)
	if e != 0 {
		t.Fatalf("bind_ipi: %v", e)
	}
	kicks := func() []int {
		fm.mu.Lock()
		defer fm.mu.Unlock()
		return slices.Clone(fm.kicks)
	}

	ev.EnableEvents(0)
	if v.Preempt() {
		t.Fatal("Preempt with nothing pending")
	}
	if e := ev.Send(port); e != 0 {
		t.Fatalf("send: %v", e)
	}
	if got := kicks(); !slices.Equal(got, []int{0}) {
		t.Fatalf("kicks after a send to a running vCPU: %v, want [0]", got)
	}
	if !v.Preempt() {
		t.Fatal("no Preempt with an upcall pending and unmasked")
	}
	setMask(true)
	if v.Preempt() {
		t.Fatal("Preempt with the upcall masked")
	}
	setMask(false)

	// A vCPU asleep in its waiter is only woken: no kick.
	clearPending()
	clearPortPending(t, m, d, port)
	v.waiterState(abi.RUNSTATE_blocked)
	if e := ev.Send(port); e != 0 {
		t.Fatalf("send: %v", e)
	}
	if got := kicks(); len(got) != 1 {
		t.Fatalf("kicks after a send to a sleeping vCPU: %v, want only the first", got)
	}
	v.waiterState(abi.RUNSTATE_running)
	clearPending()
	clearPortPending(t, m, d, port)
	if e := ev.Send(port); e != 0 {
		t.Fatalf("send: %v", e)
	}
	if got := kicks(); !slices.Equal(got, []int{0, 0}) {
		t.Fatalf("kicks after the vCPU woke: %v, want [0 0]", got)
	}
	if n := v.KickIPIs(); n != 2 {
		t.Fatalf("KickIPIs() = %d, want 2", n)
	}
}

// clearPortPending clears port's bit in shared_info's 2-level
// evtchn_pending array and vCPU 0's selector, as the guest does.
func clearPortPending(t *testing.T, m *Machine, d *Domain, port evtchn.Port) {
	t.Helper()
	si := mm.Maddr(d.SharedInfo().Addr())
	const pendingOff = 0x800 // shared_info.evtchn_pending (64-bit PV)
	w := make([]byte, 8)
	off := si + pendingOff + mm.Maddr(uint32(port)/64*8)
	if !m.cfg.Mem.Read(off, w) {
		t.Fatal("cannot read evtchn_pending")
	}
	w[uint32(port)%64/8] &^= 1 << (uint32(port) % 8)
	if !m.cfg.Mem.Write(off, w) {
		t.Fatal("cannot write evtchn_pending")
	}
	info, _ := d.Events().VCPUInfo(0)
	if !m.cfg.Mem.Write(info+8, make([]byte, 8)) { // evtchn_pending_sel
		t.Fatal("cannot clear the selector")
	}
}
