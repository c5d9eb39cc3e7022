package pci

import (
	"encoding/binary"
	"testing"

	"github.com/gohv/gohv/abi"
)

// fakePorts is mechanism #1 over configuration-space images: absent
// functions read as all ones and drop writes.
type fakePorts struct {
	cf8  uint32
	fns  map[BDF]*[256]byte
	outs int // CONFIG_DATA writes
}

func (p *fakePorts) fn() *[256]byte {
	if p.cf8&cf8Enable == 0 {
		return nil
	}
	return p.fns[BDF(p.cf8>>8)]
}

func (p *fakePorts) In(port uint16, size int) uint32 {
	if port == ConfigAddr && size == 4 {
		return p.cf8
	}
	f := p.fn()
	if port&^3 != ConfigData || f == nil {
		return 1<<(8*size) - 1
	}
	reg := int(p.cf8&0xFC) + int(port&3)
	v := uint32(0)
	for i := size - 1; i >= 0; i-- {
		v = v<<8 | uint32(f[reg+i])
	}
	return v
}

func (p *fakePorts) Out(port uint16, size int, v uint32) {
	if port == ConfigAddr && size == 4 {
		p.cf8 = v
		return
	}
	f := p.fn()
	if port&^3 != ConfigData || f == nil {
		return
	}
	p.outs++
	reg := int(p.cf8&0xFC) + int(port&3)
	for i := 0; i < size; i++ {
		f[reg+i] = byte(v >> (8 * i))
	}
}

// fakeMem is device memory in [lo, hi), dwords by address.
type fakeMem struct {
	lo, hi uint64
	w      map[uint64]uint32
}

func (m *fakeMem) ok(pa uint64) bool { return pa >= m.lo && pa+4 <= m.hi && pa&3 == 0 }

func (m *fakeMem) Read32(pa uint64) (uint32, bool) {
	if !m.ok(pa) {
		return 0, false
	}
	return m.w[pa], true
}

func (m *fakeMem) Write32(pa uint64, v uint32) bool {
	if !m.ok(pa) {
		return false
	}
	m.w[pa] = v
	return true
}

// image builds a function's header: vendor 0x1AF4, the capability list
// bit when caps are given, BARs, then each capability (offset, bytes) with
// its next pointer chained in order.
type capAt struct {
	pos  uint8
	body []byte // from the ID on; the next pointer is filled in
}

func image(bars [6]uint32, caps ...capAt) *[256]byte {
	var f [256]byte
	binary.LittleEndian.PutUint16(f[0:], 0x1AF4)
	binary.LittleEndian.PutUint16(f[RegCommand:], CommandMemory)
	for i, b := range bars {
		binary.LittleEndian.PutUint32(f[RegBAR0+4*i:], b)
	}
	if len(caps) > 0 {
		f[RegStatus] |= StatusCapList
		f[RegCapPtr] = caps[0].pos
	}
	for i, c := range caps {
		copy(f[c.pos:], c.body)
		if i+1 < len(caps) {
			f[c.pos+1] = caps[i+1].pos
		} else {
			f[c.pos+1] = 0
		}
	}
	return &f
}

func le16(v uint16) []byte { return binary.LittleEndian.AppendUint16(nil, v) }
func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// msixCap is an MSI-X capability: n entries, table at BAR bir + off, PBA
// at BAR pbir + poff.
func msixCap(n int, ctl uint16, bir uint8, off uint32, pbir uint8, poff uint32) []byte {
	return cat([]byte{CapMSIX, 0}, le16(uint16(n-1)|ctl), le32(off|uint32(bir)), le32(poff|uint32(pbir)))
}

// msiCap is an MSI capability with control ctl (its size follows the
// 64-bit and mask bits).
func msiCap(ctl uint16) []byte {
	n := 10
	if ctl&MSI64Bit != 0 {
		n += 4
	}
	if ctl&MSIPerVecMask != 0 {
		n += 10
	}
	return cat([]byte{CapMSI, 0}, le16(ctl), make([]byte, n-4))
}

func reader(f *[256]byte) Reader {
	return func(reg uint16) uint32 { return binary.LittleEndian.Uint32(f[reg&0xFC:]) }
}

