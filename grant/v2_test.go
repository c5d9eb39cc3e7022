package grant

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/mm"
)

// grantV2 writes v2 entry ref of d's table as the granting guest does:
// header, then page_off/length (sub_page) or trans_domid (transitive) at
// 4, then frame (or the transitive gref) at 8.
func (w *world) grantV2(d abi.DomID, ref Ref, flags uint16, to abi.DomID, at4 uint32, frame uint64) {
	w.t.Helper()
	f := w.gframe(d, int(ref/EntriesPerFrameV2))
	var b [EntrySizeV2]byte
	binary.LittleEndian.PutUint16(b[0:], flags)
	binary.LittleEndian.PutUint16(b[2:], uint16(to))
	binary.LittleEndian.PutUint32(b[4:], at4)
	binary.LittleEndian.PutUint64(b[8:], frame)
	if !w.mem.Write(f.Addr()+mm.Maddr(ref%EntriesPerFrameV2)*EntrySizeV2, b[:]) {
		w.t.Fatal("grantV2: write failed")
	}
}

// entryV2 reads v2 entry ref of d's table: its first and second words.
func (w *world) entryV2(d abi.DomID, ref Ref) (uint64, uint64) {
	w.t.Helper()
	f := w.gframe(d, int(ref/EntriesPerFrameV2))
	a := f.Addr() + mm.Maddr(ref%EntriesPerFrameV2)*EntrySizeV2
	x, _ := w.mem.Load64(a)
	y, _ := w.mem.Load64(a + 8)
	return x, y
}

// status reads d's grant_status_t of ref through get_status_frames, as the
// guest sees it.
func (w *world) status(d abi.DomID, ref Ref) uint16 {
	w.t.Helper()
	fs, st := w.ts.GetStatusFrames(d, abi.DOMID_SELF, uint32(ref/StatusPerFrame+1), nil)
	if st != GNTST_okay {
		w.t.Fatalf("GetStatusFrames(d%d) = %v", d, st)
	}
	var b [2]byte
	w.mem.Read(fs[ref/StatusPerFrame].Addr()+mm.Maddr(ref%StatusPerFrame)*2, b[:])
	return binary.LittleEndian.Uint16(b[:])
}

func (w *world) setV2(d abi.DomID) {
	w.t.Helper()
	if v, e := w.ts.SetVersion(d, 2); v != 2 || e != 0 {
		w.t.Fatalf("SetVersion(d%d, 2) = %d, %v", d, v, e)
	}
}

