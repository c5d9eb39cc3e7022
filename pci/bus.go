package pci

import (
	"fmt"
	"slices"
	"sync"

	"github.com/gohv/gohv/abi"
)

// Ports performs physical port accesses of size 1, 2 or 4 (the shape of
// ioport.Metal).
type Ports interface {
	In(port uint16, size int) uint32
	Out(port uint16, size int, val uint32)
}

// DeviceMemory performs aligned 32-bit accesses to device memory (a
// BAR's MMIO) at physical addresses; false: the address is not device
// memory gohv may touch (RAM, or beyond what it can map).
type DeviceMemory interface {
	Read32(pa uint64) (uint32, bool)
	Write32(pa uint64, v uint32) bool
}

// Configuration mechanism #1's ports.
const (
	ConfigAddr uint16 = 0xCF8 // CONFIG_ADDRESS
	ConfigData uint16 = 0xCFC // CONFIG_DATA, 0xCFC-0xCFF
	cf8Enable         = 1 << 31
)

// Bus is segment 0's configuration space reached through mechanism #1,
// shared by gohv and the hardware domain, and the MSI and MSI-X sources
// gohv has programmed in it (Xen's pci_config_lock, pci_conf_read/write,
// its pci_dev's msi_list and arch_msix). Safe for concurrent use.
type Bus struct {
	ports Ports
	mem   DeviceMemory

	// mu is held across a CONFIG_ADDRESS write and its CONFIG_DATA
	// access and guards devs and every Source's fields.
	mu   sync.Mutex
	devs map[BDF]*device
}

// device is what the Bus knows about a function with a Source (Xen's
// pci_dev: msi_list and arch_msix).
type device struct {
	msi  *Source   // its MSI capability's source
	msix []*Source // its MSI-X table entries in use
	// hostMaskAll: gohv holds the MSI-X Function Mask set;
	// guestMaskAll: the hardware domain last wrote it set.
	hostMaskAll, guestMaskAll bool
}

// Source is one MSI or MSI-X interrupt source gohv programmed (Xen's
// msi_desc): one vector, an MSI capability or an MSI-X table entry.
// Fields are guarded by the Bus's mu.
type Source struct {
	dev     BDF
	msix    bool
	pos     uint16 // the capability's offset
	entry   int    // MSI-X: the table entry
	entryPA uint64 // MSI-X: the entry's physical address
	maskReg uint16 // MSI: the mask register, 0 without per-vector masking
	maxVec  int    // MSI: Multiple Message Capable
	msg     Message
	// hostMasked: gohv masks it; guestMasked: the guest does. The
	// hardware's mask bit is their OR.
	hostMasked, guestMasked bool
}

// Maskable reports whether the source has a mask bit: every MSI-X entry,
// an MSI capability with per-vector masking (Xen's msi_maskable_irq).
func (s *Source) Maskable() bool { return s.msix || s.maskReg != 0 }

// Message is the message gohv wrote for the source.
func (s *Source) Message() Message { return s.msg }

// NewBus returns the Bus over the machine's ports and device memory.
func NewBus(ports Ports, mem DeviceMemory) *Bus {
	return &Bus{ports: ports, mem: mem, devs: map[BDF]*device{}}
}

func cf8(bdf BDF, reg uint16) uint32 { return cf8Enable | uint32(bdf)<<8 | uint32(reg&0xFC) }

// read and write access size bytes at reg (not crossing a dword) of bdf.
// Caller holds mu.
func (b *Bus) read(bdf BDF, reg uint16, size int) uint32 {
	b.ports.Out(ConfigAddr, 4, cf8(bdf, reg))
	return b.ports.In(ConfigData+reg&3, size)
}

func (b *Bus) write(bdf BDF, reg uint16, size int, v uint32) {
	b.ports.Out(ConfigAddr, 4, cf8(bdf, reg))
	b.ports.Out(ConfigData+reg&3, size, v)
}

// reader is bdf's configuration dwords. Caller holds mu while it is used.
func (b *Bus) reader(bdf BDF) Reader {
	return func(reg uint16) uint32 { return b.read(bdf, reg, 4) }
}

// Read reads size bytes (1, 2 or 4, not crossing a dword) at reg of bdf.
func (b *Bus) Read(bdf BDF, reg uint16, size int) uint32 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.read(bdf, reg, size)
}

