package mm

import (
	"encoding/binary"
	"errors"
	"slices"
	"sort"
	"testing"
)

const (
	kib = 1 << 10
	mib = 1 << 20
)

func fr(first, end MFN) Range { return Range{Start: first.Addr(), End: end.Addr()} }

// drain allocates every frame one by one and returns them in order.
func drain(a *Allocator) []MFN {
	var got []MFN
	for {
		m, ok := a.Alloc()
		if !ok {
			return got
		}
		got = append(got, m)
	}
}

func TestNewAllocatorFrames(t *testing.T) {
	tests := []struct {
		name     string
		ram      []Range
		reserved []Range
		want     []MFN // every frame handed out, in order
		limit    MFN
	}{
		{name: "empty ram", want: nil},
		{name: "empty range", ram: []Range{{0x5000, 0x5000}}, want: nil},
		{name: "inverted range", ram: []Range{{0x6000, 0x5000}}, want: nil},
		{name: "sub-page range", ram: []Range{{0x5001, 0x5fff}}, want: nil},
		{name: "one aligned frame", ram: []Range{fr(5, 6)}, want: []MFN{5}, limit: 6},
		{name: "unaligned start and end cut", ram: []Range{{0x4001, 0x8fff}}, want: []MFN{5, 6, 7}, limit: 8},
		{
			name:  "adjacent halves merge into a whole frame",
			ram:   []Range{{0x1800, 0x3000}, {0x0, 0x1800}},
			want:  []MFN{0, 1, 2},
			limit: 3,
		},
		{
			name:  "overlapping ram",
			ram:   []Range{fr(2, 6), fr(4, 9)},
			want:  []MFN{2, 3, 4, 5, 6, 7, 8},
			limit: 9,
		},
		{
			name:     "reserved partial page takes whole frame",
			ram:      []Range{fr(0, 8)},
			reserved: []Range{{0x2fff, 0x3001}},
			want:     []MFN{0, 1, 4, 5, 6, 7},
			limit:    8,
		},
		{
			name:     "overlapping reserved",
			ram:      []Range{fr(0, 10)},
			reserved: []Range{fr(1, 4), fr(3, 6), fr(5, 7)},
			want:     []MFN{0, 7, 8, 9},
			limit:    10,
		},
		{
			name:     "reserved outside ram",
			ram:      []Range{fr(10, 12)},
			reserved: []Range{fr(0, 10), fr(12, 100)},
			want:     []MFN{10, 11},
			limit:    12,
		},
		{
			name:     "everything reserved",
			ram:      []Range{fr(10, 12)},
			reserved: []Range{{0, ^Maddr(0)}},
			want:     nil,
			limit:    12,
		},
		{
			name:     "low 1 MiB and holes",
			ram:      []Range{{0, 640 * kib}, {mib, mib + 3*PageSize}},
			reserved: []Range{{0, mib}},
			want:     []MFN{256, 257, 258},
			limit:    259,
		},
		{
			name:  "range crossing a bitmap word",
			ram:   []Range{fr(60, 70)},
			want:  []MFN{60, 61, 62, 63, 64, 65, 66, 67, 68, 69},
			limit: 70,
		},
		{
			name:  "ram at top of address space",
			ram:   []Range{{^Maddr(0) - 3*PageSize, ^Maddr(0)}},
			want:  nil,
			limit: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := NewAllocator(tt.ram, tt.reserved)
			if got := a.TotalFrames(); got != uint64(len(tt.want)) {
				t.Errorf("TotalFrames = %d, want %d", got, len(tt.want))
			}
			if got := a.FrameLimit(); got != tt.limit {
				t.Errorf("FrameLimit = %d, want %d", got, tt.limit)
			}
			got := drain(a)
			if len(got) != len(tt.want) {
				t.Fatalf("allocated %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("allocated %v, want %v", got, tt.want)
				}
			}
			if a.FreeFrames() != 0 {
				t.Errorf("FreeFrames after exhaustion = %d", a.FreeFrames())
			}
			if _, ok := a.Alloc(); ok {
				t.Errorf("Alloc succeeded after exhaustion")
			}
		})
	}
}

