package pv

// HostCPU is the physical CPU as the metal reads it: the CPUID
// instruction and RDMSR (ok false if the MSR faults).
type HostCPU interface {
	CPUID(leaf, sub uint32) (a, b, c, d uint32)
	ReadMSR(idx uint32) (val uint64, ok bool)
}

// TSCInfo is what Xen's TSC leaf (0x40000003) reports for the domain.
type TSCInfo struct {
	Emulated     bool   // XEN_CPUID_TSC_EMULATED (vtsc)
	HostReliable bool   // XEN_CPUID_HOST_TSC_RELIABLE
	Mode         uint32 // tsc_mode
	KHz          uint32 // the guest's TSC frequency
	Incarnation  uint32
	Offset       uint64 // vtsc_offset (sub-leaf 1, without vtsc)
	Mul          uint32 // vtsc_to_ns.mul_frac
	Shift        int8   // vtsc_to_ns.shift
	CPUKHz       uint32 // host cpu_khz (sub-leaf 2)
}

// PolicyConfig are the host facts a Policy is built from.
type PolicyConfig struct {
	Host HostCPU
	// CR0 and CR4 are the hypervisor's real CR0 and CR4 while a PV guest
	// runs (the guest-controlled bits aside, see FixupCR4). XCR0 is the
	// largest XCR0 the metal context-switches (loads on entry, saves its
	// XSAVE state at exit): 0 when it switches none. XSAVE and everything
	// built on it (AVX, AVX-512, ...) are offered only when the real CR4
	// has OSXSAVE and XCR0 has x87|SSE; otherwise XSETBV is #UD, as on a
	// CPU without XSAVE.
	CR0, CR4, XCR0 uint64
	// MachineAddrBits is the machine address width Xen's leaf
	// 0x40000005 EBX reports (flsl(max MFN) + 12).
	MachineAddrBits uint8
	TSC             TSCInfo
}

// Policy is a domain's PV CPUID policy: the host's CPUID with only the
// features Xen annotates 'A' (visible to all guests) kept, the PV-hidden
// ones (PSE, PGE, MTRR, VMX, SVM, MONITOR, PCID, INVPCID, x2APIC,
// TSC-deadline, LA57, DS, TM, PBE, ...) cleared, the hypervisor bit set,
// and Xen's leaves at 0x40000000. Read-only after NewPolicy; shared by
// the domain's vCPUs.
type Policy struct {
	cfg      PolicyConfig
	maxBasic uint32
	maxExt   uint32
	intel    bool
	rdtscp   bool
	xsave    bool
	fsgsbase bool
	de       bool
	xcr0Max  uint64
}

// Xen CPUID leaves (public/arch-x86/cpuid.h).
const (
	XenCPUIDBase       = 0x40000000
	XenCPUIDMaxLeaf    = 5 // XEN_CPUID_MAX_NUM_LEAVES
	xenVersionLeaf     = 0x00040011
	xenFeat1PreserveAD = 1 << 0 // XEN_CPUID_FEAT1_MMU_PT_UPDATE_PRESERVE_AD
	xenTSCEmulated     = 1 << 0
	xenTSCReliable     = 1 << 1
	xenTSCRDTSCP       = 1 << 2
)

