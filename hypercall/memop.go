package hypercall

import (
	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/mm"
)

// memory_op (12), after Xen 4.17's common/memory.c (do_memory_op,
// increase_reservation, populate_physmap, decrease_reservation,
// memory_exchange) and arch/x86/mm.c, arch/x86/x86_64/mm.c
// (arch_memory_op, subarch_memory_op), public/memory.h. A PV domain is not
// translated: its "GMFNs" are MFNs and its P2M is its own; the hypervisor
// keeps the M2P.

// MemoryOps is what memory_op needs from a domain (the caller, or the
// domain a reservation names) and from the machine behind it. hv's Domain
// implements it; a Domain without it gets -ENOSYS for every memory_op.
type MemoryOps interface {
	// TotPages and MaxPages are the domain's page count and its limit
	// (Xen's tot_pages and max_pages).
	TotPages() uint64
	MaxPages() uint64
	// AllocExtent gives the domain 1<<order new machine-contiguous frames
	// (naturally aligned) that end at or below 2^addrBits (0: anywhere),
	// counted in TotPages; ok false if the domain would exceed MaxPages or
	// no such frames are free. Their M2P entries are invalid until SetM2P.
	AllocExtent(order uint, addrBits uint) (first mm.MFN, ok bool)
	// SetM2P records that frame m (the domain's) holds pseudo-physical
	// frame pfn, in the machine's M2P.
	SetM2P(m mm.MFN, pfn uint64)
	// RemovePage takes frame m away from the domain (guest_remove_page):
	// unpinned, its allocation reference dropped (TotPages less one) and
	// freed once unmapped. -EINVAL: m is no frame; -ENXIO: not the
	// domain's.
	RemovePage(m mm.MFN) abi.Errno
	// ExchangeChunk takes the domain's frames in (each the first of
	// 1<<inOrder; each frame must be held by the domain's allocation
	// reference only) and gives it outCount extents of 1<<outOrder
	// machine-contiguous frames below 2^addrBits (0: anywhere) instead,
	// all or nothing: -EINVAL if a frame cannot be taken, -ENOMEM if no
	// such frames are free. The new frames' M2P entries are invalid
	// until SetM2P.
	ExchangeChunk(in []mm.MFN, inOrder uint, outCount int, outOrder uint, addrBits uint) ([]mm.MFN, abi.Errno)

	// M2PFrames returns the first frame of each 2 MiB of the M2P table,
	// at most max of them (XENMEM_machphys_mfn_list).
	M2PFrames(max int) []mm.MFN
	// MaxRAMPage is one more than the highest RAM frame (Xen's max_page).
	MaxRAMPage() uint64
	// MachineMemoryMap is the host's memory map as the hardware domain
	// sees it, gaps it may not map reported unusable (XENMEM_machine_memory_map).
	MachineMemoryMap() []E820Entry
}

// E820Entry is one struct e820entry (addr, size, type; 20 bytes packed).
type E820Entry struct {
	Addr, Size uint64
	Type       uint32
}

// E820 types (ACPI address range types) machine_memory_map reports.
const (
	E820RAM      = 1
	E820Reserved = 2
	E820Unusable = 5
)

// e820EntrySize is sizeof(struct e820entry): packed, 20 bytes.
const e820EntrySize = 20

// memopExtentShift is Xen's MEMOP_EXTENT_SHIFT (xen/hypercall.h): a
// memory_op's cmd carries the extent to start from above its low 6 bits.
const (
	memopExtentShift = 6
	memopCmdMask     = 1<<memopExtentShift - 1
)

// Extent orders a domain may ask for (Xen's max_order: domu_max_order 9,
// ctldom/hwdom_max_order 12 by default).
const (
	maxOrderDomU       = 9
	maxOrderPrivileged = 12
)

func maxOrder(d Domain) uint32 {
	if d.Privileged() || d.HardwareDomain() {
		return maxOrderPrivileged
	}
	return maxOrderDomU
}

