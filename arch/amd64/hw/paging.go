package hw

// Page-table entry bits (the same at every level; PS only above L1).
const (
	PTE_P   = 1 << 0
	PTE_W   = 1 << 1
	PTE_U   = 1 << 2
	PTE_PWT = 1 << 3
	PTE_PCD = 1 << 4
	PTE_A   = 1 << 5
	PTE_D   = 1 << 6
	PTE_PS  = 1 << 7
	PTE_G   = 1 << 8
	PTE_NX  = 1 << 63

	PTE_ADDR = 0x000FFFFFFFFFF000

	// PTEDemand marks a not-present L1 entry of a committed read-write
	// mmap page: the first touch faults and rt backs it with a zeroed
	// frame. Bit 9 is ignored by the CPU when P is clear.
	PTEDemand = 1 << 9
)

// The hypervisor's address space lives in the upper half, in L4 slots of
// Xen's reserved range (256-271), so that the same entries sit in every
// guest's top-level table:
//
//	slot 256  0xffff800000000000  the read-only M2P guests see (hv builds it)
//	slot 257  0xffff808000000000  per-CPU area: each CPU's GDT window
//	slot 260  0xffff820000000000  the Go runtime's mmap window
//	slot 261  0xffff828000000000  the image, at ImageOffset + its physical
//	                              address, with its segments' permissions
//	slot 262  0xffff830000000000  the direct map of [0, DirectMapEnd)
const (
	PageSize = 4096

	SlotFirstReserved = 256 // Xen's HYPERVISOR_VIRT_START slot
	SlotReserved      = 16  // slots 256-271
	SlotPerCPU        = 257
	SlotMmap          = 260
	SlotImage         = 261
	SlotDirect        = 262

	PerCPUBase    = 0xFFFF808000000000
	MmapBase      = 0xFFFF820000000000 // the mmap window
	MmapEnd       = 0xFFFF828000000000
	ImageOffset   = 0xFFFF82D040000000 // image VA minus PA
	DirectMapBase = 0xFFFF830000000000

	// DirectMapGiB bounds the direct map: rt's pool has a PD page per
	// GiB, and builds them all, but once dom0 is built keeps those of
	// DirectMapGiBFor the machine's highest address and gives the rest
	// to the domains (rt.FreeInitMemory); device memory above is mapped
	// again on demand.
	DirectMapGiB = 64
	DirectMapEnd = DirectMapGiB << 30 // physical addresses the direct map may cover
	// ImageMax bounds the image window, physical [0, ImageMax): one
	// page table of rt's pool per 2 MiB, kept for good, so no larger
	// than the image (about 7 MiB from 0 to the end of its bss) needs
	// with room to grow; kmain stops with a message on a larger image.
	ImageMax = 16 << 20

	// The image loads at physical TextPA and runs at TextBase (-T in the
	// Makefile; TEXT_PA in rt's entry_amd64.s); its ELF headers are the
	// page before.
	TextPA   = 0x200000
	TextBase = ImageOffset + TextPA

	// MaxCPUs bounds the per-CPU tables: every CPU's GDT window fits in
	// the per-CPU area's one page table.
	MaxCPUs = 8
)

// GohvSlots are the L4 slots gohv's own tables fill, each the same in
// every guest top level.
var GohvSlots = [...]int{SlotPerCPU, SlotMmap, SlotImage, SlotDirect}

// Indices of the static tables in rt's page-table pool, in the image's
// bss: the top level, the per-CPU area's PDPT, PD and one PT, the mmap
// window's PDPT, the image's PDPT, PD and one PT per 2 MiB of ImageMax,
// and the direct map's PDPT and one PD per GiB.
const (
	PTPML4       = 0
	PTPerCPUPDPT = 1
	PTPerCPUPD   = 2
	PTPerCPUPT   = 3
	PTMmapPDPT   = 4
	PTImagePDPT  = 5
	PTImagePD    = 6
	PTImagePT    = 7
	PTDirectPDPT = PTImagePT + ImageMax>>21
	PTDirectPD   = PTDirectPDPT + 1
	PTPages      = PTDirectPD + DirectMapGiB
)

