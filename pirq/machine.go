package pirq

import (
	"sync"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/evtchn"
	"github.com/gohv/gohv/mm"
)

// NrDynamicVectors is the number of vectors Xen 4.17 hands out to IRQs on
// one CPU (FIRST_DYNAMIC_VECTOR 0x20 .. LAST_DYNAMIC_VECTOR 0xdf): with
// one CPU, the IRQs beyond the GSIs that MSIs can get.
const NrDynamicVectors = 0xdf - 0x20 + 1

// ExtraDomUPIRQs is Xen's default extra_domU_irqs: the PIRQs a domain
// other than the hardware domain has beyond the GSIs.
const ExtraDomUPIRQs = 32

// maxPIRQs bounds a domain's PIRQs by the bits of its one-page EOI map.
const maxPIRQs = mm.PageSize * 8

// Config is what a Machine works with.
type Config struct {
	// Controller is the interrupt hardware; nil stands for none (see
	// doc.go).
	Controller Controller
	// Frames holds the domains' pages: the pirq_eoi_gmfn frame gets a
	// general and a writable type reference while it is the EOI map.
	Frames *mm.FrameTable
	// Mem is machine memory, for the EOI map's bits.
	Mem mm.MachineMemory
	// Flush takes the TLB flush a type change of the EOI map frame needs.
	Flush mm.Flusher
}

// Machine is the machine's IRQs as guests see them. Safe for concurrent
// use.
type Machine struct {
	ctrl   Controller
	frames *mm.FrameTable
	mem    mm.MachineMemory
	flush  mm.Flusher
	nrGSIs int
	nrIRQs int // Xen's nr_irqs: GSIs, then the IRQs MSIs may get

	// mu guards everything below and every Table's mutable fields.
	mu      sync.Mutex
	descs   map[IRQ]*desc
	devices map[SBDF]uint32 // reported PCI functions and their XEN_PCI_DEV_* flags
}

// desc is an IRQ given to guests (Xen's irq_desc with its
// irq_guest_action_t). Guarded by Machine.mu.
type desc struct {
	msi      bool
	source   MSI  // for an MSI IRQ
	maskable bool // for an MSI IRQ: the source can be masked
	mapped   int  // domains that have a PIRQ for it
	// guests are the domains whose PIRQ for it is bound to an event
	// channel; shareable is the first binder's BIND_PIRQ__WILL_SHARE.
	guests    []*Table
	shareable bool
	ack       AckType // set when the first guest binds
	inFlight  int     // delivered, masked, waiting for guests' EOIs
}

// NewMachine returns the Machine over c.
func NewMachine(c Config) *Machine {
	ctrl := c.Controller
	if ctrl == nil {
		ctrl = noHardware{}
	}
	n := max(ctrl.NrGSIs(), 0)
	// Xen's nr_irqs default with one CPU and a local APIC.
	nrIRQs := max(16+NrDynamicVectors, 8*n)
	return &Machine{ctrl: ctrl, frames: c.Frames, mem: c.Mem, flush: c.Flush,
		nrGSIs: n, nrIRQs: nrIRQs,
		descs: map[IRQ]*desc{}, devices: map[SBDF]uint32{}}
}

// NrGSIs is the number of GSIs (Xen's nr_irqs_gsi).
func (m *Machine) NrGSIs() int { return m.nrGSIs }

// NrPIRQs is the number of PIRQs a new domain gets (Xen's d->nr_pirqs):
// the hardware domain the GSIs plus one CPU's dynamic vectors
// (arch_hwdom_irqs), others the GSIs plus ExtraDomUPIRQs; never more than
// the machine's IRQs (nr_irqs) or the EOI map's bits. With QEMU's 24
// GSIs dom0 gets 208, as Xen 4.17 prints ("d0 has maximum 208 PIRQs").
func (m *Machine) NrPIRQs(hardware bool) int {
	n := m.nrGSIs + ExtraDomUPIRQs
	if hardware {
		n = m.nrGSIs + NrDynamicVectors
	}
	return min(n, m.nrIRQs, maxPIRQs)
}

// SetupGSI sets gsi's trigger mode and polarity (PHYSDEVOP_setup_gsi
// after its privilege check). Errors: -EINVAL gsi is not a GSI of the
// machine; the Controller's.
func (m *Machine) SetupGSI(gsi int, t Trigger, p Polarity) abi.Errno {
	if gsi < 0 || gsi >= m.nrGSIs {
		return abi.EINVAL
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ctrl.SetupGSI(gsi, t, p)
}

// IOAPICRead reads register reg of the IO-APIC at physbase.
func (m *Machine) IOAPICRead(physbase uint64, reg uint32) (uint32, abi.Errno) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ctrl.IOAPICRead(physbase, reg)
}

