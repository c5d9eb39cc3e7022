package hv

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/arch"
	"github.com/gohv/gohv/boot"
	"github.com/gohv/gohv/mm"
)

// A PV domain's initial memory, laid out as Xen's dom0 builder does
// (pv-abi-ladder R0.4): from VIRT_BASE up, PFN n mapping the n-th frame,
// the kernel, the P2M list, start_info, the bootstrap page tables (mapped
// read-only), one page of stack, padded to 4 MiB with at least 512 KiB to
// spare; with the INIT_P2M note the P2M list lives outside the region
// instead, at the note's address. An initrd is not loaded yet.

// Dom0Layout is where each element of the bootstrap region lies.
type Dom0Layout struct {
	VStart, KStart, KEnd uint64 // region start; kernel image
	P2M, StartInfo       uint64 // VAs
	PT                   uint64 // first page-table page (the L4)
	NrPT                 uint64
	Stack                uint64 // boot stack page
	VEnd                 uint64
	// With INIT_P2M the P2M list is mapped at P2M (the note's address),
	// outside the region, on the frames from PFN FirstP2MPFN: NrP2MFrames
	// of them, the list's pages then the tables that map them.
	InitP2M                  bool
	FirstP2MPFN, NrP2MFrames uint64
	p2mPages                 uint64
}

// Lines describes the layout as Xen's dom0 builder prints it.
func (l *Dom0Layout) Lines(nrPages uint64) []string {
	return []string{
		"VIRTUAL MEMORY ARRANGEMENT:",
		fmt.Sprintf(" Loaded kernel: %016x->%016x", l.KStart, l.KEnd),
		fmt.Sprintf(" Phys-Mach map: %016x->%016x", l.P2M, l.P2M+nrPages*8),
		fmt.Sprintf(" Start info:    %016x->%016x", l.StartInfo, l.StartInfo+1168),
		fmt.Sprintf(" Page tables:   %016x->%016x", l.PT, l.PT+l.NrPT*mm.PageSize),
		fmt.Sprintf(" Boot stack:    %016x->%016x", l.Stack, l.Stack+mm.PageSize),
		fmt.Sprintf(" TOTAL:         %016x->%016x", l.VStart, l.VEnd),
	}
}

const (
	mib4     = 4 << 20
	pageMask = mm.PageSize - 1
)

func pageUp(v uint64) uint64 { return (v + pageMask) &^ pageMask }

// tablesFor counts the L4, L3, L2 and L1 pages that map [start, end).
func tablesFor(start, end uint64) uint64 {
	span := func(shift uint) uint64 { return ((end - 1) >> shift) - (start >> shift) + 1 }
	return 1 + span(39) + span(30) + span(21)
}

// PlanDom0 lays out the bootstrap region for kernel k and nrPages pages.
func PlanDom0(k *boot.Kernel, nrPages uint64) (*Dom0Layout, error) {
	p := &k.Parms
	l := &Dom0Layout{VStart: p.VirtBase, KStart: p.VirtKStart, KEnd: pageUp(p.VirtKEnd)}
	if l.KStart < l.VStart || l.KStart&pageMask != 0 {
		return nil, fmt.Errorf("kernel start %#x below VIRT_BASE %#x or not page aligned", l.KStart, l.VStart)
	}
	l.p2mPages = pageUp(nrPages*8) / mm.PageSize
	if p.P2MBase != boot.UnsetAddr {
		l.InitP2M, l.P2M = true, p.P2MBase
		l.StartInfo = l.KEnd
	} else {
		l.P2M = l.KEnd
		l.StartInfo = pageUp(l.P2M + nrPages*8)
	}
	l.PT = l.StartInfo + mm.PageSize
	// The page-table count depends on the region's end, which depends on
	// the count: iterate to the fixed point.
	for l.NrPT = 1; ; {
		l.Stack = l.PT + l.NrPT*mm.PageSize
		end := l.Stack + mm.PageSize
		l.VEnd = (end + mib4 - 1) &^ (mib4 - 1)
		if l.VEnd-end < 512<<10 {
			l.VEnd += mib4
		}
		need := tablesFor(l.VStart, l.VEnd)
		if need <= l.NrPT {
			break
		}
		l.NrPT = need
	}
	need := (l.VEnd - l.VStart) / mm.PageSize
	if l.InitP2M {
		if end := l.P2M + l.p2mPages*mm.PageSize; l.P2M&pageMask != 0 || end < l.P2M || (l.P2M < l.VEnd && end > l.VStart) {
			return nil, fmt.Errorf("INIT_P2M address %#x is unaligned or overlaps the bootstrap region", l.P2M)
		}
		// The list's pages, then one page per L3, L2 and L1 that maps them.
		end := l.P2M + l.p2mPages*mm.PageSize
		span := func(shift uint) uint64 { return ((end - 1) >> shift) - (l.P2M >> shift) + 1 }
		l.FirstP2MPFN = need
		l.NrP2MFrames = l.p2mPages + span(39) + span(30) + span(21)
		need += l.NrP2MFrames
	}
	if need > nrPages {
		return nil, fmt.Errorf("the bootstrap region needs %d pages, the domain has %d", need, nrPages)
	}
	return l, nil
}

