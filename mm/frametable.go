package mm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/gohv/gohv/abi"
)

// PageType is the use a frame is put to (Xen's PGT_* types). A frame's type
// can change only while its type count is zero.
type PageType uint8

// Page types. The order of L1..L4 matters: level n is PageTypeL1+n-1.
const (
	PageTypeNone     PageType = iota // no typed use yet (PGT_none)
	PageTypeL1                       // L1 page table (PGT_l1_page_table)
	PageTypeL2                       // L2 page table
	PageTypeL3                       // L3 page table
	PageTypeL4                       // L4 page table
	PageTypeSegDesc                  // GDT/LDT frame (PGT_seg_desc_page)
	PageTypeWritable                 // mapped writable (PGT_writable_page)
)

var pageTypeNames = [...]string{"none", "L1", "L2", "L3", "L4", "seg_desc", "writable"}

func (t PageType) String() string {
	if int(t) < len(pageTypeNames) {
		return pageTypeNames[t]
	}
	return fmt.Sprintf("PageType(%d)", uint8(t))
}

// level returns 1..4 for a page-table type, 0 otherwise.
func (t PageType) level() int {
	if t >= PageTypeL1 && t <= PageTypeL4 {
		return int(t-PageTypeL1) + 1
	}
	return 0
}

func tableType(level int) PageType { return PageTypeL1 + PageType(level-1) }

// ownerNone is the owner of a frame no domain holds.
const ownerNone = abi.DomID(abi.DOMID_INVALID)

// PageInfo is what the hypervisor knows about one machine frame (Xen's
// struct page_info), as FrameTable.Page reports it: a copy. The table
// stores it packed, as a FrameEntry.
type PageInfo struct {
	// Count is the general reference count (count_info): 1 while the
	// owner holds it (Allocated), plus one per mapping, per typed
	// reference, per pin and per base pointer. A frame whose Count reaches
	// zero is free.
	Count uint32
	// TypeCount counts the users of Type.
	TypeCount uint32
	// Owner is the domain the frame belongs to: a domain id, DOMID_IO for
	// I/O memory (non-RAM holes and the low 1 MiB), DOMID_XEN for
	// hypervisor frames shared read-only, or DOMID_INVALID if unowned.
	Owner abi.DomID
	// Type is the frame's current use.
	Type PageType
	// Allocated is Xen's PGC_allocated: the owner's own reference.
	Allocated bool
	// Pinned is PGT_pinned: the guest holds one type and one general
	// reference through MMUEXT_PIN_*.
	Pinned bool
	// Validated is PGT_validated: every entry of the page table (or
	// descriptor page) has been checked and holds its references.
	Validated bool
	// XenHeap marks a hypervisor frame shared with a guest (shared_info,
	// grant frames): its type is pinned by the share, and when its last
	// reference goes it is freed (TakeFreed) like a domain's frame.
	XenHeap bool
}

// FrameEntry is the frame table's stored form of one frame's PageInfo:
// FrameEntrySize bytes (TestFrameEntrySize), since the table holds one
// per machine frame, and no pointer, so that the metal may keep the table
// outside the collected heap (FrameTableConfig.Pages). Its fields are
// mm's alone: the metal only provides the storage. All of it is protected
// by FrameTable.mu.
//
// The counts are 32 bits wide where Xen's count_info and type_info give
// theirs some 55: a reference that would take either to 2^32-1 is refused
// (get_page fails, get_page_type returns EINVAL), which no guest reaches
// in practice (2^32 mappings of one frame take 32 GiB of L1 tables).
type FrameEntry struct {
	count     uint32    // PageInfo.Count
	typeCount uint32    // PageInfo.TypeCount
	owner     abi.DomID // PageInfo.Owner
	bits      pageBits  // PageInfo.Type and its four flags
	// flushStamp is FrameTable.flushGen (its low byte) when typeCount
	// last dropped to zero: if a type-change flush has been asked for
	// since, no CPU holds a translation through the frame's old use
	// (Xen's tlbflush_timestamp). A hint, not state: Page does not
	// report it.
	flushStamp uint8
}

// FrameEntrySize is the size of a FrameEntry in bytes (TestFrameEntrySize).
const FrameEntrySize = 12

// pageBits packs a frame's PageType (the low bits, pgTypeMask) with the
// flags of PageInfo (pgAllocated ...).
type pageBits uint8

