package rt

import (
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/gohv/gohv/arch/amd64"
	"github.com/gohv/gohv/arch/amd64/hw"
	"github.com/gohv/gohv/arch/amd64/linux"
)

// The hypervisor's address space lives in the upper half, in L4 slots of
// Xen's reserved range (256-271), so that the same entries sit in every
// guest's top-level table and gohv runs on whichever page tables are
// loaded: a guest exit changes no CR3. arch/amd64/hw has the layout (slot
// 257 the per-CPU area, 260 the Go runtime's mmap window, 261 the image
// mapped by segment W^X, 262 the direct map) and the entry encodings;
// this file writes them.
//
// The lower half belongs to the guest whose tables are loaded; gohv's own
// tables map nothing there, so a nil dereference faults on them. Under a
// guest's tables it would read guest user memory, which SMAP (on when the
// CPU has it) turns into a fault again: every guest mapping carries
// _PAGE_USER and gohv touches guest memory through the direct map, or
// through the guest's mappings only in guestCopy, between STAC and CLAC.
//
// The frames behind the mmap window come from the hypervisor heap, one
// physical range chosen by kmain (hw.BootMemory.ChooseHeap) and withheld
// from the domain frame allocator; once dom0 is built, cmd/gohv gives the
// part never used back to it (TrimHeap) and most of the free list
// (ShrinkHeap), and the heap grows again by runs from that allocator
// (heap_unsafe.go). Freed frames (munmap, madvise DONTNEED) go back on a
// free list threaded through the frames themselves; hw.FrameHeap keeps
// the count. Which range a call touches is decoded by arch/amd64/linux.
//
// The L4 entries are made once, by buildPageTables, and never change: the
// tables below them are shared by reference with every guest. The mmap
// window's tables, the heap's lists and mmapWindow are shim state (the
// shim lock); every CPU may cache the window's translations, so a frame
// unmapped from it is reused only after a shootdown (release).

const (
	pageSize = hw.PageSize

	heapVABase    = hw.MmapBase
	heapVAEnd     = hw.MmapEnd
	imageOffset   = hw.ImageOffset
	directMapBase = hw.DirectMapBase
	imageMax      = hw.ImageMax

	pteDemand = hw.PTEDemand
)

var (
	// directMapEnd is the end of the physical addresses the direct map
	// reaches: all of hw.DirectMapGiB from buildPageTables until
	// FreeInitMemory trims it to what the machine has (its PD pages
	// beyond go to the domains), then raised a GiB at a time, from heap
	// frames, by DeviceRead32/DeviceWrite32 for device memory above it
	// (reachDirectMap). Written under the shim lock, read anywhere.
	directMapEnd uint64 = hw.DirectMapEnd

	ptPool [(hw.PTPages + 1) * pageSize]byte // aligned at runtime; hw.PT* index its pages
	ptBase uintptr                           // ptPool's first page
	pml4   uintptr                           // gohv's own top level (VA)
	// idleCR3 loads gohv's own tables: the upper half alone.
	idleCR3 uint64
	// nxBit is PTE_NX when the CPU supports it (EFER.NXE is on), else 0.
	nxBit uint64

	heap     hw.FrameHeap // the physical range backing the runtime's memory
	heapFree uint64       // head of the free-frame list (physical)
	// heapForeign is a frame release found mapped in the mmap window
	// that the heap never handed out (0: none).
	heapForeign uint64

	// mmapWindow hands out the runtime's address space (linux.Window):
	// slot 260 but its last GiB, stackRegion.
	mmapWindow = linux.Window{Base: heapVABase, End: stackRegion, Next: heapVABase}
)

