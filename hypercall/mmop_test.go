package hypercall

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/mm"
	"github.com/gohv/gohv/mm/mmtest"
)

// PTE bits as a guest writes them.
const (
	pteP  = 1 << 0
	pteRW = 1 << 1
	pteU  = 1 << 2
	// pteAddr is the frame address field of a PTE.
	pteAddr = 0x000f_ffff_ffff_f000
)

// mmWorld adds a real PV memory model to a world: a frame table over 512
// frames of fake machine memory, a Space per domain, and for each domain
// an L4/L3/L2/L1 chain mapping 8 data frames at VA 0..0x8000, pinned and
// loaded through mmuext_op issued by the hypercall layer.
type mmWorld struct {
	*world
	mmem    *mmtest.Memory
	ft      *mm.FrameTable
	m2p     *mm.M2P
	spaces  [2]*mm.Space
	l1      [2]mm.MFN
	data    [2][8]mm.MFN
	flusher [2]*mmtest.Flusher
}

const mmFrames = 512

func newMMWorld(t *testing.T) *mmWorld {
	w := &mmWorld{world: newWorld(t), mmem: mmtest.NewMemory(mmFrames)}
	alloc := mm.NewAllocator([]mm.Range{{Start: 0, End: mmFrames * mm.PageSize}}, []mm.Range{{Start: 0, End: 1 << 20}})
	first, ok := alloc.AllocContig(mm.M2PFrames(mmFrames), ^mm.Maddr(0), 1)
	if !ok {
		t.Fatal("no room for the M2P")
	}
	var err error
	if w.m2p, err = mm.NewM2P(w.mmem, first, mmFrames); err != nil {
		t.Fatal(err)
	}
	slots := func(l4 mm.MFN) [mm.XenL4SlotCount]uint64 {
		var s [mm.XenL4SlotCount]uint64
		s[0] = uint64(first.Addr()) | pteP | pteU
		s[2] = uint64(l4.Addr()) | pteP | pteRW
		return s
	}
	if w.ft, err = mm.NewFrameTable(mm.FrameTableConfig{Mem: w.mmem, Alloc: alloc, M2P: w.m2p, XenL4Slots: slots}); err != nil {
		t.Fatal(err)
	}
	w.newIRQs(w.ft, w.mmem)
	for i := range 2 {
		s, err := mm.NewSpace(w.ft, abi.DomID(i), nil)
		if err != nil {
			t.Fatal(err)
		}
		w.spaces[i] = s
		old := w.doms[i].state
		w.doms[i].state = NewDomainState(DomainConfig{Handle: old.handle, Events: old.events, ConsoleWrite: true, Space: s, PIRQs: w.pirqs[i]})
		w.flusher[i] = &mmtest.Flusher{}
		w.vcpus[i].flusher = w.flusher[i]
		w.buildTables(i)
	}
	return w
}

func (w *mmWorld) frame(i int) mm.MFN {
	m, e := w.spaces[i].AllocFrame()
	if e != 0 {
		w.t.Fatalf("AllocFrame: %v", e)
	}
	return m
}

func (w *mmWorld) putEntry(m mm.MFN, slot int, v uint64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	if !w.mmem.Write(m.Addr()+mm.Maddr(slot*8), b[:]) {
		w.t.Fatalf("write MFN %#x", m)
	}
}

func (w *mmWorld) entry(m mm.MFN, slot int) uint64 {
	v, _ := w.mmem.Load64(m.Addr() + mm.Maddr(slot*8))
	return v
}

func pteOf(m mm.MFN, flags uint64) uint64 { return uint64(m.Addr()) | flags }

// putExtOps writes mmuext_op structs at va in domain i's guest memory.
func (w *mmWorld) putExtOps(i int, va uint64, ops ...[3]uint64) {
	for j, op := range ops {
		at := va + uint64(j)*mmuextOpSize
		w.guests[i].put64(at, op[0]) // cmd (u32) + pad
		w.guests[i].put64(at+8, op[1])
		w.guests[i].put64(at+16, op[2])
	}
}