func TestDroppedAboveMax(t *testing.T) {
	a := NewAllocator([]Range{{MaxRAMAddr - 2*PageSize, MaxRAMAddr + 3*PageSize}, {MaxRAMAddr + mib, MaxRAMAddr + 2*mib}}, nil)
	if a.TotalFrames() != 2 || a.DroppedFrames() != 3+256 {
		t.Fatalf("total %d dropped %d", a.TotalFrames(), a.DroppedFrames())
	}
	if a.FrameLimit() != MaxRAMAddr.MFN() {
		t.Fatalf("FrameLimit %#x", a.FrameLimit())
	}
}

func TestFree(t *testing.T) {
	a := NewAllocator([]Range{fr(0, 200)}, []Range{fr(0, 10), fr(100, 101)})
	m1, _ := a.Alloc()
	m2, _ := a.Alloc()
	if m1 != 10 || m2 != 11 {
		t.Fatalf("allocated %d %d, want 10 11", m1, m2)
	}
	tests := []struct {
		name string
		m    MFN
		want error
	}{
		{"allocated frame", 10, nil},
		{"double free", 10, ErrDoubleFree},
		{"never allocated", 50, ErrDoubleFree},
		{"reserved frame", 5, ErrNotManaged},
		{"reserved inside", 100, ErrNotManaged},
		{"beyond ram", 200, ErrNotManaged},
		{"huge", ^MFN(0), ErrNotManaged},
	}
	for _, tt := range tests {
		free := a.FreeFrames()
		err := a.Free(tt.m)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: Free(%d) = %v, want %v", tt.name, tt.m, err, tt.want)
		}
		wantFree := free
		if err == nil {
			wantFree++
		}
		if a.FreeFrames() != wantFree {
			t.Errorf("%s: FreeFrames %d, want %d", tt.name, a.FreeFrames(), wantFree)
		}
	}
	// The freed frame is the lowest free one again.
	if m, _ := a.Alloc(); m != 10 {
		t.Errorf("Alloc after free = %d, want 10", m)
	}
}

func TestFreeContig(t *testing.T) {
	a := NewAllocator([]Range{fr(0, 64)}, []Range{fr(20, 21)})
	first, ok := a.AllocContig(8, ^Maddr(0), 8)
	if !ok || first != 0 {
		t.Fatalf("AllocContig = %d %v", first, ok)
	}
	if err := a.FreeContig(4, 8); !errors.Is(err, ErrDoubleFree) {
		t.Errorf("partly free run: %v", err)
	}
	if err := a.FreeContig(16, 8); !errors.Is(err, ErrNotManaged) {
		t.Errorf("run over reserved frame: %v", err)
	}
	if err := a.FreeContig(60, 8); !errors.Is(err, ErrNotManaged) {
		t.Errorf("run past ram: %v", err)
	}
	if err := a.FreeContig(^MFN(0)-1, 4); !errors.Is(err, ErrNotManaged) {
		t.Errorf("wrapping run: %v", err)
	}
	if a.FreeFrames() != 63-8 {
		t.Fatalf("failed frees changed state: free %d", a.FreeFrames())
	}
	if err := a.FreeContig(0, 8); err != nil {
		t.Fatal(err)
	}
	if err := a.FreeContig(0, 0); err != nil {
		t.Fatal(err)
	}
	if a.FreeFrames() != 63 {
		t.Fatalf("free %d", a.FreeFrames())
	}
}

