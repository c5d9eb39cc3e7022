package mm_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/mm"
	"github.com/gohv/gohv/mm/mmtest"
)

// PTE bits, as the guest writes them.
const (
	pP   = 1 << 0
	pRW  = 1 << 1
	pU   = 1 << 2
	pPWT = 1 << 3
	pPCD = 1 << 4
	pA   = 1 << 5
	pD   = 1 << 6
	pPSE = 1 << 7
	pG   = 1 << 8
	pGK  = 1 << 52 // _PAGE_GUEST_KERNEL
	pGNT = 1 << 62 // _PAGE_GNTTAB
	pNX  = 1 << 63
)

const (
	memFrames = 1024 // 4 MiB of machine memory
	mmioMFN   = 0xfee00
	vgaMFN    = 0xb8 // low 1 MiB: DOMID_IO
)

// ioPolicy allows the listed I/O frames.
type ioPolicy struct {
	frames map[mm.MFN]bool
	caps   bool
}

func (p *ioPolicy) IOMemAllowed(m mm.MFN) bool { return p.frames[m] }
func (p *ioPolicy) HasIOCaps() bool            { return p.caps }

// guest is a small 64-bit PV address space built in fake memory:
// VA i*4096 maps data[i] (i < 8) read-write; the L1 maps itself and the
// upper tables read-only at slots 8..11, as Linux maps its page tables.
type guest struct {
	s              *mm.Space
	l4, l3, l2, l1 mm.MFN
	data           [8]mm.MFN
	v              mm.VCPUTables
}

type env struct {
	t      testing.TB
	frames int // machine memory size in frames
	mem    *mmtest.Memory
	alloc  *mm.Allocator
	ft     *mm.FrameTable
	m2p    mm.MFN
	f      *mmtest.Flusher
	d1, d2 *guest
}

// xenSlots are the hypervisor's L4 entries in the test: slot 256 maps the
// M2P read-only, slot 258 is the linear map of the L4 itself.
func xenSlots(m2p mm.MFN) func(mm.MFN) [mm.XenL4SlotCount]uint64 {
	return func(l4 mm.MFN) [mm.XenL4SlotCount]uint64 {
		var s [mm.XenL4SlotCount]uint64
		s[0] = uint64(m2p.Addr()) | pP | pU
		s[2] = uint64(l4.Addr()) | pP | pRW
		return s
	}
}

func newEnv(t testing.TB) *env { return newEnvSize(t, memFrames) }

// newEnvSize builds two domains in a machine of frames frames (at least
// 320: the low 1 MiB is I/O).
func newEnvSize(t testing.TB, frames int) *env { return newEnvMem(t, frames, nil) }

// newEnvMem is newEnvSize with the frame table's memory wrap(e.mem) (nil:
// e.mem itself).
func newEnvMem(t testing.TB, frames int, wrap func(*mmtest.Memory) mm.MachineMemory) *env {
	e := &env{t: t, frames: frames, mem: mmtest.NewMemory(frames), f: &mmtest.Flusher{Masks: map[abi.GuestHandle][]uint64{0x5000: {3}}}}
	var ftMem mm.MachineMemory = e.mem
	if wrap != nil {
		ftMem = wrap(e.mem)
	}
	e.alloc = mm.NewAllocator([]mm.Range{{Start: 0, End: mm.Maddr(frames) * mm.PageSize}}, []mm.Range{{Start: 0, End: 1 << 20}})
	n := mm.M2PFrames(uint64(frames))
	first, ok := e.alloc.AllocContig(n, ^mm.Maddr(0), 1)
	if !ok {
		t.Fatal("no room for the M2P")
	}
	e.m2p = first
	m2p, err := mm.NewM2P(e.mem, first, uint64(frames))
	if err != nil {
		t.Fatal(err)
	}
	e.ft, err = mm.NewFrameTable(mm.FrameTableConfig{Mem: ftMem, Alloc: e.alloc, M2P: m2p, XenL4Slots: xenSlots(first)})
	if err != nil {
		t.Fatal(err)
	}
	e.d1 = e.build(1, nil)
	e.d2 = e.build(2, nil)
	e.audit()
	return e
}

func (e *env) frame(s *mm.Space) mm.MFN {
	m, err := s.AllocFrame()
	if err != 0 {
		e.t.Fatalf("AllocFrame: %v", err)
	}
	return m
}

func (e *env) put(m mm.MFN, slot int, v uint64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	if !e.mem.Write(m.Addr()+mm.Maddr(slot*8), b[:]) {
		e.t.Fatalf("write MFN %#x slot %d", m, slot)
	}
}

func (e *env) get(m mm.MFN, slot int) uint64 {
	v, ok := e.mem.Load64(m.Addr() + mm.Maddr(slot*8))
	if !ok {
		e.t.Fatalf("read MFN %#x slot %d", m, slot)
	}
	return v
}

func pte(m mm.MFN, flags uint64) uint64 { return uint64(m.Addr()) | flags }

// build creates domain id's tables, pins its L4 and makes it the kernel
// base pointer.
func (e *env) build(id abi.DomID, io mm.IOPolicy) *guest {
	s, err := mm.NewSpace(e.ft, id, io)
	if err != nil {
		e.t.Fatal(err)
	}
	g := &guest{s: s}
	g.l4, g.l3, g.l2, g.l1 = e.frame(s), e.frame(s), e.frame(s), e.frame(s)
	for i := range g.data {
		g.data[i] = e.frame(s)
		e.put(g.data[i], 0, uint64(id)<<32|uint64(i)) // recognisable contents
	}
	e.put(g.l4, 0, pte(g.l3, pP|pRW))
	e.put(g.l3, 0, pte(g.l2, pP|pRW))
	e.put(g.l2, 0, pte(g.l1, pP|pRW))
	for i, d := range g.data {
		e.put(g.l1, i, pte(d, pP|pRW))
	}
	for i, m := range []mm.MFN{g.l1, g.l2, g.l3, g.l4} {
		e.put(g.l1, 8+i, pte(m, pP))
	}
	if err := e.ext(g, nil, extOp(abi.MMUEXT_PIN_L4_TABLE, uint64(g.l4), 0), extOp(abi.MMUEXT_NEW_BASEPTR, uint64(g.l4), 0)); err != 0 {
		e.t.Fatalf("d%d: pin and switch: %v", id, err)
	}
	g.v.Reload = false
	return g
}

func extOp(cmd uint32, arg1, arg2 uint64) abi.MmuextOp {
	op := abi.MmuextOp{Cmd: cmd}
	op.SetArg1(arg1)
	op.SetArg2(arg2)
	return op
}

func (e *env) ext(g *guest, pgOwner *mm.Space, ops ...abi.MmuextOp) abi.Errno {
	done, err := g.s.MMUExtOp(&g.v, ops, pgOwner, e.f)
	if err == 0 && done != len(ops) {
		e.t.Fatalf("MMUExtOp done %d of %d without error", done, len(ops))
	}
	return err
}

func (e *env) upd(g *guest, pgOwner *mm.Space, reqs ...abi.MmuUpdate) abi.Errno {
	done, err := g.s.MMUUpdate(reqs, pgOwner, e.f)
	if err == 0 && done != len(reqs) {
		e.t.Fatalf("MMUUpdate done %d of %d without error", done, len(reqs))
	}
	return err
}

func entry(table mm.MFN, slot int, cmd uint64) uint64 {
	return uint64(table.Addr()) + uint64(slot*8) + cmd
}

func (e *env) bases() []mm.MFN {
	return []mm.MFN{e.d1.v.Kernel, e.d1.v.User, e.d2.v.Kernel, e.d2.v.User}
}

func (e *env) audit() {
	e.t.Helper()
	var bases []mm.MFN
	for _, g := range []*guest{e.d1, e.d2} {
		if g != nil {
			bases = append(bases, g.v.Kernel, g.v.User)
		}
	}
	if err := e.ft.Audit(bases, nil); err != nil {
		e.t.Fatalf("audit: %v", err)
	}
}

func (e *env) page(m mm.MFN) mm.PageInfo {
	pi, ok := e.ft.Page(m)
	if !ok {
		e.t.Fatalf("no PageInfo for MFN %#x", m)
	}
	return pi
}

// snapshot is the whole machine state a guest operation may change.
type snapshot struct {
	pages []mm.PageInfo
	mem   []byte
	v1    mm.VCPUTables
	v2    mm.VCPUTables
}

func (e *env) snap() snapshot {
	s := snapshot{mem: make([]byte, e.frames*mm.PageSize), v1: e.d1.v, v2: e.d2.v}
	for m := mm.MFN(0); m < e.ft.Len(); m++ {
		s.pages = append(s.pages, e.page(m))
	}
	e.mem.Read(0, s.mem)
	return s
}

func (e *env) sameAs(before snapshot, what string) {
	e.t.Helper()
	after := e.snap()
	for m := range before.pages {
		if before.pages[m] != after.pages[m] {
			e.t.Fatalf("%s: PageInfo of MFN %#x changed: %+v -> %+v", what, m, before.pages[m], after.pages[m])
		}
	}
	if !bytes.Equal(before.mem, after.mem) {
		for i := range before.mem {
			if before.mem[i] != after.mem[i] {
				e.t.Fatalf("%s: memory changed at %#x", what, i)
			}
		}
	}
	if before.v1 != after.v1 || before.v2 != after.v2 {
		e.t.Fatalf("%s: vCPU tables changed", what)
	}
}