// The stack region, the last GiB of slot 260 (outside mmapWindow): the
// kernel stacks of thread slots 1 to maxThreads-1 (thread_unsafe.go) and
// the IST stacks of CPUs 1 to maxCPUs-1 (desc_unsafe.go), each under an
// unmapped guard page. A stack's frames come from the heap when its slot
// or CPU is first used (mapStack) and stay for the slot's next thread, so
// gohv holds stacks for the threads and CPUs that exist, not for the
// maxima; slot 0 (the boot thread) and CPU 0 have theirs in the image.
const (
	stackRegion = heapVAEnd - 1<<30
	kstackPitch = kstackSize + pageSize // a kernel stack and its guard page
	istPitch    = 4*istSize + pageSize  // a CPU's four IST stacks and a guard page
	istRegion   = stackRegion + 128<<20 // the IST stacks, after the kernel stacks'
)

// kstackVA is the base (lowest address) of thread slot i's kernel stack.
//
//go:nosplit
func kstackVA(i int) uintptr { return stackRegion + uintptr(i)*kstackPitch + pageSize }

// istVA is the base of CPU id's four IST stacks.
//
//go:nosplit
func istVA(id uintptr) uintptr { return istRegion + id*istPitch + pageSize }

// mapStack backs [va, va+n), in the stack region, with heap frames where
// it is not backed yet; false when the heap has no frame left (the caller
// then calls heapExhausted). Context: the shim lock held.
//
//go:nosplit
func mapStack(va, n uintptr) bool {
	for off := uintptr(0); off < n; off += pageSize {
		e := pteCreate(va + off)
		if e == 0 {
			return false
		}
		if *word(e)&amd64.PTE_P == 0 {
			f := allocFrame()
			if f == 0 {
				return false
			}
			*word(e) = hw.DataPTE(f, nxBit)
		}
	}
	return true
}

//go:nosplit
func alignUp(v, a uintptr) uintptr { return (v + a - 1) &^ (a - 1) }

//go:nosplit
func word(p uintptr) *uint64 { return (*uint64)(unsafe.Pointer(p)) }

// dm returns the direct-map address of physical address pa. Valid for pa
// below directMapEnd (below 4 GiB before buildPageTables: entry32's tables
// map that much); beyond it the direct map has no entry, and an access
// there is a page fault in gohv (fatal).
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
func link(table, idx, next uintptr) { *word(table + idx*8) = hw.TablePTE(imagePA(next)) }