const (
	pgTypeMask  pageBits = 7      // PageType
	pgAllocated pageBits = 1 << 3 // PageInfo.Allocated (PGC_allocated)
	pgPinned    pageBits = 1 << 4 // PageInfo.Pinned (PGT_pinned)
	pgValidated pageBits = 1 << 5 // PageInfo.Validated (PGT_validated)
	pgXenHeap   pageBits = 1 << 6 // PageInfo.XenHeap
)

// Every PageType fits in pgTypeMask: this constant overflows (and the
// package does not build) if one does not.
const _ = uint8(pgTypeMask - pageBits(PageTypeWritable))

// typ returns the frame's type. mu held.
func (e *FrameEntry) typ() PageType { return PageType(e.bits & pgTypeMask) }

// setType sets the frame's type, a PageType constant. mu held.
func (e *FrameEntry) setType(t PageType) { e.bits = e.bits&^pgTypeMask | pageBits(t) }

// has reports whether flag f (pgAllocated ...) is set. mu held.
func (e *FrameEntry) has(f pageBits) bool { return e.bits&f != 0 }

// set sets flag f (pgAllocated ...) to on. mu held.
func (e *FrameEntry) set(f pageBits, on bool) {
	if on {
		e.bits |= f
	} else {
		e.bits &^= f
	}
}

// info unpacks e. mu held.
func (e *FrameEntry) info() PageInfo {
	return PageInfo{
		Count:     e.count,
		TypeCount: e.typeCount,
		Owner:     e.owner,
		Type:      e.typ(),
		Allocated: e.has(pgAllocated),
		Pinned:    e.has(pgPinned),
		Validated: e.has(pgValidated),
		XenHeap:   e.has(pgXenHeap),
	}
}

// FrameTableConfig wires a FrameTable to the machine.
type FrameTableConfig struct {
	// Mem is machine memory; page tables are read and written through it.
	Mem MachineMemory
	// Alloc provides and takes back domain frames. The frame table covers
	// frames [0, Alloc.FrameLimit()).
	Alloc *Allocator
	// M2P is the global machine-to-physical table (MMU_MACHPHYS_UPDATE
	// writes it).
	M2P *M2P
	// XenL4Slots returns the hypervisor's entries for L4 slots
	// XenL4FirstSlot.. of the guest L4 at frame l4 (the read-only M2P, the
	// linear map, per-domain area ...). They are written into every L4
	// when it is validated. Required.
	XenL4Slots func(l4 MFN) [XenL4SlotCount]uint64
	// CheckSegDescPage validates a frame's 512 descriptors before it may
	// become a GDT/LDT frame (Xen's check_descriptor on each, supplied by
	// hv). It may fix descriptors up in place (Xen raises the DPL); mm
	// writes the changes back. If nil, PageTypeSegDesc is refused with
	// EINVAL.
	CheckSegDescPage func(owner abi.DomID, descs *[ptEntries]uint64) bool
	// TopLevelReleased is told, with the MMU lock held, that frame l4 has
	// lost its last L4 type reference: no CPU may keep it loaded in CR3,
	// since the frame may now become anything. The metal leaves a guest's
	// tables loaded after it exits, so it switches such a CPU to its own.
	// May be nil (nothing loads guest tables: tests).
	TopLevelReleased func(l4 MFN)
	// Pages, if not nil, is the storage for the entry of every frame:
	// len(Pages) >= Alloc.FrameLimit() (FrameTableBytes of it), whatever
	// it holds (NewFrameTable sets every entry). The metal lays it over
	// frames it withholds from the allocator for good, so that the
	// collector neither scans nor paces on the largest table the
	// hypervisor has. nil: NewFrameTable makes it in the heap.
	Pages []FrameEntry
}

// FrameTableBytes returns the size of the storage a frame table covering
// frames [0, limit) needs (FrameTableConfig.Pages).
func FrameTableBytes(limit MFN) uint64 { return uint64(limit) * FrameEntrySize }

