package pv

import (
	"testing"

	"github.com/gohv/gohv/arch"
)

// amdHost is an AMD host without XSAVE, DE, FSGSBASE or RDTSCP.
func amdHost() *fakeHost {
	return &fakeHost{
		leaves: map[leafKey][4]uint32{
			{0, 0}:          {0x10, 0x68747541, 0x444d4163, 0x69746e65}, // AuthenticAMD
			{1, 0}:          {0x00800f12, 0, 0x00802009 | 1<<3, 0x178bf3ff &^ (1 << 2)},
			{7, 0}:          {0, 0, 0, 0},
			{0x80000000, 0}: {0x8000001f, 0x68747541, 0x444d4163, 0x69746e65},
			{0x80000001, 0}: {0, 0, 1<<2 | 1<<0, 1 << 29},
			{0x80000002, 0}: {0x20444d41, 0, 0, 0},
			{0x80000008, 0}: {0x3030, 0x1005 | 1<<1, 0, 0},
			{0x80000010, 0}: {1, 2, 3, 4},
			{6, 0}:          {4, 0, 1, 0},
		},
		msrs: map[uint32]uint64{},
	}
}

func TestPolicyAMD(t *testing.T) {
	p := NewPolicy(PolicyConfig{Host: amdHost(), CR4: hostCR4, XCR0: 7})
	if p.HasXSAVE() || p.intel {
		t.Fatal("xsave or intel")
	}
	for _, tc := range []struct {
		leaf, sub  uint32
		a, b, c, d uint32
	}{
		{0, 0, 0x10, 0x68747541, 0x444d4163, 0x69746e65},
		{6, 0, 0, 0, 0, 0},    // thermal/power: hidden
		{0xd, 0, 0, 0, 0, 0},  // no xsave
		{0x11, 0, 0, 0, 0, 0}, // beyond the host's max
		{0x80000000, 0, 0x80000008, 0x68747541, 0x444d4163, 0x69746e65},
		{0x80000001, 0, 0, 0, 1, 1 << 29},
		{0x80000002, 0, 0x20444d41, 0, 0, 0},
		{0x80000008, 0, 0x3030, 0x1005, 0, 0},
		{0x80000010, 0, 0, 0, 0, 0},
		{0x40000003, 1, 0, 0, 0, 0},
		{0x40000003, 3, 0, 0, 0, 0},
		{0x40000005, 1, 0, 0, 0, 0},
		{0x4000ff00, 0, 0, 0, 0, 0},
	} {
		a, b, c, d := p.Leaf(tc.leaf, tc.sub)
		if [4]uint32{a, b, c, d} != [4]uint32{tc.a, tc.b, tc.c, tc.d} {
			t.Errorf("leaf %#x.%d = %#x %#x %#x %#x, want %#x %#x %#x %#x", tc.leaf, tc.sub, a, b, c, d, tc.a, tc.b, tc.c, tc.d)
		}
	}
	if _, _, c, _ := p.Leaf(1, 0); c&(1<<3) != 0 || c&cpuid1CHypervisor == 0 {
		t.Errorf("leaf 1 ecx %#x", c)
	}
	// Guest-controlled CR4 bits the policy lacks are dropped, and TSD always.
	if got := p.FixupCR4(cr4DE | cr4FSGSBASE | cr4OSXSAVE | cr4TSD); got != p.cfg.CR4&pvCR4VisibleMask {
		t.Errorf("FixupCR4 = %#x", got)
	}
	v := NewVCPU(1, nil, nil, nil, p, nil)
	if v.XCR0 != 0 || v.PageTable() != 0 {
		t.Error("xcr0 without xsave / page table without tables")
	}
	// AMD: Intel-only MSRs fault.
	e := emuEnv()
	e.v.Policy = p
	for _, idx := range []uint32{MSR_INTEL_PLATFORM_INFO, MSR_INTEL_MISC_FEATURES, MSR_TSC_AUX, MSR_EFER} {
		if _, f := e.v.readMSR(&arch.Regs{}, idx); f == nil {
			t.Errorf("rdmsr %#x on AMD succeeded", idx)
		}
	}
	if e.v.writeMSR(&arch.Regs{}, MSR_IA32_UCODE_REV, 0) == nil {
		t.Error("ucode write on AMD succeeded")
	}
}