// Sizes of the memory_op structures (public/memory.h).
const (
	reservationSize = 32 // xen_memory_reservation
	exchangeSize    = 72 // xen_memory_exchange
	mfnListSize     = 24 // xen_machphys_mfn_list
	memoryMapSize   = 16 // xen_memory_map
	addToPhysmapSz  = 24 // xen_add_to_physmap
	nrExchangedOff  = 64 // xen_memory_exchange.nr_exchanged
)

// m2pChunk is the M2P span one XENMEM_machphys_mfn_list entry stands for.
const m2pChunk = 2 << 20

// doMemoryOp is memory_op (12): (unsigned cmd, void *arg); cmd's bits above
// 6 are the extent a preempted reservation call continues from.
func doMemoryOp(d *Dispatcher, c *Caller, a *Args) Result {
	ops, ok := c.Domain.(MemoryOps)
	if !ok {
		return Errno(abi.ENOSYS)
	}
	op, start, arg := a[0]&memopCmdMask, a[0]>>memopExtentShift, a[1]
	switch op {
	case abi.XENMEM_increase_reservation, abi.XENMEM_decrease_reservation, abi.XENMEM_populate_physmap:
		return d.reservation(c, op, start, arg)
	case abi.XENMEM_exchange:
		if start != 0 {
			return Errno(abi.EINVAL)
		}
		return d.exchange(c, arg)
	}
	if start != 0 {
		// Only the reservation calls continue (Xen: -EINVAL for the
		// others' start_extent, -ENOSYS from the arch default).
		switch op {
		case abi.XENMEM_maximum_ram_page, abi.XENMEM_current_reservation, abi.XENMEM_maximum_reservation:
			return Errno(abi.EINVAL)
		}
		return Errno(abi.ENOSYS)
	}
	switch op {
	case abi.XENMEM_maximum_ram_page:
		return Value(ops.MaxRAMPage())

	case abi.XENMEM_current_reservation, abi.XENMEM_maximum_reservation:
		var b [2]byte // domid_t
		if !c.readGuest(arg, b[:]) {
			return Errno(abi.EFAULT)
		}
		t, e := d.targetMemory(c, abi.DomID(le.Uint16(b[:])))
		if e != 0 {
			return Errno(e)
		}
		if op == abi.XENMEM_current_reservation {
			return Value(t.TotPages())
		}
		return Value(t.MaxPages())

	case abi.XENMEM_machphys_mapping:
		var b [24]byte // v_start, v_end, max_mfn
		le.PutUint64(b[0:], abi.MACH2PHYS_VIRT_START)
		le.PutUint64(b[8:], abi.MACH2PHYS_VIRT_END)
		le.PutUint64(b[16:], abi.MACH2PHYS_NR_ENTRIES-1)
		if !c.writeGuest(arg, b[:]) {
			return Errno(abi.EFAULT)
		}
		return Errno(0)

	case abi.XENMEM_machphys_mfn_list:
		return Errno(machphysMFNList(c, ops, arg))

	case abi.XENMEM_machine_memory_map:
		if !c.Domain.Privileged() { // XSM_PRIV
			return Errno(abi.EPERM)
		}
		return Errno(machineMemoryMap(c, ops.MachineMemoryMap(), arg))

	case abi.XENMEM_memory_map:
		// A PV domain has a pseudo-physical map only once the toolstack
		// sets one (XENMEM_set_memory_map, not served): Xen answers
		// -ENOSYS then ("backwards compatibility"), and the guest makes
		// one up from start_info.nr_pages.
		var b [memoryMapSize]byte
		if !c.readGuest(arg, b[:]) {
			return Errno(abi.EFAULT)
		}
		return Errno(abi.ENOSYS)

	case abi.XENMEM_add_to_physmap:
		var b [addToPhysmapSz]byte // domid@0, size@2, space@4, idx@8, gpfn@16
		if !c.readGuest(arg, b[:]) {
			return Errno(abi.EFAULT)
		}
		if le.Uint32(b[4:]) == abi.XENMAPSPACE_gmfn_foreign {
			return Errno(abi.ENOSYS) // only through add_to_physmap_batch
		}
		if _, e := d.targetMemory(c, abi.DomID(le.Uint16(b[0:]))); e != 0 {
			return Errno(e)
		}
		// A PV domain is not translated: it has no physmap to add to
		// (Xen's xatp_permission_check). Linux uses this call only for
		// auto-translated guests.
		return Errno(abi.EACCES)
	}
	return Errno(abi.ENOSYS)
}

