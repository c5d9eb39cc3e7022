package grant

import (
	"testing"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/mm"
	"github.com/gohv/gohv/mm/mmtest"
)

// TestFrameTableFrames runs the adapter against mm's real frame table: a
// domain reaches only its own frames, a writable use takes the writable
// type (and so is refused for a frame with another type in use), and every
// reference comes back.
func TestFrameTableFrames(t *testing.T) {
	const frames = 512 // 2 MiB: the low 1 MiB belongs to DOMID_IO
	mem := mmtest.NewMemory(frames)
	alloc := mm.NewAllocator([]mm.Range{{Start: 0, End: frames * mm.PageSize}}, []mm.Range{{Start: 0, End: 1 << 20}})
	m2pFrame, ok := alloc.Alloc()
	if !ok {
		t.Fatal("no frame for the M2P")
	}
	m2p, err := mm.NewM2P(mem, m2pFrame, frames)
	if err != nil {
		t.Fatal(err)
	}
	ft, err := mm.NewFrameTable(mm.FrameTableConfig{Mem: mem, Alloc: alloc, M2P: m2p,
		XenL4Slots: func(mm.MFN) (s [mm.XenL4SlotCount]uint64) { return s }})
	if err != nil {
		t.Fatal(err)
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
	a, b := own(d1), own(d2)
	shared, _ := alloc.Alloc()
	if err := ft.Share(shared, d1, false); err != nil {
		t.Fatal(err)
	}
	f := FrameTableFrames{FT: ft}
	count := func(m mm.MFN) (uint32, uint32) { pi, _ := ft.Page(m); return pi.Count, pi.TypeCount }

	for _, tc := range []struct {
		name     string
		d        abi.DomID
		frame    uint64
		writable bool
		want     Status
	}{
		{"own frame", d1, uint64(a), false, GNTST_okay},
		{"own frame writable", d1, uint64(a), true, GNTST_okay},
		{"other's frame", d1, uint64(b), false, GNTST_bad_page},
		{"I/O frame", d1, 0x10, false, GNTST_bad_page},
		{"beyond the table", d1, frames, false, GNTST_bad_page},
		{"huge", d1, 1 << 63, true, GNTST_bad_page},
		{"read-only shared frame", d1, uint64(shared), false, GNTST_okay},
		{"read-only shared frame writable", d1, uint64(shared), true, GNTST_general_error},
	} {
		c0, t0 := count(mm.MFN(tc.frame))
		m, st := f.GetFrame(tc.d, tc.frame, tc.writable)
		if st != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, st, tc.want)
			continue
		}
		c1, t1 := count(mm.MFN(tc.frame))
		if st != GNTST_okay {
			if c1 != c0 || t1 != t0 {
				t.Errorf("%s: failed get changed counts %d/%d -> %d/%d", tc.name, c0, t0, c1, t1)
			}
			continue
		}
		wantT := t0
		if tc.writable {
			wantT++
		}
		if m != mm.MFN(tc.frame) || c1 != c0+1 || t1 != wantT {
			t.Errorf("%s: mfn %#x counts %d/%d -> %d/%d", tc.name, m, c0, t0, c1, t1)
		}
		f.PutFrame(tc.d, m, tc.writable)
		if c2, t2 := count(m); c2 != c0 || t2 != t0 {
			t.Errorf("%s: put left counts %d/%d, want %d/%d", tc.name, c2, t2, c0, t0)
		}
	}
}