func TestFindCap(t *testing.T) {
	pm := cat([]byte{0x01, 0}, make([]byte, 6)) // power management
	good := image([6]uint32{}, capAt{0x40, pm}, capAt{0x50, msiCap(MSI64Bit)}, capAt{0x98, msixCap(4, 0, 1, 0, 1, 0x800)})
	loop := image([6]uint32{}, capAt{0x40, pm}, capAt{0x50, pm})
	loop[0x51] = 0x40 // 0x40 -> 0x50 -> 0x40 ...
	self := image([6]uint32{}, capAt{0x60, pm})
	self[0x61] = 0x60
	noList := image([6]uint32{}, capAt{0x40, msiCap(0)})
	noList[RegStatus] &^= StatusCapList
	lowPtr := image([6]uint32{}, capAt{0x40, pm})
	lowPtr[0x41] = 0x3C
	unaligned := image([6]uint32{}, capAt{0x40, pm}, capAt{0x70, msiCap(0)})
	unaligned[0x41] = 0x73 // the low bits are ignored
	ffID := image([6]uint32{}, capAt{0x40, cat([]byte{0xFF, 0x50})}, capAt{0x50, msiCap(0)})
	var absent [256]byte
	for i := range absent {
		absent[i] = 0xFF
	}
	for _, tc := range []struct {
		name string
		f    *[256]byte
		id   uint8
		pos  uint16
		e    abi.Errno
	}{
		{"msi", good, CapMSI, 0x50, 0},
		{"msix", good, CapMSIX, 0x98, 0},
		{"first", good, 0x01, 0x40, 0},
		{"missing", good, 0x10, 0, abi.ENODEV},
		{"loop", loop, CapMSI, 0, abi.ENODEV},
		{"self-loop", self, CapMSI, 0, abi.ENODEV},
		{"no list", noList, CapMSI, 0, abi.ENODEV},
		{"pointer below 0x40", lowPtr, CapMSI, 0, abi.ENODEV},
		{"unaligned pointer", unaligned, CapMSI, 0x70, 0},
		{"ID 0xFF ends", ffID, CapMSI, 0, abi.ENODEV},
		{"absent", &absent, CapMSI, 0, abi.ENODEV},
	} {
		pos, e := FindCap(reader(tc.f), tc.id)
		if pos != tc.pos || e != tc.e {
			t.Errorf("%s: FindCap(%#x) = %#x, %v, want %#x, %v", tc.name, tc.id, pos, e, tc.pos, tc.e)
		}
	}
}

func TestCapLayout(t *testing.T) {
	for _, tc := range []struct {
		ctl                      uint16
		addrHi, data, mask, pend uint16
		is64, maskable           bool
		maxVec                   int
	}{
		{0, 0x58, 0x58, 0x5C, 0x60, false, false, 1},
		{MSI64Bit, 0x58, 0x5C, 0x60, 0x64, true, false, 1},
		{MSI64Bit | MSIPerVecMask | 3<<1, 0x58, 0x5C, 0x60, 0x64, true, true, 8},
		{MSIPerVecMask | 5<<1, 0x58, 0x58, 0x5C, 0x60, false, true, 32},
		{7 << 1, 0x58, 0x58, 0x5C, 0x60, false, false, 32}, // reserved encoding
	} {
		c := MSICap{Pos: 0x50, Control: tc.ctl}
		if c.AddrLoReg() != 0x54 || c.AddrHiReg() != tc.addrHi || c.DataReg() != tc.data ||
			c.MaskReg() != tc.mask || c.PendingReg() != tc.pend || c.Is64() != tc.is64 ||
			c.Maskable() != tc.maskable || c.MaxVectors() != tc.maxVec || c.ControlReg() != 0x52 {
			t.Errorf("MSI control %#x: addr %#x/%#x data %#x mask %#x pending %#x 64 %v maskable %v max %d",
				tc.ctl, c.AddrLoReg(), c.AddrHiReg(), c.DataReg(), c.MaskReg(), c.PendingReg(), c.Is64(), c.Maskable(), c.MaxVectors())
		}
	}
	x, e := ReadMSIXCap(reader(image([6]uint32{}, capAt{0x98, msixCap(2048, MSIXEnable, 4, 0x3000, 5, 0x801)})))
	if e != 0 || x.Pos != 0x98 || x.ControlReg() != 0x9A || x.TableSize() != 2048 || x.TableBIR() != 4 ||
		x.TableOffset() != 0x3000 || x.PBABIR() != 5 || x.PBAOffset() != 0x800 || x.Control&MSIXEnable == 0 {
		t.Errorf("ReadMSIXCap = %+v, %v", x, e)
	}
}