// FrameTable is the PV memory model's state: an entry per machine frame,
// the domains' Spaces, and the frames waiting for a TLB flush before they
// may be reused.
//
// Locking: mu, one sync.Mutex, is the MMU lock. It protects every
// frame's entry, the Spaces' registration, the freed list, and every write the
// hypervisor makes to a guest page table. Every exported method takes it;
// none may be called with it held. Goroutine context only.
type FrameTable struct {
	mu sync.Mutex

	mem        MachineMemory                            // immutable after New
	tables     TableReader                              // mem's, if it has one; immutable after New
	alloc      *Allocator                               // immutable after New
	m2p        *M2P                                     // immutable after New
	xenL4      func(MFN) [XenL4SlotCount]uint64         // immutable after New
	checkSeg   func(abi.DomID, *[ptEntries]uint64) bool // immutable after New
	released   func(MFN)                                // immutable after New; may be nil
	flushGen   uint8                                    // type-change flushes asked for, mod 256 (FrameEntry.flushStamp); mu
	pages      []FrameEntry                             // indexed by MFN; mu
	spaces     map[abi.DomID]*Space                     // registered domains; mu
	freed      []MFN                                    // frames whose Count reached 0; mu
	io         *Space                                   // the DOMID_IO pseudo-domain; immutable
	lowIOLimit MFN                                      // frames below are I/O (low 1 MiB)

	// Scratch buffers for the page-table paths, which run for every
	// entry of every batch and every table pinned or released: a buffer
	// handed to mem (an interface) would otherwise be a heap allocation
	// each time. mu; readTable and writeChanged are done with pageBuf
	// before they return, and word is never held across another call.
	// valTabs and devalTabs hold the table validate and devalidate work
	// on, one per level (index level-1): each recurses only into the
	// level below, so a level's buffer has one user at a time.
	pageBuf   [PageSize]byte
	word      [8]byte
	valTabs   [4][ptEntries]uint64
	devalTabs [4][ptEntries]uint64
}

// lowIOFrames is the historic low 1 MiB that Xen gives to DOMID_IO.
const lowIOFrames = (1 << 20) / PageSize

// Errors of the frame-ownership calls made by the hypervisor itself (not
// by guests).
var (
	ErrFrameNotFree = errors.New("mm: frame is not free")
	ErrNoFrame      = errors.New("mm: frame outside the frame table")
)

// NewFrameTable builds the frame table for every frame below
// cfg.Alloc.FrameLimit(). Frames that are not RAM, and the low 1 MiB, are
// owned by DOMID_IO; every other frame is unowned until Assign or Share.
func NewFrameTable(cfg FrameTableConfig) (*FrameTable, error) {
	if cfg.Mem == nil || cfg.Alloc == nil || cfg.M2P == nil || cfg.XenL4Slots == nil {
		return nil, errors.New("mm: NewFrameTable: Mem, Alloc, M2P and XenL4Slots are required")
	}
	limit := cfg.Alloc.FrameLimit()
	pages := cfg.Pages
	if pages == nil {
		pages = make([]FrameEntry, limit)
	} else if MFN(len(pages)) < limit {
		return nil, fmt.Errorf("mm: NewFrameTable: storage for %d frames, %d needed", len(pages), limit)
	}
	ft := &FrameTable{
		mem:        cfg.Mem,
		alloc:      cfg.Alloc,
		m2p:        cfg.M2P,
		xenL4:      cfg.XenL4Slots,
		checkSeg:   cfg.CheckSegDescPage,
		released:   cfg.TopLevelReleased,
		pages:      pages[:limit:limit],
		spaces:     map[abi.DomID]*Space{},
		lowIOLimit: lowIOFrames,
	}
	// Every frame is DOMID_IO's (Xen's share_xen_page_with_guest(page,
	// dom_io, SHARE_rw)) but the RAM frames from the low 1 MiB up, which
	// are unowned: set run by run, not frame by frame through IsRAM.
	io := FrameEntry{owner: abi.DOMID_IO, count: 1, typeCount: 1, bits: pageBits(PageTypeWritable) | pgAllocated | pgValidated | pgXenHeap}
	for m := range ft.pages {
		ft.pages[m] = io
	}
	for _, r := range cfg.Alloc.ramRuns() {
		first, end := max(r.first, ft.lowIOLimit), min(r.first+MFN(r.n), limit)
		for m := first; m < end; m++ {
			ft.pages[m] = FrameEntry{owner: ownerNone}
		}
	}
	ft.tables, _ = cfg.Mem.(TableReader)
	ft.io = &Space{ft: ft, id: abi.DOMID_IO}
	return ft, nil
}

// Len returns the number of frames the table covers.
func (ft *FrameTable) Len() MFN { return MFN(len(ft.pages)) }

// M2P returns the global M2P table.
func (ft *FrameTable) M2P() *M2P { return ft.m2p }

// Page returns a copy of frame m's PageInfo.
func (ft *FrameTable) Page(m MFN) (PageInfo, bool) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	if pi := ft.page(m); pi != nil {
		return pi.info(), true
	}
	return PageInfo{}, false
}

// Assign gives the unowned frame m (just taken from the allocator) to
// domain d: owner d, one reference held by the owner, no type.
func (ft *FrameTable) Assign(m MFN, d abi.DomID) error {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	return ft.assign(m, d)
}

