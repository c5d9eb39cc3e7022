package pv

import (
	"encoding/binary"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/mm"
)

// Guest GDTs (set_gdt, update_descriptor). Each frame of a guest's GDT
// becomes a descriptor page (mm validates its 512 descriptors with
// CheckSegDescPage and keeps it from being mapped writable). The frames
// are recorded per vCPU here and handed to the metal (Domain.LoadGDT),
// which maps them into the hardware GDT's first 14 pages whenever the
// vCPU runs, as Xen's per-vCPU GDT mapping does; Xen's reserved selectors
// (0xe008 ...) follow them.

// FirstReservedGDTEntry is FIRST_RESERVED_GDT_ENTRY: the guest's part of
// the 16-page GDT window ends where Xen's reserved entries start.
const FirstReservedGDTEntry = 14 * mm.PageSize / 8

// Descriptor bits (Xen's _SEGMENT_*), in the high 32-bit word.
const (
	segP    = 1 << 15
	segS    = 1 << 12
	segDPL  = 3 << 13
	segType = 0xf << 8
)

// CheckSegDescPage is Xen's check_descriptor over a page, for a 64-bit PV
// guest, and the mm.FrameTableConfig hook for descriptor pages:
// not-present descriptors pass; code and data segments pass with their
// DPL raised to 3 (the guest kernel runs in ring 3); type 0 (the upper
// half of a 16-byte descriptor) passes; every system descriptor — TSS,
// LDT, and call gates, which gohv does not support — is refused.
func CheckSegDescPage(_ abi.DomID, descs *[512]uint64) bool {
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
// CheckSegDescPage): the descriptor to store, or false.
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

// Machine is the machine-wide memory model the GDT hypercalls work on:
// the frame table (references and types) and machine memory (descriptor
// reads and writes), for domain Dom. hv fills it in at vCPU creation.
type Machine struct {
	Frames *mm.FrameTable
	Mem    mm.MachineMemory
	Dom    abi.DomID
}

// UpdateDescriptor is update_descriptor (10): (machine address, desc).
// The address must be 8-byte aligned in a frame the domain owns that is a
// descriptor page or an ordinary writable page (not a page table); the
// descriptor is checked and fixed up as set_gdt's are. -EINVAL otherwise.
// f flushes for the type change of a frame that becomes writable.
func (v *VCPU) UpdateDescriptor(ma mm.Maddr, desc uint64, f mm.Flusher) abi.Errno {
	fixed, ok := checkDescriptor(desc)
	if ma&7 != 0 || !ok || v.Machine.Frames == nil {
		return abi.EINVAL
	}
	ft, m := v.Machine.Frames, ma.MFN()
	if !ft.GetPage(m, v.Machine.Dom) {
		return abi.EINVAL
	}
	defer ft.PutPage(m)
	t := mm.PageTypeWritable
	if pi, _ := ft.Page(m); pi.Type == mm.PageTypeSegDesc && pi.TypeCount > 0 {
		t = mm.PageTypeSegDesc
	}
	if ft.GetPageType(m, t, f) != 0 {
		return abi.EINVAL
	}
	defer ft.PutPageType(m)
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], fixed)
	if !v.Machine.Mem.Write(ma, b[:]) {
		return abi.EINVAL
	}
	return 0
}

// SetGDT is set_gdt (2)'s worker: frames (read from the guest's list) for
// a GDT of entries descriptors. entries above FirstReservedGDTEntry is
// -EINVAL; each frame must belong to the domain and validate as a
// descriptor page (-EINVAL otherwise, nothing changed); on success the
// metal gets the new frames (Domain.LoadGDT) and the vCPU's previous GDT
// frames are released.
func (v *VCPU) SetGDT(frames []mm.MFN, entries uint64, f mm.Flusher) abi.Errno {
	if entries > FirstReservedGDTEntry || v.Machine.Frames == nil {
		return abi.EINVAL
	}
	if uint64(len(frames)) != (entries*8+mm.PageSize-1)/mm.PageSize {
		return abi.EINVAL
	}
	ft := v.Machine.Frames
	held := make([]mm.MFN, 0, len(frames))
	for _, m := range frames {
		if !ft.GetPage(m, v.Machine.Dom) {
			v.putGDT(held)
			return abi.EINVAL
		}
		if e := ft.GetPageType(m, mm.PageTypeSegDesc, f); e != 0 {
			ft.PutPage(m)
			v.putGDT(held)
			return abi.EINVAL
		}
		held = append(held, m)
	}
	if v.Dom != nil {
		v.Dom.LoadGDT(held)
	}
	v.putGDT(v.gdtFrames)
	v.gdtFrames, v.gdtEntries = held, entries
	return 0
}

// ReleaseGDT drops the vCPU's GDT (Xen's pv_destroy_gdt, at vCPU
// destruction): the metal forgets the frames, then their references go.
func (v *VCPU) ReleaseGDT() {
	if v.Dom != nil {
		v.Dom.LoadGDT(nil)
	}
	v.putGDT(v.gdtFrames)
	v.gdtFrames, v.gdtEntries = nil, 0
}

// GDT returns the vCPU's GDT frames and size (set_gdt's last success).
func (v *VCPU) GDT() (frames []mm.MFN, entries uint64) { return v.gdtFrames, v.gdtEntries }

// putGDT drops the general and descriptor-page type references of fs.
func (v *VCPU) putGDT(fs []mm.MFN) {
	for _, m := range fs {
		v.Machine.Frames.PutPageType(m)
		v.Machine.Frames.PutPage(m)
	}
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
	if idx >= FirstReservedGDTEntry {
		d, ok := reservedDescriptors[sel&^7]
		return d, ok
	}
	f := idx / (mm.PageSize / 8)
	if f >= uint64(len(v.gdtFrames)) || v.Machine.Mem == nil {
		return 0, false
	}
	return v.Machine.Mem.Load64(v.gdtFrames[f].Addr() + mm.Maddr(idx%(mm.PageSize/8)*8))
}

// loadUserGS is what loading sel into %gs gives (set_segment_base
// GS_USER_SEL): the base of its descriptor in the vCPU's GDT or Xen's
// reserved entries, if it loads; the null selector loads with base 0.
func (v *VCPU) loadUserGS(sel uint16) (uint64, bool) {
	if sel&^3 == 0 {
		return 0, true
	}
	d, ok := v.descriptor(sel)
	if !ok {
		return 0, false
	}
	return loadableDataSegment(d)
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
