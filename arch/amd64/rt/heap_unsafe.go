package rt

import (
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/gohv/gohv/arch/amd64"
	"github.com/gohv/gohv/arch/amd64/hw"
)

// The hypervisor heap after the boot. Once dom0 is built cmd/gohv gives
// back what the boot needed and no longer does: the range above the
// highest frame ever handed out (TrimHeap) and the frames the runtime has
// freed, down to a small reserve (ShrinkHeap). From then on the heap grows
// on demand from a loan: a run of frames the domain frame allocator lends
// it (LendHeap). The heap takes the loan's frames one at a time, lowest
// first, when its free list and its never-used range are empty
// (allocFrame, loanTake); a frame taken is the heap's for good (until
// ShrinkHeap gives it back). The frames not taken stay free for domains:
// the allocator counts them as free, and when it has no other frame for a
// domain it takes them back (ReclaimLoan). So the heap needs no spare of
// its own to cover the time a grower takes to run, and what gohv keeps
// is what it uses. When the spare frames (free list, limbo, never-used
// range and loan) fall below the low-water mark, allocFrame wakes the
// thread waiting in HeapWait, cmd/gohv's grower goroutine, which lends
// the heap a new run (the old loan's untaken frames go back to the
// allocator). The heap is then its boot range plus up to maxHeapExt runs
// of frames taken from loans. The low-water mark is what the runtime may
// take between the wake and the grower running; past it, allocFrame finds
// nothing and the machine panics with the heap's figures (heapExhausted).
//
// All of it is shim state (the shim lock); loanLeft is also read without
// it (LoanLeft).

// maxHeapExt bounds the runs of loan frames the heap may hold outside
// its boot range (a frame that follows the last run, or lies in a run
// already recorded, adds none).
const maxHeapExt = 128

var (
	heapListed uint64 // frames on heapFree
	heapLimboN uint64 // frames on heapLimbo

	heapExt  [maxHeapExt]Range // runs of frames taken from loans, in order
	heapExtN int

	// loanNext and loanEnd bound the loan's frames not taken yet
	// [loanNext, loanEnd); loanLeft is their count, stored atomically
	// for LoanLeft.
	loanNext, loanEnd, loanLeft uint64

	heapGrown    uint64 // frames taken from loans
	heapReturned uint64 // frames ShrinkHeap gave back from the free list
	// heapLow is the low-water mark in frames (0: no grower yet).
	heapLow uint64
	// heapWaiter is 1 + the thread blocked in HeapWait, 0 when none is.
	heapWaiter uintptr
	// heapStuck: the grower found no run to lend; allocFrame wakes it no
	// more (it tries again on its own), and heapExhausted says so.
	heapStuck bool
	// heapShort is 1 from the grower's wake-up (heapCheckLow) to its
	// answer (heapLend: a loan, or none): read without the lock by
	// HeapShort.
	heapShort uint32
)

// gohv's system calls for the heap (apart from sysHeapCall's dispatch
// case, numbered away from syscall_unsafe.go's list).
const (
	sysHeapWait    = 1200 + iota // (low, ns): block until the spare frames fall below low, at most ns
	sysHeapLend                  // (start, end, buf): lend a run, or (0, 0): none; the old loan's rest to buf
	sysHeapShrink                // (buf, max, keep): give free-list frames back, keeping keep
	sysHeapReclaim               // (buf, keep): the loan's untaken frames but keep back to buf
)

// heapSpare counts the frames the heap can hand out without growing.
//
//go:nosplit
func heapSpare() uint64 {
	n := heapListed + heapLimboN + loanLeft
	if heap.End > heap.Next {
		n += (heap.End - heap.Next) / pageSize
	}
	return n
}

// heapHeldFrames counts the frames the heap holds: its range, the frames
// it took from loans, less the frames it gave back.
//
//go:nosplit
func heapHeldFrames() uint64 {
	return (heap.End-heap.Start)/pageSize + heapGrown - heapReturned
}