func TestBuildPinSwitch(t *testing.T) {
	e := newEnv(t)
	g := e.d1
	tests := []struct {
		name        string
		m           mm.MFN
		typ         mm.PageType
		count, tcnt uint32
		pinned      bool
	}{
		// alloc + pin + base pointer + read-only mapping from the L1.
		{"L4", g.l4, mm.PageTypeL4, 4, 2, true},
		// alloc + typed ref from the level above + read-only mapping.
		{"L3", g.l3, mm.PageTypeL3, 3, 1, false},
		{"L2", g.l2, mm.PageTypeL2, 3, 1, false},
		{"L1", g.l1, mm.PageTypeL1, 3, 1, false},
		// alloc + writable mapping.
		{"data", g.data[3], mm.PageTypeWritable, 2, 1, false},
	}
	for _, tt := range tests {
		pi := e.page(tt.m)
		if pi.Owner != 1 || pi.Type != tt.typ || pi.Count != tt.count || pi.TypeCount != tt.tcnt || pi.Pinned != tt.pinned || !pi.Validated {
			t.Errorf("%s: %+v", tt.name, pi)
		}
	}
	if g.v.Kernel != g.l4 {
		t.Errorf("kernel base %#x, want %#x", g.v.Kernel, g.l4)
	}
	// Fix-ups: kernel L1 mappings gain USER and GUEST_KERNEL, upper
	// entries USER, L4 entries ACCESSED too; the hypervisor slots are in.
	if got, want := e.get(g.l1, 3), pte(g.data[3], pP|pRW|pU|pGK); got != want {
		t.Errorf("L1 entry %#x, want %#x", got, want)
	}
	if got, want := e.get(g.l2, 0), pte(g.l1, pP|pRW|pU); got != want {
		t.Errorf("L2 entry %#x, want %#x", got, want)
	}
	if got, want := e.get(g.l4, 0), pte(g.l3, pP|pRW|pU|pA); got != want {
		t.Errorf("L4 entry %#x, want %#x", got, want)
	}
	if got, want := e.get(g.l4, 256), pte(e.m2p, pP|pU); got != want {
		t.Errorf("L4 slot 256 %#x, want the RO M2P %#x", got, want)
	}
	if got, want := e.get(g.l4, 258), pte(g.l4, pP|pRW); got != want {
		t.Errorf("L4 slot 258 %#x, want the linear map %#x", got, want)
	}
}

func TestTranslate(t *testing.T) {
	e := newEnv(t)
	g := e.d1
	tests := []struct {
		name  string
		cr3   mm.MFN
		va    mm.GuestVA
		write bool
		want  mm.Maddr
		err   abi.Errno
	}{
		{"read data", g.l4, 0x1234, false, g.data[1].Addr() + 0x234, 0},
		{"write data", g.l4, 0x7fff, true, g.data[7].Addr() + 0xfff, 0},
		{"read own L1 through RO map", g.l4, 0x8010, false, g.l1.Addr() + 0x10, 0},
		{"write RO page-table map", g.l4, 0x8010, true, 0, abi.EFAULT},
		{"not present L1 slot", g.l4, 0xc000, false, 0, abi.EFAULT},
		{"not present L2 slot", g.l4, 0x200000, false, 0, abi.EFAULT},
		{"not present L4 slot", g.l4, 0x8000000000, false, 0, abi.EFAULT},
		{"hypervisor range (RO M2P)", g.l4, 0xffff800000000000, false, 0, abi.EFAULT},
		{"non-canonical", g.l4, 0x0000800000000000, false, 0, abi.EFAULT},
		{"cr3 not an L4", g.l3, 0x1000, false, 0, abi.EFAULT},
		{"cr3 of another domain", e.d2.l4, 0x1000, false, 0, abi.EFAULT},
		{"cr3 beyond memory", 0xfffff, 0x1000, false, 0, abi.EFAULT},
	}
	for _, tt := range tests {
		got, err := g.s.Translate(tt.cr3, tt.va, tt.write)
		if err != tt.err || got != tt.want {
			t.Errorf("%s: Translate = %#x, %v; want %#x, %v", tt.name, got, err, tt.want, tt.err)
		}
	}
	// The walk set Accessed, and Dirty on the written L1 entry.
	if got := e.get(g.l1, 7); got&(pA|pD) != pA|pD {
		t.Errorf("L1 entry after write walk %#x lacks A/D", got)
	}
	if got := e.get(g.l1, 1); got&(pA|pD) != pA {
		t.Errorf("L1 entry after read walk %#x: want A only", got)
	}
	e.audit()
}

