package rt

import (
	"syscall"
	"time"
	"unsafe"
)

// The hypervisor heap after the boot. Once dom0 is built cmd/gohv gives
// back what the boot needed and no longer does: the range above the
// highest frame ever handed out (TrimHeap) and the frames the runtime has
// freed, down to a small reserve (ShrinkHeap). From then on the heap grows
// again on demand: when its spare frames (free list, limbo and the
// never-used range) fall below the low-water mark, allocFrame wakes the
// thread waiting in HeapWait, cmd/gohv's grower goroutine, which takes a
// run of frames from the domain frame allocator and hands it over with
// GrowHeap. The heap is then its boot range plus up to maxHeapExt such
// extents. The low-water mark is what the runtime may take between the
// wake and the grower running; past it, allocFrame finds nothing and the
// machine panics with the heap's figures (heapExhausted).
//
// All of it is shim state (the shim lock).

// maxHeapExt bounds the runs GrowHeap may add (a run that follows the
// last one extends it).
const maxHeapExt = 128

var (
	heapListed uint64 // frames on heapFree
	heapLimboN uint64 // frames on heapLimbo

	heapExt  [maxHeapExt]Range // runs GrowHeap added, in order
	heapExtN int

	heapGrown    uint64 // frames GrowHeap added
	heapReturned uint64 // frames ShrinkHeap gave back from the free list
	// heapLow is the low-water mark in frames (0: no grower yet).
	heapLow uint64
	// heapWaiter is 1 + the thread blocked in HeapWait, 0 when none is.
	heapWaiter uintptr
	// heapStuck: the grower found no run to add; allocFrame wakes it no
	// more, and heapExhausted says so.
	heapStuck bool
)

// gohv's system calls for the heap (apart from sysHeapCall's dispatch
// case, numbered away from syscall_unsafe.go's list).
const (
	sysHeapWait   = 1200 + iota // (low, ns): block until the spare frames fall below low, at most ns
	sysHeapGrow                 // (start, end): add a run of frames, or (0, 0): none to add
	sysHeapShrink               // (buf, max, keep): give free-list frames back, keeping keep
)

// heapSpare counts the frames the heap can hand out without growing.
//
//go:nosplit
func heapSpare() uint64 {
	n := heapListed + heapLimboN
	if heap.End > heap.Next {
		n += (heap.End - heap.Next) / pageSize
	}
	return n
}

// heapHeldFrames counts the frames the heap holds: its range, the runs it
// grew by, less the frames it gave back.
//
//go:nosplit
func heapHeldFrames() uint64 {
	return (heap.End-heap.Start)/pageSize + heapGrown - heapReturned
}

// heapOwns reports whether pa is a frame the heap has handed out or
// listed: below Next in its boot range, or in a run it grew by. (A boot
// frame ShrinkHeap gave back still answers yes: the check catches page
// tables pointing outside anything the heap ever had.)
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
	case sysHeapGrow:
		return heapGrow(uint64(a0), uint64(a1))
	case sysHeapShrink:
		return heapShrink(a0, a1, uint64(a2))
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

// heapGrow adds the frames [start, end) to the free list; start == end
// says the grower found none. EINVAL for a range that is not whole frames
// inside the direct map, ENOMEM when maxHeapExt runs were added already.
//
//go:nosplit
func heapGrow(start, end uint64) uintptr {
	if start == end {
		heapStuck = true
		return 0
	}
	if start&(pageSize-1) != 0 || end&(pageSize-1) != 0 || start < pageSize || end < start || end > directMapEnd {
		return errno(einval)
	}
	switch {
	case heapExtN > 0 && heapExt[heapExtN-1].End == start:
		heapExt[heapExtN-1].End = end // the run after the last one
	case heapExtN == len(heapExt):
		heapStuck = true
		return errno(enomem)
	default:
		heapExt[heapExtN] = Range{Start: start, End: end}
		heapExtN++
	}
	for p := start; p < end; p += pageSize {
		*word(dm(p)) = heapFree
		heapFree = p
	}
	n := (end - start) / pageSize
	heapListed += n
	heapGrown += n
	return 0
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
// here, then grows the heap (GrowHeap). It reports whether the heap is
// short (false: d passed); it returns at once when the heap is short
// already, or when growing has failed. Context: one goroutine.
func HeapWait(low uint64, d time.Duration) bool {
	r, _, _ := syscall.Syscall(sysHeapWait, uintptr(low), uintptr(max(d, 0)), 0)
	return r != 0
}

// GrowHeap gives the heap the frames of r, a whole-frame range the caller
// took from the domain frame allocator for good; an empty r says there
// are none to give, and the heap stops asking (its exhaustion then says
// so).
func GrowHeap(r Range) error {
	if _, _, e := syscall.Syscall(sysHeapGrow, uintptr(r.Start), uintptr(r.End), 0); e != 0 {
		return e
	}
	return nil
}

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
// run (its warning line, printed before, says why), or it did not run
// before the spare frames were gone; nothing before the heap may grow.
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