// targetMemory resolves the domain a memory_op names, as
// rcu_lock_domain_by_any_id and XSM_TARGET do: DOMID_SELF and the caller's
// own id are the caller; another domain needs the privileged caller.
func (d *Dispatcher) targetMemory(c *Caller, id abi.DomID) (MemoryOps, abi.Errno) {
	var t Domain = c.Domain
	if id != abi.DOMID_SELF && id != c.Domain.ID() {
		var ok bool
		if t, ok = d.lookup(id); !ok {
			return nil, abi.ESRCH
		}
		if !c.Domain.Privileged() {
			return nil, abi.EPERM
		}
	}
	ops, ok := t.(MemoryOps)
	if !ok {
		return nil, abi.ESRCH
	}
	return ops, 0
}

// reservation serves increase_reservation, decrease_reservation and
// populate_physmap from extent start. Xen's quirk is kept: a bad argument
// (unreadable structure, start beyond the list, an address width of a
// page or less, an order above the caller's limit (multi-page
// increase_reservation for an unprivileged caller), populate-on-demand for
// PV, an unknown domain) returns the number of extents done, start, not an
// errno; only the permission check is -EPERM. The result is the number of
// extents done; a preempted call continues with the extent in cmd.
func (d *Dispatcher) reservation(c *Caller, op, start, arg uint64) Result {
	done := Value(start)
	var b [reservationSize]byte
	if !c.readGuest(arg, b[:]) {
		return done
	}
	list, nr := le.Uint64(b[0:]), le.Uint64(b[8:])
	order, flags := le.Uint32(b[16:]), le.Uint32(b[20:])
	domid := abi.DomID(le.Uint16(b[24:]))
	if nr > (1<<32-1)>>memopExtentShift || start >= nr {
		return done
	}
	addrBits := uint(flags & 0xff)
	if addrBits != 0 && addrBits <= mm.PageShift {
		return done
	}
	if op == abi.XENMEM_populate_physmap && flags&abi.XENMEMF_populate_on_demand != 0 {
		return done // populate-on-demand is for HVM guests
	}
	if order > maxOrder(c.Domain) {
		return done
	}
	if op == abi.XENMEM_increase_reservation && order > 0 && !c.Domain.Privileged() {
		// Multi-page extents of increase_reservation need I/O
		// capabilities (multipage_allocation_permitted): gohv gives
		// them to the privileged domain only.
		return done
	}
	t, e := d.targetMemory(c, domid)
	if e == abi.ESRCH {
		return done
	}
	if e != 0 {
		return Errno(e)
	}
	i := start
	for ; i < nr; i++ {
		if i != start && c.VCPU.Preempt() {
			return Continuation(Args{op | i<<memopExtentShift, arg})
		}
		at, ok := elem(list, i, 8)
		if !ok {
			break
		}
		if !reservationExtent(c, t, op, at, list != 0, order, addrBits) {
			break
		}
	}
	return Value(i)
}