// TestAttacks issues each invalid request once against freshly built
// domains and checks Xen's errno and that nothing changed.
func TestAttacks(t *testing.T) {
	type row struct {
		name string
		op   func(e *env) abi.Errno
		want abi.Errno
	}
	u := func(table func(e *env) mm.MFN, slot int, cmd uint64, val func(e *env) uint64) func(e *env) abi.Errno {
		return func(e *env) abi.Errno {
			return e.upd(e.d1, nil, abi.MmuUpdate{Ptr: entry(table(e), slot, cmd), Val: val(e)})
		}
	}
	x := func(cmd uint32, arg1 func(e *env) uint64, arg2 uint64) func(e *env) abi.Errno {
		return func(e *env) abi.Errno { return e.ext(e.d1, nil, extOp(cmd, arg1(e), arg2)) }
	}
	l1 := func(e *env) mm.MFN { return e.d1.l1 }
	l2 := func(e *env) mm.MFN { return e.d1.l2 }
	l3 := func(e *env) mm.MFN { return e.d1.l3 }
	l4 := func(e *env) mm.MFN { return e.d1.l4 }
	val := func(m func(e *env) mm.MFN, flags uint64) func(e *env) uint64 {
		return func(e *env) uint64 { return pte(m(e), flags) }
	}
	num := func(v uint64) func(e *env) uint64 { return func(*env) uint64 { return v } }
	mfn := func(m func(e *env) mm.MFN) func(e *env) uint64 { return func(e *env) uint64 { return uint64(m(e)) } }
	d2data := func(e *env) mm.MFN { return e.d2.data[0] }
	d2l4 := func(e *env) mm.MFN { return e.d2.l4 }
	data0 := func(e *env) mm.MFN { return e.d1.data[0] }
	m2p := func(e *env) mm.MFN { return e.m2p }
	free := func(e *env) mm.MFN { return 1000 }
	constMFN := func(m mm.MFN) func(*env) mm.MFN { return func(*env) mm.MFN { return m } }

	tests := []row{
		// L1 entries.
		{"writable map of the pinned L1 itself", u(l1, 20, 0, val(l1, pP|pRW)), abi.EBUSY},
		{"writable map of the L4", u(l1, 20, 0, val(l4, pP|pRW)), abi.EBUSY},
		{"writable map of the L2 via PRESERVE_AD", u(l1, 20, 2, val(l2, pP|pRW)), abi.EBUSY},
		{"map another domain's frame", u(l1, 20, 0, val(d2data, pP)), abi.EBUSY},
		{"map another domain's frame writable", u(l1, 20, 0, val(d2data, pP|pRW)), abi.EBUSY},
		{"map another domain's L4", u(l1, 20, 0, val(d2l4, pP)), abi.EBUSY},
		{"map a free frame", u(l1, 20, 0, val(free, pP)), abi.EBUSY},
		{"map the hypervisor's M2P frame", u(l1, 20, 0, val(m2p, pP)), abi.EBUSY},
		{"map MMIO without permission", u(l1, 20, 0, val(constMFN(mmioMFN), pP|pRW)), abi.EPERM},
		{"map low 1 MiB without permission", u(l1, 20, 0, val(constMFN(vgaMFN), pP)), abi.EPERM},
		{"map INVALID_MFN", u(l1, 20, 0, num(0x000ffffffffff000|pP)), abi.EINVAL},
		{"PWT in a domU L1 entry", u(l1, 20, 0, val(data0, pP|pPWT)), abi.EINVAL},
		{"PCD in a domU L1 entry", u(l1, 20, 0, val(data0, pP|pPCD)), abi.EINVAL},
		{"PAT in a domU L1 entry", u(l1, 20, 0, val(data0, pP|pPSE)), abi.EINVAL},
		{"grant bit in an L1 entry", u(l1, 20, 0, val(data0, pP|pGNT)), abi.EINVAL},
		{"turn RO page-table map writable", u(l1, 8, 0, val(l1, pP|pRW)), abi.EBUSY},
		// Upper entries.
		{"PSE superpage in L2", u(l2, 1, 0, val(data0, pP|pRW|pPSE)), abi.EINVAL},
		{"PSE superpage in L3", u(l3, 1, 0, val(data0, pP|pRW|pPSE)), abi.EINVAL},
		{"GLOBAL in L2", u(l2, 1, 0, val(l1, pP|pG)), abi.EINVAL},
		{"PCD in L4", u(l4, 1, 0, val(l3, pP|pPCD)), abi.EINVAL},
		{"L2 entry to a writable data frame", u(l2, 1, 0, val(data0, pP|pRW)), abi.EINVAL},
		{"L2 entry to another domain's frame", u(l2, 1, 0, val(d2data, pP|pRW)), abi.EINVAL},
		{"L2 entry to an L2 (not self)", u(l2, 1, 0, val(func(e *env) mm.MFN { return e.d1.l2 }, pP|pRW)), abi.EINVAL},
		{"L3 writable self map", u(l3, 1, 0, val(l3, pP|pRW)), abi.EINVAL},
		{"L4 entry to the L2", u(l4, 1, 0, val(l2, pP|pRW)), abi.EINVAL},
		{"L4 entry to another domain's L3", u(l4, 1, 0, val(func(e *env) mm.MFN { return e.d2.l3 }, pP|pRW)), abi.EINVAL},
		{"L4 slot 256 (RO M2P)", u(l4, 256, 0, val(l3, pP|pRW)), abi.EINVAL},
		{"L4 slot 263 cleared", u(l4, 263, 0, num(0)), abi.EINVAL},
		{"L4 slot 271", u(l4, 271, 0, val(l3, pP)), abi.EINVAL},
		// The frame being written.
		{"update in another domain's table", func(e *env) abi.Errno {
			return e.upd(e.d1, nil, abi.MmuUpdate{Ptr: entry(e.d2.l1, 0, 0), Val: 0})
		}, abi.EINVAL},
		{"update in a free frame", u(free, 0, 0, num(0)), abi.EINVAL},
		{"update in the M2P", u(m2p, 0, 0, num(0)), abi.EINVAL},
		{"update beyond memory", u(constMFN(0xfffff), 0, 0, num(0)), abi.EINVAL},
		{"foreign page owner with an L2 table", func(e *env) abi.Errno {
			return e.upd(e.d1, e.d2.s, abi.MmuUpdate{Ptr: entry(e.d1.l2, 1, 0), Val: 0})
		}, abi.EINVAL},
		{"mmu_update command 4", u(l1, 20, 4, num(0)), abi.ENOSYS},
		{"mmu_update command 7", u(l1, 20, 7, num(0)), abi.ENOSYS},
		{"machphys of another domain's frame", u(d2data, 0, 1, num(5)), abi.EINVAL},
		{"machphys of a free frame", u(free, 0, 1, num(5)), abi.EINVAL},
		// mmuext_op.
		{"pin the pinned L4 again", x(abi.MMUEXT_PIN_L4_TABLE, mfn(l4), 0), abi.EINVAL},
		{"pin the L1 as an L2", x(abi.MMUEXT_PIN_L2_TABLE, mfn(l1), 0), abi.EINVAL},
		{"pin a writably mapped frame as L1", x(abi.MMUEXT_PIN_L1_TABLE, mfn(data0), 0), abi.EINVAL},
		{"pin another domain's frame", x(abi.MMUEXT_PIN_L1_TABLE, mfn(d2data), 0), abi.EINVAL},
		{"pin a free frame", x(abi.MMUEXT_PIN_L1_TABLE, mfn(free), 0), abi.EINVAL},
		{"pin beyond memory", x(abi.MMUEXT_PIN_L1_TABLE, num(1<<40), 0), abi.EINVAL},
		{"unpin a table that is not pinned", x(abi.MMUEXT_UNPIN_TABLE, mfn(l3), 0), abi.EINVAL},
		{"unpin another domain's table", x(abi.MMUEXT_UNPIN_TABLE, mfn(d2l4), 0), abi.EINVAL},
		{"new base pointer to a data frame", x(abi.MMUEXT_NEW_BASEPTR, mfn(data0), 0), abi.EINVAL},
		{"new base pointer to the L3", x(abi.MMUEXT_NEW_BASEPTR, mfn(l3), 0), abi.EINVAL},
		{"new base pointer to another domain's L4", x(abi.MMUEXT_NEW_BASEPTR, mfn(d2l4), 0), abi.EINVAL},
		{"new user base pointer to the L1", x(abi.MMUEXT_NEW_USER_BASEPTR, mfn(l1), 0), abi.EINVAL},
		{"new base pointer for a foreign owner", func(e *env) abi.Errno {
			return e.ext(e.d1, e.d2.s, extOp(abi.MMUEXT_NEW_BASEPTR, uint64(e.d1.l4), 0))
		}, abi.EPERM},
		{"flush for a foreign owner", func(e *env) abi.Errno {
			return e.ext(e.d1, e.d2.s, extOp(abi.MMUEXT_TLB_FLUSH_ALL, 0, 0))
		}, abi.EPERM},
		{"clear a page table", x(abi.MMUEXT_CLEAR_PAGE, mfn(l2), 0), abi.EINVAL},
		{"clear another domain's frame", x(abi.MMUEXT_CLEAR_PAGE, mfn(d2data), 0), abi.EINVAL},
		{"copy into a page table", x(abi.MMUEXT_COPY_PAGE, mfn(l1), uint64(1000)), abi.EINVAL},
		{"copy from another domain", func(e *env) abi.Errno {
			return e.ext(e.d1, nil, extOp(abi.MMUEXT_COPY_PAGE, uint64(e.d1.data[0]), uint64(e.d2.data[0])))
		}, abi.EINVAL},
		{"copy into a page table from own frame", func(e *env) abi.Errno {
			return e.ext(e.d1, nil, extOp(abi.MMUEXT_COPY_PAGE, uint64(e.d1.l3), uint64(e.d1.data[0])))
		}, abi.EINVAL},
		{"flush cache without I/O", x(abi.MMUEXT_FLUSH_CACHE, num(0), 0), abi.EACCES},
		{"global cache flush without I/O", x(abi.MMUEXT_FLUSH_CACHE_GLOBAL, num(0), 0), abi.EINVAL},
		{"unaligned LDT", x(abi.MMUEXT_SET_LDT, num(0x1008), 16), abi.EINVAL},
		{"LDT of 8193 entries", x(abi.MMUEXT_SET_LDT, num(0x1000), 8193), abi.EINVAL},
		{"LDT in the hypervisor range", x(abi.MMUEXT_SET_LDT, num(0xffff800000000000), 16), abi.EINVAL},
		{"flush multi with an unreadable mask", x(abi.MMUEXT_TLB_FLUSH_MULTI, num(0), 0x6000), abi.EINVAL},
		{"mark super", x(abi.MMUEXT_MARK_SUPER, mfn(data0), 0), abi.EOPNOTSUPP},
		{"mmuext command 14", x(14, num(0), 0), abi.ENOSYS},
		{"mmuext command 99", x(99, num(0), 0), abi.ENOSYS},
		// update_va_mapping.
		{"uvm of an address with no L2", func(e *env) abi.Errno {
			return e.d1.s.UpdateVAMapping(&e.d1.v, 0x40000000, pte(e.d1.data[0], pP), 0, nil, e.f)
		}, abi.EINVAL},
		{"uvm in the hypervisor range", func(e *env) abi.Errno {
			return e.d1.s.UpdateVAMapping(&e.d1.v, 0xffff800000001000, pte(e.d1.data[0], pP), 0, nil, e.f)
		}, abi.EINVAL},
		{"uvm writable map of the L2", func(e *env) abi.Errno {
			return e.d1.s.UpdateVAMapping(&e.d1.v, 0x14000, pte(e.d1.l2, pP|pRW), abi.UVMF_INVLPG, nil, e.f)
		}, abi.EBUSY},
		{"uvm with no base pointer", func(e *env) abi.Errno {
			var v mm.VCPUTables
			return e.d1.s.UpdateVAMapping(&v, 0x1000, pte(e.d1.data[0], pP), 0, nil, e.f)
		}, abi.EINVAL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			before := e.snap()
			flushes := len(e.f.Log)
			if got := tt.op(e); got != tt.want {
				t.Fatalf("errno %v, want %v", got, tt.want)
			}
			e.sameAs(before, tt.name)
			if len(e.f.Log) != flushes {
				t.Errorf("failed op flushed: %v", e.f.Log[flushes:])
			}
			e.audit()
		})
	}
}

func TestBadTableFailsCleanly(t *testing.T) {
	tests := []struct {
		name  string
		cmd   uint32
		fill  func(e *env, x mm.MFN)
		want  abi.Errno
		xtype mm.PageType // type of the frame x before the pin
	}{
		{"L1 mapping another domain", abi.MMUEXT_PIN_L1_TABLE, func(e *env, x mm.MFN) {
			e.put(x, 0, pte(e.d1.data[0], pP|pRW))
			e.put(x, 1, pte(e.d2.data[0], pP))
		}, abi.EBUSY, mm.PageTypeNone},
		{"L1 mapping a page table writable", abi.MMUEXT_PIN_L1_TABLE, func(e *env, x mm.MFN) {
			e.put(x, 0, pte(e.d1.data[0], pP|pRW))
			e.put(x, 511, pte(e.d1.l3, pP|pRW))
		}, abi.EBUSY, mm.PageTypeNone},
		{"L1 mapping itself writable", abi.MMUEXT_PIN_L1_TABLE, func(e *env, x mm.MFN) {
			e.put(x, 5, pte(x, pP|pRW))
		}, abi.EBUSY, mm.PageTypeNone},
		{"L1 with a disallowed bit", abi.MMUEXT_PIN_L1_TABLE, func(e *env, x mm.MFN) {
			e.put(x, 0, pte(e.d1.data[0], pP|pRW))
			e.put(x, 7, pte(e.d1.data[1], pP|pPCD))
		}, abi.EINVAL, mm.PageTypeNone},
		{"L2 with a superpage", abi.MMUEXT_PIN_L2_TABLE, func(e *env, x mm.MFN) {
			e.put(x, 3, pte(e.d1.l1, pP|pRW))
			e.put(x, 4, pte(e.d1.data[0], pP|pRW|pPSE))
		}, abi.EINVAL, mm.PageTypeNone},
		{"L2 whose L1 fails validation", abi.MMUEXT_PIN_L2_TABLE, func(e *env, x mm.MFN) {
			bad := e.d1.data[7] // holds a writable map of an L4 once an L1
			e.ext(e.d1, nil)
			// Make data[7] untyped: remove its writable mapping.
			if err := e.upd(e.d1, nil, abi.MmuUpdate{Ptr: entry(e.d1.l1, 7, 0), Val: 0}); err != 0 {
				e.t.Fatal(err)
			}
			e.put(bad, 0, pte(e.d1.l4, pP|pRW))
			e.put(x, 0, pte(e.d1.l1, pP|pRW))
			e.put(x, 1, pte(bad, pP|pRW))
		}, abi.EBUSY, mm.PageTypeNone},
		{"L4 whose L3 maps another domain's L2", abi.MMUEXT_PIN_L4_TABLE, func(e *env, x mm.MFN) {
			l3 := e.frame(e.d1.s)
			e.put(l3, 0, pte(e.d1.l2, pP|pRW))
			e.put(l3, 1, pte(e.d2.l2, pP|pRW))
			e.put(x, 0, pte(e.d1.l3, pP|pRW))
			e.put(x, 1, pte(l3, pP|pRW))
		}, abi.EINVAL, mm.PageTypeNone},
		{"L1 that was writable before", abi.MMUEXT_PIN_L1_TABLE, func(e *env, x mm.MFN) {
			// Give x the writable type through a mapping, then unmap it.
			if err := e.upd(e.d1, nil, abi.MmuUpdate{Ptr: entry(e.d1.l1, 30, 0), Val: pte(x, pP|pRW)}); err != 0 {
				e.t.Fatal(err)
			}
			if err := e.upd(e.d1, nil, abi.MmuUpdate{Ptr: entry(e.d1.l1, 30, 0), Val: 0}); err != 0 {
				e.t.Fatal(err)
			}
			e.put(x, 9, pte(e.d2.l1, pP))
		}, abi.EBUSY, mm.PageTypeWritable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			x := e.frame(e.d1.s)
			tt.fill(e, x)
			if got := e.page(x).Type; got != tt.xtype {
				t.Fatalf("x has type %v before the pin, want %v", got, tt.xtype)
			}
			e.audit()
			before := e.snap()
			if got := e.ext(e.d1, nil, extOp(tt.cmd, uint64(x), 0)); got != tt.want {
				t.Fatalf("pin = %v, want %v", got, tt.want)
			}
			e.sameAs(before, "failed pin")
			e.audit()
		})
	}
}

