package grant

import (
	"fmt"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/mm"
)

// A v1 entry is one aligned 64-bit little-endian word in a grant frame:
// flags in bits 0-15, domid in bits 16-31, frame in bits 32-63. The
// granting guest writes it at any time, so the hypervisor reads it with
// Load64 and changes flags only with CompareAndSwap64 (setting
// GTF_reading/GTF_writing, which must fail if the guest revoked the grant
// meanwhile) or And64 (clearing them). Xen does the same with a 32-bit
// cmpxchg on the flags|domid pair; a 64-bit one also catches a concurrent
// change of frame, which can only make a racing pin retry.

func entryFlags(w uint64) uint16    { return uint16(w) }
func entryDomID(w uint64) abi.DomID { return abi.DomID(w >> 16) }
func entryFrame(w uint64) uint32    { return uint32(w >> 32) }

// nrEntries is the number of entries t holds in its version's layout.
// Caller holds t.mu.
func (t *Table) nrEntries() uint32 {
	if t.version == 2 {
		return uint32(len(t.shared)) * EntriesPerFrameV2
	}
	return uint32(len(t.shared)) * EntriesPerFrame
}

// entryAddr is the machine address of entry ref (of its first word in
// v2). Caller holds t.mu and has checked ref < t.nrEntries().
func (t *Table) entryAddr(ref Ref) mm.Maddr {
	if t.version == 2 {
		return t.shared[ref/EntriesPerFrameV2].Addr() + mm.Maddr(ref%EntriesPerFrameV2)*EntrySizeV2
	}
	return t.shared[ref/EntriesPerFrame].Addr() + mm.Maddr(ref%EntriesPerFrame)*EntrySize
}

// loadEntry reads entry ref atomically. Grant frames were checked to be in
// RAM when allocated, so a failed access is a broken invariant.
func (ts *Tables) loadEntry(t *Table, ref Ref) uint64 {
	w, ok := ts.mem.Load64(t.entryAddr(ref))
	if !ok {
		panic(fmt.Sprintf("grant: d%d grant frame %#x not in RAM", t.dom, t.entryAddr(ref)))
	}
	return w
}

// clearFlags atomically clears bits in entry ref's flags, or in its
// status on v2 (Xen's gnttab_clear_flags). Caller holds t.mu.
func (ts *Tables) clearFlags(t *Table, ref Ref, bits uint16) {
	if bits == 0 {
		return
	}
	if t.version == 2 {
		ts.clearStatus(t, ref, bits)
		return
	}
	if _, ok := ts.mem.And64(t.entryAddr(ref), ^uint64(bits)); !ok {
		panic(fmt.Sprintf("grant: d%d grant frame %#x not in RAM", t.dom, t.entryAddr(ref)))
	}
}

// setStatus marks entry ref of granter table t as in use by domain ld:
// GTF_reading, and GTF_writing unless readonly (Xen's _set_status_v1).
// When the entry is not pinned yet (act.pin == 0) the guest's entry must
// be GTF_permit_access for ld (for a mapping, without GTF_sub_page); a
// writable use needs the entry not GTF_readonly, whether pinned or not.
// All failures are GNTST_general_error, as in Xen (including a guest that
// keeps changing the entry so the compare-and-swap never succeeds). On
// success it returns the entry's frame field as it was when the flags were
// set (v2: setStatusV2, and the frame read after it). Caller holds t.mu.
func (ts *Tables) setStatus(t *Table, ref Ref, act *activeEntry, ld abi.DomID, readonly, mapping bool) (uint64, Status) {
	if t.version == 2 {
		if st := ts.setStatusV2(t, ref, act, ld, readonly, mapping); st != GNTST_okay {
			return 0, st
		}
		return ts.loadFrameV2(t, ref), GNTST_okay
	}
	mask := gtfTypeMask
	if mapping {
		mask |= gtfSubPage
	}
	addr := t.entryAddr(ref)
	w := ts.loadEntry(t, ref)
	for try := 0; ; try++ {
		flags := entryFlags(w)
		if act.pin == 0 && (flags&mask != gtfPermitAccess || entryDomID(w) != ld) {
			return 0, GNTST_general_error
		}
		set := gtfReading
		if !readonly {
			if flags&gtfReadonly != 0 {
				return 0, GNTST_general_error
			}
			set |= gtfWriting
		}
		nw := w | uint64(set)
		swapped, ok := ts.mem.CompareAndSwap64(addr, w, nw)
		if !ok {
			panic(fmt.Sprintf("grant: d%d grant frame %#x not in RAM", t.dom, addr))
		}
		if swapped {
			return uint64(entryFrame(nw)), GNTST_okay
		}
		if try+1 == maxPinRetries {
			return 0, GNTST_general_error
		}
		w = ts.loadEntry(t, ref)
	}
}

// releaseFlags clears what the entry's pins no longer justify after a pin
// of the given kind (readonly or not) was dropped or never taken:
// GTF_writing when it was a writable use and no writable pin remains,
// GTF_reading when no pin at all remains. A read-only unmap therefore never
// clears GTF_writing under a live writable mapping (XSA-234). Caller holds
// t.mu.
func (ts *Tables) releaseFlags(t *Table, ref Ref, readonly bool) {
	act := &t.active[ref]
	var bits uint16
	if !readonly && act.pin&pinWriteMask == 0 {
		bits |= gtfWriting
	}
	if act.pin == 0 {
		bits |= gtfReading
	}
	ts.clearFlags(t, ref, bits)
}
