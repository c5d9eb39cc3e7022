package build

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/mm"
)

// Page-table entry bits the builder writes (Xen's dom0_build.c L1_PROT
// and L2_PROT..L4_PROT). Entries are written in the form Xen's validation
// would leave them for a 64-bit PV guest, so the tables work with or
// without it: every level carries _PAGE_USER (the kernel runs in ring 3),
// L1 entries are marked guest-kernel (PTE bit 52).
const (
	pteP           = 1 << 0
	pteRW          = 1 << 1
	pteUser        = 1 << 2
	pteAccessed    = 1 << 5
	pteDirty       = 1 << 6
	pteGuestKernel = 1 << 52
	// l1Prot is Xen dom0's L1_PROT; page-table pages lose pteRW.
	l1Prot = pteP | pteRW | pteAccessed | pteUser | pteGuestKernel
	// upperProt is L2_PROT = L3_PROT = L4_PROT.
	upperProt = pteP | pteRW | pteAccessed | pteDirty | pteUser
	pteAddr   = 0x000ffffffffff000
)

// Magic is start_info.magic for a 64-bit PV guest (the toolstack's guest
// type string).
const Magic = "xen-3.0-x86_64"

// M2PSetter records machine_to_phys[mfn] = pfn; *mm.M2P satisfies it. Set
// reports false if mfn is beyond the table.
type M2PSetter interface {
	Set(m mm.MFN, pfn uint64) bool
}

// Contents are the bytes and machine facts Build needs beyond the layout.
type Contents struct {
	Initrd []byte // len must equal the planned InitrdLen (domU: same page count)
	// InitrdInPlace says the frames mfns gives the initrd's PFNs already
	// hold the initrd (Xen's dom0 hands the boot module's own frames over):
	// Build neither clears nor writes them, and Initrd must be nil.
	InitrdInPlace bool
	// KernelInPlace says the frames mfns gives the kernel's PFNs
	// (Layout.Kernel) already hold the kernel's memory image, bss and gaps
	// zero (kernel.Load unpacked it there): Build neither clears nor writes
	// them, and the segments' Data is ignored.
	KernelInPlace bool
	SharedInfo    mm.Maddr // machine address of the domain's shared_info page
	CmdLine       string   // at most MAX_GUEST_CMDLINE-1 bytes
	StoreEvtchn   uint32   // domU: xenstore event channel
	ConsoleEvtchn uint32   // domU: console event channel
	// VGA, for dom0, is packed after start_info in its page and described
	// by start_info's console.dom0 (public/xen.h); nil: none.
	VGA *abi.Dom0VgaConsoleInfo
	// HypervisorSlots fills the hypervisor's L4 slots 256-271 of the L4 at
	// frame l4; it may write only those entries of table (512 entries).
	// nil leaves them zero (mm's validation installs them at pin time).
	HypervisorSlots func(l4 mm.MFN, table []uint64)
	// M2P receives machine_to_phys[mfns[i]] = i for every page; nil: the
	// caller records them.
	M2P M2PSetter
}

// Regs is vCPU 0's state at the first instruction (public/xen.h's start of
// day for a PV guest); the other registers are 0.
type Regs struct {
	RIP, RSP, RSI, RFLAGS uint64
	CS, SS                uint16 // DS, ES, FS, GS are FLAT_KERNEL_DS (0)
	// KernelSS:KernelSP are set by the toolstack (domU) to SS:RSP; dom0
	// leaves them 0.
	KernelSS uint16
	KernelSP uint64
}

// Result is what Build made.
type Result struct {
	Regs Regs
	CR3  mm.MFN // the L4: CR3 = CR3 << 12
	L4   mm.MFN // the table to pin (MMUEXT_PIN_L4_TABLE)
	// Tables[level-1] lists the page-table frames of that level, bootstrap
	// and INIT_P2M ones, in PFN order.
	Tables [4][]mm.MFN
	// StartInfo is what was written to the start_info page.
	StartInfo  abi.StartInfo
	StoreMFN   mm.MFN // domU
	ConsoleMFN mm.MFN // domU
}