func TestAllocContig(t *testing.T) {
	// RAM: frames [1, 40) and [64, 200); 3 and 70 reserved.
	ram := []Range{fr(1, 40), fr(64, 200)}
	reserved := []Range{fr(3, 4), fr(70, 71)}
	tests := []struct {
		name    string
		pre     int // frames taken with Alloc first
		n       uint64
		maxAddr Maddr
		align   uint64
		want    MFN
		ok      bool
	}{
		{name: "zero frames", n: 0, maxAddr: ^Maddr(0), ok: false},
		{name: "one frame", n: 1, maxAddr: ^Maddr(0), want: 1, ok: true},
		{name: "align 0 is 1", n: 2, maxAddr: ^Maddr(0), align: 0, want: 1, ok: true},
		{name: "skips reserved hole", n: 3, maxAddr: ^Maddr(0), align: 1, want: 4, ok: true},
		{name: "aligned 4", n: 4, maxAddr: ^Maddr(0), align: 4, want: 4, ok: true},
		{name: "aligned 16", n: 16, maxAddr: ^Maddr(0), align: 16, want: 16, ok: true},
		{name: "aligned 32 skips run with reserved frame", n: 32, maxAddr: ^Maddr(0), align: 32, want: 96, ok: true},
		{name: "non power of two alignment", n: 2, maxAddr: ^Maddr(0), align: 3, want: 6, ok: true},
		{name: "run may not span ram hole", n: 40, maxAddr: ^Maddr(0), align: 1, want: 71, ok: true},
		{name: "maxAddr exact end", n: 36, maxAddr: MFN(40).Addr(), align: 1, want: 4, ok: true},
		{name: "maxAddr one short", n: 36, maxAddr: MFN(40).Addr() - 1, align: 1, ok: false},
		{name: "maxAddr zero", n: 1, maxAddr: 0, align: 1, ok: false},
		{name: "maxAddr inside first frame", n: 1, maxAddr: MFN(2).Addr() - 1, align: 1, ok: false},
		{name: "maxAddr covers first frame", n: 1, maxAddr: MFN(2).Addr(), align: 1, want: 1, ok: true},
		{name: "too large", n: 200, maxAddr: ^Maddr(0), align: 1, ok: false},
		{name: "whole second segment tail", n: 129, maxAddr: ^Maddr(0), align: 1, want: 71, ok: true},
		{name: "after allocations", pre: 5, n: 2, maxAddr: ^Maddr(0), align: 2, want: 8, ok: true},
		{name: "huge alignment", n: 1, maxAddr: ^Maddr(0), align: 1 << 63, ok: false},
		{name: "huge n", n: ^uint64(0), maxAddr: ^Maddr(0), align: 1, ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := NewAllocator(ram, reserved)
			for i := 0; i < tt.pre; i++ {
				a.Alloc()
			}
			before := a.FreeFrames()
			got, ok := a.AllocContig(tt.n, tt.maxAddr, tt.align)
			if ok != tt.ok || (ok && got != tt.want) {
				t.Fatalf("AllocContig(%d, %#x, %d) = %d, %v; want %d, %v", tt.n, tt.maxAddr, tt.align, got, ok, tt.want, tt.ok)
			}
			if !ok {
				if a.FreeFrames() != before {
					t.Fatalf("failed AllocContig changed FreeFrames")
				}
				return
			}
			if a.FreeFrames() != before-tt.n {
				t.Fatalf("FreeFrames %d, want %d", a.FreeFrames(), before-tt.n)
			}
			for m := got; m < got+MFN(tt.n); m++ {
				if a.IsFree(m) {
					t.Fatalf("frame %d of the run still free", m)
				}
				if err := a.Free(m); err != nil {
					t.Fatalf("Free(%d): %v", m, err)
				}
			}
		})
	}
}

func TestReserve(t *testing.T) {
	a := NewAllocator([]Range{fr(0, 16)}, nil)
	m, _ := a.Alloc() // 0
	if err := a.Reserve(fr(0, 4)); !errors.Is(err, ErrInUse) {
		t.Fatalf("Reserve over allocated frame = %v", err)
	}
	if a.TotalFrames() != 16 || a.FreeFrames() != 15 {
		t.Fatalf("failed Reserve changed state: total %d free %d", a.TotalFrames(), a.FreeFrames())
	}
	if err := a.Reserve(Range{0x1800, 0x4001}); err != nil { // frames 1..4
		t.Fatal(err)
	}
	if err := a.Reserve(fr(2, 3)); err != nil { // already reserved: no-op
		t.Fatal(err)
	}
	if err := a.Reserve(fr(100, 200)); err != nil { // not RAM: no-op
		t.Fatal(err)
	}
	if a.TotalFrames() != 12 || a.FreeFrames() != 11 {
		t.Fatalf("total %d free %d", a.TotalFrames(), a.FreeFrames())
	}
	if err := a.Free(3); !errors.Is(err, ErrNotManaged) {
		t.Fatalf("Free of reserved frame = %v", err)
	}
	if err := a.Free(m); err != nil {
		t.Fatal(err)
	}
	got := drain(a)
	want := []MFN{0, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	if len(got) != len(want) {
		t.Fatalf("got %v want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v want %v", got, want)
		}
	}
	if !a.IsRAM(3) || a.IsRAM(16) {
		t.Fatalf("IsRAM wrong")
	}
}

