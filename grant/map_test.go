package grant

import (
	"testing"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/mm"
)

const host = 0x7f0000001000 // a mappable VA in the fake MMU

func TestMapGrantRef(t *testing.T) {
	tests := []struct {
		name       string
		entryFlags uint16
		entryDom   abi.DomID
		frame      uint32
		ref        Ref // the entry written and mapped, unless mapRef is set
		mapRef     Ref
		useMapRef  bool
		dom        abi.DomID // granting domain named in the op
		flags      uint32
		hostAddr   uint64
		pageTable  bool // the granted frame is a page table (no writable type)
		want       Status
		wantFlags  uint16 // granter's entry flags afterwards
		wantPin    uint32
	}{
		{name: "host rw", entryFlags: perm, entryDom: d2, frame: 12, ref: 8, dom: d1,
			flags: mapHost, hostAddr: host, want: GNTST_okay, wantFlags: perm | rd | wr, wantPin: pinHostWrite},
		{name: "host ro", entryFlags: perm, entryDom: d2, frame: 12, ref: 8, dom: d1,
			flags: mapHost | mapReadonly, hostAddr: host, want: GNTST_okay, wantFlags: perm | rd, wantPin: pinHostRead},
		{name: "readonly grant ro", entryFlags: perm | ro, entryDom: d2, frame: 12, ref: 8, dom: d1,
			flags: mapHost | mapReadonly, hostAddr: host, want: GNTST_okay, wantFlags: perm | ro | rd, wantPin: pinHostRead},
		{name: "device rw", entryFlags: perm, entryDom: d2, frame: 12, ref: 8, dom: d1,
			flags: mapDevice, want: GNTST_okay, wantFlags: perm | rd | wr, wantPin: pinDeviceWrite},
		{name: "device ro", entryFlags: perm, entryDom: d2, frame: 12, ref: 8, dom: d1,
			flags: mapDevice | mapReadonly, want: GNTST_okay, wantFlags: perm | rd, wantPin: pinDeviceRead},
		{name: "host and device", entryFlags: perm, entryDom: d2, frame: 12, ref: 8, dom: d1,
			flags: mapHost | mapDevice, hostAddr: host, want: GNTST_okay, wantFlags: perm | rd | wr,
			wantPin: pinHostWrite | pinDeviceWrite},
		{name: "application contains_pte", entryFlags: perm, entryDom: d2, frame: 12, ref: 8, dom: d1,
			flags: mapHost | mapApplication | mapContainsPTE | 1<<16, hostAddr: 0x20008, want: GNTST_okay,
			wantFlags: perm | rd | wr, wantPin: pinHostWrite},
		{name: "last ref of frame 0", entryFlags: perm, entryDom: d2, frame: 12, ref: EntriesPerFrame - 1, dom: d1,
			flags: mapHost, hostAddr: host, want: GNTST_okay, wantFlags: perm | rd | wr, wantPin: pinHostWrite},

		{name: "no kind", entryFlags: perm, entryDom: d2, frame: 12, ref: 8, dom: d1,
			flags: mapReadonly | mapApplication, hostAddr: host, want: GNTST_bad_gntref, wantFlags: perm},
		{name: "ref beyond table", entryFlags: perm, entryDom: d2, frame: 12, ref: 8, mapRef: EntriesPerFrame,
			useMapRef: true, dom: d1, flags: mapHost, hostAddr: host, want: GNTST_bad_gntref, wantFlags: perm},
		{name: "ref huge", entryFlags: perm, entryDom: d2, frame: 12, ref: 8, mapRef: ^Ref(0),
			useMapRef: true, dom: d1, flags: mapHost, hostAddr: host, want: GNTST_bad_gntref, wantFlags: perm},
		{name: "unknown domain", entryFlags: perm, entryDom: d2, frame: 12, ref: 8, dom: 99,
			flags: mapHost, hostAddr: host, want: GNTST_bad_domain, wantFlags: perm},
		{name: "DOMID_SELF not resolved", entryFlags: perm, entryDom: d2, frame: 12, ref: 8, dom: abi.DOMID_SELF,
			flags: mapHost, hostAddr: host, want: GNTST_bad_domain, wantFlags: perm},
		{name: "invalid entry", entryFlags: 0, entryDom: d2, frame: 12, ref: 8, dom: d1,
			flags: mapHost, hostAddr: host, want: GNTST_general_error, wantFlags: 0},
		{name: "domid mismatch", entryFlags: perm, entryDom: d3, frame: 12, ref: 8, dom: d1,
			flags: mapHost, hostAddr: host, want: GNTST_general_error, wantFlags: perm},
		{name: "readonly grant mapped writable", entryFlags: perm | ro, entryDom: d2, frame: 12, ref: 8, dom: d1,
			flags: mapHost, hostAddr: host, want: GNTST_general_error, wantFlags: perm | ro},
		{name: "sub_page entry", entryFlags: perm | gtfSubPage, entryDom: d2, frame: 12, ref: 8, dom: d1,
			flags: mapHost, hostAddr: host, want: GNTST_general_error, wantFlags: perm | gtfSubPage},
		{name: "accept_transfer entry", entryFlags: uint16(abi.GTF_accept_transfer), entryDom: d2, frame: 12, ref: 8,
			dom: d1, flags: mapHost, hostAddr: host, want: GNTST_general_error, wantFlags: uint16(abi.GTF_accept_transfer)},
		{name: "transitive entry", entryFlags: uint16(abi.GTF_transitive), entryDom: d2, frame: 12, ref: 8,
			dom: d1, flags: mapHost, hostAddr: host, want: GNTST_general_error, wantFlags: uint16(abi.GTF_transitive)},
		{name: "frame of a third domain", entryFlags: perm, entryDom: d2, frame: 31, ref: 8, dom: d1,
			flags: mapHost, hostAddr: host, want: GNTST_bad_page, wantFlags: perm},
		{name: "frame of the mapper", entryFlags: perm, entryDom: d2, frame: 21, ref: 8, dom: d1,
			flags: mapHost | mapReadonly, hostAddr: host, want: GNTST_bad_page, wantFlags: perm},
		{name: "frame outside RAM", entryFlags: perm, entryDom: d2, frame: 0xFFFFFFFF, ref: 8, dom: d1,
			flags: mapHost, hostAddr: host, want: GNTST_bad_page, wantFlags: perm},
		{name: "page table writable", entryFlags: perm, entryDom: d2, frame: 12, ref: 8, dom: d1,
			flags: mapHost, hostAddr: host, pageTable: true, want: GNTST_general_error, wantFlags: perm},
		{name: "page table readonly", entryFlags: perm, entryDom: d2, frame: 12, ref: 8, dom: d1,
			flags: mapHost | mapReadonly, hostAddr: host, pageTable: true, want: GNTST_okay,
			wantFlags: perm | rd, wantPin: pinHostRead},
		{name: "host addr 0", entryFlags: perm, entryDom: d2, frame: 12, ref: 8, dom: d1,
			flags: mapHost, hostAddr: 0, want: GNTST_general_error, wantFlags: perm},
		{name: "host addr without L1", entryFlags: perm, entryDom: d2, frame: 12, ref: 8, dom: d1,
			flags: mapHost | mapDevice, hostAddr: 1 << 63, want: GNTST_general_error, wantFlags: perm},
		{name: "misaligned contains_pte (XSA-227)", entryFlags: perm, entryDom: d2, frame: 12, ref: 8, dom: d1,
			flags: mapHost | mapContainsPTE, hostAddr: 0x20004, want: GNTST_general_error, wantFlags: perm},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, Config{})
			if tc.pageTable {
				w.frames.noWrite[mm.MFN(tc.frame)] = true
			}
			w.grant(d1, tc.ref, tc.entryFlags, tc.entryDom, tc.frame)
			ref := tc.ref
			if tc.useMapRef {
				ref = tc.mapRef
			}
			op := w.mapRef(d2, tc.dom, ref, tc.flags, tc.hostAddr)
			if op.Status != tc.want {
				t.Fatalf("status %v, want %v", op.Status, tc.want)
			}
			if got := w.flags(d1, tc.ref); got != tc.wantFlags {
				t.Errorf("entry flags %#x, want %#x", got, tc.wantFlags)
			}
			if got := w.pin(d1, tc.ref); got != tc.wantPin {
				t.Errorf("pin %#x, want %#x", got, tc.wantPin)
			}
			if tc.want != GNTST_okay {
				if op.Handle != 0 || op.DevBusAddr != 0 {
					t.Errorf("failed map returned handle %d, dev_bus_addr %#x", op.Handle, op.DevBusAddr)
				}
				if w.frames.held() != 0 || w.mapper.count() != 0 {
					t.Errorf("failed map left %d frame refs, %d PTEs", w.frames.held(), w.mapper.count())
				}
				return
			}
			if op.DevBusAddr != uint64(mm.MFN(tc.frame).Addr()) {
				t.Errorf("dev_bus_addr %#x, want %#x", op.DevBusAddr, mm.MFN(tc.frame).Addr())
			}
			hostPTEs := 0
			if tc.flags&mapHost != 0 {
				hostPTEs = 1
				p := w.mapper.ptes[pteKey{d2, tc.hostAddr}]
				if p.mfn != mm.MFN(tc.frame) || p.flags != tc.flags {
					t.Errorf("PTE %+v, want mfn %#x flags %#x", p, tc.frame, tc.flags)
				}
			}
			if w.mapper.count() != hostPTEs {
				t.Errorf("%d PTEs, want %d", w.mapper.count(), hostPTEs)
			}
			// Unmapping every kind restores the entry and all counts.
			var dev uint64
			if tc.flags&mapDevice != 0 {
				dev = op.DevBusAddr
			}
			if st := w.unmap(d2, op.Handle, tc.hostAddr, dev); st != GNTST_okay {
				t.Fatalf("unmap: %v", st)
			}
			if got := w.flags(d1, tc.ref); got != tc.entryFlags {
				t.Errorf("entry flags after unmap %#x, want %#x", got, tc.entryFlags)
			}
			if w.pin(d1, tc.ref) != 0 || w.frames.held() != 0 || w.mapper.count() != 0 {
				t.Errorf("after unmap: pin %#x, %d frame refs, %d PTEs", w.pin(d1, tc.ref), w.frames.held(), w.mapper.count())
			}
		})
	}
}