func TestMemBAR(t *testing.T) {
	f := image([6]uint32{0xC001, 0xFEB00000, 0xE000000C, 0x1, 0x8000000C, 0})
	for _, tc := range []struct {
		bir  uint8
		want uint64
	}{
		{0, 0},            // I/O BAR
		{1, 0xFEB00000},   // 32-bit memory
		{2, 0x1_E0000000}, // 64-bit, upper half in BAR 3
		{4, 0x80000000},   // 64-bit, upper half 0
		{6, 0},            // no BAR 6
	} {
		if got := MemBAR(reader(f), tc.bir); got != tc.want {
			t.Errorf("MemBAR(%d) = %#x, want %#x", tc.bir, got, tc.want)
		}
	}
	f[RegHeaderType] = 1 // a bridge has BARs 0 and 1
	if got := MemBAR(reader(f), 2); got != 0 {
		t.Errorf("bridge MemBAR(2) = %#x, want 0", got)
	}
	f[RegBAR0+4] = 0x0C // BAR 1 64-bit, its upper half would be BAR 2
	if got := MemBAR(reader(f), 1); got != 0 {
		t.Errorf("bridge 64-bit MemBAR(1) = %#x, want 0", got)
	}
	f[RegHeaderType] = 0x7F
	if got := MemBAR(reader(f), 1); got != 0 {
		t.Errorf("unknown header MemBAR = %#x, want 0", got)
	}
}

func TestCompose(t *testing.T) {
	for _, tc := range []struct {
		dest, vec uint8
		want      Message
	}{
		{0, 0x30, Message{AddrLo: 0xFEE00000, Data: 0x4030}},
		{5, 0x6F, Message{AddrLo: 0xFEE05000, Data: 0x406F}},
		{0xFF, 0x31, Message{AddrLo: 0xFEEFF000, Data: 0x4031}},
	} {
		if got := Compose(tc.dest, tc.vec); got != tc.want {
			t.Errorf("Compose(%d, %#x) = %+v, want %+v", tc.dest, tc.vec, got, tc.want)
		}
	}
}

const (
	msixBDF = BDF(0x0020) // 00:04.0
	msiBDF  = BDF(0x00F8) // 00:1f.0
	barMSIX = 0xFEBD1000
)

// testBus has an MSI-X function (4 entries, table in BAR 1 at 0x000,
// PBA at 0x800) and an MSI function (64-bit, per-vector masking, 4
// vectors), with device memory over BAR 1's page.
func testBus(msiCtl uint16) (*Bus, *fakePorts, *fakeMem) {
	p := &fakePorts{fns: map[BDF]*[256]byte{
		msixBDF: image([6]uint32{0xC041, barMSIX}, capAt{0x40, cat([]byte{0x09, 0}, make([]byte, 6))},
			capAt{0x98, msixCap(4, 0, 1, 0, 1, 0x800)}),
		msiBDF: image([6]uint32{}, capAt{0x80, msiCap(msiCtl)}),
	}}
	m := &fakeMem{lo: barMSIX, hi: barMSIX + 0x1000, w: map[uint64]uint32{}}
	return NewBus(p, m), p, m
}

func (p *fakePorts) get(bdf BDF, reg uint16, size int) uint32 {
	f := p.fns[bdf]
	v := uint32(0)
	for i := size - 1; i >= 0; i-- {
		v = v<<8 | uint32(f[int(reg)+i])
	}
	return v
}

