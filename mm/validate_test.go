package mm_test

import (
	"testing"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/mm"
)

// TestPinScatteredL1: pinning an L1 whose present entries sit at every
// kind of place the validation's scan treats apart (a group of eight's
// first, middle and last slot, single ones and runs, the table's first
// and last slot) takes a reference for each of them, and only them,
// writes each one's fix-up (G|U for a user mapping) and leaves the
// non-present entries' bits alone; unpinning drops them all; and a pin
// refused by the table's last entry changes nothing. A scan that skips a
// present entry, or a write-back that drops or misplaces one, fails here.
func TestPinScatteredL1(t *testing.T) {
	e := newEnv(t)
	g := e.d1
	slots := []int{0, 1, 2, 7, 8, 13, 15, 63, 64, 65, 66, 67, 200, 255, 256, 257, 300, 447, 448, 509, 510, 511}
	l1 := e.frame(g.s)
	data := map[int]mm.MFN{}
	for _, i := range slots {
		data[i] = e.frame(g.s)
		flags := uint64(pP | pU)
		if i%3 == 0 {
			flags |= pRW
		}
		e.put(l1, i, pte(data[i], flags))
	}
	const junk = 0x7ff0 // a non-present entry's bits are the guest's own
	for i := 0; i < 512; i++ {
		if _, ok := data[i]; !ok && i%5 == 0 {
			e.put(l1, i, junk)
		}
	}
	before := map[mm.MFN]mm.PageInfo{}
	for _, m := range data {
		before[m] = e.page(m)
	}
	if err := e.ext(g, nil, extOp(abi.MMUEXT_PIN_L1_TABLE, uint64(l1), 0)); err != 0 {
		t.Fatalf("pin: %v", err)
	}
	for i := 0; i < 512; i++ {
		m, ok := data[i]
		got := e.get(l1, i)
		if !ok {
			want := uint64(0)
			if i%5 == 0 {
				want = junk
			}
			if got != want {
				t.Errorf("slot %d (not present) = %#x, want %#x", i, got, want)
			}
			continue
		}
		flags := uint64(pP | pU | pG)
		wantType := before[m].TypeCount
		if i%3 == 0 {
			flags |= pRW
			wantType++
		}
		if want := pte(m, flags); got != want {
			t.Errorf("slot %d = %#x, want %#x", i, got, want)
		}
		if pi := e.page(m); pi.Count != before[m].Count+1 || pi.TypeCount != wantType {
			t.Errorf("slot %d: MFN %#x count %d type count %d, want %d and %d", i, m, pi.Count, pi.TypeCount, before[m].Count+1, wantType)
		}
	}
	e.audit()
	if err := e.ext(g, nil, extOp(abi.MMUEXT_UNPIN_TABLE, uint64(l1), 0)); err != 0 {
		t.Fatalf("unpin: %v", err)
	}
	for i, m := range data {
		if pi := e.page(m); pi.Count != before[m].Count || pi.TypeCount != before[m].TypeCount {
			t.Errorf("after unpin, slot %d: MFN %#x count %d type count %d, want %d and %d", i, m, pi.Count, pi.TypeCount, before[m].Count, before[m].TypeCount)
		}
	}
	e.audit()

	// The last entry maps a frame of another domain: the pin fails after
	// every other entry took its references, which it must give back.
	e.put(l1, 511, pte(e.d2.data[0], pP|pU))
	snap := e.snap()
	if err := e.ext(g, nil, extOp(abi.MMUEXT_PIN_L1_TABLE, uint64(l1), 0)); err == 0 {
		t.Fatal("pin of an L1 mapping another domain's frame succeeded")
	}
	e.sameAs(snap, "refused pin")
	e.audit()
}

