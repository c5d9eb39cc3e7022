package hw

import (
	"encoding/binary"
	"testing"
)

var testImage = Range{TextPA - PageSize, 0x84b000}

type memBuilder struct{ Mem }

func newMem(size int) memBuilder { return memBuilder{make(Mem, size)} }

func (m memBuilder) w32(a uint64, v uint32) { binary.LittleEndian.PutUint32(m.Mem[a:], v) }
func (m memBuilder) w64(a uint64, v uint64) { binary.LittleEndian.PutUint64(m.Mem[a:], v) }

// mb1 builds a multiboot1 information at 0x9000 with mem_upper, a command
// line at 0x10000 and modules (start, end) listed at 0x9100.
func mb1(memUpperKiB uint32, mods ...[2]uint32) Mem {
	m := newMem(0x20000)
	m.w32(0x9000, 1|4|8)
	m.w32(0x9000+8, memUpperKiB)
	m.w32(0x9000+16, 0x10000)
	m.w32(0x9000+20, uint32(len(mods)))
	m.w32(0x9000+24, 0x9100)
	for i, md := range mods {
		e := uint64(0x9100 + 16*i)
		m.w32(e, md[0])
		m.w32(e+4, md[1])
		m.w32(e+8, 0x11000+uint32(i)*PageSize)
	}
	return m.Mem
}

func TestScanMultiboot1(t *testing.T) {
	var b BootMemory
	b.Scan(mb1(1023*1024, [2]uint32{0x1000000, 0x1800123}, [2]uint32{0x2000000, 0x2100000}), MB1Magic, 0x9000, testImage)
	if b.Err != "" {
		t.Fatal(b.Err)
	}
	if b.RAMTop != 1024<<20 || b.MaxModule != 0x800123 {
		t.Errorf("RAMTop %#x MaxModule %#x", b.RAMTop, b.MaxModule)
	}
	want := []Range{
		{0, mib}, testImage, {0x9000, 0xa000}, {0x10000, 0x11000}, {0x9000, 0xa000},
		{0x1000000, 0x1801000}, {0x11000, 0x12000}, {0x2000000, 0x2100000}, {0x12000, 0x13000},
	}
	if b.N != len(want) {
		t.Fatalf("%d ranges: %v", b.N, b.Excluded[:b.N])
	}
	for i, r := range want {
		if b.Excluded[i] != r {
			t.Errorf("range %d: %#x, want %#x", i, b.Excluded[i], r)
		}
	}
	h, ok := b.ChooseHeap()
	// A sixteenth of 1023 MiB, rounded to 2 MiB, at the top: the 8 MiB
	// module does not size it (its kernel is decoded in dom0's frames).
	if !ok || h != (Range{1024*mib - 64*mib, 1024 * mib}) {
		t.Errorf("heap %#x %v", h, ok)
	}
}

func TestScanMultiboot2(t *testing.T) {
	m := newMem(0x10000)
	m.w32(0x8000, 8+16+16+8) // total size
	m.w32(0x8008, 4)         // basic meminfo
	m.w32(0x800c, 16)        //
	m.w32(0x8014, 511*1024)  // mem_upper
	m.w32(0x8018, 3)         // module
	m.w32(0x801c, 17)        // size: padded to 24
	m.w32(0x8020, 0x3000000) // start
	m.w32(0x8024, 0x3400000) // end
	m.w32(0x8030, 0)         // end tag
	var b BootMemory
	b.Scan(m.Mem, MB2Magic, 0x8000, testImage)
	if b.Err != "" || b.RAMTop != 512<<20 || b.MaxModule != 0x400000 {
		t.Fatalf("%q RAMTop %#x MaxModule %#x", b.Err, b.RAMTop, b.MaxModule)
	}
	if b.N != 4 || b.Excluded[2] != (Range{0x8000, 0x9000}) || b.Excluded[3] != (Range{0x3000000, 0x3400000}) {
		t.Errorf("ranges %#x", b.Excluded[:b.N])
	}
	// A sixteenth of 511 MiB is below the 32 MiB floor.
	if h, ok := b.ChooseHeap(); !ok || h != (Range{480 << 20, 512 << 20}) {
		t.Errorf("heap %#x %v", h, ok)
	}
	m.w32(0x8000, 8)
	b = BootMemory{}
	if b.Scan(m.Mem, MB2Magic, 0x8000, testImage); b.Err == "" {
		t.Error("a total size of 8 accepted")
	}
}