func TestMSIXEntry(t *testing.T) {
	b, p, m := testBus(0)
	msg := Compose(0, 0x31)
	// Linux's msix_capability_init: MSI-X enabled and all masked, then
	// map_pirq for entry 2.
	if !b.GuestWrite(cf8(msixBDF, 0x98), 2, 2, uint32(MSIXEnable|MSIXMaskAll|3)) {
		t.Fatal("control write refused")
	}
	s, e := b.EnableMSI(msixBDF, 2, barMSIX, msg)
	if e != 0 {
		t.Fatalf("EnableMSI: %v", e)
	}
	pa := uint64(barMSIX + 2*MSIXEntrySize)
	if m.w[pa] != msg.AddrLo || m.w[pa+4] != 0 || m.w[pa+8] != msg.Data || m.w[pa+12] != MSIXCtrlMasked {
		t.Errorf("entry 2 = %#x %#x %#x %#x", m.w[pa], m.w[pa+4], m.w[pa+8], m.w[pa+12])
	}
	if !s.Maskable() || s.Message() != msg {
		t.Errorf("source maskable %v message %+v", s.Maskable(), s.Message())
	}
	if got := p.get(msixBDF, 0x9A, 2); got != MSIXEnable|MSIXMaskAll|3 {
		t.Errorf("control after EnableMSI = %#x, want the guest's %#x", got, MSIXEnable|MSIXMaskAll|3)
	}
	if _, e := b.EnableMSI(msixBDF, 2, barMSIX, msg); e != abi.EBUSY {
		t.Errorf("entry 2 again: %v, want EBUSY", e)
	}
	if _, e := b.EnableMSI(msixBDF, 4, barMSIX, msg); e != abi.EINVAL {
		t.Errorf("entry 4 of 4: %v, want EINVAL", e)
	}
	if _, e := b.EnableMSI(msiBDF, 0, barMSIX, msg); e != abi.ENODEV {
		t.Errorf("MSI-X on a function without it: %v, want ENODEV", e)
	}
	// The guest clears the Function Mask; its first guest binds it.
	b.GuestWrite(cf8(msixBDF, 0x98), 2, 2, uint32(MSIXEnable|3))
	b.Start(s)
	if m.w[pa+12] != 0 {
		t.Errorf("vector control after Start = %d, want 0", m.w[pa+12])
	}
	if h, g := b.Masked(s); h || g {
		t.Errorf("Masked after Start = %v, %v", h, g)
	}
	b.Stop(s)
	if m.w[pa+12] != MSIXCtrlMasked {
		t.Errorf("vector control after Stop = %d, want 1", m.w[pa+12])
	}
	b.Start(s)
	b.Disable(s)
	if m.w[pa+12] != MSIXCtrlMasked {
		t.Errorf("vector control after Disable = %d, want 1", m.w[pa+12])
	}
	if got := p.get(msixBDF, 0x9A, 2); got != MSIXEnable|3 {
		t.Errorf("control after Disable = %#x, want the guest's %#x", got, MSIXEnable|3)
	}
	if len(b.devs) != 0 {
		t.Errorf("records left after Disable: %v", b.devs)
	}
	if _, e := b.EnableMSI(msixBDF, 2, barMSIX, msg); e != 0 {
		t.Errorf("entry 2 after Disable: %v", e)
	}
}

func TestMSIXDisabledFunction(t *testing.T) {
	b, p, m := testBus(0)
	// MSI-X off (the guest has not enabled it yet): the entry is still
	// written, with MSI-X enabled and masked meanwhile, then put back.
	s, e := b.EnableMSI(msixBDF, 0, barMSIX, Compose(0, 0x32))
	if e != 0 {
		t.Fatal(e)
	}
	if got := p.get(msixBDF, 0x9A, 2); got != 3 {
		t.Errorf("control = %#x, want 3", got)
	}
	b.Start(s)
	if m.w[barMSIX+12] != 0 {
		t.Errorf("vector control = %d, want 0", m.w[barMSIX+12])
	}
	if got := p.get(msixBDF, 0x9A, 2); got != 3 {
		t.Errorf("control after Start = %#x, want 3", got)
	}
	// Memory decoding off: no table; the Function Mask stands in.
	p.fns[msixBDF][RegCommand] &^= CommandMemory
	b.Stop(s)
	if got := p.get(msixBDF, 0x9A, 2); got != 3|MSIXMaskAll {
		t.Errorf("control after Stop without memory = %#x, want %#x", got, 3|MSIXMaskAll)
	}
	// ...and the guest cannot clear it.
	b.GuestWrite(cf8(msixBDF, 0x98), 2, 2, uint32(MSIXEnable|3))
	if got := p.get(msixBDF, 0x9A, 2); got != MSIXEnable|MSIXMaskAll|3 {
		t.Errorf("guest's control write = %#x, want the Function Mask kept", got)
	}
	if _, e := b.EnableMSI(msixBDF, 1, barMSIX, Compose(0, 0x33)); e != abi.ENXIO {
		t.Errorf("EnableMSI without memory decoding: %v, want ENXIO", e)
	}
	if got := p.get(msixBDF, 0x9A, 2); got != MSIXMaskAll|3 {
		t.Errorf("control after the failed EnableMSI = %#x, want %#x", got, MSIXMaskAll|3)
	}
}

