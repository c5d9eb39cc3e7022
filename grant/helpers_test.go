package grant

import (
	"encoding/binary"
	"sync"
	"testing"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/mm"
	"github.com/gohv/gohv/mm/mmtest"
)

// Machine layout of the test world (64 frames of fake RAM):
//
//	d1 owns MFNs 10..19, d2 owns 20..29, d3 owns 30..39,
//	grant frames come from 40..63 (shared, owned by no domain here).
const (
	d1 abi.DomID = 1
	d2 abi.DomID = 2
	d3 abi.DomID = 3
	// dom0 is the control domain in tests that need one.
	dom0 abi.DomID = 0

	ramFrames = 64
	poolFirst = 40
)

func ownedBy(d abi.DomID) (first, last mm.MFN) {
	switch d {
	case d1:
		return 10, 19
	case d2:
		return 20, 29
	case d3:
		return 30, 39
	case dom0:
		return 1, 9
	}
	return 1, 0
}

// fakeFrames is mm's page ownership and reference counting: a PV domain's
// frame number is its MFN, and a domain may reach only frames it owns.
type fakeFrames struct {
	mu       sync.Mutex
	owner    map[mm.MFN]abi.DomID
	noWrite  map[mm.MFN]bool // page tables: a writable type ref fails
	refs     map[mm.MFN]int
	typeRefs map[mm.MFN]int
	t        testing.TB
}

func newFakeFrames(t testing.TB) *fakeFrames {
	f := &fakeFrames{owner: map[mm.MFN]abi.DomID{}, noWrite: map[mm.MFN]bool{},
		refs: map[mm.MFN]int{}, typeRefs: map[mm.MFN]int{}, t: t}
	for _, d := range []abi.DomID{dom0, d1, d2, d3} {
		first, last := ownedBy(d)
		for m := first; m <= last; m++ {
			f.owner[m] = d
		}
	}
	return f
}

func (f *fakeFrames) GetFrame(d abi.DomID, frame uint64, writable bool) (mm.MFN, Status) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := mm.MFN(frame)
	if o, ok := f.owner[m]; !ok || o != d || frame >= ramFrames {
		return 0, GNTST_bad_page
	}
	if writable && f.noWrite[m] {
		return 0, GNTST_general_error
	}
	f.refs[m]++
	if writable {
		f.typeRefs[m]++
	}
	return m, GNTST_okay
}

func (f *fakeFrames) PutFrame(d abi.DomID, m mm.MFN, writable bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.owner[m] != d || f.refs[m] == 0 || (writable && f.typeRefs[m] == 0) {
		f.t.Errorf("PutFrame(d%d, %#x, %v) without a matching GetFrame", d, m, writable)
		return
	}
	f.refs[m]--
	if writable {
		f.typeRefs[m]--
	}
}

func (f *fakeFrames) held() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, r := range f.refs {
		n += r
	}
	for _, r := range f.typeRefs {
		n += r
	}
	return n
}

// fakeMapper is the PV MMU's grant PTEs: one mapping per (domain, address).
// An address with bit 63 set has no L1 table; contains_pte addresses must
// be 8-byte aligned (XSA-227).
type fakeMapper struct {
	mu   sync.Mutex
	ptes map[pteKey]pte
}

type pteKey struct {
	d    abi.DomID
	addr uint64
}

type pte struct {
	mfn   mm.MFN
	flags uint32
}

func newFakeMapper() *fakeMapper { return &fakeMapper{ptes: map[pteKey]pte{}} }

func (m *fakeMapper) MapGrant(d abi.DomID, addr uint64, mfn mm.MFN, flags uint32) Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	if addr == 0 || addr>>63 != 0 || (flags&mapContainsPTE != 0 && addr&7 != 0) {
		return GNTST_general_error
	}
	k := pteKey{d, addr}
	if _, busy := m.ptes[k]; busy {
		return GNTST_general_error
	}
	m.ptes[k] = pte{mfn, flags}
	return GNTST_okay
}

func (m *fakeMapper) UnmapGrant(d abi.DomID, addr uint64, mfn mm.MFN, flags uint32) Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := pteKey{d, addr}
	if p, ok := m.ptes[k]; !ok || p.mfn != mfn {
		return GNTST_general_error
	}
	delete(m.ptes, k)
	return GNTST_okay
}

