package pv

import (
	"reflect"
	"testing"

	"golang.org/x/arch/x86/x86asm"
)

// TestDecodeCache: a hit gives exactly what x86asm.Decode gives for the
// same bytes, other bytes at the same address are decoded afresh, and
// trailing bytes past the instruction do not matter.
func TestDecodeCache(t *testing.T) {
	var c decodeCache
	cases := []struct {
		rip  uint64
		b    []byte
		hits uint64
	}{
		{0x1000, []byte{0xed, 0x90, 0x90}, 0},             // in eax,dx
		{0x1000, []byte{0xed, 0xcc, 0xcc}, 1},             // the same, other bytes after it
		{0x1000, []byte{0x66, 0xef, 0x90}, 1},             // out dx,ax at the same address: a miss
		{0x1000, []byte{0x66, 0xef, 0x00}, 2},             // a hit again
		{0x2000, []byte{0x0f, 0x22, 0xd8, 0x90}, 2},       // mov cr3,rax
		{0x2000 + decodeCacheSize<<5, []byte{0xec}, 2},    // another address in the same entry
		{0x2000, []byte{0x0f, 0x22, 0xd8, 0x90, 0x90}, 2}, // evicted: decoded again
	}
	for i, tc := range cases {
		got, err := c.decode(tc.b, tc.rip)
		want, werr := x86asm.Decode(tc.b, 64)
		if (err == nil) != (werr == nil) || !reflect.DeepEqual(got, want) {
			t.Errorf("case %d: decode = %v, %v; Decode = %v, %v", i, got, err, want, werr)
		}
		if c.hits != tc.hits {
			t.Errorf("case %d: %d hits, want %d", i, c.hits, tc.hits)
		}
	}
	if n := testing.AllocsPerRun(100, func() { c.decode([]byte{0xec}, 0x2000+decodeCacheSize<<5) }); n != 0 {
		t.Errorf("a hit allocates %v times", n)
	}
}