func TestL1Updates(t *testing.T) {
	e := newEnv(t)
	g := e.d1
	x := e.frame(g.s)
	set := func(slot int, v uint64) abi.Errno {
		return e.upd(g, nil, abi.MmuUpdate{Ptr: entry(g.l1, slot, 0), Val: v})
	}
	steps := []struct {
		name      string
		slot      int
		val       uint64
		want      abi.Errno
		stored    uint64 // expected entry after the step
		xCount    uint32
		xType     mm.PageType
		xTypeCnt  uint32
		xValid    bool
		preserved bool // use MMU_PT_UPDATE_PRESERVE_AD
	}{
		{name: "map x read-only (kernel)", slot: 20, val: pte(x, pP), stored: pte(x, pP|pU|pGK), xCount: 2, xType: mm.PageTypeNone},
		{name: "same frame, set NX and A (fast path)", slot: 20, val: pte(x, pP|pNX|pA), stored: pte(x, pP|pNX|pA|pU|pGK), xCount: 2, xType: mm.PageTypeNone},
		{name: "make it writable", slot: 20, val: pte(x, pP|pRW), stored: pte(x, pP|pRW|pU|pGK), xCount: 2, xType: mm.PageTypeWritable, xTypeCnt: 1, xValid: true},
		{name: "second writable mapping as user", slot: 21, val: pte(x, pP|pRW|pU), stored: pte(x, pP|pRW|pU|pG), xCount: 3, xType: mm.PageTypeWritable, xTypeCnt: 2, xValid: true},
		{name: "pin x as L1 while writable", slot: -1, want: abi.EINVAL, xCount: 3, xType: mm.PageTypeWritable, xTypeCnt: 2, xValid: true},
		{name: "drop first writable mapping", slot: 20, val: 0, stored: 0, xCount: 2, xType: mm.PageTypeWritable, xTypeCnt: 1, xValid: true},
		{name: "demote second to read-only", slot: 21, val: pte(x, pP|pU), stored: pte(x, pP|pU|pG), xCount: 2, xType: mm.PageTypeWritable, xTypeCnt: 0, xValid: true},
		{name: "pin x as L1 now", slot: -1, xCount: 3, xType: mm.PageTypeL1, xTypeCnt: 1, xValid: true},
		{name: "writable map of pinned x", slot: 22, val: pte(x, pP|pRW), want: abi.EBUSY, stored: 0, xCount: 3, xType: mm.PageTypeL1, xTypeCnt: 1, xValid: true},
		{name: "not-present entry with junk is stored as is", slot: 22, val: 0xdead0000 | pRW, stored: 0xdead0000 | pRW, xCount: 3, xType: mm.PageTypeL1, xTypeCnt: 1, xValid: true},
		{name: "preserve A/D keeps hardware bits", slot: 21, val: pte(x, pP|pU), preserved: true, stored: pte(x, pP|pU|pG|pA|pD), xCount: 3, xType: mm.PageTypeL1, xTypeCnt: 1, xValid: true},
	}
	for _, st := range steps {
		var err abi.Errno
		switch {
		case st.slot < 0:
			err = e.ext(g, nil, extOp(abi.MMUEXT_PIN_L1_TABLE, uint64(x), 0))
		case st.preserved:
			// The "CPU" sets A and D first.
			if _, ok := e.mem.Or64(g.l1.Addr()+mm.Maddr(st.slot*8), pA|pD); !ok {
				t.Fatal("Or64")
			}
			err = e.upd(g, nil, abi.MmuUpdate{Ptr: entry(g.l1, st.slot, abi.MMU_PT_UPDATE_PRESERVE_AD), Val: st.val})
		default:
			err = set(st.slot, st.val)
		}
		if err != st.want {
			t.Fatalf("%s: errno %v, want %v", st.name, err, st.want)
		}
		if st.slot >= 0 {
			if got := e.get(g.l1, st.slot); got != st.stored {
				t.Fatalf("%s: entry %#x, want %#x", st.name, got, st.stored)
			}
		}
		pi := e.page(x)
		if pi.Count != st.xCount || pi.Type != st.xType || pi.TypeCount != st.xTypeCnt || pi.Validated != st.xValid {
			t.Fatalf("%s: x is %+v", st.name, pi)
		}
		if err := e.ft.Audit(e.bases(), nil); err != nil {
			t.Fatalf("%s: audit: %v", st.name, err)
		}
	}
	// Type changes flushed the domain's TLBs.
	if len(e.f.Log) == 0 || e.f.Log[len(e.f.Log)-1] != "tlb all" {
		t.Errorf("flush log %v, want a type-change flush", e.f.Log)
	}
}

func TestBatchProgress(t *testing.T) {
	e := newEnv(t)
	g := e.d1
	reqs := []abi.MmuUpdate{
		{Ptr: entry(g.l1, 40, 0), Val: pte(g.data[0], pP)},
		{Ptr: entry(g.l1, 41, 0), Val: pte(e.d2.data[0], pP)},
		{Ptr: entry(g.l1, 42, 0), Val: pte(g.data[1], pP)},
	}
	done, err := g.s.MMUUpdate(reqs, nil, e.f)
	if done != 1 || err != abi.EBUSY {
		t.Fatalf("MMUUpdate = %d, %v; want 1, EBUSY", done, err)
	}
	if e.get(g.l1, 40) == 0 || e.get(g.l1, 41) != 0 || e.get(g.l1, 42) != 0 {
		t.Fatalf("entries after partial batch: %#x %#x %#x", e.get(g.l1, 40), e.get(g.l1, 41), e.get(g.l1, 42))
	}
	// The hypercall layer continues after the failing entry.
	done, err = g.s.MMUUpdate(reqs[2:], nil, e.f)
	if done != 1 || err != 0 {
		t.Fatalf("continuation = %d, %v", done, err)
	}
	ops := []abi.MmuextOp{
		extOp(abi.MMUEXT_TLB_FLUSH_LOCAL, 0, 0),
		extOp(abi.MMUEXT_INVLPG_ALL, 0x1000, 0),
		extOp(abi.MMUEXT_UNPIN_TABLE, uint64(g.l1), 0),
		extOp(abi.MMUEXT_TLB_FLUSH_ALL, 0, 0),
	}
	done, err = g.s.MMUExtOp(&g.v, ops, nil, e.f)
	if done != 2 || err != abi.EINVAL {
		t.Fatalf("MMUExtOp = %d, %v; want 2, EINVAL", done, err)
	}
	if want := []string{"tlb local", "invlpg all 0x1000"}; fmt.Sprint(e.f.Log) != fmt.Sprint(want) {
		t.Fatalf("flushes %v, want %v", e.f.Log, want)
	}
	e.audit()
}

