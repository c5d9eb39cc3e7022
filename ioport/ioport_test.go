package ioport

import (
	"encoding/binary"
	"reflect"
	"testing"

	"github.com/gohv/gohv/pci"
)

// fakeMetal is a machine with PCI configuration mechanism #1 over a fake
// configuration space, an RTC with 128 CMOS bytes, and other ports that
// record writes and read as 0x5A5A5A5A.
type fakeMetal struct {
	cf8    uint32
	cfg    map[uint16]*[256]byte
	rtcIdx uint8
	cmos   [128]byte
	outs   []access
	ins    []access
}

type access struct {
	port uint16
	size int
	val  uint32
}

func newFakeMetal() *fakeMetal { return &fakeMetal{cfg: map[uint16]*[256]byte{}} }

func (m *fakeMetal) sel() (*[256]byte, int) {
	if m.cf8&cf8Enable == 0 {
		return nil, 0
	}
	return m.cfg[uint16(m.cf8>>8)], int(m.cf8 & 0xFC)
}

func (m *fakeMetal) In(port uint16, size int) uint32 {
	var v uint32 = 0x5A5A5A5A
	switch {
	case port == ConfigAddr && size == 4:
		v = m.cf8
	case port&^3 == ConfigData:
		v = 0xFFFFFFFF
		if c, reg := m.sel(); c != nil {
			var b [4]byte
			copy(b[:], c[reg+int(port&3):])
			v = binary.LittleEndian.Uint32(b[:])
		}
	case port == RTCData:
		v = uint32(m.cmos[m.rtcIdx&0x7F])
	}
	v &= uint32(1<<(8*size) - 1)
	m.ins = append(m.ins, access{port, size, v})
	return v
}

func (m *fakeMetal) Out(port uint16, size int, v uint32) {
	m.outs = append(m.outs, access{port, size, v})
	switch {
	case port == ConfigAddr && size == 4:
		m.cf8 = v
	case port&^3 == ConfigData:
		if c, reg := m.sel(); c != nil {
			for i := 0; i < size; i++ {
				c[reg+int(port&3)+i] = byte(v >> (8 * i))
			}
		}
	case port == RTCIndex:
		m.rtcIdx = uint8(v)
	case port == RTCData:
		m.cmos[m.rtcIdx&0x7F] = byte(v)
	}
}

// device adds bdf with vendor 0x8086 and, when msix is non-zero, an
// MSI capability at 0x40 followed by an MSI-X capability at msix.
func (m *fakeMetal) device(bdf uint16, msix uint8) *[256]byte {
	c := &[256]byte{}
	binary.LittleEndian.PutUint32(c[0:], 0x10008086)
	if msix != 0 {
		c[pci.RegStatus] = pci.StatusCapList
		c[pci.RegCapPtr] = 0x40
		c[0x40], c[0x41] = pci.CapMSI, msix // next
		c[msix], c[msix+1] = pci.CapMSIX, 0
	}
	m.cfg[bdf] = c
	return c
}

const cf8Enable = 1 << 31 // CONFIG_ADDRESS's enable bit

func cf8For(bdf uint16, reg uint8) uint32 { return cf8Enable | uint32(bdf)<<8 | uint32(reg) }

func dom0(m *fakeMetal) *Domain {
	return &Domain{Host: &Host{Metal: m}, Caps: AllBut(Dom0Denied(0x608, 0x3F8, true)), Hardware: true}
}

