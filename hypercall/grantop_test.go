package hypercall

import (
	"encoding/binary"
	"testing"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/grant"
	"github.com/gohv/gohv/mm"
	"github.com/gohv/gohv/mm/mmtest"
)

// Grant test machine: 64 frames; domain d owns MFNs 8+8d .. 15+8d; grant
// frames come from 32 up.
const (
	grantRAM  = 64
	grantPool = 32
)

type ownerFrames struct{ refs map[mm.MFN]int }

func ownerOf(m mm.MFN) (abi.DomID, bool) {
	if m < 8 || m >= grantPool {
		return 0, false
	}
	return abi.DomID((m - 8) / 8), true
}

func (f *ownerFrames) GetFrame(d abi.DomID, frame uint64, writable bool) (mm.MFN, grant.Status) {
	if o, ok := ownerOf(mm.MFN(frame)); !ok || o != d || frame >= grantRAM {
		return 0, grant.GNTST_bad_page
	}
	f.refs[mm.MFN(frame)]++
	return mm.MFN(frame), grant.GNTST_okay
}

func (f *ownerFrames) PutFrame(d abi.DomID, m mm.MFN, writable bool) { f.refs[m]-- }

type hostMaps map[uint64]mm.MFN

func (h hostMaps) MapGrant(d abi.DomID, addr uint64, m mm.MFN, flags uint32) grant.Status {
	if _, ok := h[addr]; ok {
		return grant.GNTST_general_error
	}
	h[addr] = m
	return grant.GNTST_okay
}

func (h hostMaps) UnmapGrant(d abi.DomID, addr uint64, m mm.MFN, flags uint32) grant.Status {
	if h[addr] != m {
		return grant.GNTST_general_error
	}
	delete(h, addr)
	return grant.GNTST_okay
}

type framePool struct{ next, limit mm.MFN }

func (p *framePool) AllocFrame() (mm.MFN, bool) {
	if p.next >= p.limit {
		return 0, false
	}
	p.next++
	return p.next - 1, true
}

func (p *framePool) FreeFrame(mm.MFN) {}

type grantWorld struct {
	*world
	gmem   *mmtest.Memory
	frames *ownerFrames
	maps   hostMaps
}

func newGrantWorld(t *testing.T) *grantWorld {
	w := &grantWorld{world: newWorld(t), gmem: mmtest.NewMemory(grantRAM),
		frames: &ownerFrames{refs: map[mm.MFN]int{}}, maps: hostMaps{}}
	ts := grant.NewTables(w.gmem, w.frames, w.maps)
	pool := &framePool{next: grantPool, limit: grantRAM}
	for i := range 2 {
		if e := ts.Create(abi.DomID(i), grant.Config{Control: i == 0}, pool); e != 0 {
			t.Fatal(e)
		}
	}
	w.d = New(Config{Console: w.con, Domains: w.dir, Grants: ts})
	return w
}

// setup runs setup_table for dom with nr frames, frame_list at list.
func (w *grantWorld) setup(dom int, target uint16, nr uint32, list uint64) Result {
	g := w.guests[dom]
	g.put(bufVA, make([]byte, 24))
	g.put(bufVA, []byte{byte(target), byte(target >> 8)})
	g.put32(bufVA+4, nr)
	g.put64(bufVA+16, list)
	return w.call(dom, abi.HYPERVISOR_grant_table_op, abi.GNTTABOP_setup_table, bufVA, 1)
}

func (w *grantWorld) status16(dom int, va uint64) int16 {
	return int16(binary.LittleEndian.Uint16(w.guests[dom].get(va, 2)))
}

