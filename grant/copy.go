package grant

import (
	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/mm"
)

// CopyPtr is one side of a copy (struct gnttab_copy_ptr).
type CopyPtr struct {
	// U is the union u: the grant reference in its low 32 bits when the
	// op's GNTCOPY_*_gref flag for this side is set, otherwise u.gmfn, a
	// frame of the caller's own.
	U      uint64
	Dom    abi.DomID // owner; must be DOMID_SELF unless U is a grant ref
	Offset uint16    // byte offset in the page
}

// Ref is U read as u.ref.
func (p CopyPtr) Ref() Ref { return Ref(uint32(p.U)) }

// CopyOp is one GNTTABOP_copy element (struct gnttab_copy).
type CopyOp struct {
	// In.
	Source, Dest CopyPtr
	Len          uint16
	Flags        uint16 // GNTCOPY_source_gref, GNTCOPY_dest_gref
	// Out.
	Status Status
}

// copyBuf is one claimed side of a copy (Xen's struct gnttab_copy_buf).
type copyBuf struct {
	t        *Table // granter's table when by grant reference, else nil
	dom      abi.DomID
	ref      Ref
	mfn      mm.MFN
	writable bool
	held     bool // a pin (by grant) or page reference (by frame) is held
	// start and length bound the bytes the copy may touch: a v2
	// sub-page grant's range, else the whole page.
	start, length uint16
}

// Copy is one GNTTABOP_copy element issued by domain ld: it copies op.Len
// bytes from the source to the destination, each named either by a grant
// reference of its domain (granted to ld) or by one of ld's own frames.
// Around the copy the source grant is pinned for reading (GTF_reading) and
// the destination for writing (GTF_reading|GTF_writing); the flags are
// cleared afterwards unless a mapping still justifies them.
//
// Statuses, in Xen 4.17's order: GNTST_permission_denied (a side given by
// frame that does not name DOMID_SELF), GNTST_bad_domain, then claiming the
// source and then the destination (GNTST_bad_gntref, GNTST_general_error,
// GNTST_bad_page as for map; a destination frame that cannot be written is
// GNTST_general_error; a grant already pinned whose frame its granter no
// longer owns is GNTST_bad_domain), then GNTST_bad_copy_arg when offset+len crosses
// the end of either page. Len 0 succeeds and copies nothing.
func (ts *Tables) Copy(ld abi.DomID, op *CopyOp) {
	op.Status = ts.copy(ld, op)
}

func (ts *Tables) copy(ld abi.DomID, op *CopyOp) Status {
	ts.mu.RLock()
	st := ts.copyLocked(ld, op)
	ts.mu.RUnlock()
	return st
}

// copyLocked is copy with ts.mu read-held. (No defers: with its many
// returns they would not be open-coded, and this is the grant data path.)
func (ts *Tables) copyLocked(ld abi.DomID, op *CopyOp) Status {
	srcGref := op.Flags&copySourceGref != 0
	dstGref := op.Flags&copyDestGref != 0
	var src, dst copyBuf
	if st := ts.copyDomain(ld, op.Source, srcGref, &src); st != GNTST_okay {
		return st
	}
	if st := ts.copyDomain(ld, op.Dest, dstGref, &dst); st != GNTST_okay {
		return st
	}

	if st := ts.claim(ld, op.Source, srcGref, false, &src); st != GNTST_okay {
		return st
	}
	st := ts.claim(ld, op.Dest, dstGref, true, &dst)
	if st == GNTST_okay {
		st = ts.copyBytes(op, &src, &dst)
		ts.releaseBuf(&dst)
	}
	ts.releaseBuf(&src)
	return st
}

// copyBytes moves the bytes once both sides are claimed.
func (ts *Tables) copyBytes(op *CopyOp, src, dst *copyBuf) Status {
	if int(op.Source.Offset)+int(op.Len) > mm.PageSize || int(op.Dest.Offset)+int(op.Len) > mm.PageSize {
		return GNTST_bad_copy_arg
	}
	// A v2 sub-page grant bounds the bytes (Xen's "copy source/dest out
	// of bounds", GNTST_general_error); other sides cover the page.
	if op.Source.Offset < src.start || int(op.Source.Offset)+int(op.Len) > int(src.start)+int(src.length) ||
		op.Dest.Offset < dst.start || int(op.Dest.Offset)+int(op.Len) > int(dst.start)+int(dst.length) {
		return GNTST_general_error
	}
	if !ts.mem.Copy(dst.mfn.Addr()+mm.Maddr(op.Dest.Offset), src.mfn.Addr()+mm.Maddr(op.Source.Offset), uint64(op.Len)) {
		return GNTST_general_error
	}
	return GNTST_okay
}

