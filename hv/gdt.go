package hv

import (
	"encoding/binary"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/hypercall"
	"github.com/gohv/gohv/mm"
)

// Guest GDTs (set_gdt). Each frame of a guest's GDT becomes a descriptor
// page (mm validates its 512 descriptors with checkSegDescPage and keeps
// it from being mapped writable). The frames are recorded per vCPU and
// handed to the Backend, which maps them into the hardware GDT's first 14
// pages whenever the vCPU runs, as Xen's per-vCPU GDT mapping does; Xen's
// reserved selectors (0xe008 ...) follow them.

// firstReservedGDTEntry is FIRST_RESERVED_GDT_ENTRY: the guest's part of
// the 16-page GDT window ends where Xen's reserved entries start.
const firstReservedGDTEntry = 14 * mm.PageSize / 8

// Descriptor bits (Xen's _SEGMENT_*), in the high 32-bit word.
const (
	segP    = 1 << 15
	segS    = 1 << 12
	segDPL  = 3 << 13
	segType = 0xf << 8
)

// checkSegDescPage is Xen's check_descriptor over a page, for a 64-bit PV
// guest: not-present descriptors pass; code and data segments pass with
// their DPL raised to 3 (the guest kernel runs in ring 3); type 0 (the
// upper half of a 16-byte descriptor) passes; every system descriptor —
// TSS, LDT, and call gates, which gohv does not support — is refused.
func checkSegDescPage(_ abi.DomID, descs *[512]uint64) bool {
	for i, d := range descs {
		fixed, ok := checkDescriptor(d)
		if !ok {
			return false
		}
		descs[i] = fixed
	}
	return true
}

// checkDescriptor is check_descriptor for one descriptor (see
// checkSegDescPage): the descriptor to store, or false.
func checkDescriptor(d uint64) (uint64, bool) {
	hi := uint32(d >> 32)
	switch {
	case hi&segP == 0, hi&segType == 0 && hi&segS == 0:
		return d, true
	case hi&segS != 0:
		return d | uint64(segDPL)<<32, true
	}
	return 0, false
}

// updateDescriptor is update_descriptor (10): (machine address, desc).
// The address must be 8-byte aligned in a frame the domain owns that is a
// descriptor page or an ordinary writable page (not a page table); the
// descriptor is checked and fixed up as set_gdt's are. -EINVAL otherwise.
func updateDescriptor(_ *hypercall.Dispatcher, c *hypercall.Caller, a *hypercall.Args) hypercall.Result {
	v := c.VCPU.(*VCPU)
	ma, desc := mm.Maddr(a[0]), a[1]
	fixed, ok := checkDescriptor(desc)
	if ma&7 != 0 || !ok {
		return hypercall.Errno(abi.EINVAL)
	}
	ft, m := v.dom.m.cfg.Frames, ma.MFN()
	if !ft.GetPage(m, v.dom.id) {
		return hypercall.Errno(abi.EINVAL)
	}
	defer ft.PutPage(m)
	t := mm.PageTypeWritable
	if pi, _ := ft.Page(m); pi.Type == mm.PageTypeSegDesc && pi.TypeCount > 0 {
		t = mm.PageTypeSegDesc
	}
	if ft.GetPageType(m, t, v.Flusher()) != 0 {
		return hypercall.Errno(abi.EINVAL)
	}
	defer ft.PutPageType(m)
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], fixed)
	if !v.dom.m.cfg.Mem.Write(ma, b[:]) {
		return hypercall.Errno(abi.EINVAL)
	}
	return hypercall.Value(0)
}

// CheckSegDescPage is the mm.FrameTableConfig hook for descriptor pages.
var CheckSegDescPage = checkSegDescPage

// setGDT is set_gdt (2): (frame_list, entries). entries above 7168 is
// -EINVAL; each frame must belong to the domain and validate as a
// descriptor page (-EINVAL otherwise); on success the vCPU's previous GDT
// frames are released.
func setGDT(_ *hypercall.Dispatcher, c *hypercall.Caller, a *hypercall.Args) hypercall.Result {
	v := c.VCPU.(*VCPU)
	entries := a[1]
	if entries > firstReservedGDTEntry {
		return hypercall.Errno(abi.EINVAL)
	}
	n := (entries*8 + mm.PageSize - 1) / mm.PageSize
	b := make([]byte, 8*n)
	if n > 0 && !c.Mem.CopyFromGuest(b, mm.GuestVA(a[0])) {
		return hypercall.Errno(abi.EFAULT)
	}
	ft := v.dom.m.cfg.Frames
	frames := make([]mm.MFN, 0, n)
	release := func(fs []mm.MFN) {
		for _, f := range fs {
			ft.PutPageType(f)
			ft.PutPage(f)
		}
	}
	for i := uint64(0); i < n; i++ {
		f := mm.MFN(binary.LittleEndian.Uint64(b[8*i:]))
		if !ft.GetPage(f, v.dom.id) {
			release(frames)
			return hypercall.Errno(abi.EINVAL)
		}
		if e := ft.GetPageType(f, mm.PageTypeSegDesc, v.Flusher()); e != 0 {
			ft.PutPage(f)
			release(frames)
			return hypercall.Errno(abi.EINVAL)
		}
		frames = append(frames, f)
	}
	v.dom.m.cfg.Backend.SetGDT(v, frames)
	release(v.gdtFrames)
	v.gdtFrames, v.gdtEntries = frames, entries
	return hypercall.Value(0)
}

// reservedDescriptors are Xen's reserved GDT entries a guest selector can
// name (the per-CPU TSS and LDT aside): FLAT_RING0 code and data (DPL 0),
// FLAT_RING3 32-bit code, data and 64-bit code.
var reservedDescriptors = map[uint16]uint64{
	0xe008: 0x00af9a000000ffff,
	0xe010: 0x00cf92000000ffff,
	0xe020: 0x00cffa000000ffff,
	0xe028: 0x00cff2000000ffff,
	0xe030: 0x00affa000000ffff,
}

// descriptor returns the GDT descriptor selector sel names for the vCPU:
// from its set_gdt frames below 0xe000, from Xen's reserved entries above.
// ok false for an LDT selector (gohv maps no guest LDT yet) or an entry
// beyond the frames.
func (v *VCPU) descriptor(sel uint16) (uint64, bool) {
	if sel&4 != 0 {
		return 0, false
	}
	idx := uint64(sel >> 3)
	if idx >= firstReservedGDTEntry {
		d, ok := reservedDescriptors[sel&^7]
		return d, ok
	}
	f := idx / (mm.PageSize / 8)
	if f >= uint64(len(v.gdtFrames)) {
		return 0, false
	}
	return v.dom.m.cfg.Mem.Load64(v.gdtFrames[f].Addr() + mm.Maddr(idx%(mm.PageSize/8)*8))
}

// loadableDataSegment reports whether d can be loaded into a data segment
// register from ring 0 with a selector of RPL 3 (Xen loads %gs for
// set_segment_base in ring 0): present, code or data, a code segment
// readable, and DPL 3 unless conforming code. It also returns the base.
func loadableDataSegment(d uint64) (base uint64, ok bool) {
	hi := uint32(d >> 32)
	const typeCode, typeConforming, typeReadable = 8 << 8, 4 << 8, 2 << 8
	switch {
	case hi&segP == 0, hi&segS == 0:
		return 0, false
	case hi&typeCode != 0 && hi&typeReadable == 0:
		return 0, false
	case !(hi&typeCode != 0 && hi&typeConforming != 0) && hi&segDPL != segDPL:
		return 0, false
	}
	return d>>16&0xffffff | d>>32&0xff000000, true
}