// heapOwns reports whether pa is a frame the heap has handed out or
// listed: below Next in its boot range, or in a run of loan frames it
// took. (A frame ShrinkHeap gave back still answers yes: the check
// catches page tables pointing outside anything the heap ever had.)
//
//go:nosplit
func heapOwns(pa uint64) bool {
	if heap.Owns(pa) {
		return true
	}
	if pa&(pageSize-1) != 0 {
		return false
	}
	for i := 0; i < heapExtN; i++ {
		if pa >= heapExt[i].Start && pa < heapExt[i].End {
			return true
		}
	}
	return false
}

// heapCheckLow wakes the grower when the spare frames have fallen below
// the low-water mark. Context: the shim lock held (allocFrame).
//
//go:nosplit
func heapCheckLow() {
	if heapWaiter != 0 && !heapStuck && heapSpare() < heapLow {
		t := &threads[heapWaiter-1]
		heapWaiter = 0
		atomic.StoreUint32(&heapShort, 1)
		setState(t, thRunning)
		if !kick(t) && t.mayRunOn(thisCPU().id) {
			// No idle CPU took it: this one's next schedule comes
			// at once, before the burst that woke it runs the
			// spare frames out.
			tickSoon(thisCPU())
		}
	}
}

// sysHeapCall serves the heap's system calls. Context: the shim. (Not
// inlined: dispatch's frame stays as it was, under the nosplit limit.)
//
//go:nosplit
//go:noinline
func sysHeapCall(nr, a0, a1, a2 uintptr) uintptr {
	switch nr {
	case sysHeapWait:
		return heapWait(uint64(a0), int64(a1))
	case sysHeapLend:
		return heapLend(uint64(a0), uint64(a1), a2)
	case sysHeapShrink:
		return heapShrink(a0, a1, uint64(a2))
	case sysHeapReclaim:
		return heapReclaim(a0, uint64(a1))
	}
	return errno(enosys)
}

// heapWait serves HeapWait: 1 when the spare frames are below low (or
// growing failed), 0 when ns passed first.
//
//go:nosplit
func heapWait(low uint64, ns int64) uintptr {
	heapLow = low
	deadline := nanotime() + ns
	for !heapStuck && heapSpare() >= heapLow {
		heapWaiter = thisCPU().cur + 1
		if block(deadline) {
			heapWaiter = 0
			return 0
		}
	}
	return 1
}

// heapLend makes [start, end) the heap's loan and writes the old loan's
// untaken frames, [start, end) as two words, to buf: they are the
// caller's again. start == end says the grower found no run to lend: the
// heap keeps what is left of its loan, and asks no more (heapStuck)
// until a loan comes.
// EINVAL for a range that is not whole frames inside the direct map.
//
//go:nosplit
func heapLend(start, end uint64, buf uintptr) uintptr {
	if start&(pageSize-1) != 0 || end&(pageSize-1) != 0 || end < start || (start < end && (start < pageSize || end > directMapEnd)) {
		return errno(einval)
	}
	touchRange(buf, 16)
	out := (*[2]uint64)(unsafe.Pointer(buf))
	if start == end {
		heapStuck = true                  // the loan stays: the heap takes what is left of it
		atomic.StoreUint32(&heapShort, 0) // answered: nothing to wait for
		out[0], out[1] = 0, 0
		return 0
	}
	out[0], out[1] = loanNext, loanEnd
	heapStuck = false
	atomic.StoreUint32(&heapShort, 0)
	loanNext, loanEnd = start, end
	atomic.StoreUint64(&loanLeft, (end-start)/pageSize)
	return 0
}

// heapReclaim takes the loan's untaken frames but for the keep lowest
// back for the caller (their range as two words at buf): the loan ends
// after those keep.
//
//go:nosplit
func heapReclaim(buf uintptr, keep uint64) uintptr {
	touchRange(buf, 16)
	out := (*[2]uint64)(unsafe.Pointer(buf))
	out[0], out[1] = 0, 0
	if loanEnd > loanNext && (loanEnd-loanNext)/pageSize > keep {
		cut := loanNext + keep*pageSize
		out[0], out[1] = cut, loanEnd
		loanEnd = cut
		atomic.StoreUint64(&loanLeft, keep)
	}
	return 0
}

