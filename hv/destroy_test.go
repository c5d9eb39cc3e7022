package hv

import (
	"errors"
	"testing"
	"time"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/evtchn"
	"github.com/gohv/gohv/mm"
)

// ownedBy counts the frames the frame table records as owned by dom.
func ownedBy(ft *mm.FrameTable, dom abi.DomID) int {
	n := 0
	for f := mm.MFN(0); f < ft.Len(); f++ {
		if pi, ok := ft.Page(f); ok && pi.Owner == dom {
			n++
		}
	}
	return n
}

// buildDomU creates domain id with two vCPUs and builds it as dom0 is
// built (hv/build's layout, start_info, P2M, validated and pinned page
// tables) in pages frames, then gives it state that holds references:
// a GDT frame on vCPU 0 and an interdomain event channel to dom0.
func buildDomU(t *testing.T, m *Machine, id abi.DomID, pages int) (d *Domain, gdt mm.MFN, peer evtchn.Port) {
	t.Helper()
	d, err := m.CreateDomain(DomainConfig{ID: id, VCPUs: 2})
	if err != nil {
		t.Fatal(err)
	}
	mfns := make([]mm.MFN, pages)
	for i := range mfns {
		f, ok := m.cfg.Alloc.Alloc()
		if !ok {
			t.Fatal("out of frames")
		}
		if err := m.cfg.Frames.Assign(f, id); err != nil {
			t.Fatal(err)
		}
		mfns[i] = f
	}
	if _, err := d.BuildDom0(testKernel(), mfns, "console=hvc0"); err != nil {
		t.Fatal(err)
	}
	gdt, _ = m.cfg.Alloc.Alloc()
	if err := m.cfg.Frames.Assign(gdt, id); err != nil {
		t.Fatal(err)
	}
	v := d.VCPU(0)
	if e := v.pv.SetGDT([]mm.MFN{gdt}, 512, v.Flusher()); e != 0 {
		t.Fatalf("set_gdt: %v", e)
	}
	dom0 := m.Domain(0)
	p0, e := dom0.Events().AllocUnbound(0, id)
	if e != 0 {
		t.Fatal(e)
	}
	if _, e := d.Events().BindInterdomain(0, p0); e != 0 {
		t.Fatal(e)
	}
	return d, gdt, p0
}

// TestDestroyDomain1000: a domain built as dom0 is built, with a GDT, an
// interdomain event channel, a grant table and two vCPUs, is destroyed,
// 1,000 times over: each time the allocator's free-frame count returns
// exactly to where it started, the frame table shows no frame owned by
// the dead domain's id, and the peer's port is unbound again.
func TestDestroyDomain1000(t *testing.T) {
	m, fm, _ := testMachine(t)
	if _, err := m.CreateDomain(DomainConfig{ID: 0, VCPUs: 1, Hardware: true}); err != nil {
		t.Fatal(err)
	}
	const pages, id = 1024, abi.DomID(1)
	rounds := destroyRounds
	start := m.cfg.Alloc.FreeFrames()
	began := time.Now()
	var peak uint64
	for i := 0; i < rounds; i++ {
		d, gdt, p0 := buildDomU(t, m, id, pages)
		if used := start - m.cfg.Alloc.FreeFrames(); used > peak {
			peak = used
		}
		if pi, _ := m.cfg.Frames.Page(gdt); pi.Type != mm.PageTypeSegDesc || pi.TypeCount == 0 {
			t.Fatalf("round %d: GDT frame %+v", i, pi)
		}
		if err := m.DestroyDomain(id); err != nil {
			t.Fatalf("round %d: DestroyDomain: %v", i, err)
		}
		if free := m.cfg.Alloc.FreeFrames(); free != start {
			t.Fatalf("round %d: %d frames free, want %d: %d leaked", i, free, start, int64(start)-int64(free))
		}
		if n := ownedBy(m.cfg.Frames, id); n != 0 {
			t.Fatalf("round %d: %d frames still owned by d%d", i, n, id)
		}
		if m.Domain(id) != nil || m.grants.Has(id) || m.registry.Lookup(id) != nil {
			t.Fatalf("round %d: d%d still registered", i, id)
		}
		if st, e := m.Domain(0).Events().Status(0, p0); e != 0 || st.Status != abi.EVTCHNSTAT_unbound || st.Dom != id {
			t.Fatalf("round %d: dom0's port %d after the peer died: %+v, %v", i, p0, st, e)
		}
		if e := m.Domain(0).Events().Close(p0); e != 0 {
			t.Fatal(e)
		}
		if len(fm.gdt) != 0 {
			t.Fatalf("round %d: the metal still has GDT frames %v", i, fm.gdt)
		}
		if !d.Stopped() {
			t.Fatalf("round %d: the destroyed domain's vCPUs may still run", i)
		}
	}
	if err := m.cfg.Frames.Audit(nil, nil); err != nil {
		t.Error(err)
	}
	t.Logf("%d domains of %d pages (%d frames in use at the peak) built and destroyed in %v: %d frames free before, %d after, %d leaked",
		rounds, pages, peak, time.Since(began).Round(time.Millisecond), start, m.cfg.Alloc.FreeFrames(), int64(start)-int64(m.cfg.Alloc.FreeFrames()))
}

