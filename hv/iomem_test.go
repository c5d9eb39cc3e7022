package hv

import (
	"reflect"
	"testing"

	"github.com/gohv/gohv/hypercall"
	"github.com/gohv/gohv/mm"
)

func TestDom0IOMemDenied(t *testing.T) {
	got := Dom0IOMemDenied(Dom0IOMemHost{
		LocalAPIC: 0xFEE00000, IOAPICs: []uint64{0xFEC00000, 0xFEC01000}, AMD: true, Family: 0x10, PaddrBits: 48,
		E820: []hypercall.E820Entry{
			{Addr: 0, Size: 0x9FC00, Type: 1},
			{Addr: 0x9F000, Size: 0x2000, Type: hypercall.E820Unusable}, // below 1 MiB: kept
			{Addr: 0xF0000, Size: 0x20000, Type: hypercall.E820Unusable},
			{Addr: 0x3FFE0000, Size: 0x20000, Type: 2},
			{Addr: 0x80000000, Size: 0x1000, Type: hypercall.E820Unusable},
			{Addr: 0x90000000, Size: 0, Type: hypercall.E820Unusable},
		},
	})
	want := [][2]uint64{{0xFEE00, 0xFEE00}, {0xFEC00, 0xFEC00}, {0xFEC01, 0xFEC01}, {0xFEE00, 0xFEEFF},
		{0xFD00000, 0xFFFFFFF}, {0x100, 0x10F}, {0x80000, 0x80000}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("denied %#x, want %#x", got, want)
	}
	if got := Dom0IOMemDenied(Dom0IOMemHost{AMD: true, Family: 0x19, PaddrBits: 48}); !reflect.DeepEqual(got[1], [2]uint64{0xFFFD00000, 0xFFFFFFFFF}) {
		t.Fatalf("Zen: %#x", got)
	}
	if got := Dom0IOMemDenied(Dom0IOMemHost{PaddrBits: 40}); !reflect.DeepEqual(got, [][2]uint64{{0xFEE00, 0xFEEFF}}) {
		t.Fatalf("Intel, nothing else: %#x", got)
	}
}

func TestIOMem(t *testing.T) {
	io := NewIOMem(1<<20, [][2]uint64{{0xFEE00, 0xFEEFF}, {0xFEC00, 0xFEC00}, {0xFEE00, 0xFEE00}, {0x100, 0x10F}, {2 << 20, 3 << 20}}, true)
	for _, tc := range []struct {
		f  mm.MFN
		ok bool
	}{{0, true}, {0xF0, true}, {0xFF, true}, {0x100, false}, {0x10F, false}, {0x110, true},
		{0xFEBFF, true}, {0xFEC00, false}, {0xFEC01, true}, {0xFEE00, false}, {0xFEEFF, false},
		{0xFEF00, true}, {1<<20 - 1, true}, {1 << 20, false}} {
		if got := io.IOMemAllowed(tc.f); got != tc.ok {
			t.Errorf("IOMemAllowed(%#x) = %v, want %v", tc.f, got, tc.ok)
		}
	}
	if got, want := io.IOMemRanges(0xF0, 0xFED00), [][2]uint64{{0xF0, 0xFF}, {0x110, 0xFEBFF}, {0xFEC01, 0xFED00}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("IOMemRanges %#x, want %#x", got, want)
	}
	if !io.HasIOCaps() || NewIOMem(0, nil, false).HasIOCaps() || !NewIOMem(1, nil, false).HasIOCaps() {
		t.Fatal("HasIOCaps")
	}
}
