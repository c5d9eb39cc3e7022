package mm

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/arch"
)

// IOPolicy answers a domain's I/O-memory questions (Xen's iomem_caps and
// ioport_caps rangesets, owned by hv). A nil IOPolicy allows no I/O.
type IOPolicy interface {
	// IOMemAllowed reports whether the domain may map machine frame m,
	// which is not RAM (or is I/O memory in the low 1 MiB)
	// (iomem_access_permitted).
	IOMemAllowed(m MFN) bool
	// HasIOCaps reports whether the domain holds any I/O memory or I/O
	// port capability: it may then choose cache attributes in L1 entries
	// and flush caches (cache_flush_permitted).
	HasIOCaps() bool
}

// FlushScope says which vCPUs of the calling domain a flush covers.
type FlushScope uint8

const (
	FlushLocal FlushScope = iota // the calling vCPU
	FlushAll                     // every vCPU of the domain
	FlushMulti                   // the vCPUs in FlushTarget.Mask
)

// FlushTarget names the vCPUs to flush.
type FlushTarget struct {
	Scope FlushScope
	// Mask is the vCPU bitmap for FlushMulti (bit i of word i/64 is vCPU i).
	Mask []uint64
}

// Flusher performs the TLB and cache maintenance the PV MMU operations ask
// for, on behalf of the calling vCPU. hv supplies it per call; nil means
// no vCPU has run yet (a domain being built): nothing is flushed and no
// vCPU mask can be read.
// ReadVCPUMask is called without the FrameTable lock (it reads guest
// memory, possibly through Space.Translate); FlushTLB, InvalidatePage and
// FlushCache are called with the lock held and must not call into mm.
type Flusher interface {
	// ReadVCPUMask reads the guest's vCPU bitmap at h (a guest virtual
	// address in the caller's address space). ok is false if it cannot be
	// read.
	ReadVCPUMask(h abi.GuestHandle) (mask []uint64, ok bool)
	// FlushTLB flushes the TLBs of the physical CPUs the target vCPUs last
	// ran on, before a guest runs there again or hv reads guest memory
	// through their tables. mm counts each FlushAll it asks for before a
	// frame changes type as having reached every CPU that may hold a
	// translation through that frame, whatever domain it belongs to, and
	// skips the next such flush for a frame whose type count dropped to
	// zero before it (hv's flushes reach every CPU).
	FlushTLB(t FlushTarget)
	// InvalidatePage flushes the translation of va on those CPUs.
	InvalidatePage(t FlushTarget, va GuestVA)
	// FlushCache writes back and invalidates caches (WBINVD) on this CPU,
	// or on every CPU if global.
	FlushCache(global bool)
}

// nopFlusher stands in for a nil Flusher (a domain being built, with no
// vCPU running yet): there is nothing to flush and no vCPU mask to read.
type nopFlusher struct{}

func (nopFlusher) ReadVCPUMask(abi.GuestHandle) ([]uint64, bool) { return nil, false }
func (nopFlusher) FlushTLB(FlushTarget)                          {}
func (nopFlusher) InvalidatePage(FlushTarget, GuestVA)           {}
func (nopFlusher) FlushCache(bool)                               {}

func orNop(f Flusher) Flusher {
	if f == nil {
		return nopFlusher{}
	}
	return f
}

// VCPUTables is the part of a vCPU's state the PV MMU operations change.
// hv embeds it in its vCPU; only the vCPU itself (its own hypercalls)
// changes it, under the FrameTable lock.
type VCPUTables struct {
	// Kernel is the L4 used in guest kernel mode (Xen's guest_table;
	// MMUEXT_NEW_BASEPTR), User the L4 used in guest user mode
	// (guest_table_user; MMUEXT_NEW_USER_BASEPTR). 0 means none. Each
	// non-zero one holds a general and an L4 type reference.
	Kernel, User MFN
	// LDTBase and LDTEnts are the guest's LDT (MMUEXT_SET_LDT): a page
	// aligned guest virtual address and up to 8192 entries. hv reloads
	// the LDT when they change.
	LDTBase GuestVA
	LDTEnts uint32
	// Reload is set when the vCPU's CR3 must be reloaded (a base pointer
	// was set); hv clears it when it has done so.
	Reload bool
}

