package mm

import (
	"errors"
	"fmt"
	"math/bits"
	"sync"
)

// MaxRAMAddr bounds the machine memory the allocator manages: RAM at or
// above it (16 TiB, Xen 4.17's limit without CONFIG_BIGMEM) is dropped and
// counted by DroppedFrames, so a corrupt memory map cannot make the
// allocator's bitmaps exhaust the heap.
const MaxRAMAddr Maddr = 1 << 44

// Errors returned by Free, FreeContig and Reserve. They describe a
// hypervisor bug (or a bad boot map), never guest input: callers log them.
var (
	// ErrNotManaged: the frame is not RAM the allocator hands out (outside
	// every RAM range, or reserved).
	ErrNotManaged = errors.New("mm: frame not managed by the allocator")
	// ErrDoubleFree: the frame is already free.
	ErrDoubleFree = errors.New("mm: frame already free")
	// ErrInUse: Reserve found a frame of the range handed out, or Adopt
	// one already managed.
	ErrInUse = errors.New("mm: frame in use")
)

// Allocator hands out the 4 KiB machine frames of RAM that the hypervisor
// does not use itself. Its metadata (two bitmaps per RAM range) lives in the
// Go heap; the frames it manages never do.
//
// Allocation order is deterministic: the lowest free frame (or the lowest
// suitable run) first, so tests and boot logs are stable.
//
// Context: every method takes a.mu, a sync.Mutex, so the allocator may be
// called from ordinary goroutines only, never from an interrupt handler or
// the trap/exit path.
type Allocator struct {
	mu sync.Mutex // protects every field below

	// segs are the RAM ranges as frame runs, sorted, disjoint and never
	// adjacent (adjacent RAM is merged before rounding), so a run of
	// contiguous frames always lies inside one segment.
	segs []segment
	// total counts managed frames: RAM minus reserved.
	total uint64
	// free counts managed frames not handed out.
	free uint64
	// dropped counts whole RAM frames at or above MaxRAMAddr.
	dropped uint64
	// limit is one past the highest RAM frame (reserved or not).
	limit MFN

	// loanLeft and loanBack are the loan's (SetLoan); nil without one.
	loanLeft func() uint64
	loanBack func() (first MFN, n uint64)
}

// SetLoan tells the allocator about a run of frames it has handed out to
// a borrower that takes them one at a time without it, lowest first (the
// hypervisor heap's loan): left counts the frames the borrower has not
// taken, and back takes those back from it, returning them as a run
// ([first, first+n), n = 0 for none); the borrower keeps what it took
// until it frees it here. The frames not taken count as free
// (FreeFrames), and an allocation that finds no other frame takes them
// back and frees them here first (reclaimLoan), so a loan strands
// nothing a domain could use. Both are called without a.mu held and must
// not call the allocator. Context: once, before the first loan.
func (a *Allocator) SetLoan(left func() uint64, back func() (first MFN, n uint64)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.loanLeft, a.loanBack = left, back
}

// LendContig takes n machine-contiguous frames below maxAddr as
// AllocContig does and hands them to lend, which makes them the loan
// (SetLoan) and returns the previous loan's untaken frames as a run
// (oldN = 0 for none); those are free here again. It all happens under
// the allocator's lock, so FreeFrames never sees the frames of either
// run as neither free nor lent. ok is false, and lend is not called,
// when no such run is free; an error from lend is returned with the run
// freed again. lend must not call the allocator.
func (a *Allocator) LendContig(n uint64, maxAddr Maddr, lend func(first MFN) (oldFirst MFN, oldN uint64, err error)) (first MFN, ok bool, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if first, ok = a.allocContigLocked(n, maxAddr, 1); !ok {
		return 0, false, nil
	}
	oldFirst, oldN, err := lend(first)
	if err != nil {
		if e := a.freeContigLocked(first, n); e != nil {
			panic(fmt.Sprintf("mm: freeing the run %#x+%d a loan refused: %v", uint64(first), n, e))
		}
		return 0, false, err
	}
	if oldN > 0 {
		if e := a.freeContigLocked(oldFirst, oldN); e != nil {
			panic(fmt.Sprintf("mm: the old loan's frames %#x+%d came back wrong: %v", uint64(oldFirst), oldN, e))
		}
	}
	return first, true, nil
}