func TestScanPVH(t *testing.T) {
	m := newMem(0x10000)
	m.w32(0x7000, PVHMagic)
	m.w32(0x7004, 1)      // version
	m.w32(0x700c, 1)      // nr_modules
	m.w64(0x7010, 0x7100) // modlist
	m.w64(0x7018, 0x7200) // cmdline
	m.w64(0x7028, 0x7300) // memmap
	m.w32(0x7030, 2)      // memmap entries
	m.w64(0x7100, 0x5000000)
	m.w64(0x7108, 0x1000000) // 16 MiB module
	m.w64(0x7300, 0)
	m.w64(0x7308, 0x9f000)
	m.w32(0x7310, 1)
	m.w64(0x7318, mib)
	m.w64(0x7320, 2047*mib)
	m.w32(0x7328, 1)
	var b BootMemory
	b.Scan(m.Mem, 0, 0x7000, testImage)
	if b.Err != "" || b.RAMTop != 2048*mib || b.MaxModule != 16*mib {
		t.Fatalf("%q RAMTop %#x MaxModule %#x", b.Err, b.RAMTop, b.MaxModule)
	}
	// A sixteenth of the RAM, whatever the 16 MiB module.
	if h, ok := b.ChooseHeap(); !ok || h != (Range{1920 * mib, 2048 * mib}) {
		t.Errorf("heap %#x %v", h, ok)
	}
	m.w32(0x7000, 0)
	b = BootMemory{}
	if b.Scan(m.Mem, 0, 0x7000, testImage); b.Err == "" {
		t.Error("no PVH magic accepted")
	}
}

func TestScanSmallRAM(t *testing.T) {
	var b BootMemory
	b.Scan(mb1(32*1024), MB1Magic, 0x9000, testImage)
	if b.Err == "" {
		t.Error("33 MiB of RAM accepted")
	}
}

func TestExcludeOverflow(t *testing.T) {
	var b BootMemory
	for i := 0; i < MaxExcluded; i++ {
		b.Exclude(uint64(i)*PageSize, uint64(i+1)*PageSize)
	}
	if b.Err != "" {
		t.Fatal(b.Err)
	}
	b.Exclude(1<<30, 1<<30+1)
	if b.Err == "" || b.N != MaxExcluded {
		t.Errorf("41st range: err %q, N %d", b.Err, b.N)
	}
	b.Exclude(5, 5) // empty: ignored
}

func TestChooseHeap(t *testing.T) {
	for _, tc := range []struct {
		name      string
		ramTop    uint64
		maxModule uint64
		excl      []Range
		want      Range
		ok        bool
	}{
		{"4 GiB: capped at 256 MiB", 4 << 30, 0, nil, Range{4<<30 - 256*mib, 4 << 30}, true},
		{"below a module at the top", 1024 * mib, 0, []Range{{1000 * mib, 1010 * mib}},
			Range{936 * mib, 1000 * mib}, true},
		{"unaligned top", 1000*mib + 12345, 0, nil, Range{936 * mib, 1000 * mib}, true},
		{"384 MiB: 32 MiB at least, whatever the module", 384 * mib, 32 * mib, nil, Range{352 * mib, 384 * mib}, true},
		{"no room", 80 * mib, 0, []Range{{10 * mib, 70 * mib}}, Range{}, false},
		{"no RAM", 0, 0, nil, Range{}, false},
	} {
		b := BootMemory{RAMTop: tc.ramTop, MaxModule: tc.maxModule}
		for _, r := range tc.excl {
			b.Exclude(r.Start, r.End)
		}
		h, ok := b.ChooseHeap()
		if h != tc.want || ok != tc.ok {
			t.Errorf("%s: %#x %v, want %#x %v", tc.name, h, ok, tc.want, tc.ok)
		}
	}
}

