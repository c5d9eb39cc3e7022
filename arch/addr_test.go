package arch

import "testing"

func TestCanonical(t *testing.T) {
	tests := []struct {
		va   uint64
		want bool
	}{
		{0, true},
		{0x00007fffffffffff, true},  // last of the lower half
		{0x0000800000000000, false}, // LowerHalfEnd: first of the hole
		{0x0001000000000000, false},
		{0x8000000000000000, false},
		{0xffff7fffffffffff, false}, // last of the hole
		{0xffff800000000000, true},  // first of the upper half (Xen's HYPERVISOR_VIRT_START)
		{0xffff87ffffffffff, true},  // last of Xen's range
		{0xffff880000000000, true},  // HYPERVISOR_VIRT_END: the guest's upper part
		{0xffffffffffffffff, true},
		{0x7fffffffffffffff, false},
	}
	for _, tt := range tests {
		if got := Canonical(tt.va); got != tt.want {
			t.Errorf("Canonical(%#x) = %v, want %v", tt.va, got, tt.want)
		}
	}
	if Canonical(LowerHalfEnd) || !Canonical(LowerHalfEnd-1) || !Canonical(1<<64-LowerHalfEnd) {
		t.Error("LowerHalfEnd is not where the lower half ends")
	}
}
