package pirq

import "github.com/gohv/gohv/abi"

// IRQ is a machine IRQ number (Xen's irq): GSI g is IRQ g, IRQs for MSIs
// follow the GSIs.
type IRQ int

// Trigger is an interrupt's trigger mode.
type Trigger uint8

// Values are physdev_setup_gsi's (and the IO-APIC entry's trigger bit):
// Linux turns ACPI's constants into them.
const (
	Edge  Trigger = iota // triggering 0
	Level                // triggering 1
)

// Polarity is an interrupt's polarity.
type Polarity uint8

// Values are physdev_setup_gsi's (and the IO-APIC entry's polarity bit).
const (
	ActiveHigh Polarity = iota // polarity 0
	ActiveLow                  // polarity 1
)

// SBDF names a PCI function: segment, bus, device and function (devfn =
// device << 3 | function).
type SBDF struct {
	Seg   uint16
	Bus   uint8
	Devfn uint8
}

// MSI is one MSI or MSI-X source of a device (Xen's msi_info): for MSI-X
// (TableBase != 0) EntryNr is the entry in the device's vector table.
type MSI struct {
	Dev       SBDF
	EntryNr   int
	TableBase uint64
}

// AckType is how a guest-bound IRQ is acknowledged (Xen's ACKTYPE_*).
type AckType uint8

const (
	// AckNone: the metal acknowledges the interrupt completely when it
	// arrives (edge-triggered IO-APIC pins, maskable MSIs); the guest's
	// EOI is not needed.
	AckNone AckType = iota
	// AckUnmask: the metal masks the source and sends the local APIC EOI
	// when it arrives (level-triggered IO-APIC pins); the source is
	// unmasked once every bound guest has sent its EOI.
	AckUnmask
	// AckEOI: the local APIC EOI waits until every bound guest has sent
	// its EOI (MSIs that cannot be masked).
	AckEOI
)

// Controller is the interrupt hardware gohv owns (local APIC, IO-APICs,
// MSI composition), as the physdev layer drives it. The metal implements
// it; pirqtest.Controller is a host fake. Methods are called with the
// Machine's lock held, from goroutine context; they must not call back
// into this package.
type Controller interface {
	// NrGSIs is the number of GSIs the IO-APICs have pins for (Xen's
	// nr_irqs_gsi).
	NrGSIs() int
	// SetupGSI sets the trigger mode and polarity of gsi's pin and gives
	// it a vector, masked (Xen's mp_register_gsi for
	// PHYSDEVOP_setup_gsi). gsi < NrGSIs(). Errors are Xen's: -EEXIST
	// when the pin is set up and in use with another mode, -ENOSPC for no
	// vector.
	SetupGSI(gsi int, t Trigger, p Polarity) abi.Errno
	// GSITrigger reports the trigger mode gsi's pin is set up with.
	GSITrigger(gsi int) Trigger
	// AllocVector reserves a vector for the new MSI IRQ irq (Xen's
	// create_irq); false when none is left.
	AllocVector(irq IRQ) bool
	// FreeVector gives irq's vector back (destroy_irq).
	FreeVector(irq IRQ)
	// EnableMSI composes the MSI address and data that send irq's vector
	// to the CPU that handles it and writes them into the device's MSI
	// capability or MSI-X table entry, masked (Xen's pci_enable_msi and
	// setup_msi_irq); Unmask at the first bind unmasks it. maskable
	// reports whether the source can be masked (per-vector masking or
	// MSI-X). Errors: -ENODEV no such capability, -EINVAL entry beyond
	// the MSI-X table, -EBUSY the capability or entry is in use, -ENXIO
	// the table cannot be reached (memory decoding off).
	EnableMSI(irq IRQ, m MSI) (maskable bool, e abi.Errno)
	// DisableMSI turns irq's MSI source off (pci_disable_msi).
	DisableMSI(irq IRQ)
	// RestoreMSI writes the MSI and MSI-X messages and mask bits of
	// function dev's sources back after it lost them (Xen's
	// pci_restore_msi_state): with them the MSI Enable bit, and MSI-X's
	// as it was. Errors: -EOPNOTSUPP no MSI support, -ENXIO the MSI-X
	// table cannot be reached.
	RestoreMSI(dev SBDF) abi.Errno
	// Mask and Unmask mask and unmask irq's source (IO-APIC pin or MSI);
	// Unmask also starts an IRQ when its first guest binds it.
	Mask(irq IRQ)
	Unmask(irq IRQ)
	// EOI sends the local APIC EOI held back for an AckEOI IRQ.
	EOI(irq IRQ)
	// IOAPICRead and IOAPICWrite access register reg of the IO-APIC at
	// physical address physbase (PHYSDEVOP_apic_read/apic_write, Xen's
	// ioapic_guest_read/write): -EINVAL when no IO-APIC is there.
	IOAPICRead(physbase uint64, reg uint32) (uint32, abi.Errno)
	IOAPICWrite(physbase uint64, reg, val uint32) abi.Errno
}

// noHardware is the Controller of a machine whose interrupt hardware the
// metal does not drive (yet): no GSI, no vector, no IO-APIC.
type noHardware struct{}

func (noHardware) NrGSIs() int                                   { return 0 }
func (noHardware) SetupGSI(int, Trigger, Polarity) abi.Errno     { return abi.EINVAL }
func (noHardware) GSITrigger(int) Trigger                        { return Edge }
func (noHardware) AllocVector(IRQ) bool                          { return false }
func (noHardware) FreeVector(IRQ)                                {}
func (noHardware) EnableMSI(IRQ, MSI) (bool, abi.Errno)          { return false, abi.ENODEV }
func (noHardware) DisableMSI(IRQ)                                {}
func (noHardware) RestoreMSI(SBDF) abi.Errno                     { return abi.EOPNOTSUPP }
func (noHardware) Mask(IRQ)                                      {}
func (noHardware) Unmask(IRQ)                                    {}
func (noHardware) EOI(IRQ)                                       {}
func (noHardware) IOAPICRead(uint64, uint32) (uint32, abi.Errno) { return 0, abi.EINVAL }
func (noHardware) IOAPICWrite(uint64, uint32, uint32) abi.Errno  { return abi.EINVAL }