// Feature masks: bits kept from the host (Xen's 'A' annotations in
// cpufeatureset.h).
const (
	// Leaf 1 EDX: FPU DE TSC MSR PAE MCE CX8 APIC SEP MCA CMOV PAT CLFLUSH
	// ACPI MMX FXSR SSE SSE2 SS HTT.
	keep1D = 1<<0 | 1<<2 | 1<<4 | 1<<5 | 1<<6 | 1<<7 | 1<<8 | 1<<9 | 1<<11 | 1<<14 | 1<<15 |
		1<<16 | 1<<19 | 1<<22 | 1<<23 | 1<<24 | 1<<25 | 1<<26 | 1<<27 | 1<<28
	// Leaf 1 ECX: SSE3 PCLMULQDQ SSSE3 FMA CX16 SSE4.1 SSE4.2 MOVBE POPCNT
	// AESNI XSAVE AVX F16C RDRAND (OSXSAVE and HYPERVISOR are computed).
	keep1C = 1<<0 | 1<<1 | 1<<9 | 1<<12 | 1<<13 | 1<<19 | 1<<20 | 1<<22 | 1<<23 | 1<<25 |
		1<<26 | 1<<28 | 1<<29 | 1<<30
	cpuid1CXSAVE      = 1 << 26
	cpuid1COSXSAVE    = 1 << 27
	cpuid1CHypervisor = 1 << 31
	cpuid1DDE         = 1 << 2
	// Leaf 7.0 EBX: FSGSBASE BMI1 HLE AVX2 FDP_EXCP_ONLY BMI2 ERMS RTM
	// NO_FPU_SEL AVX512F/DQ RDSEED ADX AVX512_IFMA CLFLUSHOPT CLWB
	// AVX512PF/ER/CD SHA AVX512BW/VL.
	keep7B = 1<<0 | 1<<3 | 1<<4 | 1<<5 | 1<<6 | 1<<8 | 1<<9 | 1<<11 | 1<<13 | 1<<16 | 1<<17 |
		1<<18 | 1<<19 | 1<<21 | 1<<23 | 1<<24 | 1<<26 | 1<<27 | 1<<28 | 1<<29 | 1<<30 | 1<<31
	cpuid7BFSGSBASE = 1 << 0
	// Leaf 7.0 ECX: PREFETCHWT1 AVX512_VBMI AVX512_VBMI2 GFNI VAES
	// VPCLMULQDQ AVX512_VNNI AVX512_BITALG AVX512_VPOPCNTDQ RDPID CLDEMOTE
	// MOVDIRI MOVDIR64B.
	keep7C = 1<<0 | 1<<1 | 1<<6 | 1<<8 | 1<<9 | 1<<10 | 1<<11 | 1<<12 | 1<<14 | 1<<22 | 1<<25 |
		1<<27 | 1<<28
	cpuid7CRDPID = 1 << 22
	// Leaf 7.0 EDX: AVX512_4VNNIW/4FMAPS FSRM MD_CLEAR RTM_ALWAYS_ABORT
	// SERIALIZE AVX512_FP16 IBRSB STIBP SSBD.
	keep7D = 1<<2 | 1<<3 | 1<<4 | 1<<10 | 1<<11 | 1<<14 | 1<<23 | 1<<26 | 1<<27 | 1<<31
	// Leaf 7.1 EAX: AVX_VNNI AVX512_BF16 FZRM FSRS FSRCS.
	keep71A = 1<<4 | 1<<5 | 1<<10 | 1<<11 | 1<<12
	// Leaf 0x80000001 ECX: LAHF_LM CMP_LEGACY ABM SSE4A MISALIGNSSE
	// 3DNOWPREFETCH XOP FMA4 TBM DBEXT.
	keepE1C = 1<<0 | 1<<1 | 1<<5 | 1<<6 | 1<<7 | 1<<8 | 1<<11 | 1<<16 | 1<<21 | 1<<26
	// Leaf 0x80000001 EDX: SYSCALL NX MMXEXT FFXSR RDTSCP LM 3DNOWEXT 3DNOW
	// and AMD's copies of the leaf 1 bits kept above.
	keepE1D = 1<<11 | 1<<20 | 1<<22 | 1<<25 | 1<<27 | 1<<29 | 1<<30 | 1<<31 |
		(keep1D & (1<<0 | 1<<2 | 1<<4 | 1<<5 | 1<<6 | 1<<7 | 1<<8 | 1<<9 | 1<<14 | 1<<15 | 1<<16 | 1<<23 | 1<<24))
	cpuidE1DRDTSCP = 1 << 27
	// Leaf 0x80000008 EBX: CLZERO RSTR_FP_ERR_PTRS WBNOINVD IBPB.
	keepE8B = 1<<0 | 1<<2 | 1<<9 | 1<<12

	// What needs XSAVE-managed state (Xen's deep dependencies of XSAVE:
	// AVX and all built on it), cleared when XSAVE is not offered.
	// Leaf 1 ECX: FMA XSAVE AVX F16C.
	xsave1C = 1<<12 | cpuid1CXSAVE | 1<<28 | 1<<29
	// Leaf 7.0 EBX: AVX2 AVX512F/DQ/IFMA/PF/ER/CD/BW/VL.
	xsave7B = 1<<5 | 1<<16 | 1<<17 | 1<<21 | 1<<26 | 1<<27 | 1<<28 | 1<<30 | 1<<31
	// Leaf 7.0 ECX: AVX512_VBMI/VBMI2 VAES VPCLMULQDQ AVX512_VNNI/BITALG/VPOPCNTDQ.
	xsave7C = 1<<1 | 1<<6 | 1<<9 | 1<<10 | 1<<11 | 1<<12 | 1<<14
	// Leaf 7.0 EDX: AVX512_4VNNIW/4FMAPS AVX512_FP16.
	xsave7D = 1<<2 | 1<<3 | 1<<23
	// Leaf 7.1 EAX: AVX_VNNI AVX512_BF16.
	xsave71A = 1<<4 | 1<<5
	// Leaf 0x80000001 ECX: XOP FMA4.
	xsaveE1C = 1<<11 | 1<<16
)

