package hypercall

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/mm"
)

// span is a guest byte range [start, start+n) a call may write.
type span struct{ start, n uint64 }

func (s span) has(a uint64) bool { return a-s.start < s.n }

// opsFuzzInput splits a fuzz input into the call's three argument words
// (an argument with bit 63 set and bit 62 clear is folded into the
// mapped pages), a preemption script and guest memory for dom1.
func opsFuzzInput(in []byte) (a Args, preempt uint64, mem []byte, ok bool) {
	if len(in) < 32 {
		return a, 0, nil, false
	}
	for i := range 3 {
		v := le.Uint64(in[8*i:])
		if v>>63 == 1 && v>>62&1 == 0 {
			v = bufVA + v%(bufEnd-bufVA)
		}
		a[i] = v
	}
	preempt = le.Uint64(in[24:])
	mem = in[32:]
	if len(mem) > bufEnd-bufVA {
		mem = mem[:bufEnd-bufVA]
	}
	return a, preempt, mem, true
}

// runOpsFuzz issues hypercall nr from dom1 of an opsWorld with a, following
// continuations, and checks the result is a value or a guest-visible
// errno, that dom1's guest memory was written only inside allowed (worked
// out from memory before the call), and that dom0 saw nothing.
func runOpsFuzz(t *testing.T, nr uint64, a Args, preempt uint64, mem []byte, allowed func(g *mapGuest, a Args) []span) {
	w := newOpsWorld(t)
	w.vcpus[1].waiter.Interrupt()
	g := w.guests[1]
	g.put(bufVA, mem)
	w.vcpus[1].preemptAt = map[int]bool{}
	for i := range 64 {
		if preempt>>i&1 != 0 {
			w.vcpus[1].preemptAt[i] = true
		}
	}
	ok := allowed(g, a)
	d0 := *w.ops[0]
	r := w.d.Dispatch(w.callers[1], nr, &a)
	for n := 0; r.Continue; n++ {
		if n > 10000 {
			t.Fatalf("continuations do not end")
		}
		r = w.d.Dispatch(w.callers[1], nr, r.Args)
	}
	if int64(r.Ret) < 0 {
		if e, good := abi.ErrnoFromRet(r.Ret); !good || !e.GuestVisible() {
			t.Fatalf("returned %#x, not a guest-visible errno", r.Ret)
		}
	}
	for at := range g.writes {
		in := false
		for _, s := range ok {
			in = in || s.has(at)
		}
		if !in {
			t.Fatalf("wrote guest byte %#x outside %x", at, ok)
		}
	}
	if len(w.guests[0].writes) != 0 || w.ops[0].tot != d0.tot || len(w.ops[0].owned) != len(d0.owned) {
		t.Fatal("dom0 changed")
	}
}

// FuzzVCPUOp: vcpu_op from dom1 with any cmd, vCPU id and argument.
// Only get_runstate_info and get_physid write, 48 and 8 bytes at arg.
func FuzzVCPUOp(f *testing.F) {
	rel := func(off uint64) uint64 { return 1<<63 | off }
	for _, s := range [][4]uint64{
		{abi.VCPUOP_get_runstate_info, 0, rel(0), 0},
		{abi.VCPUOP_register_vcpu_info, 1, rel(0), 0},
		{abi.VCPUOP_set_singleshot_timer, 0, rel(8), 0},
		{abi.VCPUOP_set_periodic_timer, 0, rel(0), 0},
		{abi.VCPUOP_get_physid, 0, rel(0xff8), 0},
		{abi.VCPUOP_is_up, 5, 0, 0},
	} {
		var b bytes.Buffer
		binary.Write(&b, binary.LittleEndian, s)
		b.Write(le64(1_000_000))
		f.Add(b.Bytes())
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		a, preempt, mem, ok := opsFuzzInput(in)
		if !ok {
			return
		}
		runOpsFuzz(t, abi.HYPERVISOR_vcpu_op, a, preempt, mem, func(*mapGuest, Args) []span {
			return []span{{a[2], 48}}
		})
	})
}

// FuzzMemoryOp: memory_op from dom1 with any cmd and argument. Writes
// stay inside the argument structure and the lists and buffers it names.
func FuzzMemoryOp(f *testing.F) {
	rel := func(off uint64) uint64 { return 1<<63 | off }
	seed := func(cmd, arg, preempt uint64, mem []byte) {
		var b bytes.Buffer
		binary.Write(&b, binary.LittleEndian, [4]uint64{cmd, arg, 0, preempt})
		b.Write(mem)
		f.Add(b.Bytes())
	}
	seed(abi.XENMEM_populate_physmap, rel(0), 2, reservation(bufVA+0x100, 3, 0, 0, abi.DOMID_SELF))
	seed(abi.XENMEM_decrease_reservation, rel(0), 0, reservation(bufVA+0x100, 3, 0, 0, abi.DOMID_SELF))
	seed(abi.XENMEM_increase_reservation, rel(0), 0, reservation(0, 3, 0, 0, 1))
	seed(abi.XENMEM_exchange, rel(0), 1, append(append(reservation(bufVA+0x100, 2, 0, 0, abi.DOMID_SELF),
		reservation(bufVA+0x200, 1, 1, 0, abi.DOMID_SELF)...), le64(0)...))
	seed(abi.XENMEM_machphys_mfn_list, rel(0), 0, append([]byte{4, 0, 0, 0, 0, 0, 0, 0}, le64(bufVA+0x100)...))
	seed(abi.XENMEM_machine_memory_map, rel(0), 0, append([]byte{9, 0, 0, 0, 0, 0, 0, 0}, le64(bufVA+0x100)...))
	seed(abi.XENMEM_maximum_reservation, rel(0), 0, []byte{0xf0, 0x7f})
	seed(abi.XENMEM_machphys_mapping, rel(0xff0), 0, nil)
	f.Fuzz(func(t *testing.T, in []byte) {
		a, preempt, mem, ok := opsFuzzInput(in)
		if !ok {
			return
		}
		if a[0]>>32 == 0 {
			a[0] = a[0]&memopCmdMask%16 | a[0]&^memopCmdMask&0xffff
		}
		runOpsFuzz(t, abi.HYPERVISOR_memory_op, a, preempt, mem, func(g *mapGuest, a Args) []span {
			arg := a[1]
			rd := func(off uint64) uint64 {
				b := make([]byte, 8)
				g.CopyFromGuest(b, mm.GuestVA(arg+off))
				return le.Uint64(b)
			}
			times := func(size, n uint64) uint64 {
				if n > 1<<58 {
					return ^uint64(0)
				}
				return size * n
			}
			switch a[0] & memopCmdMask {
			case abi.XENMEM_increase_reservation, abi.XENMEM_populate_physmap:
				return []span{{rd(0), times(8, rd(8))}}
			case abi.XENMEM_exchange:
				return []span{{arg + nrExchangedOff, 8}, {rd(32), times(8, rd(40))}}
			case abi.XENMEM_machphys_mfn_list:
				return []span{{arg, mfnListSize}, {rd(8), times(8, uint64(uint32(rd(0))))}}
			case abi.XENMEM_machine_memory_map:
				return []span{{arg, 4}, {rd(8), times(e820EntrySize, uint64(uint32(rd(0))))}}
			case abi.XENMEM_machphys_mapping:
				return []span{{arg, 24}}
			}
			return nil
		})
	})
}
