package hv

import (
	"fmt"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/arch"
	"github.com/gohv/gohv/hv/build"
	"github.com/gohv/gohv/kernel"
	"github.com/gohv/gohv/mm"
)

// BuildDom0 gives domain d the initial memory image of a PV dom0 built
// from kernel k (hv/build: Xen's dom0 layout, start_info, P2M, hypercall
// page, bootstrap page tables), in the frames mfns (PFN i is mfns[i],
// every one already assigned to d). The frames the layout uses are zeroed
// first, so no earlier contents show through them; the frames after the
// layout, dom0's free memory, keep what RAM held, as on Xen (see
// buildDom0). It pins the tables (validating them), makes the L4 vCPU
// 0's base and sets vCPU 0's registers for the first instruction. It
// returns the layout.
func (d *Domain) BuildDom0(k *kernel.Image, mfns []mm.MFN, cmdline string) (*build.Layout, error) {
	return d.buildDom0(k, nil, mfns, cmdline, nil)
}

// Dom0Initrd is dom0's initial ramdisk (boot module 1) handed over in
// its own frames, as Xen's dom0 builder does: Frames hold its Len bytes
// from the start of Frames[0], in order, and are assigned to the domain
// (they come on top of dom0's memory). They become the layout's initrd
// PFNs: mapped in the initial region, or after it with
// SIF_MOD_START_PFN when the kernel's XEN_ELFNOTE_MOD_START_PFN says it
// takes mod_start as a PFN.
type Dom0Initrd struct {
	Frames []mm.MFN
	Len    uint64
}

// Dom0Kernel is dom0's kernel unpacked straight into frames of the domain
// (UnpackDom0), waiting for BuildDom0Unpacked to give them their PFNs.
type Dom0Kernel struct {
	Image *kernel.Image // no ELF bytes or segment data: they are in frames
	// frames hold the kernel's memory image page by page: byte
	// PStart&0xfff of frames[0] is the byte at PStart.
	frames []mm.MFN
}

// SliceMemory is an mm.MachineMemory that can also show a run of
// machine-contiguous RAM as a byte slice (the metal's direct map). With
// it, UnpackDom0 keeps the XZ dictionary in dom0's own frames.
type SliceMemory interface {
	// Slice returns the n bytes of machine memory from ma, or false when
	// they are not all mapped. The caller owns the frames.
	Slice(ma mm.Maddr, n uint64) ([]byte, bool)
}

// UnpackDom0 unpacks dom0's kernel image img (boot module 0: a bzImage or
// an ELF file, see kernel.Load) straight into the last frames of mfns
// (every one already assigned to d), which it zeroes first: the
// decompressed kernel is never held in gohv's heap. When the machine's
// memory is a SliceMemory, the LZMA2 dictionary is not in gohv's heap
// either: it lives in the first run of machine-contiguous frames of mfns
// that is large enough (those of them the layout uses are zeroed by
// BuildDom0Unpacked; the rest keep bytes of dom0's own kernel). img is only
// read, and not kept. progress is passed to kernel.Load. The result goes to
// BuildDom0Unpacked with the same mfns.
func (d *Domain) UnpackDom0(img []byte, mfns []mm.MFN, progress func(done, total uint64)) (*Dom0Kernel, error) {
	dst := &frameDest{mem: d.m.cfg.Mem, mfns: mfns}
	k, err := kernel.Load(img, dst, progress)
	if err != nil {
		return nil, err
	}
	if err := k.CheckDom0(); err != nil {
		return nil, err
	}
	return &Dom0Kernel{Image: k, frames: dst.frames}, nil
}

// BuildDom0Unpacked is BuildDom0 for a kernel UnpackDom0 placed in mfns:
// the kernel's frames become the layout's kernel PFNs (the others keep
// their order around them) and are neither cleared nor rewritten.
// initrd, when not nil, is dom0's initrd in its own frames.
func (d *Domain) BuildDom0Unpacked(k *Dom0Kernel, mfns []mm.MFN, cmdline string, initrd *Dom0Initrd) (*build.Layout, error) {
	return d.buildDom0(k.Image, k.frames, mfns, cmdline, initrd)
}

