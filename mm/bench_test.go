package mm_test

import (
	"encoding/binary"
	"testing"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/mm"
	"github.com/gohv/gohv/mm/mmtest"
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

// tableMem is a memory with ReadTable (mm.TableReader), counting its
// calls.
type tableMem struct {
	*mmtest.Memory
	reads int
}

func (m *tableMem) ReadTable(ma mm.Maddr, t *[512]uint64) bool {
	m.reads++
	var b [mm.PageSize]byte
	if !m.Read(ma, b[:]) {
		return false
	}
	for i := range t {
		t[i] = binary.LittleEndian.Uint64(b[i*8:])
	}
	return true
}

// A frame table over a TableReader reads every table it validates and
// releases through it, with the same outcome: the process's tables pin,
// take the COW batches and unpin, and the audit holds after each step.
func TestTableReader(t *testing.T) {
	var tm *tableMem
	e := newEnvMem(t, 2048, func(m *mmtest.Memory) mm.MachineMemory { tm = &tableMem{Memory: m}; return tm })
	if tm.reads == 0 {
		t.Fatal("the domains' tables were pinned without ReadTable")
	}
	p := newProc(e)
	g := e.d1
	before := tm.reads
	if err := e.ext(g, nil, extOp(abi.MMUEXT_PIN_L4_TABLE, uint64(p.l4), 0)); err != 0 {
		t.Fatalf("pin: %v", err)
	}
	if got, want := tm.reads-before, 3+procL1s; got != want {
		t.Errorf("pin read %d tables through ReadTable, want %d", got, want)
	}
	e.audit()
	for _, batch := range [][]abi.MmuUpdate{p.wp, p.rw} {
		if err := e.upd(g, nil, batch...); err != 0 {
			t.Fatalf("mmu_update: %v", err)
		}
		e.audit()
	}
	if got := e.get(p.l1[0], 0); got&pRW == 0 {
		t.Errorf("L1 entry %#x not writable again", got)
	}
	if err := e.ext(g, nil, extOp(abi.MMUEXT_UNPIN_TABLE, uint64(p.l4), 0)); err != 0 {
		t.Fatalf("unpin: %v", err)
	}
	e.audit()
	if pi := e.page(p.l1[0]); pi.TypeCount != 0 {
		t.Errorf("L1 still has %d type references after the unpin", pi.TypeCount)
	}
}