func TestMSIXTableNotDeviceMemory(t *testing.T) {
	b, p, _ := testBus(0)
	binary.LittleEndian.PutUint32(p.fns[msixBDF][RegBAR0+4:], 0x100000) // BAR 1 moved onto RAM
	if _, e := b.EnableMSI(msixBDF, 0, 0x100000, Compose(0, 0x30)); e != abi.ENXIO {
		t.Errorf("table in RAM: %v, want ENXIO", e)
	}
	if got := p.get(msixBDF, 0x9A, 2); got != 3 {
		t.Errorf("control = %#x, want 3", got)
	}
	if len(b.devs) != 0 {
		t.Errorf("records left: %v", b.devs)
	}
	// A BAR that reads 0 gives way to map_pirq's table_base.
	binary.LittleEndian.PutUint32(p.fns[msixBDF][RegBAR0+4:], 0)
	if _, e := b.EnableMSI(msixBDF, 0, barMSIX, Compose(0, 0x30)); e != 0 {
		t.Errorf("table_base: %v", e)
	}
}

func TestMSIMaskable(t *testing.T) {
	ctl := uint16(MSI64Bit | MSIPerVecMask | 2<<1 | 2<<4 | MSIEnable) // 4 vectors capable, 4 enabled, on
	b, p, _ := testBus(ctl)
	msg := Compose(3, 0x40)
	s, e := b.EnableMSI(msiBDF, 0, 0, msg)
	if e != 0 {
		t.Fatal(e)
	}
	// Capability at 0x80: control 0x82, address 0x84/0x88, data 0x8C,
	// mask 0x90.
	if got := p.get(msiBDF, 0x82, 2); got != uint32(ctl&^(MSIEnable|MSIQSize)) {
		t.Errorf("control = %#x, want %#x (one vector, off)", got, ctl&^(MSIEnable|MSIQSize))
	}
	if p.get(msiBDF, 0x84, 4) != msg.AddrLo || p.get(msiBDF, 0x88, 4) != 0 || p.get(msiBDF, 0x8C, 2) != msg.Data {
		t.Errorf("message = %#x %#x %#x", p.get(msiBDF, 0x84, 4), p.get(msiBDF, 0x88, 4), p.get(msiBDF, 0x8C, 2))
	}
	if got := p.get(msiBDF, 0x90, 4); got != 0xF {
		t.Errorf("mask bits = %#x, want 0xf", got)
	}
	if !s.Maskable() {
		t.Error("not maskable")
	}
	if _, e := b.EnableMSI(msiBDF, 0, 0, msg); e != abi.EBUSY {
		t.Errorf("MSI again: %v, want EBUSY", e)
	}
	// The guest enables MSI: a word write of the control register.
	if !b.GuestWrite(cf8(msiBDF, 0x80), 2, 2, p.get(msiBDF, 0x82, 2)|MSIEnable) {
		t.Error("control write refused")
	}
	// The message is gohv's; so is a dword write over the control word.
	for _, w := range []struct {
		reg  uint16
		size int
	}{{0x84, 4}, {0x88, 4}, {0x8C, 2}, {0x80, 4}, {0x90, 2}, {0x94, 4}} {
		if b.GuestWrite(cf8(msiBDF, w.reg), w.reg&3, w.size, 0) {
			t.Errorf("guest write of %d bytes at %#x went through", w.size, w.reg)
		}
	}
	if p.get(msiBDF, 0x84, 4) != msg.AddrLo {
		t.Error("message changed")
	}
	b.Start(s)
	if got := p.get(msiBDF, 0x90, 4); got != 0xE {
		t.Errorf("mask bits after Start = %#x, want 0xe", got)
	}
	// The guest masks vector 0 and tries to unmask the others.
	b.GuestWrite(cf8(msiBDF, 0x90), 0, 4, 1)
	if got := p.get(msiBDF, 0x90, 4); got != 0xF {
		t.Errorf("mask bits after the guest's write = %#x, want 0xf", got)
	}
	if h, g := b.Masked(s); h || !g {
		t.Errorf("Masked = %v, %v, want guest only", h, g)
	}
	b.Stop(s)
	b.GuestWrite(cf8(msiBDF, 0x90), 0, 4, 0)
	if got := p.get(msiBDF, 0x90, 4); got != 0xF {
		t.Errorf("mask bits with gohv's mask = %#x, want 0xf", got)
	}
	b.Disable(s)
	if got := p.get(msiBDF, 0x82, 2); got&MSIEnable != 0 {
		t.Errorf("control after Disable = %#x, MSI still on", got)
	}
	// Without a source the capability is the guest's again.
	if !b.GuestWrite(cf8(msiBDF, 0x84), 0, 4, 0x1234) {
		t.Error("write to a capability gohv has no source in refused")
	}
}