func TestPolicyTSCLeaf(t *testing.T) {
	p := NewPolicy(PolicyConfig{Host: newHost(), CR4: hostCR4, XCR0: 7,
		TSC: TSCInfo{Emulated: true, Mode: 1, KHz: 1000, Incarnation: 2, Offset: 1 << 33, Mul: 0x12345, Shift: -1}})
	if a, b, c, d := p.Leaf(0x40000003, 0); a != xenTSCEmulated || b != 1 || c != 1000 || d != 2 {
		t.Errorf("sub 0: %#x %#x %#x %#x", a, b, c, d)
	}
	if a, b, c, d := p.Leaf(0x40000003, 1); a != 0 || b != 0 || c != 0x12345 || d != 0xffffffff {
		t.Errorf("sub 1 (vtsc): %#x %#x %#x %#x", a, b, c, d)
	}
	p.cfg.TSC.Emulated = false
	if a, b, _, _ := p.Leaf(0x40000003, 1); a != 0 || b != 2 {
		t.Errorf("sub 1: offset %#x:%#x", b, a)
	}
	if a, _, _, _ := p.Leaf(0xd, 1); a != 7 {
		t.Errorf("0xd.1 eax %#x", a)
	}
	if a, b, _, _ := p.Leaf(0xd, 2); a != 256 || b != 576 {
		t.Errorf("0xd.2 %#x %#x", a, b)
	}
	if a, _, _, _ := p.Leaf(0xd, 5); a != 0 {
		t.Error("0xd.5 beyond xcr0")
	}
	if a, _, _, _ := p.Leaf(7, 1); a != 0 {
		t.Error("7.1")
	}
	if a, _, _, _ := p.Leaf(7, 2); a != 0 {
		t.Error("7.2")
	}
}

func TestMovCRAllRegisters(t *testing.T) {
	for reg := 0; reg < 16; reg++ {
		e := emuEnv()
		r := kregs()
		rex := byte(0x40)
		if reg >= 8 {
			rex |= 1 // REX.B
		}
		e.code(t, &r, rex, 0x0f, 0x20, 0xd8|byte(reg&7)) // mov reg, cr3
		if err := e.v.HandleException(&r, arch.Exit{Vector: arch.VecGP}); err != nil {
			t.Fatal(err)
		}
		regs := []uint64{r.RAX, r.RCX, r.RDX, r.RBX, r.RSP, r.RBP, r.RSI, r.RDI,
			r.R8, r.R9, r.R10, r.R11, r.R12, r.R13, r.R14, r.R15}
		if regs[reg] != 0x1234<<12 || r.RIP != ktext+4 {
			t.Errorf("reg %d: %#x rip %#x", reg, regs[reg], r.RIP)
		}
	}
}

func TestMSRMore(t *testing.T) {
	e := emuEnv()
	r := &arch.Regs{}
	for _, tc := range []struct {
		idx  uint32
		want uint64
	}{
		{MSR_IA32_UCODE_REV, 0xf000000000},
		{MSR_INTEL_MISC_FEATURES, 0},
		{MSR_TSC_AUX, 0},
		{0xc0010004, 0},
	} {
		if v, f := e.v.readMSR(r, tc.idx); f != nil || v != tc.want {
			t.Errorf("rdmsr %#x = %#x, %v", tc.idx, v, f != nil)
		}
	}
	for _, tc := range []struct {
		idx uint32
		val uint64
		ok  bool
	}{
		{MSR_IA32_UCODE_REV, 0, true},
		{MSR_IA32_UCODE_REV, 1, false},
		{MSR_IA32_MISC_ENABLE, 0, true},
		{MSR_INTEL_MISC_FEATURES, 2, false},
		{MSR_INTEL_PLATFORM_INFO, 0, false},
		{0x38f, 5, true},
		{0x12345, 0, false},
		{MSR_IA32_APICBASE, 0xfee00900, false},
	} {
		if f := e.v.writeMSR(r, tc.idx, tc.val); (f == nil) != tc.ok {
			t.Errorf("wrmsr %#x %#x: ok %v", tc.idx, tc.val, f == nil)
		}
	}
	if (&Crash{Reason: "x"}).Error() != "domain crash: x" {
		t.Error("Crash.Error")
	}
}