// buildPageTables builds gohv's final tables and loads them: the image
// with its segments' permissions, the direct map, and the L4 entries of
// the per-CPU area and the mmap window with their next level ready.
// Context: kmain, on entry32's tables, before the runtime starts.
//
//go:nosplit
func buildPageTables() {
	ptBase = alignUp(uintptr(unsafe.Pointer(&ptPool[0])), pageSize)
	for i := uintptr(0); i < hw.PTPages; i++ {
		zeroPage(ptPage(i))
	}
	pml4 = ptPage(hw.PTPML4)

	// Per-CPU area: a PDPT, a PD and the table of the first 2 MiB, where
	// the GDT windows go.
	link(pml4, hw.SlotPerCPU, ptPage(hw.PTPerCPUPDPT))
	link(ptPage(hw.PTPerCPUPDPT), 0, ptPage(hw.PTPerCPUPD))
	link(ptPage(hw.PTPerCPUPD), 0, ptPage(hw.PTPerCPUPT))

	// mmap window: its PDPT now, the rest on demand (pteCreate).
	link(pml4, hw.SlotMmap, ptPage(hw.PTMmapPDPT))

	// The image, page by page, as its PT_LOAD segments ask (the ELF
	// headers the loader put before the text say where they are).
	link(pml4, hw.SlotImage, ptPage(hw.PTImagePDPT))
	link(ptPage(hw.PTImagePDPT), uintptr(hw.Index(imageOffset, 3)), ptPage(hw.PTImagePD))
	for i := uintptr(0); i < imageMax>>21; i++ {
		link(ptPage(hw.PTImagePD), i, ptPage(hw.PTImagePT+i))
	}
	img := unsafe.Slice((*byte)(unsafe.Pointer(uintptr(textBase-pageSize))), asmAddrs[6]-(textBase-pageSize))
	for i, n := 0, hw.ImagePhnum(img); i < n; i++ {
		seg, load, ok := hw.ImageSegment(img, i, nxBit)
		if !ok {
			xputs("gohv: an image segment is writable and executable, or outside the image window\n")
			amd64.Halt()
		}
		if !load {
			continue
		}
		for va := seg.Start; va < seg.End; va += pageSize {
			pa := hw.ImagePA(va)
			*word(ptPage(hw.PTImagePT) + uintptr(pa>>12)*8) = pa | seg.Flags
		}
	}

	// The direct map.
	link(pml4, hw.SlotDirect, ptPage(hw.PTDirectPDPT))
	for g := uintptr(0); g < hw.DirectMapGiB; g++ {
		pd := ptPage(hw.PTDirectPD + g)
		link(ptPage(hw.PTDirectPDPT), g, pd)
		for i := uintptr(0); i < 512; i++ {
			*word(pd + i*8) = hw.DirectPDE(uint64(g), uint64(i), nxBit)
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
	for _, i := range hw.GohvSlots {
		s[i-hw.SlotFirstReserved] = *word(pml4 + uintptr(i)*8) &^ (amd64.PTE_A | amd64.PTE_D)
	}
	return s
}

// allocFrame takes one zeroed frame from the hypervisor heap and returns
// its physical address, or 0 when the heap is exhausted: the caller then
// calls heapExhausted, fatal since the runtime cannot go on without the
// memory it asked for, from where the nosplit stack has room for it.
//
// It takes the free list's first frame, else a never-used frame of the
// boot range, else the loan's next frame (loanTake). Frames in heapLimbo
// (release on SMP) join the free list once every CPU has flushed them;
// allocFrame waits for that only when the heap has no other frame.
// Context: the shim lock held.
//
//go:nosplit
func allocFrame() uint64 {
	if heapLimbo != 0 && flushedAll(limboGen) {
		limboMerge()
	}
	var p uint64
	if heapFree == 0 {
		if b, ok := heap.Bump(); ok {
			p = b
		} else if p = loanTake(); p == 0 && heapLimbo != 0 {
			waitFlushed(limboGen)
			limboMerge()
		}
	}
	if p == 0 {
		if p = heapFree; p == 0 {
			return 0
		}
		heapFree = *word(dm(p))
		heapListed--
	}
	heap.Took()
	heapCheckLow()
	zeroPage(dm(p))
	return p
}

// TrimHeap ends the hypervisor heap so that its spare frames, the free
// list and the never-used frames above the highest frame it has ever
// handed out, come to keep bytes (rounded up to a page), and returns the range
// it gave up, for the domain frame allocator; an empty range when that
// would not shrink it. The heap never hands out frames beyond its end
// again: what the runtime frees is reused from the free list below it,
// and past that the heap grows from loans (LendHeap). Context: Go code (kmain's main),
// with no other caller at the same time. Bump runs with interrupts off
// and reads End once, so it either bumps below the new end or sees it;
// a bump that got past the new end before it was stored is caught by
// reading Next again, and then nothing is given up.
func TrimHeap(keep uint64) Range {
	// Frames on the free list and in limbo count towards keep.
	keep -= min(keep, (atomic.LoadUint64(&heapListed)+atomic.LoadUint64(&heapLimboN))*pageSize)
	end := atomic.LoadUint64(&heap.End)
	h := hw.FrameHeap{Start: heap.Start, End: end, Next: atomic.LoadUint64(&heap.Next)}
	newEnd, ok := h.TrimEnd(keep)
	if !ok {
		return Range{}
	}
	atomic.StoreUint64(&heap.End, newEnd)
	if atomic.LoadUint64(&heap.Next) > newEnd {
		atomic.StoreUint64(&heap.End, end)
		return Range{}
	}
	return Range{Start: newEnd, End: end}
}

// limboMerge puts the frames of heapLimbo, which every CPU has flushed
// (flushedAll(limboGen)), on the free list. Context: the shim lock held.
//
//go:nosplit
func limboMerge() {
	if heapLimbo == 0 {
		return
	}
	*word(dm(heapLimboTail)) = heapFree
	heapFree = heapLimbo
	heapListed += heapLimboN
	heapLimbo, heapLimboTail, heapLimboN = 0, 0, 0
}

// freeFrame puts heap frame p on the free list (release checked that it
// is one).
//
//go:nosplit
func freeFrame(p uint64) {
	*word(dm(p)) = heapFree
	heapFree = p
	heapListed++
	heap.Gave()
}

// pteLookup returns the address of the L1 entry for va in the mmap
// window, or 0 if an intermediate table is absent.
//
//go:nosplit
func pteLookup(va uintptr) uintptr {
	e, _ := pteLookupSkip(va)
	return e
}

// pteLookupSkip is pteLookup that also says where a walk over a range
// goes on when va has no L1 entry: past the range the absent (or huge)
// entry above covers (hw.PastEntry; 0 at the top of the address space),
// none of which has one either. release walks the runtime's PROT_NONE
// reservations so: each failed heap-arena hint at the runtime's start
// is a 64 MiB munmap of pages never committed, 16,384 lookups a page at
// a time and a few dozen this way.
//
//go:nosplit
func pteLookupSkip(va uintptr) (e, next uintptr) {
	tbl := pml4
	for lvl := uint(4); lvl >= 2; lvl-- {
		v := *word(tbl + uintptr(hw.Index(uint64(va), lvl))*8)
		if v&amd64.PTE_P == 0 || v&amd64.PTE_PS != 0 {
			return 0, uintptr(hw.PastEntry(uint64(va), lvl))
		}
		tbl = dm(v & amd64.PTE_ADDR)
	}
	return tbl + uintptr(hw.Index(uint64(va), 1))*8, 0
}

// pteCreate is pteLookup that builds missing intermediate tables (below
// the window's L4 entry, which buildPageTables made); 0 when the heap has
// no frame for one.
//
//go:nosplit
func pteCreate(va uintptr) uintptr {
	tbl := pml4
	for lvl := uint(4); lvl >= 2; lvl-- {
		e := tbl + uintptr(hw.Index(uint64(va), lvl))*8
		v := *word(e)
		if v&amd64.PTE_P == 0 {
			f := allocFrame()
			if f == 0 {
				return 0
			}
			v = hw.TablePTE(f)
			*word(e) = v
		}
		tbl = dm(v & amd64.PTE_ADDR)
	}
	return tbl + uintptr(hw.Index(uint64(va), 1))*8
}

// inMmapWindow reports whether [va, va+n) lies in the mmap window.
//
//go:nosplit
func inMmapWindow(va, n uintptr) bool { return mmapWindow.Contains(va, n) }

// commit marks [va, va+n) as demand-zero read-write, keeping pages that
// are already backed; false if the heap ran out of page tables.
//
//go:nosplit
func commit(va, n uintptr) bool {
	for off := uintptr(0); off < n; off += pageSize {
		e := pteCreate(va + off)
		if e == 0 {
			return false
		}
		if *word(e)&amd64.PTE_P == 0 {
			*word(e) = pteDemand
		}
	}
	return true
}

// release gives back the frames behind [va, va+n). keep leaves the pages
// committed (madvise DONTNEED: next touch reads zeros); otherwise they are
// unmapped. With other CPUs online, which may cache the translations, the
// frames go to heapLimbo and every CPU is asked to flush (requestFlush);
// allocFrame reuses them once all have. Context: the shim lock held.
//
//go:nosplit
func release(va, n uintptr, keep bool) {
	atomic.AddUint64(&releaseGen, 1) // every CPU's touch cache is stale
	smp := othersOnline()
	limbo := false
	for off := uintptr(0); off < n; off += pageSize {
		releaseWalks++
		e, next := pteLookupSkip(va + off)
		if e == 0 {
			if next == 0 || next-va >= n {
				break // nothing mapped to the range's end
			}
			off = next - va - pageSize // the loop adds the page back
			continue
		}
		v := *word(e)
		if v&amd64.PTE_P != 0 {
			// A frame the heap never handed out is a corrupted page
			// table: kept off the free list, and fatal after the loop
			// (where the nosplit stack has room for the report).
			if pa := v & amd64.PTE_ADDR; !heapOwns(pa) {
				heapForeign = pa
			} else if smp {
				if heapLimbo == 0 {
					heapLimboTail = pa
				}
				*word(dm(pa)) = heapLimbo
				heapLimbo = pa
				heapLimboN++
				heap.Gave()
				limbo = true
			} else {
				freeFrame(pa)
			}
			amd64.Invlpg(uint64(va + off))
		}
		if keep && v != 0 {
			*word(e) = pteDemand
		} else {
			*word(e) = 0
		}
	}
	if limbo {
		limboGen = requestFlush()
	}
	if heapForeign != 0 {
		heapCorrupt(heapForeign)
	}
}

// releaseGen counts release calls (atomic): a page found backed before
// the latest one may be gone (cpuState.touchPage).
var releaseGen uint64

// releaseWalks counts release's page-table walks, one per page or per
// absent table's span (MemStats.ReleaseWalks: what munmap and madvise
// cost in page-table work). Shim lock.
var releaseWalks uint64

// demandFault backs a committed page on its first touch. Context: trap,
// IST stack, or the shim (touch), interrupts off; it takes the shim lock
// unless this CPU holds it. Reports whether va was such a page, or is
// backed already: another CPU backed it between the fault and the lock
// (trap calls it for not-present faults only).
//
//go:nosplit
func demandFault(va uintptr) bool {
	if touchCached(va) {
		return true
	}
	if !inMmapWindow(va, 1) {
		return false
	}
	took := shimLockNested()
	r := demandBack(va)
	if took {
		shimUnlock()
	}
	if r < 0 {
		heapExhausted()
	}
	return r > 0
}

// demandBack is demandFault's work under the shim lock: 1 backed now or
// already, 0 not a committed page, -1 the heap is exhausted.
//
//go:nosplit
func demandBack(va uintptr) int {
	e := pteLookup(va)
	if e == 0 {
		return 0
	}
	switch v := *word(e); {
	case v == pteDemand:
		f := allocFrame()
		if f == 0 {
			return -1
		}
		*word(e) = hw.DataPTE(f, nxBit)
		touchNote(va)
		return 1
	case v&amd64.PTE_P != 0:
		touchNote(va)
		return 1
	}
	return 0
}

// touch makes sure the page holding va is backed, for writes the shim or
// the trap handler do on the runtime's behalf.
//
//go:nosplit
func touch(va uintptr) { demandFault(va) }

// touchCached reports whether va is in the page this CPU found backed
// last, with no release since (cpuState.touchPage, touchGen): most
// touches are of one page again (the caller's stack) and skip the walk
// and the lock. Context: interrupts off.
//
//go:nosplit
func touchCached(va uintptr) bool {
	c := thisCPU()
	return c.touchPage == va&^(pageSize-1) && c.touchGen == atomic.LoadUint64(&releaseGen) && c.touchPage != 0
}

// touchNote records va's page as backed now. Context: the shim lock
// held, so that no release runs between the backing and the record.
//
//go:nosplit
func touchNote(va uintptr) {
	c := thisCPU()
	c.touchPage, c.touchGen = va&^(pageSize-1), atomic.LoadUint64(&releaseGen)
}

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

// The memory calls: arch/amd64/linux decodes them to a linux.Mapping,
// release and commit carry it out. (No helper between: these run under
// syscallEntry's nosplit stack limit, and the fatal reports, which need
// the most stack, are made here or in release after its loop.)

//go:nosplit
func sysMmap(addr, n, prot, flags uintptr) uintptr {
	m, e := mmapWindow.Mmap(addr, n, uint32(prot), uint32(flags))
	if e != 0 {
		return errno(e)
	}
	if m.Do&linux.Release != 0 {
		release(m.VA, m.Len, m.Do&linux.Keep != 0)
	}
	if m.Do&linux.Commit != 0 && !commit(m.VA, m.Len) {
		heapExhausted()
	}
	return m.VA
}

//go:nosplit
func sysMunmap(addr, n uintptr) uintptr {
	m, e := mmapWindow.Munmap(addr, n)
	if m.Do&linux.Release != 0 {
		release(m.VA, m.Len, m.Do&linux.Keep != 0)
	}
	return errno(e)
}

//go:nosplit
func sysMadvise(addr, n, advice uintptr) uintptr {
	m, e := mmapWindow.Madvise(addr, n, advice)
	if m.Do&linux.Release != 0 {
		release(m.VA, m.Len, m.Do&linux.Keep != 0)
	}
	return errno(e)
}

//go:nosplit
func sysMprotect(addr, n, prot uintptr) uintptr {
	m, e := mmapWindow.Mprotect(addr, n, prot)
	if m.Do&linux.Commit != 0 && !commit(m.VA, m.Len) {
		heapExhausted()
	}
	return errno(e)
}

// Init memory. Xen frees its init sections once dom0 is built ("Freed N
// kB init memory"); gohv gives the domain frame allocator the pages of
// its image that nothing reads or writes again (FreeInitMemory), each
// unmapped from the image window first, so that a stray access faults
// (fatal, with the address) instead of reaching a domain's frame. They
// are all byte arrays (noptrbss), so the collector never scans them. What
// is dead, and why for good:
//   - the direct map's PD pages beyond the GiBs the machine has: their
//     PDPT entries are cleared with them, directMapEnd comes down, and
//     every direct-map access checks it or faults (reachDirectMap maps
//     device memory above it again from heap frames);
//   - bootPT, entry32's tables, and bootStack, entry64's and kmain's:
//     used by entry32/entry64 on CPU 0 alone, left for gohv's own tables
//     (buildPageTables) and m0Stack before the runtime starts; APs come
//     up on the trampoline's tables and their own stacks, and reboot and
//     power-off go through the firmware, not entry32 (gohv has no kexec);
//   - the image window's page tables beyond the one holding the end of
//     the bss: they map nothing (the image is all the window holds), and
//     their PD entries are cleared with them;
//   - trampPage, the AP trampoline's image, and the boot stacks
//     (apStacks) of CPU 0 (which idles on idleStack0) and of every CPU
//     number StartAP was never asked for, with their GDT pages in
//     gdtPool: gohv starts APs only at boot (cmd/gohv's bringUpCPUs,
//     before dom0 is built; it has no CPU hot-plug, and refuses S3:
//     hypercall.enterACPISleep), and
//     StartAP refuses once initFreed is set. A CPU StartAP was asked for
//     keeps its stack and GDT pages even when it timed out: it may come
//     up late.

var (
	// apTried is one past the highest CPU number sysStartAP was asked
	// to start. Shim lock.
	apTried uintptr
	// initFreed is 1 once FreeInitMemory ran (atomic).
	initFreed uint32
	// imageFreed counts the image's bytes FreeInitMemory gave back.
	imageFreed uint64
	// directMapGrown counts the heap frames reachDirectMap made PDs of.
	directMapGrown uint64
)

// imageMapped reports whether the image page holding va (an address in
// the image window, up to the end of its bss) is mapped.
//
//go:nosplit
func imageMapped(va uintptr) bool {
	return *word(ptPage(hw.PTImagePT) + uintptr(imagePA(va)>>12)*8)&amd64.PTE_P != 0
}

// maxInitRanges bounds the image ranges FreeInitMemory gives back.
const maxInitRanges = 8

// pageRange is [start, end) shrunk to the whole pages inside it (empty
// when none).
//
//go:nosplit
func pageRange(start, end uintptr) [2]uintptr {
	s, e := alignUp(start, pageSize), end&^(pageSize-1)
	if e < s {
		e = s
	}
	return [2]uintptr{s, e}
}

// deadImageRange is the i-th (below maxInitRanges) of the image's page
// ranges (addresses in the image window) that are dead once the direct
// map keeps dmGiB GiBs and CPU numbers from tried up were never started
// (see Init memory above).
//
//go:nosplit
func deadImageRange(i int, dmGiB, tried uintptr) [2]uintptr {
	stacks := uintptr(unsafe.Pointer(&apStacks[0][0]))
	switch i {
	case 0:
		return pageRange(ptPage(hw.PTDirectPD+dmGiB), uintptr(unsafe.Pointer(&ptPool[0]))+uintptr(len(ptPool)))
	case 1:
		return pageRange(uintptr(unsafe.Pointer(&bootPT[0])), uintptr(unsafe.Pointer(&bootPT[0]))+uintptr(len(bootPT)))
	case 2:
		return pageRange(uintptr(unsafe.Pointer(&trampPage[0])), uintptr(unsafe.Pointer(&trampPage[0]))+uintptr(len(trampPage)))
	case 3:
		return pageRange(stacks, stacks+apStackSize)
	case 4:
		return pageRange(stacks+tried*apStackSize, stacks+maxCPUs*apStackSize)
	case 5:
		return pageRange(gdtZeroPage+(1+2*tried)*pageSize, uintptr(unsafe.Pointer(&gdtPool[0]))+uintptr(len(gdtPool)))
	case 6:
		return pageRange(uintptr(unsafe.Pointer(&bootStack[0])), uintptr(unsafe.Pointer(&bootStack[0]))+bootStackSize)
	case 7:
		return [2]uintptr{ptPage(hw.PTImagePT + imageTables()), ptPage(hw.PTImagePT + imageMax>>21)}
	}
	return [2]uintptr{}
}

// imageTables is how many of the image window's page tables map the
// image: those up to the one holding the end of its bss.
//
//go:nosplit
func imageTables() uintptr { return uintptr((imagePA(asmAddrs[6]) + 1<<21 - 1) >> 21) }

// initRanges are the physical ranges sysFreeInitMemory unmapped (empty
// ones 0, 0); FreeInitMemory reads them after. Shim lock, then read-only.
var initRanges [maxInitRanges][2]uint64

// gohv's system calls for the direct map and init memory (apart from the
// dispatch case, numbered away from syscall_unsafe.go's list).
const (
	sysFreeInit      = 1300 + iota // (dmGiB): unmap the dead init ranges, their physical ranges to initRanges
	sysDirectMapGrow               // (end): map the direct map up to end
)

// sysFreeInitMemory trims the direct map to dmGiB GiBs and unmaps the
// image's dead ranges (deadImageRange), noting their physical ranges in
// initRanges, and starts a shootdown on every CPU; it returns the
// shootdown's generation, EBUSY when it ran before and EINVAL for a
// dmGiB that would unmap RAM gohv reaches (below 4 GiB or beyond
// hw.DirectMapGiB). Context: the shim. (Not inlined: dispatch's frame
// stays under the nosplit limit.)
//
//go:nosplit
//go:noinline
func sysFreeInitMemory(dmGiB uintptr) uintptr {
	if initFreed != 0 {
		return errno(ebusy)
	}
	if dmGiB < 4 || dmGiB > hw.DirectMapGiB {
		return errno(einval)
	}
	pdpt := ptPage(hw.PTDirectPDPT)
	for g := dmGiB; g < hw.DirectMapGiB; g++ {
		*word(pdpt + g*8) = 0
	}
	atomic.StoreUint64(&directMapEnd, uint64(dmGiB)<<30)
	for i := imageTables(); i < imageMax>>21; i++ {
		*word(ptPage(hw.PTImagePD) + i*8) = 0
	}
	for i := 0; i < maxInitRanges; i++ {
		pr := deadImageRange(i, dmGiB, max(apTried, 1))
		if pr[0] >= pr[1] {
			continue
		}
		for va := pr[0]; va < pr[1]; va += pageSize {
			*word(ptPage(hw.PTImagePT) + uintptr(imagePA(va)>>12)*8) = 0
		}
		initRanges[i] = [2]uint64{imagePA(pr[0]), imagePA(pr[1])}
		imageFreed += uint64(pr[1] - pr[0])
	}
	atomic.StoreUint32(&initFreed, 1)
	return uintptr(requestFlush())
}

// FreeInitMemory gives up, once dom0 is built, the image's pages nothing
// uses again (see Init memory above) and the direct map's PD pages beyond
// top (rounded up to a GiB, at least 4 GiB: the local APIC, IO-APICs and
// MMCONFIG sit below): it unmaps them, waits until every CPU has flushed
// its TLB, and returns their physical ranges for the domain frame
// allocator. top must cover every RAM address and every other address
// gohv reaches through the direct map but device memory, which
// DeviceRead32/DeviceWrite32 map again on demand. From then on StartAP
// refuses. Context: Go code, once (a second call fails with EBUSY).
func FreeInitMemory(top uint64) ([]Range, error) {
	g, _, e := syscall.Syscall(sysFreeInit, uintptr(hw.DirectMapGiBFor(top)), 0, 0)
	if e != 0 {
		return nil, e
	}
	for !flushedAll(uint64(g)) {
		amd64.Pause() // interrupts on: this CPU takes its own requests as IPIs
	}
	var rs []Range
	for _, o := range initRanges {
		if o[0] < o[1] {
			rs = append(rs, Range{Start: o[0], End: o[1]})
		}
	}
	return rs, nil
}

// ImageFreed is how many bytes of the image FreeInitMemory gave back.
func ImageFreed() uint64 { return atomic.LoadUint64(&imageFreed) }

// DirectMapEnd is the end of the physical addresses the direct map
// reaches now (see directMapEnd).
func DirectMapEnd() uint64 { return atomic.LoadUint64(&directMapEnd) }

// sysGrowDirectMap maps the direct map up to end (at most
// hw.DirectMapEnd), a GiB at a time, each GiB's PD a heap frame; ENOMEM
// when the heap has no frame, EINVAL beyond hw.DirectMapEnd. No flush:
// the entries it fills were not present, and no TLB caches those.
// Context: the shim. (Not inlined, as sysFreeInitMemory.)
//
//go:nosplit
//go:noinline
func sysGrowDirectMap(end uint64) uintptr {
	if end > hw.DirectMapEnd {
		return errno(einval)
	}
	for directMapEnd < end {
		g := directMapEnd >> 30
		f := allocFrame()
		if f == 0 {
			return errno(enomem)
		}
		pd := dm(f)
		for i := uint64(0); i < 512; i++ {
			*word(pd + uintptr(i)*8) = hw.DirectPDE(g, i, nxBit)
		}
		*word(ptPage(hw.PTDirectPDPT) + uintptr(g)*8) = hw.TablePTE(f)
		directMapGrown++
		atomic.StoreUint64(&directMapEnd, (g+1)<<30)
	}
	return 0
}

// reachDirectMap makes the direct map reach [pa, pa+n): true when it
// does (growing it if need be). Context: Go code.
func reachDirectMap(pa, n uint64) bool {
	end := pa + n
	if end < pa || end > hw.DirectMapEnd {
		return false
	}
	if end <= atomic.LoadUint64(&directMapEnd) {
		return true
	}
	_, _, e := syscall.Syscall(sysDirectMapGrow, uintptr(end), 0, 0)
	return e == 0
}