// loanTake takes the loan's lowest untaken frame for the heap and
// records it in heapExt; 0 when the loan is spent or heapExt is full.
// Context: the shim lock held (allocFrame).
//
//go:nosplit
func loanTake() uint64 {
	if loanNext >= loanEnd {
		return 0
	}
	p := loanNext
	if !heapExtAdd(p) {
		return 0
	}
	loanNext += pageSize
	atomic.StoreUint64(&loanLeft, (loanEnd-loanNext)/pageSize)
	heapGrown++
	return p
}

// heapExtAdd records frame p as the heap's in heapExt: nothing to do if
// a run holds it already (a loan frame the heap took, gave back and
// took again), the last run grows if p follows it, else a new run.
// false when heapExt is full.
//
//go:nosplit
func heapExtAdd(p uint64) bool {
	if heapExtN > 0 && heapExt[heapExtN-1].End == p {
		heapExt[heapExtN-1].End = p + pageSize
		return true
	}
	for i := 0; i < heapExtN; i++ {
		if p >= heapExt[i].Start && p < heapExt[i].End {
			return true
		}
	}
	if heapExtN == len(heapExt) {
		return false
	}
	heapExt[heapExtN] = Range{Start: p, End: p + pageSize}
	heapExtN++
	return true
}

// heapShrink takes frames off the free list, leaving keep frames on it,
// writes their physical addresses to the max words at buf and returns how
// many it took. They are no longer the heap's: the caller hands them to
// the domain frame allocator. Frames in limbo join the free list first,
// once every CPU has flushed them: a collection's release on SMP puts
// every frame it frees there.
//
//go:nosplit
func heapShrink(buf, max uintptr, keep uint64) uintptr {
	touchRange(buf, max*8)
	if heapLimbo != 0 {
		waitFlushed(limboGen)
		limboMerge()
	}
	out := unsafe.Slice((*uint64)(unsafe.Pointer(buf)), max)
	n := uintptr(0)
	for n < max && heapListed > keep && heapFree != 0 {
		p := heapFree
		heapFree = *word(dm(p))
		heapListed--
		heapReturned++
		out[n] = p
		n++
	}
	return n
}

// HeapWait blocks until the heap's spare frames fall below low frames, or
// for d at most, and sets that low-water mark: cmd/gohv's grower waits
// here, then lends the heap a new run (LendHeap). It reports whether the
// heap is short (false: d passed); it returns at once when the heap is
// short already, or when growing has failed. Context: one goroutine.
func HeapWait(low uint64, d time.Duration) bool {
	r, _, _ := syscall.Syscall(sysHeapWait, uintptr(low), uintptr(max(d, 0)), 0)
	return r != 0
}

// LendHeap makes r, a whole-frame run the caller took from the domain
// frame allocator, the heap's loan (the heap takes its frames as it
// needs them), and returns the previous loan's frames the heap did not
// take: the caller's again. An empty r says there is none to lend: the
// heap keeps what is left of its loan and stops asking (its exhaustion
// then says so).
func LendHeap(r Range) (Range, error) {
	var old [2]uint64
	if _, _, e := syscall.Syscall(sysHeapLend, uintptr(r.Start), uintptr(r.End), uintptr(unsafe.Pointer(&old))); e != 0 {
		return Range{}, e
	}
	return Range{Start: old[0], End: old[1]}, nil
}

// ReclaimLoan takes back the frames of the heap's loan it has not taken
// but for the lowest keep bytes (rounded up to a frame), which stay the
// heap's reserve; an empty range when there are no more: for the domain
// frame allocator, when it has no other frame for a domain. Context: Go
// code.
func ReclaimLoan(keep uint64) Range {
	var old [2]uint64
	syscall.Syscall(sysHeapReclaim, uintptr(unsafe.Pointer(&old)), uintptr((keep+pageSize-1)/pageSize), 0)
	return Range{Start: old[0], End: old[1]}
}

