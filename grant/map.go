package grant

import (
	"fmt"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/internal/lockorder"
	"github.com/gohv/gohv/mm"
)

// MapOp is one GNTTABOP_map_grant_ref element (struct gnttab_map_grant_ref).
type MapOp struct {
	// In.
	HostAddr uint64    // VA to map at, or the L1 entry's machine address with GNTMAP_contains_pte
	Flags    uint32    // GNTMAP_*
	Ref      Ref       // the granter's grant reference
	Dom      abi.DomID // the granting domain (a real id; DOMID_SELF is not resolved)
	// Out.
	Status     Status
	Handle     Handle // maptrack handle for unmap
	DevBusAddr uint64 // machine address of the frame (Xen sets it for every successful map)
}

// UnmapOp is one GNTTABOP_unmap_grant_ref element (struct
// gnttab_unmap_grant_ref).
type UnmapOp struct {
	// In.
	HostAddr   uint64 // the host mapping to remove, or 0 to keep it
	DevBusAddr uint64 // the device mapping to remove, or 0 to keep it; must match the frame
	Handle     Handle
	// Out.
	Status Status
}

// allocHandle takes a free maptrack slot, growing the maptrack by one
// frame's worth of slots when none is free. noHandle when the domain's
// max_maptrack_frames are used up. Caller holds t.mu.
func (t *Table) allocHandle() uint32 {
	if t.freeHead == noHandle {
		n := uint32(len(t.maptrack))
		if n/MaptrackPerFrame >= t.cfg.MaxMaptrackFrames {
			return noHandle
		}
		t.maptrack = append(t.maptrack, make([]mapping, MaptrackPerFrame)...)
		for h := n; h < n+MaptrackPerFrame; h++ {
			t.pushFree(h)
		}
	}
	h := t.freeHead
	t.freeHead = t.maptrack[h].next
	if t.freeHead == noHandle {
		t.freeTail = noHandle
	}
	t.maptrack[h].next = noHandle
	return h
}

// pushFree appends slot h to the free list. Caller holds t.mu.
func (t *Table) pushFree(h uint32) {
	t.maptrack[h] = mapping{next: noHandle}
	if t.freeTail == noHandle {
		t.freeHead = h
	} else {
		t.maptrack[t.freeTail].next = h
	}
	t.freeTail = h
}

// freeHandle clears a live slot and returns it to the free list. Caller
// holds t.mu.
func (t *Table) freeHandle(h uint32) { t.pushFree(h) }

// pinIncs returns the pin increments a use with these GNTMAP flags takes.
func pinIncs(flags uint32) uint32 {
	var inc uint32
	ro := flags&mapReadonly != 0
	if flags&mapDevice != 0 {
		if ro {
			inc += pinDeviceRead
		} else {
			inc += pinDeviceWrite
		}
	}
	if flags&mapHost != 0 {
		if ro {
			inc += pinHostRead
		} else {
			inc += pinHostWrite
		}
	}
	return inc
}

// kinds returns how many of device_map and host_map flags holds (each
// takes its own page reference).
func kinds(flags uint32) int {
	n := 0
	if flags&mapDevice != 0 {
		n++
	}
	if flags&mapHost != 0 {
		n++
	}
	return n
}

// MapGrantRef is one GNTTABOP_map_grant_ref element issued by domain ld:
// it pins grant op.Ref of domain op.Dom for ld, sets GTF_reading (and
// GTF_writing unless GNTMAP_readonly) in the granter's entry, takes a page
// reference per mapping kind, installs the host mapping through the Mapper
// when GNTMAP_host_map is set, and records the mapping in ld's maptrack.
// It fills op.Status, and on success op.Handle and op.DevBusAddr.
//
// Statuses, in Xen 4.17's order of checks: GNTST_bad_gntref (neither
// device_map nor host_map; ref beyond the table), GNTST_bad_domain (no such
// granting domain), GNTST_no_device_space (ld's maptrack is full),
// GNTST_general_error (the entry is not GTF_permit_access for ld, is
// sub-page, is read-only and a writable map was asked, is pinned by another
// domain, or a pin count would overflow; the host mapping failed),
// GNTST_bad_page (the entry names a frame its granter does not own), and
// whatever the Mapper returns.
func (ts *Tables) MapGrantRef(ld abi.DomID, op *MapOp) {
	op.Handle, op.DevBusAddr = 0, 0
	op.Status = ts.mapGrantRef(ld, op)
}