func TestSummary(t *testing.T) {
	a := NewAllocator([]Range{{0, 128 * mib}}, []Range{{0, mib}})
	if got, want := a.Summary(), "127 MiB free for domains (32512 frames)"; got != want {
		t.Fatalf("Summary = %q, want %q", got, want)
	}
	a.Alloc()
	if got, want := a.Summary(), "126 MiB free for domains (32511 frames)"; got != want {
		t.Fatalf("Summary = %q, want %q", got, want)
	}
	b := NewAllocator([]Range{{MaxRAMAddr - PageSize, MaxRAMAddr + PageSize}}, nil)
	if got, want := b.Summary(), "0 MiB free for domains (1 frames), 1 frames above 16 TiB ignored"; got != want {
		t.Fatalf("Summary = %q, want %q", got, want)
	}
}

func TestRange(t *testing.T) {
	tests := []struct {
		r                    Range
		inF, inE, outF, outE MFN
		size                 uint64
	}{
		{Range{0, 0}, 0, 0, 0, 0, 0},
		{Range{0x2000, 0x1000}, 0, 0, 0, 0, 0},
		{Range{0x1000, 0x2000}, 1, 2, 1, 2, 0x1000},
		{Range{0x1001, 0x1fff}, 2, 2, 1, 2, 0xffe},
		{Range{0x0fff, 0x2001}, 1, 2, 0, 3, 0x1002},
		{Range{0, ^Maddr(0)}, 0, MFN(^Maddr(0) >> 12), 0, MFN(^Maddr(0)>>12 + 1), ^uint64(0)},
	}
	for _, tt := range tests {
		f, e := tt.r.InnerFrames()
		if f != tt.inF || e != tt.inE {
			t.Errorf("%v.InnerFrames = %d,%d want %d,%d", tt.r, f, e, tt.inF, tt.inE)
		}
		f, e = tt.r.OuterFrames()
		if f != tt.outF || e != tt.outE {
			t.Errorf("%v.OuterFrames = %d,%d want %d,%d", tt.r, f, e, tt.outF, tt.outE)
		}
		if tt.r.Size() != tt.size {
			t.Errorf("%v.Size = %d want %d", tt.r, tt.r.Size(), tt.size)
		}
	}
	if _, ok := FrameRange(^MFN(0)>>12, 1); ok {
		t.Errorf("FrameRange reaching 2^64 accepted")
	}
	if r, ok := FrameRange(3, 2); !ok || r != fr(3, 5) {
		t.Errorf("FrameRange(3,2) = %v %v", r, ok)
	}
	if !(Range{0, 10}).Overlaps(Range{9, 20}) || (Range{0, 10}).Overlaps(Range{10, 20}) || (Range{5, 5}).Overlaps(Range{0, 10}) {
		t.Errorf("Overlaps wrong")
	}
	n := NormalizeRanges([]Range{{20, 30}, {0, 10}, {10, 15}, {5, 5}, {25, 40}})
	if len(n) != 2 || n[0] != (Range{0, 15}) || n[1] != (Range{20, 40}) {
		t.Errorf("NormalizeRanges = %v", n)
	}
}

// modelFrames bounds the fuzz target's address space: ranges end below
// 32 MiB.
const modelFrames = 32 * mib / PageSize