// Build writes layout l into the frames mfns (PFN i is mfns[i]; len(mfns)
// == l.NrPages) through mem. See the package contract.
func Build(l *Layout, mem mm.MachineMemory, mfns []mm.MFN, c Contents) (*Result, error) {
	if l == nil || mem == nil {
		return nil, fmt.Errorf("%w: nil layout or memory", ErrInput)
	}
	if uint64(len(mfns)) != l.NrPages {
		return nil, fmt.Errorf("%w: %d frames for %d pages", ErrInput, len(mfns), l.NrPages)
	}
	wantInitrd := l.SI.ModLen
	if c.InitrdInPlace {
		if c.Initrd != nil || wantInitrd == 0 {
			return nil, fmt.Errorf("%w: an in-place initrd needs a planned initrd and no bytes", ErrInput)
		}
	} else if l.Kind == DomU && wantInitrd != 0 {
		if uint64(len(c.Initrd)) > wantInitrd || pagesFor(uint64(len(c.Initrd))) != l.Initrd.Pages {
			return nil, fmt.Errorf("%w: initrd of %d bytes, planned %d pages", ErrInput, len(c.Initrd), l.Initrd.Pages)
		}
	} else if uint64(len(c.Initrd)) != wantInitrd {
		return nil, fmt.Errorf("%w: initrd of %d bytes, planned %d", ErrInput, len(c.Initrd), wantInitrd)
	}
	if len(c.CmdLine) >= abi.MAX_GUEST_CMDLINE {
		return nil, fmt.Errorf("%w: command line of %d bytes (at most %d)", ErrInput, len(c.CmdLine), abi.MAX_GUEST_CMDLINE-1)
	}
	if c.SharedInfo&(pageSize-1) != 0 {
		return nil, fmt.Errorf("%w: shared_info at %#x is not page aligned", ErrInput, c.SharedInfo)
	}
	w := &writer{mem: mem, mfns: mfns}

	// Zero every frame the layout uses (segments are cleared as
	// xc_dom_alloc_segment and Xen's builder do; bss comes out zero).
	used := l.Padding.End()
	used = max(used, l.Initrd.End(), l.P2M.End(), l.P2MTables.End())
	zero := make([]byte, pageSize)
	for p := mm.PFN(0); p < used; p++ {
		if c.InitrdInPlace && p >= l.Initrd.PFN && p < l.Initrd.End() {
			continue
		}
		if c.KernelInPlace && p >= l.Kernel.PFN && p < l.Kernel.End() {
			continue
		}
		if !mem.Write(mfns[p].Addr(), zero) {
			return nil, fmt.Errorf("build: frame %#x (PFN %#x) is outside machine memory", uint64(mfns[p]), uint64(p))
		}
	}

	// Kernel segments by p_paddr + virt_offset.
	for i, s := range l.Image.Segments {
		if c.KernelInPlace {
			break
		}
		va := s.PAddr + l.VirtOffset
		if err := w.write(l.pfnOffset(va), s.Data); err != nil {
			return nil, fmt.Errorf("build: kernel segment %d: %w", i, err)
		}
	}
	if len(c.Initrd) != 0 {
		if err := w.write(uint64(l.Initrd.PFN)<<pageShift, c.Initrd); err != nil {
			return nil, fmt.Errorf("build: initrd: %w", err)
		}
	}

	// The P2M list: one u64 MFN per PFN.
	var page [pageSize]byte
	for i := uint64(0); i < l.NrPages; i += pageSize / 8 {
		clear(page[:])
		for j := uint64(0); j < pageSize/8 && i+j < l.NrPages; j++ {
			binary.LittleEndian.PutUint64(page[8*j:], uint64(mfns[i+j]))
		}
		pfn := l.P2M.PFN + mm.PFN(i/(pageSize/8))
		if !mem.Write(mfns[pfn].Addr(), page[:]) {
			return nil, fmt.Errorf("build: P2M frame %#x outside machine memory", uint64(mfns[pfn]))
		}
	}

	if l.HasHypercallPage {
		if err := w.write(l.pfnOffset(l.HypercallPage), HypercallPage()); err != nil {
			return nil, fmt.Errorf("build: hypercall page: %w", err)
		}
	}

	r := &Result{}
	si := &r.StartInfo
	abi.PutCString(si.Magic[:], l.SI.Magic)
	si.NrPages = l.SI.NrPages
	si.SharedInfo = uint64(c.SharedInfo)
	si.Flags = l.SI.Flags
	si.PtBase = l.SI.PtBase
	si.NrPtFrames = l.SI.NrPtFrames
	si.MfnList = l.SI.MfnList
	si.ModStart = l.SI.ModStart
	si.ModLen = l.SI.ModLen
	si.FirstP2mPfn = l.SI.FirstP2MPFN
	si.NrP2mFrames = l.SI.NrP2MFrames
	abi.PutCString(si.CmdLine[:], c.CmdLine)
	var extra []byte
	switch l.Kind {
	case DomU:
		r.StoreMFN, r.ConsoleMFN = mfns[l.XenStore.PFN], mfns[l.Console.PFN]
		si.StoreMfn = uint64(r.StoreMFN)
		si.StoreEvtchn = c.StoreEvtchn
		si.SetConsoleDomU(uint64(r.ConsoleMFN), c.ConsoleEvtchn)
	case Dom0:
		if c.VGA != nil {
			var b bytes.Buffer
			binary.Write(&b, binary.LittleEndian, c.VGA)
			extra = b.Bytes()
			si.SetConsoleDom0(uint32(binary.Size(si)), uint32(len(extra)))
		}
	}
	var sib bytes.Buffer
	if err := binary.Write(&sib, binary.LittleEndian, si); err != nil {
		return nil, fmt.Errorf("build: start_info: %w", err)
	}
	sib.Write(extra)
	if err := w.write(uint64(l.StartInfo.PFN)<<pageShift, sib.Bytes()); err != nil {
		return nil, fmt.Errorf("build: start_info: %w", err)
	}

	if err := writeTables(l, w, c.HypervisorSlots, r); err != nil {
		return nil, err
	}

	if c.M2P != nil {
		for i, m := range mfns {
			if !c.M2P.Set(m, uint64(i)) {
				return nil, fmt.Errorf("build: MFN %#x is beyond the M2P", uint64(m))
			}
		}
	}

	r.L4 = mfns[l.PageTables.PFN]
	r.CR3 = r.L4
	r.Regs = Regs{
		RIP:    l.Entry,
		RSP:    l.Stack.VA + pageSize,
		RSI:    l.StartInfo.VA,
		RFLAGS: 0x202,
		CS:     abi.FLAT_KERNEL_CS,
		SS:     abi.FLAT_KERNEL_SS,
	}
	if l.Kind == DomU {
		r.Regs.KernelSS, r.Regs.KernelSP = r.Regs.SS, r.Regs.RSP
	}
	return r, nil
}

