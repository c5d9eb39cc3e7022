package hw

import "encoding/binary"

// The AP start-up trampoline: the code a CPU woken by INIT-SIPI-SIPI runs
// from a page below 1 MiB (the SIPI vector is its page number), taking it
// from real mode through 32-bit protected mode into long mode on the
// trampoline's own page tables (the low 2 MiB identity-mapped, the upper
// half shared with gohv's), and then to TrampEntry in gohv's image with
// RAX = gohv's CR3, RDI = its cpuState and RSP = its boot stack. Four
// pages from the base: the code and its data, the PML4, a PDPT and a PD.
// The machine code is hand-assembled here (Go's assembler has no 16-bit
// mode); the encodings are those of the Intel SDM vol. 2.

// Trampoline layout (offsets from its base).
const (
	TrampPages  = 4
	TrampSize   = TrampPages * PageSize
	tramp32     = 0x20  // 32-bit code
	tramp64     = 0x60  // 64-bit code
	TrampGDT    = 0xF00 // null, 0x08 code32, 0x10 data, 0x18 code64
	TrampGDTR   = 0xF20 // limit u16, base u32
	TrampCR3    = 0xF30 // u32: the trampoline's PML4
	TrampCR4    = 0xF34 // u32
	TrampEFER   = 0xF38 // u32
	TrampCR0    = 0xF3C // u32
	TrampEntry  = 0xF40 // u64: where the 64-bit code jumps
	TrampStack  = 0xF48 // u64: RSP
	TrampCPU    = 0xF50 // u64: RDI
	TrampGoCR3  = 0xF58 // u64: RAX
	TrampPML4   = 1 * PageSize
	TrampPDPT   = 2 * PageSize
	TrampPD     = 3 * PageSize
	trampCode32 = 0x08
	trampData   = 0x10
	trampCode64 = 0x18
)

// TrampolineOK reports whether base can hold the trampoline: page-aligned,
// at least one page up (vector 0 is the real-mode IVT) and wholly below
// 1 MiB.
//
//go:nosplit
func TrampolineOK(base uint64) bool {
	return base%PageSize == 0 && base >= PageSize && base+TrampSize <= 1<<20
}

// SIPIVector is the start-up IPI's vector for a trampoline at base.
//
//go:nosplit
func SIPIVector(base uint64) uint8 { return uint8(base >> 12) }