// reservationExtent does one extent of a reservation call, whose slot in
// the guest's list is at (hasList false: increase_reservation without a
// list). It reports false where Xen stops the loop.
func reservationExtent(c *Caller, t MemoryOps, op, at uint64, hasList bool, order uint32, addrBits uint) bool {
	n := uint64(1) << order
	switch op {
	case abi.XENMEM_decrease_reservation:
		gmfn, ok := c.readU64(at)
		if !ok {
			return false
		}
		for j := uint64(0); j < n; j++ {
			if e := t.RemovePage(mm.MFN(gmfn + j)); e != 0 && e != abi.ENOENT {
				return false
			}
		}
		return true

	case abi.XENMEM_populate_physmap:
		gpfn, ok := c.readU64(at)
		if !ok {
			return false
		}
		m, ok := t.AllocExtent(uint(order), addrBits)
		if !ok {
			return false
		}
		for j := uint64(0); j < n; j++ {
			t.SetM2P(m+mm.MFN(j), gpfn+j)
		}
		return c.writeU64(at, uint64(m))

	default: // increase_reservation
		m, ok := t.AllocExtent(uint(order), addrBits)
		if !ok {
			return false
		}
		return !hasList || c.writeU64(at, uint64(m))
	}
}

// exchange is XENMEM_exchange: the domain gives up the frames of the
// in list and gets out's extents instead (machine-contiguous below
// out's address width: what swiotlb-xen asks for to get DMA buffers).
// nr_exchanged is written back on every return but the first -EFAULT;
// the result is 0 or an errno.
func (d *Dispatcher) exchange(c *Caller, arg uint64) Result {
	var b [exchangeSize]byte
	if !c.readGuest(arg, b[:]) {
		return Errno(abi.EFAULT)
	}
	inList, inNr, inOrder := le.Uint64(b[0:]), le.Uint64(b[8:]), le.Uint32(b[16:])
	inDom := abi.DomID(le.Uint16(b[24:]))
	outList, outNr, outOrder, outFlags := le.Uint64(b[32:]), le.Uint64(b[40:]), le.Uint32(b[48:]), le.Uint32(b[52:])
	outDom := abi.DomID(le.Uint16(b[56:]))
	exchanged := le.Uint64(b[nrExchangedOff:])

	finish := func(e abi.Errno, n uint64) Result {
		if !c.writeU64(arg+nrExchangedOff, n) {
			return Errno(abi.EFAULT)
		}
		return Errno(e)
	}
	if max(inOrder, outOrder) > maxOrder(c.Domain) {
		return finish(abi.EPERM, exchanged)
	}
	if exchanged > inNr || inDom != outDom ||
		^uint64(0)>>inOrder < inNr || ^uint64(0)>>outOrder < outNr ||
		inNr<<inOrder != outNr<<outOrder {
		return finish(abi.EINVAL, exchanged)
	}
	if exchanged == inNr {
		return Errno(0)
	}
	var inChunk, outChunk uint32 // log2 of the in and out extents per chunk
	if inOrder <= outOrder {
		inChunk = outOrder - inOrder
	} else {
		outChunk = inOrder - outOrder
	}
	if outFlags&^0xff != 0 {
		return finish(abi.EINVAL, exchanged) // node requests: one node, no vNUMA
	}
	t, e := d.targetMemory(c, inDom)
	if e != 0 {
		return finish(e, exchanged)
	}
	addrBits := uint(outFlags & 0xff)
	first := exchanged >> inChunk
	ins := make([]mm.MFN, 1<<inChunk)
	for i := first; i < inNr>>inChunk; i++ {
		if i != first && c.VCPU.Preempt() {
			if !c.writeU64(arg+nrExchangedOff, i<<inChunk) {
				return Errno(abi.EFAULT)
			}
			return Continuation(Args{abi.XENMEM_exchange, arg})
		}
		for j := range ins {
			at, ok := elem(inList, i<<inChunk+uint64(j), 8)
			v, ok2 := c.readU64(at)
			if !ok || !ok2 {
				return finish(abi.EFAULT, i<<inChunk)
			}
			ins[j] = mm.MFN(v)
		}
		outs, e := t.ExchangeChunk(ins, uint(inOrder), 1<<outChunk, uint(outOrder), addrBits)
		if e != 0 {
			return finish(e, i<<inChunk)
		}
		// The frames are the domain's now; errors reading a slot are
		// ignored (its PFN reads as what was there), as in Xen.
		for j, m := range outs {
			at, ok := elem(outList, i<<outChunk+uint64(j), 8)
			pfn, _ := c.readU64(at)
			for k := uint64(0); k < 1<<outOrder; k++ {
				t.SetM2P(m+mm.MFN(k), pfn+k)
			}
			if !ok || !c.writeU64(at, uint64(m)) {
				e = abi.EFAULT
			}
		}
		if e != 0 {
			return finish(e, i<<inChunk)
		}
	}
	return finish(0, inNr)
}