// hypercallPage is the page of 32-byte stubs the HYPERCALL_PAGE note asks
// for: `push rcx; push r11; mov eax, nr; syscall; pop r11; pop rcx; ret`,
// and for iret (23) `push rcx; push r11; push rax; mov eax, 23; syscall`.
func hypercallPage() []byte {
	p := bytes.Repeat([]byte{0xCC}, mm.PageSize)
	for i := 0; i < mm.PageSize/32; i++ {
		s := p[i*32:]
		if i == abi.HYPERVISOR_iret {
			copy(s, []byte{0x51, 0x41, 0x53, 0x50, 0xb8, byte(i), 0, 0, 0, 0x0f, 0x05})
			continue
		}
		copy(s, []byte{0x51, 0x41, 0x53, 0xb8, byte(i), 0, 0, 0, 0x0f, 0x05, 0x41, 0x5b, 0x59, 0xc3})
	}
	return p
}

// BuildDom0 writes domain d's initial memory: the kernel's segments, the
// P2M list, start_info, page tables and hypercall page, into mfns (PFN i
// is mfns[i], every frame already assigned to d and zeroed here), records
// the M2P, pins the L4 and makes it the vCPU's base, and sets vCPU 0's
// registers for the first instruction. It returns the layout.
func (d *Domain) BuildDom0(k *boot.Kernel, mfns []mm.MFN, cmdline string) (*Dom0Layout, error) {
	mem, m2p := d.m.cfg.Mem, d.m.cfg.M2P
	n := uint64(len(mfns))
	l, err := PlanDom0(k, n)
	if err != nil {
		return nil, err
	}
	zero := make([]byte, mm.PageSize)
	for i, f := range mfns {
		if !mem.Write(f.Addr(), zero) {
			return nil, fmt.Errorf("frame %#x is not in machine memory", f)
		}
		if m2p != nil {
			m2p.Set(f, uint64(i))
		}
	}
	// write copies b to the guest's virtual address va inside the region.
	write := func(va uint64, b []byte) error {
		for len(b) > 0 {
			pfn := (va - l.VStart) / mm.PageSize
			off := va & pageMask
			if va < l.VStart || pfn >= n {
				return fmt.Errorf("address %#x outside the domain's memory", va)
			}
			c := min(uint64(len(b)), mm.PageSize-off)
			mem.Write(mfns[pfn].Addr()+mm.Maddr(off), b[:c])
			b, va = b[c:], va+c
		}
		return nil
	}
	for _, s := range k.Segments {
		if err := write(s.Dest, s.Data); err != nil {
			return nil, fmt.Errorf("kernel segment at %#x: %w", s.Dest, err)
		}
	}
	p2m := make([]byte, 8*n)
	for i, f := range mfns {
		binary.LittleEndian.PutUint64(p2m[8*i:], uint64(f))
	}
	if l.InitP2M {
		for i := uint64(0); i < l.p2mPages; i++ {
			mem.Write(mfns[l.FirstP2MPFN+i].Addr(), p2m[i*mm.PageSize:min(uint64(len(p2m)), (i+1)*mm.PageSize)])
		}
	} else if err := write(l.P2M, p2m); err != nil {
		return nil, err
	}
	if k.Parms.VirtHypercall != boot.UnsetAddr {
		if err := write(k.Parms.VirtHypercall, hypercallPage()); err != nil {
			return nil, fmt.Errorf("hypercall page: %w", err)
		}
	}
	if err := l.writePageTables(mem, mfns); err != nil {
		return nil, err
	}
	si := abi.StartInfo{NrPages: n, SharedInfo: uint64(d.sharedInfo.Addr()),
		Flags: abi.SIF_PRIVILEGED | abi.SIF_INITDOMAIN, PtBase: l.PT, NrPtFrames: l.NrPT, MfnList: l.P2M,
		FirstP2mPfn: l.FirstP2MPFN, NrP2mFrames: l.NrP2MFrames}
	magic := "xen-3.0-x86_64"
	if k.Parms.PAE != boot.XEN_PAE_NO {
		magic += "p"
	}
	copy(si.Magic[:], magic)
	copy(si.CmdLine[:len(si.CmdLine)-1], cmdline)
	var sib bytes.Buffer
	binary.Write(&sib, binary.LittleEndian, &si)
	if err := write(l.StartInfo, sib.Bytes()); err != nil {
		return nil, err
	}

	// Type the tables by pinning the L4 (validation walks them all), then
	// make it the kernel base pointer.
	v := d.vcpus[0]
	l4 := mfns[(l.PT-l.VStart)/mm.PageSize]
	var ops [2]abi.MmuextOp
	ops[0].Cmd, ops[1].Cmd = abi.MMUEXT_PIN_L4_TABLE, abi.MMUEXT_NEW_BASEPTR
	ops[0].SetArg1(uint64(l4))
	ops[1].SetArg1(uint64(l4))
	if done, e := d.space.MMUExtOp(&v.tables, ops[:], nil, nil); e != 0 {
		return nil, fmt.Errorf("the bootstrap page tables do not validate (op %d: %v)", done, e)
	}
	v.tables.Reload = false
	d.pages = n
	v.Regs = arch.Regs{RIP: k.Parms.VirtEntry, RSP: l.Stack + mm.PageSize, RSI: l.StartInfo,
		RFLAGS: 0x202, CS: abi.FLAT_KERNEL_CS, SS: abi.FLAT_KERNEL_SS}
	return l, nil
}

