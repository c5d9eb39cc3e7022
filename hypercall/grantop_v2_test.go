package hypercall

import (
	"testing"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/grant"
	"github.com/gohv/gohv/mm"
	"github.com/gohv/gohv/mm/mmtest"
)

// TestGrantTableOpV2: set_version(2) and get_version through the
// hypercall layer, and get_status_frames: count 1 only, the frame list
// written as uint64_t, only the status field written back, its failures
// as statuses with the call returning 0.
func TestGrantTableOpV2(t *testing.T) {
	w := &grantWorld{world: newWorld(t), gmem: mmtest.NewMemory(grantRAM),
		frames: &ownerFrames{refs: map[mm.MFN]int{}}, maps: hostMaps{}}
	ts := grant.NewTables(w.gmem, w.frames, w.maps)
	pool := &framePool{next: grantPool, limit: grantRAM}
	for i := range 2 {
		if e := ts.Create(abi.DomID(i), grant.Config{Control: i == 0, MaxVersion: 2}, pool); e != 0 {
			t.Fatal(e)
		}
	}
	w.d = New(Config{Console: w.con, Domains: w.dir, Grants: ts})
	g1 := w.guests[1]
	op := func(cmd, arg, count uint64) Result {
		return w.call(1, abi.HYPERVISOR_grant_table_op, cmd, arg, count)
	}
	statusFrames := func(nr uint32, dom uint16, list uint64) {
		g1.put(bufVA, make([]byte, 16))
		g1.put32(bufVA, nr)
		g1.put(bufVA+4, []byte{byte(dom), byte(dom >> 8), 0x77, 0x77})
		g1.put64(bufVA+8, list)
	}
	// On v1 there are no status frames.
	statusFrames(1, abi.DOMID_SELF, bufVA+0x100)
	checkRet(t, "get_status_frames on v1", op(abi.GNTTABOP_get_status_frames, bufVA, 1), 0)
	if st := w.status16(1, bufVA+6); st != int16(grant.GNTST_general_error) {
		t.Fatalf("v1 status %d", st)
	}
	checkRet(t, "get_status_frames count 0", op(abi.GNTTABOP_get_status_frames, bufVA, 0), neg(abi.EINVAL))
	checkRet(t, "get_status_frames bad struct", op(abi.GNTTABOP_get_status_frames, badVA, 1), neg(abi.EFAULT))

	g1.put32(bufVA, 2)
	checkRet(t, "set_version 2", op(abi.GNTTABOP_set_version, bufVA, 1), 0)
	if g1.get32(bufVA) != 2 {
		t.Fatalf("version written back %d", g1.get32(bufVA))
	}
	g1.put(bufVA, []byte{0xf0, 0x7f, 0, 0, 9, 9, 9, 9})
	checkRet(t, "get_version", op(abi.GNTTABOP_get_version, bufVA, 1), 0)
	if g1.get32(bufVA+4) != 2 {
		t.Fatalf("get_version %d", g1.get32(bufVA+4))
	}

	g1.put64(bufVA+0x100, 0xdead)
	statusFrames(1, abi.DOMID_SELF, bufVA+0x100)
	checkRet(t, "get_status_frames", op(abi.GNTTABOP_get_status_frames, bufVA, 1), 0)
	if st := w.status16(1, bufVA+6); st != 0 {
		t.Fatalf("status %d", st)
	}
	if f := g1.get64(bufVA + 0x100); f < grantPool || f >= grantRAM {
		t.Fatalf("status frame %#x", f)
	}
	if g1.get32(bufVA) != 1 || g1.get64(bufVA+8) != bufVA+0x100 {
		t.Fatal("get_status_frames wrote more than its status")
	}
	statusFrames(2, abi.DOMID_SELF, bufVA+0x100)
	checkRet(t, "get_status_frames(2)", op(abi.GNTTABOP_get_status_frames, bufVA, 1), 0)
	if st := w.status16(1, bufVA+6); st != int16(grant.GNTST_general_error) {
		t.Fatalf("too many: status %d", st)
	}
	statusFrames(1, abi.DOMID_SELF, badVA)
	checkRet(t, "get_status_frames bad list", op(abi.GNTTABOP_get_status_frames, bufVA, 1), 0)
	if st := w.status16(1, bufVA+6); st != int16(grant.GNTST_bad_virt_addr) {
		t.Fatalf("bad list: status %d", st)
	}
	statusFrames(1, 0, bufVA+0x100)
	checkRet(t, "get_status_frames of dom0", op(abi.GNTTABOP_get_status_frames, bufVA, 1), 0)
	if st := w.status16(1, bufVA+6); st != int16(grant.GNTST_permission_denied) {
		t.Fatalf("foreign: status %d", st)
	}
	statusFrames(1, 77, bufVA+0x100)
	checkRet(t, "get_status_frames of no domain", op(abi.GNTTABOP_get_status_frames, bufVA, 1), 0)
	if st := w.status16(1, bufVA+6); st != int16(grant.GNTST_bad_domain) {
		t.Fatalf("no domain: status %d", st)
	}
}