// TestDom0DeniedIsXensList pins the hardware domain's refused ports to
// Xen 4.17's dom0_setup_permissions and ns16550 list, in order.
func TestDom0DeniedIsXensList(t *testing.T) {
	for _, tc := range []struct {
		pm, uart uint16
		exit     bool
		want     []Range
	}{
		{0x608, 0x3F8, true, []Range{{0x20, 0x21}, {0xA0, 0xA1}, {0x40, 0x43}, {0x61, 0x61},
			{0x92, 0x92}, {0xF0, 0xF0}, {0x608, 0x60B}, {0xCFC, 0xCFF}, {0x3F8, 0x3FF}, {0xF4, 0xF7}}},
		{0, 0x2F8, false, []Range{{0x20, 0x21}, {0xA0, 0xA1}, {0x40, 0x43}, {0x61, 0x61},
			{0x92, 0x92}, {0xF0, 0xF0}, {0xCFC, 0xCFF}, {0x2F8, 0x2FF}}},
		{0xB008, 0, false, []Range{{0x20, 0x21}, {0xA0, 0xA1}, {0x40, 0x43}, {0x61, 0x61},
			{0x92, 0x92}, {0xF0, 0xF0}, {0xB008, 0xB00B}, {0xCFC, 0xCFF}}},
	} {
		if got := Dom0Denied(tc.pm, tc.uart, tc.exit); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Dom0Denied(%#x, %#x, %v) = %v, want %v", tc.pm, tc.uart, tc.exit, got, tc.want)
		}
	}
}

func TestCapsAndDirect(t *testing.T) {
	d := dom0(newFakeMetal())
	for _, tc := range []struct {
		port   uint16
		size   int
		direct bool
	}{
		{0x20, 1, false}, {0x1F, 2, false}, {0x22, 1, true}, {0x40, 1, false}, {0x44, 1, true},
		{0x60, 1, true}, {0x61, 1, false}, {0x64, 1, true}, {0x92, 1, false}, {0xF0, 1, false},
		{0xF1, 1, true}, {0xF4, 1, false}, {0x608, 4, false}, {0x604, 2, true}, {0x606, 4, false},
		{0x70, 1, false}, {0x71, 1, false}, {0x72, 1, true}, {0x6F, 2, false}, {0x6C, 4, true}, {0x6E, 4, false},
		{0xCF8, 4, false}, {0xCF8, 1, true}, {0xCF9, 1, true}, {0xCF8, 2, true},
		{0xCFC, 4, false}, {0xCFE, 1, false}, {0xCF9, 4, false},
		{0x3F8, 1, false}, {0x3FF, 1, false}, {0x400, 1, true}, {0xFFFF, 1, true},
	} {
		if got := d.Direct(tc.port, tc.size); got != tc.direct {
			t.Errorf("Direct(%#x, %d) = %v, want %v", tc.port, tc.size, got, tc.direct)
		}
	}
	if !d.Caps.Allows(0x70, 0x71) {
		t.Error("dom0's capability lacks the RTC ports (Xen mediates them, it does not deny them)")
	}
	if (Ranges{}).Allows(0x80, 0x80) || (Ranges{{0x10, 0x1F}, {0x20, 0x2F}}).Allows(0x1E, 0x30) ||
		!(Ranges{{0x10, 0x1F}, {0x20, 0x2F}}).Allows(0x1E, 0x21) {
		t.Error("Ranges.Allows")
	}
}

func TestPCIConfigThroughCF8(t *testing.T) {
	m := newFakeMetal()
	c := m.device(0x0008, 0) // 00:01.0
	c[0x3C] = 0x0B
	d := dom0(m)
	d.Write(ConfigAddr, 4, cf8For(0x0008, 0x00))
	if got := d.Read(ConfigAddr, 4); got != cf8For(0x0008, 0) {
		t.Fatalf("CONFIG_ADDRESS reads %#x", got)
	}
	if m.cf8 != 0 {
		t.Fatalf("the latch write reached the hardware: cf8 %#x", m.cf8)
	}
	if got := d.Read(ConfigData, 4); got != 0x10008086 {
		t.Fatalf("vendor/device dword %#x", got)
	}
	if got := d.Read(ConfigData+2, 2); got != 0x1000 {
		t.Fatalf("device ID word %#x", got)
	}
	// A dword at 0xCFD: three bytes of CONFIG_DATA (a word, then a
	// byte), then port 0xD00, which a split access does not reach (all
	// ones, as Xen's guest_io_read).
	if got := d.Read(ConfigData+1, 4); got != 0xFF100080 {
		t.Fatalf("dword at 0xCFD %#x", got)
	}
	d.Write(ConfigAddr, 4, cf8For(0x0008, 0x3C))
	d.Write(ConfigData, 1, 0x05)
	if c[0x3C] != 0x05 {
		t.Fatalf("interrupt line %#x after dom0's write", c[0x3C])
	}
	// Another domain shares the machine's CONFIG_ADDRESS but not the
	// latch, and reaches no configuration space.
	u := &Domain{Host: d.Host}
	u.Write(ConfigAddr, 4, cf8For(0x0008, 0))
	if got := u.Read(ConfigData, 4); got != 0xFFFFFFFF {
		t.Fatalf("domU reads configuration %#x", got)
	}
	u.Write(ConfigData, 1, 0x77)
	if c[0] != 0x86 {
		t.Fatal("domU wrote configuration space")
	}
	if got := d.Read(ConfigAddr, 4); got != cf8For(0x0008, 0x3C) {
		t.Fatalf("dom0's latch %#x after domU's", got)
	}
	// No device: all ones.
	d.Write(ConfigAddr, 4, cf8For(0x0100, 0))
	if got := d.Read(ConfigData, 4); got != 0xFFFFFFFF {
		t.Fatalf("absent device reads %#x", got)
	}
}

