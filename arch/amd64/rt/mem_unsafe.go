package rt

import (
	"unsafe"

	"github.com/gohv/gohv/arch/amd64"
)

// The hypervisor's address space lives in the upper half, in L4 slots of
// Xen's reserved range (256-271), so that the same entries sit in every
// guest's top-level table and gohv runs on whichever page tables are
// loaded: a guest exit changes no CR3.
//
//	slot 256  0xffff800000000000  the read-only M2P guests see (hv builds it)
//	slot 257  0xffff808000000000  per-CPU area: each CPU's GDT window
//	slot 260  0xffff820000000000  the Go runtime's mmap window: reservations,
//	                              then demand-zero pages backed by heap frames
//	slot 261  0xffff828000000000  the image, at imageOffset + its physical
//	                              address, 4 KiB pages with the permissions
//	                              of its segments (text RX, rodata R, data RW)
//	slot 262  0xffff830000000000  the direct map of physical memory
//	                              [0, directMapEnd), 2 MiB pages, no execute
//
// The lower half belongs to the guest whose tables are loaded; gohv's own
// tables map nothing there, so a nil dereference faults on them. Under a
// guest's tables it would read guest user memory, which SMAP (on when the
// CPU has it) turns into a fault again: every guest mapping carries
// _PAGE_USER and gohv touches guest memory through the direct map, or
// through the guest's mappings only in guestCopy, between STAC and CLAC.
//
// The frames behind the mmap window come from the hypervisor heap, one
// physical range [heapStart, heapEnd) chosen by kmain and withheld from the
// domain frame allocator. Freed frames (munmap, madvise DONTNEED) go back
// on a free list threaded through the frames themselves.
//
// The L4 entries are made once, by buildPageTables, and never change: the
// tables below them are shared by reference with every guest.

const (
	pageSize = 4096

	slotPerCPU = 257
	slotMmap   = 260
	slotImage  = 261
	slotDirect = 262

	perCPUBase    = 0xFFFF808000000000
	heapVABase    = 0xFFFF820000000000 // the mmap window
	heapVAEnd     = 0xFFFF828000000000
	imageOffset   = 0xFFFF82D040000000 // image VA minus PA
	directMapBase = 0xFFFF830000000000

	directMapGiB = 64
	directMapEnd = directMapGiB << 30 // physical addresses the direct map covers
	imageMax     = 32 << 20           // the image window: physical [0, imageMax)

	// pteDemand marks a not-present PTE of a committed read-write mmap
	// page: the first touch faults and demandFault backs it with a zeroed
	// frame. Bit 9 is ignored by the CPU when P=0.
	pteDemand = 1 << 9
	pteFlags  = amd64.PTE_P | amd64.PTE_W
)

// gohvSlots are the L4 slots gohv's own tables fill, each the same in
// every guest top level.
var gohvSlots = [...]uintptr{slotPerCPU, slotMmap, slotImage, slotDirect}

// ptPool page indices: the static tables, in the image's bss.
const (
	ptPML4       = 0
	ptPerCPUPDPT = 1
	ptPerCPUPD   = 2
	ptPerCPUPT   = 3
	ptMmapPDPT   = 4
	ptImagePDPT  = 5
	ptImagePD    = 6
	ptImagePT    = 7 // imageMax / 2 MiB tables
	ptDirectPDPT = ptImagePT + imageMax>>21
	ptDirectPD   = ptDirectPDPT + 1 // directMapGiB tables
	ptPages      = ptDirectPD + directMapGiB
)

var (
	ptPool [(ptPages + 1) * pageSize]byte // aligned at runtime
	ptBase uintptr                        // ptPool's first page
	pml4   uintptr                        // gohv's own top level (VA)
	// idleCR3 loads gohv's own tables: the upper half alone.
	idleCR3 uint64
	// nxBit is PTE_NX when the CPU supports it (EFER.NXE is on), else 0.
	nxBit uint64

	heapStart, heapEnd uint64 // physical range backing the runtime's memory
	heapNext           uint64 // bump pointer into [heapStart, heapEnd)
	heapFree           uint64 // head of the free-frame list (physical)
	heapFrames         uint64 // frames handed out and not freed
	heapPeak           uint64

	mmapNext uintptr = heapVABase // next unused VA in the mmap window
)

//go:nosplit
func alignUp(v, a uintptr) uintptr { return (v + a - 1) &^ (a - 1) }

//go:nosplit
func word(p uintptr) *uint64 { return (*uint64)(unsafe.Pointer(p)) }

// dm returns the direct-map address of physical address pa. Valid for pa
// below directMapEnd (below 4 GiB before buildPageTables: entry32's tables
// map that much).
//
//go:nosplit
func dm(pa uint64) uintptr { return uintptr(pa) + directMapBase }

// imagePA returns the physical address of va, an address in the image
// (text, data, bss).
//
//go:nosplit
func imagePA(va uintptr) uint64 { return uint64(va - imageOffset) }