// Space is one domain's view of the PV memory model: its id, its I/O
// policy, and the MMU operations it issues. Its frames are the frames the
// FrameTable records it as owning.
type Space struct {
	ft *FrameTable // immutable
	id abi.DomID   // immutable
	io IOPolicy    // immutable; nil: no I/O
}

// NewSpace registers domain d. Its id must be a real domain id, not yet
// registered.
func NewSpace(ft *FrameTable, d abi.DomID, io IOPolicy) (*Space, error) {
	if d.IsReserved() {
		return nil, errors.New("mm: NewSpace: reserved domain id")
	}
	ft.mu.Lock()
	defer ft.mu.Unlock()
	if ft.spaces[d] != nil {
		return nil, errors.New("mm: NewSpace: domain already registered")
	}
	s := &Space{ft: ft, id: d, io: io}
	ft.spaces[d] = s
	return s, nil
}

// IOSpace returns the DOMID_IO pseudo-domain, the page owner a caller
// passes for foreigndom == DOMID_IO.
func (ft *FrameTable) IOSpace() *Space { return ft.io }

// ID returns the domain id.
func (s *Space) ID() abi.DomID { return s.id }

// FrameTable returns the frame table s belongs to.
func (s *Space) FrameTable() *FrameTable { return s.ft }

// AllocFrame takes the lowest free frame from the allocator and assigns it
// to the domain. ENOMEM if none is left.
func (s *Space) AllocFrame() (MFN, abi.Errno) {
	m, ok := s.ft.alloc.Alloc()
	if !ok {
		return 0, abi.ENOMEM
	}
	if err := s.ft.Assign(m, s.id); err != nil {
		// The allocator handed out a frame the frame table thinks is in
		// use: the two disagree, a hypervisor bug.
		panic(fmt.Sprintf("mm: allocator and frame table disagree on MFN %#x: %v", uint64(m), err))
	}
	return m, 0
}

func (s *Space) l1DisallowMask() uint64 {
	if s.io != nil && s.io.HasIOCaps() {
		return l1DisallowMaskIO
	}
	return l1DisallowMask
}

func (s *Space) ioMemAllowed(m MFN) bool { return s.io != nil && s.io.IOMemAllowed(m) }

func (s *Space) hasIOCaps() bool { return s.io != nil && s.io.HasIOCaps() }

// MMUUpdate performs a batch of mmu_update requests issued by domain s
// (HYPERVISOR_mmu_update). Page tables belong to s; data frames mapped by
// L1 entries and frames named by MMU_MACHPHYS_UPDATE belong to pgOwner (nil
// means s), which the caller has resolved from foreigndom and authorised
// (Xen's get_pg_owner and XSM checks). f receives type-change flushes.
//
// It stops at the first failing request and returns how many were done
// and Xen's errno; a failing request changes nothing. The hypercall layer
// splits long batches to preempt and continue.
func (s *Space) MMUUpdate(reqs []abi.MmuUpdate, pgOwner *Space, f Flusher) (done int, err abi.Errno) {
	f = orNop(f)
	if pgOwner == nil {
		pgOwner = s
	}
	ft := s.ft
	c := &opCtx{flush: f}
	for i := range reqs {
		ft.mu.Lock()
		err := c.done(ft, ft.mmuUpdateOne(s, pgOwner, reqs[i], c))
		ft.mu.Unlock()
		if err != 0 {
			return i, err
		}
	}
	return len(reqs), 0
}