// HeapShort reports whether the grower has been woken and has not
// answered yet (lent the heap a new run, or found none: then nothing is
// gained by waiting for it). A goroutine that holds a P while a guest runs
// (a vCPU's) yields when it sees it (runtime.Gosched), so that the
// grower, which needs a P, runs before the runtime's next allocations
// take the heap's last frames: on one CPU it would otherwise wait for
// the runtime's preemption, up to 10 ms. Context: any.
func HeapShort() bool { return atomic.LoadUint32(&heapShort) != 0 }

// LoanLeft counts the frames of the heap's loan not taken yet: a domain
// may have them but for the reserve ReclaimLoan leaves. Context: any; a
// racy snapshot.
func LoanLeft() uint64 { return atomic.LoadUint64(&loanLeft) }

// ShrinkHeap takes frames off the heap's free list, leaving keep bytes
// (rounded up to a frame) there, and returns their physical addresses,
// which are then the caller's to give to the domain frame allocator.
// Context: Go code, after a collection has freed what it could
// (runtime/debug.FreeOSMemory).
func ShrinkHeap(keep uint64) []uint64 {
	var all []uint64
	buf := make([]uint64, 512)
	for {
		n, _, _ := syscall.Syscall(sysHeapShrink, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), uintptr((keep+pageSize-1)/pageSize))
		all = append(all, buf[:n]...)
		if n < uintptr(len(buf)) {
			return all
		}
	}
}

// xputHeapGrowth writes why the heap did not grow: the grower found no
// run to lend (its warning line, printed before, says why), or it did
// not run before the spare frames were gone; nothing before the heap may
// grow.
//
//go:nosplit
func xputHeapGrowth() {
	if heapLow == 0 {
		return
	}
	xputs(", grown by ")
	xdec(heapGrown * pageSize >> 10)
	xputs(" KiB")
	if heapStuck {
		xputs(", and could grow no more")
	} else {
		xputs(", the grower did not run before the spare frames were gone")
	}
}

// HeapUse says where the frames the heap has handed out are: what backs
// the mmap window, by 64 MiB block of it (the Go runtime reserves each
// heap arena as one such aligned block; its metadata, from sysAlloc and
// persistentalloc, lies in blocks of its own), the kernel stacks of
// thread slots and the CPUs' IST stacks (mapStack), and the page tables
// below the window's L4 entry; and what the heap holds spare.
type HeapUse struct {
	// Blocks are the window's 64 MiB blocks with frames behind them,
	// lowest first.
	Blocks []HeapBlock
	// KStackFrames back the kernel stacks of KStackSlots thread slots
	// (a slot keeps its stack for its next thread; slot 0's is in the
	// image); ISTFrames the IST stacks of the CPUs but CPU 0.
	KStackFrames, KStackSlots, ISTFrames uint64
	// KStackDeepest is the most any of those stacks has used, in
	// bytes: the depth of its lowest non-zero word (a stack's frames
	// come zeroed and keep what was written for the slot's next
	// thread, so it is a high-water mark since boot).
	KStackDeepest uint64
	// ISTDeepest is the same for the IST stacks (CPU 0's, in the
	// image, included).
	ISTDeepest uint64
	// TableFrames are the window's page tables (its PDPT is in the
	// image) and the direct map's PDs grown from the heap for device
	// memory (reachDirectMap).
	TableFrames uint64
	// FreeFrames are on the heap's free list, LimboFrames waiting for
	// a flush to join it; LoanFrames the loan's untaken ones.
	FreeFrames, LimboFrames, LoanFrames uint64
}

// HeapBlock is a 64 MiB-aligned block of the mmap window and the frames
// behind it.
type HeapBlock struct {
	VA     uintptr
	Frames uint64
}

