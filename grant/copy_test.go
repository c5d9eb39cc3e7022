package grant

import (
	"bytes"
	"testing"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/mm"
)

// fill writes a recognisable pattern into frame m.
func fill(w *world, m mm.MFN, seed byte) []byte {
	b := make([]byte, mm.PageSize)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	w.mem.Write(m.Addr(), b)
	return b
}

func page(w *world, m mm.MFN) []byte {
	b := make([]byte, mm.PageSize)
	w.mem.Read(m.Addr(), b)
	return b
}

func TestCopy(t *testing.T) {
	// d1 grants frame 12 to d2 as ref 8 (read-write) and frame 13 as ref 9
	// (read-only). d2 copies between those grants and its own frames.
	gref := func(r Ref) uint64 { return uint64(r) }
	tests := []struct {
		name         string
		op           CopyOp
		want         Status
		srcMFN       mm.MFN // where the bytes come from on success
		dstMFN       mm.MFN
		srcOff       uint16
		dstOff       uint16
		n            int
		noWriteFrame mm.MFN
	}{
		{name: "grant to own frame", op: CopyOp{Source: CopyPtr{U: gref(8), Dom: d1}, Dest: CopyPtr{U: 21, Dom: abi.DOMID_SELF},
			Len: mm.PageSize, Flags: copySourceGref}, want: GNTST_okay, srcMFN: 12, dstMFN: 21, n: mm.PageSize},
		{name: "own frame to grant", op: CopyOp{Source: CopyPtr{U: 21, Dom: abi.DOMID_SELF}, Dest: CopyPtr{U: gref(8), Dom: d1},
			Len: 100, Flags: copyDestGref}, want: GNTST_okay, srcMFN: 21, dstMFN: 12, n: 100},
		{name: "grant to grant", op: CopyOp{Source: CopyPtr{U: gref(9), Dom: d1, Offset: 10}, Dest: CopyPtr{U: gref(8), Dom: d1, Offset: 20},
			Len: 30, Flags: copySourceGref | copyDestGref}, want: GNTST_okay, srcMFN: 13, dstMFN: 12, srcOff: 10, dstOff: 20, n: 30},
		{name: "same grant both sides", op: CopyOp{Source: CopyPtr{U: gref(8), Dom: d1}, Dest: CopyPtr{U: gref(8), Dom: d1, Offset: 2048},
			Len: 2048, Flags: copySourceGref | copyDestGref}, want: GNTST_okay, srcMFN: 12, dstMFN: 12, dstOff: 2048, n: 2048},
		{name: "own to own", op: CopyOp{Source: CopyPtr{U: 22, Dom: abi.DOMID_SELF}, Dest: CopyPtr{U: 21, Dom: abi.DOMID_SELF},
			Len: 8}, want: GNTST_okay, srcMFN: 22, dstMFN: 21, n: 8},
		{name: "len 0", op: CopyOp{Source: CopyPtr{U: gref(8), Dom: d1, Offset: 4095}, Dest: CopyPtr{U: 21, Dom: abi.DOMID_SELF, Offset: 4095},
			Len: 0, Flags: copySourceGref}, want: GNTST_okay, srcMFN: 12, dstMFN: 21, n: 0},
		{name: "ends at page end", op: CopyOp{Source: CopyPtr{U: gref(8), Dom: d1, Offset: 4000}, Dest: CopyPtr{U: 21, Dom: abi.DOMID_SELF, Offset: 96},
			Len: 96, Flags: copySourceGref}, want: GNTST_okay, srcMFN: 12, dstMFN: 21, srcOff: 4000, dstOff: 96, n: 96},
		{name: "len 0 at offset 4096", op: CopyOp{Source: CopyPtr{U: gref(8), Dom: d1, Offset: 4096}, Dest: CopyPtr{U: 21, Dom: abi.DOMID_SELF},
			Len: 0, Flags: copySourceGref}, want: GNTST_okay, n: 0},

		{name: "source crosses page end", op: CopyOp{Source: CopyPtr{U: gref(8), Dom: d1, Offset: 4000}, Dest: CopyPtr{U: 21, Dom: abi.DOMID_SELF},
			Len: 97, Flags: copySourceGref}, want: GNTST_bad_copy_arg},
		{name: "dest crosses page end", op: CopyOp{Source: CopyPtr{U: gref(8), Dom: d1}, Dest: CopyPtr{U: 21, Dom: abi.DOMID_SELF, Offset: 1},
			Len: mm.PageSize, Flags: copySourceGref}, want: GNTST_bad_copy_arg},
		{name: "offset beyond page", op: CopyOp{Source: CopyPtr{U: gref(8), Dom: d1, Offset: 0xFFFF}, Dest: CopyPtr{U: 21, Dom: abi.DOMID_SELF},
			Len: 0xFFFF, Flags: copySourceGref}, want: GNTST_bad_copy_arg},
		{name: "frame of another domain by frame", op: CopyOp{Source: CopyPtr{U: 12, Dom: d1}, Dest: CopyPtr{U: 21, Dom: abi.DOMID_SELF},
			Len: 8}, want: GNTST_permission_denied},
		{name: "dest by frame naming own id", op: CopyOp{Source: CopyPtr{U: gref(8), Dom: d1}, Dest: CopyPtr{U: 21, Dom: d2},
			Len: 8, Flags: copySourceGref}, want: GNTST_permission_denied},
		{name: "unknown source domain", op: CopyOp{Source: CopyPtr{U: gref(8), Dom: 77}, Dest: CopyPtr{U: 21, Dom: abi.DOMID_SELF},
			Len: 8, Flags: copySourceGref}, want: GNTST_bad_domain},
		{name: "unknown dest domain", op: CopyOp{Source: CopyPtr{U: 21, Dom: abi.DOMID_SELF}, Dest: CopyPtr{U: gref(8), Dom: 77},
			Len: 8, Flags: copyDestGref}, want: GNTST_bad_domain},
		{name: "bad source gref", op: CopyOp{Source: CopyPtr{U: gref(EntriesPerFrame), Dom: d1}, Dest: CopyPtr{U: 21, Dom: abi.DOMID_SELF},
			Len: 8, Flags: copySourceGref}, want: GNTST_bad_gntref},
		{name: "bad gref wins over bad offset", op: CopyOp{Source: CopyPtr{U: gref(EntriesPerFrame), Dom: d1, Offset: 5000}, Dest: CopyPtr{U: 21, Dom: abi.DOMID_SELF},
			Len: 8, Flags: copySourceGref}, want: GNTST_bad_gntref},
		{name: "gref high bits ignored", op: CopyOp{Source: CopyPtr{U: 1<<32 | gref(8), Dom: d1}, Dest: CopyPtr{U: 21, Dom: abi.DOMID_SELF},
			Len: 8, Flags: copySourceGref}, want: GNTST_okay, srcMFN: 12, dstMFN: 21, n: 8},
		{name: "readonly grant as dest", op: CopyOp{Source: CopyPtr{U: 21, Dom: abi.DOMID_SELF}, Dest: CopyPtr{U: gref(9), Dom: d1},
			Len: 8, Flags: copyDestGref}, want: GNTST_general_error},
		{name: "ungranted ref", op: CopyOp{Source: CopyPtr{U: gref(10), Dom: d1}, Dest: CopyPtr{U: 21, Dom: abi.DOMID_SELF},
			Len: 8, Flags: copySourceGref}, want: GNTST_general_error},
		{name: "ref granted to d3", op: CopyOp{Source: CopyPtr{U: gref(11), Dom: d1}, Dest: CopyPtr{U: 21, Dom: abi.DOMID_SELF},
			Len: 8, Flags: copySourceGref}, want: GNTST_general_error},
		{name: "own frame not owned", op: CopyOp{Source: CopyPtr{U: 31, Dom: abi.DOMID_SELF}, Dest: CopyPtr{U: 21, Dom: abi.DOMID_SELF},
			Len: 8}, want: GNTST_bad_page},
		{name: "dest frame of a third domain", op: CopyOp{Source: CopyPtr{U: gref(8), Dom: d1}, Dest: CopyPtr{U: 31, Dom: abi.DOMID_SELF},
			Len: 8, Flags: copySourceGref}, want: GNTST_bad_page},
		{name: "dest frame not RAM", op: CopyOp{Source: CopyPtr{U: gref(8), Dom: d1}, Dest: CopyPtr{U: 1 << 40, Dom: abi.DOMID_SELF},
			Len: 8, Flags: copySourceGref}, want: GNTST_bad_page},
		{name: "dest own page table", op: CopyOp{Source: CopyPtr{U: gref(8), Dom: d1}, Dest: CopyPtr{U: 21, Dom: abi.DOMID_SELF},
			Len: 8, Flags: copySourceGref}, want: GNTST_general_error, noWriteFrame: 21},
		{name: "source page table is fine", op: CopyOp{Source: CopyPtr{U: 21, Dom: abi.DOMID_SELF}, Dest: CopyPtr{U: gref(8), Dom: d1},
			Len: 8, Flags: copyDestGref}, want: GNTST_okay, srcMFN: 21, dstMFN: 12, n: 8, noWriteFrame: 21},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, Config{})
			w.grant(d1, 8, perm, d2, 12)
			w.grant(d1, 9, perm|ro, d2, 13)
			w.grant(d1, 11, perm, d3, 14)
			if tc.noWriteFrame != 0 {
				w.frames.noWrite[tc.noWriteFrame] = true
			}
			before := map[mm.MFN][]byte{}
			for m := mm.MFN(1); m < poolFirst; m++ {
				before[m] = fill(w, m, byte(m))
			}
			op := tc.op
			w.ts.Copy(d2, &op)
			if op.Status != tc.want {
				t.Fatalf("status %v, want %v", op.Status, tc.want)
			}
			for m := mm.MFN(1); m < poolFirst; m++ {
				want := before[m]
				if tc.want == GNTST_okay && m == tc.dstMFN && tc.n > 0 {
					want = append([]byte(nil), want...)
					copy(want[tc.dstOff:], before[tc.srcMFN][tc.srcOff:int(tc.srcOff)+tc.n])
				}
				if !bytes.Equal(page(w, m), want) {
					t.Errorf("frame %#x changed wrongly", m)
				}
			}
			for ref, f := range map[Ref]uint16{8: perm, 9: perm | ro, 11: perm} {
				if got := w.flags(d1, ref); got != f {
					t.Errorf("ref %d flags %#x after copy, want %#x", ref, got, f)
				}
				if w.pin(d1, ref) != 0 {
					t.Errorf("ref %d still pinned", ref)
				}
			}
			if w.frames.held() != 0 {
				t.Errorf("%d frame references leaked", w.frames.held())
			}
		})
	}
}

