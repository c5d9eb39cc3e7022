package mm

import (
	"fmt"

	"github.com/gohv/gohv/abi"
)

// Audit recomputes every frame's reference counts from first principles
// and reports the first disagreement with the frame table, or nil. It is
// a test-mode checker: re-validating every page table after each
// hypercall catches a broken PV MMU invariant where it first happens.
//
// bases lists every base pointer held by any vCPU (VCPUTables.Kernel and
// User, zeros ignored); extra lists general references held outside the
// PV MMU (GetPage by grant or memory_op code), one entry per reference.
// It checks:
//   - general count = owner's + pins + base pointers + references held by
//     the entries of validated tables + extra;
//   - type count = pins + base pointers + typed references from validated
//     upper tables + writable L1 mappings (+1 for shared frames);
//   - a frame in typed use as a page table is validated, and no frame is
//     both a page table and mapped writable;
//   - every validated L4 holds the hypervisor's slots.
//
// Audit takes the FrameTable lock; it reads every validated table and is
// slow.
func (ft *FrameTable) Audit(bases []MFN, extra []MFN) error {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	n := len(ft.pages)
	count := make([]uint64, n)
	typed := make([]uint64, n)
	writableMaps := make([]uint64, n)
	for m := range ft.pages {
		pi := &ft.pages[m]
		if pi.has(pgAllocated) {
			count[m]++
		}
		if pi.has(pgXenHeap) && pi.has(pgAllocated) {
			typed[m]++
		}
		if pi.has(pgPinned) {
			count[m]++
			typed[m]++
		}
	}
	for _, b := range append(bases[:len(bases):len(bases)], extra...) {
		if uint64(b) >= uint64(n) {
			return fmt.Errorf("reference to MFN %#x beyond the frame table", uint64(b))
		}
	}
	for _, b := range bases {
		if b != 0 {
			count[b]++
			typed[b]++
		}
	}
	for _, b := range extra {
		count[b]++
	}
	var tab [ptEntries]uint64
	for m := range ft.pages {
		pi := &ft.pages[m]
		level := pi.typ().level()
		if pi.typeCount == 0 || level == 0 {
			continue
		}
		if !pi.has(pgValidated) {
			return fmt.Errorf("MFN %#x: %v with type count %d not validated", m, pi.typ(), pi.typeCount)
		}
		if !ft.readTable(MFN(m), &tab) {
			return fmt.Errorf("MFN %#x: table unreadable", m)
		}
		if level == 4 {
			xen := ft.xenL4(MFN(m))
			for i := range xen {
				if tab[XenL4FirstSlot+i] != xen[i] {
					return fmt.Errorf("L4 MFN %#x: slot %d is %#x, hypervisor's is %#x", m, XenL4FirstSlot+i, tab[XenL4FirstSlot+i], xen[i])
				}
			}
		}
		for i, e := range tab {
			if !present(e) || (level == 4 && isXenL4Slot(i)) {
				continue
			}
			t := pteMFN(e)
			if level == 1 {
				if e&_PAGE_USER == 0 {
					return fmt.Errorf("L1 MFN %#x slot %d: %#x lacks _PAGE_USER", m, i, e)
				}
				tp := ft.page(t)
				if tp == nil || tp.owner == abi.DOMID_IO {
					continue
				}
				count[t]++
				if e&_PAGE_RW != 0 {
					typed[t]++
					writableMaps[t]++
				}
				continue
			}
			if t == MFN(m) {
				continue // read-only self map: no reference
			}
			if uint64(t) >= uint64(n) {
				return fmt.Errorf("L%d MFN %#x slot %d: points beyond the frame table", level, m, i)
			}
			if ft.pages[t].typ() != tableType(level-1) {
				return fmt.Errorf("L%d MFN %#x slot %d: points at MFN %#x of type %v", level, m, i, uint64(t), ft.pages[t].typ())
			}
			count[t]++
			typed[t]++
		}
	}
	for m := range ft.pages {
		pi := &ft.pages[m]
		if uint64(pi.count) != count[m] {
			return fmt.Errorf("MFN %#x (%v, owner %d): general count %d, expected %d", m, pi.typ(), pi.owner, pi.count, count[m])
		}
		if uint64(pi.typeCount) != typed[m] {
			return fmt.Errorf("MFN %#x (%v, owner %d): type count %d, expected %d", m, pi.typ(), pi.owner, pi.typeCount, typed[m])
		}
		if writableMaps[m] != 0 && pi.typ() != PageTypeWritable {
			return fmt.Errorf("MFN %#x: mapped writable %d times but has type %v", m, writableMaps[m], pi.typ())
		}
		if pi.count == 0 && (pi.owner != ownerNone || pi.typeCount != 0 || pi.has(pgPinned)) {
			return fmt.Errorf("MFN %#x: free but owned by %d / typed / pinned", m, pi.owner)
		}
	}
	return nil
}