// mmuUpdateOne performs one mmu_update request. mu held. (The general
// reference on the frame written is dropped by hand, not deferred: a
// deferred call here is not open-coded, and this runs for every entry of
// every batch.)
func (ft *FrameTable) mmuUpdateOne(s, pgOwner *Space, r abi.MmuUpdate, c *opCtx) abi.Errno {
	cmd := r.Ptr & 7
	switch cmd {
	case abi.MMU_NORMAL_PT_UPDATE, abi.MMU_PT_UPDATE_PRESERVE_AD, abi.MMU_PT_UPDATE_NO_TRANSLATE:
		ptr := Maddr(r.Ptr - cmd)
		m := ptr.MFN()
		if !ft.getPage(m, s.id) {
			return abi.EINVAL
		}
		err := ft.ptUpdate(s, pgOwner, ptr, m, r.Val, cmd == abi.MMU_PT_UPDATE_PRESERVE_AD, c)
		ft.putPage(m)
		return err

	case abi.MMU_MACHPHYS_UPDATE:
		m := Maddr(r.Ptr).MFN()
		if !ft.getPage(m, pgOwner.id) {
			return abi.EINVAL
		}
		ok := ft.m2p.Set(m, r.Val)
		ft.putPage(m)
		if !ok {
			return abi.EINVAL
		}
		return 0
	}
	return abi.ENOSYS
}

// ptUpdate writes val at ptr in frame m, on which the caller holds a
// general reference: an entry of a validated table through modEntry, a
// word of a writable or untyped frame as it is. mu held.
func (ft *FrameTable) ptUpdate(s, pgOwner *Space, ptr Maddr, m MFN, val uint64, preserveAD bool, c *opCtx) abi.Errno {
	if pi := &ft.pages[m]; pi.typeCount > 0 && pi.has(pgValidated) {
		switch pi.typ() {
		case PageTypeL1:
			return ft.modEntry(1, ptr, m, val, preserveAD, s, pgOwner, c)
		case PageTypeL2, PageTypeL3, PageTypeL4:
			if pgOwner != s {
				return abi.EINVAL
			}
			return ft.modEntry(pi.typ().level(), ptr, m, val, preserveAD, s, pgOwner, c)
		case PageTypeWritable:
			return ft.writeWord(ptr, val)
		}
		return abi.EINVAL
	}
	// An untyped frame: write it as a writable page.
	if ft.getPageType(m, PageTypeWritable, c) != 0 {
		return abi.EINVAL
	}
	err := ft.writeWord(ptr, val)
	ft.putPageType(m, c)
	return err
}

// writeWord writes v at ptr. mu held (ft.word).
func (ft *FrameTable) writeWord(ptr Maddr, v uint64) abi.Errno {
	b := &ft.word
	binary.LittleEndian.PutUint64(b[:], v)
	if !ft.mem.Write(ptr, b[:]) {
		return abi.EINVAL
	}
	return 0
}

// modEntry replaces the entry at ptr of the validated level table tab by
// nv (mod_l{1,2,3,4}_entry): it checks nv, takes the references nv needs,
// writes it with the PV fix-ups, then drops the references of the old
// entry. On failure nothing changes. mu held.
func (ft *FrameTable) modEntry(level int, ptr Maddr, tab MFN, nv uint64, preserveAD bool, d, pgOwner *Space, c *opCtx) abi.Errno {
	// Xen reports a failed entry write as EBUSY at L1/L2, EFAULT above.
	failErr := abi.EFAULT
	if level <= 2 {
		failErr = abi.EBUSY
	}
	if level == 4 && isXenL4Slot(int(ptr.Offset()/8)) {
		return abi.EINVAL
	}
	ov, ok := ft.mem.Load64(ptr)
	if !ok {
		return failErr
	}
	if present(nv) {
		disallow := upperDisallowMask(level)
		if level == 1 {
			disallow = d.l1DisallowMask()
		}
		if nv&disallow != 0 {
			return abi.EINVAL
		}
		if !changedBeyond(ov, nv, fastpathWhitelist) {
			// Same frame, same access: the references stay.
			if !ft.updateEntry(ptr, ov, adjustEntry(level, nv), preserveAD) {
				return failErr
			}
			return 0
		}
		if level == 1 {
			flip, err := ft.getPageFromL1e(nv, d, pgOwner, c)
			if err != 0 {
				return err
			}
			nv ^= flip
		} else if err := ft.getPageFromUpper(level, nv, tab, d, c); err != 0 {
			return err
		}
		nv = adjustEntry(level, nv)
		if !ft.updateEntry(ptr, ov, nv, preserveAD) {
			ft.putPageFromEntry(level, nv, tab, c)
			return failErr
		}
	} else if !ft.updateEntry(ptr, ov, nv, preserveAD) {
		return failErr
	}
	ft.putPageFromEntry(level, ov, tab, c)
	return 0
}