func TestMapPinnedByAnotherDomain(t *testing.T) {
	w := newWorld(t, Config{})
	w.grant(d1, 8, perm, d2, 12)
	if op := w.mapRef(d2, d1, 8, mapHost, host); op.Status != GNTST_okay {
		t.Fatal(op.Status)
	}
	// The granter re-targets the live entry at d3; the active entry still
	// belongs to d2, so d3 cannot map it.
	w.grant(d1, 8, perm|rd|wr, d3, 12)
	if op := w.mapRef(d3, d1, 8, mapHost, host); op.Status != GNTST_general_error {
		t.Fatalf("d3 mapped d2's pinned grant: %v", op.Status)
	}
}

func TestPinCountOverflow(t *testing.T) {
	w := newWorld(t, Config{})
	w.grant(d1, 9, perm, d2, 13)
	for i := 0; i < 0x80; i++ {
		op := w.mapRef(d2, d1, 9, mapDevice|mapReadonly, 0)
		if op.Status != GNTST_okay {
			t.Fatalf("map %d: %v", i, op.Status)
		}
	}
	// The counter now has its top bit set: no further pin of any kind.
	for _, fl := range []uint32{mapDevice | mapReadonly, mapDevice, mapHost} {
		if op := w.mapRef(d2, d1, 9, fl, host); op.Status != GNTST_general_error {
			t.Fatalf("map with flags %#x after 128 pins: %v", fl, op.Status)
		}
	}
	if got := w.pin(d1, 9); got != 0x80*pinDeviceRead {
		t.Fatalf("pin %#x", got)
	}
	if got := w.flags(d1, 9); got != perm|rd {
		t.Fatalf("flags %#x", got)
	}
}