// GuestRead is the hardware domain's read of size bytes at offset off
// (0-3) of CONFIG_DATA with CONFIG_ADDRESS cf8, as it latched it (Xen's
// pci_conf_read for guest_io_read).
func (b *Bus) GuestRead(cf8 uint32, off uint16, size int) uint32 {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ports.Out(ConfigAddr, 4, cf8)
	return b.ports.In(ConfigData+off, size)
}

// GuestWrite is the hardware domain's write of v (size bytes at offset
// off of CONFIG_DATA, CONFIG_ADDRESS cf8): made as the guest asked,
// changed, or refused as Xen's pci_msi_conf_write_intercept decides (see
// intercept). It reports whether the write was made.
func (b *Bus) GuestWrite(cf8 uint32, off uint16, size int, v uint32) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if cf8&cf8Enable != 0 {
		var ok bool
		if v, ok = b.intercept(BDF(cf8>>8), uint16(cf8&0xFC)|off, size, v); !ok {
			return false
		}
	}
	b.ports.Out(ConfigAddr, 4, cf8)
	b.ports.Out(ConfigData+off, size, v)
	return true
}

// intercept decides the hardware domain's write of v (size bytes at reg)
// to bdf, as Xen's pci_msi_conf_write_intercept: in a function's MSI-X
// capability only a word write of the control register goes through,
// with the Function Mask forced on while gohv holds it (and recorded as
// the guest's); in an MSI capability gohv has a maskable source in, the
// control word (word writes) and the mask register (dword writes, with
// the bits gohv masks and the bits of vectors not in use forced on, the
// source's bit recorded as the guest's) go through, nothing else (the
// message is gohv's). Everything else is written as it is. Caller holds
// mu.
func (b *Bus) intercept(bdf BDF, reg uint16, size int, v uint32) (uint32, bool) {
	d := b.devs[bdf]
	if x, e := ReadMSIXCap(b.reader(bdf)); e == 0 && reg >= x.Pos && reg < x.Pos+MSIXCapLen {
		if reg != x.ControlReg() || size != 2 {
			return v, false
		}
		if d != nil {
			d.guestMaskAll = v&MSIXMaskAll != 0
			if d.hostMaskAll {
				v |= MSIXMaskAll
			}
		}
		return v, true
	}
	if d == nil || d.msi == nil || d.msi.maskReg == 0 {
		return v, true
	}
	s := d.msi
	if reg < s.pos || reg >= s.maskReg+8 {
		return v, true
	}
	if reg == s.pos+msiControl {
		return v, size == 2
	}
	if reg != s.maskReg || size != 4 {
		return v, false
	}
	s.guestMasked = v&1 != 0
	if s.hostMasked {
		v |= 1
	}
	return v | ^uint32(0)>>(32-s.maxVec)&^1, true
}

// dev returns bdf's record, making it (the guest's Function Mask as the
// hardware has it) if there is none. Caller holds mu.
func (b *Bus) dev(bdf BDF) *device {
	d := b.devs[bdf]
	if d == nil {
		d = &device{}
		if x, e := ReadMSIXCap(b.reader(bdf)); e == 0 {
			d.guestMaskAll = x.Control&MSIXMaskAll != 0
		}
		b.devs[bdf] = d
	}
	return d
}

// forget drops bdf's record once nothing is in it. Caller holds mu.
func (b *Bus) forget(bdf BDF, d *device) {
	if d.msi == nil && len(d.msix) == 0 && !d.hostMaskAll {
		delete(b.devs, bdf)
	}
}

// memoryDecoded reports the command register's Memory Space bit. Caller
// holds mu.
func (b *Bus) memoryDecoded(bdf BDF) bool {
	return b.read(bdf, RegCommand, 2)&CommandMemory != 0
}

// EnableMSI programs bdf's MSI capability (tableBase 0) or its MSI-X
// table entry entry (the table in the BAR the capability names, at
// tableBase if that BAR reads 0) to send msg, masked, and returns the
// source (Xen's pci_enable_msi with setup_msi_irq's write_msi_msg). As
// with Xen for the hardware domain, the MSI Enable bit is left clear and
// the MSI-X Enable bit as it was: the guest sets them, and the message
// is gohv's. MSI gets one vector. An MSI source of the function is
// turned off by MSI-X and the MSI-X sources are masked by MSI, as Xen
// does when a driver switches. Errors: -ENODEV no such capability,
// -EINVAL entry beyond the table, -EBUSY the capability or entry has a
// source, -ENXIO the function does not decode memory or the table is not
// device memory.
func (b *Bus) EnableMSI(bdf BDF, entry int, tableBase uint64, msg Message) (*Source, abi.Errno) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if tableBase != 0 {
		return b.enableMSIX(bdf, entry, tableBase, msg)
	}
	return b.enableMSI(bdf, msg)
}