func adjustEntry(level int, e uint64) uint64 {
	if level == 1 {
		return adjustL1(e)
	}
	return adjustUpper(level, e)
}

// updateEntry writes nv over the entry at ptr, which held old, with a
// compare-and-swap: the CPU may set Accessed/Dirty in a live entry at any
// time, and only those bits may change under us (update_intpte). With
// preserveAD the A/D bits already set are kept. mu held.
func (ft *FrameTable) updateEntry(ptr Maddr, old, nv uint64, preserveAD bool) bool {
	const ad = _PAGE_ACCESSED | _PAGE_DIRTY
	for tries := 0; tries < 64; tries++ {
		v := nv
		if preserveAD {
			v |= old & ad
		}
		swapped, ok := ft.mem.CompareAndSwap64(ptr, old, v)
		if !ok {
			return false
		}
		if swapped {
			return true
		}
		cur, ok := ft.mem.Load64(ptr)
		if !ok || (cur^old)&^ad != 0 {
			return false
		}
		old = cur
	}
	return false
}

// MMUExtOp performs a batch of mmuext_op operations issued by the vCPU v of
// domain s (HYPERVISOR_mmuext_op). pgOwner (nil means s) owns the frames
// named by pin, unpin, clear and copy; it is resolved and authorised by
// the caller. f performs the flushes. It stops at the first failing
// operation and returns how many were done and Xen's errno; a failing
// operation changes nothing.
func (s *Space) MMUExtOp(v *VCPUTables, ops []abi.MmuextOp, pgOwner *Space, f Flusher) (done int, err abi.Errno) {
	f = orNop(f)
	if pgOwner == nil {
		pgOwner = s
	}
	ft := s.ft
	c := &opCtx{flush: f}
	for i := range ops {
		op := &ops[i]
		// The vCPU mask is guest memory: read it before taking the lock
		// (reading may translate through mm).
		var mask []uint64
		maskOK := true
		if (op.Cmd == abi.MMUEXT_TLB_FLUSH_MULTI || op.Cmd == abi.MMUEXT_INVLPG_MULTI) && pgOwner == s {
			mask, maskOK = f.ReadVCPUMask(op.Vcpumask())
		}
		ft.mu.Lock()
		err := c.done(ft, ft.mmuExtOne(s, v, op, pgOwner, f, c, mask, maskOK))
		ft.mu.Unlock()
		if err != 0 {
			return i, err
		}
	}
	return len(ops), 0
}

// maxLDTEntries is the largest LDT (8192 descriptors, 64 KiB).
const maxLDTEntries = 8192