// heapBlockShift is log2 of a HeapBlock's size: the runtime's heap arena
// on linux/amd64 (64 MiB).
const heapBlockShift = 26

// ReadHeapUse walks the mmap window's page tables and counts what backs
// it (HeapUse). Context: Go code; the walk takes no lock, so the figures
// are a racy snapshot (tables are never freed, entries may change under
// it): for reports.
func ReadHeapUse() HeapUse {
	var u HeapUse
	// Safety: the window's tables are heap frames seen through the
	// direct map, and a table once linked is never freed; the walk only
	// reads them.
	pdpt := dm(*word(pml4 + hw.SlotMmap*8) & amd64.PTE_ADDR)
	lastSlot := ^uintptr(0)
	for i := uintptr(0); i < 512; i++ {
		pdpe := atomic.LoadUint64(word(pdpt + i*8))
		if pdpe&amd64.PTE_P == 0 {
			continue
		}
		u.TableFrames++
		pd := dm(pdpe & amd64.PTE_ADDR)
		for j := uintptr(0); j < 512; j++ {
			pde := atomic.LoadUint64(word(pd + j*8))
			if pde&amd64.PTE_P == 0 {
				continue
			}
			u.TableFrames++
			pt := dm(pde & amd64.PTE_ADDR)
			for k := uintptr(0); k < 512; k++ {
				if atomic.LoadUint64(word(pt+k*8))&amd64.PTE_P == 0 {
					continue
				}
				va := heapVABase + i<<30 + j<<21 + k<<12
				switch {
				case va >= istRegion:
					u.ISTFrames++
				case va >= stackRegion:
					u.KStackFrames++
					if s := (va - stackRegion) / kstackPitch; s != lastSlot {
						u.KStackSlots++
						lastSlot = s
					}
				default:
					b := va &^ (1<<heapBlockShift - 1)
					if n := len(u.Blocks); n == 0 || u.Blocks[n-1].VA != b {
						u.Blocks = append(u.Blocks, HeapBlock{VA: b})
					}
					u.Blocks[len(u.Blocks)-1].Frames++
				}
			}
		}
	}
	u.KStackDeepest = wordsDepth(uintptr(unsafe.Pointer(&kstack0[0])), kstackSize)
	for i := 1; i < maxThreads; i++ {
		u.KStackDeepest = max(u.KStackDeepest, stackDepth(kstackVA(i), kstackSize))
	}
	for k := uintptr(0); k < 4; k++ {
		u.ISTDeepest = max(u.ISTDeepest, wordsDepth(uintptr(unsafe.Pointer(&ist0[0]))+k*istSize, istSize))
		for id := uintptr(1); id < hw.MaxCPUs; id++ {
			u.ISTDeepest = max(u.ISTDeepest, stackDepth(istVA(id)+k*istSize, istSize))
		}
	}
	u.TableFrames += atomic.LoadUint64(&directMapGrown)
	u.FreeFrames = atomic.LoadUint64(&heapListed)
	u.LimboFrames = atomic.LoadUint64(&heapLimboN)
	u.LoanFrames = LoanLeft()
	return u
}

// stackDepth is how far down the stack [base, base+n) in the stack region
// has been written: n less the offset of its lowest non-zero word, 0 for
// a stack never mapped. Its pages are read through the stack region's
// mappings, which mapStack never removes, from the first backed one up.
func stackDepth(base, n uintptr) uint64 {
	for off := uintptr(0); off < n; off += pageSize {
		e := pteLookup(base + off)
		if e == 0 || atomic.LoadUint64(word(e))&amd64.PTE_P == 0 {
			continue
		}
		return wordsDepth(base+off, n-off)
	}
	return 0
}

// wordsDepth is n less the offset of the lowest non-zero word of
// [base, base+n), all of it mapped.
func wordsDepth(base, n uintptr) uint64 {
	for w := uintptr(0); w < n; w += 8 {
		if atomic.LoadUint64(word(base+w)) != 0 {
			return uint64(n - w)
		}
	}
	return 0
}
