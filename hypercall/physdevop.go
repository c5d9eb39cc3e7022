package hypercall

import (
	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/mm"
	"github.com/gohv/gohv/pirq"
)

// physdev_op (33): (int cmd, void *arg), after Xen 4.17's
// xen/arch/x86/physdev.c do_physdev_op. Each command copies its argument
// in (-EFAULT), checks the caller as the dummy XSM policy does, runs a
// worker of package pirq (or the vCPU's I/O privileges) and copies OUT
// fields back. The machine's interrupt state is Config.IRQs; the domain's
// PIRQs are DomainConfig.PIRQs. Unknown commands are -ENOSYS.

// Argument sizes (physdev.h; abi's layout test holds them).
const (
	physdevEoiSize      = 4  // physdev_eoi
	physdevEoiGmfnSize  = 8  // physdev_pirq_eoi_gmfn
	physdevStatusSize   = 8  // physdev_irq_status_query
	physdevIOPLSize     = 4  // physdev_set_iopl
	physdevIOBmpSize    = 16 // physdev_set_iobitmap
	physdevApicSize     = 16 // physdev_apic
	physdevMapSize      = 40 // physdev_map_pirq
	physdevUnmapSize    = 8  // physdev_unmap_pirq
	physdevManageSize   = 2  // physdev_manage_pci
	physdevManageExt    = 16 // physdev_manage_pci_ext
	physdevSetupGSISize = 8  // physdev_setup_gsi
	physdevFreePIRQSize = 8  // physdev_get_free_pirq
	physdevMMCFGSize    = 16 // physdev_pci_mmcfg_reserved
	physdevDevAddSize   = 12 // physdev_pci_device_add, without optarr
	physdevDevSize      = 4  // physdev_pci_device
	physdevRestoreSize  = 2  // physdev_restore_msi
	physdevDbgpSize     = 6  // physdev_dbgp_op

	physdevMaxArg = physdevMapSize
	// pxmOff is the offset of physdev_pci_device_add's optarr[0], the
	// proximity domain read with XEN_PCI_DEV_PXM.
	pxmOff = 12
)

// IOVCPU is the part of a PV vCPU that set_iopl and set_iobitmap change.
// hv's VCPU implements it; a VCPU without it gets -ENOSYS for them.
type IOVCPU interface {
	// SetIOPL sets the vCPU's virtual IOPL (0..3).
	SetIOPL(iopl uint32)
	// SetIOBitmap sets the vCPU's I/O bitmap: nrPorts ports (at most
	// 65536), one bit each, in guest memory at bitmap.
	SetIOBitmap(bitmap mm.GuestVA, nrPorts uint32)
}

func doPhysdevOp(d *Dispatcher, c *Caller, a *Args) Result {
	return Errno(d.physdevOp(c, int(int32(a[0])), a[1]))
}

// physdevIn copies n bytes of the argument at arg into c.arg.
func (c *Caller) physdevIn(arg uint64, n int) ([]byte, bool) {
	b := c.arg[:n]
	return b, c.readGuest(arg, b)
}