// NewPolicy builds the PV policy from the host.
func NewPolicy(cfg PolicyConfig) *Policy {
	p := &Policy{cfg: cfg}
	a, b, c, d := cfg.Host.CPUID(0, 0)
	p.maxBasic = min(a, 0x1f)
	// "GenuineIntel"
	p.intel = b == 0x756e6547 && d == 0x49656e69 && c == 0x6c65746e
	e, _, _, _ := cfg.Host.CPUID(0x80000000, 0)
	if e >= 0x80000000 {
		p.maxExt = min(e, 0x80000008)
	}
	if p.maxBasic >= 1 {
		_, _, c1, d1 := cfg.Host.CPUID(1, 0)
		p.xsave = c1&cpuid1CXSAVE != 0 && cfg.CR4&cr4OSXSAVE != 0 && cfg.XCR0&(xcr0X87|xcr0SSE) == xcr0X87|xcr0SSE
		p.de = d1&cpuid1DDE != 0
	}
	if p.maxBasic >= 7 {
		_, b7, c7, _ := cfg.Host.CPUID(7, 0)
		p.fsgsbase = b7&cpuid7BFSGSBASE != 0
		p.rdtscp = c7&cpuid7CRDPID != 0
	}
	if p.maxExt >= 0x80000001 {
		_, _, _, de1 := cfg.Host.CPUID(0x80000001, 0)
		p.rdtscp = p.rdtscp || de1&cpuidE1DRDTSCP != 0
	}
	if p.xsave && p.maxBasic >= 0xd {
		a, _, _, d := cfg.Host.CPUID(0xd, 0)
		p.xcr0Max = (uint64(d)<<32 | uint64(a)) & cfg.XCR0
	}
	return p
}

// HasXSAVE reports XSAVE in the policy.
func (p *Policy) HasXSAVE() bool { return p.xsave }

// Host returns the host CPU the policy was built from (nil if none), for
// the hypervisor's own questions about the machine (platform_op's CPU
// information), never for what a guest sees.
func (p *Policy) Host() HostCPU { return p.cfg.Host }

