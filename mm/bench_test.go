package mm_test

import (
	"testing"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/mm"
)

// A Linux process's page-table traffic under PV, as a fork+exec+exit
// makes it: its tree (an L4, an L3, an L2 and procL1s L1 tables with
// procPages data pages each mapped read-write) is pinned, its writable
// entries are write-protected for copy-on-write by one batch of
// MMU_PT_UPDATE_PRESERVE_AD updates and made writable again by another,
// and the tree is unpinned. The figures are the Go half of what dom0's
// fork bench costs gohv (the exits and the guest's own work are not in
// them).
const (
	procL1s   = 6
	procPages = 64
)

type proc struct {
	l4, l3, l2 mm.MFN
	l1         [procL1s]mm.MFN
	wp, rw     []abi.MmuUpdate
}

// newProc builds the tree in d1's memory, unpinned, with the update
// batches; the data frames are d1's own (e.d1.data reused).
func newProc(e *env) *proc {
	s := e.d1.s
	p := &proc{l4: e.frame(s), l3: e.frame(s), l2: e.frame(s)}
	e.put(p.l4, 0, pte(p.l3, pP|pRW|pU))
	e.put(p.l3, 0, pte(p.l2, pP|pRW|pU))
	for i := range p.l1 {
		p.l1[i] = e.frame(s)
		e.put(p.l2, i, pte(p.l1[i], pP|pRW|pU))
		for j := 0; j < procPages; j++ {
			d := e.frame(s)
			v := pte(d, pP|pRW|pU|pA|pD)
			e.put(p.l1[i], j, v)
			ptr := entry(p.l1[i], j, abi.MMU_PT_UPDATE_PRESERVE_AD)
			p.wp = append(p.wp, abi.MmuUpdate{Ptr: ptr, Val: v &^ pRW})
			p.rw = append(p.rw, abi.MmuUpdate{Ptr: ptr, Val: v})
		}
	}
	return p
}

func BenchmarkProcessTables(b *testing.B) {
	e := newEnvSize(b, 2048)
	p := newProc(e)
	g := e.d1
	pin := []abi.MmuextOp{extOp(abi.MMUEXT_PIN_L4_TABLE, uint64(p.l4), 0)}
	unpin := []abi.MmuextOp{extOp(abi.MMUEXT_UNPIN_TABLE, uint64(p.l4), 0)}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := g.s.MMUExtOp(&g.v, pin, nil, e.f); err != 0 {
			b.Fatalf("pin: %v", err)
		}
		for _, batch := range [][]abi.MmuUpdate{p.wp, p.rw} {
			if _, err := g.s.MMUUpdate(batch, nil, e.f); err != 0 {
				b.Fatalf("mmu_update: %v", err)
			}
		}
		if _, err := g.s.MMUExtOp(&g.v, unpin, nil, e.f); err != 0 {
			b.Fatalf("unpin: %v", err)
		}
		e.f.Log = e.f.Log[:0]
	}
	b.StopTimer()
	e.audit()
}
