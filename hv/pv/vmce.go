package pv

// The virtual machine-check architecture every PV vCPU sees, after Xen
// 4.17's xen/arch/x86/cpu/mcheck/vmce.c (read for facts): the CPUID
// policy offers MCE and MCA, so a guest reads MCG_CAP and walks the
// banks. Two banks, MCG_CTL absent; on Intel also software error
// recovery, threshold-based error status and CMCI (never delivered), and
// the banks' CTL2 registers. gohv injects no machine checks, so the
// banks only ever hold what the guest may write to them: zero.

// Machine-check MSRs and MCG_CAP bits (Intel SDM vol. 3 ch. 15).
const (
	MSR_IA32_MCG_CAP     = 0x179
	MSR_IA32_MCG_STATUS  = 0x17a
	MSR_IA32_MCG_CTL     = 0x17b
	MSR_IA32_MC0_CTL2    = 0x280 // ... 0x29f: MCi_CTL2 (Intel)
	MSR_IA32_MC0_CTL     = 0x400 // ... 0x47f: MCi_CTL, _STATUS, _ADDR, _MISC
	MSR_IA32_MCG_EXT_CTL = 0x4d0

	vmceBanks = 2
	mcgCMCIP  = 1 << 10
	mcgTESP   = 1 << 11
	mcgSERP   = 1 << 24
	// CTL2 bits a guest keeps: CMCI_EN and the error threshold.
	mcCTL2Mask = 1<<30 | 0x7fff
)

// vmce is one vCPU's virtual machine-check state (Xen's arch.vmce).
type vmce struct {
	mcgStatus uint64
	banks     [vmceBanks]struct{ status, addr, misc, ctl2 uint64 }
}

// mcgCap is the vCPU's MCG_CAP.
func (v *VCPU) mcgCap() uint64 {
	if v.intel() {
		return mcgSERP | mcgTESP | mcgCMCIP | vmceBanks
	}
	return vmceBanks
}

// vmceMSR reports the MSRs the machine-check emulation answers for: the
// global registers, the CTL2 and bank register blocks and MCG_EXT_CTL.
func vmceMSR(idx uint32) bool {
	return idx >= MSR_IA32_MCG_CAP && idx <= MSR_IA32_MCG_CTL ||
		idx >= MSR_IA32_MC0_CTL2 && idx < MSR_IA32_MC0_CTL2+32 ||
		idx >= MSR_IA32_MC0_CTL && idx < MSR_IA32_MC0_CTL+4*32 ||
		idx == MSR_IA32_MCG_EXT_CTL
}

// vmceRead reads machine-check MSR idx (vmceMSR): ok false raises #GP.
// Registers of banks beyond MCG_CAP's count read as 0.
func (v *VCPU) vmceRead(idx uint32) (val uint64, ok bool) {
	switch {
	case idx == MSR_IA32_MCG_CAP:
		return v.mcgCap(), true
	case idx == MSR_IA32_MCG_STATUS:
		return v.mce.mcgStatus, true
	case idx == MSR_IA32_MCG_CTL: // MCG_CTL_P clear: reads 0
		return 0, true
	case idx == MSR_IA32_MCG_EXT_CTL: // no LMCE
		return 0, false
	case idx >= MSR_IA32_MC0_CTL2 && idx < MSR_IA32_MC0_CTL2+32:
		if b := idx - MSR_IA32_MC0_CTL2; v.intel() && b < vmceBanks {
			return v.mce.banks[b].ctl2, true
		}
		return 0, true
	}
	b := (idx - MSR_IA32_MC0_CTL) / 4
	if b >= vmceBanks {
		return 0, true
	}
	switch idx & 3 {
	case 0: // MCi_CTL: all ones
		return ^uint64(0), true
	case 1:
		return v.mce.banks[b].status, true
	case 2:
		return v.mce.banks[b].addr, true
	}
	return v.mce.banks[b].misc, true
}

// vmceWrite writes machine-check MSR idx (vmceMSR): ok false raises #GP.
// MCG_CAP, MCG_CTL and MCi_CTL ignore writes; MCi_STATUS, _ADDR and
// _MISC take only 0.
func (v *VCPU) vmceWrite(idx uint32, val uint64) (ok bool) {
	switch {
	case idx == MSR_IA32_MCG_CAP, idx == MSR_IA32_MCG_CTL:
		return true
	case idx == MSR_IA32_MCG_STATUS:
		v.mce.mcgStatus = val
		return true
	case idx == MSR_IA32_MCG_EXT_CTL:
		return false
	case idx >= MSR_IA32_MC0_CTL2 && idx < MSR_IA32_MC0_CTL2+32:
		if b := idx - MSR_IA32_MC0_CTL2; v.intel() && b < vmceBanks {
			v.mce.banks[b].ctl2 = val & mcCTL2Mask
		}
		return true
	}
	if idx&3 == 0 {
		return true
	}
	if val != 0 {
		return false
	}
	if b := (idx - MSR_IA32_MC0_CTL) / 4; b < vmceBanks {
		switch idx & 3 {
		case 1:
			v.mce.banks[b].status = 0
		case 2:
			v.mce.banks[b].addr = 0
		default:
			v.mce.banks[b].misc = 0
		}
	}
	return true
}