// mmuExtOne performs one mmuext_op. mu held.
// mask and maskOK are the vCPU mask of a *_MULTI operation, read by the
// caller.
func (ft *FrameTable) mmuExtOne(s *Space, v *VCPUTables, op *abi.MmuextOp, pgOwner *Space, f Flusher, c *opCtx, mask []uint64, maskOK bool) abi.Errno {
	self := pgOwner == s
	switch op.Cmd {
	case abi.MMUEXT_PIN_L1_TABLE, abi.MMUEXT_PIN_L2_TABLE, abi.MMUEXT_PIN_L3_TABLE, abi.MMUEXT_PIN_L4_TABLE:
		m := MFN(op.Mfn())
		if !ft.getPage(m, pgOwner.id) {
			return abi.EINVAL
		}
		if err := ft.getPageType(m, tableType(int(op.Cmd-abi.MMUEXT_PIN_L1_TABLE)+1), c); err != 0 {
			ft.putPage(m)
			return err
		}
		if ft.pages[m].has(pgPinned) {
			ft.putPageAndType(m, c)
			return abi.EINVAL
		}
		ft.pages[m].set(pgPinned, true)
		return 0

	case abi.MMUEXT_UNPIN_TABLE:
		m := MFN(op.Mfn())
		if !ft.getPage(m, pgOwner.id) {
			return abi.EINVAL
		}
		if !ft.pages[m].has(pgPinned) {
			ft.putPage(m)
			return abi.EINVAL
		}
		ft.pages[m].set(pgPinned, false)
		ft.putPageAndType(m, c)
		ft.putPage(m)
		return 0

	case abi.MMUEXT_NEW_BASEPTR:
		if !self {
			return abi.EPERM
		}
		return ft.setBase(s, &v.Kernel, MFN(op.Mfn()), v, c, false)

	case abi.MMUEXT_NEW_USER_BASEPTR:
		if !self {
			return abi.EPERM
		}
		return ft.setBase(s, &v.User, MFN(op.Mfn()), v, c, true)

	case abi.MMUEXT_TLB_FLUSH_LOCAL, abi.MMUEXT_TLB_FLUSH_ALL:
		if !self {
			return abi.EPERM
		}
		scope := FlushLocal
		if op.Cmd == abi.MMUEXT_TLB_FLUSH_ALL {
			scope = FlushAll
		}
		f.FlushTLB(FlushTarget{Scope: scope})
		return 0

	case abi.MMUEXT_INVLPG_LOCAL:
		if !self {
			return abi.EPERM
		}
		if va := GuestVA(op.LinearAddr()); arch.Canonical(uint64(va)) {
			f.InvalidatePage(FlushTarget{Scope: FlushLocal}, va)
		}
		return 0

	case abi.MMUEXT_INVLPG_ALL:
		if !self {
			return abi.EPERM
		}
		if va := GuestVA(op.LinearAddr()); GuestAddrOK(va) {
			f.InvalidatePage(FlushTarget{Scope: FlushAll}, va)
		}
		return 0

	case abi.MMUEXT_TLB_FLUSH_MULTI, abi.MMUEXT_INVLPG_MULTI:
		if !self {
			return abi.EPERM
		}
		if !maskOK {
			return abi.EINVAL
		}
		t := FlushTarget{Scope: FlushMulti, Mask: mask}
		if op.Cmd == abi.MMUEXT_TLB_FLUSH_MULTI {
			f.FlushTLB(t)
		} else if va := GuestVA(op.LinearAddr()); GuestAddrOK(va) {
			f.InvalidatePage(t, va)
		}
		return 0

	case abi.MMUEXT_FLUSH_CACHE:
		if !self {
			return abi.EPERM
		}
		if !s.hasIOCaps() {
			return abi.EACCES
		}
		f.FlushCache(false)
		return 0

	case abi.MMUEXT_FLUSH_CACHE_GLOBAL:
		if !self {
			return abi.EPERM
		}
		if !s.hasIOCaps() {
			return abi.EINVAL
		}
		f.FlushCache(true)
		return 0

	case abi.MMUEXT_SET_LDT:
		if !self {
			return abi.EPERM
		}
		ents := op.NrEnts()
		var base GuestVA
		if ents != 0 {
			base = GuestVA(op.LinearAddr())
		}
		if uint64(base)&(PageSize-1) != 0 || !GuestAddrOK(base) || ents > maxLDTEntries {
			return abi.EINVAL
		}
		v.LDTBase, v.LDTEnts = base, ents
		return 0

	case abi.MMUEXT_CLEAR_PAGE:
		m := MFN(op.Mfn())
		if !ft.getPage(m, pgOwner.id) {
			return abi.EINVAL
		}
		if ft.getPageType(m, PageTypeWritable, c) != 0 {
			ft.putPage(m)
			return abi.EINVAL
		}
		clear(ft.pageBuf[:])
		ok := ft.mem.Write(m.Addr(), ft.pageBuf[:])
		ft.putPageAndType(m, c)
		if !ok {
			return abi.EINVAL
		}
		return 0

	case abi.MMUEXT_COPY_PAGE:
		src, dst := MFN(op.SrcMfn()), MFN(op.Mfn())
		if !ft.getPage(src, pgOwner.id) {
			return abi.EINVAL
		}
		if !ft.getPage(dst, pgOwner.id) {
			ft.putPage(src)
			return abi.EINVAL
		}
		if ft.getPageType(dst, PageTypeWritable, c) != 0 {
			ft.putPage(dst)
			ft.putPage(src)
			return abi.EINVAL
		}
		ok := ft.mem.Copy(dst.Addr(), src.Addr(), PageSize)
		ft.putPageAndType(dst, c)
		ft.putPage(src)
		if !ok {
			return abi.EINVAL
		}
		return 0

	case abi.MMUEXT_MARK_SUPER, abi.MMUEXT_UNMARK_SUPER:
		return abi.EOPNOTSUPP
	}
	return abi.ENOSYS
}