// writePageTables maps [VStart, VEnd) page by page onto the region's
// frames, everything writable but the page-table pages themselves, and with
// INIT_P2M the P2M list at its address on its own frames and tables.
func (l *Dom0Layout) writePageTables(mem mm.MachineMemory, mfns []mm.MFN) error {
	const (
		p, w, u, a, dirty = 1, 2, 4, 0x20, 0x40
		table             = p | w | u | a | dirty
	)
	pfnOf := func(va uint64) uint64 { return (va - l.VStart) / mm.PageSize }
	next := pfnOf(l.PT)              // the region's page-table pages, in order
	tables := map[[2]uint64]mm.MFN{} // (level, va >> coverage shift) -> table
	entries := map[mm.MFN]map[uint64]uint64{}
	newTable := func(pfn *uint64) mm.MFN {
		t := mfns[*pfn]
		*pfn++
		entries[t] = map[uint64]uint64{}
		return t
	}
	l4 := newTable(&next)
	get := func(level int, va uint64, pfn *uint64) mm.MFN {
		key := [2]uint64{uint64(level), va >> uint(12+9*level)}
		if t, ok := tables[key]; ok {
			return t
		}
		t := newTable(pfn)
		tables[key] = t
		return t
	}
	mapPage := func(va uint64, frame mm.MFN, writable bool, pfn *uint64) {
		l3 := get(3, va, pfn)
		l2 := get(2, va, pfn)
		l1 := get(1, va, pfn)
		entries[l4][(va>>39)&511] = uint64(l3.Addr()) | table
		entries[l3][(va>>30)&511] = uint64(l2.Addr()) | table
		entries[l2][(va>>21)&511] = uint64(l1.Addr()) | table
		pte := uint64(frame.Addr()) | p | u | a | dirty
		if writable {
			pte |= w
		}
		entries[l1][(va>>12)&511] = pte
	}
	ptStart, ptEnd := l.PT, l.PT+l.NrPT*mm.PageSize
	for va := l.VStart; va < l.VEnd; va += mm.PageSize {
		mapPage(va, mfns[pfnOf(va)], va < ptStart || va >= ptEnd, &next)
	}
	if next != pfnOf(ptEnd) {
		return fmt.Errorf("page-table count: planned %d, used %d", l.NrPT, next-pfnOf(l.PT))
	}
	if l.InitP2M {
		tpfn := l.FirstP2MPFN + l.p2mPages
		for i := uint64(0); i < l.p2mPages; i++ {
			mapPage(l.P2M+i*mm.PageSize, mfns[l.FirstP2MPFN+i], true, &tpfn)
		}
		if tpfn != l.FirstP2MPFN+l.NrP2MFrames {
			return fmt.Errorf("P2M table count: planned %d, used %d", l.NrP2MFrames-l.p2mPages, tpfn-l.FirstP2MPFN-l.p2mPages)
		}
	}
	for t, es := range entries {
		page := make([]byte, mm.PageSize)
		for i, e := range es {
			binary.LittleEndian.PutUint64(page[8*i:], e)
		}
		if !mem.Write(t.Addr(), page) {
			return fmt.Errorf("page table %#x outside machine memory", t)
		}
	}
	return nil
}
