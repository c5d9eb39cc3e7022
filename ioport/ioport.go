package ioport

import (
	"fmt"
	"sync"

	"github.com/gohv/gohv/pci"
)

// Port numbers gohv mediates.
const (
	RTCIndex   uint16 = 0x70  // RTC_PORT(0): CMOS index, bit 7 the NMI mask
	RTCData    uint16 = 0x71  // RTC_PORT(1)
	ConfigAddr uint16 = 0xCF8 // PCI CONFIG_ADDRESS (dword accesses only)
	ConfigData uint16 = 0xCFC // PCI CONFIG_DATA, 0xCFC-0xCFF
	PITCh2     uint16 = 0x42  // PIT channel 2's counter
	PITMode    uint16 = 0x43  // PIT mode/command (write-only)
	PortB      uint16 = 0x61  // system control port B: bit 0 PIT channel 2's gate, bit 1 the speaker
)

// Range is the inclusive port range [First, Last].
type Range struct{ First, Last uint16 }

func (r Range) String() string { return fmt.Sprintf("%#x-%#x", r.First, r.Last) }

// Ranges is a domain's I/O-port capability: the ports it may reach.
// Built once at domain creation; read-only afterwards.
type Ranges []Range

// Allows reports whether every port of [first, last] is in the set
// (Xen's ioports_access_permitted); the ranges need not be merged.
func (rs Ranges) Allows(first, last uint32) bool {
	for p := first; p <= last; {
		next := p
		for _, r := range rs {
			if p >= uint32(r.First) && p <= uint32(r.Last) {
				next = uint32(r.Last) + 1
				break
			}
		}
		if next == p {
			return false
		}
		p = next
	}
	return true
}

// AllBut is every port but those in deny.
func AllBut(deny []Range) Ranges {
	out := Ranges{}
	next := uint32(0)
	for p := uint32(0); p <= 0xFFFF; p++ {
		denied := false
		for _, d := range deny {
			if p >= uint32(d.First) && p <= uint32(d.Last) {
				denied = true
				break
			}
		}
		if denied {
			if next < p {
				out = append(out, Range{uint16(next), uint16(p - 1)})
			}
			next = p + 1
		}
	}
	if next <= 0xFFFF {
		out = append(out, Range{uint16(next), 0xFFFF})
	}
	return out
}

// Dom0Denied is the list of ports the hardware domain may not reach, in
// Xen 4.17's order: dom0_setup_permissions' master and slave 8259 PICs,
// the PIT, port 0x61 (PIT channel 2 gate, speaker), 0x92 (INIT# and
// A20M#), 0xF0 (IGNNE#), the ACPI PM timer (pmTimer, its four ports;
// 0 when the FADT names none), PCI CONFIG_DATA 0xCFC-0xCFF (0xCF8 is
// mediated for dword accesses and left to dom0 for the others), then the
// serial console's eight ports (ns16550's endboot hook); and last gohv's
// own: QEMU's isa-debug-exit ports 0xF4-0xF7 when debugExit is set. The
// RTC ports stay in the capability: Read and Write mediate them.
func Dom0Denied(pmTimer, uart uint16, debugExit bool) []Range {
	d := []Range{{0x20, 0x21}, {0xA0, 0xA1}, {0x40, 0x43}, {0x61, 0x61},
		{0x92, 0x92}, {0xF0, 0xF0}}
	if pmTimer != 0 {
		d = append(d, Range{pmTimer, pmTimer + 3})
	}
	d = append(d, Range{0xCFC, 0xCFF})
	if uart != 0 {
		d = append(d, Range{uart, uart + 7})
	}
	if debugExit {
		d = append(d, Range{0xF4, 0xF7})
	}
	return d
}

// Metal performs physical port accesses of size 1, 2 or 4.
type Metal interface {
	In(port uint16, size int) uint32
	Out(port uint16, size int, val uint32)
}