// TestTypeChangeFlushFilter: a frame changing type is flushed for unless
// a type-change flush was asked for after its type count last dropped to
// zero (Xen's tlbflush_filter). The test fails if the flush is skipped
// without one since the drop (a stale translation would survive), or if
// it is made again after one.
func TestTypeChangeFlushFilter(t *testing.T) {
	e := newEnv(t)
	g := e.d1
	a, b := e.frame(g.s), e.frame(g.s)
	const slot = 20 // a free slot of g's L1
	flushes := func() int {
		n := 0
		for _, l := range e.f.Log {
			if l == "tlb all" {
				n++
			}
		}
		return n
	}
	do := func(what string, wantFlush bool, op func() abi.Errno) {
		t.Helper()
		before := flushes()
		if err := op(); err != 0 {
			t.Fatalf("%s: %v", what, err)
		}
		if got := flushes() - before; got != map[bool]int{false: 0, true: 1}[wantFlush] {
			t.Fatalf("%s: %d type-change flushes, want flush %v (log %v)", what, got, wantFlush, e.f.Log)
		}
		e.audit()
	}
	pin := func(m mm.MFN) func() abi.Errno {
		return func() abi.Errno { return e.ext(g, nil, extOp(abi.MMUEXT_PIN_L1_TABLE, uint64(m), 0)) }
	}
	unpin := func(m mm.MFN) func() abi.Errno {
		return func() abi.Errno { return e.ext(g, nil, extOp(abi.MMUEXT_UNPIN_TABLE, uint64(m), 0)) }
	}
	mapRW := func(m mm.MFN) func() abi.Errno {
		return func() abi.Errno {
			return e.upd(g, nil, abi.MmuUpdate{Ptr: entry(g.l1, slot, abi.MMU_NORMAL_PT_UPDATE), Val: pte(m, pP|pRW|pU)})
		}
	}
	unmap := func() abi.Errno {
		return e.upd(g, nil, abi.MmuUpdate{Ptr: entry(g.l1, slot, abi.MMU_NORMAL_PT_UPDATE), Val: 0})
	}

	do("pin fresh a", false, pin(a)) // an untyped frame had no use to flush
	do("unpin a", false, unpin(a))
	do("map a writable", true, mapRW(a)) // L1 -> writable, nothing flushed since the unpin
	do("unmap a", false, unmap)
	do("pin fresh b", false, pin(b))
	do("unpin b", false, unpin(b))
	do("map b writable", true, mapRW(b)) // flushes after a's drop
	do("pin a", false, pin(a))           // writable -> L1: b's flush came after a's drop
	do("unpin a", false, unpin(a))
	do("unmap b", false, unmap)
	do("pin b", true, pin(b)) // b dropped after the last flush
	do("unpin b", false, unpin(b))

	// 256 flushes later the byte stamp wraps to its drop's value: the
	// filter must flush (it cannot tell 256 from none).
	do("map a writable", false, mapRW(a)) // b's pin flushed after a's unpin
	do("unmap a", false, unmap)
	c := e.frame(g.s)
	do("pin fresh c", false, pin(c))
	do("unpin c", false, unpin(c))
	for i := 0; i < 256; i++ {
		// c alternates L1 and writable, each change after its own drop.
		if i%2 == 0 {
			do("map c writable", true, mapRW(c))
			do("unmap c", false, unmap)
		} else {
			do("pin c", true, pin(c))
			do("unpin c", false, unpin(c))
		}
	}
	do("pin a after 256 flushes", true, pin(a))
	do("unpin a", false, unpin(a))
}

// TestFailedPinRestoresManyTypes: a pin that retypes more frames than
// the operation keeps inline (six L1s, each writable before) and then
// fails gives every one its old type back.
func TestFailedPinRestoresManyTypes(t *testing.T) {
	e := newEnv(t)
	g := e.d1
	const slot = 20 // a free slot of g's L1
	l2 := e.frame(g.s)
	for i := 0; i < 6; i++ {
		m := e.frame(g.s)
		// Mapped writable once: type writable, type count zero.
		if err := e.upd(g, nil, abi.MmuUpdate{Ptr: entry(g.l1, slot, abi.MMU_NORMAL_PT_UPDATE), Val: pte(m, pP|pRW|pU)}); err != 0 {
			t.Fatal(err)
		}
		if err := e.upd(g, nil, abi.MmuUpdate{Ptr: entry(g.l1, slot, abi.MMU_NORMAL_PT_UPDATE), Val: 0}); err != 0 {
			t.Fatal(err)
		}
		if pi := e.page(m); pi.Type != mm.PageTypeWritable || pi.TypeCount != 0 {
			t.Fatalf("frame %d: %+v, want writable with type count 0", i, pi)
		}
		e.put(l2, i, pte(m, pP|pRW))
	}
	e.put(l2, 6, pte(e.d2.l1, pP|pRW)) // another domain's table: refused
	snap := e.snap()
	if err := e.ext(g, nil, extOp(abi.MMUEXT_PIN_L2_TABLE, uint64(l2), 0)); err == 0 {
		t.Fatal("pin of an L2 naming another domain's L1 succeeded")
	}
	e.sameAs(snap, "refused pin")
	e.audit()
}
