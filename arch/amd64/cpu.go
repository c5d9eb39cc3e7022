package amd64

import "github.com/gohv/gohv/arch/amd64/hw"

// Port I/O, MSRs, control registers and descriptor-table loads, each one
// instruction (cpu_amd64.s). All are safe in any context; none allocates.

func Outb(port uint16, v uint8)
func Inb(port uint16) uint8
func Outw(port uint16, v uint16)
func Inw(port uint16) uint16
func Outl(port uint16, v uint32)
func Inl(port uint16) uint32
func Rdmsr(msr uint32) uint64
func Wrmsr(msr uint32, v uint64)
func Rdtsc() uint64
func Cpuid(leaf, sub uint32) (eax, ebx, ecx, edx uint32)
func ReadCR0() uint64
func ReadCR2() uint64
func ReadCR3() uint64
func WriteCR3(v uint64)
func ReadCR4() uint64
func WriteCR4(v uint64)
func Invlpg(va uint64)
func Lgdt(desc uint64)
func Lidt(desc uint64)
func Ltr(sel uint16)
func Cli()
func StiHlt()
func Halt()
func Pause()
func Rdrand() (v uint64, ok bool)
func ReadRFLAGS() uint64
func WriteGSBase(v uint64)
func Xchg32(addr uint64, v uint32) uint32

// MMIOWrite32 stores v at addr with one plain 32-bit MOV: a device
// register (the local APIC, the IO-APIC, an MSI-X table). Never an XCHG,
// which is what atomic.StoreUint32 compiles to: a locked access to device
// memory is not needed and, under QEMU's TCG, makes every other CPU stop
// while it runs (an atomic it cannot do with the host's).
func MMIOWrite32(addr uintptr, v uint32)
func Fxsave(addr uint64)
func Fxrstor(addr uint64)

// MSR numbers used by the metal.
const (
	MSR_EFER         = 0xC0000080
	MSR_STAR         = 0xC0000081
	MSR_LSTAR        = 0xC0000082
	MSR_CSTAR        = 0xC0000083
	MSR_SYSCALL_MASK = 0xC0000084
	MSR_FS_BASE      = 0xC0000100
	MSR_GS_BASE      = 0xC0000101
	MSR_SHADOW_GS    = 0xC0000102
	MSR_PAT          = 0x277

	EFER_SCE = 1 << 0
	EFER_LME = 1 << 8
	EFER_NXE = 1 << 11
)

// CR4 bits.
const (
	CR4_SMEP = 1 << 20
	CR4_SMAP = 1 << 21
)

// RFLAGS bits (arch/amd64/hw owns them).
const (
	RFLAGS_TF   = hw.RFLAGS_TF
	RFLAGS_IF   = hw.RFLAGS_IF
	RFLAGS_DF   = hw.RFLAGS_DF
	RFLAGS_NT   = hw.RFLAGS_NT
	RFLAGS_RF   = hw.RFLAGS_RF
	RFLAGS_VM   = hw.RFLAGS_VM
	RFLAGS_AC   = hw.RFLAGS_AC
	RFLAGS_IOPL = hw.RFLAGS_IOPL
)

// Page-table entry bits: the pure package arch/amd64/hw owns them and
// the encodings built from them.
const (
	PTE_P   = hw.PTE_P
	PTE_W   = hw.PTE_W
	PTE_U   = hw.PTE_U
	PTE_PWT = hw.PTE_PWT
	PTE_PCD = hw.PTE_PCD
	PTE_A   = hw.PTE_A
	PTE_D   = hw.PTE_D
	PTE_PS  = hw.PTE_PS
	PTE_G   = hw.PTE_G
	PTE_NX  = hw.PTE_NX

	PTE_ADDR = hw.PTE_ADDR
)
