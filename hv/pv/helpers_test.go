package pv

import (
	"encoding/binary"
	"testing"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/arch"
	"github.com/gohv/gohv/mm"
)

// region is guest memory mapped at base in one space.
type region struct {
	base  uint64
	data  []byte
	space Space
	ro    bool
}

type write struct {
	va    uint64
	n     int
	space Space
}

// fakeMem is guest memory made of regions; it records every write.
type fakeMem struct {
	regions []*region
	writes  []write
}

func (m *fakeMem) add(base uint64, size int, s Space) *region {
	r := &region{base: base, data: make([]byte, size), space: s}
	m.regions = append(m.regions, r)
	return r
}

func (m *fakeMem) find(va uint64, s Space) (*region, int) {
	for _, r := range m.regions {
		if r.space == s && va >= r.base && va-r.base < uint64(len(r.data)) {
			return r, int(va - r.base)
		}
	}
	return nil, 0
}

func (m *fakeMem) CopyFromGuest(dst []byte, va mm.GuestVA, s Space) bool {
	for i := range dst {
		r, off := m.find(uint64(va)+uint64(i), s)
		if r == nil || uint64(va)+uint64(i) < uint64(va) {
			return false
		}
		dst[i] = r.data[off]
	}
	return true
}

func (m *fakeMem) CopyToGuest(va mm.GuestVA, src []byte, s Space) bool {
	m.writes = append(m.writes, write{uint64(va), len(src), s})
	for i := range src {
		r, off := m.find(uint64(va)+uint64(i), s)
		if r == nil || r.ro || uint64(va)+uint64(i) < uint64(va) {
			return false
		}
		r.data[off] = src[i]
	}
	return true
}

func (m *fakeMem) read64(t *testing.T, va uint64, s Space) uint64 {
	t.Helper()
	var b [8]byte
	if !m.CopyFromGuest(b[:], mm.GuestVA(va), s) {
		t.Fatalf("read64 %#x: not mapped", va)
	}
	return binary.LittleEndian.Uint64(b[:])
}

func (m *fakeMem) put(t *testing.T, va uint64, s Space, b []byte) {
	t.Helper()
	r, off := m.find(va, s)
	if r == nil || off+len(b) > len(r.data) {
		t.Fatalf("put %#x: not mapped", va)
	}
	copy(r.data[off:], b)
}

type fakeInfo struct {
	mask    uint8
	pending bool
	cr2     uint64
}

func (f *fakeInfo) UpcallMask() uint8     { return f.mask }
func (f *fakeInfo) SetUpcallMask(m uint8) { f.mask = m }
func (f *fakeInfo) UpcallPending() bool   { return f.pending }
func (f *fakeInfo) SetCR2(c uint64)       { f.cr2 = c }

type ioAccess struct {
	port uint16
	size int
	val  uint32
}

type fakeDom struct {
	archIOPL  bool
	hwdom     bool
	permitted bool
	inVal     uint32
	ins, outs []ioAccess
	wbinvd    int
	baseErr   abi.Errno
	bases     []mm.MFN
	gdt       []mm.MFN
}

func (d *fakeDom) ArchitecturalIOPL() bool { return d.archIOPL }
func (d *fakeDom) HardwareDomain() bool    { return d.hwdom }

// In and Out reach the fake hardware when permitted; otherwise reads are
// all ones and writes dropped, as hv's domains do for denied ports.
func (d *fakeDom) In(port uint16, n int) uint32 {
	if !d.permitted {
		return ^uint32(0)
	}
	d.ins = append(d.ins, ioAccess{port, n, d.inVal})
	return d.inVal
}
func (d *fakeDom) Out(port uint16, n int, v uint32) {
	if d.permitted {
		d.outs = append(d.outs, ioAccess{port, n, v})
	}
}
func (d *fakeDom) WBINVD() { d.wbinvd++ }
func (d *fakeDom) NewBasePtr(m mm.MFN) abi.Errno {
	d.bases = append(d.bases, m)
	return d.baseErr
}
func (d *fakeDom) LoadGDT(frames []mm.MFN) { d.gdt = append([]mm.MFN(nil), frames...) }

type leafKey struct{ leaf, sub uint32 }

type fakeHost struct {
	leaves map[leafKey][4]uint32
	msrs   map[uint32]uint64
}

func (h *fakeHost) CPUID(leaf, sub uint32) (a, b, c, d uint32) {
	v := h.leaves[leafKey{leaf, sub}]
	return v[0], v[1], v[2], v[3]
}

func (h *fakeHost) ReadMSR(idx uint32) (uint64, bool) {
	v, ok := h.msrs[idx]
	return v, ok
}