func TestUpperUpdatesAndSelfMap(t *testing.T) {
	e := newEnv(t)
	g := e.d1
	// A new L1 under L2 slot 1 (VA 2 MiB), mapping data[5].
	nl1 := e.frame(g.s)
	e.put(nl1, 3, pte(g.data[5], pP))
	if err := e.upd(g, nil, abi.MmuUpdate{Ptr: entry(g.l2, 1, 0), Val: pte(nl1, pP|pRW)}); err != 0 {
		t.Fatalf("hook new L1: %v", err)
	}
	if pi := e.page(nl1); pi.Type != mm.PageTypeL1 || pi.TypeCount != 1 || !pi.Validated {
		t.Fatalf("new L1: %+v", pi)
	}
	if got, err := g.s.Translate(g.l4, 0x203010, false); err != 0 || got != g.data[5].Addr()+0x10 {
		t.Fatalf("Translate through new L1 = %#x, %v", got, err)
	}
	// A read-only self map in an L4 guest slot and an L3 slot: allowed, no
	// reference.
	before4 := e.page(g.l4)
	if err := e.upd(g, nil, abi.MmuUpdate{Ptr: entry(g.l4, 300, 0), Val: pte(g.l4, pP)}); err != 0 {
		t.Fatalf("L4 self map: %v", err)
	}
	if err := e.upd(g, nil, abi.MmuUpdate{Ptr: entry(g.l3, 5, 0), Val: pte(g.l3, pP)}); err != 0 {
		t.Fatalf("L3 self map: %v", err)
	}
	if pi := e.page(g.l4); pi != before4 {
		t.Fatalf("self map took references: %+v -> %+v", before4, pi)
	}
	e.audit()
	// A guest L4 slot just past the hypervisor's takes an entry.
	if err := e.upd(g, nil, abi.MmuUpdate{Ptr: entry(g.l4, 272, 0), Val: pte(g.l3, pP|pRW)}); err != 0 {
		t.Fatalf("L4 slot 272: %v", err)
	}
	if pi := e.page(g.l3); pi.TypeCount != 2 {
		t.Fatalf("L3 type count %d, want 2", pi.TypeCount)
	}
	// Unhooking the new L1 devalidates it and drops its mapping.
	if err := e.upd(g, nil, abi.MmuUpdate{Ptr: entry(g.l2, 1, 0), Val: 0}); err != 0 {
		t.Fatal(err)
	}
	if pi := e.page(nl1); pi.TypeCount != 0 || pi.Validated || pi.Count != 1 {
		t.Fatalf("unhooked L1: %+v", pi)
	}
	if pi := e.page(g.data[5]); pi.Count != 2 {
		t.Fatalf("data[5] count %d, want 2 (owner + its L1 map)", pi.Count)
	}
	e.audit()
}

func TestGuestValuesInXenSlotsIgnored(t *testing.T) {
	e := newEnv(t)
	g := e.d1
	l4 := e.frame(g.s)
	e.put(l4, 0, pte(g.l3, pP|pRW))
	// Junk a guest left in the hypervisor's slots: a writable map of its own
	// L2 and of another domain's L4. Neither is checked nor referenced.
	e.put(l4, 257, pte(g.l2, pP|pRW))
	e.put(l4, 270, pte(e.d2.l4, pP|pRW))
	before := e.page(g.l2)
	if err := e.ext(g, nil, extOp(abi.MMUEXT_PIN_L4_TABLE, uint64(l4), 0)); err != 0 {
		t.Fatalf("pin: %v", err)
	}
	if e.page(g.l2) != before {
		t.Fatalf("slot 257 took a reference")
	}
	want := xenSlots(e.m2p)(l4)
	for i := range want {
		if got := e.get(l4, mm.XenL4FirstSlot+i); got != want[i] {
			t.Errorf("slot %d = %#x, want %#x", mm.XenL4FirstSlot+i, got, want[i])
		}
	}
	e.audit()
}

func TestBaseSwitchAndTeardown(t *testing.T) {
	e := newEnv(t)
	g := e.d1
	// Unpinning the L4 while it is the base pointer succeeds (as in Xen):
	// the base pointer keeps it validated.
	if err := e.ext(g, nil, extOp(abi.MMUEXT_UNPIN_TABLE, uint64(g.l4), 0)); err != 0 {
		t.Fatalf("unpin in use: %v", err)
	}
	if pi := e.page(g.l4); pi.Pinned || pi.TypeCount != 1 || !pi.Validated {
		t.Fatalf("L4 after unpin: %+v", pi)
	}
	// A second L4 sharing the L3, as user base pointer.
	u4 := e.frame(g.s)
	e.put(u4, 0, pte(g.l3, pP|pRW))
	if err := e.ext(g, nil, extOp(abi.MMUEXT_NEW_USER_BASEPTR, uint64(u4), 0)); err != 0 {
		t.Fatalf("user base: %v", err)
	}
	if pi := e.page(g.l3); pi.TypeCount != 2 {
		t.Fatalf("L3 shared by two L4s: %+v", pi)
	}
	// Re-installing the same base only reloads.
	g.v.Reload = false
	if err := e.ext(g, nil, extOp(abi.MMUEXT_NEW_BASEPTR, uint64(g.l4), 0)); err != 0 || !g.v.Reload {
		t.Fatalf("same base: %v reload %v", err, g.v.Reload)
	}
	// Switching the kernel base to u4 drops the last reference on the old
	// L4: it is devalidated and drops its L3 reference.
	if err := e.ext(g, nil, extOp(abi.MMUEXT_NEW_BASEPTR, uint64(u4), 0)); err != 0 {
		t.Fatalf("switch base: %v", err)
	}
	if pi := e.page(g.l4); pi.TypeCount != 0 || pi.Validated {
		t.Fatalf("old L4: %+v", pi)
	}
	if pi := e.page(g.l3); pi.TypeCount != 1 {
		t.Fatalf("L3 after switch: %+v", pi)
	}
	e.audit()
	// Removing the user base and releasing the vCPU drops everything.
	if err := e.ext(g, nil, extOp(abi.MMUEXT_NEW_USER_BASEPTR, 0, 0)); err != 0 {
		t.Fatal(err)
	}
	g.s.ReleaseVCPU(&g.v)
	e.audit()
	owned := append([]mm.MFN{g.l4, g.l3, g.l2, g.l1, u4}, g.data[:]...)
	for _, m := range owned {
		if pi := e.page(m); pi.TypeCount != 0 || pi.Count != 1 {
			t.Fatalf("MFN %#x after teardown: %+v", m, pi)
		}
	}
	// Releasing the frames frees them; they come back through TakeFreed.
	freeBefore := e.alloc.FreeFrames()
	for _, m := range owned {
		if err := e.ft.Release(m, 1, e.f); err != 0 {
			t.Fatalf("Release %#x: %v", m, err)
		}
	}
	if err := e.ft.Release(g.l4, 1, e.f); err != abi.EINVAL {
		t.Fatalf("second Release = %v", err)
	}
	freed := e.ft.TakeFreed()
	if len(freed) != len(owned) {
		t.Fatalf("freed %v", freed)
	}
	for _, m := range freed {
		if err := e.alloc.Free(m); err != nil {
			t.Fatal(err)
		}
	}
	if e.alloc.FreeFrames() != freeBefore+uint64(len(owned)) {
		t.Fatalf("allocator free %d", e.alloc.FreeFrames())
	}
	e.audit()
}

func TestReleaseMappedFrame(t *testing.T) {
	e := newEnv(t)
	g := e.d1
	// The guest gives back data[2] while still mapping it: the frame stays
	// until the mapping goes.
	if err := e.ft.Release(g.data[2], 1, e.f); err != 0 {
		t.Fatal(err)
	}
	if len(e.ft.TakeFreed()) != 0 {
		t.Fatal("mapped frame freed")
	}
	if err := e.upd(g, nil, abi.MmuUpdate{Ptr: entry(g.l1, 2, 0), Val: 0}); err != 0 {
		t.Fatal(err)
	}
	if f := e.ft.TakeFreed(); len(f) != 1 || f[0] != g.data[2] {
		t.Fatalf("freed %v", f)
	}
	// A released frame can no longer be mapped.
	if err := e.upd(g, nil, abi.MmuUpdate{Ptr: entry(g.l1, 2, 0), Val: pte(g.data[2], pP)}); err != abi.EBUSY {
		t.Fatalf("map freed frame: %v", err)
	}
	e.audit()
}

func TestIOMappings(t *testing.T) {
	e := newEnv(t)
	io := &ioPolicy{frames: map[mm.MFN]bool{mmioMFN: true, vgaMFN: true}}
	d3 := e.build(3, io)
	set := func(v uint64) abi.Errno {
		return e.upd(d3, nil, abi.MmuUpdate{Ptr: entry(d3.l1, 50, 0), Val: v})
	}
	tests := []struct {
		name   string
		caps   bool
		val    uint64
		want   abi.Errno
		stored uint64
	}{
		{"MMIO WB becomes UC", false, pte(mmioMFN, pP|pRW), 0, pte(mmioMFN, pP|pRW|pPWT|pPCD|pU|pGK)},
		{"VGA read-only", false, pte(vgaMFN, pP), 0, pte(vgaMFN, pP|pPWT|pPCD|pU|pGK)},
		{"MMIO not permitted", false, pte(mmioMFN+1, pP), abi.EPERM, 0},
		{"cache bits without I/O caps", false, pte(mmioMFN, pP|pPCD), abi.EINVAL, 0},
		{"WT with I/O caps becomes UC", true, pte(mmioMFN, pP|pPWT), 0, pte(mmioMFN, pP|pPWT|pPCD|pU|pGK)},
		{"UC with I/O caps stays", true, pte(mmioMFN, pP|pPWT|pPCD), 0, pte(mmioMFN, pP|pPWT|pPCD|pU|pGK)},
		{"RAM with cache bits and I/O caps", true, pte(d3.data[0], pP|pPCD), 0, pte(d3.data[0], pP|pPCD|pU|pGK)},
	}
	for _, tt := range tests {
		io.caps = tt.caps
		if err := set(0); err != 0 {
			t.Fatal(err)
		}
		if got := set(tt.val); got != tt.want {
			t.Fatalf("%s: errno %v, want %v", tt.name, got, tt.want)
		}
		if got := e.get(d3.l1, 50); got != tt.stored {
			t.Fatalf("%s: stored %#x, want %#x", tt.name, got, tt.stored)
		}
		if err := e.ft.Audit([]mm.MFN{e.d1.l4, e.d2.l4, d3.l4}, nil); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
	}
	// I/O frames hold no references, and DOMID_IO as page owner maps I/O
	// but never RAM.
	if err := e.upd(d3, e.ft.IOSpace(), abi.MmuUpdate{Ptr: entry(d3.l1, 51, 0), Val: pte(mmioMFN, pP)}); err != 0 {
		t.Fatalf("DOMID_IO map of MMIO: %v", err)
	}
	if err := e.upd(d3, e.ft.IOSpace(), abi.MmuUpdate{Ptr: entry(d3.l1, 52, 0), Val: pte(d3.data[0], pP)}); err != abi.EBUSY {
		t.Fatalf("DOMID_IO map of RAM: %v", err)
	}
	io.caps = true
	if err := e.ext(d3, nil, extOp(abi.MMUEXT_FLUSH_CACHE, 0, 0), extOp(abi.MMUEXT_FLUSH_CACHE_GLOBAL, 0, 0)); err != 0 {
		t.Fatalf("cache flush with I/O caps: %v", err)
	}
}