// physdevOp runs PHYSDEVOP cmd with its argument at arg.
func (d *Dispatcher) physdevOp(c *Caller, cmd int, arg uint64) abi.Errno {
	t := c.Domain.State().pirqs
	switch cmd {
	case abi.PHYSDEVOP_eoi:
		b, ok := c.physdevIn(arg, physdevEoiSize)
		if !ok {
			return abi.EFAULT
		}
		if t == nil {
			return abi.ENOSYS
		}
		return t.EOI(le.Uint32(b))

	case abi.PHYSDEVOP_pirq_eoi_gmfn_v1, abi.PHYSDEVOP_pirq_eoi_gmfn_v2:
		b, ok := c.physdevIn(arg, physdevEoiGmfnSize)
		if !ok {
			return abi.EFAULT
		}
		if t == nil {
			return abi.ENOSYS
		}
		return t.SetEOIMap(mm.MFN(le.Uint64(b)), cmd == abi.PHYSDEVOP_pirq_eoi_gmfn_v1)

	case abi.PHYSDEVOP_IRQ_UNMASK_NOTIFY: // legacy: no argument
		if t == nil {
			return abi.ENOSYS
		}
		t.UnmaskNotify()
		return 0

	case abi.PHYSDEVOP_irq_status_query:
		b, ok := c.physdevIn(arg, physdevStatusSize)
		if !ok {
			return abi.EFAULT
		}
		if t == nil {
			return abi.ENOSYS
		}
		flags, e := t.Status(le.Uint32(b))
		if e != 0 {
			return e
		}
		le.PutUint32(b[4:], flags)
		if !c.writeGuest(arg, b) {
			return abi.EFAULT
		}
		return 0

	case abi.PHYSDEVOP_set_iopl:
		b, ok := c.physdevIn(arg, physdevIOPLSize)
		if !ok {
			return abi.EFAULT
		}
		iopl := le.Uint32(b)
		if iopl > 3 {
			return abi.EINVAL
		}
		v, ok := c.VCPU.(IOVCPU)
		if !ok {
			return abi.ENOSYS
		}
		v.SetIOPL(iopl)
		return 0

	case abi.PHYSDEVOP_set_iobitmap:
		b, ok := c.physdevIn(arg, physdevIOBmpSize)
		if !ok {
			return abi.EFAULT
		}
		bitmap, ports := le.Uint64(b), le.Uint32(b[8:])
		// Xen's guest_handle_okay(bitmap, IOBMP_BYTES) on PV64 checks
		// the start address only (__addr_ok).
		if !mm.GuestAddrOK(mm.GuestVA(bitmap)) || ports > 65536 {
			return abi.EINVAL
		}
		v, ok := c.VCPU.(IOVCPU)
		if !ok {
			return abi.ENOSYS
		}
		v.SetIOBitmap(mm.GuestVA(bitmap), ports)
		return 0

	case abi.PHYSDEVOP_apic_read, abi.PHYSDEVOP_apic_write:
		b, ok := c.physdevIn(arg, physdevApicSize)
		if !ok {
			return abi.EFAULT
		}
		if !c.Domain.Privileged() {
			return abi.EPERM
		}
		if d.irqs == nil {
			return abi.ENOSYS
		}
		base, reg := le.Uint64(b), le.Uint32(b[8:])
		if cmd == abi.PHYSDEVOP_apic_write {
			return d.irqs.IOAPICWrite(base, reg, le.Uint32(b[12:]))
		}
		val, e := d.irqs.IOAPICRead(base, reg)
		if e == 0 {
			le.PutUint32(b[12:], val)
		}
		if !c.writeGuest(arg, b) { // copied back whatever the result, as Xen does
			return abi.EFAULT
		}
		return e

	case abi.PHYSDEVOP_alloc_irq_vector:
		// struct physdev_irq {irq, vector}: Xen keeps vectors to itself
		// and answers the privileged domain with vector = irq, a value
		// Linux's dom0 only checks for success (xen_bind_pirq_gsi_to_irq).
		b, ok := c.physdevIn(arg, 8)
		if !ok {
			return abi.EFAULT
		}
		if !c.Domain.Privileged() {
			return abi.EPERM
		}
		copy(b[4:8], b[0:4])
		if !c.writeGuest(arg, b) {
			return abi.EFAULT
		}
		return 0

	case abi.PHYSDEVOP_map_pirq:
		return d.mapPIRQ(c, arg)

	case abi.PHYSDEVOP_unmap_pirq:
		b, ok := c.physdevIn(arg, physdevUnmapSize)
		if !ok {
			return abi.EFAULT
		}
		target, e := d.pirqTarget(c, abi.DomID(le.Uint16(b)))
		if e != 0 {
			return e
		}
		return target.Unmap(int(int32(le.Uint32(b[4:]))))

	case abi.PHYSDEVOP_manage_pci_add, abi.PHYSDEVOP_manage_pci_remove:
		b, ok := c.physdevIn(arg, physdevManageSize)
		if !ok {
			return abi.EFAULT
		}
		dev := pirq.SBDF{Bus: b[0], Devfn: b[1]}
		if cmd == abi.PHYSDEVOP_manage_pci_add {
			return d.addDevice(c, dev, 0, pirq.SBDF{})
		}
		return d.removeDevice(c, dev)

	case abi.PHYSDEVOP_manage_pci_add_ext:
		b, ok := c.physdevIn(arg, physdevManageExt)
		if !ok {
			return abi.EFAULT
		}
		ext, virt := le.Uint32(b[4:]), le.Uint32(b[8:])
		if ext > 1 || virt > 1 {
			return abi.EINVAL
		}
		var flags uint32
		if ext != 0 {
			flags |= abi.XEN_PCI_DEV_EXTFN
		}
		if virt != 0 {
			flags |= abi.XEN_PCI_DEV_VIRTFN
		}
		return d.addDevice(c, pirq.SBDF{Bus: b[0], Devfn: b[1]}, flags, pirq.SBDF{Bus: b[12], Devfn: b[13]})

	case abi.PHYSDEVOP_pci_device_add:
		b, ok := c.physdevIn(arg, physdevDevAddSize)
		if !ok {
			return abi.EFAULT
		}
		dev := pirq.SBDF{Seg: le.Uint16(b), Bus: b[2], Devfn: b[3]}
		flags := le.Uint32(b[4:])
		physfn := pirq.SBDF{Bus: b[8], Devfn: b[9]}
		if flags&abi.XEN_PCI_DEV_PXM != 0 {
			if _, ok := c.readU32(arg + pxmOff); !ok { // gohv has one NUMA node
				return abi.EFAULT
			}
		}
		return d.addDevice(c, dev, flags, physfn)

	case abi.PHYSDEVOP_pci_device_remove:
		b, ok := c.physdevIn(arg, physdevDevSize)
		if !ok {
			return abi.EFAULT
		}
		return d.removeDevice(c, pirq.SBDF{Seg: le.Uint16(b), Bus: b[2], Devfn: b[3]})

	case abi.PHYSDEVOP_restore_msi:
		b, ok := c.physdevIn(arg, physdevRestoreSize)
		if !ok {
			return abi.EFAULT
		}
		return d.restoreMSI(c, pirq.SBDF{Bus: b[0], Devfn: b[1]})

	case abi.PHYSDEVOP_restore_msi_ext:
		b, ok := c.physdevIn(arg, physdevDevSize)
		if !ok {
			return abi.EFAULT
		}
		return d.restoreMSI(c, pirq.SBDF{Seg: le.Uint16(b), Bus: b[2], Devfn: b[3]})

	case abi.PHYSDEVOP_setup_gsi:
		b, ok := c.physdevIn(arg, physdevSetupGSISize)
		if !ok {
			return abi.EFAULT
		}
		if d.irqs == nil {
			return abi.ENOSYS
		}
		gsi := int(int32(le.Uint32(b)))
		if gsi < 0 || gsi >= d.irqs.NrGSIs() {
			return abi.EINVAL
		}
		if !c.Domain.Privileged() {
			return abi.EPERM
		}
		// One-bit fields in the IO-APIC entry: 0 edge / active high, 1
		// level / active low.
		return d.irqs.SetupGSI(gsi, pirq.Trigger(b[4]&1), pirq.Polarity(b[5]&1))

	case abi.PHYSDEVOP_get_free_pirq:
		b, ok := c.physdevIn(arg, physdevFreePIRQSize)
		if !ok {
			return abi.EFAULT
		}
		if t == nil {
			return abi.ENOSYS
		}
		p, e := t.GetFree(int(int32(le.Uint32(b))))
		if e != 0 {
			return e
		}
		le.PutUint32(b[4:], uint32(p))
		if !c.writeGuest(arg, b) {
			return abi.EFAULT
		}
		return 0

	case abi.PHYSDEVOP_pci_mmcfg_reserved:
		if !c.Domain.Privileged() {
			return abi.EPERM
		}
		b, ok := c.physdevIn(arg, physdevMMCFGSize)
		if !ok {
			return abi.EFAULT
		}
		if d.irqs == nil {
			return abi.ENOSYS
		}
		return d.irqs.MMCFGReserved(le.Uint64(b), le.Uint16(b[8:]), b[10], b[11], le.Uint32(b[12:]))

	case abi.PHYSDEVOP_dbgp_op:
		if !c.Domain.HardwareDomain() {
			return abi.EPERM
		}
		if _, ok := c.physdevIn(arg, physdevDbgpSize); !ok {
			return abi.EFAULT
		}
		// Xen's dbgp_op with no EHCI debug port in use: nothing to do.
		return 0
	}
	return abi.ENOSYS
}