// pfnOffset returns the byte offset from PFN 0 of region VA va.
func (l *Layout) pfnOffset(va uint64) uint64 { return va - l.VStart }

// writer copies bytes into the domain's pseudo-physical space.
type writer struct {
	mem  mm.MachineMemory
	mfns []mm.MFN
}

// write copies b to pseudo-physical byte offset off.
func (w *writer) write(off uint64, b []byte) error {
	for len(b) > 0 {
		pfn, in := off>>pageShift, off&(pageSize-1)
		if pfn >= uint64(len(w.mfns)) {
			return fmt.Errorf("pseudo-physical address %#x is beyond the domain's %d pages", off, len(w.mfns))
		}
		n := min(uint64(len(b)), pageSize-in)
		if !w.mem.Write(w.mfns[pfn].Addr()+mm.Maddr(in), b[:n]) {
			return fmt.Errorf("frame %#x is outside machine memory", uint64(w.mfns[pfn]))
		}
		b, off = b[n:], off+n
	}
	return nil
}

// writeTables builds every planned page table and writes it.
func writeTables(l *Layout, w *writer, hvSlots func(mm.MFN, []uint64), r *Result) error {
	type key struct {
		level int
		va    uint64
	}
	idx := make(map[key]int, len(l.Tables))
	tabs := make([][]uint64, len(l.Tables))
	for i, t := range l.Tables {
		idx[key{t.Level, t.VA}] = i
		tabs[i] = make([]uint64, 512)
		r.Tables[t.Level-1] = append(r.Tables[t.Level-1], w.mfns[t.PFN])
	}
	ro := func(p mm.PFN) bool {
		return (p >= l.PageTables.PFN && p < l.PageTables.End()) || (p >= l.P2MTables.PFN && p < l.P2MTables.End())
	}
	lookup := func(level int, va uint64) (int, error) {
		if level == 4 {
			va = 0
		} else {
			va &^= 1<<shiftOf(level) - 1
		}
		i, ok := idx[key{level, va}]
		if !ok {
			return 0, fmt.Errorf("build: no L%d table planned for VA %#x", level, va)
		}
		return i, nil
	}
	for _, m := range l.Mappings {
		for k := uint64(0); k < m.Pages; k++ {
			va := m.VA + k<<pageShift
			pfn := m.PFN + mm.PFN(k)
			// Link the upper levels (idempotent), then the L1 entry.
			child := -1
			for level := 1; level <= 4; level++ {
				i, err := lookup(level, va)
				if err != nil {
					return err
				}
				slot := (va >> (pageShift + 9*uint(level-1))) & 511
				if level == 1 {
					e := uint64(w.mfns[pfn].Addr()) | l1Prot
					if ro(pfn) {
						e &^= pteRW
					}
					tabs[i][slot] = e
				} else {
					tabs[i][slot] = uint64(w.mfns[l.Tables[child].PFN].Addr()) | upperProt
				}
				child = i
			}
		}
	}
	l4 := w.mfns[l.Tables[0].PFN]
	if hvSlots != nil {
		t := tabs[0]
		keep := make([]uint64, 512)
		copy(keep, t)
		hvSlots(l4, t)
		for s := range t {
			if (s < 256 || s > 271) && t[s] != keep[s] {
				return fmt.Errorf("build: the hypervisor-slot callback changed guest L4 slot %d", s)
			}
		}
	}
	buf := make([]byte, pageSize)
	for i, t := range tabs {
		for s, e := range t {
			binary.LittleEndian.PutUint64(buf[8*s:], e)
		}
		if err := w.write(uint64(l.Tables[i].PFN)<<pageShift, buf); err != nil {
			return fmt.Errorf("build: page table: %w", err)
		}
	}
	return nil
}

