package hv

import (
	"github.com/gohv/gohv/abi"
)

// relinquishBudget is how many frames Space.Relinquish handles per call:
// DestroyDomain looks for nothing between the calls yet, but keeps the
// frame table's lock held for bounded stretches, as Xen's preemptible
// relinquish does.
const relinquishBudget = 1024

// DestroyDomain kills domain id and gives back everything it holds, in
// the order of Xen's domain_kill and domain_relinquish_resources:
//
//  1. It is marked dying: its vCPUs leave their run loops (their waiters
//     are interrupted) and never enter the guest again.
//  2. Its event channels are closed (evtchn_destroy): an interdomain
//     peer's port goes back to unbound, as in Xen, which sends the peer
//     no event for it. Then its PIRQs are unmapped and the PIRQ EOI map
//     frame's references dropped (free_domain_pirqs, and the pirq_eoi_map
//     release of domain_relinquish_resources).
//  3. The mappings it holds of other domains' grants are dropped
//     (gnttab_release_mappings), then its grant table goes and the
//     table's frames return to the allocator.
//  4. Each vCPU drops its GDT, its vcpu_info frame and its base
//     pointers, and its timers stop; the domain leaves the scheduler.
//  5. Its memory is relinquished: pins and page-table types dropped and
//     every frame it owns released, shared_info with them; each frame
//     that became free goes to the allocator after a TLB flush.
//  6. It is unregistered from the machine, the event-channel registry
//     and the frame table, and VIRQ_DOM_EXC tells the hardware domain
//     (or the domain handling it), as Xen's domain_kill does.
//
// The caller is not one of the domain's vCPUs, and none of them is in
// Run any more (Run returns once the domain is Stopped). ErrNoDomain: no
// domain id. ErrDomainBusy: another domain still maps one of its grants
// (nothing after step 3 is done then) or one of its frames (the rest is
// given back); the domain stays dying, and DestroyDomain may be called
// again once those mappings are gone.
func (m *Machine) DestroyDomain(id abi.DomID) error {
	d := m.Domain(id)
	if d == nil {
		return ErrNoDomain
	}
	// 1.
	d.dying.Store(true)
	for _, v := range d.vcpus {
		v.waiter.Interrupt()
		v.kickParked()
	}
	// 2.
	d.Events().Destroy()
	d.state.PIRQs().Destroy()
	// 3. The table's frames go back only once no other domain maps one
	// of its grants: until then its entries must stay where the mapping
	// domains' unmaps will write.
	if m.grants.Has(id) {
		m.grants.Release(id)
		if m.grants.Destroy(id) != 0 {
			return ErrDomainBusy
		}
	}
	// 4.
	space := d.Space()
	for _, v := range d.vcpus {
		v.pv.ReleaseGDT()
		v.releaseVCPUInfo()
		space.ReleaseVCPU(&v.tables)
		v.waiter.Stop()
	}
	d.sched.Remove()
	// 5.
	for space.Relinquish(machineFlusher{m}, relinquishBudget) {
	}
	d.sharedInfo = 0 // released with the domain's other frames
	m.freeReleased()
	if !m.cfg.Frames.RemoveSpace(space) {
		return ErrDomainBusy
	}
	// 6.
	m.registry.Remove(id)
	m.mu.Lock()
	delete(m.domains, id)
	m.mu.Unlock()
	m.registry.SendGlobalVIRQ(abi.VIRQ_DOM_EXC)
	return nil
}