func (ts *Tables) mapGrantRef(ld abi.DomID, op *MapOp) Status {
	if op.Flags&(mapDevice|mapHost) == 0 {
		return GNTST_bad_gntref
	}
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	rt := ts.tables.get(op.Dom)
	if rt == nil {
		return GNTST_bad_domain
	}
	lt := ts.tables.get(ld)
	if lt == nil {
		return GNTST_general_error
	}
	lockorder.Lock(&lt.mu, &rt.mu, lt.dom, rt.dom)
	defer lockorder.Unlock(&lt.mu, &rt.mu)

	h := lt.allocHandle()
	if h == noHandle {
		return GNTST_no_device_space
	}
	if op.Ref >= Ref(rt.nrEntries()) {
		lt.freeHandle(h)
		return GNTST_bad_gntref
	}
	act := &rt.active[op.Ref]
	readonly := op.Flags&mapReadonly != 0
	if act.pin != 0 && (act.domid != ld || act.pin&pinOverflowMask != 0 || act.subPage) {
		lt.freeHandle(h)
		return GNTST_general_error
	}

	// Take the flags and, on first pin, resolve the frame. setStatus may
	// have set GTF_writing (or GTF_reading) that a later failure must
	// clear again: fail() does, using the same rule as unmap.
	fail := func(st Status) Status {
		ts.releaseFlags(rt, op.Ref, readonly)
		lt.freeHandle(h)
		return st
	}
	if act.pin == 0 || (!readonly && act.pin&pinWriteMask == 0) {
		frame, st := ts.setStatus(rt, op.Ref, act, ld, readonly, true)
		if st != GNTST_okay {
			lt.freeHandle(h)
			return st
		}
		if act.pin == 0 {
			mfn, st := ts.frames.GetFrame(rt.dom, uint64(frame), !readonly)
			if st != GNTST_okay {
				return fail(st)
			}
			// That reference belongs to the first mapping kind; take the
			// second one below.
			*act = activeEntry{domid: ld, frame: frame, mfn: mfn, length: mm.PageSize}
			if kinds(op.Flags) == 2 {
				if st := ts.getAgain(rt, act, !readonly); st != GNTST_okay {
					ts.frames.PutFrame(rt.dom, mfn, !readonly)
					return fail(GNTST_general_error)
				}
			}
			return ts.finishMap(lt, rt, h, op)
		}
	}
	// Already pinned by ld: one more reference per kind on the same frame.
	// Failing that (the granter no longer owns the frame, or it cannot be
	// written) is Xen's "could not pin": GNTST_general_error.
	got := 0
	for got < kinds(op.Flags) {
		if st := ts.getAgain(rt, act, !readonly); st != GNTST_okay {
			for ; got > 0; got-- {
				ts.frames.PutFrame(rt.dom, act.mfn, !readonly)
			}
			return fail(GNTST_general_error)
		}
		got++
	}
	return ts.finishMap(lt, rt, h, op)
}

// getAgain takes one more page reference on the frame act already
// resolved; the frame must still belong to the granter and be the same.
// It returns GetFrame's status, or GNTST_general_error for a different
// frame; callers translate failures as Xen does at that point.
func (ts *Tables) getAgain(rt *Table, act *activeEntry, writable bool) Status {
	mfn, st := ts.frames.GetFrame(rt.dom, act.frame, writable)
	if st != GNTST_okay {
		return st
	}
	if mfn != act.mfn {
		ts.frames.PutFrame(rt.dom, mfn, writable)
		return GNTST_general_error
	}
	return GNTST_okay
}

// finishMap adds the pins, installs the host mapping and fills the maptrack
// slot. The frame references for every kind are held. Both tables locked.
func (ts *Tables) finishMap(lt, rt *Table, h uint32, op *MapOp) Status {
	act := &rt.active[op.Ref]
	readonly := op.Flags&mapReadonly != 0
	act.pin += pinIncs(op.Flags)
	if op.Flags&mapHost != 0 {
		if st := ts.mapper.MapGrant(lt.dom, op.HostAddr, act.mfn, op.Flags); st != GNTST_okay {
			if st > 0 || !st.Valid() {
				st = GNTST_general_error
			}
			mfn := act.mfn
			act.pin -= pinIncs(op.Flags)
			for i := kinds(op.Flags); i > 0; i-- {
				ts.frames.PutFrame(rt.dom, mfn, !readonly)
			}
			ts.releaseFlags(rt, op.Ref, readonly)
			lt.freeHandle(h)
			return st
		}
	}
	lt.maptrack[h] = mapping{flags: op.Flags, ref: op.Ref, dom: rt.dom, next: noHandle}
	op.Handle = Handle(h)
	op.DevBusAddr = uint64(act.mfn.Addr())
	return GNTST_okay
}