// TestCreateDomainFailureLeaksNothing: when CreateDomain fails part way
// (here the grant table finds no frame), the shared_info frame, the
// frame table's record of the domain and every registry entry are given
// back, and the id can be used again.
func TestCreateDomainFailureLeaksNothing(t *testing.T) {
	m, _, _ := testMachine(t)
	start := m.cfg.Alloc.FreeFrames()
	// Leave one free frame: shared_info gets it, the grant table none.
	var held []mm.MFN
	for m.cfg.Alloc.FreeFrames() > 1 {
		f, _ := m.cfg.Alloc.Alloc()
		held = append(held, f)
	}
	if _, err := m.CreateDomain(DomainConfig{ID: 3, VCPUs: 1}); err == nil {
		t.Fatal("CreateDomain succeeded without a frame for the grant table")
	}
	if free := m.cfg.Alloc.FreeFrames(); free != 1 {
		t.Errorf("%d frames free after the failure, want 1", free)
	}
	if n := ownedBy(m.cfg.Frames, 3); n != 0 || m.Domain(3) != nil || m.grants.Has(3) || m.registry.Lookup(3) != nil {
		t.Errorf("d3 left behind: %d frames, registered %v %v %v", n, m.Domain(3) != nil, m.grants.Has(3), m.registry.Lookup(3) != nil)
	}
	// No frame at all: shared_info fails first.
	last, _ := m.cfg.Alloc.Alloc()
	if _, err := m.CreateDomain(DomainConfig{ID: 3, VCPUs: 1}); !errors.Is(err, ErrNoMemory) {
		t.Errorf("CreateDomain with no frame: %v, want ErrNoMemory", err)
	}
	m.cfg.Alloc.Free(last)
	for _, f := range held {
		m.cfg.Alloc.Free(f)
	}
	d, err := m.CreateDomain(DomainConfig{ID: 3, VCPUs: 1})
	if err != nil {
		t.Fatalf("the id is not free again: %v", err)
	}
	if err := m.DestroyDomain(d.ID()); err != nil {
		t.Fatal(err)
	}
	if free := m.cfg.Alloc.FreeFrames(); free != start {
		t.Errorf("%d frames free, want %d", free, start)
	}
}

// TestDestroyDomainBusy: while dom0 still maps one of the dying domain's
// frames, DestroyDomain gives back everything else and reports
// ErrDomainBusy, the domain staying dying; once the mapping goes, a second
// call finishes and every frame is back.
func TestDestroyDomainBusy(t *testing.T) {
	m, d0, _, _, _ := testGuest(t, true)
	const id = abi.DomID(2)
	start := m.cfg.Alloc.FreeFrames()
	d, _, p0 := buildDomU(t, m, id, 1024)
	var mapped mm.MFN
	for f := mm.MFN(0); f < m.cfg.Frames.Len() && mapped == 0; f++ {
		if pi, ok := m.cfg.Frames.Page(f); ok && pi.Owner == id && pi.Type == mm.PageTypeWritable && !pi.XenHeap {
			mapped = f
		}
	}
	const va = dataVA + mm.PageSize
	tables := d0.VCPU(0).Tables()
	if e := d0.Space().UpdateVAMapping(tables, va, uint64(mapped.Addr())|1, 0, d.Space(), nil); e != 0 {
		t.Fatalf("dom0 maps d%d's frame %#x: %v", id, mapped, e)
	}
	if err := m.DestroyDomain(id); !errors.Is(err, ErrDomainBusy) {
		t.Fatalf("DestroyDomain with a frame mapped by dom0: %v, want ErrDomainBusy", err)
	}
	if !d.Stopped() || m.Domain(id) == nil {
		t.Fatalf("the busy domain: stopped %v, registered %v", d.Stopped(), m.Domain(id) != nil)
	}
	if n := ownedBy(m.cfg.Frames, id); n != 1 {
		t.Errorf("%d frames still owned by d%d, want only the mapped one", n, id)
	}
	if e := d0.Space().UpdateVAMapping(tables, va, 0, 0, nil, nil); e != 0 {
		t.Fatalf("unmap: %v", e)
	}
	if err := m.DestroyDomain(id); err != nil {
		t.Fatalf("second DestroyDomain: %v", err)
	}
	if free := m.cfg.Alloc.FreeFrames(); free != start {
		t.Errorf("%d frames free, want %d", free, start)
	}
	if n := ownedBy(m.cfg.Frames, id); n != 0 || m.Domain(id) != nil {
		t.Errorf("d%d left behind: %d frames, registered %v", id, n, m.Domain(id) != nil)
	}
	if st, e := d0.Events().Status(0, p0); e != 0 || st.Status != abi.EVTCHNSTAT_unbound {
		t.Errorf("dom0's port after the peer died: %+v, %v", st, e)
	}
}