// Host is the machine's port hardware, shared by every domain.
type Host struct {
	Metal Metal
	// PCI is configuration space, which CONFIG_DATA accesses reach with
	// the domain's latched CONFIG_ADDRESS (its lock keeps the pair
	// together, and it applies Xen's MSI and MSI-X write intercept). Nil:
	// a Bus over Metal with no device memory, made at the first access.
	PCI *pci.Bus

	// PITInUse says the hypervisor drives PIT channel 2 while domains
	// run (Xen's using_pit: its platform timer): the hardware domain
	// then does not reach it. gohv uses the PIT only to calibrate its
	// clocks before any domain exists.
	PITInUse bool

	pciOnce sync.Once
	// mu is held across an RTC index write and its data access: one
	// machine-wide register selection (Xen's rtc_lock); and across port
	// B's read-modify-write.
	mu sync.Mutex
}

// bus returns h.PCI, made over Metal if it was not given.
func (h *Host) bus() *pci.Bus {
	h.pciOnce.Do(func() {
		if h.PCI == nil {
			h.PCI = pci.NewBus(h.Metal, noDeviceMemory{})
		}
	})
	return h.PCI
}

// noDeviceMemory is the device memory of a Host given no Bus: none.
type noDeviceMemory struct{}

func (noDeviceMemory) Read32(uint64) (uint32, bool) { return 0, false }
func (noDeviceMemory) Write32(uint64, uint32) bool  { return false }

func (h *Host) rtcRead(idx uint8) uint32 {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.Metal.Out(RTCIndex, 1, uint32(idx))
	return h.Metal.In(RTCData, 1)
}

func (h *Host) rtcWrite(idx uint8, v uint32) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.Metal.Out(RTCIndex, 1, uint32(idx))
	h.Metal.Out(RTCData, 1, v)
}

// pitRead and pitWrite are the hardware domain's accesses to PIT channel
// 2 and port B, as Xen's hwdom_pit_access passes them to the hardware
// when it does not use the PIT itself: channel 2's counter both ways,
// mode writes that select counter 2 or read back channel 2 alone (a
// read-back naming channel 0 or 1 is sent for channel 2 only; Xen's
// emulated channels 0 and 1 are not modelled, so their part and other
// mode writes are dropped), and port B with only its gate and speaker
// bits writable. Reads of the mode port are all ones. ok false: the
// access is not served here.
func (h *Host) pitRead(port uint16) (uint32, bool) {
	if h.PITInUse {
		return 0, false
	}
	switch port {
	case PITCh2, PortB:
		return h.Metal.In(port, 1) & 0xFF, true
	}
	return 0, false
}

func (h *Host) pitWrite(port uint16, v uint8) bool {
	if h.PITInUse {
		return false
	}
	switch port {
	case PITCh2:
		h.Metal.Out(PITCh2, 1, uint32(v))
	case PITMode:
		const readBack, counter2 = 0xC0, 0x80
		const rbCh2, rbCh1, rbCh0, rbReserved = 0x08, 0x04, 0x02, 0x01
		switch v & 0xC0 {
		case readBack:
			if v&rbCh2 != 0 {
				h.Metal.Out(PITMode, 1, uint32(v&^(rbCh1|rbCh0|rbReserved)))
			}
		case counter2:
			h.Metal.Out(PITMode, 1, uint32(v))
		}
	case PortB:
		h.mu.Lock()
		h.Metal.Out(PortB, 1, h.Metal.In(PortB, 1)&^3|uint32(v&3))
		h.mu.Unlock()
	default:
		return false
	}
	return true
}

// Domain is one domain's port I/O as the hypervisor sees it. Read and
// Write are called from the domain's vCPUs; the latches are guarded by
// mu (Xen leaves them unguarded: a domain racing its own vCPUs gets
// either value, as here).
type Domain struct {
	Host *Host
	// Caps is the domain's I/O-port capability (nil: none).
	Caps Ranges
	// Hardware marks the hardware domain: the only one that reaches PCI
	// configuration space.
	Hardware bool

	mu      sync.Mutex
	cf8     uint32
	cmosIdx uint8
}