// model is the allocator's specification as a per-frame table, for the
// fuzz target.
type model struct {
	managed []bool // frame is RAM and not reserved
	used    []bool // frame handed out
	nm, nu  int    // counts of managed and used frames
}

func newModel(ram, reserved []Range) *model {
	m := &model{managed: make([]bool, modelFrames), used: make([]bool, modelFrames)}
	// A frame is RAM if every byte of it lies in some ram range: sweep the
	// ram ranges clipped to the frame.
	for x := MFN(0); x < modelFrames; x++ {
		var clipped []Range
		for _, r := range ram {
			if r.Overlaps(fr(x, x+1)) {
				clipped = append(clipped, Range{max(r.Start, x.Addr()), min(r.End, (x + 1).Addr())})
			}
		}
		sort.Slice(clipped, func(i, j int) bool { return clipped[i].Start < clipped[j].Start })
		reach := x.Addr()
		for _, c := range clipped {
			if c.Start > reach {
				break
			}
			reach = max(reach, c.End)
		}
		m.managed[x] = reach == (x + 1).Addr()
	}
	for _, r := range reserved {
		m.reserve(r)
	}
	m.count()
	return m
}

func (m *model) reserve(r Range) {
	f, e := r.OuterFrames()
	for x := f; x < e && x < modelFrames; x++ {
		m.managed[x] = false
	}
	m.count()
}

func (m *model) count() {
	m.nm, m.nu = 0, 0
	for x := range m.managed {
		if m.managed[x] {
			m.nm++
		}
		if m.used[x] {
			m.nu++
		}
	}
}

func (m *model) lowestFree() (MFN, bool) {
	for x := range m.managed {
		if m.managed[x] && !m.used[x] {
			return MFN(x), true
		}
	}
	return 0, false
}

func (m *model) isManaged(x MFN) bool { return x < modelFrames && m.managed[x] }
func (m *model) isUsed(x MFN) bool    { return x < modelFrames && m.used[x] }

// FuzzAllocator feeds arbitrary RAM and reserved lists (addresses bounded so
// the bitmaps stay small) and an operation sequence, and checks the
// allocator against the per-frame model: free+used == total, no frame
// handed out twice, never a reserved or non-RAM frame, lowest first.
func FuzzAllocator(f *testing.F) {
	f.Add([]byte{2, 1, 0, 0, 0x10, 0, 0, 0, 0, 0x30, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0, 1, 2, 3})
	f.Add([]byte{1, 1, 0x01, 0x00, 0, 0xff, 0xff, 0, 0x02, 0x10, 0, 0x03, 0x20, 0, 5, 6, 7, 8, 9, 10, 0x40, 0x41, 0x42})
	f.Add([]byte{3, 2, 0, 0x10, 0, 0, 0x40, 0, 0x01, 0x50, 0, 0x11, 0x10, 0, 0, 0x20, 0x00, 0, 0x10, 0, 0x20, 0, 0x30, 0, 0, 0x10, 0, 0, 0x01, 0, 1, 0x21, 1, 0x61, 2, 0, 2, 1, 3, 0x11, 0, 0})
	f.Fuzz(fuzzAllocator)
}

