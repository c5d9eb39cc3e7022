package hv

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/hypercall"
	"github.com/gohv/gohv/mm"
)

// The domain side of memory_op (hypercall.MemoryOps, implemented by
// Domain): the page count and its limit, extents from the allocator,
// frames given back, exchanges, and the machine facts memory_op reports.

// memState is a domain's memory_op state.
type memState struct {
	// io is the domain's I/O-memory policy (machine_memory_map's unusable
	// gaps); immutable after CreateDomain.
	io mm.IOPolicy
	// mu serialises changes of the page count against its limit.
	mu sync.Mutex
	// delta is the change of the domain's page count since the builder
	// gave it Domain.pages frames; max is Xen's max_pages (0: the
	// builder's count). Written under mu, read atomically.
	delta atomic.Int64
	max   atomic.Uint64
}

// maxPagesLimit is the largest max_pages (Xen keeps it in 32 bits).
const maxPagesLimit = 1<<32 - 1

// SetMaxPages sets the domain's page limit (Xen's max_pages: for dom0 the
// dom0_mem max: value, unlimited meaning 2^32-1 pages), which
// increase_reservation and populate_physmap respect and
// XENMEM_maximum_reservation reports.
func (d *Domain) SetMaxPages(n uint64) { d.mem.max.Store(min(n, maxPagesLimit)) }

// TotPages implements hypercall.MemoryOps: the frames the domain holds.
func (d *Domain) TotPages() uint64 { return uint64(int64(d.pages) + d.mem.delta.Load()) }

// MaxPages implements hypercall.MemoryOps.
func (d *Domain) MaxPages() uint64 {
	if m := d.mem.max.Load(); m != 0 {
		return m
	}
	return d.pages
}

// addrLimit is the machine address frames must end at or below for an
// address width of bits (0: none).
func addrLimit(bits uint) mm.Maddr {
	if bits == 0 || bits >= 64 {
		return ^mm.Maddr(0)
	}
	return mm.Maddr(1) << bits
}

// allocRun takes n naturally aligned machine-contiguous frames below
// 2^addrBits from the allocator and zeroes them (no earlier contents
// reach the guest).
func (d *Domain) allocRun(n uint64, addrBits uint) (mm.MFN, bool) {
	m := d.m
	var first mm.MFN
	var ok bool
	if n == 1 && addrBits == 0 {
		first, ok = m.cfg.Alloc.Alloc()
	} else {
		first, ok = m.cfg.Alloc.AllocContig(n, addrLimit(addrBits), n)
	}
	if !ok {
		return 0, false
	}
	zero := make([]byte, mm.PageSize)
	for j := range mm.MFN(n) {
		m.cfg.Mem.Write((first + j).Addr(), zero)
	}
	return first, true
}

// assignRun gives frames [first, first+n) to the domain in the frame
// table; on failure (a broken allocator invariant) it undoes and frees.
func (d *Domain) assignRun(first mm.MFN, n uint64) bool {
	ft := d.m.cfg.Frames
	for j := range mm.MFN(n) {
		if ft.Assign(first+j, d.id) != nil {
			for k := range j {
				ft.Steal(first+k, d.id)
			}
			d.m.cfg.Alloc.FreeContig(first, n)
			return false
		}
	}
	return true
}

// AllocExtent implements hypercall.MemoryOps (increase_reservation,
// populate_physmap).
func (d *Domain) AllocExtent(order uint, addrBits uint) (mm.MFN, bool) {
	n := uint64(1) << order
	d.mem.mu.Lock()
	defer d.mem.mu.Unlock()
	if d.TotPages()+n > d.MaxPages() {
		return 0, false
	}
	first, ok := d.allocRun(n, addrBits)
	if !ok || !d.assignRun(first, n) {
		return 0, false
	}
	d.mem.delta.Add(int64(n))
	return first, true
}

// SetM2P implements hypercall.MemoryOps; m is a frame the memory_op
// just gave the domain.
func (d *Domain) SetM2P(m mm.MFN, pfn uint64) { d.m.cfg.Frames.M2P().Set(m, pfn) }

// RemovePage implements hypercall.MemoryOps (decrease_reservation): the
// frame goes back to the allocator once nothing maps it.
func (d *Domain) RemovePage(m mm.MFN) abi.Errno {
	d.mem.mu.Lock()
	dropped, e := d.m.cfg.Frames.RemovePage(m, d.id, machineFlusher{d.m})
	if dropped {
		d.mem.delta.Add(-1)
	}
	d.mem.mu.Unlock()
	d.m.freeReleased()
	return e
}