// putUpdates writes mmu_update structs at va in domain i's guest memory.
func (w *mmWorld) putUpdates(i int, va uint64, reqs ...[2]uint64) {
	for j, r := range reqs {
		w.guests[i].put64(va+uint64(j)*mmuUpdateSize, r[0])
		w.guests[i].put64(va+uint64(j)*mmuUpdateSize+8, r[1])
	}
}

func (w *mmWorld) buildTables(i int) {
	l4, l3, l2, l1 := w.frame(i), w.frame(i), w.frame(i), w.frame(i)
	w.l1[i] = l1
	w.putEntry(l4, 0, pteOf(l3, pteP|pteRW))
	w.putEntry(l3, 0, pteOf(l2, pteP|pteRW))
	w.putEntry(l2, 0, pteOf(l1, pteP|pteRW))
	for j := range w.data[i] {
		w.data[i][j] = w.frame(i)
		w.putEntry(l1, j, pteOf(w.data[i][j], pteP|pteRW))
	}
	for j, m := range []mm.MFN{l1, l2, l3, l4} {
		w.putEntry(l1, 8+j, pteOf(m, pteP))
	}
	w.putExtOps(i, bufVA, [3]uint64{abi.MMUEXT_PIN_L4_TABLE, uint64(l4)}, [3]uint64{abi.MMUEXT_NEW_BASEPTR, uint64(l4)})
	checkRet(w.t, "pin and load L4", w.call(i, abi.HYPERVISOR_mmuext_op, bufVA, 2, 0, abi.DOMID_SELF), 0)
	if w.vcpus[i].tables.Kernel != l4 {
		w.t.Fatalf("d%d kernel base %#x, want %#x", i, w.vcpus[i].tables.Kernel, l4)
	}
}

// ptr is an mmu_update ptr naming slot of table m with command cmd.
func ptr(m mm.MFN, slot int, cmd uint64) uint64 { return uint64(m.Addr()) + uint64(slot*8) + cmd }

func TestMMUUpdate(t *testing.T) {
	w := newMMWorld(t)
	g := w.guests[1]
	l1 := w.l1[1]
	const pdone = bufVA + 0x800
	w.putUpdates(1, bufVA,
		[2]uint64{ptr(l1, 40, abi.MMU_NORMAL_PT_UPDATE), pteOf(w.data[1][0], pteP)},
		[2]uint64{uint64(w.data[1][3].Addr()) | abi.MMU_MACHPHYS_UPDATE, 0x1234},
	)
	g.put32(pdone, 0xffff)
	checkRet(t, "mmu_update", w.call(1, abi.HYPERVISOR_mmu_update, bufVA, 2, pdone, abi.DOMID_SELF), 0)
	if w.entry(l1, 40)&pteAddr != uint64(w.data[1][0].Addr()) {
		t.Fatalf("L1 slot 40 = %#x", w.entry(l1, 40))
	}
	if v, _ := w.m2p.Get(w.data[1][3]); v != 0x1234 {
		t.Fatalf("M2P = %#x", v)
	}
	if g.get32(pdone) != 2 {
		t.Fatalf("pdone %d", g.get32(pdone))
	}
	// The first failure stops the batch; pdone counts what was done.
	w.putUpdates(1, bufVA,
		[2]uint64{ptr(l1, 41, 0), pteOf(w.data[1][1], pteP)},
		[2]uint64{ptr(l1, 42, 0), pteOf(w.data[0][0], pteP)}, // dom0's frame
		[2]uint64{ptr(l1, 43, 0), pteOf(w.data[1][2], pteP)},
	)
	r := w.call(1, abi.HYPERVISOR_mmu_update, bufVA, 3, pdone, abi.DOMID_SELF)
	if e, ok := abi.ErrnoFromRet(r.Ret); !ok || r.Continue {
		t.Fatalf("foreign frame accepted: %#x", r.Ret)
	} else if g.get32(pdone) != 1 || w.entry(l1, 43) != 0 {
		t.Fatalf("after %v: pdone %d, slot 43 %#x", e, g.get32(pdone), w.entry(l1, 43))
	}
	checkRet(t, "no pdone", w.call(1, abi.HYPERVISOR_mmu_update, bufVA+2*mmuUpdateSize, 1, 0, abi.DOMID_SELF), 0)
	checkRet(t, "bad list", w.call(1, abi.HYPERVISOR_mmu_update, badVA, 1, 0, abi.DOMID_SELF), neg(abi.EFAULT))
	checkRet(t, "count 0", w.call(1, abi.HYPERVISOR_mmu_update, badVA, 0, 0, abi.DOMID_SELF), 0)

	// Foreign owners.
	for _, tc := range []struct {
		dom        int
		foreigndom uint64
		want       uint64
	}{
		{1, 0, neg(abi.EPERM)},                       // domU names dom0
		{1, 1, neg(abi.ESRCH)},                       // its own id
		{1, abi.DOMID_XEN, neg(abi.ESRCH)},           // no Xen frames
		{1, abi.DOMID_IO, neg(abi.EFAULT)},           // I/O for all: reaches the bad list
		{0, 7, neg(abi.ESRCH)},                       // no such domain
		{1, 1 << 16, neg(abi.EPERM)},                 // page tables of dom0
		{1, 9 << 16, neg(abi.ESRCH)},                 // page tables of no domain
		{1, 2<<16 | abi.DOMID_SELF, neg(abi.EFAULT)}, // its own tables: reaches the bad list
	} {
		r := w.call(tc.dom, abi.HYPERVISOR_mmu_update, badVA, 1, 0, tc.foreigndom)
		checkRet(t, "foreigndom", r, tc.want)
	}
	// dom0 sets a domU frame's M2P entry as the domain builder does.
	w.putUpdates(0, bufVA, [2]uint64{uint64(w.data[1][5].Addr()) | abi.MMU_MACHPHYS_UPDATE, 77})
	checkRet(t, "dom0 foreign machphys", w.call(0, abi.HYPERVISOR_mmu_update, bufVA, 1, 0, 1), 0)
	if v, _ := w.m2p.Get(w.data[1][5]); v != 77 {
		t.Fatalf("foreign M2P = %d", v)
	}
}