// reclaimLoan takes the loan's untaken frames back (SetLoan) and frees
// them here. It reports whether any came back.
func (a *Allocator) reclaimLoan() bool {
	a.mu.Lock()
	back := a.loanBack
	a.mu.Unlock()
	if back == nil {
		return false
	}
	first, n := back()
	if n == 0 {
		return false
	}
	if err := a.FreeContig(first, n); err != nil {
		panic(fmt.Sprintf("mm: the loan's frames %#x+%d came back wrong: %v", uint64(first), n, err))
	}
	return true
}

// segment is one RAM run [base, base+n) of frames.
type segment struct {
	base MFN
	n    uint64
	// managed has bit i set if frame base+i is managed (RAM, not reserved).
	managed []uint64
	// free has bit i set if frame base+i is managed and free; always a
	// subset of managed.
	free []uint64
	// nfree counts the set bits of free.
	nfree uint64
	// hint is the index of the lowest word of free that may hold a set bit.
	hint int
}

// NewAllocator returns an allocator for the whole frames inside ram, minus
// every frame touched by a reserved range (the hypervisor image, boot
// modules, boot structures, the runtime's heap, the low 1 MiB). ram and
// reserved may be unsorted and may overlap; adjacent RAM ranges are merged
// before partial pages at their edges are cut off. Neither slice is kept.
func NewAllocator(ram []Range, reserved []Range) *Allocator {
	a := &Allocator{}
	for _, r := range NormalizeRanges(ram) {
		if r.Start >= MaxRAMAddr {
			f, e := r.InnerFrames()
			a.dropped += uint64(e - f)
			continue
		}
		if r.End > MaxRAMAddr {
			f, e := (Range{Start: MaxRAMAddr, End: r.End}).InnerFrames()
			a.dropped += uint64(e - f)
			r.End = MaxRAMAddr
		}
		first, end := r.InnerFrames()
		if first == end {
			continue
		}
		n := uint64(end - first)
		words := int((n + 63) / 64)
		s := segment{base: first, n: n, managed: make([]uint64, words), free: make([]uint64, words)}
		s.setRange(s.managed, 0, n)
		s.setRange(s.free, 0, n)
		s.nfree = n
		a.segs = append(a.segs, s)
		a.total += n
		a.free += n
		a.limit = end
	}
	for _, r := range reserved {
		a.takeOut(r)
	}
	return a
}

// takeOut removes the frames touching r from the managed set.
// Precondition: a.mu held (or a not yet shared); no frame of r handed out.
func (a *Allocator) takeOut(r Range) {
	first, end := r.OuterFrames()
	for i := range a.segs {
		s := &a.segs[i]
		lo, hi, ok := s.clip(first, end)
		if !ok {
			continue
		}
		freed := s.countRange(s.free, lo, hi)
		s.clearRange(s.managed, lo, hi)
		s.clearRange(s.free, lo, hi)
		s.nfree -= freed
		a.total -= freed
		a.free -= freed
	}
}

// Reserve takes the frames touching r out of the allocator for good (for
// example a boot module found late). Frames of r that are not managed are
// ignored. If any frame of r is currently handed out, Reserve returns
// ErrInUse and changes nothing.
func (a *Allocator) Reserve(r Range) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	first, end := r.OuterFrames()
	for i := range a.segs {
		s := &a.segs[i]
		lo, hi, ok := s.clip(first, end)
		if !ok {
			continue
		}
		if s.countRange(s.managed, lo, hi) != s.countRange(s.free, lo, hi) {
			return ErrInUse
		}
	}
	a.takeOut(r)
	return nil
}