func TestGrantTableOpTables(t *testing.T) {
	w := newGrantWorld(t)
	g1 := w.guests[1]
	checkRet(t, "setup_table", w.setup(1, abi.DOMID_SELF, 2, bufVA+0x100), 0)
	if st := w.status16(1, bufVA+8); st != 0 {
		t.Fatalf("status %d", st)
	}
	f0, f1 := g1.get64(bufVA+0x100), g1.get64(bufVA+0x108)
	if f0 < grantPool || f1 < grantPool || f0 == f1 {
		t.Fatalf("frames %d %d", f0, f1)
	}
	checkRet(t, "setup_table bad list", w.setup(1, abi.DOMID_SELF, 1, badVA), 0)
	if st := w.status16(1, bufVA+8); st != int16(grant.GNTST_bad_virt_addr) {
		t.Fatalf("bad list status %d", st)
	}
	checkRet(t, "setup_table too many", w.setup(1, abi.DOMID_SELF, 100000, bufVA+0x100), 0)
	if st := w.status16(1, bufVA+8); st != int16(grant.GNTST_general_error) {
		t.Fatalf("too many status %d", st)
	}
	checkRet(t, "setup_table of dom0 by domU", w.setup(1, 0, 1, bufVA+0x100), 0)
	if st := w.status16(1, bufVA+8); st != int16(grant.GNTST_permission_denied) {
		t.Fatalf("foreign status %d", st)
	}
	checkRet(t, "setup_table count 2", w.call(1, abi.HYPERVISOR_grant_table_op, abi.GNTTABOP_setup_table, bufVA, 2), neg(abi.EINVAL))
	checkRet(t, "setup_table bad struct", w.call(1, abi.HYPERVISOR_grant_table_op, abi.GNTTABOP_setup_table, badVA, 1), neg(abi.EFAULT))

	// query_size.
	g1.put(bufVA, []byte{0xf0, 0x7f, 0, 0})
	checkRet(t, "query_size", w.call(1, abi.HYPERVISOR_grant_table_op, abi.GNTTABOP_query_size, bufVA, 1), 0)
	if nr, max := g1.get32(bufVA+4), g1.get32(bufVA+8); nr != 2 || max != grant.DefaultMaxGrantFrames || w.status16(1, bufVA+12) != 0 {
		t.Fatalf("query_size %d %d", nr, max)
	}
	// Versions: 2 is refused with -ENOSYS and 1 written back.
	g1.put32(bufVA, 2)
	checkRet(t, "set_version 2", w.call(1, abi.HYPERVISOR_grant_table_op, abi.GNTTABOP_set_version, bufVA, 1), neg(abi.ENOSYS))
	if g1.get32(bufVA) != 1 {
		t.Fatalf("version written back %d", g1.get32(bufVA))
	}
	checkRet(t, "set_version 1", w.call(1, abi.HYPERVISOR_grant_table_op, abi.GNTTABOP_set_version, bufVA, 1), 0)
	g1.put(bufVA, []byte{0xf0, 0x7f, 0, 0, 9, 9, 9, 9})
	checkRet(t, "get_version", w.call(1, abi.HYPERVISOR_grant_table_op, abi.GNTTABOP_get_version, bufVA, 1), 0)
	if g1.get32(bufVA+4) != 1 {
		t.Fatalf("get_version %d", g1.get32(bufVA+4))
	}
	g1.put(bufVA, []byte{0, 0})
	checkRet(t, "get_version of dom0", w.call(1, abi.HYPERVISOR_grant_table_op, abi.GNTTABOP_get_version, bufVA, 1), neg(abi.EPERM))

	for _, tc := range []struct {
		cmd, count uint64
		want       uint64
	}{
		{abi.GNTTABOP_dump_table, 1, neg(abi.ENOSYS)},
		{abi.GNTTABOP_transfer, 1, neg(abi.ENOSYS)},
		{99, 1, neg(abi.ENOSYS)},
		{abi.GNTTABOP_copy, 1 << 31, neg(abi.EINVAL)},
		{abi.GNTTABOP_copy | 1<<12, 1, neg(abi.EINVAL)},
		{abi.GNTTABOP_copy, 0, 0},
		{abi.GNTTABOP_copy, 1, neg(abi.EFAULT)}, // at badVA
	} {
		checkRet(t, "grant_table_op", w.call(1, abi.HYPERVISOR_grant_table_op, tc.cmd, badVA, tc.count), tc.want)
	}
	// Without grant tables at all.
	w.d = New(Config{})
	checkRet(t, "no tables", w.call(1, abi.HYPERVISOR_grant_table_op, abi.GNTTABOP_query_size, bufVA, 1), neg(abi.ENOSYS))
}

// grantRef writes entry ref of domain dom's first grant frame, as the
// granting guest does through its mapping.
func (w *grantWorld) grantRef(frame uint64, ref int, flags uint16, to abi.DomID, mfn uint32) {
	var b [8]byte
	binary.LittleEndian.PutUint16(b[0:], flags)
	binary.LittleEndian.PutUint16(b[2:], uint16(to))
	binary.LittleEndian.PutUint32(b[4:], mfn)
	w.gmem.Write(mm.MFN(frame).Addr()+mm.Maddr(ref*8), b[:])
}

