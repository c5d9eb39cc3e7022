package mm_test

import (
	"testing"

	"github.com/gohv/gohv/mm"
)

func TestGuestAddrOK(t *testing.T) {
	tests := []struct {
		va   mm.GuestVA
		want bool
	}{
		{0, true},
		{0x00007fffffffffff, true},  // last of the lower half
		{0x0000800000000000, false}, // non-canonical hole
		{0xffff7fffffffffff, false}, // last of the hole
		{0xffff800000000000, false}, // HYPERVISOR_VIRT_START
		{0xffff87ffffffffff, false}, // last of the hypervisor's range
		{0xffff880000000000, true},  // HYPERVISOR_VIRT_END
		{0xffffffffffffffff, true},
	}
	for _, tt := range tests {
		if got := mm.GuestAddrOK(tt.va); got != tt.want {
			t.Errorf("GuestAddrOK(%#x) = %v, want %v", uint64(tt.va), got, tt.want)
		}
	}
}

// TestXenL4Slots checks the slots derived from Xen's range against
// ROOT_PAGETABLE_FIRST_XEN_SLOT and ROOT_PAGETABLE_LAST_XEN_SLOT.
func TestXenL4Slots(t *testing.T) {
	if mm.XenL4FirstSlot != 256 || mm.XenL4FirstSlot+mm.XenL4SlotCount-1 != 271 {
		t.Errorf("Xen's L4 slots are %d..%d, want 256..271", mm.XenL4FirstSlot, mm.XenL4FirstSlot+mm.XenL4SlotCount-1)
	}
}
