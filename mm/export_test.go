package mm

// PackPageInfo returns the stored form of pi, for tests that fill frame
// table storage (FrameTableConfig.Pages) with what it might hold.
func PackPageInfo(pi PageInfo) FrameEntry {
	e := FrameEntry{count: pi.Count, typeCount: pi.TypeCount, owner: pi.Owner}
	e.setType(pi.Type)
	e.set(pgAllocated, pi.Allocated)
	e.set(pgPinned, pi.Pinned)
	e.set(pgValidated, pi.Validated)
	e.set(pgXenHeap, pi.XenHeap)
	return e
}