// Direct reports whether an access of size bytes at port goes straight
// to the hardware (Xen's admin_io_okay): the capability allows it, it is
// not a dword CONFIG_ADDRESS access, and it touches no RTC port (Xen
// 4.17's is_cmos_io).
func (d *Domain) Direct(port uint16, size int) bool {
	if port == ConfigAddr && size == 4 {
		return false
	}
	if uint32(port) <= uint32(RTCData) && uint32(port)+uint32(size) > uint32(RTCIndex) {
		return false
	}
	return d.Caps.Allows(uint32(port), uint32(port)+uint32(size)-1)
}

// Read is the value the domain reads from port (size 1, 2 or 4), as
// Xen's guest_io_read: unmediated ports the domain may not reach read as
// all ones.
func (d *Domain) Read(port uint16, size int) uint32 {
	if d.Direct(port, size) {
		return d.Host.Metal.In(port, size)
	}
	var data uint32
	shift := 0
	for size > 0 {
		n := 1
		sub := ^uint32(0)
		switch {
		case (port == PITCh2 || port == PortB) && d.Hardware:
			if v, ok := d.Host.pitRead(port); ok {
				sub = v
			}
		case port == RTCIndex:
			d.mu.Lock()
			sub = uint32(d.cmosIdx)
			d.mu.Unlock()
		case port == RTCData:
			if d.Caps.Allows(uint32(RTCIndex), uint32(RTCData)) {
				d.mu.Lock()
				idx := d.cmosIdx & 0x7F
				d.mu.Unlock()
				sub = d.Host.rtcRead(idx)
			}
		case port == ConfigAddr && size == 4:
			n = 4
			d.mu.Lock()
			sub = d.cf8
			d.mu.Unlock()
		case port&^3 == ConfigData:
			n = confSize(port, size)
			d.mu.Lock()
			cf8 := d.cf8
			d.mu.Unlock()
			if d.Hardware {
				sub = d.Host.bus().GuestRead(cf8, port&3, n)
			}
		}
		if n == 4 {
			return sub
		}
		data |= (sub & (1<<(8*n) - 1)) << shift
		shift += 8 * n
		port += uint16(n)
		size -= n
	}
	return data
}

// confSize is the part of an access at port that falls in CONFIG_DATA:
// up to its end, a 3-byte remainder done as 2 (Xen's split).
func confSize(port uint16, size int) int {
	n := min(size, 4-int(port&3))
	if n == 3 {
		n = 2
	}
	return n
}

// Write performs the domain's write of val to port (size 1, 2 or 4), as
// Xen's guest_io_write: writes to unmediated ports the domain may not
// reach are dropped.
func (d *Domain) Write(port uint16, size int, val uint32) {
	if d.Direct(port, size) {
		d.Host.Metal.Out(port, size, val)
		return
	}
	for size > 0 {
		n := 1
		switch {
		case (port == PITCh2 || port == PITMode || port == PortB) && d.Hardware:
			d.Host.pitWrite(port, uint8(val))
		case port == RTCIndex:
			d.mu.Lock()
			d.cmosIdx = uint8(val)
			d.mu.Unlock()
		case port == RTCData:
			if d.Caps.Allows(uint32(RTCIndex), uint32(RTCData)) {
				d.mu.Lock()
				idx := d.cmosIdx & 0x7F
				d.mu.Unlock()
				d.Host.rtcWrite(idx, val&0xFF)
			}
		case port == ConfigAddr && size == 4:
			n = 4
			d.mu.Lock()
			d.cf8 = val
			d.mu.Unlock()
		case port&^3 == ConfigData:
			n = confSize(port, size)
			d.mu.Lock()
			cf8 := d.cf8
			d.mu.Unlock()
			v := val & (1<<(8*n) - 1)
			if d.Hardware {
				d.Host.bus().GuestWrite(cf8, port&3, n, v)
			}
		}
		if n == 4 {
			return
		}
		port += uint16(n)
		size -= n
		val >>= 8 * n
	}
}