func (m *fakeMapper) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.ptes)
}

// pool hands out grant frames from MFNs [poolFirst, ramFrames).
type pool struct {
	mu    sync.Mutex
	free  []mm.MFN
	fail  bool // AllocFrame fails while set
	inUse map[mm.MFN]bool
}

func newPool() *pool {
	p := &pool{inUse: map[mm.MFN]bool{}}
	for m := mm.MFN(ramFrames - 1); m >= poolFirst; m-- {
		p.free = append(p.free, m)
	}
	return p
}

func (p *pool) AllocFrame() (mm.MFN, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail || len(p.free) == 0 {
		return 0, false
	}
	m := p.free[len(p.free)-1]
	p.free = p.free[:len(p.free)-1]
	p.inUse[m] = true
	return m, true
}

func (p *pool) FreeFrame(m mm.MFN) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.inUse[m] {
		panic("pool: freeing a frame not in use")
	}
	delete(p.inUse, m)
	p.free = append(p.free, m)
}

// world is a machine with grant tables for d1, d2 and d3 (and optionally a
// control domain 0).
type world struct {
	t      testing.TB
	mem    *mmtest.Memory
	frames *fakeFrames
	mapper *fakeMapper
	pool   *pool
	ts     *Tables
}

func newWorld(t testing.TB, cfg Config) *world {
	w := &world{t: t, mem: mmtest.NewMemory(ramFrames), frames: newFakeFrames(t),
		mapper: newFakeMapper(), pool: newPool()}
	w.ts = NewTables(w.mem, w.frames, w.mapper)
	for _, d := range []abi.DomID{d1, d2, d3} {
		if e := w.ts.Create(d, cfg, w.pool); e != 0 {
			t.Fatalf("Create(d%d) = %v", d, e)
		}
	}
	return w
}

// gframe is the MFN of domain d's grant frame i, as setup_table reports.
func (w *world) gframe(d abi.DomID, i int) mm.MFN {
	w.t.Helper()
	fs, st := w.ts.SetupTable(d, abi.DOMID_SELF, uint32(i+1), nil)
	if st != GNTST_okay {
		w.t.Fatalf("SetupTable(d%d, %d) = %v", d, i+1, st)
	}
	return fs[i]
}

// grant is what the granting guest does: it writes entry ref of its own
// table through its mapping of the grant frame.
func (w *world) grant(d abi.DomID, ref Ref, flags uint16, to abi.DomID, frame uint32) {
	w.t.Helper()
	f := w.gframe(d, int(ref/EntriesPerFrame))
	var b [8]byte
	binary.LittleEndian.PutUint16(b[0:], flags)
	binary.LittleEndian.PutUint16(b[2:], uint16(to))
	binary.LittleEndian.PutUint32(b[4:], frame)
	if !w.mem.Write(f.Addr()+mm.Maddr(ref%EntriesPerFrame)*8, b[:]) {
		w.t.Fatal("grant: write failed")
	}
}

// flags reads the flags of d's entry ref as the granting guest sees them.
func (w *world) flags(d abi.DomID, ref Ref) uint16 {
	w.t.Helper()
	f := w.gframe(d, int(ref/EntriesPerFrame))
	v, ok := w.mem.Load64(f.Addr() + mm.Maddr(ref%EntriesPerFrame)*8)
	if !ok {
		w.t.Fatal("flags: load failed")
	}
	return uint16(v)
}

func (w *world) pin(d abi.DomID, ref Ref) uint32 {
	w.ts.mu.RLock()
	defer w.ts.mu.RUnlock()
	t := w.ts.tables[d]
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.active[ref].pin
}

func (w *world) mapRef(ld abi.DomID, dom abi.DomID, ref Ref, flags uint32, host uint64) MapOp {
	op := MapOp{HostAddr: host, Flags: flags, Ref: ref, Dom: dom}
	w.ts.MapGrantRef(ld, &op)
	return op
}

func (w *world) unmap(ld abi.DomID, h Handle, host, dev uint64) Status {
	op := UnmapOp{HostAddr: host, DevBusAddr: dev, Handle: h}
	w.ts.UnmapGrantRef(ld, &op)
	return op.Status
}

const (
	perm = gtfPermitAccess
	ro   = gtfReadonly
	rd   = gtfReading
	wr   = gtfWriting
)
