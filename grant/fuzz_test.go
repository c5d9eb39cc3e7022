package grant

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/mm"
)

// byteReader hands out fuzz bytes, zeros once exhausted.
type byteReader struct{ b []byte }

func (r *byteReader) u8() byte {
	if len(r.b) == 0 {
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *byteReader) u16() uint16 { return uint16(r.u8()) | uint16(r.u8())<<8 }
func (r *byteReader) u32() uint32 { return uint32(r.u16()) | uint32(r.u16())<<16 }
func (r *byteReader) u64() uint64 { return uint64(r.u32()) | uint64(r.u32())<<32 }

// domain picks a domain id, mostly among the two parties.
func (r *byteReader) domain() abi.DomID {
	switch v := r.u8(); v % 8 {
	case 0, 1, 2:
		return d1
	case 3, 4, 5:
		return d2
	case 6:
		return []abi.DomID{d3, abi.DOMID_SELF, abi.DOMID_IO, 0, 99}[int(v/8)%5]
	default:
		return abi.DomID(r.u16())
	}
}

// ref picks a grant reference, mostly small ones in use.
func (r *byteReader) ref() Ref {
	v := r.u8()
	switch {
	case v < 200:
		return Ref(v % 12)
	case v < 250:
		return Ref(EntriesPerFrame - 2 + uint32(v%4))
	default:
		return Ref(r.u32())
	}
}

// frame picks a frame number across all owners: d1, d2, d3, the grant
// frame pool, and beyond RAM.
func (r *byteReader) frame() uint32 {
	v := r.u8()
	if v == 255 {
		return r.u32()
	}
	return uint32(v) % 72
}

func (r *byteReader) hostAddr() uint64 {
	v := r.u8()
	switch {
	case v < 240:
		return host + uint64(v%8)*mm.PageSize
	case v < 248:
		return 0x20000 + uint64(v%8) // contains_pte style, some misaligned
	default:
		return r.u64()
	}
}

// FuzzOps runs random grant-table operations and random guest writes to
// grant entries across d1 and d2, with d3 as a bystander, and checks:
// no panic; only GNTST_* statuses and Xen errno values; d3's memory and
// grant table untouched; pin counts, page references and host PTEs always
// agreeing with the maptracks; and after Release nothing held, with no
// GTF_reading/GTF_writing left that the guest did not write itself.
func FuzzOps(f *testing.F) {
	f.Add([]byte{})
	// grant d1 ref 8 -> d2 frame 12, map it rw, copy, unmap.
	f.Add([]byte{
		0, 0, 8, 1, 0, 2, 0, 12, 0, 0, 0,
		1, 3, 0, 8, 2, 0,
		3, 3, 0, 8, 0, 21, 0, 0, 0, 0, 0, 0, 0, 16, 0, 2,
		2, 3, 0, 0, 0, 0, 0,
	})
	f.Add(bytes.Repeat([]byte{1, 3, 0, 8, 3, 0}, 20))
	f.Fuzz(func(t *testing.T, data []byte) {
		w := newWorld(t, Config{MaxGrantFrames: 4, MaxMaptrackFrames: 1})
		r := &byteReader{b: data}

		// d3, the bystander: its own frames and its grant frame.
		d3Frames := map[mm.MFN][]byte{}
		first, last := ownedBy(d3)
		for m := first; m <= last; m++ {
			d3Frames[m] = fill(w, m, byte(m)*3)
		}
		d3Grant := w.gframe(d3, 0)
		d3Frames[d3Grant] = page(w, d3Grant)

		// shadow: the last entry value each guest wrote, per (domain, ref).
		type key struct {
			d   abi.DomID
			ref Ref
		}
		shadow := map[key]uint64{}
		var handles []Handle
		released := false

		for steps := 0; len(r.b) > 0 && steps < 400; steps++ {
			switch r.u8() % 10 {
			case 0, 9: // a guest writes one of its grant entries
				d := []abi.DomID{d1, d2}[r.u8()%2]
				ref := r.ref() % (2 * EntriesPerFrame)
				nr, _, _ := w.ts.QuerySize(d, abi.DOMID_SELF)
				if uint32(ref) >= nr*EntriesPerFrame {
					continue
				}
				flags := r.u16()
				if r.u8()%4 != 0 {
					flags &= gtfTypeMask | gtfReadonly | gtfSubPage
				}
				v := uint64(flags) | uint64(r.domain())<<16 | uint64(r.frame())<<32
				fs, _ := w.ts.SetupTable(d, abi.DOMID_SELF, nr, nil)
				var b [8]byte
				binary.LittleEndian.PutUint64(b[:], v)
				w.mem.Write(fs[ref/EntriesPerFrame].Addr()+mm.Maddr(ref%EntriesPerFrame)*8, b[:])
				shadow[key{d, ref}] = v
			case 1:
				op := MapOp{Flags: uint32(r.u8()), Ref: r.ref(), Dom: r.domain(), HostAddr: r.hostAddr()}
				caller := []abi.DomID{d1, d2}[r.u8()%2]
				if op.Flags&0x80 != 0 {
					op.Flags |= uint32(r.u16()) << 16
				}
				w.ts.MapGrantRef(caller, &op)
				if !op.Status.Valid() {
					t.Fatalf("map status %d", op.Status)
				}
				if op.Status == GNTST_okay {
					handles = append(handles, op.Handle)
				}
			case 2:
				caller := []abi.DomID{d1, d2}[r.u8()%2]
				op := UnmapOp{HostAddr: r.hostAddr()}
				if v := r.u8(); v < 200 && len(handles) > 0 {
					op.Handle = handles[int(v)%len(handles)]
				} else {
					op.Handle = Handle(r.u32())
				}
				switch r.u8() % 4 {
				case 0:
					op.HostAddr = 0
				case 1:
					op.DevBusAddr = uint64(mm.MFN(r.frame()).Addr())
				case 2:
					op.DevBusAddr = r.u64()
				}
				w.ts.UnmapGrantRef(caller, &op)
				if !op.Status.Valid() {
					t.Fatalf("unmap status %d", op.Status)
				}
			case 3:
				caller := []abi.DomID{d1, d2}[r.u8()%2]
				op := CopyOp{Flags: uint16(r.u8() % 4), Len: r.u16() % 4200}
				for _, p := range []*CopyPtr{&op.Source, &op.Dest} {
					p.Dom = r.domain()
					if r.u8()%2 == 0 {
						p.U = uint64(r.ref())
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
				caller := []abi.DomID{d1, d2}[r.u8()%2]
				nr := uint32(r.u8() % 7)
				fs, st := w.ts.SetupTable(caller, r.domain(), nr, nil)
				if !st.Valid() || (st == GNTST_okay && uint32(len(fs)) != nr) || (st != GNTST_okay && len(fs) != 0) {
					t.Fatalf("setup_table %v, %d frames", st, len(fs))
				}
			case 5:
				caller := []abi.DomID{d1, d2}[r.u8()%2]
				dom := r.domain()
				if _, _, st := w.ts.QuerySize(caller, dom); !st.Valid() {
					t.Fatalf("query_size status %d", st)
				}
				if _, e := w.ts.GetVersion(caller, dom); e != 0 && !e.GuestVisible() {
					t.Fatalf("get_version errno %d", e)
				}
				if v, e := w.ts.SetVersion(caller, r.u32()%4); v != 1 || (e != 0 && !e.GuestVisible()) {
					t.Fatalf("set_version %d, %d", v, e)
				}
				sw := SwapOp{RefA: r.ref(), RefB: r.ref()}
				w.ts.SwapGrantRef(caller, &sw)
				if !sw.Status.Valid() {
					t.Fatalf("swap status %d", sw.Status)
				}
				if sw.Status == GNTST_okay {
					ka, kb := key{caller, sw.RefA}, key{caller, sw.RefB}
					va, vb := shadow[ka], shadow[kb]
					shadow[ka], shadow[kb] = vb, va
				}
				if _, e := w.ts.CheckCall(caller, r.u32(), r.u32()); e != 0 && !e.GuestVisible() {
					t.Fatalf("CheckCall errno %d", e)
				}
			case 6:
				if r.u8() < 16 {
					w.ts.Release([]abi.DomID{d1, d2}[r.u8()%2])
					released = true
				}
			default: // 7, 8: a host mapping of a handle in use, unmapped exactly
				caller := []abi.DomID{d1, d2}[r.u8()%2]
				for a := uint64(0); a < 8; a++ {
					op := UnmapOp{HostAddr: host + a*mm.PageSize, Handle: Handle(r.u8() % 8)}
					w.ts.UnmapGrantRef(caller, &op)
					if !op.Status.Valid() {
						t.Fatalf("unmap status %d", op.Status)
					}
				}
			}
			if steps%16 == 15 {
				checkInvariants(t, w, !released)
			}
		}

		for m, want := range d3Frames {
			if !bytes.Equal(page(w, m), want) {
				t.Fatalf("d3's frame %#x was written", m)
			}
		}
		if nr, _, _ := w.ts.QuerySize(d3, abi.DOMID_SELF); nr != 1 {
			t.Fatalf("d3's table grew to %d frames", nr)
		}
		w.ts.mu.RLock()
		for _, m := range w.ts.tables[d3].maptrack {
			if m.flags != 0 {
				t.Fatal("d3 holds a mapping it never asked for")
			}
		}
		w.ts.mu.RUnlock()
		w.ts.Release(d1)
		w.ts.Release(d2)
		checkInvariants(t, w, false)
		if n := w.frames.held(); n != 0 {
			t.Fatalf("%d page references held after Release", n)
		}
		for k, v := range shadow {
			if got := w.flags(k.d, k.ref); got&(rd|wr)&^uint16(v) != 0 {
				t.Fatalf("d%d ref %d: flags %#x keep bits the guest (%#x) did not set", k.d, k.ref, got, uint16(v))
			}
		}
		for _, d := range []abi.DomID{d1, d2, d3} {
			if e := w.ts.Destroy(d); e != 0 {
				t.Fatalf("Destroy(d%d) = %v", d, e)
			}
		}
	})
}

// checkInvariants recomputes every pin count, page reference and host PTE
// from the maptracks and compares.
// exactPTEs is false once Release ran: Release leaves the dying domain's
// PTEs to mm, so the fake MMU still has them.
func checkInvariants(t *testing.T, w *world, exactPTEs bool) {
	t.Helper()
	w.ts.mu.RLock()
	defer w.ts.mu.RUnlock()
	for _, tb := range w.ts.tables {
		if tb == nil {
			continue
		}
		tb.mu.Lock()
	}
	defer func() {
		for _, tb := range w.ts.tables {
			if tb == nil {
				continue
			}
			tb.mu.Unlock()
		}
	}()
	type key struct {
		d   abi.DomID
		ref Ref
	}
	pins := map[key]uint32{}
	refs, hostMaps := 0, 0
	for _, lt := range w.ts.tables {
		if lt == nil {
			continue
		}
		for h, m := range lt.maptrack {
			if m.flags == 0 {
				continue
			}
			if m.flags&(mapHost|mapDevice) == 0 {
				t.Fatalf("d%d handle %d live without a kind: %#x", lt.dom, h, m.flags)
			}
			pins[key{m.dom, m.ref}] += pinIncs(m.flags)
			per := 1
			if m.flags&mapReadonly == 0 {
				per = 2
			}
			refs += kinds(m.flags) * per
			if m.flags&mapHost != 0 {
				hostMaps++
			}
		}
	}
	for _, rt := range w.ts.tables {
		if rt == nil {
			continue
		}
		for ref, a := range rt.active {
			if want := pins[key{rt.dom, Ref(ref)}]; a.pin != want {
				t.Fatalf("d%d ref %d pin %#x, maptracks say %#x", rt.dom, ref, a.pin, want)
			}
		}
	}
	if got := w.frames.held(); got != refs {
		t.Fatalf("%d page references held, maptracks say %d", got, refs)
	}
	if got := w.mapper.count(); got < hostMaps || (exactPTEs && got != hostMaps) {
		t.Fatalf("%d host PTEs, maptracks say %d", got, hostMaps)
	}
}