func TestMaptrackExhaustionAndReuse(t *testing.T) {
	w := newWorld(t, Config{MaxMaptrackFrames: 1})
	w.grant(d1, 8, perm, d2, 12)
	handles := make([]Handle, 0, MaptrackPerFrame)
	for i := 0; i < MaptrackPerFrame; i++ {
		// Alternate kinds so no pin counter overflows.
		fl := []uint32{mapDevice, mapDevice | mapReadonly, mapHost, mapHost | mapReadonly}[i%4]
		op := w.mapRef(d2, d1, 8, fl, host+uint64(i)*mm.PageSize)
		if op.Status != GNTST_okay && i < 4*0x7f {
			t.Fatalf("map %d: %v", i, op.Status)
		}
		handles = append(handles, op.Handle)
		if int(op.Handle) != i {
			t.Fatalf("map %d got handle %d", i, op.Handle)
		}
	}
	if op := w.mapRef(d2, d1, 8, mapDevice|mapReadonly, 0); op.Status != GNTST_no_device_space {
		t.Fatalf("map beyond maptrack: %v", op.Status)
	}
	// Free handles 5 then 3: they come back oldest-freed first.
	dev := uint64(mm.MFN(12).Addr())
	if st := w.unmap(d2, 5, host+5*mm.PageSize, dev); st != GNTST_okay {
		t.Fatal(st)
	}
	if st := w.unmap(d2, 3, host+3*mm.PageSize, dev); st != GNTST_okay {
		t.Fatal(st)
	}
	for _, want := range []Handle{5, 3} {
		op := w.mapRef(d2, d1, 8, mapDevice|mapReadonly, 0)
		if op.Status != GNTST_okay || op.Handle != want {
			t.Fatalf("reuse: %v handle %d, want %d", op.Status, op.Handle, want)
		}
	}
	if op := w.mapRef(d2, d1, 8, mapDevice|mapReadonly, 0); op.Status != GNTST_no_device_space {
		t.Fatalf("map beyond maptrack after reuse: %v", op.Status)
	}
}

