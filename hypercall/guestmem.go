package hypercall

import (
	"encoding/binary"

	"github.com/gohv/gohv/mm"
)

// Little-endian accessors for the guest's x86-64 structures.
var le = binary.LittleEndian

// readGuest copies len(dst) bytes from the guest at va; false means the
// handler returns -EFAULT.
func (c *Caller) readGuest(va uint64, dst []byte) bool {
	return c.Mem.CopyFromGuest(dst, mm.GuestVA(va))
}

// writeGuest copies src to the guest at va; false means -EFAULT.
func (c *Caller) writeGuest(va uint64, src []byte) bool {
	return c.Mem.CopyToGuest(mm.GuestVA(va), src)
}

// readU32 reads a 32-bit little-endian value from the guest.
func (c *Caller) readU32(va uint64) (uint32, bool) {
	b := c.word[:4]
	if !c.readGuest(va, b) {
		return 0, false
	}
	return le.Uint32(b), true
}

// writeU32 writes a 32-bit little-endian value to the guest.
func (c *Caller) writeU32(va uint64, v uint32) bool {
	b := c.word[:4]
	le.PutUint32(b, v)
	return c.writeGuest(va, b)
}

// writeU64 writes a 64-bit little-endian value to the guest.
func (c *Caller) writeU64(va uint64, v uint64) bool {
	b := c.word[:8]
	le.PutUint64(b, v)
	return c.writeGuest(va, b)
}

// elem returns the address of element i of size size in the guest array
// at base; ok false if it wraps around the address space (the copy would
// fault).
func elem(base, i, size uint64) (uint64, bool) {
	if size != 0 && i > ^uint64(0)/size {
		return 0, false
	}
	off := i * size
	if base > ^uint64(0)-off {
		return 0, false
	}
	return base + off, true
}

// SpaceGuest is the Guest of a PV vCPU in guest-kernel mode: addresses are
// translated through the vCPU's kernel page tables (Tables.Kernel) by
// mm.Space.Translate, a page at a time, and copied through Mem. A
// translation that fails (not present, not writable for a write, not a
// guest address) ends the copy with false. hv uses it as the Caller's
// Mem, with the metal's Direct access tried first.
type SpaceGuest struct {
	Space  *mm.Space        // the calling domain's PV memory model
	Mem    mm.MachineMemory // machine memory
	Tables *mm.VCPUTables   // the calling vCPU's page-table bases
	// Direct, if set, is tried first for every copy.
	Direct DirectAccess
}

// DirectAccess copies to and from guest virtual memory through the CPU's
// own walk of the page tables at cr3 (as Xen's copy_from_guest does),
// which works only while those tables are loaded. It reports false
// whenever it did not do the whole copy (other tables loaded, a fault, an
// address it does not take): SpaceGuest then does the copy by its
// software walk, which gives the exact outcome. It never writes through a
// mapping the guest has read-only.
type DirectAccess interface {
	CopyFromGuest(dst []byte, va mm.GuestVA, cr3 mm.MFN) bool
	CopyToGuest(va mm.GuestVA, src []byte, cr3 mm.MFN) bool
}

// CopyFromGuest implements Guest.
func (g *SpaceGuest) CopyFromGuest(dst []byte, va mm.GuestVA) bool {
	if g.Direct != nil && g.Direct.CopyFromGuest(dst, va, g.Tables.Kernel) {
		return true
	}
	return g.copy(va, dst, false)
}

// CopyToGuest implements Guest.
func (g *SpaceGuest) CopyToGuest(va mm.GuestVA, src []byte) bool {
	if g.Direct != nil && g.Direct.CopyToGuest(va, src, g.Tables.Kernel) {
		return true
	}
	return g.copy(va, src, true)
}

// copy moves p to or from the guest a page piece at a time.
func (g *SpaceGuest) copy(va mm.GuestVA, p []byte, write bool) bool {
	for len(p) > 0 {
		ma, e := g.Space.Translate(g.Tables.Kernel, va, write)
		if e != 0 {
			return false
		}
		n := min(len(p), int(mm.PageSize-ma.Offset()))
		var ok bool
		if write {
			ok = g.Mem.Write(ma, p[:n])
		} else {
			ok = g.Mem.Read(ma, p[:n])
		}
		if !ok {
			return false
		}
		p = p[n:]
		if uint64(va)+uint64(n) < uint64(va) {
			return len(p) == 0
		}
		va += mm.GuestVA(n)
	}
	return true
}

// Caller.arg must hold every argument structure copied through it.
var (
	_ [argScratch - grantMaxElem]byte
	_ [argScratch - evtchnMaxArg]byte
	_ [argScratch - mmuextOpSize]byte
)