// buildDom0 builds dom0; inPlace, when not nil, are the last frames of
// mfns, holding kernel k's memory image (UnpackDom0); initrd, when not
// nil, is added at the layout's initrd PFNs.
func (d *Domain) buildDom0(k *kernel.Image, inPlace, mfns []mm.MFN, cmdline string, initrd *Dom0Initrd) (*build.Layout, error) {
	mem := d.m.cfg.Mem
	in := build.Input{Kind: build.Dom0, Image: build.ImageFromKernel(k), NrPages: uint64(len(mfns))}
	if initrd != nil {
		if initrd.Len == 0 || (initrd.Len+mm.PageSize-1)/mm.PageSize != uint64(len(initrd.Frames)) {
			return nil, fmt.Errorf("an initrd of %d bytes in %d frames", initrd.Len, len(initrd.Frames))
		}
		in.NrPages += uint64(len(initrd.Frames))
		in.InitrdLen = initrd.Len
	}
	l, err := build.Plan(in)
	if err != nil {
		return nil, err
	}
	if inPlace != nil {
		if mfns, err = kernelPFNs(l, k, inPlace, mfns); err != nil {
			return nil, err
		}
	}
	if initrd != nil {
		// Plan puts the initrd after the kernel, mapped or not.
		if l.Initrd.PFN < l.Kernel.End() || uint64(l.Initrd.PFN) > uint64(len(mfns)) {
			return nil, fmt.Errorf("the layout's initrd PFN %#x precedes the kernel's end %#x", l.Initrd.PFN, l.Kernel.End())
		}
		out := make([]mm.MFN, 0, l.NrPages)
		out = append(out, mfns[:l.Initrd.PFN]...)
		out = append(out, initrd.Frames...)
		mfns = append(out, mfns[l.Initrd.PFN:]...)
	}
	// build.Build zeroes the frames the layout uses (but for the kernel
	// and initrd in place); the frames after them are dom0's free memory,
	// handed over as they are, as Xen's dom0 builder allocates them
	// (MEMF_no_scrub): dom0 may map any of the machine's RAM anyway.
	c := build.Contents{SharedInfo: d.sharedInfo.Addr(), CmdLine: cmdline, KernelInPlace: inPlace != nil,
		InitrdInPlace: initrd != nil}
	if d.m.cfg.M2P != nil {
		c.M2P = d.m.cfg.M2P
	}
	res, err := build.Build(l, mem, mfns, c)
	if err != nil {
		return nil, err
	}
	// Xen's dom0_construct_pv: a kernel that handles extended CR3s (PAE
	// "extended-cr3" or "bimodal") gets the assist without asking.
	if k.Parms.PAE == kernel.XEN_PAE_EXTCR3 || k.Parms.PAE == kernel.XEN_PAE_BIMODAL {
		d.state.VMAssistOp(abi.VMASST_CMD_enable, abi.VMASST_TYPE_pae_extended_cr3)
	}
	v := d.vcpus[0]
	if err := res.Pin(d.Space(), &v.tables); err != nil {
		return nil, fmt.Errorf("the bootstrap page tables do not validate: %w", err)
	}
	v.tables.Reload = false
	r := res.Regs
	v.Regs = arch.Regs{RIP: r.RIP, RSP: r.RSP, RSI: r.RSI, RFLAGS: r.RFLAGS, CS: r.CS, SS: r.SS}
	if r.KernelSS != 0 {
		v.pv.StackSwitch(uint64(r.KernelSS), r.KernelSP)
	}
	v.st.initialised.Store(true) // Xen's builder: vCPU 0 comes up with the domain
	d.pages = uint64(len(mfns))
	return l, nil
}