func TestMMUUpdateContinuation(t *testing.T) {
	w := newMMWorld(t)
	g := w.guests[1]
	l1 := w.l1[1]
	const pdone = bufVA + 0x800
	w.putUpdates(1, bufVA,
		[2]uint64{ptr(l1, 50, 0), pteOf(w.data[1][0], pteP)},
		[2]uint64{ptr(l1, 51, 0), pteOf(w.data[1][1], pteP)},
		[2]uint64{ptr(l1, 52, 0), pteOf(w.data[1][2], pteP)},
	)
	g.put32(pdone, 0)
	w.vcpus[1].preemptAt = map[int]bool{w.vcpus[1].calls: true}
	r := w.call(1, abi.HYPERVISOR_mmu_update, bufVA, 3, pdone, abi.DOMID_SELF)
	want := Args{bufVA + mmuUpdateSize, 2 | mmuUpdatePreempted, pdone, abi.DOMID_SELF}
	if !r.Continue || *r.Args != want {
		t.Fatalf("continuation %+v, want %v", r, want)
	}
	if g.get32(pdone) != 1 || w.entry(l1, 50) == 0 || w.entry(l1, 51) != 0 {
		t.Fatalf("after piece 1: pdone %d", g.get32(pdone))
	}
	checkRet(t, "piece 2", w.d.Dispatch(w.callers[1], abi.HYPERVISOR_mmu_update, r.Args), 0)
	if g.get32(pdone) != 3 || w.entry(l1, 52) == 0 {
		t.Fatalf("after piece 2: pdone %d", g.get32(pdone))
	}
}