func TestMSIPlain(t *testing.T) {
	b, p, _ := testBus(0) // 32-bit, no masking (QEMU's ICH9 AHCI is 64-bit without)
	msg := Compose(0, 0x41)
	s, e := b.EnableMSI(msiBDF, 0, 0, msg)
	if e != 0 {
		t.Fatal(e)
	}
	if p.get(msiBDF, 0x84, 4) != msg.AddrLo || p.get(msiBDF, 0x88, 2) != msg.Data {
		t.Errorf("message = %#x %#x", p.get(msiBDF, 0x84, 4), p.get(msiBDF, 0x88, 2))
	}
	if s.Maskable() {
		t.Error("maskable without per-vector masking")
	}
	outs := p.outs
	b.Start(s)
	b.Stop(s)
	if p.outs != outs {
		t.Error("Start/Stop wrote configuration space of an MSI without mask bits")
	}
	// No intercept without mask bits (Xen's only covers maskable MSI).
	if !b.GuestWrite(cf8(msiBDF, 0x84), 0, 4, msg.AddrLo) {
		t.Error("address write refused")
	}
}

func TestSwitchMSIToMSIX(t *testing.T) {
	b, p, m := testBus(0)
	p.fns[msixBDF] = image([6]uint32{0, barMSIX}, capAt{0x50, msiCap(MSIPerVecMask)}, capAt{0x98, msixCap(4, 0, 1, 0, 1, 0x800)})
	x, e := b.EnableMSI(msixBDF, 0, barMSIX, Compose(0, 0x30))
	if e != 0 {
		t.Fatal(e)
	}
	b.Start(x)
	if _, e := b.EnableMSI(msixBDF, 0, 0, Compose(0, 0x31)); e != 0 {
		t.Fatal(e)
	}
	if m.w[barMSIX+12] != MSIXCtrlMasked {
		t.Error("MSI-X entry not masked when MSI took over")
	}
	p.fns[msixBDF][0x52] |= MSIEnable
	if _, e := b.EnableMSI(msixBDF, 1, barMSIX, Compose(0, 0x32)); e != 0 {
		t.Fatal(e)
	}
	if p.fns[msixBDF][0x52]&MSIEnable != 0 {
		t.Error("MSI still enabled when MSI-X took over")
	}
}