// Adopt makes the n reserved RAM frames from first managed and handed
// out, as if Alloc had given them: a boot module's frames handed to a
// domain (Xen's dom0 initrd) return to the allocator when freed. It
// returns ErrNotManaged if a frame is not RAM, ErrInUse if one is managed
// already, and then changes nothing.
func (a *Allocator) Adopt(first MFN, n uint64) error {
	end := first + MFN(n)
	if end < first {
		return ErrNotManaged
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for m := first; m < end; m++ {
		s := a.segmentOf(m)
		if s == nil {
			return ErrNotManaged
		}
		if s.countRange(s.managed, uint64(m-s.base), uint64(m-s.base)+1) != 0 {
			return ErrInUse
		}
	}
	for m := first; m < end; m++ {
		s := a.segmentOf(m)
		s.setRange(s.managed, uint64(m-s.base), uint64(m-s.base)+1)
	}
	a.total += n
	return nil
}

// Alloc hands out the lowest free frame. ok is false when none is left,
// the loan's untaken frames included (reclaimLoan).
func (a *Allocator) Alloc() (m MFN, ok bool) {
	if m, ok = a.alloc(); !ok && a.reclaimLoan() {
		m, ok = a.alloc()
	}
	return m, ok
}

func (a *Allocator) alloc() (m MFN, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := range a.segs {
		s := &a.segs[i]
		if s.nfree == 0 {
			continue
		}
		for w := s.hint; w < len(s.free); w++ {
			if s.free[w] == 0 {
				continue
			}
			s.hint = w
			idx := uint64(w)*64 + uint64(bits.TrailingZeros64(s.free[w]))
			s.free[w] &^= 1 << (idx % 64)
			s.nfree--
			a.free--
			return s.base + MFN(idx), true
		}
		// nfree > 0 but no bit from the hint on: a broken invariant.
		panic(fmt.Sprintf("mm: allocator segment at MFN %#x counts %d free frames but has none", uint64(s.base), s.nfree))
	}
	return 0, false
}

// AllocN hands out up to n of the lowest free frames, lowest first,
// appending them to dst: Alloc n times under one lock. It returns fewer
// than n frames only when no frame is left, the loan's untaken frames
// included (reclaimLoan).
func (a *Allocator) AllocN(dst []MFN, n uint64) []MFN {
	had := uint64(len(dst))
	if dst = a.allocN(dst, n); uint64(len(dst))-had < n && a.reclaimLoan() {
		dst = a.allocN(dst, n-(uint64(len(dst))-had))
	}
	return dst
}

func (a *Allocator) allocN(dst []MFN, n uint64) []MFN {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := range a.segs {
		s := &a.segs[i]
		for w := s.hint; w < len(s.free) && n > 0 && s.nfree > 0; w++ {
			s.hint = w
			for s.free[w] != 0 && n > 0 {
				idx := uint64(w)*64 + uint64(bits.TrailingZeros64(s.free[w]))
				s.free[w] &^= 1 << (idx % 64)
				s.nfree--
				a.free--
				n--
				dst = append(dst, s.base+MFN(idx))
			}
		}
		if n == 0 {
			break
		}
	}
	return dst
}

// AllocContig hands out n machine-contiguous frames, the lowest run whose
// every frame lies below maxAddr and whose first MFN is a multiple of align
// (align 0 means 1). It returns the first frame. ok is false (and nothing
// changes) if n is 0 or no such run is free. The loan's untaken frames
// come back first (reclaimLoan) only when fewer than n frames are free
// without them: a run that constraints (maxAddr, align, fragmentation)
// deny is no reason to take the heap's loan.
func (a *Allocator) AllocContig(n uint64, maxAddr Maddr, align uint64) (first MFN, ok bool) {
	if first, ok = a.allocContig(n, maxAddr, align); !ok && n > 0 && a.ownFree() < n && a.reclaimLoan() {
		first, ok = a.allocContig(n, maxAddr, align)
	}
	return first, ok
}

// ownFree counts the free frames the allocator holds itself (the loan's
// not included).
func (a *Allocator) ownFree() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.free
}

func (a *Allocator) allocContig(n uint64, maxAddr Maddr, align uint64) (first MFN, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.allocContigLocked(n, maxAddr, align)
}

