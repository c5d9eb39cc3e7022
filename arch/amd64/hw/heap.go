package hw

// FrameHeap is the accounting of the hypervisor heap, the physical range
// [Start, End) whose frames back the Go runtime's memory: frames never
// handed out start at Next; freed ones go on a free list rt threads
// through the frames themselves (it needs their memory, so it is not
// here). Owner: rt's shim, interrupts off.
type FrameHeap struct {
	Start, End, Next uint64
	Frames, Peak     uint64 // handed out and not freed: now, at most
}

// Init makes r the heap, all of it unused.
//
//go:nosplit
func (h *FrameHeap) Init(r Range) { *h = FrameHeap{Start: r.Start, End: r.End, Next: r.Start} }

// Bump takes the lowest never-used frame; ok is false when there is none.
//
//go:nosplit
func (h *FrameHeap) Bump() (pa uint64, ok bool) {
	if h.Next >= h.End || h.End-h.Next < PageSize {
		return 0, false
	}
	pa = h.Next
	h.Next += PageSize
	return pa, true
}

// Took counts a frame handed out (from Bump or the free list).
//
//go:nosplit
func (h *FrameHeap) Took() {
	h.Frames++
	h.Peak = max(h.Peak, h.Frames)
}

// Gave counts a frame returned to the free list.
//
//go:nosplit
func (h *FrameHeap) Gave() { h.Frames-- }

// TrimEnd is where the heap ends if it keeps keep bytes, rounded up to a
// page, above the highest frame it has handed out; ok is false when that
// would not shrink it (or keep overflows). rt.TrimHeap stores it.
//
//go:nosplit
func (h *FrameHeap) TrimEnd(keep uint64) (end uint64, ok bool) {
	end, ok = AlignUp(h.Next+keep, PageSize)
	if !ok || end < h.Next || end >= h.End {
		return h.End, false
	}
	return end, true
}

// Owns reports whether pa is a frame of the heap that Bump has handed out.
//
//go:nosplit
func (h *FrameHeap) Owns(pa uint64) bool {
	return pa&(PageSize-1) == 0 && pa >= h.Start && pa < h.Next
}
