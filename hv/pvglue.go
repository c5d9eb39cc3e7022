package hv

import (
	"encoding/binary"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/hv/pv"
	"github.com/gohv/gohv/hypercall"
	"github.com/gohv/gohv/mm"
)

// PortIO performs I/O port accesses a domain is permitted (the metal).
type PortIO interface {
	In(port uint16, size int) uint32
	Out(port uint16, size int, val uint32)
}

// pvMemory is guest memory through the vCPU's kernel or user page tables.
type pvMemory struct{ v *VCPU }

func (m pvMemory) guest(s pv.Space) hypercall.Guest {
	if s == pv.UserSpace {
		return &hypercall.SpaceGuest{Space: m.v.dom.space, Mem: m.v.dom.m.cfg.Mem,
			Tables: &mm.VCPUTables{Kernel: m.v.tables.User}}
	}
	return &m.v.guest
}

func (m pvMemory) CopyFromGuest(dst []byte, va mm.GuestVA, s pv.Space) bool {
	return m.guest(s).CopyFromGuest(dst, va)
}

func (m pvMemory) CopyToGuest(va mm.GuestVA, src []byte, s pv.Space) bool {
	return m.guest(s).CopyToGuest(va, src)
}

// vcpuInfo is the vCPU's vcpu_info slot in its domain's shared_info.
type vcpuInfo struct{ v *VCPU }

func (i vcpuInfo) addr(off int) mm.Maddr {
	return i.v.dom.sharedInfo.Addr() + mm.Maddr(i.v.id*vcpuInfoSize+off)
}

// flags reads vcpu_info's first word: evtchn_upcall_pending in byte 0,
// evtchn_upcall_mask in byte 1.
func (i vcpuInfo) flags() uint64 {
	w, _ := i.v.dom.m.cfg.Mem.Load64(i.addr(0))
	return w
}

func (i vcpuInfo) UpcallMask() uint8     { return uint8(i.flags() >> 8) }
func (i vcpuInfo) SetUpcallMask(m uint8) { i.v.dom.m.cfg.Mem.Write(i.addr(1), []byte{m}) }
func (i vcpuInfo) UpcallPending() bool   { return uint8(i.flags()) != 0 }
func (i vcpuInfo) SetCR2(cr2 uint64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], cr2)
	i.v.dom.m.cfg.Mem.Write(i.addr(16), b[:])
}

// pvDomain is what the PV emulation needs from the vCPU's domain.
type pvDomain struct{ v *VCPU }

func (p pvDomain) ArchitecturalIOPL() bool {
	return p.v.dom.state.VMAssist(abi.VMASST_TYPE_architectural_iopl)
}
func (p pvDomain) HardwareDomain() bool { return p.v.dom.hardware }

// IOPermitted: dom0 may reach every port but those the hypervisor drives
// or mediates, as Xen's dom0_setup_permissions: the PICs, the PIT and
// port 0x61, the RTC, PCI configuration, the console UART and QEMU's
// debug-exit port. Other domains get no ports.
func (p pvDomain) IOPermitted(port uint16, size int) bool {
	if !p.v.dom.hardware {
		return false
	}
	for _, r := range p.v.dom.m.cfg.DeniedPorts {
		if int(port)+size > int(r[0]) && int(port) <= int(r[1]) {
			return false
		}
	}
	return true
}

func (p pvDomain) In(port uint16, size int) uint32 {
	if io := p.v.dom.m.cfg.Ports; io != nil {
		return io.In(port, size)
	}
	return ^uint32(0)
}