// assign is Assign with mu held.
func (ft *FrameTable) assign(m MFN, d abi.DomID) error {
	pi := ft.page(m)
	if pi == nil {
		return ErrNoFrame
	}
	if pi.count != 0 || pi.owner != ownerNone {
		return ErrFrameNotFree
	}
	*pi = FrameEntry{owner: d, count: 1, bits: pgAllocated}
	return nil
}

// AssignAll is Assign for each frame of ms in turn, under one lock. It
// stops at the first frame Assign would refuse, with Assign's error, and
// returns how many frames it assigned.
func (ft *FrameTable) AssignAll(ms []MFN, d abi.DomID) (int, error) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	for i, m := range ms {
		if err := ft.assign(m, d); err != nil {
			return i, err
		}
	}
	return len(ms), nil
}

// Share gives the hypervisor frame m (unowned, not from a domain) to
// domain d, as Xen's share_xen_page_with_guest: its type is pinned as
// writable (or none if !writable), so it can never become a page table,
// and its M2P entry is invalidated.
func (ft *FrameTable) Share(m MFN, d abi.DomID, writable bool) error {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	pi := ft.page(m)
	if pi == nil {
		return ErrNoFrame
	}
	if pi.count != 0 || pi.owner != ownerNone {
		return ErrFrameNotFree
	}
	t := PageTypeNone
	if writable {
		t = PageTypeWritable
	}
	*pi = FrameEntry{owner: d, count: 1, typeCount: 1, bits: pageBits(t) | pgAllocated | pgValidated | pgXenHeap}
	ft.m2p.Set(m, InvalidM2PEntry)
	return nil
}

// Release drops the owner's reference on frame m (decrease_reservation,
// domain destruction): it is unpinned if pinned, its M2P entry is
// invalidated, and the frame is freed once the last mapping of it goes
// (see TakeFreed). For a frame given with Share, the share's type
// reference goes too, and once unmapped it is on the freed list like any
// other (hv allocated it and gives it back to the allocator). EINVAL if d does not own m or
// has already released it.
func (ft *FrameTable) Release(m MFN, d abi.DomID, f Flusher) abi.Errno {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	pi := ft.page(m)
	if pi == nil || pi.owner != d || !pi.has(pgAllocated) || pi.owner == abi.DOMID_IO {
		return abi.EINVAL
	}
	c := &opCtx{flush: f}
	if pi.has(pgPinned) {
		pi.set(pgPinned, false)
		ft.putPageAndType(m, c)
	}
	if pi.has(pgXenHeap) {
		// Drop the type reference Share pinned it with.
		ft.putPageType(m, c)
	} else {
		ft.m2p.Set(m, InvalidM2PEntry)
	}
	pi.set(pgAllocated, false)
	ft.putPage(m)
	return 0
}

// TakeFreed returns the frames whose last reference went since the previous
// call, and forgets them. Stale TLB entries of any CPU may still map them:
// the caller flushes every CPU that ran the owning domains, then gives the
// frames back with Allocator.Free. (Xen does the same with TLB-flush
// time stamps.)
func (ft *FrameTable) TakeFreed() []MFN {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	f := ft.freed
	ft.freed = nil
	return f
}

// GetPage takes a general reference on frame m if domain d owns it (Xen's
// get_page), for users outside the PV MMU ops (grant copy, memory_op).
func (ft *FrameTable) GetPage(m MFN, d abi.DomID) bool {
	ft.mu.Lock()
	ok := ft.getPage(m, d)
	ft.mu.Unlock()
	return ok
}

// PutPage drops a reference taken by GetPage.
func (ft *FrameTable) PutPage(m MFN) {
	ft.mu.Lock()
	defer ft.mu.Unlock() // putPage panics on a free frame: the lock must not stay held
	ft.putPage(m)
}

// GetPageType takes a type reference of type t on frame m, validating it
// if it gains a page-table or descriptor type. The caller already holds a
// general reference (GetPage). f receives the TLB flush a type change needs.
func (ft *FrameTable) GetPageType(m MFN, t PageType, f Flusher) abi.Errno {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	if t == PageTypeNone || t > PageTypeWritable || ft.page(m) == nil || ft.pages[m].count == 0 {
		return abi.EINVAL
	}
	c := &opCtx{flush: f}
	return c.done(ft, ft.getPageType(m, t, c))
}

// PutPageType drops a reference taken by GetPageType.
func (ft *FrameTable) PutPageType(m MFN) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	ft.putPageType(m, &opCtx{})
}