// pirqTarget resolves map_pirq's and unmap_pirq's domid and checks the
// caller may change its PIRQs (the dummy policy's XSM_DM_PRIV: the
// privileged domain). Errors: -ESRCH no such domain; -EPERM.
func (d *Dispatcher) pirqTarget(c *Caller, id abi.DomID) (*pirq.Table, abi.Errno) {
	dom := c.Domain
	if id != abi.DOMID_SELF && id != dom.ID() {
		if id.IsReserved() || d.domains == nil {
			return nil, abi.ESRCH
		}
		o, ok := d.domains.Lookup(id)
		if !ok {
			return nil, abi.ESRCH
		}
		dom = o
	}
	if !c.Domain.Privileged() {
		return nil, abi.EPERM
	}
	t := dom.State().pirqs
	if t == nil {
		return nil, abi.ENOSYS
	}
	return t, 0
}

// mapPIRQ is PHYSDEVOP_map_pirq: the structure is copied back whatever
// the result (Xen's order), with the PIRQ on success and MSI_SEG turned
// into MSI.
func (d *Dispatcher) mapPIRQ(c *Caller, arg uint64) abi.Errno {
	b, ok := c.physdevIn(arg, physdevMapSize)
	if !ok {
		return abi.EFAULT
	}
	typ := int32(le.Uint32(b[4:]))
	index := int(int32(le.Uint32(b[8:])))
	p := int(int32(le.Uint32(b[12:])))
	bus := le.Uint32(b[16:])
	src := pirq.MSI{Dev: pirq.SBDF{Bus: uint8(bus), Devfn: uint8(le.Uint32(b[20:]))},
		EntryNr: int(int32(le.Uint32(b[24:]))), TableBase: le.Uint64(b[32:])}
	switch typ {
	case abi.MAP_PIRQ_TYPE_MSI_SEG:
		typ = abi.MAP_PIRQ_TYPE_MSI
		le.PutUint32(b[4:], uint32(typ))
		src.Dev.Seg = uint16(bus >> 16)
	case abi.MAP_PIRQ_TYPE_MULTI_MSI:
		return abi.EINVAL // see doc.go: several vectors per MSI are not offered
	}
	e := d.mapPIRQWorker(c, abi.DomID(le.Uint16(b)), typ, index, &p, src)
	le.PutUint32(b[12:], uint32(p))
	if !c.writeGuest(arg, b) {
		return abi.EFAULT
	}
	return e
}

