package mm

import (
	"reflect"
	"testing"

	"github.com/gohv/gohv/abi"
)

// TestFrameEntrySize: the frame table holds one FrameEntry per machine
// frame (3 MiB a GiB of RAM at 12 bytes), and the metal sizes its storage
// by FrameEntrySize (FrameTableBytes); a field added or moved so that the
// entry grows shows here, as does a pointer, which storage outside the
// collected heap must not hold.
func TestFrameEntrySize(t *testing.T) {
	typ := reflect.TypeFor[FrameEntry]()
	if n := typ.Size(); n != FrameEntrySize {
		t.Errorf("FrameEntry is %d bytes, want %d (FrameEntrySize)", n, FrameEntrySize)
	}
	for i := range typ.NumField() {
		switch f := typ.Field(i); f.Type.Kind() {
		case reflect.Uint8, reflect.Uint16, reflect.Uint32:
		default:
			t.Errorf("FrameEntry.%s is a %v: the entry holds unsigned integers only", f.Name, f.Type)
		}
	}
	if n := FrameTableBytes(1 << 18); n != 3<<20 {
		t.Errorf("FrameTableBytes(1 GiB of frames) = %d, want 3 MiB", n)
	}
}

// TestFrameEntryPacking: every type and every combination of the four
// flags round-trips through the packed byte, and setting the type or a
// flag leaves the rest of the entry as it was.
func TestFrameEntryPacking(t *testing.T) {
	flags := []pageBits{pgAllocated, pgPinned, pgValidated, pgXenHeap}
	for typ := PageTypeNone; typ <= PageTypeWritable; typ++ {
		for set := range 1 << len(flags) {
			e := FrameEntry{count: 0xfffffffe, typeCount: 0x80000001, owner: 0x7ff2, flushStamp: 0xa5}
			want := PageInfo{Count: 0xfffffffe, TypeCount: 0x80000001, Owner: 0x7ff2, Type: typ}
			// Flags first, then the type over them, so that each must
			// survive the other's setter.
			for i, f := range flags {
				e.set(f, set&(1<<i) != 0)
			}
			e.setType(PageTypeWritable)
			e.setType(typ)
			want.Allocated, want.Pinned, want.Validated, want.XenHeap = set&1 != 0, set&2 != 0, set&4 != 0, set&8 != 0
			if got := e.info(); got != want || e.flushStamp != 0xa5 {
				t.Fatalf("type %v flags %04b: %+v (stamp %#x), want %+v (stamp 0xa5)", typ, set, got, e.flushStamp, want)
			}
			// Clearing and setting each flag again touches nothing else.
			for i, f := range flags {
				on := set&(1<<i) != 0
				e.set(f, !on)
				if e.has(f) == on || e.typ() != typ {
					t.Fatalf("type %v flags %04b: flipping flag %#x: has %v, type %v", typ, set, f, e.has(f), e.typ())
				}
				e.set(f, on)
			}
			if got := e.info(); got != want {
				t.Fatalf("type %v flags %04b: after flipping each flag twice %+v, want %+v", typ, set, got, want)
			}
		}
	}
}

// TestCountLimits: the 32-bit counts stop one short of wrapping: the
// reference that would take either to its maximum is refused, get_page
// failing and get_page_type returning EINVAL as Xen's do at their (wider)
// limits, and the refused reference changes nothing.
func TestCountLimits(t *testing.T) {
	const d = 1
	ft := &FrameTable{pages: make([]FrameEntry, 1)}
	e := &ft.pages[0]
	*e = FrameEntry{owner: d, count: 1<<32 - 3, typeCount: 1<<32 - 3, bits: pageBits(PageTypeWritable) | pgAllocated | pgValidated}
	if !ft.getPage(0, d) {
		t.Fatalf("get_page at count %#x refused", e.count-1)
	}
	if ft.getPage(0, d) || e.count != 1<<32-2 {
		t.Errorf("get_page at count %#x: taken (count now %#x)", uint32(1<<32-2), e.count)
	}
	if err := ft.getPageType(0, PageTypeWritable, &opCtx{}); err != 0 {
		t.Fatalf("get_page_type at type count %#x: %v", e.typeCount, err)
	}
	before := *e
	if err := ft.getPageType(0, PageTypeWritable, &opCtx{}); err != abi.EINVAL || *e != before {
		t.Errorf("get_page_type at type count %#x: %v, entry %+v -> %+v; want EINVAL, unchanged", before.typeCount, err, before, *e)
	}
}