func (p pvDomain) Out(port uint16, size int, val uint32) {
	if io := p.v.dom.m.cfg.Ports; io != nil {
		io.Out(port, size, val)
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
	_, e := p.v.dom.space.MMUExtOp(&p.v.tables, []abi.MmuextOp{op}, nil, p.v.Flusher())
	return e
}

// LoadUserGS is what loading sel into %gs gives (set_segment_base
// GS_USER_SEL): the base of its descriptor in the vCPU's GDT or Xen's
// reserved entries, if it loads; the null selector loads with base 0.
func (p pvDomain) LoadUserGS(sel uint16) (uint64, bool) {
	if sel&^3 == 0 {
		return 0, true
	}
	d, ok := p.v.descriptor(sel)
	if !ok {
		return 0, false
	}
	return loadableDataSegment(d)
}

// pvOf returns the PV state of the calling vCPU.
func pvOf(c *hypercall.Caller) *pv.VCPU { return c.VCPU.(*VCPU).pv }

// registerPV installs the hypercalls that change PV vCPU state
// (set_segment_base, which needs all registers, is served in the run loop).
func registerPV(d *hypercall.Dispatcher) {
	reg := func(nr int, h hypercall.Handler) {
		if err := d.Register(nr, h); err != nil {
			panic(err) // boot-time wiring, not guest input
		}
	}
	// iret restores the whole register file from the guest's stack, also
	// from inside a multicall (which it ends): the run loop sees iretDone
	// and keeps the restored registers.
	reg(abi.HYPERVISOR_iret, func(_ *hypercall.Dispatcher, c *hypercall.Caller, a *hypercall.Args) hypercall.Result {
		v := c.VCPU.(*VCPU)
		v.iretDone = true
		rax, err := v.pv.Iret(&v.Regs)
		if err != nil {
			v.iretErr = err
		}
		return hypercall.Value(rax)
	})
	reg(abi.HYPERVISOR_set_trap_table, func(_ *hypercall.Dispatcher, c *hypercall.Caller, a *hypercall.Args) hypercall.Result {
		next, more, e := pvOf(c).SetTrapTable(a[0], c.VCPU.Preempt)
		if e != 0 {
			return hypercall.Errno(e)
		}
		if more {
			rest := *a
			rest[0] = next
			return hypercall.Continuation(rest)
		}
		return hypercall.Value(0)
	})
	reg(abi.HYPERVISOR_set_gdt, setGDT)
	reg(abi.HYPERVISOR_update_descriptor, updateDescriptor)
	reg(abi.HYPERVISOR_stack_switch, func(_ *hypercall.Dispatcher, c *hypercall.Caller, a *hypercall.Args) hypercall.Result {
		return result(pvOf(c).StackSwitch(a[0], a[1]))
	})
	reg(abi.HYPERVISOR_set_callbacks, func(_ *hypercall.Dispatcher, c *hypercall.Caller, a *hypercall.Args) hypercall.Result {
		return result(pvOf(c).SetCallbacks(a[0], a[1], a[2]))
	})
	reg(abi.HYPERVISOR_fpu_taskswitch, func(_ *hypercall.Dispatcher, c *hypercall.Caller, a *hypercall.Args) hypercall.Result {
		return result(pvOf(c).FPUTaskswitch(a[0] != 0))
	})
	reg(abi.HYPERVISOR_set_debugreg, func(_ *hypercall.Dispatcher, c *hypercall.Caller, a *hypercall.Args) hypercall.Result {
		return result(pvOf(c).SetDebugReg(int(a[0]), a[1]))
	})
	reg(abi.HYPERVISOR_get_debugreg, func(_ *hypercall.Dispatcher, c *hypercall.Caller, a *hypercall.Args) hypercall.Result {
		v, e := pvOf(c).GetDebugReg(int(a[0]))
		if e != 0 {
			return hypercall.Errno(e)
		}
		return hypercall.Value(v)
	})
	reg(abi.HYPERVISOR_callback_op, func(_ *hypercall.Dispatcher, c *hypercall.Caller, a *hypercall.Args) hypercall.Result {
		return callbackOp(c, a)
	})
}

func result(e abi.Errno) hypercall.Result {
	if e != 0 {
		return hypercall.Errno(e)
	}
	return hypercall.Value(0)
}

// callbackOp is callback_op (30): CALLBACKOP_register with struct
// callback_register {u16 type; u16 flags; u32 pad; u64 address},
// CALLBACKOP_unregister with struct callback_unregister {u16 type}.
func callbackOp(c *hypercall.Caller, a *hypercall.Args) hypercall.Result {
	switch a[0] {
	case abi.CALLBACKOP_register:
		var b [16]byte
		if !c.Mem.CopyFromGuest(b[:], mm.GuestVA(a[1])) {
			return hypercall.Errno(abi.EFAULT)
		}
		le := binary.LittleEndian
		return result(pvOf(c).RegisterCallback(le.Uint16(b[0:]), le.Uint16(b[2:]), le.Uint64(b[8:])))
	case abi.CALLBACKOP_unregister:
		var b [2]byte
		if !c.Mem.CopyFromGuest(b[:], mm.GuestVA(a[1])) {
			return hypercall.Errno(abi.EFAULT)
		}
		return result(pvOf(c).UnregisterCallback(binary.LittleEndian.Uint16(b[:])))
	}
	return hypercall.Errno(abi.ENOSYS)
}

// fullRegsHypercall serves set_segment_base (25), which reads and changes
// registers the dispatch table does not pass. It reports false for any
// other number.
func (v *VCPU) fullRegsHypercall() bool {
	r := &v.Regs
	switch r.RAX {
	case abi.HYPERVISOR_set_segment_base:
		r.RAX = uint64(-int64(v.pv.SetSegmentBase(r, r.RDI, r.RSI)))
		return true
	}
	return false
}

// ptWriter is the writable-page-table side of the PV MMU for one vCPU.
type ptWriter struct{ v *VCPU }

func (p ptWriter) L1Entry(va uint64) (uint64, bool) {
	d := p.v.dom
	ma, e := d.space.Translate(p.v.tables.Kernel, mm.GuestVA(va), false)
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
	switch p.v.dom.space.EmulatePTWrite(mm.Maddr(ma), old, nv, true, p.v.Flusher()) {
	case mm.PTWriteDone:
		return pv.PTDone
	case mm.PTWriteRetry:
		return pv.PTRetry
	}
	return pv.PTRefused
}