// machphysMFNList is XENMEM_machphys_mfn_list: the first frame of each
// 2 MiB of the M2P, up to max_extents, and nr_extents written back.
func machphysMFNList(c *Caller, ops MemoryOps, arg uint64) abi.Errno {
	var b [mfnListSize]byte // max_extents@0, extent_start@8, nr_extents@16
	if !c.readGuest(arg, b[:]) {
		return abi.EFAULT
	}
	maxN, list := le.Uint32(b[0:]), le.Uint64(b[8:])
	frames := ops.M2PFrames(int(min(maxN, 1<<20)))
	for i, m := range frames {
		at, ok := elem(list, uint64(i), 8)
		if !ok || !c.writeU64(at, uint64(m)) {
			return abi.EFAULT
		}
	}
	le.PutUint32(b[16:], uint32(len(frames)))
	if !c.writeGuest(arg, b[:]) {
		return abi.EFAULT
	}
	return 0
}

// machineMemoryMap is XENMEM_machine_memory_map: the map into the
// caller's buffer (a null buffer only counts), -EINVAL if it has fewer
// than the entries + 1 slots (Xen's check) or too few for the whole map,
// and nr_entries written back.
func machineMemoryMap(c *Caller, m []E820Entry, arg uint64) abi.Errno {
	var b [memoryMapSize]byte // nr_entries@0, buffer@8
	if !c.readGuest(arg, b[:]) {
		return abi.EFAULT
	}
	nr, buf := uint64(le.Uint32(b[0:])), le.Uint64(b[8:])
	if buf != 0 {
		if nr < uint64(len(m))+1 {
			return abi.EINVAL
		}
		for i, e := range m {
			var eb [e820EntrySize]byte
			le.PutUint64(eb[0:], e.Addr)
			le.PutUint64(eb[8:], e.Size)
			le.PutUint32(eb[16:], e.Type)
			at, ok := elem(buf, uint64(i), e820EntrySize)
			if !ok || !c.writeGuest(at, eb[:]) {
				return abi.EFAULT
			}
		}
	}
	le.PutUint32(b[0:], uint32(len(m)))
	if !c.writeGuest(arg, b[:4]) {
		return abi.EFAULT
	}
	return 0
}

// MachineMemoryMap builds what XENMEM_machine_memory_map reports from the
// host's memory map (sorted, not overlapping) and the hardware domain's
// I/O memory permission: every host entry as it is, and before each entry
// the gaps since the previous one that the domain may not map as I/O
// memory, as E820Unusable entries (Xen's handle_iomem_range), so the
// domain does not put its own mappings (ballooned pages, grant maps) where
// it could not map devices. permitted returns the frame ranges of
// [first, last] the domain may map, in order. Gaps after the last entry
// are not reported.
func MachineMemoryMap(host []E820Entry, permitted func(first, last uint64) [][2]uint64) []E820Entry {
	var out []E820Entry
	next := uint64(0) // first frame not yet covered
	for _, h := range host {
		s := h.Addr >> mm.PageShift
		if s > next {
			at := next
			for _, r := range permitted(next, s-1) {
				if r[0] > at {
					out = append(out, E820Entry{Addr: at << mm.PageShift, Size: (r[0] - at) << mm.PageShift, Type: E820Unusable})
				}
				at = r[1] + 1
			}
			if s > at {
				out = append(out, E820Entry{Addr: at << mm.PageShift, Size: (s - at) << mm.PageShift, Type: E820Unusable})
			}
		}
		out = append(out, h)
		if end := (h.Addr + h.Size + mm.PageSize - 1) >> mm.PageShift; end > next {
			next = end
		}
	}
	return out
}
