package hv

import (
	"encoding/binary"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/hv/pv"
	"github.com/gohv/gohv/hypercall"
	"github.com/gohv/gohv/mm"
)

// PortIO performs physical I/O port accesses (the metal).
type PortIO interface {
	In(port uint16, size int) uint32
	Out(port uint16, size int, val uint32)
}

// pvMemory is guest memory through the vCPU's kernel or user page tables.
type pvMemory struct{ v *VCPU }

func (m pvMemory) guest(s pv.Space) hypercall.Guest {
	if s == pv.UserSpace {
		v := m.v
		v.userTables = mm.VCPUTables{Kernel: v.tables.User}
		v.userGuest = hypercall.SpaceGuest{Space: v.dom.Space(), Mem: v.dom.m.cfg.Mem, Tables: &v.userTables}
		return &v.userGuest
	}
	return &m.v.guest
}

func (m pvMemory) CopyFromGuest(dst []byte, va mm.GuestVA, s pv.Space) bool {
	return m.guest(s).CopyFromGuest(dst, va)
}

func (m pvMemory) CopyToGuest(va mm.GuestVA, src []byte, s pv.Space) bool {
	return m.guest(s).CopyToGuest(va, src)
}

// Offsets inside struct vcpu_info (public/xen.h, x86-64; abi's layout
// test holds them): the upcall pending and mask bytes, arch.cr2 and the
// vcpu_time_info.
const (
	vcpuInfoMaskOff = 1
	vcpuInfoCR2Off  = 16
	vcpuTimeOff     = 32
)

// vcpuInfoAddr is where the vCPU's vcpu_info is now: the one record of
// it is its domain's event-channel table (evtchn.Table.VCPUInfo, which
// VCPUOP_register_vcpu_info moves). ok false while the vCPU has none.
func (v *VCPU) vcpuInfoAddr() (mm.Maddr, bool) { return v.dom.Events().VCPUInfo(v.id) }

// vcpuInfo is the vCPU's vcpu_info for the PV model, wherever it lives.
// A vCPU without one reads as events masked, nothing pending (Xen's
// dummy_vcpu_info), and writes to it are dropped.
type vcpuInfo struct{ v *VCPU }

// flags reads vcpu_info's first word: evtchn_upcall_pending in byte 0,
// evtchn_upcall_mask in byte 1.
func (i vcpuInfo) flags() uint64 {
	a, ok := i.v.vcpuInfoAddr()
	if !ok {
		return 1 << 8
	}
	w, _ := i.v.dom.m.cfg.Mem.Load64(a)
	return w
}

func (i vcpuInfo) write(off mm.Maddr, b []byte) {
	if a, ok := i.v.vcpuInfoAddr(); ok {
		i.v.dom.m.cfg.Mem.Write(a+off, b)
	}
}

func (i vcpuInfo) UpcallMask() uint8 { return uint8(i.flags() >> 8) }
func (i vcpuInfo) SetUpcallMask(m uint8) {
	b := i.v.bufs.info[:1]
	b[0] = m
	i.write(vcpuInfoMaskOff, b)
}
func (i vcpuInfo) UpcallPending() bool { return uint8(i.flags()) != 0 }
func (i vcpuInfo) SetCR2(cr2 uint64) {
	b := i.v.bufs.info[:]
	binary.LittleEndian.PutUint64(b, cr2)
	i.write(vcpuInfoCR2Off, b)
}

// pvDomain is what the PV emulation needs from the vCPU's domain.
type pvDomain struct{ v *VCPU }

func (p pvDomain) ArchitecturalIOPL() bool {
	return p.v.dom.state.VMAssist(abi.VMASST_TYPE_architectural_iopl)
}
func (p pvDomain) HardwareDomain() bool { return p.v.dom.hardware }

// In and Out are the domain's port I/O (ioport.Domain: dom0 reaches
// every port but DeniedPorts directly, PCI configuration and the RTC
// through gohv's mediation; other domains reach no port). Without
// machine ports, reads are all ones and writes dropped.
func (p pvDomain) In(port uint16, size int) uint32 {
	if io := p.v.dom.ports; io != nil {
		return io.Read(port, size)
	}
	return ^uint32(0)
}

func (p pvDomain) Out(port uint16, size int, val uint32) {
	if io := p.v.dom.ports; io != nil {
		io.Write(port, size, val)
	}
}

// WBINVD flushes every CPU's caches, as Xen's emulated WBINVD does for a
// domain allowed to flush them (flush_all(FLUSH_CACHE)); pv calls it only
// for the hardware domain.
func (p pvDomain) WBINVD() { p.v.dom.m.cfg.Backend.FlushCache(true) }

func (p pvDomain) NewBasePtr(m mm.MFN) abi.Errno {
	var op abi.MmuextOp
	op.Cmd = abi.MMUEXT_NEW_BASEPTR
	op.SetArg1(uint64(m))
	_, e := p.v.dom.Space().MMUExtOp(&p.v.tables, []abi.MmuextOp{op}, nil, p.v.Flusher())
	return e
}

// LoadGDT hands the vCPU's GDT frames to the metal (Backend.SetGDT).
func (p pvDomain) LoadGDT(frames []mm.MFN) { p.v.dom.m.cfg.Backend.SetGDT(p.v, frames) }

// CheckSegDescPage is the mm.FrameTableConfig hook for descriptor pages
// (the PV model's check_descriptor).
var CheckSegDescPage = pv.CheckSegDescPage

// PV implements pv.Owner: the PV hypercalls in the dispatch table reach
// the calling vCPU's PV state (and through it its registers) here.
func (v *VCPU) PV() *pv.VCPU { return v.pv }

// ptWriter is the writable-page-table side of the PV MMU for one vCPU.
type ptWriter struct{ v *VCPU }

func (p ptWriter) L1Entry(va uint64) (uint64, bool) {
	d := p.v.dom
	ma, e := d.Space().Translate(p.v.tables.Kernel, mm.GuestVA(va), false)
	if e != 0 {
		return 0, false
	}
	pi, ok := d.m.cfg.Frames.Page(ma.MFN())
	if !ok || pi.Owner != d.id || pi.Type != mm.PageTypeL1 || !pi.Validated {
		return 0, false
	}
	return uint64(ma), true
}

func (p ptWriter) ReadPTE(ma uint64) (uint64, bool) { return p.v.dom.m.cfg.Mem.Load64(mm.Maddr(ma)) }

func (p ptWriter) WritePTE(ma, old, nv uint64) pv.PTResult {
	switch p.v.dom.Space().EmulatePTWrite(mm.Maddr(ma), old, nv, true, p.v.Flusher()) {
	case mm.PTWriteDone:
		return pv.PTDone
	case mm.PTWriteRetry:
		return pv.PTRetry
	}
	return pv.PTRefused
}
