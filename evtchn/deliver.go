package evtchn

// 2-level delivery (Xen's event_2l.c semantics, written afresh).
//
// The guest owns evtchn_mask and clears evtchn_pending and
// evtchn_pending_sel itself; the hypervisor only sets pending bits,
// selector bits and upcall_pending, and reads the mask. Every access to
// these words goes through the atomic MachineMemory operations, because a
// running guest changes them at the same time. A word outside machine
// memory (a broken vcpu_info registration) makes the step a no-op.

import "github.com/gohv/gohv/abi"

// setPending marks port pending and notifies vCPU vcpu:
//  1. set the port's evtchn_pending bit; if it was already set, stop;
//  2. if the port is not masked and the vCPU's selector bit for the
//     port's word flips 0 -> 1, set upcall_pending, and kick the vCPU if
//     that flipped 0 -> 1 too;
//  3. wake any vCPU polling this port, masked or not.
//
// Caller holds t.mu; vcpu < t.nvcpus.
func (t *Table) setPending(vcpu uint32, port Port) {
	if t.fifo != nil {
		t.fifoSetPending(vcpu, port)
		return
	}
	if port >= NrPorts2L {
		return
	}
	pw, bit := pendingWord(t.shared, port)
	prev, ok := t.mem.Or64(pw, bit)
	if !ok || prev&bit != 0 {
		return
	}
	mw, _ := maskWord(t.shared, port)
	if mask, ok := t.mem.Load64(mw); ok && mask&bit == 0 {
		t.selectAndMark(int(vcpu), port)
	}
	t.checkPollers(port)
}

// selectAndMark sets port's selector bit for vcpu and, if it was clear,
// marks events pending for the vCPU.
func (t *Table) selectAndMark(vcpu int, port Port) {
	vi := t.vcpuInfo[vcpu].Load()
	if vi == noVCPUInfo {
		return
	}
	sel := selectorBit(port)
	if prev, ok := t.mem.Or64(mmaddr(vi)+offPendingSel, sel); ok && prev&sel == 0 {
		t.markEventsPending(vcpu)
	}
}

// markEventsPending sets vcpu's upcall_pending and kicks the vCPU if the
// flag was clear (Xen's vcpu_mark_events_pending).
func (t *Table) markEventsPending(vcpu int) {
	vi := t.vcpuInfo[vcpu].Load()
	if vi == noVCPUInfo {
		return
	}
	if prev, ok := t.mem.Or64(mmaddr(vi)+offUpcallPending, upcallPendingBit); ok && prev&upcallPendingBit == 0 {
		t.notify.Kick(vcpu)
	}
}

// clearPending clears port's pending bit (done when a port is freed, so a
// re-bound port does not start pending). Caller holds t.mu.
func (t *Table) clearPending(port Port) {
	if t.fifo != nil {
		t.fifoClearPending(port)
		return
	}
	if port >= NrPorts2L {
		return
	}
	pw, bit := pendingWord(t.shared, port)
	t.mem.And64(pw, ^bit)
}

// isPending reads port's pending bit. Caller holds t.mu.
func (t *Table) isPending(port Port) bool {
	if t.fifo != nil {
		return t.fifoIsPending(port)
	}
	return t.isPending2L(port)
}

// isPending2L reads port's bit in shared_info's evtchn_pending. Caller
// holds t.mu.
func (t *Table) isPending2L(port Port) bool {
	if port >= NrPorts2L {
		return false
	}
	pw, bit := pendingWord(t.shared, port)
	v, ok := t.mem.Load64(pw)
	return ok && v&bit != 0
}

// checkPollers wakes every vCPU polling port or polling any port (Xen's
// evtchn_check_pollers). The waker clears the poll state, so each poll is
// woken once.
func (t *Table) checkPollers(port Port) {
	if t.pollers.Load() == 0 {
		return
	}
	for v := range t.poll {
		s := t.poll[v].Load()
		if s == 0 || (s > 0 && s != int64(port)) {
			continue
		}
		if t.poll[v].CompareAndSwap(s, 0) {
			t.pollers.Add(-1)
			t.notify.Kick(v)
		}
	}
}

// MarkAllPending makes vCPU vcpu rescan every event word: selector = ~0
// and upcall_pending = 1, with a kick. Xen does this after
// VCPUOP_register_vcpu_info moves the vcpu_info; a spurious upcall is
// harmless.
func (t *Table) MarkAllPending(vcpu int) {
	if vcpu < 0 || vcpu >= t.nvcpus {
		return
	}
	vi := t.vcpuInfo[vcpu].Load()
	if vi == noVCPUInfo {
		return
	}
	t.mem.Or64(mmaddr(vi)+offPendingSel, ^uint64(0))
	t.markEventsPending(vcpu)
}

// EnableEvents clears vCPU vcpu's evtchn_upcall_mask (the PV "sti"; first
// step of SCHEDOP_block). Part of sched.Events.
func (t *Table) EnableEvents(vcpu int) {
	if vcpu < 0 || vcpu >= t.nvcpus {
		return
	}
	vi := t.vcpuInfo[vcpu].Load()
	if vi == noVCPUInfo {
		return
	}
	t.mem.And64(mmaddr(vi)+offUpcallPending, ^upcallMaskBits)
}

// EventsNeedDelivery reports whether vCPU vcpu has an upcall to take:
// evtchn_upcall_pending set and evtchn_upcall_mask clear (Xen's
// local_events_need_delivery for PV). Part of sched.Events.
func (t *Table) EventsNeedDelivery(vcpu int) bool {
	if vcpu < 0 || vcpu >= t.nvcpus {
		return false
	}
	vi := t.vcpuInfo[vcpu].Load()
	if vi == noVCPUInfo {
		return false
	}
	w, ok := t.mem.Load64(mmaddr(vi) + offUpcallPending)
	return ok && w&upcallPendingBits != 0 && w&upcallMaskBits == 0
}

// PollPort answers SCHEDOP_poll's test of one port (Xen's
// evtchn_port_poll): whether the port is pending, masked or not. A port
// that is not valid, free, or reserved gives -EINVAL. Part of
// sched.Events.
func (t *Table) PollPort(port uint32) (pending bool, err abi.Errno) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := Port(port)
	if !t.valid(p) || !t.chans[p].state.usable() {
		return false, abi.EINVAL
	}
	return t.isPending(p), 0
}

// StartPoll records that vCPU vcpu is about to sleep in SCHEDOP_poll and
// wants a kick when any port becomes pending. Call it before testing the
// ports, so no event is lost between the test and the sleep. Part of
// sched.Events.
func (t *Table) StartPoll(vcpu int) {
	if vcpu < 0 || vcpu >= t.nvcpus {
		return
	}
	if t.poll[vcpu].Swap(-1) == 0 {
		t.pollers.Add(1)
	}
}

// SetPollPort narrows vCPU vcpu's poll to one port (a poll of exactly one
// port). It reports false if the vCPU has already been woken, in which
// case the poll must end at once. Part of sched.Events.
func (t *Table) SetPollPort(vcpu int, port uint32) bool {
	if vcpu < 0 || vcpu >= t.nvcpus || port == 0 {
		return false
	}
	return t.poll[vcpu].CompareAndSwap(-1, int64(port))
}

// StopPoll ends vCPU vcpu's poll, woken or not. Part of sched.Events.
func (t *Table) StopPoll(vcpu int) {
	if vcpu < 0 || vcpu >= t.nvcpus {
		return
	}
	if t.poll[vcpu].Swap(0) != 0 {
		t.pollers.Add(-1)
	}
}