func (a *Allocator) allocContigLocked(n uint64, maxAddr Maddr, align uint64) (first MFN, ok bool) {
	if n == 0 {
		return 0, false
	}
	if align == 0 {
		align = 1
	}
	maxEnd := maxAddr.MFN() // frames [.., maxEnd) end at or below maxAddr
	for i := range a.segs {
		s := &a.segs[i]
		if s.nfree < n || s.base >= maxEnd {
			continue
		}
		limit := s.n // run must end at or before this index
		if uint64(maxEnd-s.base) < limit {
			limit = uint64(maxEnd - s.base)
		}
		if limit < n {
			continue
		}
		idx, found := s.findRun(n, limit, align)
		if !found {
			continue
		}
		s.clearRange(s.free, idx, idx+n)
		s.nfree -= n
		a.free -= n
		return s.base + MFN(idx), true
	}
	return 0, false
}

// findRun returns the lowest index i with frames [i, i+n) all free,
// i+n <= limit and (base+i) % align == 0.
func (s *segment) findRun(n, limit, align uint64) (uint64, bool) {
	alignUp := func(i uint64) (uint64, bool) {
		m := (uint64(s.base) + i) % align
		if m == 0 {
			return i, true
		}
		step := align - m
		if i+step < i {
			return 0, false
		}
		return i + step, true
	}
	i := uint64(0)
	for {
		j, ok := s.nextSet(s.free, i, limit)
		if !ok {
			return 0, false
		}
		if j, ok = alignUp(j); !ok || j >= limit || limit-j < n {
			return 0, false
		}
		k, hole := s.nextClear(s.free, j, j+n)
		if !hole {
			return j, true
		}
		i = k + 1
	}
}

// Free returns frame m to the allocator. It returns ErrNotManaged if m is
// not a managed frame and ErrDoubleFree if m is already free; either way
// nothing changes.
func (a *Allocator) Free(m MFN) error {
	return a.FreeContig(m, 1)
}

// FreeContig returns the n frames [first, first+n) to the allocator, as
// handed out by AllocContig (or by n calls to Alloc). If any of them is not
// managed or already free it returns ErrNotManaged or ErrDoubleFree and
// frees none.
func (a *Allocator) FreeContig(first MFN, n uint64) error {
	if n == 0 {
		return nil
	}
	end := first + MFN(n)
	if end < first {
		return ErrNotManaged
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.freeContigLocked(first, n)
}

func (a *Allocator) freeContigLocked(first MFN, n uint64) error {
	s := a.segmentOf(first)
	if s == nil {
		return ErrNotManaged
	}
	lo := uint64(first - s.base)
	if n > s.n-lo {
		return ErrNotManaged
	}
	hi := lo + n
	if s.countRange(s.managed, lo, hi) != n {
		return ErrNotManaged
	}
	if s.countRange(s.free, lo, hi) != 0 {
		return ErrDoubleFree
	}
	s.setRange(s.free, lo, hi)
	s.nfree += n
	a.free += n
	if w := int(lo / 64); w < s.hint {
		s.hint = w
	}
	return nil
}

// IsRAM reports whether m is a whole RAM frame of the boot map below
// MaxRAMAddr, reserved or not. Frames that are not RAM are I/O memory or
// holes.
func (a *Allocator) IsRAM(m MFN) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.segmentOf(m) != nil
}

// IsFree reports whether m is managed and free.
func (a *Allocator) IsFree(m MFN) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.segmentOf(m)
	return s != nil && s.test(s.free, uint64(m-s.base))
}

// FreeFrames returns the number of frames free for domains: the managed
// frames not handed out, and the loan's frames its borrower has not
// taken (SetLoan).
func (a *Allocator) FreeFrames() uint64 {
	a.mu.Lock()
	free, left := a.free, a.loanLeft
	a.mu.Unlock()
	if left != nil {
		free += left()
	}
	return free
}

// TotalFrames returns the number of managed frames (RAM minus reserved),
// handed out or not.
func (a *Allocator) TotalFrames() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.total
}

// FrameLimit returns one past the highest RAM frame, reserved or not (Xen's
// max_page): the length of a frame table indexed by MFN. 0 if there is no
// RAM.
func (a *Allocator) FrameLimit() MFN {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.limit
}

// DroppedFrames returns the number of RAM frames at or above MaxRAMAddr
// that the allocator ignores.
func (a *Allocator) DroppedFrames() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.dropped
}

