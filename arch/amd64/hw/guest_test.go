package hw

import "testing"

func TestGuestRange(t *testing.T) {
	for _, tc := range []struct {
		va   uint64
		n    int
		want bool
	}{
		{0, 0, true},
		{0x1000, 4096, true},
		{GuestLowEnd - 8, 8, true},
		{GuestLowEnd - 8, 9, false},                 // runs into the hole
		{GuestLowEnd, 1, false},                     // non-canonical
		{0xffff800000000000, 8, false},              // the M2P's slot
		{0xffff82d040200000, 8, false},              // gohv's image
		{GuestHighStart - 1, 2, false},              // straddles the boundary
		{GuestHighStart, 8, true},                   // the guest's kernel
		{0xfffffffffffff000, 4096, false},           // wraps
		{0xfffffffffffff000, 4095, true},            // ends at the top
		{0x1000, -1, false},                         // negative length
		{0x7fffffffe000, 1 << 62, false},            // overflows into the hole
		{GuestHighStart, int(^uint(0) >> 1), false}, // wraps
	} {
		if got := GuestRange(tc.va, tc.n); got != tc.want {
			t.Errorf("GuestRange(%#x, %d) = %v", tc.va, tc.n, got)
		}
	}
}

// FuzzGuestRange: a range GuestRange accepts is canonical throughout and
// touches none of the hypervisor's L4 slots 256-271.
func FuzzGuestRange(f *testing.F) {
	f.Add(uint64(0x1000), 4096)
	f.Add(uint64(GuestHighStart-1), 2)
	f.Add(uint64(0xfffffffffffff000), 4096)
	f.Fuzz(func(t *testing.T, va uint64, n int) {
		if !GuestRange(va, n) || n == 0 {
			return
		}
		last := va + uint64(n) - 1
		for _, a := range []uint64{va, last} {
			if uint64(int64(a<<16)>>16) != a {
				t.Fatalf("[%#x, +%d): %#x not canonical", va, n, a)
			}
			if s := Index(a, 4); a>>63 == 1 && s >= SlotFirstReserved && s < SlotFirstReserved+SlotReserved {
				t.Fatalf("[%#x, +%d): %#x in hypervisor slot %d", va, n, a, s)
			}
		}
		if va < GuestLowEnd && last >= GuestLowEnd {
			t.Fatalf("[%#x, +%d) crosses the hole", va, n)
		}
	})
}

func TestGuestRFLAGS(t *testing.T) {
	for in, want := range map[uint64]uint64{
		0:                                   RFLAGS_IF | 2,
		RFLAGS_IOPL | RFLAGS_VM | RFLAGS_NT: RFLAGS_IF | 2,
		RFLAGS_DF | RFLAGS_AC | 0x8d5:       RFLAGS_DF | RFLAGS_AC | 0x8d5 | RFLAGS_IF | 2,
		RFLAGS_RF | RFLAGS_TF:               RFLAGS_RF | RFLAGS_TF | RFLAGS_IF | 2,
	} {
		if got := GuestRFLAGS(in); got != want {
			t.Errorf("GuestRFLAGS(%#x) = %#x, want %#x", in, got, want)
		}
	}
}

func TestSysretOK(t *testing.T) {
	const rip, fl = 0xffff880000001000, RFLAGS_IF | 2
	for _, tc := range []struct {
		name              string
		cs, ss            uint16
		rip, fl, rcx, r11 uint64
		want              bool
	}{
		{"flat 64-bit", SelUser64CS, SelUserDS, rip, fl, rip, fl, true},
		{"32-bit code", SelUser32CS, SelUserDS, rip, fl, rip, fl, false},
		{"guest's own SS", SelUser64CS, 0x2b, rip, fl, rip, fl, false},
		{"RCX differs", SelUser64CS, SelUserDS, rip, fl, rip + 1, fl, false},
		{"R11 differs", SelUser64CS, SelUserDS, rip, fl, rip, fl | RFLAGS_DF, false},
		{"RF set", SelUser64CS, SelUserDS, rip, fl | RFLAGS_RF, rip, fl | RFLAGS_RF, false},
	} {
		if got := SysretOK(tc.cs, tc.ss, tc.rip, tc.fl, tc.rcx, tc.r11); got != tc.want {
			t.Errorf("%s: %v", tc.name, got)
		}
	}
}