func TestMMUExtOp(t *testing.T) {
	w := newMMWorld(t)
	g := w.guests[1]
	const pdone = bufVA + 0x800
	w.putExtOps(1, bufVA,
		[3]uint64{abi.MMUEXT_TLB_FLUSH_LOCAL},
		[3]uint64{abi.MMUEXT_INVLPG_LOCAL, 0x3000},
		[3]uint64{abi.MMUEXT_PIN_L1_TABLE, uint64(w.data[0][0])}, // dom0's frame
		[3]uint64{abi.MMUEXT_TLB_FLUSH_ALL},
	)
	w.flusher[1].Log = nil
	r := w.call(1, abi.HYPERVISOR_mmuext_op, bufVA, 4, pdone, abi.DOMID_SELF)
	if _, ok := abi.ErrnoFromRet(r.Ret); !ok || r.Continue {
		t.Fatalf("pin of a foreign frame: %#x", r.Ret)
	}
	if g.get32(pdone) != 2 || strings.Join(w.flusher[1].Log, ",") != "tlb local,invlpg local 0x3000" {
		t.Fatalf("pdone %d, flushes %q", g.get32(pdone), w.flusher[1].Log)
	}
	// Preempted after the first op.
	w.vcpus[1].preemptAt = map[int]bool{w.vcpus[1].calls: true}
	r = w.call(1, abi.HYPERVISOR_mmuext_op, bufVA, 2, pdone, abi.DOMID_SELF)
	want := Args{bufVA + mmuextOpSize, 1 | mmuUpdatePreempted, pdone, abi.DOMID_SELF}
	if !r.Continue || *r.Args != want || g.get32(pdone) != 1 {
		t.Fatalf("continuation %+v pdone %d", r, g.get32(pdone))
	}
	checkRet(t, "piece 2", w.d.Dispatch(w.callers[1], abi.HYPERVISOR_mmuext_op, r.Args), 0)
	if g.get32(pdone) != 2 {
		t.Fatalf("pdone after piece 2: %d", g.get32(pdone))
	}
	checkRet(t, "domU names dom0", w.call(1, abi.HYPERVISOR_mmuext_op, bufVA, 1, 0, 0), neg(abi.EPERM))
	checkRet(t, "domU names DOMID_IO", w.call(1, abi.HYPERVISOR_mmuext_op, bufVA, 1, 0, abi.DOMID_IO), neg(abi.EPERM))
	checkRet(t, "bad list", w.call(1, abi.HYPERVISOR_mmuext_op, badVA, 1, 0, abi.DOMID_SELF), neg(abi.EFAULT))
}

func TestUpdateVAMapping(t *testing.T) {
	w := newMMWorld(t)
	const va = 60 * mm.PageSize // L1 slot 60
	w.flusher[1].Log = nil
	checkRet(t, "update_va_mapping", w.call(1, abi.HYPERVISOR_update_va_mapping, va, pteOf(w.data[1][4], pteP|pteRW), abi.UVMF_INVLPG|abi.UVMF_LOCAL), 0)
	if w.entry(w.l1[1], 60)&pteAddr != uint64(w.data[1][4].Addr()) {
		t.Fatalf("slot 60 = %#x", w.entry(w.l1[1], 60))
	}
	if len(w.flusher[1].Log) != 1 {
		t.Fatalf("flushes %q", w.flusher[1].Log)
	}
	r := w.call(1, abi.HYPERVISOR_update_va_mapping, 1<<39, pteOf(w.data[1][4], pteP), 0) // no L1 there
	checkRet(t, "unmapped va", r, neg(abi.EINVAL))
	checkRet(t, "otherdomain unprivileged", w.call(1, abi.HYPERVISOR_update_va_mapping_otherdomain, va, 0, 0, 0), neg(abi.EPERM))
	checkRet(t, "otherdomain self id", w.call(1, abi.HYPERVISOR_update_va_mapping_otherdomain, va, 0, 0, 1), neg(abi.ESRCH))
	checkRet(t, "otherdomain DOMID_SELF", w.call(1, abi.HYPERVISOR_update_va_mapping_otherdomain, va, 0, 0, abi.DOMID_SELF), 0)
	if w.entry(w.l1[1], 60) != 0 {
		t.Fatalf("slot 60 not cleared: %#x", w.entry(w.l1[1], 60))
	}
	// dom0 maps a domU frame into its own tables.
	checkRet(t, "dom0 maps domU frame", w.call(0, abi.HYPERVISOR_update_va_mapping_otherdomain, va, pteOf(w.data[1][6], pteP), 0, 1), 0)
	// Without a Space these are -ENOSYS.
	w.doms[1].state = NewDomainState(DomainConfig{})
	for _, nr := range []uint64{abi.HYPERVISOR_mmu_update, abi.HYPERVISOR_mmuext_op, abi.HYPERVISOR_update_va_mapping, abi.HYPERVISOR_update_va_mapping_otherdomain} {
		checkRet(t, "no space", w.call(1, nr, bufVA, 1, 0, abi.DOMID_SELF), neg(abi.ENOSYS))
	}
	if err := w.ft.Audit([]mm.MFN{w.vcpus[0].tables.Kernel, w.vcpus[1].tables.Kernel}, nil); err != nil {
		t.Fatalf("audit: %v", err)
	}
}