// TestCopyKeepsMappingFlags: a copy through a grant that is also mapped
// leaves the mapping's flags alone.
func TestCopyKeepsMappingFlags(t *testing.T) {
	w := newWorld(t, Config{})
	w.grant(d1, 8, perm, d2, 12)
	m := w.mapRef(d2, d1, 8, mapHost|mapReadonly, host)
	if m.Status != GNTST_okay {
		t.Fatal(m.Status)
	}
	op := CopyOp{Source: CopyPtr{U: 21, Dom: abi.DOMID_SELF}, Dest: CopyPtr{U: 8, Dom: d1}, Len: 16, Flags: copyDestGref}
	w.ts.Copy(d2, &op)
	if op.Status != GNTST_okay || w.flags(d1, 8) != perm|rd || w.pin(d1, 8) != pinHostRead {
		t.Fatalf("%v flags %#x pin %#x", op.Status, w.flags(d1, 8), w.pin(d1, 8))
	}
}

// TestTwoDomains walks the split-driver path: d1 grants a page to d2 by
// writing the entry in its grant frame, d2 maps it and reads the data,
// copies 4 KiB into the grant with GNTTABOP_copy, and unmaps. The
// granter's flags are checked at every step.
func TestTwoDomains(t *testing.T) {
	w := newWorld(t, Config{})
	const dataMFN = 15
	data := fill(w, dataMFN, 0x40)

	// d1: find its grant frame (setup_table) and write entry 10.
	var st Status
	frames, st := w.ts.SetupTable(d1, abi.DOMID_SELF, 1, nil)
	if st != GNTST_okay {
		t.Fatal(st)
	}
	entry := frames[0].Addr() + 10*EntrySize
	var e [8]byte
	le.PutUint16(e[0:], perm)
	le.PutUint16(e[2:], uint16(d2))
	le.PutUint32(e[4:], dataMFN)
	w.mem.Write(entry, e[:])
	flagsNow := func() uint16 { v, _ := w.mem.Load64(entry); return uint16(v) }
	if flagsNow() != perm {
		t.Fatalf("granted: flags %#x", flagsNow())
	}

	// d2 maps it read-write at a kernel VA.
	var raw [SizeofMapOp]byte
	(&MapOp{HostAddr: host, Flags: mapHost, Ref: 10, Dom: d1}).Encode(raw[:])
	var mop MapOp
	if !mop.Decode(raw[:]) {
		t.Fatal("decode")
	}
	w.ts.MapGrantRef(d2, &mop)
	mop.EncodeOut(raw[:])
	if mop.Status != GNTST_okay || flagsNow() != perm|rd|wr {
		t.Fatalf("mapped: %v flags %#x", mop.Status, flagsNow())
	}
	pte := w.mapper.ptes[pteKey{d2, host}]
	if pte.mfn != dataMFN {
		t.Fatalf("PTE maps %#x", pte.mfn)
	}
	// d2 reads through its mapping: the PTE's frame holds d1's data.
	if !bytes.Equal(page(w, pte.mfn), data) {
		t.Fatal("mapped page does not hold the granted data")
	}

	// d2 copies a whole page of its own into the grant.
	const srcMFN = 23
	src := fill(w, srcMFN, 0x99)
	var craw [SizeofCopyOp]byte
	(&CopyOp{Source: CopyPtr{U: srcMFN, Dom: abi.DOMID_SELF}, Dest: CopyPtr{U: 10, Dom: d1},
		Len: mm.PageSize, Flags: copyDestGref}).Encode(craw[:])
	var cop CopyOp
	cop.Decode(craw[:])
	w.ts.Copy(d2, &cop)
	if cop.Status != GNTST_okay {
		t.Fatal(cop.Status)
	}
	if !bytes.Equal(page(w, dataMFN), src) {
		t.Fatal("copy did not land in the granted page")
	}
	if flagsNow() != perm|rd|wr {
		t.Fatalf("after copy: flags %#x (the mapping still holds them)", flagsNow())
	}

	// d2 unmaps; the grant is idle again and d1 can revoke it.
	var uraw [SizeofUnmapOp]byte
	(&UnmapOp{HostAddr: host, Handle: mop.Handle}).Encode(uraw[:])
	var uop UnmapOp
	uop.Decode(uraw[:])
	w.ts.UnmapGrantRef(d2, &uop)
	if uop.Status != GNTST_okay || flagsNow() != perm {
		t.Fatalf("unmapped: %v flags %#x", uop.Status, flagsNow())
	}
	if w.mapper.count() != 0 || w.frames.held() != 0 {
		t.Fatal("unmap left PTEs or references")
	}
	idle := uint64(dataMFN)<<32 | uint64(d2)<<16 | uint64(perm)
	if ok, _ := w.mem.CompareAndSwap64(entry, idle, 0); !ok {
		t.Fatal("d1 cannot revoke")
	}
	// A copy after revocation fails and touches nothing.
	before := page(w, dataMFN)
	cop.Status = 0
	w.ts.Copy(d2, &cop)
	if cop.Status != GNTST_general_error || !bytes.Equal(page(w, dataMFN), before) || flagsNow() != 0 {
		t.Fatalf("copy after revoke: %v", cop.Status)
	}
}