// copyDomain resolves one side's domain (Xen's gnttab_copy_lock_domain):
// only DOMID_SELF may be named by frame.
func (ts *Tables) copyDomain(ld abi.DomID, p CopyPtr, gref bool, b *copyBuf) Status {
	if !gref {
		if p.Dom != abi.DOMID_SELF {
			return GNTST_permission_denied
		}
		b.dom = ld
		return GNTST_okay
	}
	t := ts.lookup(ld, p.Dom)
	if t == nil {
		return GNTST_bad_domain
	}
	b.t, b.dom = t, t.dom
	return GNTST_okay
}

// claim pins one side for the copy: a grant through acquireForCopy, a
// frame of ld's own through Frames.GetFrame.
func (ts *Tables) claim(ld abi.DomID, p CopyPtr, gref, writable bool, b *copyBuf) Status {
	b.writable = writable
	if !gref {
		mfn, st := ts.frames.GetFrame(ld, p.U, writable)
		if st != GNTST_okay {
			return st
		}
		b.mfn, b.held, b.start, b.length = mfn, true, 0, mm.PageSize
		return GNTST_okay
	}
	b.ref = p.Ref()
	b.t.mu.Lock()
	defer b.t.mu.Unlock()
	mfn, st := ts.acquireForCopy(b.t, b.ref, ld, !writable)
	if st != GNTST_okay {
		return st
	}
	act := &b.t.active[b.ref]
	b.mfn, b.held, b.start, b.length = mfn, true, act.start, act.length
	return GNTST_okay
}

// acquireForCopy pins entry ref of rt for a copy by ld (Xen's
// acquire_grant_for_copy for a v1 table) and returns its frame with one
// page reference held. Caller holds rt.mu.
func (ts *Tables) acquireForCopy(rt *Table, ref Ref, ld abi.DomID, readonly bool) (mm.MFN, Status) {
	if ref >= Ref(rt.nrEntries()) {
		return 0, GNTST_bad_gntref
	}
	act := &rt.active[ref]
	if act.pin != 0 && (act.domid != ld || act.pin&pinOverflowMask != 0) {
		return 0, GNTST_general_error
	}
	if rt.version == 2 && entryFlags(ts.loadEntry(rt, ref))&gtfTypeMask == gtfTransitive {
		// Transitive grants are refused as Xen refuses them when
		// transitivity is not allowed: the status bits are set and
		// cleared again, and the copy fails.
		if act.pin == 0 || (!readonly && act.pin&pinWriteMask == 0) {
			if _, st := ts.setStatus(rt, ref, act, ld, readonly, false); st != GNTST_okay {
				return 0, st
			}
		}
		ts.releaseFlags(rt, ref, readonly)
		return 0, GNTST_general_error
	}
	if act.pin == 0 || (!readonly && act.pin&pinWriteMask == 0) {
		frame, st := ts.setStatus(rt, ref, act, ld, readonly, false)
		if st != GNTST_okay {
			return 0, st
		}
		if act.pin == 0 {
			mfn, st := ts.frames.GetFrame(rt.dom, frame, !readonly)
			if st != GNTST_okay {
				ts.releaseFlags(rt, ref, readonly)
				return 0, st
			}
			*act = activeEntry{domid: ld, frame: frame, mfn: mfn, length: mm.PageSize}
			if w := ts.loadEntry(rt, ref); rt.version == 2 && entryFlags(w)&gtfSubPage != 0 {
				act.subPage, act.start, act.length = true, entryPageOff(w), entryLength(w)
			}
		} else if st := ts.getAgain(rt, act, !readonly); st != GNTST_okay {
			ts.releaseFlags(rt, ref, readonly)
			return 0, st
		}
	} else if st := ts.getAgain(rt, act, !readonly); st != GNTST_okay {
		// Xen: the pinned frame's owner is no longer the granter.
		return 0, GNTST_bad_domain
	}
	if readonly {
		act.pin += pinHostRead
	} else {
		act.pin += pinHostWrite
	}
	return act.mfn, GNTST_okay
}

// releaseBuf undoes claim (Xen's release_grant_for_copy and put_page).
func (ts *Tables) releaseBuf(b *copyBuf) {
	if !b.held {
		return
	}
	b.held = false
	if b.t == nil {
		ts.frames.PutFrame(b.dom, b.mfn, b.writable)
		return
	}
	b.t.mu.Lock()
	defer b.t.mu.Unlock()
	act := &b.t.active[b.ref]
	if b.writable {
		act.pin -= pinHostWrite
	} else {
		act.pin -= pinHostRead
	}
	ts.frames.PutFrame(b.dom, b.mfn, b.writable)
	ts.releaseFlags(b.t, b.ref, !b.writable)
}