// Summary describes the free memory for the boot log, e.g.
// "123 MiB free for domains (31488 frames)". MiB are rounded down.
func (a *Allocator) Summary() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	const framesPerMiB = (1 << 20) / PageSize
	s := fmt.Sprintf("%d MiB free for domains (%d frames)", a.free/framesPerMiB, a.free)
	if a.dropped != 0 {
		s += fmt.Sprintf(", %d frames above %d TiB ignored", a.dropped, uint64(MaxRAMAddr)>>40)
	}
	return s
}

// ramRun is one run of RAM frames [first, first+n), reserved or not.
type ramRun struct {
	first MFN
	n     uint64
}

// ramRuns returns the RAM frame runs (IsRAM's frames), sorted.
func (a *Allocator) ramRuns() []ramRun {
	a.mu.Lock()
	defer a.mu.Unlock()
	runs := make([]ramRun, len(a.segs))
	for i, s := range a.segs {
		runs[i] = ramRun{s.base, s.n}
	}
	return runs
}

// segmentOf returns the segment holding m, or nil.
// Precondition: a.mu held.
func (a *Allocator) segmentOf(m MFN) *segment {
	lo, hi := 0, len(a.segs)
	for lo < hi {
		mid := (lo + hi) / 2
		s := &a.segs[mid]
		switch {
		case m < s.base:
			hi = mid
		case uint64(m-s.base) >= s.n:
			lo = mid + 1
		default:
			return s
		}
	}
	return nil
}

// clip intersects the frames [first, end) with s, as indices into s.
func (s *segment) clip(first, end MFN) (lo, hi uint64, ok bool) {
	segEnd := s.base + MFN(s.n)
	if end <= s.base || first >= segEnd || first >= end {
		return 0, 0, false
	}
	if first < s.base {
		first = s.base
	}
	if end > segEnd {
		end = segEnd
	}
	return uint64(first - s.base), uint64(end - s.base), true
}

// Bitmap helpers. Indices are frame offsets in the segment; ranges are
// [lo, hi) with hi <= s.n.

// rangeMask returns, for word w, the bits of [lo, hi) inside it.
func rangeMask(w int, lo, hi uint64) uint64 {
	wlo, whi := uint64(w)*64, uint64(w)*64+64
	if lo > wlo {
		wlo = lo
	}
	if hi < whi {
		whi = hi
	}
	if wlo >= whi {
		return 0
	}
	width := whi - wlo
	var m uint64 = ^uint64(0)
	if width < 64 {
		m = (1 << width) - 1
	}
	return m << (wlo % 64)
}

func (s *segment) setRange(b []uint64, lo, hi uint64) {
	for w := int(lo / 64); lo < hi && w <= int((hi-1)/64); w++ {
		b[w] |= rangeMask(w, lo, hi)
	}
}

func (s *segment) clearRange(b []uint64, lo, hi uint64) {
	for w := int(lo / 64); lo < hi && w <= int((hi-1)/64); w++ {
		b[w] &^= rangeMask(w, lo, hi)
	}
}

func (s *segment) countRange(b []uint64, lo, hi uint64) uint64 {
	var c uint64
	for w := int(lo / 64); lo < hi && w <= int((hi-1)/64); w++ {
		c += uint64(bits.OnesCount64(b[w] & rangeMask(w, lo, hi)))
	}
	return c
}

func (s *segment) test(b []uint64, i uint64) bool { return b[i/64]&(1<<(i%64)) != 0 }

// nextSet returns the lowest i in [lo, hi) with bit i set.
func (s *segment) nextSet(b []uint64, lo, hi uint64) (uint64, bool) {
	for w := int(lo / 64); lo < hi && w <= int((hi-1)/64); w++ {
		if v := b[w] & rangeMask(w, lo, hi); v != 0 {
			return uint64(w)*64 + uint64(bits.TrailingZeros64(v)), true
		}
	}
	return 0, false
}

// nextClear returns the lowest i in [lo, hi) with bit i clear.
func (s *segment) nextClear(b []uint64, lo, hi uint64) (uint64, bool) {
	for w := int(lo / 64); lo < hi && w <= int((hi-1)/64); w++ {
		if v := ^b[w] & rangeMask(w, lo, hi); v != 0 {
			return uint64(w)*64 + uint64(bits.TrailingZeros64(v)), true
		}
	}
	return 0, false
}