// FuzzScan: any boot information decodes without a panic into page-aligned
// ranges within the table, and a heap ChooseHeap accepts is 2 MiB-aligned
// RAM above 1 MiB that touches no excluded range.
func FuzzScan(f *testing.F) {
	f.Add(uint8(0), []byte(mb1(1023*1024, [2]uint32{0x1000000, 0x1800123}))[0x9000:])
	f.Add(uint8(1), []byte{40, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0})
	f.Add(uint8(2), []byte{0x78, 0xc5, 0x6e, 0x33, 1})
	f.Fuzz(func(t *testing.T, proto uint8, info []byte) {
		const at = 0x9000
		m := make(Mem, at+len(info))
		copy(m[at:], info)
		magic := [3]uint32{MB1Magic, MB2Magic, 0}[proto%3]
		var b BootMemory
		b.Scan(m, magic, at, testImage)
		if b.N > MaxExcluded || b.RAMTop > 4<<30 {
			t.Fatalf("N %d RAMTop %#x", b.N, b.RAMTop)
		}
		for _, r := range b.Excluded[:b.N] {
			if r.Start%PageSize != 0 || r.End%PageSize != 0 || r.End <= r.Start {
				t.Errorf("range %#x", r)
			}
		}
		if b.Err != "" {
			return
		}
		h, ok := b.ChooseHeap()
		if !ok {
			return
		}
		if h.Start%(2*mib) != 0 || h.End%(2*mib) != 0 || h.Start < mib || h.End > b.RAMTop || h.End <= h.Start {
			t.Errorf("heap %#x of RAM up to %#x", h, b.RAMTop)
		}
		for _, r := range b.Excluded[:b.N] {
			if r.Start < h.End && r.End > h.Start {
				t.Errorf("heap %#x overlaps %#x", h, r)
			}
		}
	})
}

func TestFrameHeap(t *testing.T) {
	var h FrameHeap
	h.Init(Range{0x100000, 0x103000})
	for i := uint64(0); i < 3; i++ {
		pa, ok := h.Bump()
		if !ok || pa != 0x100000+i*PageSize || !h.Owns(pa) {
			t.Fatalf("Bump %d: %#x %v", i, pa, ok)
		}
		h.Took()
	}
	if _, ok := h.Bump(); ok {
		t.Error("Bump beyond the end")
	}
	h.Gave()
	h.Gave()
	h.Took()
	if h.Frames != 2 || h.Peak != 3 {
		t.Errorf("Frames %d Peak %d", h.Frames, h.Peak)
	}
	for _, pa := range []uint64{0xfff000, 0x100800, 0x103000} {
		if h.Owns(pa) {
			t.Errorf("Owns(%#x)", pa)
		}
	}
	var odd FrameHeap
	odd.Init(Range{0x100000, 0x100800})
	if _, ok := odd.Bump(); ok {
		t.Error("Bump of half a frame")
	}
}

// TestFrameHeapTrimEnd: the heap keeps what it handed out plus keep,
// rounded up to a page; keeping everything, or more, or an overflowing
// amount trims nothing; after the trim Bump stops at the new end.
func TestFrameHeapTrimEnd(t *testing.T) {
	var h FrameHeap
	h.Init(Range{0x100000, 0x200000})
	h.Bump()
	h.Bump() // Next 0x102000
	for _, tc := range []struct {
		keep, end uint64
		ok        bool
	}{
		{0, 0x102000, true},
		{1, 0x103000, true},
		{0x3000, 0x105000, true},
		{0xfe000 - 1, 0x200000, false}, // rounds up to the end: no trim
		{0xfd000, 0x1ff000, true},
		{0x200000, 0x200000, false},
		{^uint64(0) - 0x1000, 0x200000, false},
	} {
		end, ok := h.TrimEnd(tc.keep)
		if ok != tc.ok || (ok && end != tc.end) || (!ok && end != h.End) {
			t.Errorf("TrimEnd(%#x) = %#x %v, want %#x %v", tc.keep, end, ok, tc.end, tc.ok)
		}
	}
	end, _ := h.TrimEnd(0x1000)
	h.End = end
	if _, ok := h.Bump(); !ok {
		t.Error("no frame below the new end")
	}
	if pa, ok := h.Bump(); ok {
		t.Errorf("Bump past the trimmed end: %#x", pa)
	}
}