// opCtx carries what the reference-count primitives need from the
// operation they run in.
type opCtx struct {
	flush Flusher // may be nil (domain not running yet)
	// undo[:nundo], then retyped, record every frame whose type changed
	// during the operation, oldest first, so that a failing operation can
	// restore the types of the frames it left unused: a failed request
	// changes nothing. The first few are kept in undo, in the opCtx
	// itself (on the caller's stack), so that a request retyping a frame
	// or two allocates nothing.
	undo    [4]typeUndo
	nundo   int
	retyped []typeUndo
}

type typeUndo struct {
	m         MFN
	typ       PageType
	validated bool
}

// rollback restores the type of every frame the failed operation retyped
// and left with a zero type count, newest first. mu held.
func (c *opCtx) rollback(ft *FrameTable) {
	restore := func(u typeUndo) {
		if pi := &ft.pages[u.m]; pi.typeCount == 0 {
			pi.setType(u.typ)
			pi.set(pgValidated, u.validated)
		}
	}
	for i := len(c.retyped) - 1; i >= 0; i-- {
		restore(c.retyped[i])
	}
	for i := c.nundo - 1; i >= 0; i-- {
		restore(c.undo[i])
	}
	c.retyped, c.nundo = c.retyped[:0], 0
}

// noteRetyped records that frame m's type is about to change from typ
// (validated or not), for rollback.
func (c *opCtx) noteRetyped(u typeUndo) {
	if c.nundo < len(c.undo) {
		c.undo[c.nundo] = u
		c.nundo++
		return
	}
	c.retyped = append(c.retyped, u)
}

// done ends one operation: on failure it rolls back type changes.
func (c *opCtx) done(ft *FrameTable, err abi.Errno) abi.Errno {
	if err != 0 {
		c.rollback(ft)
	}
	c.retyped, c.nundo = c.retyped[:0], 0
	return err
}

// flushTLBs flushes the calling domain's TLBs before frame pi changes
// type, unless such a flush has been asked for since pi's type count last
// dropped to zero (Xen's tlbflush_filter on the page's timestamp): a
// translation through the old use can only have been made before that
// drop, since a frame with no type reference is in no table and mapped
// writable nowhere, and a flush asked for reaches every CPU before a
// guest runs there or hv reads guest memory through it (Flusher). A
// stamp equal to the generation (none asked for since, or a multiple of
// 256) flushes. mu held.
func (c *opCtx) flushTLBs(ft *FrameTable, pi *FrameEntry) {
	if c.flush == nil || pi.flushStamp != ft.flushGen {
		return
	}
	if _, nop := c.flush.(nopFlusher); nop {
		return // a domain being built: nothing flushed, nothing to count
	}
	c.flush.FlushTLB(FlushTarget{Scope: FlushAll})
	ft.flushGen++
}

// page returns frame m's entry, or nil beyond the table. mu held.
func (ft *FrameTable) page(m MFN) *FrameEntry {
	if uint64(m) < uint64(len(ft.pages)) {
		return &ft.pages[m]
	}
	return nil
}

// getPage takes a general reference if d owns m (get_page). mu held.
func (ft *FrameTable) getPage(m MFN, d abi.DomID) bool {
	pi := ft.page(m)
	// Count 0: not allocated. Count near the maximum: would wrap.
	if pi == nil || pi.count == 0 || pi.count >= math.MaxUint32-1 || pi.owner != d {
		return false
	}
	pi.count++
	return true
}

// putPage drops a general reference; the frame is freed when none is left.
// mu held.
func (ft *FrameTable) putPage(m MFN) {
	pi := &ft.pages[m]
	if pi.count == 0 {
		panic(fmt.Sprintf("mm: put_page on free MFN %#x", uint64(m)))
	}
	pi.count--
	if pi.count != 0 {
		return
	}
	if pi.typeCount != 0 {
		panic(fmt.Sprintf("mm: MFN %#x freed with type %v count %d", uint64(m), pi.typ(), pi.typeCount))
	}
	// A shared hypervisor frame (Share) comes from the allocator too:
	// once its owner has released it and the last mapping is gone it goes
	// back the same way.
	*pi = FrameEntry{owner: ownerNone}
	ft.freed = append(ft.freed, m)
}