// kernelPFNs returns mfns reordered so that the kernel's frames (inPlace,
// the last frames of mfns) are at the layout's kernel PFNs, the other
// frames in their order around them.
func kernelPFNs(l *build.Layout, k *kernel.Image, inPlace, mfns []mm.MFN) ([]mm.MFN, error) {
	if l.Kernel.Pages != uint64(len(inPlace)) || (l.KStart-l.VStart)%mm.PageSize != k.PStart%mm.PageSize {
		return nil, fmt.Errorf("the unpacked kernel (%d pages from offset %#x) does not match the layout's (%d pages from %#x)",
			len(inPlace), k.PStart%mm.PageSize, l.Kernel.Pages, (l.KStart-l.VStart)%mm.PageSize)
	}
	rest := mfns[:len(mfns)-len(inPlace)]
	kpfn := int(l.Kernel.PFN) // Plan keeps the kernel inside NrPages
	out := make([]mm.MFN, 0, len(mfns))
	out = append(out, rest[:kpfn]...)
	out = append(out, inPlace...)
	return append(out, rest[kpfn:]...), nil
}

// frameDest is the kernel.Dest behind UnpackDom0: the kernel's memory
// image in the last frames of mfns.
type frameDest struct {
	mem    mm.MachineMemory
	mfns   []mm.MFN
	frames []mm.MFN // chosen by Reserve
	first  uint64   // byte offset of the image in frames[0]
	// dictEnd is one past the index in mfns of the last frame lent as the
	// LZMA2 dictionary (0: none), dictPages how many were lent.
	dictEnd, dictPages uint64
}

// Dictionary lends the first run of machine-contiguous frames of mfns
// that holds n bytes (kernel.DictionaryDest), nil when the memory cannot
// be sliced or there is no such run, so the decoder allocates.
func (f *frameDest) Dictionary(n uint64) []byte {
	sm, ok := f.mem.(SliceMemory)
	if !ok || n == 0 {
		return nil
	}
	pages := (n + mm.PageSize - 1) / mm.PageSize
	start := 0
	for i := range f.mfns {
		if i > 0 && f.mfns[i] != f.mfns[i-1]+1 {
			start = i
		}
		if uint64(i-start+1) == pages {
			b, ok := sm.Slice(f.mfns[start].Addr(), n)
			if !ok {
				return nil
			}
			f.dictEnd, f.dictPages = uint64(i+1), pages
			return b
		}
	}
	return nil
}

func (f *frameDest) Reserve(pstart, pend uint64) error {
	f.first = pstart % mm.PageSize
	pages := (f.first + pend - pstart + mm.PageSize - 1) / mm.PageSize
	if pages > uint64(len(f.mfns)) {
		return fmt.Errorf("the kernel spans %d KiB, more than dom0's %d KiB", (pend-pstart)>>10, uint64(len(f.mfns))*mm.PageSize>>10)
	}
	if pages > uint64(len(f.mfns))-f.dictEnd {
		return fmt.Errorf("dom0's %d KiB cannot hold the kernel's %d KiB beside the %d KiB dictionary it is decoded with",
			uint64(len(f.mfns))*mm.PageSize>>10, (pend-pstart)>>10, f.dictPages*mm.PageSize>>10)
	}
	f.frames = f.mfns[uint64(len(f.mfns))-pages:]
	zero := make([]byte, mm.PageSize)
	for _, m := range f.frames {
		if !f.mem.Write(m.Addr(), zero) {
			return fmt.Errorf("frame %#x is not in machine memory", m)
		}
	}
	return nil
}

func (f *frameDest) WriteAt(p []byte, off uint64) error {
	pos := f.first + off
	for len(p) > 0 {
		i, o := pos/mm.PageSize, pos%mm.PageSize
		if i >= uint64(len(f.frames)) {
			return fmt.Errorf("a kernel write at offset %#x lies past its %d frames", off, len(f.frames))
		}
		// At most 2 KiB a write: Go's memmove moves more with REP MOVSB,
		// a byte at a time, when an end is not 8-byte aligned (the
		// decoder's pieces seldom are), which emulators (QEMU's TCG) run
		// many times slower than its 16-byte loop for 2 KiB or less.
		n := min(uint64(len(p)), mm.PageSize-o, 2048)
		if !f.mem.Write(f.frames[i].Addr()+mm.Maddr(o), p[:n]) {
			return fmt.Errorf("frame %#x is not in machine memory", f.frames[i])
		}
		p, pos = p[n:], pos+n
	}
	return nil
}
