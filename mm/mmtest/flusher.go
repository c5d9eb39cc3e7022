package mmtest

import (
	"fmt"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/mm"
)

// Flusher is an mm.Flusher that records every request as a line of text
// (for example "tlb all" or "invlpg multi[0x5] 0x1000"). ReadVCPUMask
// returns Masks[h]; a handle missing from Masks cannot be read.
type Flusher struct {
	Masks map[abi.GuestHandle][]uint64 // readable vCPU bitmaps by guest address
	Log   []string                     // requests, in order
}

func scopeString(t mm.FlushTarget) string {
	switch t.Scope {
	case mm.FlushLocal:
		return "local"
	case mm.FlushAll:
		return "all"
	}
	return fmt.Sprintf("multi%#x", t.Mask)
}

func (f *Flusher) ReadVCPUMask(h abi.GuestHandle) ([]uint64, bool) {
	m, ok := f.Masks[h]
	return m, ok
}

func (f *Flusher) FlushTLB(t mm.FlushTarget) { f.Log = append(f.Log, "tlb "+scopeString(t)) }

func (f *Flusher) InvalidatePage(t mm.FlushTarget, va mm.GuestVA) {
	f.Log = append(f.Log, fmt.Sprintf("invlpg %s %#x", scopeString(t), uint64(va)))
}

func (f *Flusher) FlushCache(global bool) {
	if global {
		f.Log = append(f.Log, "wbinvd global")
	} else {
		f.Log = append(f.Log, "wbinvd local")
	}
}

var _ mm.Flusher = (*Flusher)(nil)