// setBase installs m as a base pointer (*slot) of v: it takes a general
// and an L4 type reference on m (validating it), then drops those of the
// previous table (new_guest_cr3). Re-installing the current table only
// reloads CR3. For the user base, 0 removes it. mu held.
func (ft *FrameTable) setBase(s *Space, slot *MFN, m MFN, v *VCPUTables, c *opCtx, user bool) abi.Errno {
	if m == *slot {
		v.Reload = true
		return 0
	}
	if m != 0 || !user {
		if err := ft.getPageAndType(m, s.id, PageTypeL4, c); err != 0 {
			return err
		}
	}
	old := *slot
	*slot = m
	v.Reload = true
	if old != 0 {
		ft.putPageAndType(old, c)
	}
	return 0
}

// ReleaseVCPU drops the references v's base pointers hold (at vCPU or
// domain destruction, vcpu_destroy_pagetables).
func (s *Space) ReleaseVCPU(v *VCPUTables) {
	ft := s.ft
	ft.mu.Lock()
	defer ft.mu.Unlock()
	c := &opCtx{}
	for _, slot := range []*MFN{&v.Kernel, &v.User} {
		if *slot != 0 {
			ft.putPageAndType(*slot, c)
			*slot = 0
		}
	}
	v.Reload = true
}

// UpdateVAMapping replaces the L1 entry that maps va in v's kernel page
// tables by pte (HYPERVISOR_update_va_mapping; with pgOwner non-nil,
// update_va_mapping_otherdomain), then flushes as flags ask (UVMF_*).
// EINVAL if no validated L1 maps va; EFAULT if a UVMF_MULTI vCPU mask
// cannot be read (checked first: unlike Xen, the entry is then left
// alone); otherwise the errors of mmu_update.
func (s *Space) UpdateVAMapping(v *VCPUTables, va GuestVA, pte uint64, flags uint64, pgOwner *Space, f Flusher) abi.Errno {
	f = orNop(f)
	if pgOwner == nil {
		pgOwner = s
	}
	ft := s.ft
	// Read a vCPU mask first, without the lock (reading guest memory may
	// translate through mm), so that a bad one changes nothing. (Xen
	// updates the entry, then fails the flush with EFAULT.)
	var t FlushTarget
	flushType := flags & abi.UVMF_FLUSHTYPE_MASK
	switch bmap := flags &^ abi.UVMF_FLUSHTYPE_MASK; bmap {
	case abi.UVMF_LOCAL:
		t.Scope = FlushLocal
	case abi.UVMF_ALL:
		t.Scope = FlushAll
	default:
		t.Scope = FlushMulti
		if flushType == abi.UVMF_TLB_FLUSH || flushType == abi.UVMF_INVLPG {
			mask, ok := f.ReadVCPUMask(abi.GuestHandle(bmap))
			if !ok {
				return abi.EFAULT
			}
			t.Mask = mask
		}
	}
	ft.mu.Lock()
	defer ft.mu.Unlock()
	c := &opCtx{flush: f}
	l1, ptr, ok := ft.findL1e(v.Kernel, va)
	if !ok || !ft.getPage(l1, s.id) {
		return abi.EINVAL
	}
	pi := &ft.pages[l1]
	if pi.typ() != PageTypeL1 || pi.typeCount == 0 || !pi.has(pgValidated) {
		ft.putPage(l1)
		return abi.EINVAL
	}
	err := c.done(ft, ft.modEntry(1, ptr, l1, pte, false, s, pgOwner, c))
	ft.putPage(l1)
	if err != 0 {
		return err
	}
	switch flushType {
	case abi.UVMF_TLB_FLUSH:
		f.FlushTLB(t)
	case abi.UVMF_INVLPG:
		f.InvalidatePage(t, va)
	}
	return 0
}