// CR4 bits.
const (
	cr4TSD        = 1 << 2
	cr4DE         = 1 << 3
	cr4PAE        = 1 << 5
	cr4MCE        = 1 << 6
	cr4OSFXSR     = 1 << 9
	cr4OSXMMEXCPT = 1 << 10
	cr4FSGSBASE   = 1 << 16
	cr4OSXSAVE    = 1 << 18

	// pvCR4GuestMask: the bits a PV guest controls; pvCR4VisibleMask: the
	// real bits it sees.
	pvCR4GuestMask   = cr4TSD | cr4DE | cr4FSGSBASE | cr4OSXSAVE
	pvCR4VisibleMask = cr4PAE | cr4MCE | cr4OSFXSR | cr4OSXMMEXCPT

	// CR4Loaded are the guest-controlled bits the metal loads into the
	// real CR4 while the vCPU runs (from VCPU.CR4, on ChangedCR4):
	// FSGSBASE, which makes RD/WR{FS,GS}BASE work in ring 3.
	CR4Loaded = cr4FSGSBASE
)

// FixupCR4 is Xen's pv_fixup_guest_cr4: the guest's CR4 is the visible
// part of the real CR4 plus the guest-controlled bits the policy allows,
// each one only as far as it really takes effect: FSGSBASE is loaded
// into the real CR4 (CR4Loaded); DE is all emulation (DR4/DR5 aliasing
// and I/O breakpoints, in MOV DR and IN/OUT); OSXSAVE follows XSAVE (see
// PolicyConfig.XCR0). TSD is never kept, unlike Xen: it would make the
// guest kernel's RDTSC fault in ring 3, and RDTSC is not emulated.
func (p *Policy) FixupCR4(cr4 uint64) uint64 {
	cr4 &^= cr4TSD
	if !p.de {
		cr4 &^= cr4DE
	}
	if !p.fsgsbase {
		cr4 &^= cr4FSGSBASE
	}
	if !p.xsave {
		cr4 &^= cr4OSXSAVE
	}
	return p.cfg.CR4&pvCR4VisibleMask | cr4&pvCR4GuestMask
}

// InitialCR4 is a new vCPU's CR4 view (Xen's real_cr4_to_pv_guest_cr4:
// the real CR4 without TSD and OSXSAVE, which the guest turns on itself).
func (p *Policy) InitialCR4() uint64 {
	return p.FixupCR4(p.cfg.CR4 &^ (cr4TSD | cr4OSXSAVE))
}

// Leaf returns the policy's value of CPUID leaf/sub, without the parts
// that depend on the vCPU (see VCPU.CPUID).
func (p *Policy) Leaf(leaf, sub uint32) (a, b, c, d uint32) {
	h := p.cfg.Host
	switch {
	case leaf >= XenCPUIDBase && leaf < XenCPUIDBase+0x10000:
		return p.xenLeaf(leaf-XenCPUIDBase, sub)
	case leaf < 0x80000000:
		if leaf > p.maxBasic {
			return 0, 0, 0, 0
		}
	default:
		if p.maxExt == 0 || leaf > p.maxExt {
			return 0, 0, 0, 0
		}
	}
	switch leaf {
	case 0:
		a, b, c, d = h.CPUID(0, 0)
		return p.maxBasic, b, c, d
	case 1:
		a, b, c, d = h.CPUID(1, 0)
		return a, b, c&p.keep(keep1C, xsave1C) | cpuid1CHypervisor, d & keep1D
	case 2, 4, 0xb, 0x15, 0x16, 0x1f:
		return h.CPUID(leaf, sub)
	case 7:
		a, b, c, d = h.CPUID(7, sub)
		switch sub {
		case 0:
			return min(a, 1), b & p.keep(keep7B, xsave7B), c & p.keep(keep7C, xsave7C), d & p.keep(keep7D, xsave7D)
		case 1:
			return a & p.keep(keep71A, xsave71A), 0, 0, 0
		}
		return 0, 0, 0, 0
	case 0xd:
		if !p.xsave {
			return 0, 0, 0, 0
		}
		a, b, c, d = h.CPUID(0xd, sub)
		switch sub {
		case 0:
			return a & uint32(p.xcr0Max), b, c, d & uint32(p.xcr0Max>>32)
		case 1:
			// XSAVEOPT, XSAVEC, XGETBV1; not XSAVES (HVM only), so no
			// supervisor states.
			return a & 7, b, 0, 0
		}
		if sub < 64 && p.xcr0Max&(1<<sub) != 0 {
			return a, b, c, d
		}
		return 0, 0, 0, 0
	case 0x80000000:
		a, b, c, d = h.CPUID(leaf, 0)
		return p.maxExt, b, c, d
	case 0x80000001:
		a, b, c, d = h.CPUID(leaf, 0)
		return a, b, c & p.keep(keepE1C, xsaveE1C), d & keepE1D
	case 0x80000002, 0x80000003, 0x80000004, 0x80000005, 0x80000006:
		return h.CPUID(leaf, 0)
	case 0x80000008:
		a, b, c, d = h.CPUID(leaf, 0)
		return a, b & keepE8B, c, d
	}
	return 0, 0, 0, 0
}