func TestUnmapGrantRef(t *testing.T) {
	dev := uint64(mm.MFN(12).Addr())
	tests := []struct {
		name      string
		flags     uint32 // how the grant was mapped (handle 0)
		handle    Handle
		host, dev uint64
		want      Status
		wantFlags uint16
		wantLive  bool // handle 0 still mapped afterwards
	}{
		{"host", mapHost, 0, host, 0, GNTST_okay, perm, false},
		{"host with matching dev addr", mapHost, 0, host, dev, GNTST_okay, perm, false},
		{"device", mapDevice, 0, 0, dev, GNTST_okay, perm, false},
		{"host ro", mapHost | mapReadonly, 0, host, 0, GNTST_okay, perm, false},
		{"handle beyond maptrack", mapHost, MaptrackPerFrame, host, 0, GNTST_bad_handle, perm | rd | wr, true},
		{"handle huge", mapHost, ^Handle(0), host, 0, GNTST_bad_handle, perm | rd | wr, true},
		{"free handle", mapHost, 1, host, 0, GNTST_bad_handle, perm | rd | wr, true},
		{"wrong dev addr", mapDevice, 0, 0, dev + mm.PageSize, GNTST_general_error, perm | rd | wr, true},
		{"wrong host addr", mapHost, 0, host + mm.PageSize, 0, GNTST_general_error, perm | rd | wr, true},
		{"nothing named", mapHost, 0, 0, 0, GNTST_okay, perm | rd | wr, true},
		{"host addr on device mapping", mapDevice, 0, host, 0, GNTST_okay, perm | rd | wr, true},
		{"dev addr on host mapping", mapHost, 0, 0, dev, GNTST_okay, perm | rd | wr, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, Config{})
			w.grant(d1, 8, perm, d2, 12)
			h := uint64(0)
			if tc.flags&mapHost != 0 {
				h = host
			}
			if op := w.mapRef(d2, d1, 8, tc.flags, h); op.Status != GNTST_okay || op.Handle != 0 {
				t.Fatalf("map: %v handle %d", op.Status, op.Handle)
			}
			if st := w.unmap(d2, tc.handle, tc.host, tc.dev); st != tc.want {
				t.Fatalf("unmap: %v, want %v", st, tc.want)
			}
			wantFlags := tc.wantFlags
			if tc.wantLive && tc.flags&mapReadonly != 0 {
				wantFlags &^= wr
			}
			if got := w.flags(d1, 8); got != wantFlags {
				t.Errorf("flags %#x, want %#x", got, wantFlags)
			}
			w.ts.tables[d2].mu.Lock()
			live := w.ts.tables[d2].maptrack[0].flags != 0
			w.ts.tables[d2].mu.Unlock()
			if live != tc.wantLive {
				t.Errorf("handle 0 live = %v, want %v", live, tc.wantLive)
			}
			if !live && (w.frames.held() != 0 || w.mapper.count() != 0 || w.pin(d1, 8) != 0) {
				t.Errorf("leaked: %d refs, %d PTEs, pin %#x", w.frames.held(), w.mapper.count(), w.pin(d1, 8))
			}
		})
	}
}