// TestSpaceGuest runs hypercalls whose buffers are reached through the
// guest's real page tables: VA 0x0000..0x8000 maps dom1's data frames
// read-write, 0x8000..0xc000 its page tables read-only.
func TestSpaceGuest(t *testing.T) {
	w := newMMWorld(t)
	w.callers[1].Mem = &SpaceGuest{Space: w.spaces[1], Mem: w.mmem, Tables: w.vcpus[1].tables}
	// capabilities straddles data frames 1 and 2 (VA 0x1e00..0x2200).
	checkRet(t, "capabilities", w.call(1, abi.HYPERVISOR_xen_version, abi.XENVER_capabilities, 0x1e00), 0)
	var b [16]byte
	w.mmem.Read(w.data[1][1].Addr()+0xe00, b[:])
	if abi.CString(b[:]) != DefaultCapabilities[:14] {
		t.Fatalf("frame 1 holds %q", b)
	}
	checkRet(t, "page tables are read-only", w.call(1, abi.HYPERVISOR_xen_version, abi.XENVER_extraversion, 0x8000), neg(abi.EFAULT))
	checkRet(t, "unmapped", w.call(1, abi.HYPERVISOR_xen_version, abi.XENVER_extraversion, 0x10_0000), neg(abi.EFAULT))
	checkRet(t, "hypervisor hole", w.call(1, abi.HYPERVISOR_xen_version, abi.XENVER_extraversion, 0xffff_8000_0000_0000), neg(abi.EFAULT))
	// Reading the page tables through their read-only mapping works.
	var l4 [8]byte
	if !w.callers[1].Mem.CopyFromGuest(l4[:], 0xb000) || binary.LittleEndian.Uint64(l4[:]) == 0 {
		t.Fatalf("L4 through its mapping: % x", l4)
	}
}

// directFake is a DirectAccess that does nothing but count, and succeeds
// when ok says so (writing 0xdd bytes on reads).
type directFake struct {
	ok    bool
	calls int
	cr3   mm.MFN
}

func (d *directFake) CopyFromGuest(dst []byte, va mm.GuestVA, cr3 mm.MFN) bool {
	d.calls++
	d.cr3 = cr3
	if d.ok {
		for i := range dst {
			dst[i] = 0xdd
		}
	}
	return d.ok
}

func (d *directFake) CopyToGuest(va mm.GuestVA, src []byte, cr3 mm.MFN) bool {
	d.calls++
	d.cr3 = cr3
	return d.ok
}

// TestSpaceGuestDirect: the metal's direct access is tried first, with the
// vCPU's kernel tables; when it declines, the software walk gives the
// outcome, EFAULT included.
func TestSpaceGuestDirect(t *testing.T) {
	w := newMMWorld(t)
	d := &directFake{}
	g := &SpaceGuest{Space: w.spaces[1], Mem: w.mmem, Tables: w.vcpus[1].tables, Direct: d}
	w.callers[1].Mem = g
	checkRet(t, "declined: walked", w.call(1, abi.HYPERVISOR_xen_version, abi.XENVER_capabilities, 0x1e00), 0)
	var b [16]byte
	w.mmem.Read(w.data[1][1].Addr()+0xe00, b[:])
	if abi.CString(b[:]) != DefaultCapabilities[:14] || d.calls == 0 || d.cr3 != w.vcpus[1].tables.Kernel {
		t.Fatalf("frame 1 holds %q; direct calls %d with cr3 %#x", b, d.calls, d.cr3)
	}
	checkRet(t, "declined, read-only: walked", w.call(1, abi.HYPERVISOR_xen_version, abi.XENVER_extraversion, 0x8000), neg(abi.EFAULT))

	d.ok = true
	var got [4]byte
	if !g.CopyFromGuest(got[:], 0x10_0000) || got != [4]byte{0xdd, 0xdd, 0xdd, 0xdd} {
		t.Errorf("direct read of an address the walk refuses: % x", got)
	}
}
