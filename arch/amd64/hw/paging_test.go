package hw

import (
	"encoding/binary"
	"os"
	"regexp"
	"strconv"
	"testing"
)

func TestLayout(t *testing.T) {
	for _, tc := range []struct {
		slot uint64
		base uint64
	}{
		{SlotPerCPU, PerCPUBase}, {SlotMmap, MmapBase}, {SlotMmap + 1, MmapEnd},
		{SlotDirect, DirectMapBase}, {SlotFirstReserved, 0xffff800000000000},
	} {
		if got := SlotBase(tc.slot); got != tc.base {
			t.Errorf("SlotBase(%d) = %#x, want %#x", tc.slot, got, tc.base)
		}
		if got := Index(tc.base, 4); got != tc.slot {
			t.Errorf("Index(%#x, 4) = %d, want %d", tc.base, got, tc.slot)
		}
	}
	// Each region stays in its slot.
	for _, r := range []struct {
		name       string
		start, end uint64
		slot       uint64
	}{
		{"image", ImageOffset, ImageOffset + ImageMax - 1, SlotImage},
		{"direct map", DirectMapBase, DirectMapBase + DirectMapEnd - 1, SlotDirect},
		{"GDT windows", PerCPUBase, PerCPUBase + MaxCPUs*GDTPages*PageSize - 1, SlotPerCPU},
		{"mmap window", MmapBase, MmapEnd - 1, SlotMmap},
	} {
		if Index(r.start, 4) != r.slot || Index(r.end, 4) != r.slot {
			t.Errorf("%s [%#x, %#x] leaves slot %d", r.name, r.start, r.end, r.slot)
		}
	}
	for _, s := range GohvSlots {
		if s < SlotFirstReserved || s >= SlotFirstReserved+SlotReserved {
			t.Errorf("slot %d outside Xen's reserved range", s)
		}
	}
	// The per-CPU area has one page table: every CPU's window fits.
	if _, pte := GDTWindow(MaxCPUs - 1); pte+GDTPages > 512 {
		t.Errorf("GDT windows need %d PTEs", pte+GDTPages)
	}
	if va, pte := GDTWindow(1); va != PerCPUBase+16*PageSize || pte != 16 {
		t.Errorf("GDTWindow(1) = %#x %d", va, pte)
	}
	// The image: linked at TextBase, in one PD of 2 MiB tables.
	if TextBase != 0xffff82d040200000 || ImagePA(TextBase) != TextPA || ImageVA(TextPA) != TextBase {
		t.Errorf("TextBase %#x", uint64(TextBase))
	}
	if Index(ImageOffset, 2) != 0 || Index(ImageOffset+ImageMax-1, 3) != Index(ImageOffset, 3) {
		t.Error("the image window does not start a PD, or spans two")
	}
	if PTPages != 7+8+1+64 {
		t.Errorf("PTPages = %d", PTPages)
	}
}

func TestIndex(t *testing.T) {
	va := uint64(0xffff82d040212345)
	want := [5]uint64{0, 0x12, 0x001, 0x141, 0x105}
	for lvl := uint(1); lvl <= 4; lvl++ {
		if got := Index(va, lvl); got != want[lvl] {
			t.Errorf("Index(%#x, %d) = %#x, want %#x", va, lvl, got, want[lvl])
		}
	}
	// Rebuilding the address from its indices.
	r := SlotBase(Index(va, 4)) | Index(va, 3)<<30 | Index(va, 2)<<21 | Index(va, 1)<<12 | va&0xfff
	if r != va {
		t.Errorf("rebuilt %#x", r)
	}
}

func TestPTEs(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  uint64
		want uint64
	}{
		{"table", TablePTE(0x123456789), 0x123456003},
		{"data nx", DataPTE(0x5000, PTE_NX), 0x8000000000005003},
		{"data", DataPTE(0x5fff, 0), 0x5003},
		{"read-only", ReadOnlyPTE(0x7000, PTE_NX), 0x8000000000007001},
		{"direct", DirectPDE(3, 5, PTE_NX), 3<<30 | 5<<21 | 0x83 | PTE_NX},
		{"demand", PTEDemand & PTE_P, 0},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %#x, want %#x", tc.name, tc.got, tc.want)
		}
	}
	// W^X: nothing writable is executable where NX exists.
	for _, e := range []uint64{DataPTE(0x1000, PTE_NX), DirectPDE(0, 1, PTE_NX)} {
		if e&PTE_W != 0 && e&PTE_NX == 0 {
			t.Errorf("%#x writable and executable", e)
		}
	}
}

