package evtchn

import "github.com/gohv/gohv/mm"

// Byte offsets inside the shared_info page and a vcpu_info slot, x86-64
// (public/xen.h: struct shared_info, struct vcpu_info).
// layout_test.go checks them against the generated abi structures.
const (
	// vcpuInfoSize is sizeof(struct vcpu_info).
	vcpuInfoSize = 64
	// LegacyVCPUs is XEN_LEGACY_MAX_VCPUS: vCPUs 0..31 have a vcpu_info slot
	// in shared_info until they register one elsewhere.
	LegacyVCPUs = 32
	// offPending is shared_info.evtchn_pending: 64 words of 64 bits.
	offPending = LegacyVCPUs * vcpuInfoSize // 2048
	// offMask is shared_info.evtchn_mask: 64 words of 64 bits.
	offMask = offPending + wordsPerBitmap*8 // 2560

	// offUpcallPending is vcpu_info.evtchn_upcall_pending (one byte; the
	// hypervisor sets bit 0 of the 64-bit word at offset 0).
	offUpcallPending = 0
	// upcallPendingBit is bit 0 of the first vcpu_info word (byte 0).
	upcallPendingBit = uint64(1) << 0
	// upcallPendingBits is the whole upcall_pending byte: Xen treats any
	// nonzero value as pending when it reads it.
	upcallPendingBits = uint64(0xff)
	// upcallMaskBits is byte 1 of the first vcpu_info word:
	// vcpu_info.evtchn_upcall_mask, nonzero = events blocked.
	upcallMaskBits = uint64(0xff) << 8
	// offPendingSel is vcpu_info.evtchn_pending_sel: one bit per
	// evtchn_pending word.
	offPendingSel = 8

	// bitsPerWord is BITS_PER_EVTCHN_WORD for a 64-bit guest.
	bitsPerWord = 64
	// wordsPerBitmap is the number of 64-bit words in evtchn_pending and
	// evtchn_mask.
	wordsPerBitmap = bitsPerWord
)

// NrPorts2L is the number of ports of the 2-level ABI for a 64-bit guest:
// BITS_PER_EVTCHN_WORD squared (4096).
const NrPorts2L = bitsPerWord * bitsPerWord

// noVCPUInfo marks a vCPU with no vcpu_info (a vCPU at or above
// LegacyVCPUs that has not registered one): Xen points such a vCPU at a
// private dummy_vcpu_info, so events reach the pending bitmap but no
// selector or upcall flag the guest can see.
const noVCPUInfo = ^uint64(0)

// pendingWord returns the machine address of the evtchn_pending word that
// holds port, and the port's bit in it.
func pendingWord(shared mm.Maddr, port Port) (mm.Maddr, uint64) {
	return shared + offPending + mm.Maddr(port/bitsPerWord)*8, uint64(1) << (port % bitsPerWord)
}

// maskWord returns the machine address of the evtchn_mask word that holds
// port, and the port's bit in it.
func maskWord(shared mm.Maddr, port Port) (mm.Maddr, uint64) {
	return shared + offMask + mm.Maddr(port/bitsPerWord)*8, uint64(1) << (port % bitsPerWord)
}

// selectorBit returns port's bit in evtchn_pending_sel.
func selectorBit(port Port) uint64 { return uint64(1) << (port / bitsPerWord) }

// mmaddr converts a stored vcpu_info address back to its type.
func mmaddr(a uint64) mm.Maddr { return mm.Maddr(a) }