func TestForeignMapping(t *testing.T) {
	e := newEnv(t)
	// dom1 maps dom2's frame with dom2 as page owner (privcmd), after the
	// caller authorised it.
	if err := e.upd(e.d1, e.d2.s, abi.MmuUpdate{Ptr: entry(e.d1.l1, 60, 0), Val: pte(e.d2.data[1], pP|pRW)}); err != 0 {
		t.Fatalf("foreign map: %v", err)
	}
	if pi := e.page(e.d2.data[1]); pi.Count != 3 || pi.TypeCount != 2 {
		t.Fatalf("foreign frame: %+v", pi)
	}
	// With the wrong owner the same frame is refused.
	if err := e.upd(e.d1, nil, abi.MmuUpdate{Ptr: entry(e.d1.l1, 61, 0), Val: pte(e.d2.data[1], pP)}); err != abi.EBUSY {
		t.Fatalf("map with self as owner: %v", err)
	}
	e.audit()
	if err := e.upd(e.d1, nil, abi.MmuUpdate{Ptr: entry(e.d1.l1, 60, 0), Val: 0}); err != 0 {
		t.Fatal(err)
	}
	e.audit()
}

func TestMMUExtMisc(t *testing.T) {
	e := newEnv(t)
	g := e.d1
	// CLEAR_PAGE and COPY_PAGE on own data frames.
	if err := e.ext(g, nil, extOp(abi.MMUEXT_COPY_PAGE, uint64(g.data[1]), uint64(g.data[6]))); err != 0 {
		t.Fatalf("copy: %v", err)
	}
	if got := e.get(g.data[1], 0); got != 1<<32|6 {
		t.Fatalf("copied word %#x", got)
	}
	if err := e.ext(g, nil, extOp(abi.MMUEXT_CLEAR_PAGE, uint64(g.data[1]), 0)); err != 0 {
		t.Fatalf("clear: %v", err)
	}
	if got := e.get(g.data[1], 0); got != 0 {
		t.Fatalf("cleared word %#x", got)
	}
	// SET_LDT records the LDT; 0 entries means none.
	if err := e.ext(g, nil, extOp(abi.MMUEXT_SET_LDT, 0x5000, 32)); err != 0 || g.v.LDTBase != 0x5000 || g.v.LDTEnts != 32 {
		t.Fatalf("set LDT: %v %+v", err, g.v)
	}
	if err := e.ext(g, nil, extOp(abi.MMUEXT_SET_LDT, 0x5008, 0)); err != 0 || g.v.LDTBase != 0 || g.v.LDTEnts != 0 {
		t.Fatalf("clear LDT: %v %+v", err, g.v)
	}
	// Flushes.
	e.f.Log = nil
	ops := []abi.MmuextOp{
		extOp(abi.MMUEXT_TLB_FLUSH_MULTI, 0, 0x5000),
		extOp(abi.MMUEXT_INVLPG_MULTI, 0x3000, 0x5000),
		extOp(abi.MMUEXT_INVLPG_MULTI, 0xffff800000000000, 0x5000), // hypervisor address: skipped
		extOp(abi.MMUEXT_INVLPG_LOCAL, 0x4000, 0),
		extOp(abi.MMUEXT_TLB_FLUSH_ALL, 0, 0),
	}
	if err := e.ext(g, nil, ops...); err != 0 {
		t.Fatal(err)
	}
	want := []string{"tlb multi[0x3]", "invlpg multi[0x3] 0x3000", "invlpg local 0x4000", "tlb all"}
	if fmt.Sprint(e.f.Log) != fmt.Sprint(want) {
		t.Fatalf("flushes %v, want %v", e.f.Log, want)
	}
	// MACHPHYS_UPDATE writes the global M2P.
	if err := e.upd(g, nil, abi.MmuUpdate{Ptr: entry(g.data[3], 0, abi.MMU_MACHPHYS_UPDATE), Val: 0x1234}); err != 0 {
		t.Fatal(err)
	}
	if v, ok := e.ft.M2P().Get(g.data[3]); !ok || v != 0x1234 {
		t.Fatalf("M2P entry %#x %v", v, ok)
	}
	// A plain write to an untyped frame through mmu_update.
	x := e.frame(g.s)
	if err := e.upd(g, nil, abi.MmuUpdate{Ptr: entry(x, 7, 0), Val: 0xabcdef}); err != 0 || e.get(x, 7) != 0xabcdef {
		t.Fatalf("plain write: %v", err)
	}
	if pi := e.page(x); pi.Type != mm.PageTypeWritable || pi.TypeCount != 0 {
		t.Fatalf("x after plain write: %+v", pi)
	}
	e.audit()
}

func TestUpdateVAMapping(t *testing.T) {
	e := newEnv(t)
	g := e.d1
	tests := []struct {
		name  string
		va    mm.GuestVA
		pte   uint64
		flags uint64
		want  abi.Errno
		log   []string
	}{
		{"map, no flush", 0x14000, pte(g.data[2], pP|pRW), abi.UVMF_NONE, 0, nil},
		{"remap, invlpg local", 0x14000, pte(g.data[3], pP), abi.UVMF_INVLPG | abi.UVMF_LOCAL, 0, []string{"invlpg local 0x14000"}},
		{"unmap, flush all", 0x14000, 0, abi.UVMF_TLB_FLUSH | abi.UVMF_ALL, 0, []string{"tlb all"}},
		{"flush multi", 0x15000, pte(g.data[3], pP), abi.UVMF_TLB_FLUSH | 0x5000, 0, []string{"tlb multi[0x3]"}},
		{"bad multi mask", 0x16000, pte(g.data[3], pP), abi.UVMF_INVLPG | 0x7000, abi.EFAULT, nil},
	}
	for _, tt := range tests {
		e.f.Log = nil
		if got := g.s.UpdateVAMapping(&g.v, tt.va, tt.pte, tt.flags, nil, e.f); got != tt.want {
			t.Fatalf("%s: errno %v, want %v", tt.name, got, tt.want)
		}
		if fmt.Sprint(e.f.Log) != fmt.Sprint(tt.log) {
			t.Fatalf("%s: flushes %v, want %v", tt.name, e.f.Log, tt.log)
		}
		e.audit()
	}
	if got, err := g.s.Translate(g.l4, 0x15008, false); err != 0 || got != g.data[3].Addr()+8 {
		t.Fatalf("Translate new mapping = %#x, %v", got, err)
	}
}

func TestFrameTableSetup(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		m     mm.MFN
		owner abi.DomID
		count uint32
	}{
		{0, abi.DOMID_IO, 1},          // low 1 MiB
		{vgaMFN, abi.DOMID_IO, 1},     // low 1 MiB
		{e.m2p, abi.DOMID_INVALID, 0}, // hypervisor frame
		{1000, abi.DOMID_INVALID, 0},  // free
	}
	for _, tt := range tests {
		pi := e.page(tt.m)
		if pi.Owner != tt.owner || pi.Count != tt.count {
			t.Errorf("MFN %#x: %+v", tt.m, pi)
		}
	}
	if _, ok := e.ft.Page(memFrames); ok {
		t.Errorf("PageInfo beyond the frame table")
	}
	if err := e.ft.Assign(e.d1.l1, 5); err == nil {
		t.Errorf("Assign of an owned frame succeeded")
	}
	if err := e.ft.Assign(memFrames+1, 5); err == nil {
		t.Errorf("Assign beyond the table succeeded")
	}
	// AssignAll assigns in turn and stops at the first refusal.
	a, _ := e.alloc.Alloc()
	b, _ := e.alloc.Alloc()
	if n, err := e.ft.AssignAll([]mm.MFN{a, e.d1.l1, b}, 6); n != 1 || err != mm.ErrFrameNotFree {
		t.Errorf("AssignAll over an owned frame: %d assigned, %v", n, err)
	}
	if pa, pb := e.page(a), e.page(b); pa.Owner != 6 || pa.Count != 1 || pb.Owner != abi.DOMID_INVALID {
		t.Errorf("after AssignAll: %+v, %+v", pa, pb)
	}
	if n, err := e.ft.AssignAll([]mm.MFN{b, memFrames + 1}, 6); n != 1 || err != mm.ErrNoFrame {
		t.Errorf("AssignAll beyond the table: %d assigned, %v", n, err)
	}
	// A shared hypervisor frame is pinned writable: it can never become a
	// page table.
	sh, _ := e.alloc.Alloc()
	if err := e.ft.Share(sh, 1, true); err != nil {
		t.Fatal(err)
	}
	if err := e.ext(e.d1, nil, extOp(abi.MMUEXT_PIN_L1_TABLE, uint64(sh), 0)); err != abi.EINVAL {
		t.Fatalf("pin shared frame: %v", err)
	}
	if err := e.upd(e.d1, nil, abi.MmuUpdate{Ptr: entry(e.d1.l1, 70, 0), Val: pte(sh, pP|pRW)}); err != 0 {
		t.Fatalf("map shared frame: %v", err)
	}
	e.audit()
	// Releasing the shared frame while mapped keeps it until the mapping
	// goes; then it is unowned and on the freed list, for the allocator.
	if err := e.ft.Release(sh, 1, e.f); err != 0 {
		t.Fatal(err)
	}
	e.audit()
	if err := e.upd(e.d1, nil, abi.MmuUpdate{Ptr: entry(e.d1.l1, 70, 0), Val: 0}); err != 0 {
		t.Fatal(err)
	}
	if pi := e.page(sh); pi.Owner != abi.DOMID_INVALID || pi.Count != 0 {
		t.Fatalf("shared frame after release: %+v", pi)
	}
	if f := e.ft.TakeFreed(); len(f) != 1 || f[0] != sh {
		t.Fatalf("freed list %v, want the shared frame %#x", f, sh)
	}
	e.audit()
	if _, err := mm.NewSpace(e.ft, 1, nil); err == nil {
		t.Errorf("second NewSpace for d1 succeeded")
	}
	if _, err := mm.NewSpace(e.ft, abi.DOMID_IO, nil); err == nil {
		t.Errorf("NewSpace for DOMID_IO succeeded")
	}
}