func TestGuestWriteMSIX(t *testing.T) {
	b, _, _ := testBus(0)
	for _, w := range []struct {
		reg  uint16
		size int
		ok   bool
	}{
		{0x98, 4, false}, // ID, next and control as a dword
		{0x98, 1, false},
		{0x9A, 2, true},
		{0x9B, 1, false},
		{0x9C, 4, false}, // table offset/BIR
		{0xA0, 4, false}, // PBA offset/BIR
		{0xA4, 4, true},  // past the capability
		{0x04, 2, true},  // command register
	} {
		if got := b.GuestWrite(cf8(msixBDF, w.reg), w.reg&3, w.size, 0); got != w.ok {
			t.Errorf("write of %d bytes at %#x: %v, want %v", w.size, w.reg, got, w.ok)
		}
	}
	// CONFIG_ADDRESS without the enable bit: no function is selected, no
	// intercept applies.
	if !b.GuestWrite(uint32(msixBDF)<<8|0x9C, 0, 4, 0) {
		t.Error("write with CONFIG_ADDRESS disabled refused")
	}
	if got := b.GuestRead(cf8(msixBDF, 0x9C), 0, 4); got != 1 {
		t.Errorf("table offset/BIR = %#x, want 1", got)
	}
	if got := b.Read(msixBDF, 0, 2); got != 0x1AF4 {
		t.Errorf("vendor = %#x", got)
	}
}

// FuzzFindCap walks arbitrary configuration-space images: no panic, no
// endless walk, only -ENODEV as an error, and a found capability has the
// ID asked for at a dword offset past the header. The MSI and MSI-X
// setup over the same image (and device memory everywhere above 1 MiB)
// gives only Xen's errnos and leaves the Bus consistent.
func FuzzFindCap(f *testing.F) {
	f.Add(image([6]uint32{0, barMSIX}, capAt{0x40, msiCap(MSI64Bit | MSIPerVecMask)}, capAt{0x98, msixCap(4, 0, 1, 0, 1, 0x800)})[:], uint8(CapMSIX), uint16(3))
	loop := image([6]uint32{}, capAt{0x40, msiCap(0)})
	loop[0x41] = 0x40
	f.Add(loop[:], uint8(CapMSIX), uint16(0))
	f.Fuzz(func(t *testing.T, img []byte, id uint8, entry uint16) {
		var cfg [256]byte
		copy(cfg[:], img)
		pos, e := FindCap(reader(&cfg), id)
		switch {
		case e != 0 && (e != abi.ENODEV || pos != 0):
			t.Fatalf("FindCap = %#x, %v", pos, e)
		case e == 0 && (pos < 0x40 || pos > 0xFC || pos&3 != 0 || cfg[pos] != id):
			t.Fatalf("FindCap = %#x, ID there %#x", pos, cfg[pos])
		}
		MemBAR(reader(&cfg), id&7)
		p := &fakePorts{fns: map[BDF]*[256]byte{1: &cfg}}
		b := NewBus(p, &fakeMem{lo: 1 << 20, hi: 1 << 62, w: map[uint64]uint32{}})
		for _, base := range []uint64{0, barMSIX} {
			s, e := b.EnableMSI(1, int(entry), base, Compose(0, 0x30))
			switch e {
			case 0:
				b.Start(s)
				b.GuestWrite(cf8(1, uint16(id)), uint16(id&3), 1, 0)
				b.Dump(24, s)
				if e := b.Restore(1); e != 0 && e != abi.ENXIO {
					t.Fatalf("Restore = %v", e)
				}
				b.Stop(s)
				b.Disable(s)
			case abi.ENODEV, abi.EINVAL, abi.EBUSY, abi.ENXIO:
			default:
				t.Fatalf("EnableMSI(table %#x, entry %d) = %v", base, entry, e)
			}
		}
		// A record outlives its sources only while gohv holds the
		// Function Mask (an entry it could not mask: no memory decoding).
		for _, d := range b.devs {
			if d.msi != nil || len(d.msix) != 0 || !d.hostMaskAll {
				t.Fatalf("record left: %+v", d)
			}
		}
	})
}