// findL1e walks the L4 at root down to the L1 entry that maps va
// (map_guest_l1e): every upper entry on the way must be present. mu held.
func (ft *FrameTable) findL1e(root MFN, va GuestVA) (l1 MFN, ptr Maddr, ok bool) {
	if root == 0 || !GuestAddrOK(va) {
		return 0, 0, false
	}
	tab := root
	for level := 4; level > 1; level-- {
		e, ok := ft.mem.Load64(tab.Addr() + Maddr(tableIndex(va, level)*8))
		if !ok || !present(e) || (level < 4 && e&_PAGE_PSE != 0) {
			return 0, 0, false
		}
		tab = pteMFN(e)
	}
	return tab, tab.Addr() + Maddr(tableIndex(va, 1)*8), true
}

// Translate walks the page tables rooted at the L4 cr3 of domain s in
// software and returns the machine address va maps to, for copying to and
// from guest memory. EFAULT if cr3 is not a validated L4 of s, va is not a
// guest address, an entry on the way is not present, or write is set and
// an entry is read-only. As the CPU would, it sets Accessed on every entry
// walked and Dirty on the L1 entry when writing.
//
// The frame returned stays usable while the caller's hypercall runs: freed
// frames are reused only after TakeFreed and a TLB flush, which hv does
// outside guest copies.
func (s *Space) Translate(cr3 MFN, va GuestVA, write bool) (Maddr, abi.Errno) {
	ft := s.ft
	ft.mu.Lock()
	defer ft.mu.Unlock()
	if !GuestAddrOK(va) {
		return 0, abi.EFAULT
	}
	pi := ft.page(cr3)
	if pi == nil || pi.owner != s.id || pi.typ() != PageTypeL4 || pi.typeCount == 0 || !pi.has(pgValidated) {
		return 0, abi.EFAULT
	}
	tab := cr3
	for level := 4; level >= 1; level-- {
		ptr := tab.Addr() + Maddr(tableIndex(va, level)*8)
		e, ok := ft.mem.Load64(ptr)
		if !ok || !present(e) || (write && e&_PAGE_RW == 0) || (level > 1 && e&_PAGE_PSE != 0) {
			return 0, abi.EFAULT
		}
		set := _PAGE_ACCESSED
		if level == 1 && write {
			set |= _PAGE_DIRTY
		}
		if e&set != set {
			ft.mem.Or64(ptr, set)
		}
		tab = pteMFN(e)
	}
	return tab.Addr() + Maddr(uint64(va)&(PageSize-1)), 0
}

// PTWriteResult is the outcome of EmulatePTWrite, in the terms of Xen's
// x86 emulator.
type PTWriteResult uint8

const (
	// PTWriteDone: the entry was written; the emulator retires the
	// instruction (X86EMUL_OKAY).
	PTWriteDone PTWriteResult = iota
	// PTWriteRetry: a compare-and-exchange found another value; nothing
	// changed and the guest re-executes the instruction (X86EMUL_RETRY).
	PTWriteRetry
	// PTWriteRefused: the write is not a valid L1 update (or the frame is
	// not an L1 of the domain); nothing changed and the guest gets its
	// page fault (X86EMUL_UNHANDLEABLE).
	PTWriteRefused
)

