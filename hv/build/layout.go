package build

import (
	"errors"
	"fmt"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/arch"
	"github.com/gohv/gohv/kernel"
	"github.com/gohv/gohv/mm"
)

// Kind selects whose builder the layout follows.
type Kind int

// Domain kinds.
const (
	// DomU follows the toolstack (libxenguest xc_dom_build_image): kernel,
	// mapped initrd, P2M (unless INIT_P2M), start_info, xenstore, console,
	// page tables L4, L3s, L2s, L1s, boot stack; the region ends on a 4 MiB
	// boundary with at least 512 KiB after the stack.
	DomU Kind = iota
	// Dom0 follows Xen's dom0_construct_pv: no xenstore or console pages,
	// page tables in walk order (L4, L1, L2, L3, L1, ...), the region's end
	// rounded up to 4 MiB plus 4 MiB more when that leaves < 512 KiB.
	Dom0
)

func (k Kind) String() string {
	switch k {
	case DomU:
		return "domU"
	case Dom0:
		return "dom0"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Bounds on Plan's input. They keep every computation inside uint64 and the
// page-table plan small.
const (
	// MaxNrPages is the largest domain: 4 TiB.
	MaxNrPages = 1 << 30
	// MaxKernelSpan bounds the kernel image [kstart, kend), as package kernel does.
	MaxKernelSpan = kernel.MaxSpan
	// MaxInitrdLen bounds the initrd: 4 GiB.
	MaxInitrdLen = 4 << 30
	// MaxSegments bounds the number of kernel segments.
	MaxSegments = 1024
)

const (
	pageSize  = mm.PageSize
	pageShift = mm.PageShift
	mib4      = 4 << 20
	kib512    = 512 << 10
)

// Segment is one loadable kernel segment.
type Segment struct {
	PAddr uint64 // p_paddr; placed at PAddr + VirtBase - PaddrOffset
	MemSz uint64 // bytes in memory; past len(Data) they are zero
	Data  []byte // file bytes, len(Data) <= MemSz
}

// Notes are the Xen ELF notes the layout depends on (public/elfnote.h),
// with their defaults already applied (ENTRY defaults to e_entry, VIRT_BASE
// and PADDR_OFFSET to 0).
type Notes struct {
	VirtBase    uint64
	PaddrOffset uint64
	Entry       uint64

	HasHypercallPage bool
	HypercallPage    uint64 // VA of the page to fill with stubs

	HasInitP2M bool
	InitP2M    uint64 // VA at which to map the P2M outside the region

	ModStartPFN bool // the initrd may be left unmapped (mod_start is a PFN)

	// PAE is libelf's parms.pae != XEN_PAE_NO (a PAE_MODE note; Linux has
	// "yes"). Xen's dom0 builder then appends "p" to start_info.magic.
	PAE bool
}

// Image is the kernel as the builder needs it.
type Image struct {
	Segments []Segment
	Notes    Notes
}

// ImageFromKernel converts a parsed kernel. The segments alias k's bytes.
func ImageFromKernel(k *kernel.Image) Image {
	p := &k.Parms
	img := Image{Notes: Notes{
		VirtBase:         p.VirtBase,
		PaddrOffset:      p.ElfPaddrOffset,
		Entry:            p.VirtEntry,
		HasHypercallPage: p.VirtHypercall != kernel.UnsetAddr,
		HypercallPage:    p.VirtHypercall,
		HasInitP2M:       p.P2MBase != kernel.UnsetAddr,
		InitP2M:          p.P2MBase,
		ModStartPFN:      p.UnmappedInitrd,
		PAE:              p.PAE != kernel.XEN_PAE_NO,
	}}
	if !img.Notes.HasHypercallPage {
		img.Notes.HypercallPage = 0
	}
	if !img.Notes.HasInitP2M {
		img.Notes.InitP2M = 0
	}
	for _, s := range k.Segments {
		img.Segments = append(img.Segments, Segment{PAddr: s.Paddr, MemSz: s.Memsz, Data: s.Data})
	}
	return img
}

// Input is what Plan lays out.
type Input struct {
	Kind      Kind
	Image     Image
	NrPages   uint64 // pages given to the domain (start_info.nr_pages)
	InitrdLen uint64 // bytes; 0: no initrd
	// ExtraFlags are ORed into start_info.flags (e.g. Xen's processor PM
	// bits in SIF_PM_MASK for dom0). They may not include SIF_MOD_START_PFN,
	// which Plan decides.
	ExtraFlags uint32
}

// Range is one element of the layout: Pages frames from PFN, mapped at VA
// when Mapped.
type Range struct {
	PFN    mm.PFN
	Pages  uint64
	VA     uint64
	Mapped bool
}

// End returns the first PFN after r.
func (r Range) End() mm.PFN { return r.PFN + mm.PFN(r.Pages) }

// Table is one page-table page of the plan: its level (1..4), the lowest VA
// it maps (aligned to its span; 0 for the L4), and its frame.
type Table struct {
	Level int
	VA    uint64
	PFN   mm.PFN
}

// Mapping is a virtually contiguous run of the domain's pages the initial
// page tables map: Pages pages from VA onto PFNs from PFN.
type Mapping struct {
	VA    uint64
	PFN   mm.PFN
	Pages uint64
}

// StartInfoValues are the start_info fields Plan decides (public/xen.h).
// Build adds the magic, shared_info, xenstore/console MFNs and event
// channels, and the command line.
type StartInfoValues struct {
	// Magic is "xen-3.0-x86_64": the toolstack's guest type for a 64-bit
	// image; Xen's dom0 builder appends "p" when the image has PAE set.
	Magic       string
	NrPages     uint64
	Flags       uint32
	PtBase      uint64 // VA of the L4
	NrPtFrames  uint64
	MfnList     uint64 // VA of the P2M list
	ModStart    uint64 // VA, or PFN with SIF_MOD_START_PFN
	ModLen      uint64
	FirstP2MPFN uint64
	NrP2MFrames uint64
}

// Layout is a planned initial memory image.
type Layout struct {
	Kind    Kind
	NrPages uint64
	Image   Image

	VStart, VEnd uint64 // the bootstrap region [VirtBase, v_end)
	VirtOffset   uint64 // VirtBase - PaddrOffset
	KStart, KEnd uint64 // kernel image VAs (libelf's virt_kstart/virt_kend)
	Entry        uint64

	Low        Range // the PFNs below the kernel (mapped, treated as RAM)
	Kernel     Range
	Initrd     Range // Pages 0 without an initrd; !Mapped when at a PFN
	P2M        Range // the P2M list (nr_pages u64 entries)
	P2MTables  Range // INIT_P2M only: the page tables mapping the list
	StartInfo  Range
	XenStore   Range // domU only
	Console    Range // domU only
	PageTables Range // the bootstrap tables (nr_pt_frames)
	Stack      Range
	Padding    Range // the rest of the region up to v_end

	HypercallPage    uint64 // VA of the page (page aligned) if HasHypercall
	HasHypercallPage bool

	// Tables are every page-table page: the bootstrap ones in PFN order,
	// then those of the INIT_P2M mapping.
	Tables []Table
	// Mappings are what the tables map: the region, then the INIT_P2M list.
	Mappings []Mapping

	SI StartInfoValues
}

// Element is a named PFN range, for checks and printing.
type Element struct {
	Name string
	Range
}

// Elements returns the non-empty elements in PFN order of construction.
func (l *Layout) Elements() []Element {
	all := []Element{
		{"low memory", l.Low}, {"kernel", l.Kernel}, {"initrd", l.Initrd},
		{"p2m", l.P2M}, {"p2m page tables", l.P2MTables},
		{"start info", l.StartInfo}, {"xenstore", l.XenStore}, {"console", l.Console},
		{"page tables", l.PageTables}, {"boot stack", l.Stack}, {"padding", l.Padding},
	}
	out := all[:0]
	for _, e := range all {
		if e.Pages != 0 {
			out = append(out, e)
		}
	}
	return out
}

// Errors Plan wraps.
var (
	ErrImage   = errors.New("build: the kernel image cannot be laid out")
	ErrTooBig  = errors.New("build: the domain's memory is too small for its initial layout")
	ErrAddress = errors.New("build: an address of the layout is out of range")
	ErrInput   = errors.New("build: invalid build input")
)

func pagesFor(bytes uint64) uint64 {
	return bytes>>pageShift + b2u(bytes&(pageSize-1) != 0)
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// span counts the tables of the level whose one table maps 1<<shift bytes
// needed for [start, end) (end > start).
func span(start, end uint64, shift uint) uint64 {
	return ((end - 1) >> shift) - (start >> shift) + 1
}

// regionTables counts L4+L3+L2+L1 pages mapping [start, end).
func regionTables(start, end uint64) uint64 {
	return 1 + span(start, end, 39) + span(start, end, 30) + span(start, end, 21)
}

// vaRangeOK reports whether [start, start+size) is canonical, does not wrap
// and avoids the hypervisor's L4 slots.
func vaRangeOK(start, size uint64) bool {
	end := start + size
	if end < start {
		return false
	}
	if size == 0 {
		return true
	}
	if start < arch.LowerHalfEnd {
		return end <= arch.LowerHalfEnd
	}
	return start >= abi.HYPERVISOR_VIRT_END
}

// Plan lays out the initial memory of a PV domain. See the package
// contract.
func Plan(in Input) (*Layout, error) {
	n := in.Notes()
	if in.Kind != DomU && in.Kind != Dom0 {
		return nil, fmt.Errorf("%w: kind %d", ErrInput, int(in.Kind))
	}
	if in.NrPages == 0 || in.NrPages > MaxNrPages {
		return nil, fmt.Errorf("%w: %d pages (1 to %d)", ErrInput, in.NrPages, uint64(MaxNrPages))
	}
	if in.InitrdLen > MaxInitrdLen {
		return nil, fmt.Errorf("%w: initrd of %d bytes", ErrInput, in.InitrdLen)
	}
	if in.ExtraFlags&abi.SIF_MOD_START_PFN != 0 {
		return nil, fmt.Errorf("%w: ExtraFlags %#x include SIF_MOD_START_PFN", ErrInput, in.ExtraFlags)
	}
	segs := in.Image.Segments
	if len(segs) == 0 || len(segs) > MaxSegments {
		return nil, fmt.Errorf("%w: %d segments", ErrImage, len(segs))
	}
	if n.VirtBase&(pageSize-1) != 0 {
		return nil, fmt.Errorf("%w: VIRT_BASE %#x is not page aligned", ErrImage, n.VirtBase)
	}

	// libelf: virt_offset, kstart, kend, entry checks (libelf-dominfo.c).
	l := &Layout{Kind: in.Kind, NrPages: in.NrPages, Image: in.Image, VStart: n.VirtBase,
		VirtOffset: n.VirtBase - n.PaddrOffset, Entry: n.Entry}
	pstart, pend := ^uint64(0), uint64(0)
	for i, s := range segs {
		if uint64(len(s.Data)) > s.MemSz {
			return nil, fmt.Errorf("%w: segment %d has %d file bytes, %d in memory", ErrImage, i, len(s.Data), s.MemSz)
		}
		e := s.PAddr + s.MemSz
		if e < s.PAddr {
			return nil, fmt.Errorf("%w: segment %d at %#x+%#x overflows", ErrImage, i, s.PAddr, s.MemSz)
		}
		pstart, pend = min(pstart, s.PAddr), max(pend, e)
	}
	l.KStart, l.KEnd = pstart+l.VirtOffset, pend+l.VirtOffset
	if pend-pstart > MaxKernelSpan {
		return nil, fmt.Errorf("%w: segments span %#x-%#x", ErrImage, pstart, pend)
	}
	if l.KEnd < l.KStart || l.VStart > l.KStart || l.Entry < l.KStart || l.Entry > l.KEnd {
		return nil, fmt.Errorf("%w: virt_base %#x, kernel %#x-%#x, entry %#x", ErrImage, l.VStart, l.KStart, l.KEnd, l.Entry)
	}
	maxBytes := in.NrPages << pageShift
	if l.KEnd-l.VStart > maxBytes {
		return nil, fmt.Errorf("%w: the kernel ends %#x bytes above VIRT_BASE, the domain has %d pages", ErrTooBig, l.KEnd-l.VStart, in.NrPages)
	}
	if !vaRangeOK(l.VStart, l.KEnd-l.VStart) {
		return nil, fmt.Errorf("%w: kernel %#x-%#x is not canonical or overlaps the hypervisor", ErrAddress, l.VStart, l.KEnd)
	}

	pfnOf := func(va uint64) mm.PFN { return mm.PFN((va - l.VStart) >> pageShift) }
	vaOf := func(p mm.PFN) uint64 { return l.VStart + uint64(p)<<pageShift }
	// cur is the next free PFN (xc_dom's pfn_alloc_end); allocation beyond
	// NrPages is caught once the region is sized.
	kfirst := pfnOf(l.KStart)
	kend := mm.PFN(pagesFor(l.KEnd - l.VStart))
	l.Low = Range{PFN: 0, Pages: uint64(kfirst), VA: l.VStart, Mapped: true}
	l.Kernel = Range{PFN: kfirst, Pages: uint64(kend - kfirst), VA: vaOf(kfirst), Mapped: true}
	cur := kend
	take := func(pages uint64) Range {
		r := Range{PFN: cur, Pages: pages, VA: vaOf(cur), Mapped: true}
		cur += mm.PFN(pages)
		return r
	}

	// Where the P2M goes (xg_dom_x86.c, dom0_build.c).
	initP2M := n.HasInitP2M
	p2mPages := pagesFor(in.NrPages * 8)
	if initP2M {
		switch in.Kind {
		case DomU:
			// libxenguest ignores a base at or above VIRT_BASE, or not page
			// aligned, and puts the list in the region.
			if n.InitP2M >= n.VirtBase || n.InitP2M&(pageSize-1) != 0 {
				initP2M = false
			}
		case Dom0:
			if n.InitP2M&(pageSize-1) != 0 {
				return nil, fmt.Errorf("%w: INIT_P2M %#x is not page aligned", ErrAddress, n.InitP2M)
			}
		}
	}
	if initP2M && !vaRangeOK(n.InitP2M, p2mPages<<pageShift) {
		return nil, fmt.Errorf("%w: INIT_P2M list at %#x (%d pages) is not canonical or overlaps the hypervisor", ErrAddress, n.InitP2M, p2mPages)
	}

	unmappedInitrd := in.InitrdLen != 0 && n.ModStartPFN
	initrdPages := pagesFor(in.InitrdLen)
	if in.InitrdLen != 0 && !unmappedInitrd {
		l.Initrd = take(initrdPages)
	}
	if !initP2M {
		l.P2M = take(p2mPages)
	}
	l.StartInfo = take(1)
	if in.Kind == DomU {
		l.XenStore = take(1)
		l.Console = take(1)
	}
	if uint64(cur) > in.NrPages {
		return nil, fmt.Errorf("%w: %d pages before the page tables, the domain has %d", ErrTooBig, cur, in.NrPages)
	}

	// Size the page tables: a fixed point (alloc_pgtables_pv, dom0_construct_pv).
	ptFirst := cur
	ptVA := vaOf(ptFirst)
	var nrPT uint64
	var vend uint64
	fits := func(end uint64) bool { return end > l.VStart && end-l.VStart <= maxBytes }
	switch in.Kind {
	case DomU:
		// alloc_pgtables_pv: extra = stack + 512 KiB; try_virt_end is the
		// last byte of the 4 MiB block holding allocEnd + pages.
		const extra = 1 + kib512/pageSize
		pages := uint64(extra)
		for iter := 0; ; iter++ {
			e := ptVA + pages<<pageShift
			if e < ptVA || iter > 64 {
				return nil, fmt.Errorf("%w: page-table sizing does not converge", ErrTooBig)
			}
			last := e | (mib4 - 1)
			if last == ^uint64(0) || !fits(last+1) {
				return nil, fmt.Errorf("%w: the region would end at %#x, the domain has %d pages", ErrTooBig, last+1, in.NrPages)
			}
			nrPT = regionTables(l.VStart, last+1)
			pages = nrPT + extra
			if ptVA+pages<<pageShift <= last+1 {
				vend = last + 1
				break
			}
		}
	case Dom0:
		// dom0_construct_pv: the smallest nr_pt_pages >= 2 whose region
		// needs no more tables than that.
		for nrPT = 2; ; {
			stackEnd := ptVA + (nrPT+1)<<pageShift
			if stackEnd < ptVA || !fits(stackEnd) {
				return nil, fmt.Errorf("%w: the region would exceed the domain's %d pages", ErrTooBig, in.NrPages)
			}
			vend = (stackEnd + mib4 - 1) &^ (mib4 - 1)
			if vend < stackEnd {
				return nil, fmt.Errorf("%w: the region wraps the address space", ErrAddress)
			}
			if vend-stackEnd < kib512 {
				vend += mib4
			}
			if vend < stackEnd || !fits(vend) {
				return nil, fmt.Errorf("%w: the region would end at %#x, the domain has %d pages", ErrTooBig, vend, in.NrPages)
			}
			need := regionTables(l.VStart, vend)
			if need <= nrPT {
				break
			}
			nrPT = need // every count in between needs at least this many
		}
	}
	l.VEnd = vend
	if !vaRangeOK(l.VStart, l.VEnd-l.VStart) {
		return nil, fmt.Errorf("%w: region %#x-%#x is not canonical or overlaps the hypervisor", ErrAddress, l.VStart, l.VEnd)
	}
	l.PageTables = take(nrPT)
	l.Stack = take(1)
	regionEnd := pfnOf(l.VEnd)
	l.Padding = Range{PFN: cur, Pages: uint64(regionEnd - cur), VA: vaOf(cur), Mapped: true}
	cur = regionEnd
	l.Mappings = []Mapping{{VA: l.VStart, PFN: 0, Pages: uint64(regionEnd)}}

	// After the region: the unmapped initrd, then the INIT_P2M area.
	if unmappedInitrd {
		if uint64(cur)+initrdPages > in.NrPages {
			return nil, fmt.Errorf("%w: the initrd (%d pages) does not fit after the region (%d pages) in %d pages", ErrTooBig, initrdPages, cur, in.NrPages)
		}
		l.Initrd = Range{PFN: cur, Pages: initrdPages}
		cur += mm.PFN(initrdPages)
	}
	if initP2M {
		p2mVA, p2mEnd := n.InitP2M, n.InitP2M+p2mPages<<pageShift
		if p2mVA < l.VEnd && p2mEnd > l.VStart {
			return nil, fmt.Errorf("%w: INIT_P2M %#x-%#x overlaps the region %#x-%#x", ErrAddress, p2mVA, p2mEnd, l.VStart, l.VEnd)
		}
		extraTables := newTables(l.VStart, l.VEnd, p2mVA, p2mEnd)
		if uint64(cur)+p2mPages+extraTables > in.NrPages {
			return nil, fmt.Errorf("%w: the P2M area (%d pages) does not fit after PFN %#x in %d pages", ErrTooBig, p2mPages+extraTables, cur, in.NrPages)
		}
		l.P2M = Range{PFN: cur, Pages: p2mPages, VA: p2mVA, Mapped: true}
		cur += mm.PFN(p2mPages)
		l.P2MTables = Range{PFN: cur, Pages: extraTables}
		cur += mm.PFN(extraTables)
		l.Mappings = append(l.Mappings, Mapping{VA: p2mVA, PFN: l.P2M.PFN, Pages: p2mPages})
	}

	// The hypercall page: one page of the kernel image.
	if n.HasHypercallPage {
		hp := n.HypercallPage &^ (pageSize - 1)
		if hp < l.Kernel.VA || hp-l.Kernel.VA >= l.Kernel.Pages<<pageShift {
			return nil, fmt.Errorf("%w: HYPERCALL_PAGE %#x lies outside the kernel %#x-%#x", ErrAddress, n.HypercallPage, l.KStart, l.KEnd)
		}
		l.HypercallPage, l.HasHypercallPage = hp, true
	}

	l.Tables = planTables(l)

	si := &l.SI
	si.Magic = Magic
	if in.Kind == Dom0 && n.PAE {
		si.Magic += "p"
	}
	si.NrPages = in.NrPages
	si.PtBase = l.PageTables.VA
	si.NrPtFrames = l.PageTables.Pages
	si.MfnList = l.P2M.VA
	si.Flags = in.ExtraFlags
	if in.Kind == Dom0 {
		si.Flags |= abi.SIF_PRIVILEGED | abi.SIF_INITDOMAIN
	}
	if in.InitrdLen != 0 {
		if unmappedInitrd {
			si.Flags |= abi.SIF_MOD_START_PFN
			si.ModStart = uint64(l.Initrd.PFN)
		} else {
			si.ModStart = l.Initrd.VA
		}
		si.ModLen = in.InitrdLen
		if in.Kind == DomU {
			// The toolstack hands over whole pages.
			si.ModLen = initrdPages << pageShift
		}
	}
	switch {
	case initP2M:
		si.FirstP2MPFN = uint64(l.P2M.PFN)
		si.NrP2MFrames = l.P2M.Pages + l.P2MTables.Pages
	case in.Kind == Dom0:
		// Xen sets first_p2m_pfn to the end of the pages it placed and
		// nr_p2m_frames to 0 when the list is in the region.
		si.FirstP2MPFN = uint64(cur)
	}
	return l, nil
}

// Notes returns the image's notes.
func (in *Input) Notes() Notes { return in.Image.Notes }

// keyRange returns the first and last table index (va >> shift) of [s, e).
func keyRange(s, e uint64, shift uint) (uint64, uint64) { return s >> shift, (e - 1) >> shift }

// newTables counts the L3, L2 and L1 pages the mapping [ps, pe) needs that
// the region [rs, re) does not already have (count_pgtables' sharing rule).
func newTables(rs, re, ps, pe uint64) uint64 {
	var t uint64
	for _, shift := range []uint{39, 30, 21} {
		a0, a1 := keyRange(rs, re, shift)
		b0, b1 := keyRange(ps, pe, shift)
		t += b1 - b0 + 1
		if lo, hi := max(a0, b0), min(a1, b1); lo <= hi {
			t -= hi - lo + 1
		}
	}
	return t
}

// shiftOf is the span of one table of a level: an L1 maps 2 MiB.
func shiftOf(level int) uint { return uint(12 + 9*level) }

// planTables assigns a PFN to every page-table page.
func planTables(l *Layout) []Table {
	ts := make([]Table, 0, l.PageTables.Pages+l.P2MTables.Pages)
	next := l.PageTables.PFN
	add := func(level int, va uint64) {
		ts = append(ts, Table{Level: level, VA: va &^ (1<<shiftOf(level) - 1), PFN: next})
		next++
	}
	rs, re := l.VStart, l.VEnd
	add(4, 0)
	switch l.Kind {
	case DomU:
		for level := 3; level >= 1; level-- {
			sh := shiftOf(level)
			k0, k1 := keyRange(rs, re, sh)
			for k := k0; k <= k1; k++ {
				add(level, k<<sh)
			}
		}
	case Dom0:
		// Walk the region one L1 at a time: a new L1, then a new L2 when
		// the L1 starts one, then a new L3 when the L2 does.
		k0, k1 := keyRange(rs, re, 21)
		for k := k0; k <= k1; k++ {
			va := k << 21
			add(1, va)
			if k == k0 || va&(1<<30-1) == 0 {
				add(2, va)
				if k == k0 || va&(1<<39-1) == 0 {
					add(3, va)
				}
			}
		}
	}
	// The INIT_P2M mapping's own tables, L3s, L2s, L1s, skipping those the
	// region has.
	if len(l.Mappings) > 1 {
		m := l.Mappings[1]
		ps, pe := m.VA, m.VA+m.Pages<<pageShift
		next = l.P2MTables.PFN
		for level := 3; level >= 1; level-- {
			sh := shiftOf(level)
			a0, a1 := keyRange(rs, re, sh)
			b0, b1 := keyRange(ps, pe, sh)
			for k := b0; k <= b1; k++ {
				if k >= a0 && k <= a1 {
					continue
				}
				add(level, k<<sh)
			}
		}
	}
	return ts
}

// Lines describes the layout as Xen's dom0 builder prints it ("VIRTUAL
// MEMORY ARRANGEMENT"), without the "(XEN) " prefix. An unmapped initrd
// prints as 0->0, as Xen's does.
func (l *Layout) Lines() []string {
	var irS, irE uint64
	if l.Initrd.Mapped {
		irS, irE = l.Initrd.VA, l.Initrd.VA+l.SI.ModLen
	}
	siEnd := l.StartInfo.VA + 1168
	if l.Kind == Dom0 {
		siEnd += 40 // struct dom0_vga_console_info
	}
	f := func(name string, a, b uint64) string { return fmt.Sprintf(" %-15s%016x->%016x", name+":", a, b) }
	return []string{
		"VIRTUAL MEMORY ARRANGEMENT:",
		f("Loaded kernel", l.KStart, l.KEnd),
		f("Init. ramdisk", irS, irE),
		f("Phys-Mach map", l.P2M.VA, l.P2M.VA+l.NrPages*8),
		f("Start info", l.StartInfo.VA, siEnd),
		f("Page tables", l.PageTables.VA, l.PageTables.VA+l.PageTables.Pages<<pageShift),
		f("Boot stack", l.Stack.VA, l.Stack.VA+pageSize),
		f("TOTAL", l.VStart, l.VEnd),
		fmt.Sprintf(" ENTRY ADDRESS: %016x", l.Entry),
	}
}