// Trampoline fills p, the trampoline's pages to be copied to physical
// base, for a CPU entering gohv at entry on stack stack with cpu in RDI
// and goCR3 in RAX. cr0, cr4 and efer are the boot CPU's (the AP takes
// them; CR0.TS and EFER.LMA are cleared). upper are gohv's PML4 entries
// 256-511, copied into the trampoline's PML4. base must satisfy
// TrampolineOK. Context: ordinary Go code (it is not nosplit).
func Trampoline(p *[TrampSize]byte, base uint64, cr0, cr4, efer uint64, upper *[256]uint64, entry, stack, cpu, goCR3 uint64) {
	*p = [TrampSize]byte{}
	b := uint32(base)
	le := binary.LittleEndian
	code16 := [...]byte{
		0xFA,       // cli
		0x8C, 0xC8, // mov ax, cs
		0x8E, 0xD8, // mov ds, ax
		0x66, 0x0F, 0x01, 0x16, TrampGDTR & 0xFF, TrampGDTR >> 8, // lgdtl [TrampGDTR]
		0x0F, 0x20, 0xC0, // mov eax, cr0
		0x66, 0x83, 0xC8, 0x01, // or eax, 1 (PE)
		0x0F, 0x22, 0xC0, // mov cr0, eax
		0x66, 0xEA, 0, 0, 0, 0, trampCode32, 0, // jmp far 0x08:base+tramp32
	}
	copy(p[:], code16[:])
	le.PutUint32(p[len(code16)-6:], b+tramp32)

	c := p[tramp32:]
	n := 0
	emit := func(bs []byte) { n += copy(c[n:], bs) }
	emit32 := func(v uint32) { le.PutUint32(c[n:], v); n += 4 }
	emit([]byte{0xB8, trampData, 0, 0, 0}) // mov eax, 0x10
	emit([]byte{0x8E, 0xD8})               // mov ds, ax
	emit([]byte{0x8E, 0xC0})               // mov es, ax
	emit([]byte{0x8E, 0xD0})               // mov ss, ax
	emit([]byte{0xA1})                     // mov eax, [TrampCR4]
	emit32(b + TrampCR4)
	emit([]byte{0x0F, 0x22, 0xE0}) // mov cr4, eax
	emit([]byte{0xA1})             // mov eax, [TrampCR3]
	emit32(b + TrampCR3)
	emit([]byte{0x0F, 0x22, 0xD8})             // mov cr3, eax
	emit([]byte{0xB9, 0x80, 0x00, 0x00, 0xC0}) // mov ecx, 0xC0000080 (EFER)
	emit([]byte{0xA1})                         // mov eax, [TrampEFER]
	emit32(b + TrampEFER)
	emit([]byte{0x31, 0xD2}) // xor edx, edx
	emit([]byte{0x0F, 0x30}) // wrmsr
	emit([]byte{0xA1})       // mov eax, [TrampCR0]
	emit32(b + TrampCR0)
	emit([]byte{0x0F, 0x22, 0xC0}) // mov cr0, eax: paging on, long mode active
	emit([]byte{0xEA})             // jmp far 0x18:base+tramp64
	emit32(b + tramp64)
	emit([]byte{trampCode64, 0})

	c = p[tramp64:]
	n = 0
	emit([]byte{0x48, 0x8B, 0x24, 0x25}) // mov rsp, [TrampStack]
	emit32(b + TrampStack)
	emit([]byte{0x48, 0x8B, 0x3C, 0x25}) // mov rdi, [TrampCPU]
	emit32(b + TrampCPU)
	emit([]byte{0x48, 0x8B, 0x04, 0x25}) // mov rax, [TrampGoCR3]
	emit32(b + TrampGoCR3)
	emit([]byte{0x48, 0x8B, 0x0C, 0x25}) // mov rcx, [TrampEntry]
	emit32(b + TrampEntry)
	emit([]byte{0xFF, 0xE1}) // jmp rcx

	le.PutUint64(p[TrampGDT+trampCode32:], 0x00CF9A000000FFFF)
	le.PutUint64(p[TrampGDT+trampData:], 0x00CF92000000FFFF)
	le.PutUint64(p[TrampGDT+trampCode64:], 0x00AF9A000000FFFF)
	le.PutUint16(p[TrampGDTR:], 4*8-1)
	le.PutUint32(p[TrampGDTR+2:], b+TrampGDT)
	le.PutUint32(p[TrampCR3:], b+TrampPML4)
	le.PutUint32(p[TrampCR4:], uint32(cr4))
	le.PutUint32(p[TrampEFER:], uint32(efer&^EFERLMA))
	le.PutUint32(p[TrampCR0:], uint32(cr0&^CR0TS))
	le.PutUint64(p[TrampEntry:], entry)
	le.PutUint64(p[TrampStack:], stack)
	le.PutUint64(p[TrampCPU:], cpu)
	le.PutUint64(p[TrampGoCR3:], goCR3)

	// The low 2 MiB identity-mapped (supervisor, executable), then gohv's
	// upper half.
	le.PutUint64(p[TrampPML4:], uint64(b+TrampPDPT)|PTE_P|PTE_W)
	le.PutUint64(p[TrampPDPT:], uint64(b+TrampPD)|PTE_P|PTE_W)
	le.PutUint64(p[TrampPD:], PTE_P|PTE_W|PTE_PS)
	for i, e := range upper {
		le.PutUint64(p[TrampPML4+8*(256+i):], e)
	}
}

// Control-register bits the trampoline clears from the boot CPU's values.
const (
	CR0TS   = 1 << 3
	EFERLMA = 1 << 10
)
