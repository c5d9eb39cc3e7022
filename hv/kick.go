package hv

// Events reaching a vCPU (Xen's vcpu_kick and local_events_need_delivery):
// an upcall made pending for a vCPU wakes it if it sleeps in its waiter,
// and otherwise kicks it through the Backend, which makes it leave the
// guest at once if it runs there on another CPU; the Run loop delivers
// the event before the next entry. A long hypercall on the vCPU yields to
// the event at its next continuation point (Preempt).

// kicker is a domain's evtchn.Notifier: it wakes or kicks vCPU v when an
// upcall becomes pending for it (or a port it polls does). A sleeping
// vCPU is only woken: it looks at its events before it enters the guest
// again, so it needs no kick (which would make that entry return at once
// for nothing). Called with event-channel locks held, from any goroutine;
// neither the Backend's Kick nor Wake blocks.
type kicker struct{ d *Domain }

func (k kicker) Kick(v int) {
	if v < 0 || v >= len(k.d.vcpus) {
		return
	}
	vc := k.d.vcpus[v]
	// The event was made pending before Kick; sleeping is read after.
	// Read true: the vCPU sleeps, or has woken and not yet cleared it,
	// and in both cases delivers before its next entry. Read false: the
	// Backend's kick reaches it wherever it is.
	if !vc.sleeping.Load() && k.d.m.cfg.Backend.Kick(vc) {
		vc.kickIPIs.Add(1)
	}
	vc.waiter.Wake()
}

// eventsNeedDelivery is Xen's local_events_need_delivery for a PV vCPU:
// an upcall is pending in its vcpu_info and the upcall mask is clear.
// Preempt says yes then, so multicall, mmu_update, mmuext_op, the grant
// loops, console writes and the memory_op ranges stop at their next
// continuation point; the re-executed hypercall runs after the Run loop
// has delivered the event. Context: the vCPU's goroutine (a lock-free
// read of guest memory).
func (v *VCPU) eventsNeedDelivery() bool {
	return v.dom.Events().EventsNeedDelivery(v.id)
}

// KickIPIs reports how many kicks of the vCPU sent an IPI to the CPU it
// ran the guest on. Any goroutine; for reports.
func (v *VCPU) KickIPIs() uint64 { return v.kickIPIs.Load() }