// TestUnmapTwice is XSA-224's shape: a mapping with both a host and a
// device part, unmapped piecewise and then again. Each reference is
// dropped exactly once.
func TestUnmapTwice(t *testing.T) {
	w := newWorld(t, Config{})
	w.grant(d1, 8, perm, d2, 12)
	op := w.mapRef(d2, d1, 8, mapHost|mapDevice, host)
	if op.Status != GNTST_okay {
		t.Fatal(op.Status)
	}
	if w.frames.held() != 4 { // two page refs, two writable type refs
		t.Fatalf("refs %d, want 4", w.frames.held())
	}
	steps := []struct {
		host, dev uint64
		want      Status
		refs      int
		pin       uint32
		flags     uint16
	}{
		{host, 0, GNTST_okay, 2, pinDeviceWrite, perm | rd | wr},
		{host, 0, GNTST_okay, 2, pinDeviceWrite, perm | rd | wr}, // host part already gone: nothing to do
		{0, op.DevBusAddr, GNTST_okay, 0, 0, perm},
		{0, op.DevBusAddr, GNTST_bad_handle, 0, 0, perm},
		{host, op.DevBusAddr, GNTST_bad_handle, 0, 0, perm},
	}
	for i, s := range steps {
		if st := w.unmap(d2, op.Handle, s.host, s.dev); st != s.want {
			t.Fatalf("step %d: %v, want %v", i, st, s.want)
		}
		if w.frames.held() != s.refs || w.pin(d1, 8) != s.pin || w.flags(d1, 8) != s.flags {
			t.Fatalf("step %d: refs %d pin %#x flags %#x; want %d %#x %#x", i,
				w.frames.held(), w.pin(d1, 8), w.flags(d1, 8), s.refs, s.pin, s.flags)
		}
	}
}