// getPageType takes a type reference of type t (_get_page_type). A frame
// whose type count is zero changes type (after a TLB flush if it had one);
// a page table or descriptor frame is validated on its first reference.
// On failure nothing changes. mu held; the caller holds a general ref.
func (ft *FrameTable) getPageType(m MFN, t PageType, c *opCtx) abi.Errno {
	pi := &ft.pages[m]
	if pi.typeCount >= math.MaxUint32-1 {
		return abi.EINVAL
	}
	oldBits := pi.bits // type and validated, restored on failure
	if oldBits&(pgTypeMask|pgValidated) == pageBits(t)|pgValidated {
		// Of type t and validated already (in use, or unused and of a
		// type that stays validated): one more user, the common case.
		pi.typeCount++
		return 0
	}
	if pi.typeCount == 0 {
		if old := pi.typ(); old != t {
			if old != PageTypeNone {
				// No CPU may keep a translation through the old use.
				c.flushTLBs(ft, pi)
			}
			c.noteRetyped(typeUndo{m, old, pi.has(pgValidated)})
			pi.setType(t)
			pi.set(pgValidated, t == PageTypeWritable || t == PageTypeNone)
		}
	} else if pi.typ() != t {
		return abi.EINVAL
	} else if !pi.has(pgValidated) {
		// Only a validation in progress leaves a used type unvalidated,
		// and validation never recurses into a frame of the same type.
		return abi.EINVAL
	}
	pi.typeCount++
	if !pi.has(pgValidated) {
		if err := ft.validate(m, t, c); err != 0 {
			pi.typeCount--
			pi.bits = pi.bits&^(pgTypeMask|pgValidated) | oldBits&(pgTypeMask|pgValidated)
			return err
		}
		pi.set(pgValidated, true)
	}
	return 0
}

// putPageType drops a type reference; a page table losing its last one is
// devalidated, dropping the references its entries hold. mu held.
func (ft *FrameTable) putPageType(m MFN, c *opCtx) {
	pi := &ft.pages[m]
	if pi.typeCount == 0 {
		panic(fmt.Sprintf("mm: put_page_type on MFN %#x with type count 0", uint64(m)))
	}
	// The type cannot change while the type count is not zero: t holds
	// across devalidate, which releases lower-level frames only.
	t := pi.typ()
	if pi.typeCount == 1 && t.level() != 0 && pi.has(pgValidated) {
		pi.set(pgValidated, false)
		ft.devalidate(m, t, c)
	}
	pi.typeCount--
	if pi.typeCount == 0 {
		pi.flushStamp = ft.flushGen
		if t == PageTypeL4 && ft.released != nil {
			ft.released(m)
		}
	}
}

// getPageAndType takes a general reference (owner d) and a type reference.
// EINVAL if d does not own m. mu held.
func (ft *FrameTable) getPageAndType(m MFN, d abi.DomID, t PageType, c *opCtx) abi.Errno {
	if !ft.getPage(m, d) {
		return abi.EINVAL
	}
	if err := ft.getPageType(m, t, c); err != 0 {
		ft.putPage(m)
		return err
	}
	return 0
}

func (ft *FrameTable) putPageAndType(m MFN, c *opCtx) {
	ft.putPageType(m, c)
	ft.putPage(m)
}

// readTable reads the 512 entries of frame m.
// mu held (ft.pageBuf).
func (ft *FrameTable) readTable(m MFN, tab *[ptEntries]uint64) bool {
	if ft.tables != nil {
		return ft.tables.ReadTable(m.Addr(), tab)
	}
	buf := &ft.pageBuf
	if !ft.mem.Read(m.Addr(), buf[:]) {
		return false
	}
	for i := range tab {
		tab[i] = binary.LittleEndian.Uint64(buf[i*8:])
	}
	return true
}

// space returns the registered Space of domain d (nil if none).
func (ft *FrameTable) space(d abi.DomID) *Space {
	if d == abi.DOMID_IO {
		return ft.io
	}
	return ft.spaces[d]
}

