package pci

import "github.com/gohv/gohv/abi"

// BDF names a PCI function of segment 0: bus << 8 | devfn (devfn =
// device << 3 | function), the bits configuration mechanism #1 puts in
// CONFIG_ADDRESS bits 23-8.
type BDF uint16

// MakeBDF returns the BDF of function devfn on bus.
func MakeBDF(bus, devfn uint8) BDF { return BDF(bus)<<8 | BDF(devfn) }

// Bus and Devfn split a BDF.
func (b BDF) Bus() uint8   { return uint8(b >> 8) }
func (b BDF) Devfn() uint8 { return uint8(b) }

// Configuration header and capability facts (PCI Local Bus 3.0, 6.1 and
// 6.7; PCI Express Base 6.8 for MSI-X), in Linux's and Xen's pci_regs.h
// names.
const (
	RegCommand    = 0x04
	RegStatus     = 0x06
	RegHeaderType = 0x0E
	RegBAR0       = 0x10
	RegCapPtr     = 0x34

	CommandMemory = 1 << 1 // PCI_COMMAND_MEMORY: memory space decoded
	StatusCapList = 1 << 4 // PCI_STATUS_CAP_LIST

	CapMSI  = 0x05 // PCI_CAP_ID_MSI
	CapMSIX = 0x11 // PCI_CAP_ID_MSIX

	// capWalkMax bounds a capability walk: 48 entries fill the 192 bytes
	// past the header, so a longer walk is a loop (Xen's max_cap).
	capWalkMax = 48
)

// Reader reads the configuration dword at reg (a multiple of 4, below
// 256) of one function.
type Reader func(reg uint16) uint32

func (r Reader) read8(reg uint16) uint8 { return uint8(r(reg&^3) >> (8 * (reg & 3))) }
func (r Reader) read16(reg uint16) uint16 {
	return uint16(r(reg&^3) >> (8 * (reg & 2)))
}

// FindCap walks the function's capability list for the first capability
// with ID id and returns its offset, as Xen's pci_find_cap_offset does:
// a function without the status register's capability-list bit, a next
// pointer below 0x40, an ID of 0xFF, or 48 entries walked (a looping
// list) end the walk. Errors: -ENODEV no such capability, or no function
// there (it reads as all ones: its walk ends at ID 0xFF).
func FindCap(r Reader, id uint8) (uint16, abi.Errno) {
	if r.read16(RegStatus)&StatusCapList == 0 {
		return 0, abi.ENODEV
	}
	ptr := uint16(RegCapPtr)
	for i := 0; i < capWalkMax; i++ {
		pos := uint16(r.read8(ptr))
		if pos < 0x40 {
			break
		}
		pos &^= 3
		got := r.read8(pos)
		if got == 0xFF {
			break
		}
		if got == id {
			return pos, 0
		}
		ptr = pos + 1
	}
	return 0, abi.ENODEV
}

// MemBAR is the address memory BAR bir decodes to, as Xen's
// read_pci_mem_bar for a physical function: 0 for an I/O BAR, a BAR the
// header type does not have (6 for a device, 2 for a bridge, 1 for a
// CardBus bridge), or the upper half of a 64-bit BAR beyond the last.
func MemBAR(r Reader, bir uint8) uint64 {
	var limit uint8
	switch r.read8(RegHeaderType) & 0x7F {
	case 0:
		limit = 6
	case 1:
		limit = 2
	case 2:
		limit = 1
	default:
		return 0
	}
	if bir >= limit {
		return 0
	}
	lo := r(RegBAR0 + 4*uint16(bir))
	if lo&1 != 0 { // I/O space
		return 0
	}
	base := uint64(lo &^ 0xF)
	if lo&0x6 == 0x4 { // 64-bit memory BAR
		if bir+1 >= limit {
			return 0
		}
		base |= uint64(r(RegBAR0+4*uint16(bir+1))) << 32
	}
	return base
}

// MSI capability layout (PCI Local Bus 3.0, 6.8.1).
const (
	msiControl     = 2
	msiAddrLo      = 4
	MSIEnable      = 1 << 0 // PCI_MSI_FLAGS_ENABLE
	msiQMaskShift  = 1      // Multiple Message Capable, 3 bits
	MSIQSize       = 7 << 4 // PCI_MSI_FLAGS_QSIZE: Multiple Message Enable
	MSI64Bit       = 1 << 7 // PCI_MSI_FLAGS_64BIT
	MSIPerVecMask  = 1 << 8 // PCI_MSI_FLAGS_MASKBIT
	msiMaxVecLimit = 32
)

// MSICap is a function's MSI capability at Pos with its Message Control
// word.
type MSICap struct {
	Pos     uint16
	Control uint16
}