func TestAlignUp(t *testing.T) {
	for _, tc := range []struct {
		v, a, r uint64
		ok      bool
	}{
		{0, 4096, 0, true}, {1, 4096, 4096, true}, {4096, 4096, 4096, true},
		{^uint64(0), 4096, 0, false}, {^uint64(4095), 4096, ^uint64(4095), true},
	} {
		if r, ok := AlignUp(tc.v, tc.a); r != tc.r || ok != tc.ok {
			t.Errorf("AlignUp(%#x, %#x) = %#x %v", tc.v, tc.a, r, ok)
		}
	}
}

// elfImage builds ELF headers with the given program headers (type, flags,
// vaddr, memsz).
func elfImage(phs ...[4]uint64) []byte {
	img := make([]byte, PageSize)
	binary.LittleEndian.PutUint64(img[ehPhoff:], 64)
	binary.LittleEndian.PutUint16(img[ehPhnum:], uint16(len(phs)))
	for i, p := range phs {
		ph := img[64+i*phSize:]
		binary.LittleEndian.PutUint32(ph, uint32(p[0]))
		binary.LittleEndian.PutUint32(ph[4:], uint32(p[1]))
		binary.LittleEndian.PutUint64(ph[16:], p[2])
		binary.LittleEndian.PutUint64(ph[40:], p[3])
	}
	return img
}

func TestImageSegments(t *testing.T) {
	const r, w, x = 4, pfW, pfX
	img := elfImage(
		[4]uint64{ptLoad, r | x, TextBase, 0x1234},                    // text
		[4]uint64{ptLoad, r, TextBase + 0x2000, 0x1000},               // rodata
		[4]uint64{ptLoad, r | w, TextBase + 0x3800, 0x800},            // data, unaligned
		[4]uint64{6, r, TextBase - PageSize, 0x100},                   // PT_PHDR: skipped
		[4]uint64{ptLoad, r | w | x, TextBase + 0x5000, 0x1000},       // W+X: refused
		[4]uint64{ptLoad, r, ImageOffset + ImageMax - 0x1000, 0x2000}, // beyond the window
		[4]uint64{ptLoad, r, 0x400000, 0x1000},                        // not in the image
	)
	if n := ImagePhnum(img); n != 7 {
		t.Fatalf("ImagePhnum = %d", n)
	}
	want := []struct {
		s        Segment
		load, ok bool
	}{
		{Segment{TextBase, TextBase + 0x2000, PTE_P}, true, true},
		{Segment{TextBase + 0x2000, TextBase + 0x3000, PTE_P | PTE_NX}, true, true},
		{Segment{TextBase + 0x3000, TextBase + 0x4000, PTE_P | PTE_W | PTE_NX}, true, true},
		{Segment{}, false, true},
		{Segment{}, true, false},
		{Segment{}, true, false},
		{Segment{}, true, false},
	}
	for i, w := range want {
		s, load, ok := ImageSegment(img, i, PTE_NX)
		if s != w.s || load != w.load || ok != w.ok {
			t.Errorf("segment %d: %+v %v %v, want %+v %v %v", i, s, load, ok, w.s, w.load, w.ok)
		}
	}
	// Without NX nothing gets the bit.
	if s, _, _ := ImageSegment(img, 1, 0); s.Flags != PTE_P {
		t.Errorf("rodata without NX: %#x", s.Flags)
	}
	// Headers that do not fit.
	binary.LittleEndian.PutUint64(img[ehPhoff:], PageSize-100)
	if n := ImagePhnum(img); n != 0 {
		t.Errorf("ImagePhnum of truncated headers = %d", n)
	}
	if n := ImagePhnum(img[:10]); n != 0 {
		t.Errorf("ImagePhnum of 10 bytes = %d", n)
	}
}