func TestSetVersion2(t *testing.T) {
	w := newWorld(t, Config{MaxVersion: 2})
	if _, st := w.ts.GetStatusFrames(d1, abi.DOMID_SELF, 0, nil); st != GNTST_okay {
		t.Errorf("v1 get_status_frames(0) = %v", st)
	}
	if _, st := w.ts.GetStatusFrames(d1, abi.DOMID_SELF, 1, nil); st != GNTST_general_error {
		t.Errorf("v1 get_status_frames(1) = %v", st)
	}
	// Reserved entry 3 (in use by d2 for reading) and an ordinary entry 9.
	w.grant(d1, 3, perm|rd, d2, 12)
	w.grant(d1, 9, perm, d2, 13)
	pool0 := len(w.pool.inUse)
	w.setV2(d1)
	if v, e := w.ts.GetVersion(d1, abi.DOMID_SELF); v != 2 || e != 0 {
		t.Fatalf("GetVersion = %d, %v", v, e)
	}
	if len(w.pool.inUse) != pool0+1 {
		t.Fatalf("%d status frames allocated, want 1", len(w.pool.inUse)-pool0)
	}
	if x, y := w.entryV2(d1, 3); entryFlags(x) != perm || entryDomID(x) != d2 || y != 12 {
		t.Errorf("reserved entry in v2: %#x %#x", x, y)
	}
	if s := w.status(d1, 3); s != rd {
		t.Errorf("reserved entry's status %#x, want GTF_reading", s)
	}
	if x, y := w.entryV2(d1, 9); x != 0 || y != 0 {
		t.Errorf("entry 9 not cleared: %#x %#x", x, y)
	}
	if v, e := w.ts.SetVersion(d1, 2); v != 2 || e != 0 {
		t.Errorf("SetVersion(2) again = %d, %v", v, e)
	}
	if v, e := w.ts.SetVersion(d1, 3); v != 2 || e != abi.EINVAL {
		t.Errorf("SetVersion(3) = %d, %v", v, e)
	}
	nr, max, st := w.ts.QuerySize(d1, abi.DOMID_SELF)
	if nr != 1 || max != DefaultMaxGrantFrames || st != GNTST_okay {
		t.Errorf("query_size %d/%d %v", nr, max, st)
	}
	// 256 entries a frame now.
	if st := w.mapRef(d2, d1, 256, mapHost, 0x1000).Status; st != GNTST_bad_gntref {
		t.Errorf("map ref 256 of a one-frame v2 table: %v", st)
	}
	// Growing: 9 grant frames need 2 status frames (9*256 > 2048).
	if _, st := w.ts.SetupTable(d1, abi.DOMID_SELF, 9, nil); st != GNTST_okay {
		t.Fatal(st)
	}
	fs, st := w.ts.GetStatusFrames(d1, abi.DOMID_SELF, 2, nil)
	if st != GNTST_okay || len(fs) != 2 {
		t.Fatalf("get_status_frames(2) = %v, %v", fs, st)
	}
	if _, st := w.ts.GetStatusFrames(d1, abi.DOMID_SELF, 3, nil); st != GNTST_general_error {
		t.Errorf("get_status_frames(3) = %v", st)
	}
	if _, st := w.ts.GetStatusFrames(d2, d1, 1, nil); st != GNTST_permission_denied {
		t.Errorf("get_status_frames of another domain = %v", st)
	}
	if _, st := w.ts.GetStatusFrames(d1, 42, 1, nil); st != GNTST_bad_domain {
		t.Errorf("get_status_frames of no domain = %v", st)
	}
	// Back to v1: the reserved entry gets its status bits back in its
	// flags, the status frames go.
	inUse := len(w.pool.inUse)
	if v, e := w.ts.SetVersion(d1, 1); v != 1 || e != 0 {
		t.Fatalf("SetVersion(1) = %d, %v", v, e)
	}
	if len(w.pool.inUse) != inUse-2 {
		t.Errorf("%d status frames given back, want 2", inUse-len(w.pool.inUse))
	}
	if f := w.flags(d1, 3); f != perm|rd {
		t.Errorf("reserved entry flags %#x after going back to v1", f)
	}
	// A domain limited to v1.
	w2 := newWorld(t, Config{})
	if v, e := w2.ts.SetVersion(d1, 2); v != 1 || e != abi.ENOSYS {
		t.Errorf("SetVersion(2) with max version 1 = %d, %v", v, e)
	}
}

func TestSetVersionRules(t *testing.T) {
	w := newWorld(t, Config{MaxVersion: 2})
	// An entry past the reserved ones in use: EBUSY.
	w.grant(d1, 9, perm, d2, 12)
	op := w.mapRef(d2, d1, 9, mapHost, 0x1000)
	if op.Status != GNTST_okay {
		t.Fatal(op.Status)
	}
	if v, e := w.ts.SetVersion(d1, 2); v != 1 || e != abi.EBUSY {
		t.Errorf("SetVersion with entry 9 mapped = %d, %v", v, e)
	}
	if st := w.unmap(d2, op.Handle, 0x1000, 0); st != GNTST_okay {
		t.Fatal(st)
	}
	// A reserved entry in use does not stop it.
	w.grant(d1, 2, perm, d2, 13)
	op = w.mapRef(d2, d1, 2, mapHost, 0x2000)
	w.setV2(d1)
	if s := w.status(d1, 2); s != rd|wr {
		t.Errorf("mapped reserved entry's status %#x", s)
	}
	if st := w.unmap(d2, op.Handle, 0x2000, 0); st != GNTST_okay {
		t.Fatal(st)
	}
	if s := w.status(d1, 2); s != 0 {
		t.Errorf("status %#x after unmap", s)
	}
	// Entries v1 cannot hold: ERANGE, nothing changes.
	w.grantV2(d1, 4, perm, d2, 0, 1<<32)
	if v, e := w.ts.SetVersion(d1, 1); v != 2 || e != abi.ERANGE {
		t.Errorf("SetVersion(1) with a 64-bit frame = %d, %v", v, e)
	}
	w.grantV2(d1, 4, gtfTransitive, d2, 3, 7)
	if v, e := w.ts.SetVersion(d1, 1); v != 2 || e != abi.ERANGE {
		t.Errorf("SetVersion(1) with a transitive entry = %d, %v", v, e)
	}
	w.grantV2(d1, 4, perm, d2, 0, 14)
	if v, e := w.ts.SetVersion(d1, 1); v != 1 || e != 0 {
		t.Errorf("SetVersion(1) = %d, %v", v, e)
	}
	// No memory for status frames: ENOMEM, still v1.
	w.pool.fail = true
	if v, e := w.ts.SetVersion(d1, 2); v != 1 || e != abi.ENOMEM {
		t.Errorf("SetVersion(2) without memory = %d, %v", v, e)
	}
	w.pool.fail = false
	// Destroy gives the status frames back too.
	w.setV2(d1)
	inUse := len(w.pool.inUse)
	if e := w.ts.Destroy(d1); e != 0 {
		t.Fatal(e)
	}
	if len(w.pool.inUse) != inUse-2 {
		t.Errorf("Destroy gave back %d frames, want 2 (grant + status)", inUse-len(w.pool.inUse))
	}
}

