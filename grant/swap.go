package grant

import (
	"fmt"

	"github.com/gohv/gohv/abi"
)

// SwapOp is one GNTTABOP_swap_grant_ref element (struct
// gnttab_swap_grant_ref).
type SwapOp struct {
	// In.
	RefA, RefB Ref
	// Out.
	Status Status
}

// SwapGrantRef is one GNTTABOP_swap_grant_ref element: domain caller
// exchanges two entries of its own table. Statuses, in Xen 4.17's order:
// GNTST_bad_gntref (either ref beyond the table), GNTST_okay for a ref
// swapped with itself, GNTST_eagain while either entry is pinned.
func (ts *Tables) SwapGrantRef(caller abi.DomID, op *SwapOp) {
	op.Status = ts.swapGrantRef(caller, op.RefA, op.RefB)
}

func (ts *Tables) swapGrantRef(caller abi.DomID, a, b Ref) Status {
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	t := ts.tables.get(caller)
	if t == nil {
		return GNTST_general_error
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if a >= Ref(t.nrEntries()) || b >= Ref(t.nrEntries()) {
		return GNTST_bad_gntref
	}
	if a == b {
		return GNTST_okay
	}
	if t.active[a].pin != 0 || t.active[b].pin != 0 {
		return GNTST_eagain
	}
	if t.version == 2 {
		ts.swapV2(t, a, b)
		return GNTST_okay
	}
	// The guest may write either entry meanwhile, as it may in Xen, which
	// copies them plainly; each 8-byte entry is still moved whole.
	wa, wb := ts.loadEntry(t, a), ts.loadEntry(t, b)
	var ba, bb [EntrySize]byte
	le.PutUint64(ba[:], wa)
	le.PutUint64(bb[:], wb)
	if !ts.mem.Write(t.entryAddr(a), bb[:]) || !ts.mem.Write(t.entryAddr(b), ba[:]) {
		panic(fmt.Sprintf("grant: d%d grant frame not in RAM", t.dom))
	}
	return GNTST_okay
}

// SizeofSwapOp is sizeof(struct gnttab_swap_grant_ref).
const SizeofSwapOp = 12

// Decode reads ref_a@0 ref_b@4 status@8.
func (op *SwapOp) Decode(b []byte) bool {
	if len(b) < SizeofSwapOp {
		return false
	}
	*op = SwapOp{RefA: Ref(le.Uint32(b[0:])), RefB: Ref(le.Uint32(b[4:])), Status: Status(le.Uint16(b[8:]))}
	return true
}

// Encode writes every field of op into b.
func (op *SwapOp) Encode(b []byte) bool {
	if len(b) < SizeofSwapOp {
		return false
	}
	le.PutUint32(b[0:], uint32(op.RefA))
	le.PutUint32(b[4:], uint32(op.RefB))
	le.PutUint16(b[10:], 0)
	return op.EncodeOut(b)
}

// EncodeOut writes status.
func (op *SwapOp) EncodeOut(b []byte) bool {
	if len(b) < SizeofSwapOp {
		return false
	}
	le.PutUint16(b[8:], uint16(op.Status))
	return true
}