//go:nosplit
func zeroPage(p uintptr) {
	w := (*[pageSize / 8]uint64)(unsafe.Pointer(p))
	for i := range w {
		w[i] = 0
	}
}

//go:nosplit
func ptPage(i uintptr) uintptr { return ptBase + i*pageSize }

// link points entry idx of table at next, both static tables in ptPool.
//
//go:nosplit
func link(table, idx, next uintptr) { *word(table + idx*8) = imagePA(next) | pteFlags }

// buildPageTables builds gohv's final tables and loads them: the image
// with its segments' permissions, the direct map, and the L4 entries of
// the per-CPU area and the mmap window with their next level ready.
// Context: kmain, on entry32's tables, before the runtime starts.
//
//go:nosplit
func buildPageTables() {
	ptBase = alignUp(uintptr(unsafe.Pointer(&ptPool[0])), pageSize)
	for i := uintptr(0); i < ptPages; i++ {
		zeroPage(ptPage(i))
	}
	pml4 = ptPage(ptPML4)

	// Per-CPU area: a PDPT, a PD and the table of the first 2 MiB, where
	// the GDT windows go.
	link(pml4, slotPerCPU, ptPage(ptPerCPUPDPT))
	link(ptPage(ptPerCPUPDPT), 0, ptPage(ptPerCPUPD))
	link(ptPage(ptPerCPUPD), 0, ptPage(ptPerCPUPT))

	// mmap window: its PDPT now, the rest on demand (pteCreate).
	link(pml4, slotMmap, ptPage(ptMmapPDPT))

	// The image, page by page, as its PT_LOAD segments ask (the ELF
	// headers the loader put before the text say where they are).
	link(pml4, slotImage, ptPage(ptImagePDPT))
	link(ptPage(ptImagePDPT), (imageOffset>>30)&511, ptPage(ptImagePD))
	for i := uintptr(0); i < imageMax>>21; i++ {
		link(ptPage(ptImagePD), i, ptPage(ptImagePT+i))
	}
	ehdr := uintptr(textBase - pageSize)
	phoff := *word(ehdr + 32)
	phnum := uintptr(*(*uint16)(unsafe.Pointer(ehdr + 56)))
	for i := uintptr(0); i < phnum; i++ {
		ph := ehdr + uintptr(phoff) + i*56
		if *(*uint32)(unsafe.Pointer(ph)) != 1 { // PT_LOAD
			continue
		}
		flags := *(*uint32)(unsafe.Pointer(ph + 4))
		start := uintptr(*word(ph + 16)) &^ (pageSize - 1)
		end := alignUp(uintptr(*word(ph + 16)+*word(ph + 40)), pageSize)
		pte := uint64(amd64.PTE_P)
		if flags&2 != 0 { // PF_W
			pte |= amd64.PTE_W
		}
		if flags&1 == 0 { // !PF_X
			pte |= nxBit
		}
		for va := start; va < end; va += pageSize {
			pa := imagePA(va)
			*word(ptPage(ptImagePT) + uintptr(pa>>12)*8) = pa | pte
		}
	}

	// The direct map.
	link(pml4, slotDirect, ptPage(ptDirectPDPT))
	for g := uintptr(0); g < directMapGiB; g++ {
		pd := ptPage(ptDirectPD + g)
		link(ptPage(ptDirectPDPT), g, pd)
		for i := uintptr(0); i < 512; i++ {
			*word(pd + i*8) = uint64(g<<30|i<<21) | pteFlags | amd64.PTE_PS | nxBit
		}
	}
	idleCR3 = imagePA(pml4)
	amd64.WriteCR3(idleCR3)
}

// hypervisorSlots returns gohv's L4 entries for slots 256-271 (0 where it
// has none): what every guest top-level table must carry.
//
//go:nosplit
func hypervisorSlots() (s [16]uint64) {
	for _, i := range gohvSlots {
		s[i-256] = *word(pml4 + i*8) &^ (amd64.PTE_A | amd64.PTE_D)
	}
	return s
}

// allocFrame takes one zeroed frame from the hypervisor heap and returns
// its physical address. Out of heap is fatal: the runtime cannot go on
// without the memory it asked for.
//
//go:nosplit
func allocFrame() uint64 {
	var p uint64
	if heapFree != 0 {
		p = heapFree
		heapFree = *word(dm(p))
	} else if heapNext+pageSize <= heapEnd {
		p = heapNext
		heapNext += pageSize
	} else {
		heapExhausted()
	}
	heapFrames++
	if heapFrames > heapPeak {
		heapPeak = heapFrames
	}
	zeroPage(dm(p))
	return p
}

//go:nosplit
func freeFrame(p uint64) {
	*word(dm(p)) = heapFree
	heapFree = p
	heapFrames--
}