func TestMapCopyV2(t *testing.T) {
	w := newWorld(t, Config{MaxVersion: 2})
	w.setV2(d1)
	// full_page: map writable, status carries the bits, the header does
	// not change.
	w.grantV2(d1, 10, perm, d2, 0, 12)
	op := w.mapRef(d2, d1, 10, mapHost, 0x1000)
	if op.Status != GNTST_okay || op.DevBusAddr != uint64(mm.MFN(12).Addr()) {
		t.Fatalf("map: %+v", op)
	}
	if s := w.status(d1, 10); s != rd|wr {
		t.Errorf("status %#x after map", s)
	}
	if x, _ := w.entryV2(d1, 10); entryFlags(x) != perm {
		t.Errorf("header flags %#x changed", entryFlags(x))
	}
	if st := w.unmap(d2, op.Handle, 0x1000, 0); st != GNTST_okay {
		t.Fatal(st)
	}
	if s := w.status(d1, 10); s != 0 {
		t.Errorf("status %#x after unmap", s)
	}
	// Read-only grant, writable map: refused, no status left.
	w.grantV2(d1, 11, perm|ro, d2, 0, 12)
	if st := w.mapRef(d2, d1, 11, mapHost, 0x1000).Status; st != GNTST_general_error {
		t.Errorf("writable map of a read-only grant: %v", st)
	}
	if s := w.status(d1, 11); s != 0 {
		t.Errorf("status %#x after a refused map", s)
	}
	// Wrong grantee.
	if st := w.mapRef(d3, d1, 10, mapHost, 0x1000).Status; st != GNTST_general_error {
		t.Errorf("map by another domain: %v", st)
	}
	// sub_page: no mapping; a copy within [256, 384) only.
	const subPage = perm | gtfSubPage
	w.grantV2(d1, 12, subPage, d2, 256|128<<16, 13)
	if st := w.mapRef(d2, d1, 12, mapHost|mapReadonly, 0x1000).Status; st != GNTST_general_error {
		t.Errorf("map of a sub-page grant: %v", st)
	}
	w.mem.Write(mm.MFN(13).Addr()+300, []byte("sub-page"))
	cp := CopyOp{Source: CopyPtr{U: 12, Dom: d1, Offset: 300}, Dest: CopyPtr{U: 20, Dom: abi.DOMID_SELF, Offset: 8},
		Len: 8, Flags: copySourceGref}
	w.ts.Copy(d2, &cp)
	if cp.Status != GNTST_okay {
		t.Fatalf("copy within the sub-page: %v", cp.Status)
	}
	var got [8]byte
	w.mem.Read(mm.MFN(20).Addr()+8, got[:])
	if string(got[:]) != "sub-page" {
		t.Errorf("copied %q", got)
	}
	for _, c := range []struct{ off, n uint16 }{{255, 1}, {380, 5}, {0, 8}} {
		cp := CopyOp{Source: CopyPtr{U: 12, Dom: d1, Offset: c.off}, Dest: CopyPtr{U: 20, Dom: abi.DOMID_SELF},
			Len: c.n, Flags: copySourceGref}
		w.ts.Copy(d2, &cp)
		if cp.Status != GNTST_general_error {
			t.Errorf("copy [%d,+%d) outside [256,384): %v", c.off, c.n, cp.Status)
		}
	}
	if s := w.status(d1, 12); s != 0 {
		t.Errorf("status %#x after copies", s)
	}
	// Transitive: refused for copy, status cleared.
	w.grantV2(d1, 13, gtfTransitive, d2, uint32(d3), 5)
	cp = CopyOp{Source: CopyPtr{U: 13, Dom: d1}, Dest: CopyPtr{U: 20, Dom: abi.DOMID_SELF}, Len: 8, Flags: copySourceGref}
	w.ts.Copy(d2, &cp)
	if cp.Status != GNTST_general_error {
		t.Errorf("transitive copy: %v", cp.Status)
	}
	if s := w.status(d1, 13); s != 0 {
		t.Errorf("status %#x after a transitive copy", s)
	}
	if st := w.mapRef(d2, d1, 13, mapHost, 0x1000).Status; st != GNTST_general_error {
		t.Errorf("map of a transitive grant: %v", st)
	}
	// Copy into a full_page grant.
	cp = CopyOp{Source: CopyPtr{U: 20, Dom: abi.DOMID_SELF, Offset: 8}, Dest: CopyPtr{U: 10, Dom: d1, Offset: 4000},
		Len: 8, Flags: copyDestGref}
	w.ts.Copy(d2, &cp)
	if cp.Status != GNTST_okay {
		t.Errorf("copy to a full-page grant: %v", cp.Status)
	}
	if w.frames.held() != 0 || w.pin(d1, 10) != 0 || w.pin(d1, 12) != 0 {
		t.Errorf("references held %d, pins %#x %#x", w.frames.held(), w.pin(d1, 10), w.pin(d1, 12))
	}
}

