package hw

import "testing"

// TestNoAllocation: rt calls these before the runtime exists and on the
// trap path, where nothing may allocate.
func TestNoAllocation(t *testing.T) {
	m := mb1(1023*1024, [2]uint32{0x1000000, 0x1800123})
	img := elfImage([4]uint64{ptLoad, 5, TextBase, 0x1234})
	var h FrameHeap
	h.Init(Range{0x100000, 0x200000})
	var sink uint64
	for name, f := range map[string]func(){
		"boot memory": func() {
			var b BootMemory
			b.Scan(m, MB1Magic, 0x9000, testImage)
			r, _ := b.ChooseHeap()
			sink += r.Start
		},
		"image segments": func() {
			for i := 0; i < ImagePhnum(img); i++ {
				s, _, _ := ImageSegment(img, i, PTE_NX)
				sink += s.Flags
			}
		},
		"descriptors": func() {
			lo, hi := Gate(TextBase, SelKernelCS, ExceptionIST(8), ExceptionDPL(3))
			a, b := TSSDesc(TextBase, TSSSize-1)
			c, d := PseudoDesc(PerCPUBase, GDTPages*PageSize)
			sink += lo + hi + a + b + c + d
		},
		"heap": func() {
			pa, _ := h.Bump()
			e, _ := h.TrimEnd(PageSize)
			sink += e
			h.Took()
			h.Gave()
			sink += pa + DataPTE(pa, PTE_NX) + TablePTE(pa) + Index(pa, 2)
		},
		"clocks": func() {
			u, _ := RTC{0x59, 0x16, 0x15, 0x06, 0x12, 0x26, 0x02}.Unix()
			sink += uint64(u) + uint64(TSCNanos(1e9, TSCScale(2e9))) + MedianOf(&[5]uint64{3, 1, 2, 5, 4}, 5)
		},
		"guest entry": func() {
			if GuestRange(0x1000, 8) && SysretOK(SelUser64CS, SelUserDS, 1, 2, 1, 2) {
				sink++
			}
			sink += GuestRFLAGS(0)
		},
	} {
		if n := testing.AllocsPerRun(10, f); n != 0 {
			t.Errorf("%s: %v allocations", name, n)
		}
	}
	_ = sink
}