func TestMSIXCapabilityWrites(t *testing.T) {
	m := newFakeMetal()
	c := m.device(0x0010, 0x50)
	d := dom0(m)
	for _, tc := range []struct {
		reg   uint8
		port  uint16
		size  int
		val   uint32
		wrote bool
	}{
		{0x50, ConfigData + 2, 2, 0xC000, true}, // Message Control word
		{0x50, ConfigData + 2, 1, 0x40, false},  // a byte of it
		{0x50, ConfigData, 4, 0x80000011, false},
		{0x54, ConfigData, 4, 0x1234, false}, // table offset/BIR
		{0x58, ConfigData, 4, 0x1234, false}, // PBA offset/BIR
		{0x5C, ConfigData, 4, 0xAABBCCDD, true},
		{0x40, ConfigData + 2, 2, 0x0001, true}, // MSI control: Xen set no MSI up
		{0x04, ConfigData, 2, 0x0006, true},
	} {
		before := *c
		d.Write(ConfigAddr, 4, cf8For(0x0010, tc.reg))
		d.Write(tc.port, tc.size, tc.val)
		changed := *c != before
		if changed != tc.wrote {
			t.Errorf("write %#x of %d bytes at reg %#x+%d: written %v, want %v", tc.val, tc.size, tc.reg, tc.port&3, changed, tc.wrote)
		}
	}
}

func TestRTCMediation(t *testing.T) {
	m := newFakeMetal()
	m.cmos[0x0B] = 0x02
	d := dom0(m)
	d.Write(RTCIndex, 1, 0x8B) // NMI off, register B
	if got := d.Read(RTCIndex, 1); got != 0x8B {
		t.Fatalf("index latch reads %#x", got)
	}
	if len(m.outs) != 0 {
		t.Fatalf("the index write reached the hardware: %v", m.outs)
	}
	if got := d.Read(RTCData, 1); got != 0x02 {
		t.Fatalf("register B reads %#x", got)
	}
	if m.rtcIdx != 0x0B {
		t.Fatalf("hardware index %#x: the NMI bit must be cleared", m.rtcIdx)
	}
	d.Write(RTCData, 1, 0x06)
	if m.cmos[0x0B] != 0x06 {
		t.Fatalf("register B %#x after dom0's write", m.cmos[0x0B])
	}
	// A word access at 0x70 is the index then the data byte.
	d.Write(RTCIndex, 2, 0x1100|0x0B)
	if m.cmos[0x0B] != 0x11 || d.Read(RTCIndex, 1) != 0x0B {
		t.Fatalf("word write: register B %#x", m.cmos[0x0B])
	}
	// A domain without the capability keeps its own index, reaches no
	// RTC data.
	u := &Domain{Host: d.Host}
	u.Write(RTCIndex, 1, 0x0C)
	if u.Read(RTCIndex, 1) != 0x0C || d.Read(RTCIndex, 1) != 0x0B {
		t.Fatal("RTC index latches are not per domain")
	}
	if got := u.Read(RTCData, 1); got != 0xFF {
		t.Fatalf("domU reads RTC data %#x", got)
	}
	u.Write(RTCData, 1, 0)
	if m.cmos[0x0C] != 0 || m.cmos[0x0B] != 0x11 {
		t.Fatal("domU wrote the RTC")
	}
}

