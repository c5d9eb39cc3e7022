package grant

import (
	"sync"
	"testing"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/mm"
)

// TestConcurrent runs maps, unmaps and copies from two domains against
// each other's grants while the granting guests keep toggling their
// entries, then checks that everything balances. Run with -race.
func TestConcurrent(t *testing.T) {
	w := newWorld(t, Config{})
	w.grant(d1, 8, perm, d2, 12)
	w.grant(d2, 8, perm, d1, 22)
	w.grant(d1, 9, perm, d3, 13)
	n := 300
	if testing.Short() {
		n = 50
	}
	var wg sync.WaitGroup
	mapper := func(ld, rd abi.DomID, base uint64) {
		defer wg.Done()
		for i := 0; i < n; i++ {
			fl := []uint32{mapHost, mapHost | mapReadonly, mapDevice, mapHost | mapDevice}[i%4]
			a := base + uint64(i%8)*mm.PageSize
			op := w.mapRef(ld, rd, 8, fl, a)
			if !op.Status.Valid() {
				t.Errorf("map status %d", op.Status)
			}
			if op.Status == GNTST_okay {
				if st := w.unmap(ld, op.Handle, a, op.DevBusAddr); st != GNTST_okay {
					t.Errorf("unmap: %v", st)
				}
			}
		}
	}
	copier := func(ld, rd abi.DomID, own mm.MFN) {
		defer wg.Done()
		for i := 0; i < n; i++ {
			op := CopyOp{Source: CopyPtr{U: uint64(own), Dom: abi.DOMID_SELF}, Dest: CopyPtr{U: 8, Dom: rd},
				Len: 64, Flags: copyDestGref}
			if i%2 == 1 {
				op.Source, op.Dest = op.Dest, op.Source
				op.Flags = copySourceGref
			}
			w.ts.Copy(ld, &op)
			if !op.Status.Valid() {
				t.Errorf("copy status %d", op.Status)
			}
		}
	}
	// The granting guest flips GTF_readonly on its entry in a loop.
	guest := func(addr mm.Maddr) {
		defer wg.Done()
		for i := 0; i < n; i++ {
			v, _ := w.mem.Load64(addr)
			nv := v ^ uint64(gtfReadonly)
			w.mem.CompareAndSwap64(addr, v, nv)
		}
	}
	wg.Add(6)
	go mapper(d2, d1, host)
	go mapper(d1, d2, host)
	go copier(d2, d1, 23)
	go copier(d1, d2, 13)
	go guest(w.gframe(d1, 0).Addr() + 8*EntrySize)
	go guest(w.gframe(d2, 0).Addr() + 8*EntrySize)
	wg.Wait()
	checkInvariants(t, w, true)
	if w.frames.held() != 0 || w.mapper.count() != 0 || w.pin(d1, 8) != 0 || w.pin(d2, 8) != 0 {
		t.Fatalf("leaked: %d refs, %d PTEs", w.frames.held(), w.mapper.count())
	}
	if f := w.flags(d1, 8) &^ ro; f != perm {
		t.Fatalf("d1 ref 8 flags %#x", f)
	}
	if f := w.flags(d2, 8) &^ ro; f != perm {
		t.Fatalf("d2 ref 8 flags %#x", f)
	}
}
