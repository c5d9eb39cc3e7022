package hw

// Descriptor tables laid out as Xen's, so PV guests see the selectors the
// ABI names (xen/include/public/arch-x86/xen-x86_64.h). Each CPU's GDT is
// a 16-page window: pages 0-13 (entries 0-7167) are the running vCPU's
// set_gdt frames, pages 14-15 hold the CPU's reserved entries from
// GDTReserved (Xen's FIRST_RESERVED_GDT_ENTRY) on.

// Selectors of the reserved entries.
const (
	SelKernelCS = 0xe008 // ring-0 code
	SelKernelDS = 0xe010 // ring-0 data
	SelUser32CS = 0xe023 // ring-3 32-bit code (FLAT_RING3_CS32)
	SelUserDS   = 0xe02b // ring-3 data (FLAT_RING3_DS32, FLAT_RING3_SS64)
	SelUser64CS = 0xe033 // ring-3 64-bit code (FLAT_RING3_CS64)
	SelTSS      = 0xe040 // the TSS (two entries)
)

// The GDT window.
const (
	GDTPages      = 16
	GDTGuestPages = 14
	GDTReserved   = GDTGuestPages * PageSize / 8 // first reserved entry
	GDTEntries    = GDTPages * PageSize / 8
)

// ReservedIndex returns the index of selector sel's descriptor in the
// window's reserved pages (entry sel>>3 minus GDTReserved).
//
//go:nosplit
func ReservedIndex(sel uint16) int { return int(sel>>3) - GDTReserved }

// Flat segment descriptors (base 0, limit 4 GiB where it counts).
const (
	DescCode64 = 0x00AF9A000000FFFF // G, L, P, DPL 0, code execute/read
	DescCode32 = 0x00CF9A000000FFFF // G, D, P, DPL 0, code execute/read
	DescData   = 0x00CF92000000FFFF // G, D/B, P, DPL 0, data read/write
	DescDPL3   = 3 << 45            // OR in: DPL 3
)

// Gate and TSS types (the access byte: P, DPL 0, type).
const (
	GateInterrupt = 0x8E // present 64-bit interrupt gate
	TSSAvailable  = 0x89 // present available 64-bit TSS
)

// Gate encodes the 16-byte interrupt gate for a handler at target, entered
// with code selector sel on IST stack ist (0: none, 1-7), callable by INT n
// from rings up to dpl.
//
//go:nosplit
func Gate(target uint64, sel uint16, ist, dpl uint8) (lo, hi uint64) {
	lo = target&0xffff | uint64(sel)<<16 | uint64(ist&7)<<32 |
		uint64(GateInterrupt|(dpl&3)<<5)<<40 | (target>>16&0xffff)<<48
	return lo, target >> 32
}

// GateTarget returns the handler address of a gate Gate encoded.
//
//go:nosplit
func GateTarget(lo, hi uint64) uint64 { return lo&0xffff | (lo>>48)<<16 | hi<<32 }

// TSSDesc encodes the 16-byte system descriptor of an available 64-bit
// TSS at base with the given limit (size minus one, at most 20 bits).
//
//go:nosplit
func TSSDesc(base uint64, limit uint32) (lo, hi uint64) {
	lo = uint64(limit&0xffff) | (base&0xffffff)<<16 | TSSAvailable<<40 |
		uint64(limit>>16&0xf)<<48 | (base>>24&0xff)<<56
	return lo, base >> 32
}

// PseudoDesc returns the 10-byte LGDT/LIDT operand for a table of size
// bytes at base, as two little-endian words (limit, then base).
//
//go:nosplit
func PseudoDesc(base, size uint64) (w0, w1 uint64) {
	return (size-1)&0xffff | base<<16, base >> 48
}

// The 64-bit TSS (104 bytes): where its fields are.
const (
	TSSSize       = 104
	TSSRSP0       = 0x04
	TSSIOMapBase  = 0x66 // 16 bits: TSSSize means no I/O bitmap
	tssIST1       = 0x24
	ExceptionGate = 22 // vectors 0-21 are the architecture's exceptions
)

// TSSIST returns the offset in the TSS of IST pointer n (1-7).
//
//go:nosplit
func TSSIST(n int) int { return tssIST1 + 8*(n-1) }

// ExceptionIST returns the IST stack the gate of exception vec uses:
// 2 for NMI and #MC, 3 for #DF, 4 for #DB (a guest's breakpoint can hit
// on another gate's first instruction, after MOV SS), 1 for everything
// else (gohv's own code may be near the end of its goroutine stack, so
// nothing runs on the interrupted stack).
//
//go:nosplit
func ExceptionIST(vec int) uint8 {
	switch vec {
	case 2, 18:
		return 2
	case 8:
		return 3
	case 1:
		return 4
	}
	return 1
}

// ExceptionDPL returns the DPL of exception vec's gate: 3 for #BP and #OF,
// which a PV guest's int3 and into raise directly, as on Xen; any other
// INT n from ring 3 is a #GP the hypervisor decodes.
//
//go:nosplit
func ExceptionDPL(vec int) uint8 {
	if vec == 3 || vec == 4 {
		return 3
	}
	return 0
}
