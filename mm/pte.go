package mm

import (
	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/arch"
)

// x86-64 page-table entry bits as a 64-bit PV guest writes them (Intel SDM
// vol. 3A 4.5, tables 4-15 to 4-20) and the software bits Xen gives
// meaning to. Xen names the high bits in its 24-bit "flags" encoding
// (xen/arch/x86/include/asm/x86_64/page.h: flag bit 12 is PTE bit 52, flag
// bit 22 is PTE bit 62, flag bit 23 is PTE bit 63); here every constant is
// the bit's position in the 64-bit entry.
const (
	_PAGE_PRESENT  uint64 = 1 << 0
	_PAGE_RW       uint64 = 1 << 1
	_PAGE_USER     uint64 = 1 << 2
	_PAGE_PWT      uint64 = 1 << 3
	_PAGE_PCD      uint64 = 1 << 4
	_PAGE_ACCESSED uint64 = 1 << 5
	_PAGE_DIRTY    uint64 = 1 << 6
	_PAGE_PSE      uint64 = 1 << 7 // in an L2/L3 entry: superpage
	_PAGE_PAT      uint64 = 1 << 7 // in an L1 entry: PAT index bit 2
	_PAGE_GLOBAL   uint64 = 1 << 8
	_PAGE_AVAIL    uint64 = 7 << 9 // bits 9-11, free for the guest
	// _PAGE_GUEST_KERNEL (Xen flag bit 12, PTE bit 52) marks an L1 entry
	// the guest wrote without _PAGE_USER: a guest-kernel mapping, since the
	// 64-bit PV kernel runs at CPL 3 and every entry must carry USER.
	_PAGE_GUEST_KERNEL uint64 = 1 << 52
	// _PAGE_AVAIL_HIGH are bits 52-62, free for the guest.
	_PAGE_AVAIL_HIGH uint64 = 0x7ff << 52
	// _PAGE_GNTTAB (Xen flag bit 22, PTE bit 62) marks an L1 entry created
	// by a grant map; a guest may not set it (as in debug Xen's
	// L1_DISALLOW_MASK).
	_PAGE_GNTTAB uint64 = 1 << 62
	_PAGE_NX     uint64 = 1 << 63

	// pteAddrMask selects the frame address, bits 12-51 (Xen's
	// PADDR_MASK & PAGE_MASK with 52 physical address bits).
	pteAddrMask uint64 = 0x000ffffffffff000
	// pageCacheAttrs are the bits selecting an L1 entry's memory type.
	pageCacheAttrs = _PAGE_PAT | _PAGE_PCD | _PAGE_PWT
)

// Xen's disallow masks for 64-bit PV (xen/arch/x86/mm.c): a present entry
// with any of these bits set is refused with -EINVAL. base_disallow_mask is
// the complement of PRESENT|RW|USER|ACCESSED|DIRTY|AVAIL|AVAIL_HIGH|NX,
// which leaves PWT, PCD, PSE/PAT and GLOBAL.
const (
	baseDisallowMask = _PAGE_PWT | _PAGE_PCD | _PAGE_PSE | _PAGE_GLOBAL
	// l1DisallowMask lets GLOBAL through (user mappings) and refuses the
	// grant bit.
	l1DisallowMask = (baseDisallowMask | _PAGE_GNTTAB) &^ _PAGE_GLOBAL
	// l1DisallowMaskIO is used for domains holding I/O capabilities, which
	// may choose cache attributes.
	l1DisallowMaskIO = l1DisallowMask &^ pageCacheAttrs
	// l2DisallowMask includes PSE: PV guests get no superpages.
	l2DisallowMask = baseDisallowMask
	l3DisallowMask = baseDisallowMask
	l4DisallowMask = baseDisallowMask
)

// fastpathWhitelist holds the bits a guest may change in a present entry
// without its references being re-taken (Xen's FASTPATH_FLAG_WHITELIST).
const fastpathWhitelist = _PAGE_NX | _PAGE_AVAIL_HIGH | _PAGE_AVAIL | _PAGE_GLOBAL |
	_PAGE_DIRTY | _PAGE_ACCESSED | _PAGE_USER

// Page-table geometry.
const (
	ptEntries = 512 // entries per table
	// XenL4FirstSlot and XenL4SlotCount are the L4 slots owned by the
	// hypervisor in every PV L4 (ROOT_PAGETABLE_FIRST_XEN_SLOT 256 ..
	// ROOT_PAGETABLE_LAST_XEN_SLOT 271): those mapping HYPERVISOR_VIRT_START
	// (0xFFFF800000000000) up to HYPERVISOR_VIRT_END (0xFFFF880000000000),
	// 2^39 bytes a slot.
	XenL4FirstSlot = (abi.HYPERVISOR_VIRT_START >> 39) % ptEntries
	XenL4SlotCount = (abi.HYPERVISOR_VIRT_END - abi.HYPERVISOR_VIRT_START) >> 39
)

// pteMFN returns the frame an entry points at.
func pteMFN(e uint64) MFN { return MFN((e & pteAddrMask) >> PageShift) }

func present(e uint64) bool { return e&_PAGE_PRESENT != 0 }

// invalidPTEMFN is the frame number with every address bit set, which Xen
// treats as INVALID_MFN in an L1 entry (-EINVAL rather than -EPERM).
const invalidPTEMFN = MFN(pteAddrMask >> PageShift)

// changedBeyond reports whether a and b differ in a bit outside allowed.
func changedBeyond(a, b, allowed uint64) bool { return (a^b)&^allowed != 0 }

// adjustL1 applies Xen's 64-bit PV fix-ups to a present L1 entry
// (adjust_guest_l1e): an entry without USER is a kernel mapping and gains
// USER and _PAGE_GUEST_KERNEL; an entry that is not a kernel mapping is a
// user mapping and gains GLOBAL (so it survives the kernel/user CR3
// switch).
func adjustL1(e uint64) uint64 {
	if !present(e) {
		return e
	}
	if e&_PAGE_USER == 0 {
		e |= _PAGE_GUEST_KERNEL | _PAGE_USER
	}
	if e&_PAGE_GUEST_KERNEL == 0 {
		e |= _PAGE_GLOBAL | _PAGE_USER
	}
	return e
}

// adjustUpper applies the fix-up for a present L2/L3 entry (USER) or L4
// entry (USER and ACCESSED, adjust_guest_l4e).
func adjustUpper(level int, e uint64) uint64 {
	if !present(e) {
		return e
	}
	e |= _PAGE_USER
	if level == 4 {
		e |= _PAGE_ACCESSED
	}
	return e
}

// isXenL4Slot reports whether L4 slot i belongs to the hypervisor.
func isXenL4Slot(i int) bool { return i >= XenL4FirstSlot && i < XenL4FirstSlot+XenL4SlotCount }

// GuestAddrOK reports whether a 64-bit PV guest may use va (Xen's
// __addr_ok): va is canonical and outside the hypervisor's range
// HYPERVISOR_VIRT_START..END (the 16 L4 slots from XenL4FirstSlot).
func GuestAddrOK(va GuestVA) bool {
	a := uint64(va)
	return arch.Canonical(a) && (a < abi.HYPERVISOR_VIRT_START || a >= abi.HYPERVISOR_VIRT_END)
}

// tableIndex returns the index of va in its level-n table (n = 1..4).
func tableIndex(va GuestVA, level int) int {
	return int(uint64(va)>>(PageShift+9*uint(level-1))) & (ptEntries - 1)
}
