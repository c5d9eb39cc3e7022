package hv

import (
	"slices"
	"testing"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/hypercall"
	"github.com/gohv/gohv/mm"
)

func TestMemoryWorkers(t *testing.T) {
	m, d, _, _, data := testGuest(t, true)
	ft, alloc := m.cfg.Frames, m.cfg.Alloc
	d.SetMaxPages(12)
	if d.MaxPages() != 12 || d.TotPages() != 0 {
		t.Fatalf("max %d tot %d", d.MaxPages(), d.TotPages())
	}
	// An order-2 extent below 16 MiB: aligned, the domain's, zeroed,
	// counted; M2P invalid until set.
	m.cfg.Mem.Write(mm.MFN(0x800).Addr(), []byte{0xaa})
	first, ok := d.AllocExtent(2, 24)
	if !ok || first%4 != 0 || first.Addr()+4*mm.PageSize > 1<<24 || d.TotPages() != 4 {
		t.Fatalf("AllocExtent: %#x %v tot %d", first, ok, d.TotPages())
	}
	for k := range mm.MFN(4) {
		if pi, _ := ft.Page(first + k); pi.Owner != 0 || !pi.Allocated {
			t.Fatalf("frame %#x: %+v", first+k, pi)
		}
		var b [1]byte
		m.cfg.Mem.Read((first + k).Addr(), b[:])
		if b[0] != 0 {
			t.Fatalf("frame %#x not zeroed", first+k)
		}
	}
	d.SetM2P(first, 0x77)
	if v, _ := ft.M2P().Get(first); v != 0x77 {
		t.Fatalf("M2P %#x", v)
	}
	// The limit: 8 more pages fit, the ninth does not.
	if _, ok := d.AllocExtent(3, 0); !ok {
		t.Fatal("extent within max_pages refused")
	}
	if _, ok := d.AllocExtent(0, 0); ok {
		t.Fatal("extent beyond max_pages given")
	}
	// Give a frame back: it returns to the allocator.
	free := alloc.FreeFrames()
	if e := d.RemovePage(first + 1); e != 0 || d.TotPages() != 11 || alloc.FreeFrames() != free+1 {
		t.Fatalf("RemovePage: %v tot %d free %d/%d", e, d.TotPages(), alloc.FreeFrames(), free)
	}
	if e := d.RemovePage(first + 1); e != abi.ENXIO {
		t.Fatalf("RemovePage again: %v", e)
	}

	// Exchange two unmapped frames for one order-1 extent below 16 MiB.
	in := []mm.MFN{first + 2, first + 3}
	free = alloc.FreeFrames()
	out, e := d.ExchangeChunk(in, 0, 1, 1, 24)
	if e != 0 || len(out) != 1 || out[0]%2 != 0 || d.TotPages() != 11 || alloc.FreeFrames() != free {
		t.Fatalf("ExchangeChunk: %v %v tot %d free %d/%d", out, e, d.TotPages(), alloc.FreeFrames(), free)
	}
	for _, f := range in {
		if !alloc.IsFree(f) {
			t.Fatalf("exchanged frame %#x not free", f)
		}
	}
	// A mapped frame cannot be exchanged; nothing changes.
	before := alloc.FreeFrames()
	if _, e := d.ExchangeChunk([]mm.MFN{out[0], data}, 0, 1, 1, 0); e != abi.EINVAL {
		t.Fatalf("exchange of a mapped frame: %v", e)
	}
	if pi, _ := ft.Page(out[0]); pi.Owner != 0 || !pi.Allocated || alloc.FreeFrames() != before {
		t.Fatalf("failed exchange changed things: %+v", pi)
	}
	// Nothing free below 1 MiB (reserved): -ENOMEM, the frames stay.
	if _, e := d.ExchangeChunk([]mm.MFN{out[0]}, 1, 1, 1, 20); e != abi.ENOMEM {
		t.Fatalf("exchange below 1 MiB: %v", e)
	}
	if pi, _ := ft.Page(out[0] + 1); pi.Owner != 0 || !pi.Allocated || alloc.FreeFrames() != before {
		t.Fatalf("failed exchange changed things: %+v", pi)
	}
	if err := ft.Audit([]mm.MFN{d.VCPU(0).tables.Kernel}, nil); err != nil {
		t.Fatal(err)
	}
}

func TestMachineFacts(t *testing.T) {
	m, d, _, _, _ := testGuest(t, true)
	first, n := m.cfg.Frames.M2P().Frames()
	got := d.M2PFrames(100)
	if want := int((n + 511) / 512); len(got) != want || got[0] != first {
		t.Fatalf("M2P frames %v (M2P %#x+%d)", got, first, n)
	}
	if len(d.M2PFrames(0)) != 0 {
		t.Fatal("max 0")
	}
	if d.MaxRAMPage() != 8192 {
		t.Fatalf("max_page %d", d.MaxRAMPage())
	}
	m.cfg.HostMemoryMap = []hypercall.E820Entry{
		{Addr: 0x100000, Size: 0x1f00000, Type: hypercall.E820RAM},
		{Addr: 0, Size: 0x9fc00, Type: hypercall.E820RAM},
		{Addr: 0xf0000, Size: 0x20000, Type: hypercall.E820Reserved}, // overlaps the next
		{Addr: 0x80000, Size: 0, Type: hypercall.E820Reserved},
	}
	want := []hypercall.E820Entry{
		{Addr: 0, Size: 0x9fc00, Type: hypercall.E820RAM},
		{Addr: 0xa0000, Size: 0x50000, Type: hypercall.E820Unusable},
		{Addr: 0xf0000, Size: 0x20000, Type: hypercall.E820Reserved},
		{Addr: 0x110000, Size: 0x1ef0000, Type: hypercall.E820RAM},
	}
	if got := d.MachineMemoryMap(); !slices.Equal(got, want) {
		t.Fatalf("map %x\nwant %x", got, want)
	}
}
