package grant

// Grant table version 2 (public/grant_table.h; the semantics of Xen
// 4.17's common/grant_table.c, read for facts and written afresh).
//
// A v2 entry is 16 bytes, 256 to a frame: a header {u16 flags; domid_t
// domid} in its first four bytes, then by type: full_page {u32 pad; u64
// frame}, sub_page {u16 page_off; u16 length; u64 frame} or transitive
// {domid_t trans_domid; u16 pad; grant_ref_t gref; u32 pad}. The
// GTF_reading and GTF_writing bits do not live in the entry but in a
// separate array of 16-bit grant_status_t, 2048 to a status frame; a
// table has ceil(entries/2048) status frames while it is on v2.
//
// The hypervisor reads the first 8 bytes of an entry atomically (header
// and the sub_page fields) and the frame at offset 8 atomically; it sets
// and clears status bits with 64-bit atomics on the word holding them.

import (
	"fmt"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/mm"
)

// Layout of v2 tables.
const (
	// EntrySizeV2 is sizeof(grant_entry_v2_t).
	EntrySizeV2 = 16
	// EntriesPerFrameV2 is how many v2 entries one grant frame holds (256).
	EntriesPerFrameV2 = mm.PageSize / EntrySizeV2
	// StatusPerFrame is how many grant_status_t one status frame holds
	// (2048).
	StatusPerFrame = mm.PageSize / 2
	// ReservedEntries is GNTTAB_NR_RESERVED_ENTRIES: the first 8 entries
	// (toolstack grants for the console and xenstore) may stay in use
	// across set_version and are carried over to the new layout.
	ReservedEntries = 8
)

const gtfTransitive = uint16(abi.GTF_transitive)

// statusFramesFor is Xen's grant_to_status_frames: the status frames a
// v2 table of n grant frames needs.
func statusFramesFor(n int) int {
	return (n*EntriesPerFrameV2 + StatusPerFrame - 1) / StatusPerFrame
}

// v2 entry fields from the first and second 64-bit words.
func entryPageOff(w uint64) uint16 { return uint16(w >> 32) }
func entryLength(w uint64) uint16  { return uint16(w >> 48) }

// loadFrameV2 reads the frame (full_page.frame, sub_page.frame) of v2
// entry ref. Caller holds t.mu, t.version == 2.
func (ts *Tables) loadFrameV2(t *Table, ref Ref) uint64 {
	w, ok := ts.mem.Load64(t.entryAddr(ref) + 8)
	if !ok {
		panic(fmt.Sprintf("grant: d%d grant frame %#x not in RAM", t.dom, t.entryAddr(ref)))
	}
	return w
}

// statusWord returns the aligned 64-bit word holding entry ref's
// grant_status_t and the shift of it in the word. Caller holds t.mu,
// t.version == 2.
func (t *Table) statusWord(ref Ref) (mm.Maddr, uint) {
	a := t.status[ref/StatusPerFrame].Addr() + mm.Maddr(ref%StatusPerFrame)*2
	return a &^ 7, uint(a&7) * 8
}

// orStatus sets bits in entry ref's status. Caller holds t.mu.
func (ts *Tables) orStatus(t *Table, ref Ref, bits uint16) {
	w, sh := t.statusWord(ref)
	if _, ok := ts.mem.Or64(w, uint64(bits)<<sh); !ok {
		panic(fmt.Sprintf("grant: d%d status frame %#x not in RAM", t.dom, w))
	}
}

// clearStatus clears bits in entry ref's status. Caller holds t.mu.
func (ts *Tables) clearStatus(t *Table, ref Ref, bits uint16) {
	w, sh := t.statusWord(ref)
	if _, ok := ts.mem.And64(w, ^(uint64(bits) << sh)); !ok {
		panic(fmt.Sprintf("grant: d%d status frame %#x not in RAM", t.dom, w))
	}
}

// loadStatus reads entry ref's status. Caller holds t.mu.
func (ts *Tables) loadStatus(t *Table, ref Ref) uint16 {
	w, sh := t.statusWord(ref)
	v, ok := ts.mem.Load64(w)
	if !ok {
		panic(fmt.Sprintf("grant: d%d status frame %#x not in RAM", t.dom, w))
	}
	return uint16(v >> sh)
}