// fuzzAllocator runs one FuzzAllocator input.
func fuzzAllocator(t *testing.T, data []byte) {
	if len(data) < 2 {
		return
	}
	nram, nres := int(data[0]%6), int(data[1]%6)
	data = data[2:]
	rd := func() (Range, bool) { // 3 bytes start, 3 bytes length: each under 16 MiB
		if len(data) < 6 {
			return Range{}, false
		}
		s := Maddr(data[0]) | Maddr(data[1])<<8 | Maddr(data[2])<<16
		l := Maddr(data[3]) | Maddr(data[4])<<8 | Maddr(data[5])<<16
		data = data[6:]
		// Mostly page-granular, sometimes byte-granular.
		if s&1 == 0 {
			s, l = s&^(PageSize-1), l&^(PageSize-1)
		}
		return Range{Start: s, End: s + l}, true
	}
	var ram, reserved []Range
	for i := 0; i < nram; i++ {
		if r, ok := rd(); ok {
			ram = append(ram, r)
		}
	}
	for i := 0; i < nres; i++ {
		if r, ok := rd(); ok {
			reserved = append(reserved, r)
		}
	}
	a := NewAllocator(ram, reserved)
	m := newModel(ram, reserved)
	if a.TotalFrames() != uint64(m.nm) {
		t.Fatalf("TotalFrames %d, model %d (ram %v reserved %v)", a.TotalFrames(), m.nm, ram, reserved)
	}
	check := func() {
		if a.TotalFrames() != uint64(m.nm) {
			t.Fatalf("TotalFrames %d, model %d", a.TotalFrames(), m.nm)
		}
		if a.FreeFrames()+uint64(m.nu) != a.TotalFrames() {
			t.Fatalf("free %d + used %d != total %d", a.FreeFrames(), m.nu, a.TotalFrames())
		}
	}
	var handed []MFN
	for ops := 0; len(data) >= 2 && ops < 64; ops++ {
		op, arg := data[0], data[1]
		data = data[2:]
		switch op % 4 {
		case 0:
			got, ok := a.Alloc()
			want, wok := m.lowestFree()
			if ok != wok || (ok && got != want) {
				t.Fatalf("Alloc = %d %v, model %d %v", got, ok, want, wok)
			}
			if ok {
				m.used[got] = true
				handed = append(handed, got)
			}
		case 1:
			n := uint64(arg%8) + 1
			align := uint64(1) << (arg >> 5)
			maxAddr := Maddr(binary.LittleEndian.Uint16([]byte{arg, op})) << 12
			got, ok := a.AllocContig(n, maxAddr, align)
			if ok {
				if uint64(got)%align != 0 || (got+MFN(n)).Addr() > maxAddr {
					t.Fatalf("AllocContig(%d,%#x,%d) = %d breaks constraints", n, maxAddr, align, got)
				}
				for x := got; x < got+MFN(n); x++ {
					if !m.isManaged(x) {
						t.Fatalf("AllocContig handed out unmanaged frame %d", x)
					}
					if m.isUsed(x) {
						t.Fatalf("AllocContig handed out used frame %d", x)
					}
					m.used[x] = true
					handed = append(handed, x)
				}
			}
		case 2:
			// Free a frame handed out earlier, or an arbitrary one.
			x := MFN(arg) * 37
			if arg&1 == 0 && len(handed) > 0 {
				x = handed[int(arg)%len(handed)]
			}
			err := a.Free(x)
			switch {
			case !m.isManaged(x):
				if !errors.Is(err, ErrNotManaged) {
					t.Fatalf("Free(%d) of unmanaged = %v", x, err)
				}
			case !m.isUsed(x):
				if !errors.Is(err, ErrDoubleFree) {
					t.Fatalf("Free(%d) of free = %v", x, err)
				}
			default:
				if err != nil {
					t.Fatalf("Free(%d) = %v", x, err)
				}
				m.used[x] = false
			}
		case 3:
			r := fr(MFN(arg)*17, MFN(arg)*17+MFN(op>>4))
			inUse := false
			f, e := r.OuterFrames()
			for x := f; x < e; x++ {
				if m.isUsed(x) {
					inUse = true
				}
			}
			err := a.Reserve(r)
			if inUse != errors.Is(err, ErrInUse) {
				t.Fatalf("Reserve(%v) = %v, in use %v", r, err, inUse)
			}
			if err == nil {
				m.reserve(r)
			}
		}
		m.count()
		check()
	}
	// Draining gives exactly the model's free frames in ascending order.
	var want []MFN
	for x := range m.managed {
		if m.managed[x] && !m.used[x] {
			want = append(want, MFN(x))
		}
	}
	got := drain(a)
	if len(got) != len(want) {
		t.Fatalf("drain gave %d frames, model %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("drain frame %d = %d, model %d", i, got[i], want[i])
		}
	}
	if a.FreeFrames() != 0 {
		t.Fatalf("FreeFrames after drain = %d", a.FreeFrames())
	}
}