// newHost is an Intel host with SSE..AVX, XSAVE (x87|SSE|AVX), VMX,
// MONITOR, PCID, x2APIC, PSE, PGE, MTRR and RDTSCP.
func newHost() *fakeHost {
	return &fakeHost{
		leaves: map[leafKey][4]uint32{
			{0, 0}:          {0xd, 0x756e6547, 0x6c65746e, 0x49656e69},
			{1, 0}:          {0x000906ea, 0x05100800, 0x7ffafbff, 0xbfebfbff},
			{7, 0}:          {0, 0x029c6fbf, 0x40000000 | 1<<16 | 1<<22, 0xbc000400},
			{0xd, 0}:        {0x7, 0x340, 0x340, 0},
			{0xd, 1}:        {0xf, 0, 0, 0},
			{0xd, 2}:        {256, 576, 0, 0},
			{0x80000000, 0}: {0x80000008, 0, 0, 0},
			{0x80000001, 0}: {0, 0, 0x121 | 1<<2, 0x2c100800},
			{0x80000008, 0}: {0x3027, 0, 0, 0},
		},
		msrs: map[uint32]uint64{
			MSR_EFER:             0xd01 | 1<<12,
			MSR_IA32_APICBASE:    0xfee00900 | apicBaseEXTD,
			MSR_IA32_MISC_ENABLE: 0x850089 | 1<<18,
			MSR_IA32_UCODE_REV:   0xf000000000,
		},
	}
}

const (
	hostCR0 = 0x80050033 // PG AM WP NE ET MP PE
	hostCR4 = cr4PAE | cr4MCE | cr4OSFXSR | cr4OSXMMEXCPT | cr4OSXSAVE | 1<<7 | cr4DE
)

// Layout of the test guest.
const (
	kstackBase = 0xffff888000100000 // kernel stack page
	kstackTop  = kstackBase + 0x1000
	ustackBase = 0x00007fff00000000
	ustackTop  = ustackBase + 0x1000
	ktext      = 0xffffffff81000000 // kernel code page
	utext      = 0x0000000000400000
	handler    = 0xffffffff81800000
)

type env struct {
	v      *VCPU
	mem    *fakeMem
	info   *fakeInfo
	dom    *fakeDom
	host   *fakeHost
	tables *mm.VCPUTables
	kstack *region
	ustack *region
	ktext  *region
	utext  *region
}

func newEnv() *env {
	e := &env{mem: &fakeMem{}, info: &fakeInfo{mask: 1}, dom: &fakeDom{}, host: newHost(),
		tables: &mm.VCPUTables{Kernel: 0x1234}}
	e.kstack = e.mem.add(kstackBase, 0x1000, KernelSpace)
	e.ustack = e.mem.add(ustackBase, 0x1000, UserSpace)
	e.ktext = e.mem.add(ktext, 0x1000, KernelSpace)
	e.utext = e.mem.add(utext, 0x1000, UserSpace)
	pol := NewPolicy(PolicyConfig{Host: e.host, CR0: hostCR0, CR4: hostCR4, XCR0: 0x7, MachineAddrBits: 40,
		TSC: TSCInfo{HostReliable: true, Mode: 0, KHz: 2000000, Incarnation: 1, CPUKHz: 2000000}})
	e.v = NewVCPU(0, e.mem, e.info, e.dom, pol, e.tables)
	return e
}

// kregs returns registers of the guest kernel about to run code at ktext.
func kregs() arch.Regs {
	return arch.Regs{RIP: ktext, RSP: kstackTop - 0x100 + 8, CS: 0xe033, SS: 0xe02b, RFLAGS: 0x202,
		RCX: 0x1111, R11: 0x2222, GSBase: 0xaaaa, GSBaseShadow: 0xbbbb}
}

func uregs() arch.Regs {
	return arch.Regs{RIP: utext, RSP: ustackTop - 0x40, CS: 0xe033, SS: 0xe02b, RFLAGS: 0x246,
		RCX: 0x3333, R11: 0x4444, GSBase: 0xcccc, GSBaseShadow: 0xdddd}
}

func (e *env) setTrap(vec uint8, flags uint8, addr uint64) {
	e.v.Traps[vec] = abi.TrapInfo{Vector: vec, Flags: flags, Cs: 0xe033, Address: addr}
}

// code puts instruction bytes at the vCPU's RIP.
func (e *env) code(t *testing.T, r *arch.Regs, b ...byte) {
	t.Helper()
	s := KernelSpace
	if !e.v.kernel {
		s = UserSpace
	}
	e.mem.put(t, r.RIP, s, b)
}

// frame reads n words at va from the kernel stack.
func (e *env) frame(t *testing.T, va uint64, n int) []uint64 {
	t.Helper()
	w := make([]uint64, n)
	for i := range w {
		w[i] = e.mem.read64(t, va+uint64(8*i), KernelSpace)
	}
	return w
}

func isCrash(err error) bool {
	_, ok := err.(*Crash)
	return ok
}