// TestReadonlyUnmapKeepsWriting is XSA-234's shape: a read-only mapping
// going away must not clear GTF_writing while a writable one lives, and the
// last writable one going clears it even though a read-only one remains.
func TestReadonlyUnmapKeepsWriting(t *testing.T) {
	w := newWorld(t, Config{})
	w.grant(d1, 8, perm, d2, 12)
	rw := w.mapRef(d2, d1, 8, mapHost, host)
	rO := w.mapRef(d2, d1, 8, mapHost|mapReadonly, host+mm.PageSize)
	if rw.Status != GNTST_okay || rO.Status != GNTST_okay {
		t.Fatal(rw.Status, rO.Status)
	}
	if st := w.unmap(d2, rO.Handle, host+mm.PageSize, 0); st != GNTST_okay {
		t.Fatal(st)
	}
	if got := w.flags(d1, 8); got != perm|rd|wr {
		t.Fatalf("after read-only unmap: flags %#x, want reading|writing", got)
	}
	rO = w.mapRef(d2, d1, 8, mapHost|mapReadonly, host+mm.PageSize)
	if st := w.unmap(d2, rw.Handle, host, 0); st != GNTST_okay {
		t.Fatal(st)
	}
	if got := w.flags(d1, 8); got != perm|rd {
		t.Fatalf("after writable unmap: flags %#x, want reading only", got)
	}
	// A writable map on top of a read-only pin sets GTF_writing again.
	rw = w.mapRef(d2, d1, 8, mapDevice, 0)
	if rw.Status != GNTST_okay || w.flags(d1, 8) != perm|rd|wr {
		t.Fatalf("upgrade: %v flags %#x", rw.Status, w.flags(d1, 8))
	}
	w.unmap(d2, rw.Handle, 0, rw.DevBusAddr)
	w.unmap(d2, rO.Handle, host+mm.PageSize, 0)
	if w.flags(d1, 8) != perm || w.frames.held() != 0 || w.pin(d1, 8) != 0 {
		t.Fatalf("end: flags %#x refs %d pin %#x", w.flags(d1, 8), w.frames.held(), w.pin(d1, 8))
	}
}

// TestWritableMapOfRevokedReadonly: once pinned read-only, a writable map
// still checks the guest's current GTF_readonly.
func TestWritableMapAfterGranterSetsReadonly(t *testing.T) {
	w := newWorld(t, Config{})
	w.grant(d1, 8, perm, d2, 12)
	if op := w.mapRef(d2, d1, 8, mapHost|mapReadonly, host); op.Status != GNTST_okay {
		t.Fatal(op.Status)
	}
	w.grant(d1, 8, perm|ro|rd, d2, 12)
	if op := w.mapRef(d2, d1, 8, mapDevice, 0); op.Status != GNTST_general_error {
		t.Fatalf("writable map of a now read-only grant: %v", op.Status)
	}
	if got := w.flags(d1, 8); got != perm|ro|rd {
		t.Fatalf("flags %#x", got)
	}
}

// TestRevokeProtocol plays the granting guest's side: it revokes with a
// compare-and-swap expecting no GTF_reading/GTF_writing, which must fail
// while mapped and succeed after the unmap.
func TestRevokeProtocol(t *testing.T) {
	w := newWorld(t, Config{})
	w.grant(d1, 8, perm, d2, 12)
	op := w.mapRef(d2, d1, 8, mapHost, host)
	if op.Status != GNTST_okay {
		t.Fatal(op.Status)
	}
	addr := w.gframe(d1, 0).Addr() + 8*8
	idle := uint64(12)<<32 | uint64(d2)<<16 | uint64(perm)
	if swapped, _ := w.mem.CompareAndSwap64(addr, idle, 0); swapped {
		t.Fatal("guest revoked a mapped grant")
	}
	w.unmap(d2, op.Handle, host, 0)
	if swapped, _ := w.mem.CompareAndSwap64(addr, idle, 0); !swapped {
		t.Fatal("guest could not revoke an unmapped grant")
	}
	if op := w.mapRef(d2, d1, 8, mapHost, host); op.Status != GNTST_general_error {
		t.Fatalf("map of a revoked grant: %v", op.Status)
	}
}

// flippingMemory changes one word before every compare-and-swap on it, as
// a guest toggling a bit in its entry in a loop would.
type flippingMemory struct {
	mm.MachineMemory
	target mm.Maddr
	cas    int
}