// FuzzImageSegment: whatever the headers say, decoding does not panic, and
// every segment it accepts is page-aligned, inside the image window and
// W^X.
func FuzzImageSegment(f *testing.F) {
	f.Add(elfImage([4]uint64{ptLoad, 5, TextBase, 0x1234}, [4]uint64{ptLoad, 6, TextBase + 0x3800, 0x800}))
	f.Add(elfImage([4]uint64{ptLoad, 7, TextBase, 1}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, img []byte) {
		n := ImagePhnum(img)
		for i := 0; i < n; i++ {
			s, load, ok := ImageSegment(img, i, PTE_NX)
			if !load || !ok {
				continue
			}
			if s.Start%PageSize != 0 || s.End%PageSize != 0 || s.End < s.Start || !InImage(s.Start, s.End-s.Start) {
				t.Errorf("segment %d: %+v", i, s)
			}
			if s.Flags&PTE_W != 0 && s.Flags&PTE_NX == 0 {
				t.Errorf("segment %d writable and executable", i)
			}
		}
	})
}

// TestLinkAddresses: the Makefile links the image where this layout says
// it runs, and entry_amd64.s loads it where it says it lies (kmain checks
// the same at boot; this finds a mismatch before one).
func TestLinkAddresses(t *testing.T) {
	find := func(file, re string) string {
		t.Helper()
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(re).FindSubmatch(b)
		if m == nil {
			t.Fatalf("%s: no %s", file, re)
		}
		return string(m[1])
	}
	num := func(s string) uint64 {
		t.Helper()
		v, err := strconv.ParseInt(s, 0, 64)
		if err != nil {
			u, err2 := strconv.ParseUint(s, 0, 64)
			if err2 != nil {
				t.Fatal(err)
			}
			return u
		}
		return uint64(v)
	}
	if v := num(find("../../../Makefile", `(?m)^TEXT_BASE\s*:=\s*(\S+)`)); v != TextBase {
		t.Errorf("Makefile TEXT_BASE %#x, want %#x", v, uint64(TextBase))
	}
	if v := num(find("../../../Makefile", `(?m)^IMAGE_OFFSET\s*:=\s*(\S+)`)); v != ImageOffset {
		t.Errorf("Makefile IMAGE_OFFSET %#x, want %#x", v, uint64(ImageOffset))
	}
	if v := num(find("../rt/entry_amd64.s", `(?m)^#define TEXT_PA\s+(\S+)`)); v != TextPA {
		t.Errorf("entry_amd64.s TEXT_PA %#x, want %#x", v, TextPA)
	}
}

func TestDirectMapGiBFor(t *testing.T) {
	for _, tc := range []struct{ top, want uint64 }{
		{0, 4},
		{1 << 30, 4},        // a 1 GiB machine: the 4 GiB the firmware's devices need
		{4 << 30, 4},        // exactly 4 GiB
		{4<<30 + 1, 5},      // a byte past: the next GiB too
		{6<<30 - 4096, 6},   // RAM ending inside GiB 5
		{64 << 30, 64},      // all of it
		{1 << 40, 64},       // more than the pool has PDs for: capped
		{^uint64(0), 64},    // no overflow in the rounding
		{9<<30 + 1<<29, 10}, // half a GiB over
		{DirectMapEnd, DirectMapGiB},
	} {
		if got := DirectMapGiBFor(tc.top); got != tc.want {
			t.Errorf("DirectMapGiBFor(%#x) = %d, want %d", tc.top, got, tc.want)
		}
	}
}

func TestPastEntry(t *testing.T) {
	for _, tc := range []struct {
		va   uint64
		lvl  uint
		want uint64
	}{
		{0x1000, 1, 0x2000},
		{0x1fff, 1, 0x2000},
		{0x1234, 2, 0x200000},
		{0x200000, 2, 0x400000},
		{0xffff8100_3fe01000, 3, 0xffff8100_40000000},
		{0xffff8100_00000000, 4, 0xffff8180_00000000},
		{0xffffff80_00001000, 4, 0}, // the last L4 entry's range ends at the top
		{0xffffffff_ffe00000, 2, 0},
	} {
		if got := PastEntry(tc.va, tc.lvl); got != tc.want {
			t.Errorf("PastEntry(%#x, %d) = %#x, want %#x", tc.va, tc.lvl, got, tc.want)
		}
	}
}
