package pv

import (
	"testing"

	"github.com/gohv/gohv/arch"
)

// TestVMCE: the machine-check MSRs Linux reads at boot answer as Xen's
// vMCE does (two banks, no MCG_CTL; Intel's recovery and CMCI bits), and
// only the writes vMCE takes succeed.
func TestVMCE(t *testing.T) {
	for _, amd := range []bool{false, true} {
		e := newEnv()
		if amd {
			e.v.Policy = NewPolicy(PolicyConfig{Host: amdHost(), CR4: hostCR4, XCR0: 7})
		}
		e.setTrap(arch.VecGP, 0, ktext+0x800)
		var r arch.Regs
		read := func(idx uint32) (uint64, bool) {
			v, f := e.v.readMSR(&r, idx)
			return v, f == nil
		}
		wantCap := uint64(mcgSERP | mcgTESP | mcgCMCIP | 2)
		if amd {
			wantCap = 2
		}
		for _, tc := range []struct {
			idx uint32
			val uint64
			ok  bool
		}{
			{MSR_IA32_MCG_CAP, wantCap, true}, {MSR_IA32_MCG_STATUS, 0, true}, {MSR_IA32_MCG_CTL, 0, true},
			{MSR_IA32_MC0_CTL, ^uint64(0), true}, {MSR_IA32_MC0_CTL + 1, 0, true}, {MSR_IA32_MC0_CTL + 7, 0, true},
			{MSR_IA32_MC0_CTL + 8, 0, true}, {MSR_IA32_MC0_CTL + 4*31 + 3, 0, true}, {MSR_IA32_MC0_CTL2 + 1, 0, true},
			{MSR_IA32_MCG_EXT_CTL, 0, false}, {0x17c, 0, false}, {0x480, 0, false},
		} {
			if v, ok := read(tc.idx); v != tc.val || ok != tc.ok {
				t.Errorf("amd %v: rdmsr %#x = %#x, %v; want %#x, %v", amd, tc.idx, v, ok, tc.val, tc.ok)
			}
		}
		for _, tc := range []struct {
			idx uint32
			val uint64
			ok  bool
		}{
			{MSR_IA32_MCG_STATUS, 4, true}, {MSR_IA32_MCG_CAP, 0, true}, {MSR_IA32_MCG_CTL, ^uint64(0), true},
			{MSR_IA32_MC0_CTL, 0, true}, {MSR_IA32_MC0_CTL + 1, 0, true}, {MSR_IA32_MC0_CTL + 5, 1, false},
			{MSR_IA32_MC0_CTL + 6, 0, true}, {MSR_IA32_MC0_CTL + 4*9 + 3, 1, false},
			{MSR_IA32_MC0_CTL2 + 1, 1<<30 | 1<<20 | 5, true}, {MSR_IA32_MCG_EXT_CTL, 0, false},
		} {
			if f := e.v.writeMSR(&r, tc.idx, tc.val); (f == nil) != tc.ok {
				t.Errorf("amd %v: wrmsr %#x, %#x: ok %v, want %v", amd, tc.idx, tc.val, f == nil, tc.ok)
			}
		}
		if v, _ := read(MSR_IA32_MCG_STATUS); v != 4 {
			t.Errorf("MCG_STATUS %#x after writing 4", v)
		}
		want := uint64(1<<30 | 5)
		if amd {
			want = 0
		}
		if v, _ := read(MSR_IA32_MC0_CTL2 + 1); v != want {
			t.Errorf("amd %v: MC1_CTL2 %#x, want %#x", amd, v, want)
		}
		if v, _ := read(MSR_IA32_MCG_CAP); v != wantCap {
			t.Errorf("MCG_CAP changed by a write: %#x", v)
		}
	}
}