// HypercallPage returns the page of stubs the HYPERCALL_PAGE note asks for
// (public/elfnote.h; Xen's xen/arch/x86/pv/hypercall.c
// pv_ring3_init_hypercall_page): 0xCC everywhere, then 128 stubs of 32
// bytes. Stub i (not 23) is
// push %rcx; push %r11; mov $i,%eax; syscall; pop %r11; pop %rcx; ret.
// Stub 23 (iret) is push %rcx; push %r11; push %rax; mov $23,%eax; syscall.
func HypercallPage() []byte {
	p := bytes.Repeat([]byte{0xcc}, pageSize)
	for i := 0; i < pageSize/32; i++ {
		s := p[i*32 : i*32+32]
		var code []byte
		if i == abi.HYPERVISOR_iret {
			code = []byte{0x51, 0x41, 0x53, 0x50, 0xb8, 0, 0, 0, 0, 0x0f, 0x05}
			binary.LittleEndian.PutUint32(code[5:], uint32(i))
		} else {
			code = []byte{0x51, 0x41, 0x53, 0xb8, 0, 0, 0, 0, 0x0f, 0x05, 0x41, 0x5b, 0x59, 0xc3}
			binary.LittleEndian.PutUint32(code[4:], uint32(i))
		}
		copy(s, code)
	}
	return p
}

// Pin types the tables by pinning the L4 through s (validation walks and
// types every table, installing the hypervisor's L4 slots) and makes it
// v's kernel base pointer (MMUEXT_PIN_L4_TABLE, MMUEXT_NEW_BASEPTR). The
// frames must be assigned to s's domain.
func (r *Result) Pin(s *mm.Space, v *mm.VCPUTables) error {
	var ops [2]abi.MmuextOp
	ops[0].Cmd, ops[1].Cmd = abi.MMUEXT_PIN_L4_TABLE, abi.MMUEXT_NEW_BASEPTR
	ops[0].SetArg1(uint64(r.L4))
	ops[1].SetArg1(uint64(r.L4))
	if done, err := s.MMUExtOp(v, ops[:], nil, nil); err != 0 {
		return fmt.Errorf("build: the bootstrap page tables do not validate (op %d: %v)", done, err)
	}
	return nil
}
