package hypercall

import (
	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/mm"
)

// mmu_update (1), mmuext_op (26), update_va_mapping (14) and
// update_va_mapping_otherdomain (22), after Xen 4.17's arch/x86/mm.c. The
// hypercall layer reads the requests one at a time, resolves and
// authorises the page and page-table owners, and hands each request to the
// mm workers; it keeps Xen's progress protocol: a preempted batch
// continues with the requests left and MMU_UPDATE_PREEMPTED set in its
// count, and *pdone accumulates the requests done across the pieces.

// mmuUpdatePreempted marks a continued batch in the count argument (Xen's
// MMU_UPDATE_PREEMPTED, ~(~0U >> 1)).
const mmuUpdatePreempted = 1 << 31

// Sizes of the request structures (xen.h).
const (
	mmuUpdateSize = 16 // struct mmu_update
	mmuextOpSize  = 24 // struct mmuext_op
)

// pgOwner resolves foreigndom, the domain owning the frames a request
// names (Xen's get_pg_owner), and applies the dummy XSM policy
// (XSM_TARGET): DOMID_SELF is the caller; the caller's own id is refused
// (-ESRCH), as is DOMID_XEN (gohv has no Xen-owned frames a guest may
// map) and an unknown domain; DOMID_IO is the I/O pseudo-domain. Another
// domain needs the privileged caller (-EPERM); so does DOMID_IO unless
// ioForAll (mmu_update's check skips DOMID_IO: mm then checks the
// domain's I/O memory permission per frame).
func (d *Dispatcher) pgOwner(c *Caller, self *mm.Space, dom abi.DomID, ioForAll bool) (*mm.Space, abi.Errno) {
	switch dom {
	case abi.DOMID_SELF:
		return self, 0
	case c.Domain.ID(), abi.DOMID_XEN:
		return nil, abi.ESRCH
	case abi.DOMID_IO:
		if !ioForAll && !c.Domain.Privileged() {
			return nil, abi.EPERM
		}
		return self.FrameTable().IOSpace(), 0
	}
	o, ok := d.lookup(dom)
	if !ok || o.State().space == nil {
		return nil, abi.ESRCH
	}
	if !c.Domain.Privileged() {
		return nil, abi.EPERM
	}
	return o.State().space, 0
}

// batch is the decoded (list, count, pdone, foreigndom) of mmu_update and
// mmuext_op.
type batch struct {
	list, pdone uint64
	count, done uint32
	foreigndom  uint32
}

// decodeBatch reads the arguments of a batch call, picking up the done
// count of a continued one from *pdone (best effort, as in Xen).
func decodeBatch(c *Caller, a *Args) batch {
	b := batch{list: a[0], count: uint32(a[1]), pdone: a[2], foreigndom: uint32(a[3])}
	if b.count&mmuUpdatePreempted != 0 {
		b.count &^= mmuUpdatePreempted
		if b.pdone != 0 {
			if v, ok := c.readU32(b.pdone); ok {
				b.done = v
			}
		}
	}
	return b
}

// finish ends a batch after i requests of this piece: it adds them to
// *pdone (errors ignored, as in Xen) and turns a preemption into the
// continuation for the rest.
func (b batch) finish(c *Caller, i uint32, size uint64, e abi.Errno, preempted bool) Result {
	if b.pdone != 0 {
		c.writeU32(b.pdone, b.done+i)
	}
	if preempted {
		return Continuation(Args{b.list + uint64(i)*size, uint64(b.count-i) | mmuUpdatePreempted,
			b.pdone, uint64(b.foreigndom)})
	}
	return Errno(e)
}

