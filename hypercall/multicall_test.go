package hypercall

import (
	"testing"

	"github.com/gohv/gohv/abi"
)

// putEntries writes multicall entries at va: each is op then up to five
// args; result is set to a canary.
func putEntries(g *mapGuest, va uint64, entries ...[]uint64) {
	for i, e := range entries {
		at := va + uint64(i)*mcEntrySize
		g.put64(at, e[0])
		g.put64(at+mcResultOff, 0xcafe)
		for j := range 6 {
			v := uint64(0)
			if j+1 < len(e) {
				v = e[j+1]
			}
			g.put64(at+mcArgsOff+8*uint64(j), v)
		}
	}
}

func result(g *mapGuest, list uint64, i int) uint64 {
	return g.get64(list + uint64(i)*mcEntrySize + mcResultOff)
}

const listVA = bufVA + 0x1000

func TestMulticall(t *testing.T) {
	w := newWorld(t)
	g := w.guests[1]
	g.put32(bufVA, 9) // a bad shutdown reason
	g.put(bufVA+0x100, []byte("hi\n"))
	putEntries(g, listVA,
		[]uint64{abi.HYPERVISOR_xen_version, abi.XENVER_version},
		[]uint64{abi.HYPERVISOR_sched_op, abi.SCHEDOP_shutdown, bufVA}, // fails: -EINVAL
		[]uint64{11}, // -ENOSYS
		[]uint64{abi.HYPERVISOR_console_io, abi.CONSOLEIO_write, 3, bufVA + 0x100},
		[]uint64{abi.HYPERVISOR_xen_version, abi.XENVER_extraversion, badVA}, // -EFAULT
		[]uint64{abi.HYPERVISOR_vm_assist, abi.VMASST_CMD_enable, abi.VMASST_TYPE_pae_extended_cr3},
	)
	checkRet(t, "multicall", w.call(1, abi.HYPERVISOR_multicall, listVA, 6), 0)
	want := []uint64{0x00040011, neg(abi.EINVAL), neg(abi.ENOSYS), 0, neg(abi.EFAULT), 0}
	for i, v := range want {
		if got := result(g, listVA, i); got != v {
			t.Errorf("entry %d result %#x, want %#x", i, got, v)
		}
	}
	if len(w.con.lines) != 1 || w.con.lines[0] != "hi" || !w.doms[1].state.VMAssist(abi.VMASST_TYPE_pae_extended_cr3) {
		t.Errorf("entries after the failures did not run: %q", w.con.lines)
	}
	// Only result fields were written.
	for a := range g.writes {
		if off := (a - listVA) % mcEntrySize; a < listVA || off < mcResultOff || off >= mcArgsOff {
			t.Fatalf("multicall wrote %#x", a)
		}
	}

	checkRet(t, "empty", w.call(1, abi.HYPERVISOR_multicall, badVA, 0), 0)
	checkRet(t, "bad list", w.call(1, abi.HYPERVISOR_multicall, badVA, 1), neg(abi.EFAULT))
	checkRet(t, "wrapping list", w.call(1, abi.HYPERVISOR_multicall, ^uint64(0)-64, 2), neg(abi.EFAULT))
	// The list runs off the mapped pages after two entries.
	end := uint64(bufEnd - 2*mcEntrySize)
	putEntries(g, end, []uint64{abi.HYPERVISOR_vm_assist, 0, 2}, []uint64{abi.HYPERVISOR_vm_assist, 0, 4})
	checkRet(t, "list runs out", w.call(1, abi.HYPERVISOR_multicall, end, 3), neg(abi.EFAULT))
	if result(g, end, 1) != 0 || !w.doms[1].state.VMAssist(4) {
		t.Fatal("entries before the fault did not run")
	}
	// A result that cannot be stored is -EFAULT.
	g.readOnly[roVA] = false
	putEntries(g, roVA, []uint64{abi.HYPERVISOR_vm_assist, 0, 5}, []uint64{abi.HYPERVISOR_vm_assist, 0, 32})
	g.readOnly[roVA] = true
	checkRet(t, "read-only list", w.call(1, abi.HYPERVISOR_multicall, roVA, 2), neg(abi.EFAULT))
	if w.doms[1].state.VMAssist(32) {
		t.Fatal("ran past an unstorable result")
	}
}

func TestMulticallNested(t *testing.T) {
	w := newWorld(t)
	g := w.guests[1]
	inner := uint64(listVA + 0x400)
	putEntries(g, inner, []uint64{abi.HYPERVISOR_vm_assist, 0, 2})
	putEntries(g, listVA,
		[]uint64{abi.HYPERVISOR_multicall, inner, 1},
		[]uint64{abi.HYPERVISOR_xen_version, 0},
	)
	checkRet(t, "outer", w.call(1, abi.HYPERVISOR_multicall, listVA, 2), 0)
	if r := result(g, listVA, 0); r != neg(abi.EINVAL) {
		t.Fatalf("nested multicall result %#x", r)
	}
	if result(g, inner, 0) != 0xcafe || w.doms[1].state.VMAssist(2) {
		t.Fatal("nested multicall ran")
	}
	if result(g, listVA, 1) != 0x00040011 {
		t.Fatal("entry after nested multicall did not run")
	}
	// The flag is cleared afterwards.
	checkRet(t, "again", w.call(1, abi.HYPERVISOR_multicall, inner, 1), 0)
}