// pteLookup returns the address of the L1 entry for va in the mmap
// window, or 0 if an intermediate table is absent.
//
//go:nosplit
func pteLookup(va uintptr) uintptr {
	tbl := pml4
	for lvl := uint(3); lvl >= 1; lvl-- {
		v := *word(tbl + ((va>>(12+9*lvl))&511)*8)
		if v&amd64.PTE_P == 0 || v&amd64.PTE_PS != 0 {
			return 0
		}
		tbl = dm(v & amd64.PTE_ADDR)
	}
	return tbl + ((va>>12)&511)*8
}

// pteCreate is pteLookup that builds missing intermediate tables (below
// the window's L4 entry, which buildPageTables made).
//
//go:nosplit
func pteCreate(va uintptr) uintptr {
	tbl := pml4
	for lvl := uint(3); lvl >= 1; lvl-- {
		e := tbl + ((va>>(12+9*lvl))&511)*8
		v := *word(e)
		if v&amd64.PTE_P == 0 {
			v = allocFrame() | pteFlags
			*word(e) = v
		}
		tbl = dm(v & amd64.PTE_ADDR)
	}
	return tbl + ((va>>12)&511)*8
}

// inMmapWindow reports whether [va, va+n) lies in the mmap window.
//
//go:nosplit
func inMmapWindow(va, n uintptr) bool {
	return va >= heapVABase && va+n >= va && va+n <= heapVAEnd
}

// commit marks [va, va+n) as demand-zero read-write, keeping pages that
// are already backed.
//
//go:nosplit
func commit(va, n uintptr) {
	for off := uintptr(0); off < n; off += pageSize {
		e := pteCreate(va + off)
		if *word(e)&amd64.PTE_P == 0 {
			*word(e) = pteDemand
		}
	}
}

// release gives back the frames behind [va, va+n). keep leaves the pages
// committed (madvise DONTNEED: next touch reads zeros); otherwise they are
// unmapped.
//
//go:nosplit
func release(va, n uintptr, keep bool) {
	for off := uintptr(0); off < n; off += pageSize {
		e := pteLookup(va + off)
		if e == 0 {
			continue
		}
		v := *word(e)
		if v&amd64.PTE_P != 0 {
			freeFrame(v & amd64.PTE_ADDR)
			// One CPU: a local flush suffices. SMP needs a shootdown here.
			amd64.Invlpg(uint64(va + off))
		}
		if keep && v != 0 {
			*word(e) = pteDemand
		} else {
			*word(e) = 0
		}
	}
}

// demandFault backs a committed page on its first touch. Context: trap,
// IST stack, interrupts off. Reports whether va was such a page.
//
//go:nosplit
func demandFault(va uintptr) bool {
	if !inMmapWindow(va, 1) {
		return false
	}
	e := pteLookup(va)
	if e == 0 || *word(e) != pteDemand {
		return false
	}
	*word(e) = allocFrame() | pteFlags | nxBit
	return true
}

// touch makes sure the page holding va is backed, for writes the shim or
// the trap handler do on the runtime's behalf.
//
//go:nosplit
func touch(va uintptr) { demandFault(va) }

// touchRange backs every page of [va, va+n).
//
//go:nosplit
func touchRange(va, n uintptr) {
	if n == 0 {
		return
	}
	for p := va &^ (pageSize - 1); p < va+n; p += pageSize {
		demandFault(p)
	}
}

const (
	protNone     = 0
	mapFixed     = 0x10
	madvDontNeed = 4
	madvFree     = 8
)

//go:nosplit
func sysMmap(addr, n, prot, flags uintptr) uintptr {
	n = alignUp(n, pageSize)
	if n == 0 {
		return errno(einval)
	}
	va := addr
	if flags&mapFixed == 0 {
		// Hints are ignored: the runtime tries the next one, then takes
		// what it is given.
		if !inMmapWindow(mmapNext, n+pageSize) {
			return errno(enomem)
		}
		va = mmapNext
		mmapNext += n + pageSize
	} else if !inMmapWindow(va, n) || va&(pageSize-1) != 0 {
		return errno(einval)
	}
	if prot != protNone {
		if flags&mapFixed != 0 {
			release(va, n, false)
		}
		commit(va, n)
	}
	return va
}

//go:nosplit
func sysMunmap(addr, n uintptr) uintptr {
	n = alignUp(n, pageSize)
	if !inMmapWindow(addr, n) || addr&(pageSize-1) != 0 {
		return errno(einval)
	}
	release(addr, n, false)
	return 0
}

//go:nosplit
func sysMadvise(addr, n, advice uintptr) uintptr {
	if advice == madvDontNeed || advice == madvFree {
		if inMmapWindow(addr, n) {
			release(addr&^(pageSize-1), alignUp(n, pageSize), true)
		}
	}
	return 0
}

//go:nosplit
func sysMprotect(addr, n, prot uintptr) uintptr {
	if !inMmapWindow(addr, n) {
		return errno(einval)
	}
	if prot != protNone {
		commit(addr&^(pageSize-1), alignUp(n, pageSize))
	}
	return 0
}