// UnmapGrantRef is one GNTTABOP_unmap_grant_ref element issued by domain
// ld. It removes the host mapping (if op.HostAddr is non-zero and the
// mapping has one, through the Mapper, which checks the address maps the
// frame) and the device mapping (if op.DevBusAddr is non-zero), drops the
// matching pins and page references, clears GTF_writing in the granter's
// entry when the last writable pin goes and GTF_reading when the last pin
// goes, and frees the handle once neither kind is left. Removing a kind the
// mapping no longer has does nothing and is GNTST_okay, as in Xen, so
// unmapping twice never drops a reference twice (XSA-224).
//
// Statuses: GNTST_bad_handle (beyond the maptrack, or a free slot: for
// instance the second unmap of a single-kind mapping), GNTST_general_error
// (op.DevBusAddr non-zero and not the frame's address; the Mapper's
// failure).
func (ts *Tables) UnmapGrantRef(ld abi.DomID, op *UnmapOp) {
	op.Status = ts.unmapGrantRef(ld, op)
}

func (ts *Tables) unmapGrantRef(ld abi.DomID, op *UnmapOp) Status {
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	lt := ts.tables.get(ld)
	if lt == nil {
		return GNTST_bad_handle
	}
	lt.mu.Lock()
	if uint64(op.Handle) >= uint64(len(lt.maptrack)) || lt.maptrack[op.Handle].flags == 0 {
		lt.mu.Unlock()
		return GNTST_bad_handle
	}
	dom := lt.maptrack[op.Handle].dom
	lt.mu.Unlock()
	rt := ts.tables.get(dom)
	if rt == nil {
		// Destroy refuses while a grant is pinned, and a live maptrack
		// slot holds a pin.
		panic(fmt.Sprintf("grant: d%d handle %#x names d%d, which has no grant table", ld, op.Handle, dom))
	}
	lockorder.Lock(&lt.mu, &rt.mu, lt.dom, rt.dom)
	defer lockorder.Unlock(&lt.mu, &rt.mu)
	// Another unmap may have raced between the two lockings.
	m := lt.maptrack[op.Handle]
	if m.flags == 0 || m.dom != dom {
		return GNTST_bad_handle
	}
	if m.ref >= Ref(rt.nrEntries()) {
		panic(fmt.Sprintf("grant: d%d handle %#x ref %#x beyond d%d's table", ld, op.Handle, m.ref, dom))
	}
	act := &rt.active[m.ref]
	if op.DevBusAddr != 0 && op.DevBusAddr != uint64(act.mfn.Addr()) {
		return GNTST_general_error
	}
	var done uint32
	if op.HostAddr != 0 && m.flags&mapHost != 0 {
		if st := ts.mapper.UnmapGrant(ld, op.HostAddr, act.mfn, m.flags); st != GNTST_okay {
			if st > 0 || !st.Valid() {
				st = GNTST_general_error
			}
			return st
		}
		done |= mapHost
	}
	if op.DevBusAddr != 0 && m.flags&mapDevice != 0 {
		done |= mapDevice
	}
	if done == 0 {
		return GNTST_okay
	}
	done |= m.flags & mapReadonly
	lt.maptrack[op.Handle].flags &^= done &^ mapReadonly
	if lt.maptrack[op.Handle].flags&(mapDevice|mapHost) == 0 {
		lt.freeHandle(uint32(op.Handle))
	}
	ts.unpin(rt, m.ref, done)
	return GNTST_okay
}

// unpin drops the pins and page references of the mapping kinds in done
// (device_map, host_map, plus readonly if they were read-only) from entry
// ref of granter table rt and clears the flags they justified. Caller holds
// rt.mu.
func (ts *Tables) unpin(rt *Table, ref Ref, done uint32) {
	act := &rt.active[ref]
	inc := pinIncs(done)
	for _, k := range [...]struct{ bit, mask uint32 }{
		{pinDeviceRead, pinDeviceReadMask}, {pinDeviceWrite, pinDeviceWriteMask},
		{pinHostRead, pinHostReadMask}, {pinHostWrite, pinHostWriteMask},
	} {
		if inc&k.mask != 0 && act.pin&k.mask == 0 {
			panic(fmt.Sprintf("grant: d%d ref %#x pin %#x cannot drop %#x", rt.dom, ref, act.pin, inc))
		}
	}
	act.pin -= inc
	readonly := done&mapReadonly != 0
	for i := kinds(done); i > 0; i-- {
		ts.frames.PutFrame(rt.dom, act.mfn, !readonly)
	}
	ts.releaseFlags(rt, ref, readonly)
}