// setStatusV2 is setStatus for a v2 table (Xen's _set_status_v2): on first
// pin the entry must be GTF_permit_access for ld (a mapping also refuses
// GTF_sub_page; a copy also accepts GTF_transitive, which acquireForCopy
// then refuses); a writable use needs the entry not GTF_readonly. The
// status bits are set first and the entry checked again after, so a
// granter revoking meanwhile sees either the bits or the failure; on that
// failure the bits are cleared again. Caller holds t.mu.
func (ts *Tables) setStatusV2(t *Table, ref Ref, act *activeEntry, ld abi.DomID, readonly, mapping bool) Status {
	mask := gtfTypeMask
	if mapping {
		mask |= gtfSubPage
	}
	usable := func(w uint64) bool {
		typ := entryFlags(w) & mask
		return (typ == gtfPermitAccess || !mapping && typ == gtfTransitive) && entryDomID(w) == ld
	}
	w := ts.loadEntry(t, ref)
	if act.pin == 0 && !usable(w) {
		return GNTST_general_error
	}
	if readonly {
		ts.orStatus(t, ref, gtfReading)
	} else {
		if entryFlags(w)&gtfReadonly != 0 {
			return GNTST_general_error
		}
		ts.orStatus(t, ref, gtfReading|gtfWriting)
	}
	w = ts.loadEntry(t, ref)
	if act.pin == 0 {
		if !usable(w) || !readonly && entryFlags(w)&gtfReadonly != 0 {
			ts.clearStatus(t, ref, gtfReading|gtfWriting)
			return GNTST_general_error
		}
	} else if entryFlags(w)&gtfReadonly != 0 {
		ts.clearStatus(t, ref, gtfWriting)
		return GNTST_general_error
	}
	return GNTST_okay
}