// validate checks every entry of frame m for type t and takes the
// references they need (Xen's promote_l*_table). On success the entries
// are rewritten with the PV fix-ups (and, for an L4, the hypervisor's
// slots); on failure every reference taken is dropped and memory is left
// as it was. mu held (ft.valTabs[level-1]: a validation recurses only into
// a lower level, so each level's buffer has one user at a time).
func (ft *FrameTable) validate(m MFN, t PageType, c *opCtx) abi.Errno {
	owner := ft.pages[m].owner
	d := ft.space(owner)
	if d == nil {
		return abi.EINVAL
	}
	if t == PageTypeSegDesc {
		tab := &ft.valTabs[0] // a descriptor page is no table: nothing recurses
		if !ft.readTable(m, tab) {
			return abi.EINVAL
		}
		return ft.validateSeg(m, owner, tab)
	}
	level := t.level()
	tab := &ft.valTabs[level-1]
	if !ft.readTable(m, tab) {
		return abi.EINVAL
	}
	// The fix-ups are made in tab, and the entries they change, marked
	// in changed, are written back once every entry has passed.
	var changed slotSet
	for i := nextPresent(tab, 0); i < ptEntries; i = nextPresent(tab, i+1) {
		if level == 4 && isXenL4Slot(i) {
			continue
		}
		e := tab[i]
		var err abi.Errno
		var ne uint64
		if level == 1 {
			var flip uint64
			flip, err = ft.getPageFromL1e(e, d, d, c)
			ne = adjustL1(e ^ flip)
		} else {
			err = ft.getPageFromUpper(level, e, m, d, c)
			ne = adjustUpper(level, e)
		}
		if err != 0 {
			for j := nextPresent(tab, 0); j < i; j = nextPresent(tab, j+1) {
				if level == 4 && isXenL4Slot(j) {
					continue
				}
				ft.putPageFromEntry(level, tab[j], m, c)
			}
			return err
		}
		if ne != e {
			tab[i] = ne
			changed.add(i)
		}
	}
	if level == 4 {
		xen := ft.xenL4(m)
		for i, e := range xen {
			if tab[XenL4FirstSlot+i] != e {
				tab[XenL4FirstSlot+i] = e
				changed.add(XenL4FirstSlot + i)
			}
		}
	}
	ft.writeChanged(m, tab, &changed)
	return 0
}

// nextPresent returns the index of the first present entry of tab at or
// after i, or ptEntries if there is none. Most of a table is empty: the
// scan tests 32 entries at a time where it can, else eight.
func nextPresent(tab *[ptEntries]uint64, i int) int {
	for ; i < ptEntries && i&7 != 0; i++ {
		if present(tab[i]) {
			return i
		}
	}
	for i < ptEntries {
		if i&31 == 0 {
			g := (*[32]uint64)(tab[i : i+32])
			if (g[0]|g[1]|g[2]|g[3]|g[4]|g[5]|g[6]|g[7]|
				g[8]|g[9]|g[10]|g[11]|g[12]|g[13]|g[14]|g[15]|
				g[16]|g[17]|g[18]|g[19]|g[20]|g[21]|g[22]|g[23]|
				g[24]|g[25]|g[26]|g[27]|g[28]|g[29]|g[30]|g[31])&_PAGE_PRESENT == 0 {
				i += 32
				continue
			}
		}
		if or8(tab, i)&_PAGE_PRESENT == 0 {
			i += 8
			continue
		}
		for ; ; i++ { // one of these eight is present
			if present(tab[i]) {
				return i
			}
		}
	}
	return ptEntries
}

// or8 is the OR of tab[i:i+8].
func or8(tab *[ptEntries]uint64, i int) uint64 {
	g := (*[8]uint64)(tab[i : i+8])
	return g[0] | g[1] | g[2] | g[3] | g[4] | g[5] | g[6] | g[7]
}

// slotSet is a set of a table's entry indices.
type slotSet [ptEntries / 64]uint64

func (s *slotSet) add(i int)      { s[i/64] |= 1 << (i % 64) }
func (s *slotSet) has(i int) bool { return s[i/64]&(1<<(i%64)) != 0 }
func (s *slotSet) empty() bool    { return *s == slotSet{} }

// validateSeg checks the descriptor frame m of domain owner, whose
// entries are tab, and writes back what checkSeg fixes up. mu held.
func (ft *FrameTable) validateSeg(m MFN, owner abi.DomID, tab *[ptEntries]uint64) abi.Errno {
	newTab := new([ptEntries]uint64) // checkSeg is a func value: its argument escapes
	*newTab = *tab
	if ft.checkSeg == nil || !ft.checkSeg(owner, newTab) {
		return abi.EINVAL
	}
	var changed slotSet
	for i := range tab {
		if newTab[i] != tab[i] {
			changed.add(i)
		}
	}
	ft.writeChanged(m, newTab, &changed)
	return 0
}

// writeChanged writes the entries of tab that changed names into frame
// m, each run of consecutive ones in one write. The frame has just gained
// its type: the guest cannot write it. mu held (ft.pageBuf).
func (ft *FrameTable) writeChanged(m MFN, tab *[ptEntries]uint64, changed *slotSet) {
	if changed.empty() {
		return
	}
	buf := &ft.pageBuf
	for i := 0; i < ptEntries; {
		if changed[i/64] == 0 {
			i = (i/64 + 1) * 64
			continue
		}
		if !changed.has(i) {
			i++
			continue
		}
		j := i
		for ; j < ptEntries && changed.has(j); j++ {
			binary.LittleEndian.PutUint64(buf[j*8:], tab[j])
		}
		if !ft.mem.Write(m.Addr()+Maddr(i*8), buf[i*8:j*8]) {
			panic(fmt.Sprintf("mm: page table MFN %#x became unwritable", uint64(m)))
		}
		i = j
	}
}