// TestPolicyXSAVEFollowsMetal: XSAVE and the features built on it are
// offered only when the real CR4 has OSXSAVE and the metal context-switches
// x87|SSE at least (PolicyConfig.XCR0); otherwise they are hidden, leaf 0xd
// is empty, CR4.OSXSAVE does not stick and XSETBV is #UD.
func TestPolicyXSAVEFollowsMetal(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cr4, xcr0 uint64
		xsave     bool
	}{
		{"osxsave, x87|sse|avx", hostCR4, 7, true},
		{"osxsave, x87|sse", hostCR4, 3, true},
		{"no osxsave in the real cr4", hostCR4 &^ cr4OSXSAVE, 7, false},
		{"metal switches no xsave state", hostCR4, 0, false},
		{"metal switches x87 only", hostCR4, 1, false},
	} {
		p := NewPolicy(PolicyConfig{Host: newHost(), CR4: tc.cr4, XCR0: tc.xcr0})
		_, _, c1, _ := p.Leaf(1, 0)
		_, b7, c7, d7 := p.Leaf(7, 0)
		a71, _, _, _ := p.Leaf(7, 1)
		_, _, ce1, _ := p.Leaf(0x80000001, 0)
		ad, _, _, _ := p.Leaf(0xd, 0)
		got := [...]bool{p.HasXSAVE(), c1&cpuid1CXSAVE != 0, c1&(1<<28) != 0, c1&(1<<12) != 0, b7&(1<<5) != 0, ad != 0,
			p.FixupCR4(cr4OSXSAVE)&cr4OSXSAVE != 0}
		for i, g := range got {
			if g != tc.xsave {
				t.Errorf("%s: check %d (HasXSAVE, XSAVE, AVX, FMA, AVX2, leaf 0xd, CR4.OSXSAVE) = %v, want %v", tc.name, i, g, tc.xsave)
			}
		}
		if !tc.xsave && (c1&xsave1C != 0 || b7&xsave7B != 0 || c7&xsave7C != 0 || d7&xsave7D != 0 || a71&xsave71A != 0 || ce1&xsaveE1C != 0) {
			t.Errorf("%s: XSAVE-dependent bits left: 1c %#x 7b %#x 7c %#x 7d %#x 7.1a %#x e1c %#x", tc.name, c1, b7, c7, d7, a71, ce1)
		}
		// Features that need no XSAVE state stay: SSE4.2, BMI1, ERMS.
		if c1&(1<<20) == 0 || b7&(1<<3) == 0 || b7&(1<<9) == 0 {
			t.Errorf("%s: non-XSAVE features lost: 1c %#x 7b %#x", tc.name, c1, b7)
		}
		e := emuEnv()
		e.v.Policy = p
		e.v.CR4 = p.FixupCR4(e.v.CR4 | cr4OSXSAVE)
		r := kregs()
		r.RAX, r.RCX = 3, 0
		e.code(t, &r, 0x0f, 0x01, 0xd1) // xsetbv
		if err := e.v.HandleException(&r, arch.Exit{Vector: arch.VecGP}); err != nil {
			t.Fatal(err)
		}
		if ud := r.RIP == e.v.Traps[arch.VecUD].Address; ud == tc.xsave {
			t.Errorf("%s: xsetbv went to %#x (#UD handler %#x), xcr0 %#x", tc.name, r.RIP, e.v.Traps[arch.VecUD].Address, e.v.XCR0)
		}
	}
}
