package evtchn

// Hypervisor-side senders: virtual IRQs raised by gohv itself (timers,
// console input, domain state changes) and physical IRQs routed to a
// domain. They take no guest input and return nothing: an unbound VIRQ or
// PIRQ is silently dropped, as in Xen.

import "github.com/gohv/gohv/abi"

// RaiseVIRQ raises virq for vCPU vcpu (Xen's send_guest_vcpu_virq), e.g.
// VIRQ_TIMER when that vCPU's timer fires. The event goes to vcpu itself.
// A global VIRQ is passed to SendVIRQGlobal (vcpu is then ignored).
// Part of sched.Events.
func (t *Table) RaiseVIRQ(vcpu int, virq uint32) {
	if virq >= abi.NR_VIRQS {
		return
	}
	if virqIsGlobal(virq) {
		t.SendVIRQGlobal(virq)
		return
	}
	if vcpu < 0 || vcpu >= t.nvcpus {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if port := t.virqPort[vcpu][virq]; port != 0 {
		t.setPending(uint32(vcpu), port)
	}
}

// SendVIRQGlobal raises global VIRQ virq in this domain (Xen's
// send_guest_global_virq): the port bound on vCPU 0, delivered to the
// vCPU the port is currently bound to. Per-vCPU VIRQs are ignored here
// (use RaiseVIRQ).
func (t *Table) SendVIRQGlobal(virq uint32) {
	if virq >= abi.NR_VIRQS || !virqIsGlobal(virq) {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if port := t.virqPort[0][virq]; port != 0 {
		t.setPending(t.chans[port].vcpu, port)
	}
}

// SendPIRQ marks the port bound to physical IRQ pirq pending (Xen's
// send_guest_pirq). It reports whether the PIRQ is bound.
func (t *Table) SendPIRQ(pirq uint32) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	port, ok := t.pirqPort[pirq]
	if !ok {
		return false
	}
	t.setPending(t.chans[port].vcpu, port)
	return true
}