// enableMSI is Xen's msi_capability_init with one vector. Caller holds
// mu.
func (b *Bus) enableMSI(bdf BDF, msg Message) (*Source, abi.Errno) {
	c, e := ReadMSICap(b.reader(bdf))
	if e != 0 {
		return nil, e
	}
	d := b.dev(bdf)
	if d.msi != nil {
		return nil, abi.EBUSY
	}
	for _, s := range d.msix {
		b.setMask(d, s, true, s.guestMasked)
	}
	ctl := c.Control &^ (MSIQSize | MSIEnable)
	b.write(bdf, c.ControlReg(), 2, uint32(ctl))
	s := &Source{dev: bdf, pos: c.Pos, maxVec: c.MaxVectors(), msg: msg}
	b.writeMSIMessage(c, s)
	if c.Maskable() {
		s.maskReg, s.hostMasked = c.MaskReg(), true
		b.write(bdf, s.maskReg, 4, b.read(bdf, s.maskReg, 4)|^uint32(0)>>(32-s.maxVec))
	}
	d.msi = s
	return s, 0
}

// enableMSIX is Xen's msix_capability_init for one entry. Caller holds
// mu.
func (b *Bus) enableMSIX(bdf BDF, entry int, tableBase uint64, msg Message) (*Source, abi.Errno) {
	r := b.reader(bdf)
	x, e := ReadMSIXCap(r)
	if e != 0 {
		return nil, e
	}
	if entry < 0 || entry >= x.TableSize() {
		return nil, abi.EINVAL
	}
	d := b.dev(bdf)
	for _, s := range d.msix {
		if s.entry == entry {
			return nil, abi.EBUSY
		}
	}
	if d.msi != nil {
		b.write(bdf, d.msi.pos+msiControl, 2, b.read(bdf, d.msi.pos+msiControl, 2)&^MSIEnable)
	}
	// Enabled and all masked while the entry is written: some functions
	// decode their table only with MSI-X enabled.
	ctl := x.Control
	prevHost := d.hostMaskAll
	d.hostMaskAll = true
	b.write(bdf, x.ControlReg(), 2, uint32(ctl|MSIXEnable|MSIXMaskAll))
	fail := func(e abi.Errno) (*Source, abi.Errno) {
		d.hostMaskAll = prevHost
		b.write(bdf, x.ControlReg(), 2, uint32(ctl&^MSIXEnable))
		b.forget(bdf, d)
		return nil, e
	}
	if !b.memoryDecoded(bdf) {
		return fail(abi.ENXIO)
	}
	base := MemBAR(r, x.TableBIR())
	if base == 0 {
		base = tableBase
	}
	pa := base + uint64(x.TableOffset()) + uint64(entry)*MSIXEntrySize
	s := &Source{dev: bdf, msix: true, pos: x.Pos, entry: entry, entryPA: pa, msg: msg,
		hostMasked: true, guestMasked: true}
	if !b.mem.Write32(pa+MSIXEntryCtrl, MSIXCtrlMasked) || !b.writeMSIXMessage(s) {
		return fail(abi.ENXIO)
	}
	d.msix = append(d.msix, s)
	d.hostMaskAll = prevHost
	b.writeMSIXControl(d, s, ctl)
	return s, 0
}

// writeMSIMessage writes s's message into MSI capability c. Caller holds
// mu.
func (b *Bus) writeMSIMessage(c MSICap, s *Source) {
	b.write(s.dev, c.AddrLoReg(), 4, s.msg.AddrLo)
	if c.Is64() {
		b.write(s.dev, c.AddrHiReg(), 4, s.msg.AddrHi)
	}
	b.write(s.dev, c.DataReg(), 2, s.msg.Data&0xFFFF)
}

