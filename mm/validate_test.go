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