func TestEmulatePTWrite(t *testing.T) {
	e := newEnv(t)
	g := e.d1
	ptr := func(slot int) mm.Maddr { return g.l1.Addr() + mm.Maddr(slot*8) }
	tests := []struct {
		name    string
		ptr     mm.Maddr
		old, nv uint64
		cmpxchg bool
		want    mm.PTWriteResult
		stored  uint64 // expected entry at ptr afterwards (checked if ptr is in g.l1)
	}{
		{"map a data frame", ptr(100), 0, pte(g.data[4], pP|pRW), false, mm.PTWriteDone, pte(g.data[4], pP|pRW|pU|pGK)},
		{"clear it (ptep_get_and_clear)", ptr(100), 0, 0, false, mm.PTWriteDone, 0},
		{"cmpxchg with the right old value", ptr(3), pte(g.data[3], pP|pRW|pU|pGK), pte(g.data[3], pP|pU|pGK), true, mm.PTWriteDone, pte(g.data[3], pP|pU|pGK)},
		{"cmpxchg with a stale old value", ptr(3), pte(g.data[3], pP|pRW|pU|pGK), 0, true, mm.PTWriteRetry, pte(g.data[3], pP|pU|pGK)},
		{"writable map of the L2", ptr(101), 0, pte(g.l2, pP|pRW), false, mm.PTWriteRefused, 0},
		{"another domain's frame", ptr(101), 0, pte(e.d2.data[0], pP), false, mm.PTWriteRefused, 0},
		{"disallowed bit", ptr(101), 0, pte(g.data[0], pP|pPCD), false, mm.PTWriteRefused, 0},
		{"unaligned", ptr(101) + 4, 0, 0, false, mm.PTWriteRefused, 0},
		{"write into the L2", g.l2.Addr() + 8, 0, 0, false, mm.PTWriteRefused, 0},
		{"write into a data frame", g.data[0].Addr(), 0, 0, false, mm.PTWriteRefused, 0},
		{"write into another domain's L1", e.d2.l1.Addr(), 0, 0, false, mm.PTWriteRefused, 0},
	}
	for _, tt := range tests {
		before := e.snap()
		if got := g.s.EmulatePTWrite(tt.ptr, tt.old, tt.nv, tt.cmpxchg, e.f); got != tt.want {
			t.Fatalf("%s: result %d, want %d", tt.name, got, tt.want)
		}
		if tt.want != mm.PTWriteDone {
			e.sameAs(before, tt.name)
		}
		if tt.ptr.MFN() == g.l1 && tt.ptr&7 == 0 {
			if got := e.get(g.l1, int(tt.ptr.Offset()/8)); got != tt.stored {
				t.Fatalf("%s: entry %#x, want %#x", tt.name, got, tt.stored)
			}
		}
		e.audit()
	}
	if pi := e.page(g.data[3]); pi.TypeCount != 0 {
		t.Fatalf("data[3] still writable-typed after demotion: %+v", pi)
	}
}

func TestRelinquish(t *testing.T) {
	e := newEnv(t)
	g := e.d1
	// Extra state: a pinned L1 outside the tree, a shared frame, and a
	// mapping of d1's frame from d2 (foreign, authorised by the caller).
	x := e.frame(g.s)
	e.put(x, 0, pte(g.data[0], pP|pRW))
	if err := e.ext(g, nil, extOp(abi.MMUEXT_PIN_L1_TABLE, uint64(x), 0)); err != 0 {
		t.Fatal(err)
	}
	sh, _ := e.alloc.Alloc()
	if err := e.ft.Share(sh, 1, true); err != nil {
		t.Fatal(err)
	}
	if err := e.upd(e.d2, g.s, abi.MmuUpdate{Ptr: entry(e.d2.l1, 90, 0), Val: pte(g.data[6], pP)}); err != 0 {
		t.Fatal(err)
	}
	g.s.ReleaseVCPU(&g.v)
	e.audit()
	steps := 0
	for g.s.Relinquish(e.f, 3) {
		steps++
		e.audit()
	}
	if steps < 3 {
		t.Errorf("Relinquish finished in %d steps with a budget of 3", steps)
	}
	e.audit()
	freed := e.ft.TakeFreed()
	// Every frame of d1 but data[6] (still mapped by d2) is freed, the
	// shared frame included (back to the allocator it came from).
	if want := 4 + 8 - 1 + 1 + 1; len(freed) != want {
		t.Fatalf("freed %d frames, want %d: %v", len(freed), want, freed)
	}
	if e.ft.RemoveSpace(g.s) {
		t.Fatal("RemoveSpace while d2 maps a d1 frame")
	}
	if err := e.upd(e.d2, nil, abi.MmuUpdate{Ptr: entry(e.d2.l1, 90, 0), Val: 0}); err != 0 {
		t.Fatal(err)
	}
	if f := e.ft.TakeFreed(); len(f) != 1 || f[0] != g.data[6] {
		t.Fatalf("last mapping gone: freed %v", f)
	}
	if !e.ft.RemoveSpace(g.s) {
		t.Fatal("RemoveSpace of an empty domain failed")
	}
	if pi := e.page(sh); pi.Owner != abi.DOMID_INVALID || pi.Count != 0 {
		t.Fatalf("shared frame: %+v", pi)
	}
}

func TestSegDescType(t *testing.T) {
	mem := mmtest.NewMemory(320)
	alloc := mm.NewAllocator([]mm.Range{{Start: 0, End: 320 * mm.PageSize}}, []mm.Range{{Start: 0, End: 1 << 20}})
	m2pAt, _ := alloc.Alloc()
	m2p, err := mm.NewM2P(mem, m2pAt, 320)
	if err != nil {
		t.Fatal(err)
	}
	// The test's descriptor check refuses 0xbad and raises DPL 0 to 3.
	check := func(owner abi.DomID, descs *[512]uint64) bool {
		for i, d := range descs {
			if d == 0xbad {
				return false
			}
			if d&(1<<47) != 0 && (d>>45)&3 == 0 {
				descs[i] |= 3 << 45
			}
		}
		return true
	}
	ft, err := mm.NewFrameTable(mm.FrameTableConfig{Mem: mem, Alloc: alloc, M2P: m2p, XenL4Slots: xenSlots(m2pAt), CheckSegDescPage: check})
	if err != nil {
		t.Fatal(err)
	}
	s, err := mm.NewSpace(ft, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	good, _ := s.AllocFrame()
	bad, _ := s.AllocFrame()
	put := func(m mm.MFN, slot int, v uint64) {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], v)
		mem.Write(m.Addr()+mm.Maddr(slot*8), b[:])
	}
	code := uint64(0x00af9a000000ffff) // 64-bit code, DPL 0, present
	put(good, 1, code)
	put(bad, 1, code)
	put(bad, 2, 0xbad)
	f := &mmtest.Flusher{}
	if !ft.GetPage(good, 1) || !ft.GetPage(bad, 1) {
		t.Fatal("GetPage")
	}
	if err := ft.GetPageType(good, mm.PageTypeSegDesc, f); err != 0 {
		t.Fatalf("good descriptor page: %v", err)
	}
	if v, _ := mem.Load64(good.Addr() + 8); v != code|3<<45 {
		t.Fatalf("descriptor not fixed up: %#x", v)
	}
	if err := ft.GetPageType(bad, mm.PageTypeSegDesc, f); err != abi.EINVAL {
		t.Fatalf("bad descriptor page: %v", err)
	}
	if pi, _ := ft.Page(bad); pi.Type != mm.PageTypeNone || pi.TypeCount != 0 {
		t.Fatalf("bad page after refusal: %+v", pi)
	}
	if err := ft.GetPageType(good, mm.PageTypeWritable, f); err != abi.EINVAL {
		t.Fatalf("writable use of a descriptor page: %v", err)
	}
	if err := ft.GetPageType(good, mm.PageTypeNone, f); err != abi.EINVAL {
		t.Fatalf("GetPageType(none): %v", err)
	}
	ft.PutPageType(good)
	ft.PutPage(good)
	ft.PutPage(bad)
	if err := ft.Audit(nil, nil); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentVCPUs runs two domains' MMU operations and guest-memory