// Index returns va's entry index in its level-lvl table (4: the top
// level, 1: the page table).
//
//go:nosplit
func Index(va uint64, lvl uint) uint64 { return va >> (12 + 9*(lvl-1)) & 511 }

// PastEntry returns the first address after the range that va's
// level-lvl entry maps (lvl 1: va's page; 2: its 2 MiB; 3: its GiB; 4:
// its 512 GiB), or 0 if that range ends at the top of the address space.
// A walk over a range whose level-lvl entry is absent goes on from there:
// no page below it is mapped.
//
//go:nosplit
func PastEntry(va uint64, lvl uint) uint64 {
	span := uint64(1) << (12 + 9*(lvl-1))
	return va&^(span-1) + span
}

// SlotBase returns the canonical address L4 slot s maps first.
//
//go:nosplit
func SlotBase(s uint64) uint64 { return uint64(int64(s<<39<<16) >> 16) }

// DirectMapGiBFor is how many GiBs of the direct map a machine whose
// highest RAM or firmware-listed address is below top needs: top rounded
// up to a GiB, at least 4 (the local APIC, IO-APICs and MMCONFIG sit
// below 4 GiB, and kmain reads the boot information there), at most
// DirectMapGiB.
//
//go:nosplit
func DirectMapGiBFor(top uint64) uint64 {
	g := top >> 30
	if top&(1<<30-1) != 0 {
		g++
	}
	return min(max(g, 4), DirectMapGiB)
}

// DirectMap returns the direct-map address of physical address pa (valid
// below DirectMapEnd).
//
//go:nosplit
func DirectMap(pa uint64) uint64 { return pa + DirectMapBase }

// ImagePA returns the physical address of va, an address in the image.
//
//go:nosplit
func ImagePA(va uint64) uint64 { return va - ImageOffset }

// ImageVA returns the image address of physical address pa.
//
//go:nosplit
func ImageVA(pa uint64) uint64 { return pa + ImageOffset }

// InImage reports whether [va, va+n) lies in the image window.
//
//go:nosplit
func InImage(va, n uint64) bool {
	return va >= ImageOffset && va+n >= va && va+n <= ImageOffset+ImageMax
}

// TablePTE is the entry pointing at the next-level table at physical
// address pa: present and writable, so that the leaf decides.
//
//go:nosplit
func TablePTE(pa uint64) uint64 { return pa&PTE_ADDR | PTE_P | PTE_W }

// DataPTE maps the frame at pa read-write, not executable (nx is PTE_NX
// when the CPU has EFER.NXE on, else 0).
//
//go:nosplit
func DataPTE(pa, nx uint64) uint64 { return pa&PTE_ADDR | PTE_P | PTE_W | nx }

// ReadOnlyPTE maps the frame at pa read-only, not executable.
//
//go:nosplit
func ReadOnlyPTE(pa, nx uint64) uint64 { return pa&PTE_ADDR | PTE_P | nx }

// DirectPDE is the 2 MiB entry i of the direct map's PD for GiB g.
//
//go:nosplit
func DirectPDE(g, i, nx uint64) uint64 { return g<<30 | i<<21 | PTE_P | PTE_W | PTE_PS | nx }

// GDTWindow returns the address of CPU cpu's GDT window in the per-CPU
// area and the index of its first entry in the area's page table.
//
//go:nosplit
func GDTWindow(cpu uint64) (va uint64, pte uint64) {
	return PerCPUBase + cpu*GDTPages*PageSize, cpu * GDTPages
}

// AlignUp rounds v up to a multiple of a (a power of two); ok is false if
// that overflows.
//
//go:nosplit
func AlignUp(v, a uint64) (r uint64, ok bool) {
	r = (v + a - 1) &^ (a - 1)
	return r, r >= v
}