func TestAdopt(t *testing.T) {
	a := NewAllocator([]Range{{Start: 0, End: 64 * PageSize}}, []Range{{Start: 8 * PageSize, End: 12 * PageSize}})
	total, free := a.TotalFrames(), a.FreeFrames()
	if err := a.Adopt(7, 2); err != ErrInUse {
		t.Fatalf("Adopt of a managed frame: %v", err)
	}
	if err := a.Adopt(64, 2); err != ErrNotManaged {
		t.Fatalf("Adopt past RAM: %v", err)
	}
	if a.TotalFrames() != total {
		t.Fatal("a failed Adopt changed the count")
	}
	if err := a.Adopt(8, 4); err != nil {
		t.Fatal(err)
	}
	if a.TotalFrames() != total+4 || a.FreeFrames() != free || a.IsFree(9) {
		t.Fatalf("after Adopt: %d managed, %d free", a.TotalFrames(), a.FreeFrames())
	}
	if err := a.Adopt(10, 1); err != ErrInUse {
		t.Fatalf("second Adopt: %v", err)
	}
	if err := a.FreeContig(8, 4); err != nil {
		t.Fatal(err)
	}
	if a.FreeFrames() != free+4 || !a.IsFree(11) {
		t.Fatal("adopted frames did not come back free")
	}
}

// TestAllocN: AllocN hands out what as many Allocs would, in the same
// order, across segments, partly reserved words and the end of memory.
func TestAllocN(t *testing.T) {
	ram := []Range{fr(0x100, 0x180), fr(0x200, 0x3c1)}
	reserved := []Range{fr(0x110, 0x113), fr(0x1f0, 0x250), fr(0x300, 0x301)}
	for _, n := range []uint64{0, 1, 63, 64, 65, 200, 1000} {
		a, b := NewAllocator(ram, reserved), NewAllocator(ram, reserved)
		a.Alloc() // AllocN starts from the allocator's hint
		b.Alloc()
		got := a.AllocN(nil, n)
		var want []MFN
		for uint64(len(want)) < n {
			m, ok := b.Alloc()
			if !ok {
				break
			}
			want = append(want, m)
		}
		if !slices.Equal(got, want) || a.FreeFrames() != b.FreeFrames() {
			t.Fatalf("AllocN(%d): %d frames %v..., %d left; Alloc gives %d frames, %d left",
				n, len(got), got[:min(len(got), 4)], a.FreeFrames(), len(want), b.FreeFrames())
		}
		if ma, oka := a.Alloc(); true {
			if mb, okb := b.Alloc(); ma != mb || oka != okb {
				t.Fatalf("AllocN(%d) then Alloc: %#x, %v; want %#x, %v", n, ma, oka, mb, okb)
			}
		}
	}
}

// fakeBorrower is a heap borrowing runs (SetLoan, LendContig): it takes
// the loan's frames lowest first, as rt's heap does.
type fakeBorrower struct {
	next, end MFN   // the loan's untaken frames
	took      []MFN // frames taken, the borrower's for good
}

func (b *fakeBorrower) left() uint64 { return uint64(b.end - b.next) }

func (b *fakeBorrower) back() (MFN, uint64) {
	first, n := b.next, b.left()
	b.next, b.end = 0, 0
	return first, n
}

func (b *fakeBorrower) lend(n uint64) func(MFN) (MFN, uint64, error) {
	return func(first MFN) (MFN, uint64, error) {
		oldFirst, oldN := b.next, b.left()
		b.next, b.end = first, first+MFN(n)
		return oldFirst, oldN, nil
	}
}

func (b *fakeBorrower) take(n int) {
	for ; n > 0 && b.next < b.end; n-- {
		b.took = append(b.took, b.next)
		b.next++
	}
}