func TestDump(t *testing.T) {
	b, _, _ := testBus(MSI64Bit | MSIPerVecMask)
	x, _ := b.EnableMSI(msixBDF, 1, barMSIX, Compose(0, 0x31))
	m, _ := b.EnableMSI(msiBDF, 0, 0, Compose(2, 0x45))
	for _, tc := range []struct {
		s    *Source
		irq  int
		want string
	}{
		// MSI-X off: its mask bit cannot be read.
		{x, 25, " MSI-X   25 vec=31  fixed  edge   assert phys    cpu dest=00000000 mask=1/HG/?"},
		{m, 26, " MSI     26 vec=45  fixed  edge   assert phys    cpu dest=00000002 mask=1/H /1"},
	} {
		if got := b.Dump(tc.irq, tc.s); got != tc.want {
			t.Errorf("Dump:\n%q\nwant\n%q", got, tc.want)
		}
	}
	b.GuestWrite(cf8(msixBDF, 0x98), 2, 2, uint32(MSIXEnable|3))
	b.Start(x)
	if got, want := b.Dump(25, x), " MSI-X   25 vec=31  fixed  edge   assert phys    cpu dest=00000000 mask=1/  /0"; got != want {
		t.Errorf("Dump after Start:\n%q\nwant\n%q", got, want)
	}
	b2, _, _ := testBus(MSI64Bit)
	plain, _ := b2.EnableMSI(msiBDF, 0, 0, Compose(0, 0x46))
	if got, want := b2.Dump(27, plain), " MSI     27 vec=46  fixed  edge   assert phys    cpu dest=00000000 mask=0/  /?"; got != want {
		t.Errorf("Dump without mask bits:\n%q\nwant\n%q", got, want)
	}
}

// TestRestore resets both functions (their MSI and MSI-X registers and
// the table back to zero) and restores them, as after Linux's
// pci_restore_state asks with PHYSDEVOP_restore_msi.
func TestRestore(t *testing.T) {
	b, p, m := testBus(MSI64Bit | MSIPerVecMask | 2<<1)
	x, _ := b.EnableMSI(msixBDF, 3, barMSIX, Compose(0, 0x31))
	b.GuestWrite(cf8(msixBDF, 0x98), 2, 2, uint32(MSIXEnable|3))
	b.Start(x)
	s, _ := b.EnableMSI(msiBDF, 0, 0, Compose(0, 0x32))
	if e := b.Restore(MakeBDF(0, 0x08)); e != 0 {
		t.Errorf("Restore of a function without sources: %v", e)
	}
	// The reset.
	for r := 0x84; r < 0x98; r++ {
		p.fns[msiBDF][r] = 0
	}
	p.fns[msiBDF][0x82] &^= MSIEnable
	binary.LittleEndian.PutUint16(p.fns[msixBDF][0x9A:], 3)
	for a := range m.w {
		m.w[a] = 0
	}
	m.w[barMSIX+3*MSIXEntrySize+12] = MSIXCtrlMasked
	if e := b.Restore(msiBDF); e != 0 {
		t.Fatal(e)
	}
	if p.get(msiBDF, 0x84, 4) != s.Message().AddrLo || p.get(msiBDF, 0x8C, 2) != s.Message().Data ||
		p.get(msiBDF, 0x90, 4)&1 != 1 || p.get(msiBDF, 0x82, 2)&(MSIEnable|MSIQSize) != MSIEnable {
		t.Errorf("MSI after Restore: addr %#x data %#x mask %#x control %#x",
			p.get(msiBDF, 0x84, 4), p.get(msiBDF, 0x8C, 2), p.get(msiBDF, 0x90, 4), p.get(msiBDF, 0x82, 2))
	}
	if e := b.Restore(msixBDF); e != 0 {
		t.Fatal(e)
	}
	pa := uint64(barMSIX + 3*MSIXEntrySize)
	if m.w[pa] != x.Message().AddrLo || m.w[pa+8] != x.Message().Data || m.w[pa+12] != 0 {
		t.Errorf("MSI-X entry after Restore = %#x %#x %#x", m.w[pa], m.w[pa+8], m.w[pa+12])
	}
	if got := p.get(msixBDF, 0x9A, 2); got != MSIXEnable|3 {
		t.Errorf("MSI-X control after Restore = %#x, want %#x", got, MSIXEnable|3)
	}
	p.fns[msixBDF][RegCommand] &^= CommandMemory
	if e := b.Restore(msixBDF); e != abi.ENXIO {
		t.Errorf("Restore without memory decoding: %v, want ENXIO", e)
	}
	if got := p.get(msixBDF, 0x9A, 2); got != 3 {
		t.Errorf("MSI-X control after the failed Restore = %#x, want 3", got)
	}
}