// EmulatePTWrite performs a guest kernel's direct write to an entry of
// one of its own validated L1 tables (Xen's writable page tables, the
// ptwr emulator): ptr is the 8-byte-aligned machine address of the entry,
// nv the whole new entry (the emulator merges sub-word writes). The new
// entry is checked and referenced as mmu_update would (without its fast
// path); with cmpxchg the write happens only if the entry still holds old.
func (s *Space) EmulatePTWrite(ptr Maddr, old, nv uint64, cmpxchg bool, f Flusher) PTWriteResult {
	f = orNop(f)
	if ptr&7 != 0 {
		return PTWriteRefused
	}
	ft := s.ft
	ft.mu.Lock()
	defer ft.mu.Unlock()
	l1 := ptr.MFN()
	if !ft.getPage(l1, s.id) {
		return PTWriteRefused
	}
	defer ft.putPage(l1)
	if pi := &ft.pages[l1]; pi.typ() != PageTypeL1 || pi.typeCount == 0 || !pi.has(pgValidated) {
		return PTWriteRefused
	}
	c := &opCtx{flush: f}
	if present(nv) {
		flip, err := ft.getPageFromL1e(nv, s, s, c)
		if c.done(ft, err) != 0 {
			return PTWriteRefused
		}
		nv ^= flip
	}
	nv = adjustL1(nv)
	var ov uint64
	if cmpxchg {
		if swapped, ok := ft.mem.CompareAndSwap64(ptr, old, nv); !ok || !swapped {
			ft.putPageFromEntry(1, nv, l1, c)
			c.done(ft, abi.EAGAIN)
			return PTWriteRetry
		}
		ov = old
	} else {
		var ok bool
		if ov, ok = ft.mem.Load64(ptr); !ok || !ft.updateEntry(ptr, ov, nv, false) {
			ft.putPageFromEntry(1, nv, l1, c)
			c.done(ft, abi.EFAULT)
			return PTWriteRefused
		}
	}
	ft.putPageFromEntry(1, ov, l1, c)
	c.done(ft, 0)
	return PTWriteDone
}

// Relinquish gives back the frames of a dying domain (Xen's
// domain_relinquish_resources): it unpins every pinned table, then drops
// the owner's reference on every frame the domain still holds (Release).
// hv first drops every vCPU's base pointers (ReleaseVCPU). It handles at
// most budget frames per call and reports whether frames are left, so the
// caller can preempt and continue. Frames other domains still map stay
// until those mappings go; their last reference puts them on the freed
// list.
func (s *Space) Relinquish(f Flusher, budget int) (more bool) {
	ft := s.ft
	ft.mu.Lock()
	defer ft.mu.Unlock()
	c := &opCtx{flush: f}
	// Pins first, so that no table keeps another one typed.
	for m := range ft.pages {
		pi := &ft.pages[m]
		if pi.owner != s.id || !pi.has(pgPinned) {
			continue
		}
		if budget <= 0 {
			return true
		}
		budget--
		pi.set(pgPinned, false)
		ft.putPageAndType(MFN(m), c)
	}
	for m := range ft.pages {
		pi := &ft.pages[m]
		if pi.owner != s.id || !pi.has(pgAllocated) {
			continue
		}
		if budget <= 0 {
			return true
		}
		budget--
		if pi.has(pgXenHeap) {
			ft.putPageType(MFN(m), c)
		} else {
			ft.m2p.Set(MFN(m), InvalidM2PEntry)
		}
		pi.set(pgAllocated, false)
		ft.putPage(MFN(m))
	}
	return false
}

// RemoveSpace unregisters a domain once it owns no frame. It reports false
// (and keeps it) while frames are still owned, for example mapped by
// another domain.
func (ft *FrameTable) RemoveSpace(s *Space) bool {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	for m := range ft.pages {
		if ft.pages[m].owner == s.id {
			return false
		}
	}
	delete(ft.spaces, s.id)
	return true
}