func TestGrantTableOpCopyAndMap(t *testing.T) {
	w := newGrantWorld(t)
	g0 := w.guests[0]
	checkRet(t, "setup d1", w.setup(1, abi.DOMID_SELF, 1, bufVA+0x100), 0)
	gf := w.guests[1].get64(bufVA + 0x100)
	const src, dst = 17, 9 // d1's frame, dom0's frame
	w.gmem.Write(mm.MFN(src).Addr(), []byte("granted bytes!!!"))
	w.grantRef(gf, 3, abi.GTF_permit_access, 0, src)

	// Two copies; preempted before the second.
	putCopy := func(at uint64, ref uint32, off uint16) {
		var b [grant.SizeofCopyOp]byte
		op := grant.CopyOp{Source: grant.CopyPtr{U: uint64(ref), Dom: 1},
			Dest: grant.CopyPtr{U: dst, Dom: abi.DOMID_SELF, Offset: off}, Len: 16, Flags: abi.GNTCOPY_source_gref}
		op.Encode(b[:])
		g0.put(at, b[:])
	}
	putCopy(bufVA, 3, 0)
	putCopy(bufVA+grant.SizeofCopyOp, 3, 100)
	w.vcpus[0].preemptAt = map[int]bool{0: true}
	r := w.call(0, abi.HYPERVISOR_grant_table_op, abi.GNTTABOP_copy, bufVA, 2)
	if !r.Continue || *r.Args != (Args{abi.GNTTABOP_copy, bufVA + grant.SizeofCopyOp, 1}) {
		t.Fatalf("continuation %+v", r)
	}
	checkRet(t, "copy piece 2", w.d.Dispatch(w.callers[0], abi.HYPERVISOR_grant_table_op, r.Args), 0)
	for i, off := range []uint64{0, 100} {
		if st := w.status16(0, bufVA+uint64(i)*grant.SizeofCopyOp+36); st != 0 {
			t.Fatalf("copy %d status %d", i, st)
		}
		var got [16]byte
		w.gmem.Read(mm.MFN(dst).Addr()+mm.Maddr(off), got[:])
		if string(got[:]) != "granted bytes!!!" {
			t.Fatalf("copy %d wrote %q", i, got)
		}
	}
	// A bad ref is a per-op status, not an error of the call.
	putCopy(bufVA, 4000, 0)
	checkRet(t, "copy bad ref", w.call(0, abi.HYPERVISOR_grant_table_op, abi.GNTTABOP_copy, bufVA, 1), 0)
	if st := w.status16(0, bufVA+36); st != int16(grant.GNTST_bad_gntref) {
		t.Fatalf("bad ref status %d", st)
	}

	// Map and unmap.
	var mb [grant.SizeofMapOp]byte
	(&grant.MapOp{HostAddr: 0x5000, Flags: abi.GNTMAP_host_map, Ref: 3, Dom: 1}).Encode(mb[:])
	g0.put(bufVA, mb[:])
	checkRet(t, "map", w.call(0, abi.HYPERVISOR_grant_table_op, abi.GNTTABOP_map_grant_ref, bufVA, 1), 0)
	var m grant.MapOp
	m.Decode(g0.get(bufVA, grant.SizeofMapOp))
	if m.Status != grant.GNTST_okay || w.maps[0x5000] != src || m.HostAddr != 0x5000 {
		t.Fatalf("map: %+v, maps %v", m, w.maps)
	}
	var ub [grant.SizeofUnmapOp]byte
	(&grant.UnmapOp{HostAddr: 0x5000, Handle: m.Handle}).Encode(ub[:])
	g0.put(bufVA, ub[:])
	checkRet(t, "unmap", w.call(0, abi.HYPERVISOR_grant_table_op, abi.GNTTABOP_unmap_grant_ref, bufVA, 1), 0)
	if st := w.status16(0, bufVA+20); st != 0 || len(w.maps) != 0 {
		t.Fatalf("unmap status %d maps %v", st, w.maps)
	}
	// Swap of two refs of dom1's own table.
	g1 := w.guests[1]
	g1.put32(bufVA, 3)
	g1.put32(bufVA+4, 5)
	checkRet(t, "swap", w.call(1, abi.HYPERVISOR_grant_table_op, abi.GNTTABOP_swap_grant_ref, bufVA, 1), 0)
	if st := w.status16(1, bufVA+8); st != 0 {
		t.Fatalf("swap status %d", st)
	}
	// Results that cannot be written back are -EFAULT.
	g0.readOnly[roVA] = false
	g0.put(roVA, mb[:])
	g0.readOnly[roVA] = true
	checkRet(t, "map into read-only", w.call(0, abi.HYPERVISOR_grant_table_op, abi.GNTTABOP_map_grant_ref, roVA, 1), neg(abi.EFAULT))
	for ref, n := range w.frames.refs {
		if n < 0 {
			t.Fatalf("frame %d refs %d", ref, n)
		}
	}
}