// GetStatusFrames is GNTTABOP_get_status_frames for one op: it appends the
// MFNs of dom's first nr status frames to dst. dom may be DOMID_SELF.
// Status: GNTST_bad_domain, GNTST_permission_denied (as SetupTable),
// GNTST_general_error (nr above the status frames the table has: every
// nr but 0 on a v1 table). The hypercall layer returns -EINVAL for
// count != 1 and writes the MFNs (GNTST_bad_virt_addr for an unwritable
// slot) and then only the status field.
func (ts *Tables) GetStatusFrames(caller, dom abi.DomID, nr uint32, dst []mm.MFN) ([]mm.MFN, Status) {
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	t, st := ts.target(caller, dom)
	if st != GNTST_okay {
		return dst, st
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if uint64(nr) > uint64(len(t.status)) {
		return dst, GNTST_general_error
	}
	return append(dst, t.status[:nr]...), GNTST_okay
}

// populateStatus brings t's status frames to what n grant frames need,
// zeroing each new one. On failure nothing changes. Caller holds t.mu.
func (ts *Tables) populateStatus(t *Table, n int) bool {
	added, ok := ts.allocZeroed(t, statusFramesFor(n)-len(t.status))
	if !ok {
		return false
	}
	t.status = append(t.status, added...)
	return true
}

// setVersionLocked switches t to version (1 or 2, not t.version), as
// Xen's gnttab_set_version: no entry past the reserved ones may be in
// use (EBUSY); going to v1, a reserved entry v1 cannot express (a frame
// above 32 bits, a transitive grant) is ERANGE; the reserved entries are
// carried over (v2 -> v1 merges the status bits into the flags; an entry
// of another type is dropped), every other entry is cleared; going to v2
// the status frames are allocated (ENOMEM if there are none to be had),
// going to v1 they are given back. Caller holds t.mu.
func (ts *Tables) setVersionLocked(t *Table, version uint32) abi.Errno {
	for i := Ref(ReservedEntries); i < Ref(t.nrEntries()); i++ {
		if t.active[i].pin != 0 {
			return abi.EBUSY
		}
	}
	// The reserved entries, in v1 form: flags | domid << 16 | frame << 32.
	var keep [ReservedEntries]uint64
	if t.version == 1 {
		for i := range keep {
			keep[i] = ts.loadEntry(t, Ref(i))
		}
		if !ts.populateStatus(t, len(t.shared)) {
			return abi.ENOMEM
		}
	} else {
		for i := range keep {
			w := ts.loadEntry(t, Ref(i))
			switch entryFlags(w) & gtfTypeMask {
			case gtfPermitAccess:
				if f := ts.loadFrameV2(t, Ref(i)); f>>32 != 0 {
					return abi.ERANGE
				}
			case gtfTransitive:
				return abi.ERANGE
			}
		}
		for i := range keep {
			w := ts.loadEntry(t, Ref(i))
			if entryFlags(w)&gtfTypeMask == gtfPermitAccess {
				flags := entryFlags(w) | ts.loadStatus(t, Ref(i))
				keep[i] = uint64(flags) | uint64(entryDomID(w))<<16 | ts.loadFrameV2(t, Ref(i))<<32
			}
		}
		for _, f := range t.status {
			t.src.FreeFrame(f)
		}
		t.status = nil
	}
	var zero [mm.PageSize]byte
	for _, f := range t.shared {
		if !ts.mem.Write(f.Addr(), zero[:]) {
			panic(fmt.Sprintf("grant: d%d grant frame %#x not in RAM", t.dom, f))
		}
	}
	t.version = version
	for i, w := range keep {
		if w == 0 {
			continue
		}
		ref := Ref(i)
		var b [EntrySizeV2]byte
		if version == 1 {
			le.PutUint64(b[:], w)
			ts.writeEntry(t, ref, b[:EntrySize])
			continue
		}
		rw := entryFlags(w) & (gtfReading | gtfWriting)
		le.PutUint16(b[0:], entryFlags(w)&^(gtfReading|gtfWriting))
		le.PutUint16(b[2:], uint16(entryDomID(w)))
		le.PutUint64(b[8:], uint64(entryFrame(w)))
		ts.writeEntry(t, ref, b[:])
		ts.orStatus(t, ref, rw)
	}
	return 0
}

// writeEntry writes b over entry ref. Caller holds t.mu.
func (ts *Tables) writeEntry(t *Table, ref Ref, b []byte) {
	if !ts.mem.Write(t.entryAddr(ref), b) {
		panic(fmt.Sprintf("grant: d%d grant frame %#x not in RAM", t.dom, t.entryAddr(ref)))
	}
}

// GetStatusFramesOp is struct gnttab_get_status_frames.
type GetStatusFramesOp struct {
	// In.
	NrFrames  uint32
	Dom       abi.DomID
	FrameList abi.GuestHandle // uint64_t frame_list[nr_frames]
	// Out.
	Status Status
}

// SizeofGetStatusFramesOp is sizeof(struct gnttab_get_status_frames).
const SizeofGetStatusFramesOp = 16

// Decode reads nr_frames@0 dom@4 status@6 frame_list@8.
func (op *GetStatusFramesOp) Decode(b []byte) bool {
	if len(b) < SizeofGetStatusFramesOp {
		return false
	}
	*op = GetStatusFramesOp{NrFrames: le.Uint32(b[0:]), Dom: abi.DomID(le.Uint16(b[4:])),
		Status: Status(le.Uint16(b[6:])), FrameList: abi.GuestHandle(le.Uint64(b[8:]))}
	return true
}

// Encode writes every field of op into b.
func (op *GetStatusFramesOp) Encode(b []byte) bool {
	if len(b) < SizeofGetStatusFramesOp {
		return false
	}
	le.PutUint32(b[0:], op.NrFrames)
	le.PutUint16(b[4:], uint16(op.Dom))
	le.PutUint64(b[8:], uint64(op.FrameList))
	return op.EncodeOut(b)
}

// EncodeOut writes status.
func (op *GetStatusFramesOp) EncodeOut(b []byte) bool {
	if len(b) < SizeofGetStatusFramesOp {
		return false
	}
	le.PutUint16(b[6:], uint16(op.Status))
	return true
}

// swapV2 exchanges v2 entries a and b and their status words, as Xen's
// swap_grant_ref does (plain copies: the guest owns both entries). Caller
// holds t.mu; neither entry is pinned.
func (ts *Tables) swapV2(t *Table, a, b Ref) {
	var ea, eb [EntrySizeV2]byte
	if !ts.mem.Read(t.entryAddr(a), ea[:]) || !ts.mem.Read(t.entryAddr(b), eb[:]) {
		panic(fmt.Sprintf("grant: d%d grant frame not in RAM", t.dom))
	}
	ts.writeEntry(t, a, eb[:])
	ts.writeEntry(t, b, ea[:])
	sa, sb := ts.loadStatus(t, a), ts.loadStatus(t, b)
	ts.clearStatus(t, a, ^sb)
	ts.orStatus(t, a, sb)
	ts.clearStatus(t, b, ^sa)
	ts.orStatus(t, b, sa)
}
