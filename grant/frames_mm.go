package grant

import (
	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/mm"
)

// FrameTableFrames is Frames over mm's frame table for PV domains, whose
// grant entries and copy pointers name MFNs directly. It takes Xen's
// references: get_page (the domain must own the frame; I/O frames, owned
// by DOMID_IO, are refused, so iomem grants are not supported) and, for a
// writable use, get_page_type(PGT_writable_page), which fails for page
// tables and descriptor pages.
type FrameTableFrames struct {
	FT *mm.FrameTable
	// Flush performs the TLB flush a type change may need; nil before any
	// domain runs (mm's contract).
	Flush mm.Flusher
}

// GetFrame implements Frames.
func (f FrameTableFrames) GetFrame(d abi.DomID, frame uint64, writable bool) (mm.MFN, Status) {
	if frame >= uint64(f.FT.Len()) {
		return 0, GNTST_bad_page
	}
	m := mm.MFN(frame)
	if !f.FT.GetPage(m, d) {
		return 0, GNTST_bad_page
	}
	if writable && f.FT.GetPageType(m, mm.PageTypeWritable, f.Flush) != 0 {
		f.FT.PutPage(m)
		return 0, GNTST_general_error
	}
	return m, GNTST_okay
}

// PutFrame implements Frames.
func (f FrameTableFrames) PutFrame(_ abi.DomID, m mm.MFN, writable bool) {
	if writable {
		f.FT.PutPageType(m)
	}
	f.FT.PutPage(m)
}

var _ Frames = FrameTableFrames{}