// devalidate drops the references held by the entries of the page table
// at m (demote_l*_table). mu held (ft.devalTabs[level-1]: a release
// recurses only into a lower level).
func (ft *FrameTable) devalidate(m MFN, t PageType, c *opCtx) {
	level := t.level()
	tab := &ft.devalTabs[level-1]
	if !ft.readTable(m, tab) {
		panic(fmt.Sprintf("mm: page table MFN %#x became unreadable", uint64(m)))
	}
	for i := nextPresent(tab, 0); i < ptEntries; i = nextPresent(tab, i+1) {
		if level == 4 && isXenL4Slot(i) {
			continue
		}
		ft.putPageFromEntry(level, tab[i], m, c)
	}
}

// getPageFromL1e takes the references a present L1 entry e in a table of
// domain ptDom needs, mapping a frame of pgOwner (get_page_from_l1e). It
// returns the cache-attribute bits to flip for I/O memory. Errors: EINVAL
// (forbidden bits, INVALID_MFN), EPERM (I/O memory the domain may not map),
// EBUSY (a frame of another owner, or a writable mapping of a frame in
// typed use). mu held.
func (ft *FrameTable) getPageFromL1e(e uint64, ptDom, pgOwner *Space, c *opCtx) (flip uint64, err abi.Errno) {
	if e&ptDom.l1DisallowMask() != 0 {
		return 0, abi.EINVAL
	}
	m := pteMFN(e)
	pi := ft.page(m)
	if pi == nil || pi.owner == abi.DOMID_IO {
		// I/O memory: no references; DOMID_IO means "the caller".
		who := pgOwner
		if who.id == abi.DOMID_IO {
			who = ptDom
		}
		if !who.ioMemAllowed(m) || (who != ptDom && !ptDom.ioMemAllowed(m)) {
			if m == invalidPTEMFN {
				return 0, abi.EINVAL
			}
			return 0, abi.EPERM
		}
		// MMIO is never mapped cacheable: WB becomes UC, WT/WP become UC.
		switch e & pageCacheAttrs {
		case 0:
			flip = _PAGE_PWT | _PAGE_PCD
		case _PAGE_PWT, _PAGE_PWT | _PAGE_PAT:
			flip = _PAGE_PCD | (e & _PAGE_PAT)
		}
		return flip, 0
	}
	if !ft.getPage(m, pgOwner.id) {
		return 0, abi.EBUSY
	}
	if e&_PAGE_RW != 0 {
		if ft.getPageType(m, PageTypeWritable, c) != 0 {
			ft.putPage(m)
			return 0, abi.EBUSY
		}
	}
	return 0, 0
}

// getPageFromUpper takes the typed reference a present L2/L3/L4 entry e of
// the table at tab (domain d) holds on the next-lower table, validating it
// (get_page_from_l{2,3,4}e). A read-only entry pointing at its own table
// (a linear "self" map) is allowed and holds no reference. mu held.
func (ft *FrameTable) getPageFromUpper(level int, e uint64, tab MFN, d *Space, c *opCtx) abi.Errno {
	if e&upperDisallowMask(level) != 0 {
		return abi.EINVAL
	}
	target := pteMFN(e)
	err := ft.getPageAndType(target, d.id, tableType(level-1), c)
	if err == abi.EINVAL && target == tab && e&_PAGE_RW == 0 {
		return 0
	}
	return err
}

func upperDisallowMask(level int) uint64 {
	switch level {
	case 2:
		return l2DisallowMask
	case 3:
		return l3DisallowMask
	}
	return l4DisallowMask
}

// putPageFromEntry drops the references a validated entry e of a level
// table at tab holds (put_page_from_l{1,2,3,4}e). mu held.
func (ft *FrameTable) putPageFromEntry(level int, e uint64, tab MFN, c *opCtx) {
	if !present(e) {
		return
	}
	m := pteMFN(e)
	if level == 1 {
		pi := ft.page(m)
		if pi == nil || pi.owner == abi.DOMID_IO {
			return
		}
		if e&_PAGE_RW != 0 {
			ft.putPageType(m, c)
		}
		ft.putPage(m)
		return
	}
	if m == tab {
		return
	}
	ft.putPageAndType(m, c)
}
