package mm_test

import (
	"testing"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/mm"
)

func TestRemovePage(t *testing.T) {
	e := newEnv(t)
	g := e.d1
	// A mapped frame: the allocation reference goes, the frame stays
	// until its mapping does.
	dropped, err := e.ft.RemovePage(g.data[3], 1, e.f)
	if err != 0 || !dropped {
		t.Fatalf("RemovePage mapped: %v %v", dropped, err)
	}
	if len(e.ft.TakeFreed()) != 0 {
		t.Fatal("mapped frame freed")
	}
	if v, _ := e.ft.M2P().Get(g.data[3]); v != mm.InvalidM2PEntry {
		t.Fatalf("M2P entry %#x after RemovePage", v)
	}
	// Again: the domain still owns it (mapped) but has given it up.
	if dropped, err := e.ft.RemovePage(g.data[3], 1, e.f); err != 0 || dropped {
		t.Fatalf("second RemovePage: %v %v", dropped, err)
	}
	if err := e.upd(g, nil, abi.MmuUpdate{Ptr: entry(g.l1, 3, 0), Val: 0}); err != 0 {
		t.Fatal(err)
	}
	if f := e.ft.TakeFreed(); len(f) != 1 || f[0] != g.data[3] {
		t.Fatalf("freed %v", f)
	}
	// Another domain's frame, a frame beyond the table, a pinned table.
	if _, err := e.ft.RemovePage(g.data[4], 2, e.f); err != abi.ENXIO {
		t.Fatalf("foreign frame: %v", err)
	}
	if _, err := e.ft.RemovePage(mm.MFN(e.frames+5), 1, e.f); err != abi.EINVAL {
		t.Fatalf("frame beyond the table: %v", err)
	}
	if _, err := e.ft.RemovePage(g.data[4], abi.DOMID_IO, e.f); err != abi.ENXIO {
		t.Fatalf("DOMID_IO: %v", err)
	}
	e.audit()
}

func TestRemoveSharedFrameRefused(t *testing.T) {
	e := newEnv(t)
	m, ok := e.alloc.Alloc()
	if !ok {
		t.Fatal("no frame")
	}
	if err := e.ft.Share(m, 1, true); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ft.RemovePage(m, 1, e.f); err != abi.EINVAL {
		t.Fatalf("RemovePage of a shared hypervisor frame: %v", err)
	}
	if pi := e.page(m); pi.Owner != 1 || !pi.Allocated || pi.Count != 1 {
		t.Fatalf("shared frame changed: %+v", pi)
	}
}

func TestSteal(t *testing.T) {
	e := newEnv(t)
	g := e.d1
	free, err := g.s.AllocFrame()
	if err != 0 {
		t.Fatal(err)
	}
	// Mapped, pinned table, foreign: refused, nothing changes.
	for _, c := range []struct {
		m   mm.MFN
		dom abi.DomID
	}{{g.data[0], 1}, {g.l4, 1}, {free, 2}, {free, abi.DOMID_IO}, {mm.MFN(e.frames + 1), 1}} {
		before := e.snap()
		if err := e.ft.Steal(c.m, c.dom); err != abi.EINVAL {
			t.Fatalf("Steal(%#x, d%d) = %v, want EINVAL", c.m, c.dom, err)
		}
		e.sameAs(before, "refused Steal")
	}
	if err := e.ft.Steal(free, 1); err != 0 {
		t.Fatalf("Steal: %v", err)
	}
	if pi := e.page(free); pi.Count != 0 || pi.Owner != abi.DOMID_INVALID {
		t.Fatalf("stolen frame: %+v", pi)
	}
	if len(e.ft.TakeFreed()) != 0 {
		t.Fatal("a stolen frame is the caller's, not the freed list's")
	}
	if err := e.ft.Assign(free, 1); err != nil {
		t.Fatalf("give back: %v", err)
	}
	e.audit()
}