// writeMSIXMessage writes s's message into its MSI-X table entry; false:
// the entry is not device memory. Caller holds mu.
func (b *Bus) writeMSIXMessage(s *Source) bool {
	return b.mem.Write32(s.entryPA+MSIXEntryAddrLo, s.msg.AddrLo) &&
		b.mem.Write32(s.entryPA+MSIXEntryAddrHi, s.msg.AddrHi) &&
		b.mem.Write32(s.entryPA+MSIXEntryData, s.msg.Data)
}

// writeMSIXControl writes ctl to s's MSI-X control register with the
// Function Mask set if gohv or the guest holds it. Caller holds mu.
func (b *Bus) writeMSIXControl(d *device, s *Source, ctl uint16) {
	ctl &^= MSIXMaskAll
	if d.hostMaskAll || d.guestMaskAll {
		ctl |= MSIXMaskAll
	}
	b.write(s.dev, s.pos+msixControl, 2, uint32(ctl))
}

// setMask sets s's mask bit to host || guest and records both (Xen's
// msi_set_mask_bit). An MSI without per-vector masking only records
// them. An MSI-X entry of a function with MSI-X disabled is reached with
// it enabled and all masked; when the function does not decode memory,
// the Function Mask stands in for the entry's bit. Caller holds mu.
func (b *Bus) setMask(d *device, s *Source, host, guest bool) {
	flag := uint32(0)
	if host || guest {
		flag = 1
	}
	if !s.msix {
		if s.maskReg != 0 {
			b.write(s.dev, s.maskReg, 4, b.read(s.dev, s.maskReg, 4)&^1|flag)
		}
		s.hostMasked, s.guestMasked = host, guest
		return
	}
	ctl, maskAll := b.openMSIXTable(d, s)
	if b.memoryDecoded(s.dev) {
		b.mem.Write32(s.entryPA+MSIXEntryCtrl, flag)
		b.mem.Read32(s.entryPA + MSIXEntryCtrl) // flush the posted write
		s.hostMasked, s.guestMasked = host, guest
		if ctl&MSIXEnable != 0 {
			return
		}
	} else if flag != 0 && ctl&MSIXMaskAll == 0 {
		maskAll = true
	}
	d.hostMaskAll = maskAll
	b.writeMSIXControl(d, s, ctl)
}

// openMSIXTable makes s's MSI-X table writable (the device reads entry
// writes only with MSI-X Enable set): with Enable clear it sets Enable
// and the Function Mask, so no vector fires meanwhile, and records gohv's
// Function Mask. It returns the control word as it was and gohv's
// Function Mask before, for writeMSIXControl to restore. Caller holds mu.
func (b *Bus) openMSIXTable(d *device, s *Source) (ctl uint16, maskAll bool) {
	ctl = uint16(b.read(s.dev, s.pos+msixControl, 2))
	maskAll = d.hostMaskAll
	if ctl&MSIXEnable == 0 {
		d.hostMaskAll = true
		b.write(s.dev, s.pos+msixControl, 2, uint32(ctl|MSIXEnable|MSIXMaskAll))
	}
	return ctl, maskAll
}

// Start unmasks s for its first guest: gohv's mask and the guest's are
// both cleared (Xen's startup_msi_irq and then arch_evtchn_bind_pirq's
// guest_mask_msi_irq).
func (b *Bus) Start(s *Source) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if d := b.devs[s.dev]; d != nil {
		b.setMask(d, s, false, false)
	}
}

// Stop masks s when its last guest has unbound it (shutdown_msi_irq).
func (b *Bus) Stop(s *Source) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if d := b.devs[s.dev]; d != nil {
		b.setMask(d, s, true, true)
	}
}

// Masked reports gohv's and the guest's mask of s.
func (b *Bus) Masked(s *Source) (host, guest bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return s.hostMasked, s.guestMasked
}

// Disable turns s off and forgets it (Xen's pci_disable_msi): an MSI
// capability's Enable bit is cleared; an MSI-X entry is masked (or, the
// function not decoding memory, the Function Mask set) and the MSI-X
// Enable bit left as the guest set it.
func (b *Bus) Disable(s *Source) {
	b.mu.Lock()
	defer b.mu.Unlock()
	d := b.devs[s.dev]
	if d == nil {
		return
	}
	if !s.msix {
		if d.msi != s {
			return
		}
		b.write(s.dev, s.pos+msiControl, 2, b.read(s.dev, s.pos+msiControl, 2)&^MSIEnable)
		d.msi = nil
		b.forget(s.dev, d)
		return
	}
	i := slices.Index(d.msix, s)
	if i < 0 {
		return
	}
	ctl, maskAll := b.openMSIXTable(d, s)
	if b.memoryDecoded(s.dev) {
		b.mem.Write32(s.entryPA+MSIXEntryCtrl, MSIXCtrlMasked)
	} else if ctl&MSIXMaskAll == 0 {
		maskAll = true
	}
	d.hostMaskAll = maskAll
	b.writeMSIXControl(d, s, ctl)
	d.msix = slices.Delete(d.msix, i, i+1)
	b.forget(s.dev, d)
}

