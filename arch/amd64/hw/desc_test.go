package hw

import "testing"

func TestGate(t *testing.T) {
	for _, tc := range []struct {
		target   uint64
		sel      uint16
		ist, dpl uint8
		lo, hi   uint64
	}{
		// Hand-encoded from the SDM's 64-bit IDT gate layout.
		{0xffff82d040212345, SelKernelCS, 1, 0, 0x40218e01e0082345, 0xffff82d0},
		{0xffff82d040212345, SelKernelCS, 2, 3, 0x4021ee02e0082345, 0xffff82d0},
		{0x0000000000001000, SelKernelCS, 0, 0, 0x00008e00e0081000, 0},
	} {
		lo, hi := Gate(tc.target, tc.sel, tc.ist, tc.dpl)
		if lo != tc.lo || hi != tc.hi {
			t.Errorf("Gate(%#x, %#x, %d, %d) = %#x %#x, want %#x %#x", tc.target, tc.sel, tc.ist, tc.dpl, lo, hi, tc.lo, tc.hi)
		}
		if got := GateTarget(lo, hi); got != tc.target {
			t.Errorf("GateTarget = %#x, want %#x", got, tc.target)
		}
	}
}

func TestTSSDesc(t *testing.T) {
	lo, hi := TSSDesc(0xffff82d040abc000, TSSSize-1)
	if lo != 0x400089abc0000067 || hi != 0xffff82d0 {
		t.Errorf("TSSDesc = %#x %#x", lo, hi)
	}
	// Limit bits 16-19 go to descriptor bits 48-51.
	if lo, _ := TSSDesc(0, 0xabcde); lo != 0x000a89000000bcde {
		t.Errorf("TSSDesc limit 0xabcde = %#x", lo)
	}
}

func TestPseudoDesc(t *testing.T) {
	w0, w1 := PseudoDesc(0xffff808000000000, GDTPages*PageSize)
	// Bytes 0-1 the limit 0xffff, 2-9 the base.
	if w0 != 0x808000000000ffff || w1 != 0xffff {
		t.Errorf("PseudoDesc = %#x %#x", w0, w1)
	}
}

func TestFlatDescriptors(t *testing.T) {
	type bits struct{ p, dpl, s, typ, l, db, g uint64 }
	dec := func(d uint64) bits {
		return bits{d >> 47 & 1, d >> 45 & 3, d >> 44 & 1, d >> 40 & 15, d >> 53 & 1, d >> 54 & 1, d >> 55 & 1}
	}
	for _, tc := range []struct {
		name string
		d    uint64
		want bits
	}{
		{"code64", DescCode64, bits{1, 0, 1, 0xa, 1, 0, 1}},
		{"code32", DescCode32, bits{1, 0, 1, 0xa, 0, 1, 1}},
		{"data", DescData, bits{1, 0, 1, 0x2, 0, 1, 1}},
		{"user code64", DescCode64 | DescDPL3, bits{1, 3, 1, 0xa, 1, 0, 1}},
		{"user data", DescData | DescDPL3, bits{1, 3, 1, 0x2, 0, 1, 1}},
	} {
		if got := dec(tc.d); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestSelectors(t *testing.T) {
	// The reserved entries sit in the window's last two pages, in order,
	// and the ring-3 ones carry RPL 3 (Xen's FLAT_RING3_*).
	for _, tc := range []struct {
		sel   uint16
		index int
		rpl   uint16
	}{
		{SelKernelCS, 1, 0}, {SelKernelDS, 2, 0}, {SelUser32CS, 4, 3},
		{SelUserDS, 5, 3}, {SelUser64CS, 6, 3}, {SelTSS, 8, 0},
	} {
		if got := ReservedIndex(tc.sel); got != tc.index || tc.sel&3 != tc.rpl {
			t.Errorf("selector %#x: index %d rpl %d, want %d %d", tc.sel, got, tc.sel&3, tc.index, tc.rpl)
		}
		if i := ReservedIndex(tc.sel) + 1; i >= 2*PageSize/8 {
			t.Errorf("selector %#x outside the reserved pages", tc.sel)
		}
	}
	if GDTReserved != 7168 || GDTEntries != 8192 {
		t.Errorf("window: first reserved %d, entries %d", GDTReserved, GDTEntries)
	}
}

func TestTSSLayout(t *testing.T) {
	for n, want := range map[int]int{1: 0x24, 2: 0x2c, 3: 0x34, 7: 0x54} {
		if got := TSSIST(n); got != want {
			t.Errorf("TSSIST(%d) = %#x, want %#x", n, got, want)
		}
	}
	if TSSIST(7)+8 > TSSIOMapBase {
		t.Error("IST7 overlaps the I/O map base")
	}
}

func TestExceptionGates(t *testing.T) {
	for v := 0; v < ExceptionGate; v++ {
		ist, dpl := ExceptionIST(v), ExceptionDPL(v)
		wantIST, wantDPL := uint8(1), uint8(0)
		switch v {
		case 2, 18:
			wantIST = 2
		case 8:
			wantIST = 3
		case 1:
			wantIST = 4
		case 3, 4:
			wantDPL = 3
		}
		if ist != wantIST || dpl != wantDPL {
			t.Errorf("vector %d: IST %d DPL %d, want %d %d", v, ist, dpl, wantIST, wantDPL)
		}
	}
}