// TestLoan: the frames of a loan the borrower has not taken count as
// free; a new loan gives the old one's untaken frames back; an
// allocation that finds no other frame takes the loan's untaken frames
// back and hands them out, never one the borrower took.
func TestLoan(t *testing.T) {
	a := NewAllocator([]Range{fr(0, 64)}, nil)
	var b fakeBorrower
	a.SetLoan(b.left, b.back)
	if _, ok, err := a.LendContig(16, MaxRAMAddr, b.lend(16)); !ok || err != nil {
		t.Fatalf("LendContig(16): %v, %v", ok, err)
	}
	if got := a.FreeFrames(); got != 64 {
		t.Fatalf("after lending 16 frames, %d free; want 64 (lent frames count as free)", got)
	}
	b.take(10)
	if got := a.FreeFrames(); got != 54 {
		t.Fatalf("after the borrower took 10, %d free; want 54", got)
	}
	// A new loan: the 6 untaken frames of the first come back.
	if _, ok, err := a.LendContig(16, MaxRAMAddr, b.lend(16)); !ok || err != nil {
		t.Fatalf("second LendContig(16): %v, %v", ok, err)
	}
	if got := a.FreeFrames(); got != 54 {
		t.Fatalf("after the second loan, %d free; want 54", got)
	}
	b.take(4)
	// Drain: every frame but the 14 taken comes out, the loan's last 12
	// included, and none twice.
	got := drain(a)
	if len(got) != 50 {
		t.Fatalf("drained %d frames, want 50 (64 - 14 taken)", len(got))
	}
	seen := map[MFN]bool{}
	for _, m := range b.took {
		seen[m] = true
	}
	for _, m := range got {
		if seen[m] {
			t.Fatalf("frame %#x handed out twice (taken by the borrower, or drained twice)", m)
		}
		seen[m] = true
	}
	if b.left() != 0 || a.FreeFrames() != 0 {
		t.Fatalf("after the drain the loan has %d frames, the allocator %d free; want 0, 0", b.left(), a.FreeFrames())
	}
	// No run left to lend: lend is not called.
	called := false
	if _, ok, _ := a.LendContig(1, MaxRAMAddr, func(MFN) (MFN, uint64, error) { called = true; return 0, 0, nil }); ok || called {
		t.Fatalf("LendContig on an empty allocator: ok %v, lend called %v", ok, called)
	}
	// A lend that fails leaves the run free.
	if err := a.FreeContig(got[0], 1); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := a.LendContig(1, MaxRAMAddr, func(MFN) (MFN, uint64, error) { return 0, 0, errors.New("no") }); ok || err == nil || a.FreeFrames() != 1 {
		t.Fatalf("failed lend: ok %v, err %v, %d free; want false, an error, 1", ok, err, a.FreeFrames())
	}
}

// TestLoanAllocN: AllocN and AllocContig take the loan back when they
// find too few frames otherwise.
func TestLoanAllocN(t *testing.T) {
	a := NewAllocator([]Range{fr(0, 32)}, nil)
	var b fakeBorrower
	a.SetLoan(b.left, b.back)
	a.LendContig(8, MaxRAMAddr, b.lend(8))
	b.take(2)
	if got := a.AllocN(nil, 30); len(got) != 30 {
		t.Fatalf("AllocN(30) with 24 free and 6 lent: %d frames", len(got))
	}
	a = NewAllocator([]Range{fr(0, 32)}, nil)
	b = fakeBorrower{}
	a.SetLoan(b.left, b.back)
	a.LendContig(16, MaxRAMAddr, b.lend(16)) // frames 0-15
	if first, ok := a.AllocContig(20, MaxRAMAddr, 1); !ok || first != 0 {
		t.Fatalf("AllocContig(20) with 16 free and 16 lent: %#x, %v; want 0, true", first, ok)
	}
	// A run the constraints deny while enough frames are free leaves the
	// loan alone.
	a = NewAllocator([]Range{fr(0, 64)}, nil)
	b = fakeBorrower{}
	a.SetLoan(b.left, b.back)
	a.LendContig(16, MaxRAMAddr, b.lend(16)) // frames 0-15; 16-63 free
	if _, ok := a.AllocContig(32, fr(0, 40).End, 1); ok || b.left() != 16 {
		t.Fatalf("AllocContig(32) below frame 40 with 48 free: ok %v, %d still lent; want false, 16", ok, b.left())
	}
}
