package evtchn

import (
	"testing"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/mm"
	"github.com/gohv/gohv/mm/mmtest"
)

// TestFrameTableFrames runs the FIFO frame adapter against mm's real
// frame table: a domain lends only its own frames, each held frame has a
// writable type reference (so it cannot become a page table meanwhile,
// and a page table cannot be lent), and every reference comes back.
func TestFrameTableFrames(t *testing.T) {
	const frames = 512 // the low 1 MiB belongs to DOMID_IO
	mem := mmtest.NewMemory(frames)
	alloc := mm.NewAllocator([]mm.Range{{Start: 0, End: frames * mm.PageSize}}, []mm.Range{{Start: 0, End: 1 << 20}})
	m2pFrame, _ := alloc.Alloc()
	m2p, err := mm.NewM2P(mem, m2pFrame, frames)
	if err != nil {
		t.Fatal(err)
	}
	ft, err := mm.NewFrameTable(mm.FrameTableConfig{Mem: mem, Alloc: alloc, M2P: m2p,
		XenL4Slots: func(mm.MFN) (s [mm.XenL4SlotCount]uint64) { return s }})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []abi.DomID{1, 2} {
		if _, err := mm.NewSpace(ft, d, nil); err != nil {
			t.Fatal(err)
		}
	}
	own := func(d abi.DomID) mm.MFN {
		m, ok := alloc.Alloc()
		if !ok {
			t.Fatal("out of frames")
		}
		if err := ft.Assign(m, d); err != nil {
			t.Fatal(err)
		}
		return m
	}
	a, b, pt := own(1), own(2), own(1)
	if e := ft.GetPageType(pt, mm.PageTypeL1, nil); e != 0 {
		t.Fatalf("typing an L1: %v", e)
	}
	f := FrameTableFrames{FT: ft}
	count := func(m mm.MFN) (uint32, uint32) { pi, _ := ft.Page(m); return pi.Count, pi.TypeCount }
	for _, tc := range []struct {
		name string
		gfn  uint64
		ok   bool
	}{
		{"own frame", uint64(a), true},
		{"other domain's frame", uint64(b), false},
		{"I/O frame", 0x10, false},
		{"beyond the frame table", frames, false},
		{"huge gfn", 1 << 63, false},
		{"page table", uint64(pt), false},
	} {
		var c0, t0 uint32
		if tc.gfn < frames {
			c0, t0 = count(mm.MFN(tc.gfn))
		}
		m, ok := f.GetWritable(1, tc.gfn)
		if ok != tc.ok {
			t.Errorf("%s: ok %v", tc.name, ok)
			continue
		}
		if !ok {
			if tc.gfn < frames {
				if c1, t1 := count(mm.MFN(tc.gfn)); c1 != c0 || t1 != t0 {
					t.Errorf("%s: failed get changed counts %d/%d -> %d/%d", tc.name, c0, t0, c1, t1)
				}
			}
			continue
		}
		if c1, t1 := count(m); m != mm.MFN(tc.gfn) || c1 != c0+1 || t1 != t0+1 {
			t.Errorf("%s: mfn %#x counts %d/%d -> %d/%d", tc.name, m, c0, t0, c1, t1)
		}
		// While lent, the frame cannot become a page table.
		if e := ft.GetPageType(m, mm.PageTypeL1, nil); e == 0 {
			t.Errorf("%s: a lent frame became an L1", tc.name)
		}
		f.PutWritable(1, m)
		if c2, t2 := count(m); c2 != c0 || t2 != t0 {
			t.Errorf("%s: put left counts %d/%d, want %d/%d", tc.name, c2, t2, c0, t0)
		}
	}
}
