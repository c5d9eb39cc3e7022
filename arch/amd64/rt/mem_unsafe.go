package rt

import (
	"unsafe"

	"github.com/gohv/gohv/arch/amd64"
)

// Memory layout of the hypervisor's single address space (one CR3 shared
// by every kernel thread):
//
//	[0, directMapEnd)          identity map of physical memory (2 MiB pages,
//	                           except the first 2 MiB in 4 KiB pages with
//	                           page 0 absent, so nil dereferences fault)
//	[heapVABase, ...)          the Go runtime's mmap window: reservations,
//	                           then demand-zero pages backed by heap frames
//
// The frames behind the mmap window come from the hypervisor heap, one
// physical range [heapStart, heapEnd) chosen by kmain and withheld from the
// domain frame allocator. Freed frames (munmap, madvise DONTNEED) go back
// on a free list threaded through the frames themselves.

const (
	pageSize     = 4096
	directMapGiB = 64
	directMapEnd = directMapGiB << 30
	heapVABase   = 1 << 40

	// pteDemand marks a not-present PTE of a committed read-write mmap
	// page: the first touch faults and demandFault backs it with a zeroed
	// frame. Bit 9 is ignored by the CPU when P=0.
	pteDemand = 1 << 9
	pteFlags  = amd64.PTE_P | amd64.PTE_W
)

var (
	// ptPool holds the static page tables: PML4, the PDPT for slot 0, the
	// PT for the first 2 MiB, the directMapGiB PDs, then the alias
	// window's PDPT and PD. Aligned at runtime.
	ptPool  [(5+directMapGiB)*pageSize + pageSize]byte
	aliasL4 uint64 // the PML4 entry of the alias window, for guest L4s
	pml4    uintptr

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

//go:nosplit
func zeroFrame(p uintptr) {
	w := (*[pageSize / 8]uint64)(unsafe.Pointer(p))
	for i := range w {
		w[i] = 0
	}
}

// buildDirectMap builds the final kernel page tables and loads them.
// Context: kmain, before the runtime starts.
//
//go:nosplit
func buildDirectMap() {
	base := alignUp(uintptr(unsafe.Pointer(&ptPool[0])), pageSize)
	pml4 = base
	pdpt := base + pageSize
	pt0 := base + 2*pageSize
	pds := base + 3*pageSize
	for p := base; p < pds+directMapGiB*pageSize; p += pageSize {
		zeroFrame(p)
	}
	*word(pml4) = uint64(pdpt) | pteFlags
	for g := uintptr(0); g < directMapGiB; g++ {
		pd := pds + g*pageSize
		*word(pdpt + g*8) = uint64(pd) | pteFlags
		for i := uintptr(0); i < 512; i++ {
			pa := uint64(g<<30 | i<<21)
			*word(pd + i*8) = pa | pteFlags | amd64.PTE_PS
		}
	}
	// First 2 MiB in 4 KiB pages, page 0 not present.
	for i := uintptr(1); i < 512; i++ {
		*word(pt0 + i*8) = uint64(i*pageSize) | pteFlags
	}
	*word(pds) = uint64(pt0) | pteFlags
	// The alias window: physical [0, aliasSize) at aliasBase, 2 MiB
	// pages, supervisor-only, global (the same in every address space).
	apdpt := pds + directMapGiB*pageSize
	apd := apdpt + pageSize
	for i := uintptr(0); i < aliasSize>>21; i++ {
		*word(apd + i*8) = uint64(i<<21) | pteFlags | amd64.PTE_PS | amd64.PTE_G
	}
	*word(apdpt + ((aliasBase>>30)&511)*8) = uint64(apd) | pteFlags
	aliasL4 = uint64(apdpt) | pteFlags
	*word(pml4 + aliasSlot*8) = aliasL4
	amd64.WriteCR3(uint64(pml4))
}

// allocFrame takes one zeroed frame from the hypervisor heap. Out of heap
// is fatal: the runtime cannot go on without the memory it asked for.
//
//go:nosplit
func allocFrame() uintptr {
	var p uint64
	if heapFree != 0 {
		p = heapFree
		heapFree = *word(uintptr(p))
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
	zeroFrame(uintptr(p))
	return uintptr(p)
}

//go:nosplit
func freeFrame(p uintptr) {
	*word(p) = heapFree
	heapFree = uint64(p)
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
		tbl = uintptr(v & amd64.PTE_ADDR)
	}
	return tbl + ((va>>12)&511)*8
}

// pteCreate is pteLookup that builds missing intermediate tables.
//
//go:nosplit
func pteCreate(va uintptr) uintptr {
	tbl := pml4
	for lvl := uint(3); lvl >= 1; lvl-- {
		e := tbl + ((va>>(12+9*lvl))&511)*8
		v := *word(e)
		if v&amd64.PTE_P == 0 {
			v = uint64(allocFrame()) | pteFlags
			*word(e) = v
		}
		tbl = uintptr(v & amd64.PTE_ADDR)
	}
	return tbl + ((va>>12)&511)*8
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
			freeFrame(uintptr(v & amd64.PTE_ADDR))
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
	if va < heapVABase {
		return false
	}
	e := pteLookup(va)
	if e == 0 || *word(e) != pteDemand {
		return false
	}
	*word(e) = uint64(allocFrame()) | pteFlags
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
		va = mmapNext
		mmapNext += n + pageSize
	} else if va < heapVABase || va&(pageSize-1) != 0 {
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
	if addr < heapVABase || addr&(pageSize-1) != 0 {
		return errno(einval)
	}
	release(addr, alignUp(n, pageSize), false)
	return 0
}

//go:nosplit
func sysMadvise(addr, n, advice uintptr) uintptr {
	if advice == madvDontNeed || advice == madvFree {
		if addr >= heapVABase {
			release(addr&^(pageSize-1), alignUp(n, pageSize), true)
		}
	}
	return 0
}

//go:nosplit
func sysMprotect(addr, n, prot uintptr) uintptr {
	if addr < heapVABase {
		return errno(einval)
	}
	if prot != protNone {
		commit(addr&^(pageSize-1), alignUp(n, pageSize))
	}
	return 0
}