// keep is a leaf's feature mask without the XSAVE-dependent bits xs when
// the policy has no XSAVE.
func (p *Policy) keep(mask, xs uint32) uint32 {
	if p.xsave {
		return mask
	}
	return mask &^ xs
}

// xenLeaf is Xen's cpuid_hypervisor_leaves for a PV domain (no viridian):
// base 0x40000000, leaves 0-5; everything else in the range reads zero.
func (p *Policy) xenLeaf(idx, sub uint32) (a, b, c, d uint32) {
	switch idx {
	case 0:
		// "XenVMMXenVMM"
		return XenCPUIDBase + XenCPUIDMaxLeaf, 0x566e6558, 0x65584d4d, 0x4d4d566e
	case 1:
		return xenVersionLeaf, 0, 0, 0
	case 2:
		return 1, 0x40000000, xenFeat1PreserveAD, 0
	case 3:
		t := &p.cfg.TSC
		switch sub {
		case 0:
			if t.Emulated {
				a |= xenTSCEmulated
			}
			if t.HostReliable {
				a |= xenTSCReliable
			}
			if p.rdtscp && !t.Emulated {
				a |= xenTSCRDTSCP
			}
			return a, t.Mode, t.KHz, t.Incarnation
		case 1:
			off := t.Offset
			if t.Emulated {
				off = 0
			}
			return uint32(off), uint32(off >> 32), t.Mul, uint32(int32(t.Shift))
		case 2:
			return 0, 0, t.CPUKHz, 0
		}
	case 5:
		if sub == 0 {
			return 0, uint32(p.cfg.MachineAddrBits), 0, 0
		}
	}
	return 0, 0, 0, 0
}

// CPUID is the guest's CPUID (through the forced-emulation prefix): the
// policy's leaf with this vCPU's parts: the initial APIC id (vCPU id * 2),
// OSXSAVE from the virtual CR4, and leaf 0xd's size for the guest's XCR0.
func (v *VCPU) CPUID(leaf, sub uint32) (a, b, c, d uint32) {
	if v.Policy == nil {
		return 0, 0, 0, 0
	}
	a, b, c, d = v.Policy.Leaf(leaf, sub)
	switch leaf {
	case 1:
		b = b&0x00ffffff | uint32(v.ID*2)<<24
		if v.CR4&cr4OSXSAVE != 0 && c&cpuid1CXSAVE != 0 {
			c |= cpuid1COSXSAVE
		}
	case 0xd:
		if sub == 0 && v.Policy.xsave {
			b = v.xsaveSize()
		}
	}
	return a, b, c, d
}

// xsaveSize is the XSAVE area size for the guest's XCR0: the legacy area
// and header (576 bytes) and the end of the furthest enabled component.
func (v *VCPU) xsaveSize() uint32 {
	size := uint32(576)
	for i := uint32(2); i < 63; i++ {
		if v.XCR0&(1<<i) == 0 {
			continue
		}
		sz, off, _, _ := v.Policy.cfg.Host.CPUID(0xd, i)
		size = max(size, off+sz)
	}
	return size
}