// ExchangeChunk implements hypercall.MemoryOps (XENMEM_exchange): the in
// frames are taken (each must be held by the domain's allocation
// reference alone), the out extents allocated below the address width
// and given to the domain, then the in frames go back to the allocator
// after a TLB flush. All or nothing.
func (d *Domain) ExchangeChunk(in []mm.MFN, inOrder uint, outCount int, outOrder uint, addrBits uint) ([]mm.MFN, abi.Errno) {
	ft, alloc := d.m.cfg.Frames, d.m.cfg.Alloc
	var stolen []mm.MFN
	giveBack := func() {
		for _, m := range stolen {
			ft.Assign(m, d.id)
		}
	}
	for _, base := range in {
		for k := range mm.MFN(1) << inOrder {
			if ft.Steal(base+k, d.id) != 0 {
				giveBack()
				return nil, abi.EINVAL
			}
			stolen = append(stolen, base+k)
		}
	}
	n := uint64(1) << outOrder
	out := make([]mm.MFN, 0, outCount)
	for range outCount {
		m, ok := d.allocRun(n, addrBits)
		if !ok {
			for _, o := range out {
				alloc.FreeContig(o, n)
			}
			giveBack()
			return nil, abi.ENOMEM
		}
		out = append(out, m)
	}
	for i, o := range out {
		if !d.assignRun(o, n) {
			// assignRun freed o; the others are not given yet.
			for _, p := range out[i+1:] {
				alloc.FreeContig(p, n)
			}
			for _, p := range out[:i] {
				for k := range mm.MFN(n) {
					ft.Steal(p+k, d.id)
				}
				alloc.FreeContig(p, n)
			}
			giveBack()
			return nil, abi.ENOMEM
		}
	}
	d.m.cfg.Backend.FlushTLB()
	for _, m := range stolen {
		alloc.Free(m)
	}
	return out, 0
}

// M2PFrames implements hypercall.MemoryOps: the M2P is one
// machine-contiguous run, so each 2 MiB of it starts 512 frames after the
// previous one.
func (d *Domain) M2PFrames(max int) []mm.MFN {
	first, n := d.m.cfg.Frames.M2P().Frames()
	const perChunk = 2 << 20 / mm.PageSize
	chunks := int((n + perChunk - 1) / perChunk)
	out := make([]mm.MFN, 0, min(max, chunks))
	for i := 0; i < chunks && i < max; i++ {
		out = append(out, first+mm.MFN(i*perChunk))
	}
	return out
}

// MaxRAMPage implements hypercall.MemoryOps.
func (d *Domain) MaxRAMPage() uint64 { return uint64(d.m.cfg.Alloc.FrameLimit()) }

// MachineMemoryMap implements hypercall.MemoryOps: the host map (sorted,
// overlaps clipped) with the gaps the domain may not map as I/O memory
// reported unusable.
func (d *Domain) MachineMemoryMap() []hypercall.E820Entry {
	return hypercall.MachineMemoryMap(sortE820(d.m.cfg.HostMemoryMap), d.permittedIOMem)
}

// IOMemRanger is an mm.IOPolicy that can list its I/O-memory ranges
// (Xen's rangeset_report_ranges); without it machine_memory_map asks the
// policy frame by frame.
type IOMemRanger interface {
	// IOMemRanges returns the permitted frame ranges (inclusive) within
	// [first, last], in order.
	IOMemRanges(first, last uint64) [][2]uint64
}

// permittedIOMem returns the frame ranges in [first, last] the domain may
// map as I/O memory.
func (d *Domain) permittedIOMem(first, last uint64) [][2]uint64 {
	io := d.mem.io
	if io == nil {
		return nil
	}
	if r, ok := io.(IOMemRanger); ok {
		return r.IOMemRanges(first, last)
	}
	var out [][2]uint64
	for f := first; f <= last && f >= first; f++ {
		if !io.IOMemAllowed(mm.MFN(f)) {
			continue
		}
		if n := len(out); n > 0 && out[n-1][1] == f-1 {
			out[n-1][1] = f
		} else {
			out = append(out, [2]uint64{f, f})
		}
	}
	return out
}

// sortE820 returns the map sorted by address with empty entries dropped
// and overlaps clipped (an entry starts where the previous one ends).
func sortE820(in []hypercall.E820Entry) []hypercall.E820Entry {
	s := slices.Clone(in)
	slices.SortStableFunc(s, func(a, b hypercall.E820Entry) int {
		switch {
		case a.Addr < b.Addr:
			return -1
		case a.Addr > b.Addr:
			return 1
		}
		return 0
	})
	out := s[:0]
	var end uint64
	for _, e := range s {
		if e.Addr < end {
			if e.Addr+e.Size <= end {
				continue
			}
			e.Size -= end - e.Addr
			e.Addr = end
		}
		if e.Size == 0 {
			continue
		}
		out = append(out, e)
		end = e.Addr + e.Size
	}
	return out
}

// Is a domain's memory_op served here?
var _ hypercall.MemoryOps = (*Domain)(nil)