// translations at the same time (run it with -race).
func TestConcurrentVCPUs(t *testing.T) {
	e := newEnv(t)
	done := make(chan bool)
	for _, g := range []*guest{e.d1, e.d2} {
		go func(g *guest) {
			f := &mmtest.Flusher{}
			for i := 0; i < 200; i++ {
				slot := 100 + i%50
				g.s.MMUUpdate([]abi.MmuUpdate{{Ptr: entry(g.l1, slot, 0), Val: pte(g.data[i%8], pP|pRW)}}, nil, f)
				g.s.Translate(g.l4, mm.GuestVA(slot)<<12, true)
				g.s.UpdateVAMapping(&g.v, mm.GuestVA(slot)<<12, 0, abi.UVMF_INVLPG, nil, f)
			}
			done <- true
		}(g)
	}
	<-done
	<-done
	e.audit()
}

func TestNilFlusher(t *testing.T) {
	e := newEnv(t)
	g := e.d1
	ops := []abi.MmuextOp{
		extOp(abi.MMUEXT_TLB_FLUSH_ALL, 0, 0),
		extOp(abi.MMUEXT_INVLPG_LOCAL, 0x1000, 0),
		extOp(abi.MMUEXT_UNPIN_TABLE, uint64(g.l4), 0),
		extOp(abi.MMUEXT_PIN_L4_TABLE, uint64(g.l4), 0),
	}
	if done, err := g.s.MMUExtOp(&g.v, ops, nil, nil); done != len(ops) || err != 0 {
		t.Fatalf("MMUExtOp with nil Flusher = %d, %v", done, err)
	}
	if _, err := g.s.MMUExtOp(&g.v, []abi.MmuextOp{extOp(abi.MMUEXT_TLB_FLUSH_MULTI, 0, 0x5000)}, nil, nil); err != abi.EINVAL {
		t.Fatalf("flush multi with nil Flusher = %v", err)
	}
	if err := g.s.UpdateVAMapping(&g.v, 0x20000, pte(g.data[0], pP), abi.UVMF_INVLPG, nil, nil); err != 0 {
		t.Fatalf("UpdateVAMapping with nil Flusher = %v", err)
	}
	e.audit()
}

func TestGrantMappings(t *testing.T) {
	e := newEnv(t)
	g := e.d1
	granted := e.d2.data[4]
	// The grant code's references for a writable host mapping.
	take := func() {
		if !e.ft.GetPage(granted, 2) || e.ft.GetPageType(granted, mm.PageTypeWritable, e.f) != 0 {
			t.Fatal("grant references")
		}
	}
	drop := func() {
		e.ft.PutPageType(granted)
		e.ft.PutPage(granted)
	}
	take()
	// By linear address (VA 0x30000 is L1 slot 48), as a kernel mapping
	// with guest-available bit 0 and write-through caching.
	flags := uint32(abi.GNTMAP_host_map | 1<<abi.GNTMAP_guest_avail0_bit)
	if !g.s.MapGrant(g.l4, 0x30000, granted, flags, 1, e.f) {
		t.Fatal("MapGrant by linear address")
	}
	want := pte(granted, pP|pRW|pA|pD|pNX|pGNT|pU|pGK|pPWT|1<<9)
	if got := e.get(g.l1, 48); got != want {
		t.Fatalf("grant PTE %#x, want %#x", got, want)
	}
	e.audit() // the entry now holds the references
	if got, err := g.s.Translate(g.l4, 0x30008, true); err != 0 || got != granted.Addr()+8 {
		t.Fatalf("Translate grant mapping = %#x, %v", got, err)
	}
	// Unmapping with the read-only flag does not match the writable PTE.
	if g.s.UnmapGrant(g.l4, 0x30000, granted, flags|abi.GNTMAP_readonly) {
		t.Fatal("UnmapGrant with mismatched RW")
	}
	if g.s.UnmapGrant(g.l4, 0x30000, e.d2.data[5], flags) {
		t.Fatal("UnmapGrant of another frame")
	}
	if !g.s.UnmapGrant(g.l4, 0x30000, granted, flags) {
		t.Fatal("UnmapGrant")
	}
	if e.get(g.l1, 48) != 0 {
		t.Fatal("grant PTE not cleared")
	}
	drop()
	e.audit()

	// By PTE machine address, read-only, application map.
	if !e.ft.GetPage(granted, 2) {
		t.Fatal("GetPage")
	}
	ro := uint32(abi.GNTMAP_host_map | abi.GNTMAP_contains_pte | abi.GNTMAP_readonly | abi.GNTMAP_application_map)
	ptr := entry(g.l1, 49, 0)
	if g.s.MapGrant(0, ptr+4, granted, ro, 0, e.f) {
		t.Fatal("MapGrant at a misaligned PTE address (XSA-227)")
	}
	if g.s.MapGrant(0, entry(g.l2, 49, 0), granted, ro, 0, e.f) {
		t.Fatal("MapGrant into an L2")
	}
	if g.s.MapGrant(0, entry(e.d2.l1, 49, 0), granted, ro, 0, e.f) {
		t.Fatal("MapGrant into another domain's L1")
	}
	if !g.s.MapGrant(0, ptr, granted, ro, 0, e.f) {
		t.Fatal("MapGrant by PTE address")
	}
	if got, want := e.get(g.l1, 49), pte(granted, pP|pA|pD|pNX|pGNT|pU|pG); got != want {
		t.Fatalf("grant PTE %#x, want %#x", got, want)
	}
	e.audit()
	// The guest zaps the entry itself: its references go with it, and the
	// later unmap finds nothing.
	if err := e.upd(g, nil, abi.MmuUpdate{Ptr: ptr, Val: 0}); err != 0 {
		t.Fatal(err)
	}
	e.audit()
	if g.s.UnmapGrant(0, ptr, granted, ro) {
		t.Fatal("UnmapGrant after the guest zapped the entry")
	}
	// The guest cannot forge a grant PTE.
	if err := e.upd(g, nil, abi.MmuUpdate{Ptr: ptr, Val: pte(g.data[0], pP|pGNT)}); err != abi.EINVAL {
		t.Fatalf("forged grant PTE: %v", err)
	}
	// Mapping over an existing entry drops that entry's references.
	if !e.ft.GetPage(granted, 2) {
		t.Fatal("GetPage")
	}
	if !g.s.MapGrant(0, entry(g.l1, 2, 0), granted, ro, 0, e.f) {
		t.Fatal("MapGrant over data[2]")
	}
	if pi := e.page(g.data[2]); pi.Count != 1 || pi.TypeCount != 0 {
		t.Fatalf("replaced entry's frame: %+v", pi)
	}
	e.audit()
}

// TestFrameTableStorage: a frame table over storage the caller gives
// (FrameTableConfig.Pages, what the metal lays over frames outside the
// collected heap) starts as one NewFrameTable makes itself, whatever the
// storage held, and storage too short for the allocator's frames is
// refused.
func TestFrameTableStorage(t *testing.T) {
	const frames = 400
	// RAM with a hole, so that the I/O and unowned runs both show.
	alloc := func() *mm.Allocator {
		return mm.NewAllocator([]mm.Range{{Start: 0, End: 300 * mm.PageSize}, {Start: 320 * mm.PageSize, End: frames * mm.PageSize}},
			[]mm.Range{{Start: 0, End: 1 << 20}})
	}
	build := func(pages []mm.FrameEntry) (*mm.FrameTable, error) {
		a := alloc()
		mem := mmtest.NewMemory(frames)
		m2pAt, _ := a.AllocContig(mm.M2PFrames(frames), ^mm.Maddr(0), 1)
		m2p, err := mm.NewM2P(mem, m2pAt, frames)
		if err != nil {
			t.Fatal(err)
		}
		return mm.NewFrameTable(mm.FrameTableConfig{Mem: mem, Alloc: a, M2P: m2p, XenL4Slots: xenSlots(m2pAt), Pages: pages})
	}
	want, err := build(nil)
	if err != nil {
		t.Fatal(err)
	}
	junkInfo := mm.PageInfo{Count: 0xdead, TypeCount: 7, Owner: 3, Type: mm.PageTypeL2, Pinned: true, Validated: true}
	junk := make([]mm.FrameEntry, frames+7)
	for i := range junk {
		junk[i] = mm.PackPageInfo(junkInfo)
	}
	got, err := build(junk)
	if err != nil {
		t.Fatal(err)
	}
	if got.Len() != want.Len() || want.Len() != frames {
		t.Fatalf("Len %d over given storage, %d over its own; want %d", got.Len(), want.Len(), frames)
	}
	for m := mm.MFN(0); m < frames; m++ {
		g, gok := got.Page(m)
		w, wok := want.Page(m)
		if g != w || gok != wok || !wok || junk[m] != mm.PackPageInfo(w) {
			t.Fatalf("frame %#x: %+v (%v) over given storage, want %+v (%v)", m, g, gok, w, wok)
		}
	}
	if junk[frames] != junk[frames+6] || junk[frames] != mm.PackPageInfo(junkInfo) {
		t.Error("NewFrameTable wrote past the frames it covers")
	}
	if _, err := build(make([]mm.FrameEntry, frames-1)); err == nil {
		t.Error("storage one frame short: accepted")
	}
	if n := mm.FrameTableBytes(frames); n != frames*mm.FrameEntrySize {
		t.Errorf("FrameTableBytes(%d) = %d", frames, n)
	}
}
