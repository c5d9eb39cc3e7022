package amd64

// Cache, debug-register and entropy instructions (hwstate_amd64.s), each
// one instruction like cpu.go's, and as safe in any context; none
// allocates. The debug-register moves and WBINVD are ring 0 only.

// Wbinvd writes back and invalidates this CPU's caches.
func Wbinvd()

// ReadDR6 and WriteDR6 move DR6 (the debug status).
func ReadDR6() uint64
func WriteDR6(v uint64)

// ReadDR7 and WriteDR7 move DR7 (the breakpoint enables).
func ReadDR7() uint64
func WriteDR7(v uint64)

// Rdseed is RDSEED into a 64-bit register; ok false when the CPU had no
// entropy ready (CF clear). The caller checks CPUID.(7,0).EBX[18] first.
func Rdseed() (v uint64, ok bool)

// CR4 bits a PV guest controls (Xen's pv_make_cr4) and the one the metal
// leaves off, with the CPUID bits that say the CPU has them.
const (
	CR4_TSD             = 1 << 2
	CR4_DE              = 1 << 3
	CR4_FSGSBASE        = 1 << 16
	CR4_OSXSAVE         = 1 << 18
	CPUID1_ECX_XSAVE    = 1 << 26
	CPUID7_EBX_FSGSBASE = 1 << 0
	CPUID7_EBX_RDSEED   = 1 << 18
	CPUID1_ECX_RDRAND   = 1 << 30
)

// DR6Default is DR6's value with no debug condition recorded: what the
// metal writes back after reading it.
const DR6Default = 0xffff0ff0