func TestSwapV2(t *testing.T) {
	w := newWorld(t, Config{MaxVersion: 2})
	w.setV2(d1)
	w.grantV2(d1, 20, perm, d2, 0, 12)
	w.grantV2(d1, 21, perm|ro, d3, 0, 13)
	// Leave a status bit on 20 as a stale guest-visible value.
	w.ts.mu.RLock()
	tb := w.ts.tables[d1]
	tb.mu.Lock()
	w.ts.orStatus(tb, 20, rd)
	tb.mu.Unlock()
	w.ts.mu.RUnlock()
	op := SwapOp{RefA: 20, RefB: 21}
	w.ts.SwapGrantRef(d1, &op)
	if op.Status != GNTST_okay {
		t.Fatal(op.Status)
	}
	if x, y := w.entryV2(d1, 20); entryFlags(x) != perm|ro || entryDomID(x) != d3 || y != 13 {
		t.Errorf("entry 20 after swap: %#x %#x", x, y)
	}
	if x, y := w.entryV2(d1, 21); entryFlags(x) != perm || entryDomID(x) != d2 || y != 12 {
		t.Errorf("entry 21 after swap: %#x %#x", x, y)
	}
	if w.status(d1, 20) != 0 || w.status(d1, 21) != rd {
		t.Errorf("status after swap: %#x %#x", w.status(d1, 20), w.status(d1, 21))
	}
}

