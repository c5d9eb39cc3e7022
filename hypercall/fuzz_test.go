package hypercall

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/grant"
	"github.com/gohv/gohv/mm"
)

// newFuzzWorld builds the full machine of the tests: dom0 and dom1 with event
// channels, waiters (interrupted, so block and poll return at once), a PV
// memory model and grant tables.
func newFuzzWorld(t *testing.T) *mmWorld {
	w := newMMWorld(t)
	gmem := w.mmem // grant frames live in the same machine memory
	ts := grant.NewTables(gmem, &ownerFrames{refs: map[mm.MFN]int{}}, hostMaps{})
	pool := &framePool{next: mmFrames - 16, limit: mmFrames}
	for i := range 2 {
		if e := ts.Create(abi.DomID(i), grant.Config{Control: i == 0}, pool); e != 0 {
			t.Fatal(e)
		}
		w.vcpus[i].waiter.Interrupt()
	}
	cfg := w.config()
	cfg.Grants, cfg.Version = ts, VersionInfo{Commandline: "x"}
	w.d = New(cfg)
	w.vcpus[0].calls, w.vcpus[1].calls = 0, 0
	return w
}

// frameBytes returns the contents of domain i's page-table and data
// frames.
func (w *mmWorld) frameBytes(i int) []byte {
	var out []byte
	frames := append([]mm.MFN{w.l1[i], w.vcpus[i].tables.Kernel}, w.data[i][:]...)
	for _, m := range frames {
		b := make([]byte, mm.PageSize)
		w.mmem.Read(m.Addr(), b)
		out = append(out, b...)
	}
	return out
}

// FuzzDispatch issues an arbitrary hypercall from the unprivileged dom1:
// any number (folded into the table's range most of the time), any five
// argument registers (offsets into the mapped guest pages most of the
// time), guest memory filled from the input, and a preemption script.
// Continuations are followed to the end, as the guest would re-execute.
//
// Properties: no panic; every finished call returns a non-negative value
// or a guest-visible Xen errno; dom0's state, its guest memory and its
// page-table and data frames do not change.
func FuzzDispatch(f *testing.F) {
	seed := func(nr uint64, preempt uint64, args [5]uint64, mem []byte) {
		var b bytes.Buffer
		binary.Write(&b, binary.LittleEndian, nr)
		binary.Write(&b, binary.LittleEndian, preempt)
		binary.Write(&b, binary.LittleEndian, args)
		b.Write(mem)
		f.Add(b.Bytes())
	}
	rel := func(off uint64) uint64 { return 1<<63 | off } // "bufVA + off"
	seed(abi.HYPERVISOR_xen_version, 0, [5]uint64{abi.XENVER_get_features, rel(0)}, make([]byte, 8))
	seed(abi.HYPERVISOR_console_io, 2, [5]uint64{0, 300, rel(0)}, bytes.Repeat([]byte("ab\n\x01"), 100))
	seed(abi.HYPERVISOR_sched_op, 0, [5]uint64{abi.SCHEDOP_shutdown, rel(0)}, []byte{9, 0, 0, 0})
	seed(abi.HYPERVISOR_sched_op, 0, [5]uint64{abi.SCHEDOP_poll, rel(0)}, []byte{0x20, 0, 0, 0, 0, 0, 0, 0x80, 2, 0, 0, 0})
	seed(abi.HYPERVISOR_multicall, 1, [5]uint64{rel(0), 2}, append(
		[]byte{17, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, make([]byte, 112)...))
	seed(abi.HYPERVISOR_event_channel_op, 0, [5]uint64{abi.EVTCHNOP_alloc_unbound, rel(0)}, []byte{0xf0, 0x7f})
	seed(abi.HYPERVISOR_grant_table_op, 0, [5]uint64{abi.GNTTABOP_setup_table, rel(0), 1}, []byte{0xf0, 0x7f, 0, 0, 1})
	seed(abi.HYPERVISOR_mmu_update, 1, [5]uint64{rel(0), 3, rel(64), abi.DOMID_SELF}, make([]byte, 64))
	seed(abi.HYPERVISOR_mmuext_op, 0, [5]uint64{rel(0), 1, 0, abi.DOMID_SELF}, []byte{6})
	seed(abi.HYPERVISOR_update_va_mapping, 0, [5]uint64{0x3000, 0, 2}, nil)
	seed(abi.HYPERVISOR_vm_assist, 0, [5]uint64{0, 3}, nil)
	seed(11, 0, [5]uint64{}, nil)
	seed(abi.HYPERVISOR_physdev_op, 0, [5]uint64{abi.PHYSDEVOP_set_iopl, rel(0)}, []byte{3, 0, 0, 0})
	seed(abi.HYPERVISOR_physdev_op, 0, [5]uint64{abi.PHYSDEVOP_pirq_eoi_gmfn_v2, rel(0)}, []byte{0x40, 0, 0, 0, 0, 0, 0, 0})
	seed(abi.HYPERVISOR_physdev_op, 0, [5]uint64{abi.PHYSDEVOP_map_pirq, rel(0)}, []byte{0xf0, 0x7f, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0, 9})
	seed(abi.HYPERVISOR_platform_op, 0, [5]uint64{rel(0)}, append([]byte{55, 0, 0, 0, 1, 0, 0, 3}, make([]byte, 128)...))

	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 56 {
			return
		}
		nr := le.Uint64(in[0:])
		preempt := le.Uint64(in[8:])
		var a Args
		for i := range a {
			v := le.Uint64(in[16+8*i:])
			if v>>63 == 1 && v>>62&1 == 0 { // relative to the mapped pages
				v = bufVA + v%(bufEnd-bufVA)
			}
			a[i] = v
		}
		if nr>>8 == 0 {
			nr %= NrHypercalls + 2
		}
		w := newFuzzWorld(t)
		g := w.guests[1]
		mem := in[56:]
		if len(mem) > bufEnd-bufVA {
			mem = mem[:bufEnd-bufVA]
		}
		g.put(bufVA, mem)
		w.vcpus[1].preemptAt = map[int]bool{}
		for i := range 64 {
			if preempt>>i&1 != 0 {
				w.vcpus[1].preemptAt[i] = true
			}
		}
		dom0Frames := w.frameBytes(0)
		dom0State := *w.doms[0].state.snapshot()

		r := w.d.Dispatch(w.callers[1], nr, &a)
		for n := 0; r.Continue; n++ {
			if n > 10000 {
				t.Fatalf("continuations do not end: %+v", r)
			}
			r = w.d.Dispatch(w.callers[1], nr, r.Args)
		}
		if int64(r.Ret) < 0 {
			e, ok := abi.ErrnoFromRet(r.Ret)
			if !ok || !e.GuestVisible() {
				t.Fatalf("hypercall %d %v returned %#x, not a guest-visible errno", nr, a, r.Ret)
			}
		}
		if len(w.guests[0].writes) != 0 {
			t.Fatalf("dom0's guest memory written")
		}
		if !bytes.Equal(w.frameBytes(0), dom0Frames) {
			t.Fatalf("dom0's frames changed")
		}
		if *w.doms[0].state.snapshot() != dom0State || len(w.doms[0].shutdowns) != 0 {
			t.Fatalf("dom0's state changed")
		}
	})
}

// stateSnapshot is the comparable part of a DomainState.
type stateSnapshot struct {
	vmAssist     uint64
	shutdownCode int16
	shuttingDown bool
	pbufLen      int
}

func (s *DomainState) snapshot() *stateSnapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &stateSnapshot{s.vmAssist.Load(), s.shutdownCode, s.shuttingDown.Load(), s.pbufLen}
}
