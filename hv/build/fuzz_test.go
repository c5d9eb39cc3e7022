package build

import (
	"encoding/binary"
	"testing"

	"github.com/gohv/gohv/mm"
	"github.com/gohv/gohv/mm/mmtest"
)

// Fuzz flag bits.
const (
	fzHypercall   = 1 << 0
	fzInitP2M     = 1 << 1
	fzModStartPFN = 1 << 2
	fzEntryOffset = 1 << 3 // entry is an offset into the kernel
	fzHCOffset    = 1 << 4 // hypercall page is an offset into the kernel
	fzDom0        = 1 << 5
)

func seedSegs(segs []Segment) []byte {
	var b []byte
	for _, s := range segs {
		b = binary.LittleEndian.AppendUint64(b, s.PAddr)
		b = binary.LittleEndian.AppendUint64(b, s.MemSz)
	}
	return b
}

// FuzzPlan: Plan with arbitrary segments, notes and sizes never panics,
// and a layout it returns meets checkLayout (disjoint elements inside
// nr_pages, consistent tables). Small layouts are also built, which must
// succeed.
func FuzzPlan(f *testing.F) {
	deb := debianImage()
	f.Add(uint8(fzInitP2M|fzModStartPFN), uint64(131072), uint64(0), deb.Notes.VirtBase, uint64(0), deb.Notes.Entry, uint64(0), deb.Notes.InitP2M, seedSegs(deb.Segments))
	f.Add(uint8(fzInitP2M|fzModStartPFN|fzDom0), uint64(131072), uint64(1<<20), deb.Notes.VirtBase, uint64(0), deb.Notes.Entry, uint64(0), deb.Notes.InitP2M, seedSegs(deb.Segments))
	xtf := xtfImage()
	f.Add(uint8(fzHypercall), uint64(2048), uint64(0), uint64(0), uint64(0), uint64(0x100000), uint64(0x101000), uint64(0), seedSegs(xtf.Segments))
	f.Add(uint8(fzHypercall|fzHCOffset|fzEntryOffset), uint64(1500), uint64(5000), uint64(0), uint64(0), uint64(0), uint64(0x1000), uint64(0), seedSegs(xtf.Segments))
	d0 := smallDom0Image()
	f.Add(uint8(fzDom0|fzModStartPFN|fzEntryOffset), uint64(1800), uint64(0x12345), d0.Notes.VirtBase, uint64(0), uint64(0), uint64(0), uint64(0), seedSegs([]Segment{{PAddr: 0x100000, MemSz: 0x3000}}))
	f.Fuzz(func(t *testing.T, flags uint8, nrPages, initrdLen, virtBase, paddrOff, entry, hc, p2m uint64, segBytes []byte) {
		var segs []Segment
		for len(segBytes) >= 16 && len(segs) < 8 {
			s := Segment{PAddr: binary.LittleEndian.Uint64(segBytes), MemSz: binary.LittleEndian.Uint64(segBytes[8:])}
			segs = append(segs, s)
			segBytes = segBytes[16:]
		}
		n := Notes{VirtBase: virtBase, PaddrOffset: paddrOff, Entry: entry, HypercallPage: hc, InitP2M: p2m,
			HasHypercallPage: flags&fzHypercall != 0, HasInitP2M: flags&fzInitP2M != 0, ModStartPFN: flags&fzModStartPFN != 0}
		if len(segs) > 0 {
			lo := segs[0].PAddr
			for _, s := range segs {
				lo = min(lo, s.PAddr)
			}
			kstart := lo + virtBase - paddrOff
			if flags&fzEntryOffset != 0 {
				n.Entry = kstart + entry%(1<<24)
			}
			if flags&fzHCOffset != 0 {
				n.HypercallPage = kstart + hc%(1<<24)
			}
		}
		in := Input{Kind: DomU, Image: Image{Segments: segs, Notes: n}, NrPages: nrPages, InitrdLen: initrdLen}
		if flags&fzDom0 != 0 {
			in.Kind = Dom0
		}
		l, err := Plan(in)
		if err != nil {
			if l != nil {
				t.Fatal("layout with an error")
			}
			return
		}
		checkLayout(t, l)
		if l.Kernel.PFN > l.Kernel.End() || l.KStart < l.Kernel.VA || (l.Kernel.Pages > 0 && l.KEnd > l.Kernel.VA+l.Kernel.Pages<<pageShift) {
			t.Fatalf("kernel %+v for %#x-%#x", l.Kernel, l.KStart, l.KEnd)
		}
		if l.NrPages > 4096 || initrdLen > 1<<20 {
			return
		}
		// Build it into identity frames: a valid plan always builds.
		mem := mmtest.NewMemory(int(l.NrPages))
		mfns := make([]mm.MFN, l.NrPages)
		for i := range mfns {
			mfns[i] = mm.MFN(i)
		}
		initrd := make([]byte, l.SI.ModLen)
		if _, err := Build(l, mem, mfns, Contents{Initrd: initrd}); err != nil {
			t.Fatalf("Build of a planned layout: %v", err)
		}
	})
}