func TestDeniedAndDirect(t *testing.T) {
	m := newFakeMetal()
	d := dom0(m)
	if got := d.Read(0x21, 1); got != 0xFF {
		t.Fatalf("PIC mask reads %#x", got)
	}
	if got := d.Read(0x3F8, 2); got != 0xFFFF {
		t.Fatalf("UART reads %#x", got)
	}
	d.Write(0x20, 1, 0x20)
	d.Write(0x3F8, 1, 'x')
	d.Write(0x92, 1, 1)
	if len(m.outs) != 0 {
		t.Fatalf("denied writes reached the hardware: %v", m.outs)
	}
	if got := d.Read(0x80, 1); got != 0x5A {
		t.Fatalf("port 0x80 reads %#x", got)
	}
	d.Write(0xCF9, 1, 0x06)
	if want := []access{{0xCF9, 1, 6}}; !reflect.DeepEqual(m.outs, want) {
		t.Fatalf("byte write to 0xCF9: %v", m.outs)
	}
}

// The hardware domain reaches PIT channel 2 and port B as Xen's
// hwdom_pit_access passes them through; another domain, or a host whose
// PIT is in use, does not.
func TestPITChannel2(t *testing.T) {
	m := newFakeMetal()
	d := dom0(m)
	if got := d.Read(PITCh2, 1); got != 0x5A {
		t.Fatalf("channel 2 reads %#x, want the hardware's 0x5a", got)
	}
	if got := d.Read(PortB, 1); got != 0x5A {
		t.Fatalf("port B reads %#x, want the hardware's 0x5a", got)
	}
	if got := d.Read(PITMode, 1); got != 0xFF {
		t.Fatalf("the mode port reads %#x, want all ones", got)
	}
	m.ins = nil
	for _, w := range []struct {
		port uint16
		val  uint32
	}{
		{PITMode, 0xB0}, // counter 2, LSB then MSB, mode 0: passed
		{PITCh2, 0xFF},
		{PITCh2, 0x12},
		{PITMode, 0x30}, // counter 0: dropped
		{PITMode, 0x40}, // counter 1: dropped
		{PITMode, 0xCF}, // read back, all channels and bit 0: channel 2's part only
		{PITMode, 0xC6}, // read back, channels 0 and 1: dropped
		{PortB, 0xFD},   // only the gate and speaker bits: 0x5a &^ 3 | 1
	} {
		d.Write(w.port, 1, w.val)
	}
	want := []access{{PITMode, 1, 0xB0}, {PITCh2, 1, 0xFF}, {PITCh2, 1, 0x12}, {PITMode, 1, 0xC8}, {PortB, 1, 0x59}}
	if !reflect.DeepEqual(m.outs, want) {
		t.Fatalf("writes reached the hardware as %v, want %v", m.outs, want)
	}
	if want := []access{{PortB, 1, 0x5A}}; !reflect.DeepEqual(m.ins, want) {
		t.Fatalf("reads of the hardware %v, want port B's read-modify-write %v", m.ins, want)
	}

	// A word access is done a byte at a time: channel 2, then the mode port.
	if got := d.Read(PITCh2, 2); got != 0xFF5A {
		t.Fatalf("word read at 0x42 = %#x, want 0xff5a", got)
	}

	for name, d := range map[string]*Domain{
		"domU":       {Host: &Host{Metal: m}, Caps: AllBut(Dom0Denied(0, 0x3F8, false))},
		"PIT in use": {Host: &Host{Metal: m, PITInUse: true}, Caps: AllBut(Dom0Denied(0, 0x3F8, false)), Hardware: true},
	} {
		m.outs, m.ins = nil, nil
		if got := d.Read(PITCh2, 1); got != 0xFF {
			t.Errorf("%s: channel 2 reads %#x, want all ones", name, got)
		}
		d.Write(PITMode, 1, 0xB0)
		d.Write(PortB, 1, 1)
		if len(m.outs)+len(m.ins) != 0 {
			t.Errorf("%s: reached the hardware: outs %v ins %v", name, m.outs, m.ins)
		}
	}
}
