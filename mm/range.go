package mm

import (
	"fmt"
	"sort"
)

// Range is the machine address interval [Start, End). A Range with
// End <= Start is empty. Ranges come from the boot loader's memory map and
// from the hypervisor's own layout; they are not guest input.
type Range struct {
	Start Maddr // first byte
	End   Maddr // one past the last byte (exclusive)
}

// FrameRange returns the range covering n frames starting at first. It
// reports ok == false if the end does not fit in a Maddr.
func FrameRange(first MFN, n uint64) (r Range, ok bool) {
	const maxFrames = 1 << (64 - PageShift)
	if uint64(first) >= maxFrames || n > maxFrames-uint64(first) {
		return Range{}, false
	}
	end := uint64(first) + n
	if end == maxFrames {
		// The last frame of the 64-bit space ends at 2^64, which a Maddr
		// cannot hold.
		return Range{}, false
	}
	return Range{Start: first.Addr(), End: MFN(end).Addr()}, true
}

// Empty reports whether r holds no byte.
func (r Range) Empty() bool { return r.End <= r.Start }

// Size returns the number of bytes in r (0 if empty).
func (r Range) Size() uint64 {
	if r.Empty() {
		return 0
	}
	return uint64(r.End - r.Start)
}

// Contains reports whether a lies inside r.
func (r Range) Contains(a Maddr) bool { return r.Start <= a && a < r.End }

// Overlaps reports whether r and o share at least one byte.
func (r Range) Overlaps(o Range) bool {
	return !r.Empty() && !o.Empty() && r.Start < o.End && o.Start < r.End
}

// InnerFrames returns the frames lying entirely inside r: [first, end).
// Partial pages at either edge are left out. first == end when r holds no
// whole frame.
func (r Range) InnerFrames() (first, end MFN) {
	if r.Empty() {
		return 0, 0
	}
	first = r.Start.MFN()
	if r.Start.Offset() != 0 {
		first++
	}
	end = r.End.MFN()
	if end < first {
		end = first
	}
	return first, end
}

// OuterFrames returns every frame that holds at least one byte of r:
// [first, end). first == end when r is empty.
func (r Range) OuterFrames() (first, end MFN) {
	if r.Empty() {
		return 0, 0
	}
	first = r.Start.MFN()
	end = r.End.MFN()
	if r.End.Offset() != 0 {
		end++
	}
	return first, end
}

// String formats r as Xen prints e820 entries: "[start, end)".
func (r Range) String() string {
	return fmt.Sprintf("[%#016x, %#016x)", uint64(r.Start), uint64(r.End))
}

// NormalizeRanges returns the union of rs as a new slice of disjoint,
// non-adjacent, non-empty ranges sorted by Start. rs is not modified.
func NormalizeRanges(rs []Range) []Range {
	out := make([]Range, 0, len(rs))
	for _, r := range rs {
		if !r.Empty() {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	n := 0
	for _, r := range out {
		if n > 0 && r.Start <= out[n-1].End {
			if r.End > out[n-1].End {
				out[n-1].End = r.End
			}
			continue
		}
		out[n] = r
		n++
	}
	return out[:n]
}
