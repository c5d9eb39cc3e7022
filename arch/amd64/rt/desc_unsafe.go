package rt

import (
	"unsafe"

	"github.com/gohv/gohv/arch/amd64"
)

// Descriptor tables, laid out as Xen's so PV guests see the selectors the
// ABI names. The GDT is Xen's 16-page window, one per CPU in the per-CPU
// area: pages 0-13 (entries 0-7167) are the frames of the running vCPU's
// set_gdt table, mapped read-write for the CPU (it sets accessed bits;
// hv validated every descriptor) or a zero page (not present) where it
// has none; pages 14-15 are this CPU's reserved entries:
//
//	0xe008 ring-0 code   0xe010 ring-0 data
//	0xe023 ring-3 32-bit code (FLAT_RING3_CS32)   0xe02b ring-3 data (FLAT_RING3_DS32/SS)
//	0xe033 ring-3 64-bit code (FLAT_RING3_CS64)   0xe040 the TSS
//
// Its limit covers all 16 pages, as Xen's does. The entry maps a vCPU's
// frames when the window holds another's (cpuState.gdtOwner).
//
// Everything the CPU reads on a transition (GDT, IDT, TSS, IST stacks,
// gate targets) is in the upper half, which every guest's page tables map
// too. IST1 takes exceptions and interrupts (ring-0 Go code may be near the
// end of its goroutine stack, so nothing runs on the interrupted stack),
// IST2 NMI and #MC, IST3 #DF, IST4 #DB.

const (
	selKernelCS = 0xe008
	selKernelDS = 0xe010
	selUser32CS = 0xe023
	selUserDS   = 0xe02b
	selUser64CS = 0xe033
	selTSS      = 0xe040

	vecPIC   = 0x20
	istSize  = 16 << 10
	gateIntr = 0x8E // present, DPL 0, 64-bit interrupt gate
)

// The GDT window: 16 pages per CPU at perCPUBase, the first 14 the guest's.
const (
	gdtPages      = 16
	gdtGuestPages = 14
	gdtReserved   = gdtGuestPages * pageSize / 8 // first reserved entry (FIRST_RESERVED_GDT_ENTRY)
)

var (
	// gdtPool holds, page-aligned at runtime, a zero page (the window's
	// not-present guest pages) and each CPU's two reserved pages.
	gdtPool [(1+2*maxCPUs)*pageSize + pageSize]byte
	idt     [256][2]uint64
	tss     [13]uint64 // 104 bytes
	dtr     [2]uint64  // pseudo-descriptor scratch for LGDT/LIDT
	ist1    [istSize]byte
	ist2    [istSize]byte
	ist3    [istSize]byte
	ist4    [istSize]byte // #DB (debugreg_unsafe.go)

	// gateStubs (guest_amd64.s): exceptions 0-21, the 16 8259 lines,
	// then frontSyscall (LSTAR) and frontSyscall32 (CSTAR).
	gateStubs [40]uintptr
	// asmAddrs: -, threadStart, irqTimer, irqDevice, faultTrampoline,
	// runtime.text, runtime.end, runtime.etext (entry_amd64.s).
	asmAddrs [8]uintptr
)

//go:nosplit
func setGate(vec int, fn uintptr, ist uint64) {
	idt[vec][0] = uint64(fn&0xffff) | selKernelCS<<16 | ist<<32 | gateIntr<<40 | uint64((fn>>16)&0xffff)<<48
	idt[vec][1] = uint64(fn >> 32)
}

//go:nosplit
func pseudoDescriptor(base uintptr, size uintptr) uint64 {
	dtr[0] = uint64(size-1) | uint64(base)<<16
	dtr[1] = uint64(base) >> 48
	return uint64(uintptr(unsafe.Pointer(&dtr[0])))
}

// gdtZeroPage is the zero page behind the window's unused guest pages.
var gdtZeroPage uintptr

// gdtWindowInit maps CPU c's GDT window: the zero page read-only in the
// guest's 14 pages, the reserved pages at reserved read-write. Context:
// kmain, after buildPageTables.
//
//go:nosplit
func gdtWindowInit(c *cpuState, reserved uintptr) {
	c.gdtVA = perCPUBase + c.id*gdtPages*pageSize
	c.gdtPT = ptPage(ptPerCPUPT) + c.id*gdtPages*8
	for i := uintptr(0); i < gdtGuestPages; i++ {
		*word(c.gdtPT + i*8) = gdtEmptyPTE()
	}
	for i := uintptr(0); i < 2; i++ {
		*word(c.gdtPT + (gdtGuestPages+i)*8) = imagePA(reserved+i*pageSize) | pteFlags | nxBit
	}
}