func (m *flippingMemory) CompareAndSwap64(ma mm.Maddr, old, new uint64) (bool, bool) {
	if ma == m.target {
		m.cas++
		// The guest writes a new value into the frame field's top byte.
		m.MachineMemory.And64(ma, ^uint64(0xff<<56))
		m.MachineMemory.Or64(ma, uint64(m.cas)<<56)
	}
	return m.MachineMemory.CompareAndSwap64(ma, old, new)
}

func TestUnstableEntry(t *testing.T) {
	w := newWorld(t, Config{})
	w.grant(d1, 8, perm, d2, 12)
	fm := &flippingMemory{MachineMemory: w.mem, target: w.gframe(d1, 0).Addr() + 8*8}
	w.ts.mem = fm
	if op := w.mapRef(d2, d1, 8, mapHost, host); op.Status != GNTST_general_error {
		t.Fatalf("map of an unstable entry: %v", op.Status)
	}
	if fm.cas != maxPinRetries {
		t.Fatalf("%d compare-and-swap attempts, want %d", fm.cas, maxPinRetries)
	}
	if w.pin(d1, 8) != 0 || w.frames.held() != 0 || w.flags(d1, 8)&(rd|wr) != 0 {
		t.Fatal("failed pin left state behind")
	}
}

func TestSelfGrant(t *testing.T) {
	w := newWorld(t, Config{})
	w.grant(d1, 8, perm, d1, 12)
	op := w.mapRef(d1, d1, 8, mapHost, host)
	if op.Status != GNTST_okay {
		t.Fatal(op.Status)
	}
	if st := w.unmap(d1, op.Handle, host, 0); st != GNTST_okay || w.flags(d1, 8) != perm {
		t.Fatalf("unmap %v flags %#x", st, w.flags(d1, 8))
	}
}

func TestReleaseAndDestroy(t *testing.T) {
	w := newWorld(t, Config{})
	w.grant(d1, 8, perm, d2, 12)
	w.grant(d1, 9, perm|ro, d2, 13)
	a := w.mapRef(d2, d1, 8, mapHost|mapDevice, host)
	b := w.mapRef(d2, d1, 9, mapHost|mapReadonly, host+mm.PageSize)
	if a.Status != GNTST_okay || b.Status != GNTST_okay {
		t.Fatal(a.Status, b.Status)
	}
	if e := w.ts.Destroy(d1); e != abi.EBUSY {
		t.Fatalf("Destroy of a granter still mapped = %v, want EBUSY", e)
	}
	if e := w.ts.Destroy(d2); e != abi.EBUSY {
		t.Fatalf("Destroy of a domain still mapping = %v, want EBUSY", e)
	}
	if n := w.ts.Release(d2); n != 2 {
		t.Fatalf("Release dropped %d mappings, want 2", n)
	}
	if w.flags(d1, 8) != perm || w.flags(d1, 9) != perm|ro || w.frames.held() != 0 {
		t.Fatalf("after Release: flags %#x %#x, refs %d", w.flags(d1, 8), w.flags(d1, 9), w.frames.held())
	}
	if st := w.unmap(d2, a.Handle, host, 0); st != GNTST_bad_handle {
		t.Fatalf("unmap after Release: %v", st)
	}
	if n := w.ts.Release(d2); n != 0 {
		t.Fatalf("second Release dropped %d", n)
	}
	for _, d := range []abi.DomID{d1, d2, d3} {
		if e := w.ts.Destroy(d); e != 0 {
			t.Fatalf("Destroy(d%d) = %v", d, e)
		}
	}
	if len(w.pool.inUse) != 0 {
		t.Fatalf("%d grant frames not returned", len(w.pool.inUse))
	}
	if op := w.mapRef(d2, d1, 8, mapHost, host); op.Status != GNTST_bad_domain {
		t.Fatalf("map after Destroy: %v", op.Status)
	}
}

