package pv

import "github.com/gohv/gohv/arch"

// MSR indices.
const (
	MSR_IA32_UCODE_REV        = 0x0000008b
	MSR_IA32_APICBASE         = 0x0000001b
	MSR_INTEL_PLATFORM_INFO   = 0x000000ce
	MSR_INTEL_MISC_FEATURES   = 0x00000140
	MSR_IA32_MISC_ENABLE      = 0x000001a0
	MSR_IA32_CR_PAT           = 0x00000277
	MSR_EFER                  = 0xc0000080
	MSR_FS_BASE               = 0xc0000100
	MSR_GS_BASE               = 0xc0000101
	MSR_SHADOW_GS_BASE        = 0xc0000102
	MSR_TSC_AUX               = 0xc0000103
	pvPAT                     = 0x0000050100070406
	apicBaseEXTD              = 1 << 10
	platformInfoCPUIDFaulting = 1 << 31
	// EFER bits a guest may see: SCE, LME, LMA, NXE, FFXSE (never SVME).
	eferVisible = 1<<0 | 1<<8 | 1<<10 | 1<<11 | 1<<14
	// MISC_ENABLE: PERF_AVAIL and MONITOR_ENABLE hidden, BTS_UNAVAIL,
	// PEBS_UNAVAIL and XTPR_DISABLE forced (Xen's guest_misc_enable).
	miscEnableHide  = 1<<7 | 1<<18
	miscEnableForce = 1<<11 | 1<<12 | 1<<23
)

// pmuMSR reports the performance-counter MSRs, which read as 0 and ignore
// writes while Xen's vPMU is off (its default).
func pmuMSR(idx uint32) bool {
	switch {
	case idx >= 0xc1 && idx <= 0xc8, // P6 PERFCTR0-7
		idx >= 0x186 && idx <= 0x18d,           // P6 EVNTSEL0-7
		idx >= 0x309 && idx <= 0x30b,           // fixed counters
		idx >= 0x38d && idx <= 0x390,           // fixed ctrl, global status/ctrl/ovf
		idx >= 0xc0010000 && idx <= 0xc0010007, // K7 EVNTSEL/PERFCTR
		idx >= 0xc0010200 && idx <= 0xc001020b: // Fam15h counters
		return true
	}
	return false
}

// noGPHandler: before the guest has a #GP handler an unknown MSR reads 0
// and ignores writes (a #GP then would only crash the domain).
func (v *VCPU) noGPHandler() bool { return v.Traps[arch.VecGP].Address == 0 }

func (v *VCPU) hostMSR(idx uint32) (uint64, bool) {
	if v.Policy == nil || v.Policy.cfg.Host == nil {
		return 0, false
	}
	return v.Policy.cfg.Host.ReadMSR(idx)
}

func (v *VCPU) intel() bool { return v.Policy != nil && v.Policy.intel }

// readMSR is RDMSR from guest kernel mode; a non-nil fault is raised
// instead of completing.
func (v *VCPU) readMSR(r *arch.Regs, idx uint32) (uint64, fault) {
	switch idx {
	case MSR_FS_BASE:
		return r.FSBase, nil
	case MSR_GS_BASE: // the active (kernel) base
		return r.GSBase, nil
	case MSR_SHADOW_GS_BASE: // the inactive (user) base
		return r.GSBaseShadow, nil
	case MSR_EFER:
		if e, ok := v.hostMSR(MSR_EFER); ok {
			return e & eferVisible, nil
		}
	case MSR_IA32_CR_PAT:
		return pvPAT, nil
	case MSR_IA32_APICBASE:
		if b, ok := v.hostMSR(idx); ok {
			return b &^ apicBaseEXTD, nil
		}
	case MSR_IA32_MISC_ENABLE:
		if m, ok := v.hostMSR(idx); ok {
			return m&^miscEnableHide | miscEnableForce, nil
		}
	case MSR_INTEL_PLATFORM_INFO:
		if v.intel() {
			return platformInfoCPUIDFaulting, nil
		}
	case MSR_INTEL_MISC_FEATURES:
		if v.intel() {
			if v.CPUIDFaulting {
				return 1, nil
			}
			return 0, nil
		}
	case MSR_IA32_UCODE_REV:
		if u, ok := v.hostMSR(idx); ok {
			return u, nil
		}
	case MSR_TSC_AUX:
		if v.Policy != nil && v.Policy.rdtscp {
			return uint64(v.TSCAux), nil
		}
	default:
		if pmuMSR(idx) {
			return 0, nil
		}
		if vmceMSR(idx) {
			if val, ok := v.vmceRead(idx); ok {
				return val, nil
			}
		}
	}
	if v.noGPHandler() {
		return 0, nil
	}
	return 0, v.gpFault()
}

// writeMSR is WRMSR from guest kernel mode.
func (v *VCPU) writeMSR(r *arch.Regs, idx uint32, val uint64) fault {
	switch idx {
	case MSR_FS_BASE, MSR_GS_BASE, MSR_SHADOW_GS_BASE:
		if !arch.Canonical(val) {
			return v.gpFault()
		}
		switch idx {
		case MSR_FS_BASE:
			r.FSBase = val
		case MSR_GS_BASE: // the active (kernel) base
			r.GSBase = val
		default: // the inactive (user) base
			r.GSBaseShadow = val
		}
		return nil
	case MSR_IA32_CR_PAT:
		return nil
	case MSR_IA32_MISC_ENABLE:
		// A write that keeps the guest's view is accepted; others are
		// dropped (Xen logs them).
		if _, ok := v.hostMSR(idx); ok {
			return nil
		}
	case MSR_INTEL_MISC_FEATURES:
		if v.intel() && val&^1 == 0 {
			v.CPUIDFaulting = val&1 != 0
			return nil
		}
	case MSR_IA32_UCODE_REV:
		// Intel's "write 0, then CPUID 1" sequence.
		if v.intel() && val == 0 {
			return nil
		}
	case MSR_TSC_AUX:
		if v.Policy != nil && v.Policy.rdtscp && val>>32 == 0 {
			v.TSCAux = uint32(val)
			return nil
		}
	default:
		if pmuMSR(idx) {
			return nil
		}
		if vmceMSR(idx) && v.vmceWrite(idx, val) {
			return nil
		}
		if v.noGPHandler() {
			return nil
		}
	}
	return v.gpFault()
}