// gdtEmptyPTE maps a guest page of the window that the vCPU's GDT does not
// reach: the zero page, read-only (its descriptors are not present).
//
//go:nosplit
func gdtEmptyPTE() uint64 { return imagePA(gdtZeroPage) | amd64.PTE_P | nxBit }

// Flat segment descriptors.
const (
	descCode64 = 0x00AF9A000000FFFF // L, P, DPL 0, code
	descData   = 0x00CF92000000FFFF // G, D, P, DPL 0, data
	descDPL3   = 3 << 45
	descCode32 = 0x00CF9A000000FFFF // G, D, P, DPL 0, 32-bit code
)

// initDescriptors installs the GDT with a TSS, and the IDT, and reloads the
// segment registers. Context: kmain, after buildPageTables.
//
//go:nosplit
func initDescriptors() {
	c := thisCPU()
	pool := alignUp(uintptr(unsafe.Pointer(&gdtPool[0])), pageSize)
	gdtZeroPage = pool
	reserved := (*[2 * pageSize / 8]uint64)(unsafe.Pointer(pool + (1+2*c.id)*pageSize))
	gdtWindowInit(c, pool+(1+2*c.id)*pageSize)
	reserved[selKernelCS>>3-gdtReserved] = descCode64
	reserved[selKernelDS>>3-gdtReserved] = descData
	reserved[selUser32CS>>3-gdtReserved] = descCode32 | descDPL3
	reserved[selUserDS>>3-gdtReserved] = descData | descDPL3
	reserved[selUser64CS>>3-gdtReserved] = descCode64 | descDPL3
	tb := uintptr(unsafe.Pointer(&tss[0]))
	*word(tb + 0x24) = uint64(uintptr(unsafe.Pointer(&ist1[0])) + istSize) // IST1
	*word(tb + 0x2C) = uint64(uintptr(unsafe.Pointer(&ist2[0])) + istSize) // IST2
	*word(tb + 0x34) = uint64(uintptr(unsafe.Pointer(&ist3[0])) + istSize) // IST3
	*word(tb + 0x3C) = uint64(uintptr(unsafe.Pointer(&ist4[0])) + istSize) // IST4
	*word(tb + 0x04) = uint64(uintptr(unsafe.Pointer(&ist1[0])) + istSize) // RSP0 (unused: every gate has an IST)
	*(*uint16)(unsafe.Pointer(tb + 0x66)) = 104                            // no I/O bitmap
	base := uint64(tb)
	reserved[selTSS>>3-gdtReserved] = 103 | (base&0xffffff)<<16 | 0x89<<40 | ((base>>24)&0xff)<<56
	reserved[selTSS>>3-gdtReserved+1] = base >> 32
	amd64.Lgdt(pseudoDescriptor(c.gdtVA, gdtPages*pageSize))
	reloadSegments()
	amd64.Ltr(selTSS)
	c.selDS, c.selES, c.selFS, c.selGS = selKernelDS, selKernelDS, 0, 0

	for v := 0; v < 22; v++ {
		ist := uint64(1)
		switch v {
		case 2, 18: // NMI, #MC
			ist = 2
		case 8: // #DF
			ist = 3
		case 1: // #DB: its own stack, as it can hit on another gate's first instruction
			ist = 4
		}
		setGate(v, gateStubs[v], ist)
	}
	// INT3 and INTO may be raised from ring 3 (a PV guest's int3/into
	// reach their handlers directly, as on Xen); any other INT n from a
	// guest is a #GP the hypervisor decodes.
	idt[3][0] |= 3 << 45
	idt[4][0] |= 3 << 45
	for i := 0; i < 16; i++ {
		setGate(vecPIC+i, gateStubs[22+i], 1)
	}
	amd64.Lidt(pseudoDescriptor(uintptr(unsafe.Pointer(&idt[0])), unsafe.Sizeof(idt)))
}