// TestGranterLosesFrame: a second pin re-checks that the granter still
// owns the frame (mm may have freed it meanwhile).
func TestGranterLosesFrame(t *testing.T) {
	w := newWorld(t, Config{})
	w.grant(d1, 8, perm, d2, 12)
	a := w.mapRef(d2, d1, 8, mapHost|mapReadonly, host)
	if a.Status != GNTST_okay {
		t.Fatal(a.Status)
	}
	w.frames.mu.Lock()
	w.frames.owner[12] = d3
	w.frames.mu.Unlock()
	if op := w.mapRef(d2, d1, 8, mapDevice|mapReadonly, 0); op.Status != GNTST_general_error {
		t.Fatalf("second pin of a lost frame: %v", op.Status)
	}
	op := CopyOp{Source: CopyPtr{U: 8, Dom: d1}, Dest: CopyPtr{U: 21, Dom: abi.DOMID_SELF}, Len: 8, Flags: copySourceGref}
	w.ts.Copy(d2, &op)
	if op.Status != GNTST_bad_domain {
		t.Fatalf("copy from a lost frame: %v", op.Status)
	}
	op = CopyOp{Source: CopyPtr{U: 21, Dom: abi.DOMID_SELF}, Dest: CopyPtr{U: 8, Dom: d1}, Len: 8, Flags: copyDestGref}
	w.ts.Copy(d2, &op)
	if op.Status != GNTST_bad_page || w.flags(d1, 8) != perm|rd || w.pin(d1, 8) != pinHostRead {
		t.Fatalf("copy to a lost frame: %v flags %#x pin %#x", op.Status, w.flags(d1, 8), w.pin(d1, 8))
	}
	w.frames.mu.Lock()
	w.frames.owner[12] = d1
	w.frames.mu.Unlock()
	if st := w.unmap(d2, a.Handle, host, 0); st != GNTST_okay || w.frames.held() != 0 || w.flags(d1, 8) != perm {
		t.Fatalf("unmap: %v", st)
	}
}

func TestSwapGrantRef(t *testing.T) {
	w := newWorld(t, Config{})
	w.grant(d1, 8, perm, d2, 12)
	w.grant(d1, 9, perm|ro, d3, 13)
	w.grant(d1, 10, perm, d2, 14)
	m := w.mapRef(d2, d1, 10, mapHost, host)
	if m.Status != GNTST_okay {
		t.Fatal(m.Status)
	}
	for _, tc := range []struct {
		a, b Ref
		want Status
	}{
		{8, EntriesPerFrame, GNTST_bad_gntref},
		{EntriesPerFrame, 8, GNTST_bad_gntref},
		{8, 8, GNTST_okay},
		{8, 10, GNTST_eagain},
		{10, 9, GNTST_eagain},
		{8, 9, GNTST_okay},
		{EntriesPerFrame - 1, 8, GNTST_okay},
	} {
		op := SwapOp{RefA: tc.a, RefB: tc.b}
		w.ts.SwapGrantRef(d1, &op)
		if op.Status != tc.want {
			t.Errorf("swap(%d, %d) = %v, want %v", tc.a, tc.b, op.Status, tc.want)
		}
	}
	// 8 and 9 swapped, then 511 and 8: 511 holds the old 9, 8 holds the
	// old 511 (empty).
	if w.flags(d1, EntriesPerFrame-1) != perm|ro || w.flags(d1, 8) != 0 || w.flags(d1, 9) != perm {
		t.Fatalf("flags after swaps: %#x %#x %#x", w.flags(d1, EntriesPerFrame-1), w.flags(d1, 8), w.flags(d1, 9))
	}
	if op := w.mapRef(d3, d1, EntriesPerFrame-1, mapHost|mapReadonly, host); op.Status != GNTST_okay {
		t.Fatalf("map of the moved grant: %v", op.Status)
	}
}