// FuzzV2 runs random operations on v2 tables (and version switches) while
// the guests write random v2 entries, never status bits, and checks: no
// panic; only GNTST_* statuses and Xen errnos; pins, references and PTEs
// agreeing with the maptracks; d3 untouched; and once every mapping is
// gone, no status bit (v2) or GTF_reading/GTF_writing (v1) left, no
// reference held, and every grant and status frame back in the pool
// after Destroy.
func FuzzV2(f *testing.F) {
	f.Add([]byte{0, 0, 10, 1, 2, 0, 0, 12, 1, 1, 0, 10, 3, 1, 0, 3, 0, 0, 0, 0, 1, 1, 10, 5, 1, 2, 0})
	f.Add([]byte{5, 0, 2, 0, 1, 0x30, 2, 1, 9, 6, 1, 4, 4, 0, 1, 3, 5, 1, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		w := newWorld(t, Config{MaxVersion: 2})
		r := &byteReader{b: data}
		d3Before := page(w, w.gframe(d3, 0))
		var handles []struct {
			d abi.DomID
			h Handle
		}
		for steps := 0; len(r.b) > 0 && steps < 200; steps++ {
			caller := []abi.DomID{d1, d2}[r.u8()%2]
			switch r.u8() % 8 {
			case 0: // the caller writes one of its own v2 (or v1) entries
				ref := Ref(r.u8() % 16)
				flags := r.u16() &^ (rd | wr)
				if r.u8()%4 != 0 {
					flags &= gtfTypeMask | gtfReadonly | gtfSubPage
				}
				to := r.domain()
				at4, frame := r.u32(), uint64(r.frame())
				if r.u8() == 255 {
					frame |= 1 << 40
				}
				w.ts.mu.RLock()
				tb := w.ts.tables[caller]
				tb.mu.Lock()
				v2 := tb.version == 2
				tb.mu.Unlock()
				w.ts.mu.RUnlock()
				if v2 {
					w.grantV2(caller, ref, flags, to, at4, frame)
				} else {
					w.grant(caller, ref, flags, to, uint32(frame))
				}
			case 1:
				op := MapOp{Flags: uint32(r.u8()) & (mapHost | mapDevice | mapReadonly), Ref: Ref(r.u8() % 20),
					Dom: r.domain(), HostAddr: r.hostAddr()}
				w.ts.MapGrantRef(caller, &op)
				if !op.Status.Valid() {
					t.Fatalf("map status %d", op.Status)
				}
				if op.Status == GNTST_okay {
					handles = append(handles, struct {
						d abi.DomID
						h Handle
					}{caller, op.Handle})
				}
			case 2:
				if len(handles) == 0 {
					continue
				}
				i := int(r.u8()) % len(handles)
				hd := handles[i]
				op := UnmapOp{Handle: hd.h}
				w.ts.mu.RLock()
				m := w.ts.tables[hd.d].maptrack[hd.h]
				w.ts.mu.RUnlock()
				for a := uint64(0); a < 8 && m.flags&mapHost != 0; a++ {
					op.HostAddr = host + a*mm.PageSize
					op.Status = 0
					if w.ts.UnmapGrantRef(hd.d, &op); op.Status == GNTST_okay {
						break
					}
				}
				if m.flags&mapDevice != 0 {
					op = UnmapOp{Handle: hd.h, DevBusAddr: 1}
					w.ts.UnmapGrantRef(hd.d, &op)
					w.ts.mu.RLock()
					mfn := w.ts.tables[m.dom].active[m.ref].mfn
					w.ts.mu.RUnlock()
					op = UnmapOp{Handle: hd.h, DevBusAddr: uint64(mfn.Addr())}
					w.ts.UnmapGrantRef(hd.d, &op)
				}
				handles = append(handles[:i], handles[i+1:]...)
			case 3:
				op := CopyOp{Flags: uint16(r.u8() % 4), Len: r.u16() % 4200}
				for _, p := range []*CopyPtr{&op.Source, &op.Dest} {
					p.Dom = r.domain()
					if r.u8()%2 == 0 {
						p.U = uint64(r.u8() % 20)
					} else {
						p.U = uint64(r.frame())
					}
					p.Offset = r.u16() % 4200
				}
				w.ts.Copy(caller, &op)
				if !op.Status.Valid() {
					t.Fatalf("copy status %d", op.Status)
				}
			case 4:
				v, e := w.ts.SetVersion(caller, uint32(r.u8()%4))
				if (v != 1 && v != 2) || (e != 0 && !e.GuestVisible()) {
					t.Fatalf("set_version %d, %v", v, e)
				}
			case 5:
				fs, st := w.ts.GetStatusFrames(caller, r.domain(), uint32(r.u8()%4), nil)
				if !st.Valid() || (st != GNTST_okay && len(fs) != 0) {
					t.Fatalf("get_status_frames %v, %d", st, len(fs))
				}
			case 6:
				sw := SwapOp{RefA: Ref(r.u8() % 20), RefB: Ref(r.u8() % 20)}
				w.ts.SwapGrantRef(caller, &sw)
				if !sw.Status.Valid() {
					t.Fatalf("swap status %d", sw.Status)
				}
			case 7:
				if _, st := w.ts.SetupTable(caller, abi.DOMID_SELF, uint32(r.u8()%10), nil); !st.Valid() {
					t.Fatalf("setup_table %v", st)
				}
			}
			checkInvariants(t, w, false)
		}
		if !bytes.Equal(page(w, w.gframe(d3, 0)), d3Before) {
			t.Fatal("d3's grant frame changed")
		}
		w.ts.Release(d1)
		w.ts.Release(d2)
		if n := w.frames.held(); n != 0 {
			t.Fatalf("%d references held after Release", n)
		}
		for _, d := range []abi.DomID{d1, d2} {
			w.ts.mu.RLock()
			tb := w.ts.tables[d]
			tb.mu.Lock()
			for ref := Ref(0); ref < Ref(tb.nrEntries()); ref++ {
				var bits uint16
				if tb.version == 2 {
					bits = w.ts.loadStatus(tb, ref)
				} else {
					bits = entryFlags(w.ts.loadEntry(tb, ref)) & (rd | wr)
				}
				if bits != 0 {
					t.Fatalf("d%d ref %d (v%d): bits %#x left", d, ref, tb.version, bits)
				}
			}
			tb.mu.Unlock()
			w.ts.mu.RUnlock()
		}
		for _, d := range []abi.DomID{d1, d2, d3} {
			if e := w.ts.Destroy(d); e != 0 {
				t.Fatalf("Destroy(d%d) = %v", d, e)
			}
		}
		if len(w.pool.inUse) != 0 {
			t.Fatalf("%d frames not back in the pool", len(w.pool.inUse))
		}
	})
}