func doMMUUpdate(d *Dispatcher, c *Caller, a *Args) Result {
	self := c.Domain.State().space
	if self == nil {
		return Errno(abi.ENOSYS)
	}
	b := decodeBatch(c, a)
	if _, ok := elem(b.list, uint64(b.count), mmuUpdateSize); !ok {
		return Errno(abi.EFAULT)
	}
	// The upper 16 bits of foreigndom name the page tables' owner plus
	// one (0: the caller).
	pt := self
	if ptDom := b.foreigndom >> 16; ptDom != 0 {
		o, ok := d.lookup(abi.DomID(ptDom - 1))
		if !ok || o.State().space == nil {
			return Errno(abi.ESRCH)
		}
		if o.State().space != self && !c.Domain.Privileged() {
			return b.finish(c, 0, mmuUpdateSize, abi.EPERM, false)
		}
		pt = o.State().space
	}
	pg, e := d.pgOwner(c, self, abi.DomID(uint16(b.foreigndom)), true)
	if e != 0 {
		return b.finish(c, 0, mmuUpdateSize, e, false)
	}
	raw := c.arg[:mmuUpdateSize]
	var req [1]abi.MmuUpdate
	var i uint32
	for ; i < b.count; i++ {
		if i > 0 && c.VCPU.Preempt() {
			return b.finish(c, i, mmuUpdateSize, 0, true)
		}
		if !c.readGuest(b.list+uint64(i)*mmuUpdateSize, raw) {
			return b.finish(c, i, mmuUpdateSize, abi.EFAULT, false)
		}
		req[0] = abi.MmuUpdate{Ptr: le.Uint64(raw[0:]), Val: le.Uint64(raw[8:])}
		if _, e := pt.MMUUpdate(req[:], pg, c.VCPU.Flusher()); e != 0 {
			return b.finish(c, i, mmuUpdateSize, e, false)
		}
	}
	return b.finish(c, i, mmuUpdateSize, 0, false)
}

func doMMUExtOp(d *Dispatcher, c *Caller, a *Args) Result {
	self := c.Domain.State().space
	if self == nil {
		return Errno(abi.ENOSYS)
	}
	b := decodeBatch(c, a)
	if _, ok := elem(b.list, uint64(b.count), mmuextOpSize); !ok {
		return Errno(abi.EFAULT)
	}
	pg, e := d.pgOwner(c, self, abi.DomID(uint16(b.foreigndom)), false)
	if e != 0 {
		return Errno(e) // Xen returns before touching pdone here
	}
	raw := c.arg[:mmuextOpSize]
	var op [1]abi.MmuextOp
	var i uint32
	for ; i < b.count; i++ {
		if i > 0 && c.VCPU.Preempt() {
			return b.finish(c, i, mmuextOpSize, 0, true)
		}
		if !c.readGuest(b.list+uint64(i)*mmuextOpSize, raw) {
			return b.finish(c, i, mmuextOpSize, abi.EFAULT, false)
		}
		op[0] = abi.MmuextOp{Cmd: le.Uint32(raw[0:])}
		copy(op[0].Arg1[:], raw[8:16])
		copy(op[0].Arg2[:], raw[16:24])
		if _, e := self.MMUExtOp(c.VCPU.Tables(), op[:], pg, c.VCPU.Flusher()); e != 0 {
			return b.finish(c, i, mmuextOpSize, e, false)
		}
	}
	return b.finish(c, i, mmuextOpSize, 0, false)
}

// doUpdateVAMapping is update_va_mapping (14): (unsigned long va, u64
// val, unsigned long flags) on the calling vCPU's kernel page tables.
func doUpdateVAMapping(d *Dispatcher, c *Caller, a *Args) Result {
	self := c.Domain.State().space
	if self == nil {
		return Errno(abi.ENOSYS)
	}
	return Errno(self.UpdateVAMapping(c.VCPU.Tables(), mm.GuestVA(a[0]), a[1], a[2], nil, c.VCPU.Flusher()))
}

// doUpdateVAMappingOtherDomain is update_va_mapping_otherdomain (22): as
// update_va_mapping with the mapped frame owned by domid (resolved and
// authorised as mmu_update's foreigndom).
func doUpdateVAMappingOtherDomain(d *Dispatcher, c *Caller, a *Args) Result {
	self := c.Domain.State().space
	if self == nil {
		return Errno(abi.ENOSYS)
	}
	pg, e := d.pgOwner(c, self, abi.DomID(uint16(a[3])), false)
	if e != 0 {
		return Errno(e)
	}
	return Errno(self.UpdateVAMapping(c.VCPU.Tables(), mm.GuestVA(a[0]), a[1], a[2], pg, c.VCPU.Flusher()))
}