// ReadMSICap finds the MSI capability and reads its control word.
// Errors: -ENODEV none.
func ReadMSICap(r Reader) (MSICap, abi.Errno) {
	pos, e := FindCap(r, CapMSI)
	if e != 0 {
		return MSICap{}, e
	}
	return MSICap{Pos: pos, Control: r.read16(pos + msiControl)}, 0
}

// ControlReg is the offset of the Message Control word.
func (c MSICap) ControlReg() uint16 { return c.Pos + msiControl }

// Is64 reports a 64-bit message address (an upper address register).
func (c MSICap) Is64() bool { return c.Control&MSI64Bit != 0 }

// Maskable reports per-vector masking (the mask and pending registers).
func (c MSICap) Maskable() bool { return c.Control&MSIPerVecMask != 0 }

// MaxVectors is the vectors the function can request (Multiple Message
// Capable; the reserved encodings 6 and 7 count as 32, Xen's
// multi_msi_capable).
func (c MSICap) MaxVectors() int {
	return min(1<<(c.Control>>msiQMaskShift&7), msiMaxVecLimit)
}

// AddrLoReg, AddrHiReg (64-bit only), DataReg, MaskReg and PendingReg
// (per-vector masking only) are the capability's registers.
func (c MSICap) AddrLoReg() uint16 { return c.Pos + msiAddrLo }
func (c MSICap) AddrHiReg() uint16 { return c.Pos + msiAddrLo + 4 }
func (c MSICap) DataReg() uint16 {
	if c.Is64() {
		return c.Pos + 12
	}
	return c.Pos + 8
}
func (c MSICap) MaskReg() uint16    { return c.DataReg() + 4 }
func (c MSICap) PendingReg() uint16 { return c.MaskReg() + 4 }

// MSI-X capability layout (PCI Local Bus 3.0, 6.8.2).
const (
	msixControl     = 2
	msixTable       = 4
	msixPBA         = 8
	MSIXCapLen      = 12      // ID, next, control, table and PBA offset/BIR
	MSIXEnable      = 1 << 15 // PCI_MSIX_FLAGS_ENABLE
	MSIXMaskAll     = 1 << 14 // PCI_MSIX_FLAGS_MASKALL
	msixQSize       = 0x7FF   // Table Size - 1
	msixBIRMask     = 7
	MSIXEntrySize   = 16 // PCI_MSIX_ENTRY_SIZE
	MSIXEntryAddrLo = 0  // entry's Message Address
	MSIXEntryAddrHi = 4  // Message Upper Address
	MSIXEntryData   = 8  // Message Data
	MSIXEntryCtrl   = 12 // Vector Control
	MSIXCtrlMasked  = 1  // Vector Control's Mask Bit
)

// MSIXCap is a function's MSI-X capability at Pos: its Message Control
// word and its Table and PBA offset/BIR dwords.
type MSIXCap struct {
	Pos        uint16
	Control    uint16
	Table, PBA uint32
}

// ReadMSIXCap finds the MSI-X capability and reads its registers.
// Errors: -ENODEV none.
func ReadMSIXCap(r Reader) (MSIXCap, abi.Errno) {
	pos, e := FindCap(r, CapMSIX)
	if e != 0 {
		return MSIXCap{}, e
	}
	return MSIXCap{Pos: pos, Control: r.read16(pos + msixControl),
		Table: r(pos + msixTable), PBA: r(pos + msixPBA)}, 0
}

// ControlReg is the offset of the Message Control word.
func (c MSIXCap) ControlReg() uint16 { return c.Pos + msixControl }

// TableSize is the number of table entries.
func (c MSIXCap) TableSize() int { return int(c.Control&msixQSize) + 1 }

// TableBIR and TableOffset place the table in a BAR; PBABIR and
// PBAOffset the pending-bit array.
func (c MSIXCap) TableBIR() uint8     { return uint8(c.Table & msixBIRMask) }
func (c MSIXCap) TableOffset() uint32 { return c.Table &^ msixBIRMask }
func (c MSIXCap) PBABIR() uint8       { return uint8(c.PBA & msixBIRMask) }
func (c MSIXCap) PBAOffset() uint32   { return c.PBA &^ msixBIRMask }

// Message is an MSI message: the address (upper half 0 below 4 GiB) and
// the data.
type Message struct {
	AddrLo, AddrHi, Data uint32
}

// Message address and data fields (Intel SDM Vol. 3, 11.11), as Xen's
// msi_compose_msg fills them for a fixed, physical-destination interrupt.
const (
	msiAddrBase      = 0xFEE00000
	msiAddrDestShift = 12
	msiDataAssert    = 1 << 14 // level: assert (edge: ignored; Xen sets it)
)

// Compose is the message that sends vector vec to the local APIC with
// physical ID dest: destination mode physical, no redirection hint,
// fixed delivery, edge-triggered.
func Compose(dest, vec uint8) Message {
	return Message{
		AddrLo: msiAddrBase | uint32(dest)<<msiAddrDestShift,
		Data:   msiDataAssert | uint32(vec),
	}
}