func TestMulticallIretEndsBatch(t *testing.T) {
	for _, registered := range []bool{false, true} {
		w := newWorld(t)
		g := w.guests[1]
		want := neg(abi.ENOSYS)
		if registered {
			// hv's iret restores the guest's RAX and returns it.
			w.d.Register(abi.HYPERVISOR_iret, func(d *Dispatcher, c *Caller, a *Args) Result { return Value(0x1234) })
			want = 0x1234
		}
		putEntries(g, listVA,
			[]uint64{abi.HYPERVISOR_vm_assist, 0, 2},
			[]uint64{abi.HYPERVISOR_iret},
			[]uint64{abi.HYPERVISOR_vm_assist, 0, 3},
		)
		checkRet(t, "multicall with iret", w.call(1, abi.HYPERVISOR_multicall, listVA, 3), want)
		if result(g, listVA, 1) != want {
			t.Errorf("iret result %#x", result(g, listVA, 1))
		}
		if result(g, listVA, 2) != 0xcafe || w.doms[1].state.VMAssist(3) {
			t.Errorf("entry after iret ran (registered %v)", registered)
		}
		if !w.doms[1].state.VMAssist(2) {
			t.Errorf("entry before iret did not run")
		}
	}
}

// TestMulticallContinuation preempts a multicall between entries and
// inside a sub-call, and runs the continuations to the end as the guest
// would by re-executing its SYSCALL.
func TestMulticallContinuation(t *testing.T) {
	w := newWorld(t)
	g := w.guests[0]
	msg := make([]byte, 300)
	for i := range msg {
		msg[i] = 'a' + byte(i%26)
	}
	g.put(bufVA, msg)
	putEntries(g, listVA,
		[]uint64{abi.HYPERVISOR_vm_assist, 0, 2},
		[]uint64{abi.HYPERVISOR_console_io, abi.CONSOLEIO_write, uint64(len(msg)), bufVA},
		[]uint64{abi.HYPERVISOR_vm_assist, 0, 3},
		[]uint64{abi.HYPERVISOR_xen_version, 0},
	)
	// Preempt answers, in call order: before entry 1 no; inside the
	// console write (before its 2nd chunk) yes; then, on the re-run of
	// entry 1 (173 bytes left: two chunks), inside it no; before entry 2
	// yes; then never.
	w.vcpus[0].preemptAt = map[int]bool{1: true, 3: true}
	regs := Regs{RAX: abi.HYPERVISOR_multicall, RDI: listVA, RSI: 4, RIP: 0x3002}
	var pieces int
	for {
		a := regs.Args()
		r := w.d.Dispatch(w.callers[0], regs.RAX, &a)
		regs.Apply(abi.HYPERVISOR_multicall, r)
		if !r.Continue {
			break
		}
		pieces++
		if regs.RIP != 0x3000 {
			t.Fatalf("RIP %#x", regs.RIP)
		}
		regs.RIP += 2 // the guest executes the SYSCALL again
		if pieces > 10 {
			t.Fatal("no progress")
		}
		switch pieces {
		case 1: // stopped inside entry 1, which now holds the rest of the write
			at := uint64(listVA + mcEntrySize)
			if regs.RDI != at || regs.RSI != 3 {
				t.Fatalf("piece 1 continues at %#x count %d", regs.RDI, regs.RSI)
			}
			if g.get64(at+mcArgsOff+8) != uint64(len(msg)-consoleChunk) || g.get64(at+mcArgsOff+16) != bufVA+consoleChunk {
				t.Fatalf("entry 1 args not rewritten: %d %#x", g.get64(at+mcArgsOff+8), g.get64(at+mcArgsOff+16))
			}
		case 2: // stopped before entry 2
			if regs.RDI != listVA+2*mcEntrySize || regs.RSI != 2 {
				t.Fatalf("piece 2 continues at %#x count %d", regs.RDI, regs.RSI)
			}
		}
	}
	if pieces != 2 || regs.RAX != 0 {
		t.Fatalf("%d pieces, RAX %#x", pieces, regs.RAX)
	}
	if w.con.raw.String() != string(msg) {
		t.Fatalf("console got %q", w.con.raw.String())
	}
	for i, v := range []uint64{0, 0, 0, 0x00040011} {
		if result(g, listVA, i) != v {
			t.Errorf("entry %d result %#x", i, result(g, listVA, i))
		}
	}
}
