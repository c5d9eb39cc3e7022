package mm

import "github.com/gohv/gohv/abi"

// The frame-table side of memory_op's reservation calls for a PV domain
// (Xen 4.17's guest_remove_page and steal_page): a PV domain names its
// frames by MFN, so these work on machine frames directly. hv allocates
// and frees the frames (Allocator) and counts the domain's pages.

// RemovePage takes frame m away from domain d, as decrease_reservation
// does: it is unpinned if pinned, the owner's allocation reference is
// dropped (allocDropped: the domain's page count falls by one) and its M2P
// entry invalidated; the frame is freed (TakeFreed) once the last mapping
// of it goes. A frame d owns but has already given up (mapped still) is
// left alone with 0. -EINVAL: m is not in the frame table, or is a
// hypervisor frame shared with d (shared_info, grant frames), which stays
// with the hypervisor; -ENXIO: d does not own m.
func (ft *FrameTable) RemovePage(m MFN, d abi.DomID, f Flusher) (allocDropped bool, err abi.Errno) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	pi := ft.page(m)
	if pi == nil {
		return false, abi.EINVAL
	}
	if d.IsReserved() || !ft.getPage(m, d) {
		return false, abi.ENXIO
	}
	if pi.has(pgXenHeap) {
		ft.putPage(m)
		return false, abi.EINVAL
	}
	c := &opCtx{flush: f}
	if pi.has(pgPinned) {
		pi.set(pgPinned, false)
		ft.putPageAndType(m, c)
	}
	if pi.has(pgAllocated) {
		ft.m2p.Set(m, InvalidM2PEntry)
		pi.set(pgAllocated, false)
		ft.putPage(m)
		allocDropped = true
	}
	ft.putPage(m)
	return allocDropped, 0
}

// Steal takes frame m from domain d for XENMEM_exchange (steal_page): d
// must hold it by its allocation reference alone (no mapping, no type
// use, not pinned, not a hypervisor frame). The frame becomes unowned but
// is not put on the freed list: the caller gives it back to the allocator
// (after a TLB flush) or back to d with Assign. Its M2P entry is
// invalidated. -EINVAL otherwise.
func (ft *FrameTable) Steal(m MFN, d abi.DomID) abi.Errno {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	pi := ft.page(m)
	if pi == nil || d.IsReserved() || pi.owner != d || !pi.has(pgAllocated) || pi.has(pgXenHeap) ||
		pi.count != 1 || pi.typeCount != 0 || pi.has(pgPinned) {
		return abi.EINVAL
	}
	*pi = FrameEntry{owner: ownerNone}
	ft.m2p.Set(m, InvalidM2PEntry)
	return 0
}