// Dump is s's line of Xen's 'M' debug key (dump_msi) as irq's source:
// type, IRQ, vector, delivery, trigger, level, destination mode and
// redirection from the message, the destination APIC ID, whether it has
// a mask bit, gohv's (H) and the guest's (G) masks, and the mask bit the
// hardware has now ('?': unreadable, an MSI without mask bits or MSI-X
// off or not decoded).
func (b *Bus) Dump(irq int, s *Source) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	typ, hw := "MSI", byte('?')
	switch {
	case s.msix:
		typ = "MSI-X"
		ctl := b.read(s.dev, s.pos+msixControl, 2)
		if v, ok := b.mem.Read32(s.entryPA + MSIXEntryCtrl); ok && ctl&MSIXEnable != 0 && b.memoryDecoded(s.dev) {
			hw = '0' + byte(v&1)
		}
	case s.maskReg != 0:
		hw = '0' + byte(b.read(s.dev, s.maskReg, 4)&1)
	}
	pick := func(bit bool, yes, no string) string {
		if bit {
			return yes
		}
		return no
	}
	d, a := s.msg.Data, s.msg.AddrLo
	mark := func(on bool, c byte) byte {
		if on {
			return c
		}
		return ' '
	}
	maskBit := 0
	if s.Maskable() {
		maskBit = 1
	}
	return fmt.Sprintf(" %-6s%4d vec=%02x%7s%6s%3sassert%5s%7s dest=%08x mask=%d/%c%c/%c",
		typ, irq, d&0xFF, pick(d&(1<<8) != 0, "lowest", "fixed"), pick(d&(1<<15) != 0, "level", "edge"),
		pick(d&msiDataAssert != 0, "", "de"), pick(a&(1<<2) != 0, "log", "phys"),
		pick(a&(1<<3) != 0, "lowest", "cpu"), a>>msiAddrDestShift&0xFF, maskBit,
		mark(s.hostMasked, 'H'), mark(s.guestMasked, 'G'), hw)
}

// Restore writes bdf's sources back after the function lost them (a
// reset), as Xen's pci_restore_msi_state for PHYSDEVOP_restore_msi: the
// MSI capability gets its message and mask bit, then one vector and its
// Enable bit; the MSI-X entries get theirs with MSI-X enabled and all
// masked meanwhile, then the control word read first with MSI-X enabled.
// A function without sources has nothing to restore. Errors: -ENXIO the
// function does not decode memory (MSI-X).
func (b *Bus) Restore(bdf BDF) abi.Errno {
	b.mu.Lock()
	defer b.mu.Unlock()
	d := b.devs[bdf]
	if d == nil {
		return 0
	}
	if s := d.msi; s != nil {
		reg := s.pos + msiControl
		b.write(bdf, reg, 2, b.read(bdf, reg, 2)&^MSIEnable)
		c := MSICap{Pos: s.pos, Control: uint16(b.read(bdf, reg, 2))}
		b.writeMSIMessage(c, s)
		b.setMask(d, s, s.hostMasked, s.guestMasked)
		b.write(bdf, reg, 2, uint32(c.Control&^MSIQSize|MSIEnable))
	}
	if len(d.msix) == 0 {
		return 0
	}
	reg := d.msix[0].pos + msixControl
	ctl := uint16(b.read(bdf, reg, 2))
	b.write(bdf, reg, 2, uint32(ctl|MSIXEnable|MSIXMaskAll))
	if !b.memoryDecoded(bdf) {
		b.write(bdf, reg, 2, uint32(ctl&^MSIXEnable))
		return abi.ENXIO
	}
	for _, s := range d.msix {
		b.writeMSIXMessage(s)
		b.setMask(d, s, s.hostMasked, s.guestMasked)
	}
	b.write(bdf, reg, 2, uint32(ctl|MSIXEnable))
	return 0
}