// IOAPICWrite writes register reg of the IO-APIC at physbase.
func (m *Machine) IOAPICWrite(physbase uint64, reg, val uint32) abi.Errno {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ctrl.IOAPICWrite(physbase, reg, val)
}

// AddDevice records PCI function d with its XEN_PCI_DEV_* flags
// (pci_device_add, manage_pci_add): a virtual function's physical
// function physfn is recorded first if it is not yet. Adding a known
// function again succeeds, as in Xen.
func (m *Machine) AddDevice(d SBDF, flags uint32, physfn SBDF) abi.Errno {
	m.mu.Lock()
	defer m.mu.Unlock()
	if flags&abi.XEN_PCI_DEV_VIRTFN != 0 {
		pf := SBDF{Seg: d.Seg, Bus: physfn.Bus, Devfn: physfn.Devfn}
		if _, ok := m.devices[pf]; !ok {
			m.devices[pf] = 0
		}
	}
	m.devices[d] = flags
	return 0
}

// RemoveDevice forgets PCI function d (pci_device_remove). Errors:
// -ENODEV not known.
func (m *Machine) RemoveDevice(d SBDF) abi.Errno {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.devices[d]; !ok {
		return abi.ENODEV
	}
	delete(m.devices, d)
	return 0
}

// HasDevice reports whether PCI function d was added.
func (m *Machine) HasDevice(d SBDF) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.devices[d]
	return ok
}

// RestoreMSI is PHYSDEVOP_restore_msi's and restore_msi_ext's worker
// after the privilege check (Xen's pci_restore_msi_state): dev's MSI and
// MSI-X sources are written back. Errors: -ENODEV dev was not added; the
// Controller's.
func (m *Machine) RestoreMSI(dev SBDF) abi.Errno {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.devices[dev]; !ok {
		return abi.ENODEV
	}
	return m.ctrl.RestoreMSI(dev)
}

// MMCFGReserved is PHYSDEVOP_pci_mmcfg_reserved's worker (Xen's
// pci_mmcfg_reserved): flags other than XEN_PCI_MMCFG_RESERVED are
// -EINVAL; a region the ACPI MCFG table does not list is -ENODEV. gohv
// does not read MCFG (the metal has no extended configuration access),
// so every region is unknown.
func (m *Machine) MMCFGReserved(addr uint64, seg uint16, startBus, endBus uint8, flags uint32) abi.Errno {
	if flags&^abi.XEN_PCI_MMCFG_RESERVED != 0 {
		return abi.EINVAL
	}
	return abi.ENODEV
}

// Interrupt delivers machine IRQ irq to the domains bound to it (Xen's
// __do_IRQ_guest): each bound PIRQ's port becomes pending, and for an IRQ
// that needs the guests' EOI the PIRQ is marked masked and counted in
// flight. The metal calls it from goroutine context after acknowledging
// the interrupt as the IRQ's AckType says.
func (m *Machine) Interrupt(irq IRQ) {
	type send struct {
		events *evtchn.Table
		pirq   uint32
	}
	var buf [4]send
	sends := buf[:0]
	m.mu.Lock()
	d := m.descs[irq]
	if d == nil || len(d.guests) == 0 {
		m.mu.Unlock()
		return
	}
	for _, t := range d.guests {
		p, ok := t.byIRQ[irq]
		if !ok {
			continue
		}
		info := t.pirqs[p]
		if d.ack != AckNone && !info.masked {
			info.masked = true
			d.inFlight++
		}
		if t.events != nil {
			sends = append(sends, send{t.events, uint32(p)})
		}
	}
	if d.ack == AckEOI && d.inFlight == 0 {
		m.ctrl.EOI(irq)
	}
	m.mu.Unlock()
	for _, s := range sends {
		s.events.SendPIRQ(s.pirq)
	}
}

// AckTypeOf reports how irq is acknowledged while guests have it bound
// (AckNone if none has).
func (m *Machine) AckTypeOf(irq IRQ) AckType {
	m.mu.Lock()
	defer m.mu.Unlock()
	if d := m.descs[irq]; d != nil && len(d.guests) > 0 {
		return d.ack
	}
	return AckNone
}

// ackType is Xen's pirq_acktype: edge-triggered pins and maskable MSIs
// need no guest EOI; level-triggered pins are unmasked after it; MSIs
// that cannot be masked hold the local APIC EOI until it.
func (m *Machine) ackType(irq IRQ, d *desc) AckType {
	if d.msi {
		if d.maskable {
			return AckNone
		}
		return AckEOI
	}
	if m.ctrl.GSITrigger(int(irq)) == Level {
		return AckUnmask
	}
	return AckNone
}