// mapPIRQWorker is Xen's physdev_map_pirq; *p is updated on success.
func (d *Dispatcher) mapPIRQWorker(c *Caller, id abi.DomID, typ int32, index int, p *int, src pirq.MSI) abi.Errno {
	t, e := d.pirqTarget(c, id)
	if e != 0 {
		return e
	}
	var got int
	switch typ {
	case abi.MAP_PIRQ_TYPE_GSI:
		caller := c.Domain.State().pirqs
		if caller == nil {
			return abi.ENOSYS
		}
		got, e = t.MapGSI(caller, index, *p)
	case abi.MAP_PIRQ_TYPE_MSI:
		got, e = t.MapMSI(index, *p, src)
	default:
		return abi.EINVAL
	}
	if e == 0 {
		*p = got
	}
	return e
}

// addDevice and removeDevice are Xen's pci_add_device and
// pci_remove_device after their XSM_PRIV check.
func (d *Dispatcher) addDevice(c *Caller, dev pirq.SBDF, flags uint32, physfn pirq.SBDF) abi.Errno {
	if !c.Domain.Privileged() {
		return abi.EPERM
	}
	if d.irqs == nil {
		return abi.ENOSYS
	}
	return d.irqs.AddDevice(dev, flags, physfn)
}

// restoreMSI is restore_msi(_ext) (Xen's pci_restore_msi_state): a
// function not added is -ENODEV, then the caller must be privileged
// (XSM_PRIV).
func (d *Dispatcher) restoreMSI(c *Caller, dev pirq.SBDF) abi.Errno {
	if d.irqs == nil {
		return abi.ENOSYS
	}
	if !d.irqs.HasDevice(dev) {
		return abi.ENODEV
	}
	if !c.Domain.Privileged() {
		return abi.EPERM
	}
	return d.irqs.RestoreMSI(dev)
}

func (d *Dispatcher) removeDevice(c *Caller, dev pirq.SBDF) abi.Errno {
	if !c.Domain.Privileged() {
		return abi.EPERM
	}
	if d.irqs == nil {
		return abi.ENOSYS
	}
	return d.irqs.RemoveDevice(dev)
}

var _ [argScratch - physdevMaxArg]byte
