package hypercall

import (
	"encoding/binary"
	"slices"
	"testing"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/mm"
)

// reservation lays out struct xen_memory_reservation.
func reservation(list, nr uint64, order, flags uint32, dom abi.DomID) []byte {
	b := make([]byte, reservationSize)
	binary.LittleEndian.PutUint64(b[0:], list)
	binary.LittleEndian.PutUint64(b[8:], nr)
	binary.LittleEndian.PutUint32(b[16:], order)
	binary.LittleEndian.PutUint32(b[20:], flags)
	binary.LittleEndian.PutUint16(b[24:], uint16(dom))
	return b
}

func TestMemoryOpErrnos(t *testing.T) {
	const arg, list = bufVA, bufVA + 0x800
	for _, c := range []struct {
		name  string
		dom0  bool // called by dom0 (privileged), else by dom1
		cmd   uint64
		arg   uint64
		mem   []byte
		want  uint64
		noOps bool
	}{
		{name: "no memory_op in the domain", cmd: abi.XENMEM_maximum_ram_page, noOps: true, want: neg(abi.ENOSYS)},
		{name: "maximum_ram_page", cmd: abi.XENMEM_maximum_ram_page, want: 0x40000},
		{name: "maximum_ram_page with a start extent", cmd: abi.XENMEM_maximum_ram_page | 1<<6, want: neg(abi.EINVAL)},
		{name: "unknown cmd", cmd: 63, want: neg(abi.ENOSYS)},
		{name: "current_reservation self", cmd: abi.XENMEM_current_reservation, arg: arg, mem: []byte{0xf0, 0x7f}, want: 0},
		{name: "maximum_reservation self", cmd: abi.XENMEM_maximum_reservation, arg: arg, mem: []byte{1, 0}, want: 64},
		{name: "maximum_reservation of dom0 from dom1", cmd: abi.XENMEM_maximum_reservation, arg: arg, mem: []byte{0, 0}, want: neg(abi.EPERM)},
		{name: "maximum_reservation of dom1 from dom0", dom0: true, cmd: abi.XENMEM_maximum_reservation, arg: arg, mem: []byte{1, 0}, want: 64},
		{name: "maximum_reservation of no domain", dom0: true, cmd: abi.XENMEM_maximum_reservation, arg: arg, mem: []byte{9, 0}, want: neg(abi.ESRCH)},
		{name: "current_reservation unreadable", cmd: abi.XENMEM_current_reservation, arg: badVA, want: neg(abi.EFAULT)},
		{name: "machphys_mapping to read-only", cmd: abi.XENMEM_machphys_mapping, arg: roVA, want: neg(abi.EFAULT)},
		{name: "machine_memory_map unprivileged", cmd: abi.XENMEM_machine_memory_map, arg: arg, want: neg(abi.EPERM)},
		{name: "machine_memory_map unreadable", dom0: true, cmd: abi.XENMEM_machine_memory_map, arg: badVA, want: neg(abi.EFAULT)},
		{name: "memory_map: none set for PV", cmd: abi.XENMEM_memory_map, arg: arg, want: neg(abi.ENOSYS)},
		{name: "memory_map unreadable", cmd: abi.XENMEM_memory_map, arg: badVA, want: neg(abi.EFAULT)},
		{name: "add_to_physmap for PV", cmd: abi.XENMEM_add_to_physmap, arg: arg, mem: []byte{0xf0, 0x7f, 0, 0, abi.XENMAPSPACE_gmfn}, want: neg(abi.EACCES)},
		{name: "add_to_physmap foreign", cmd: abi.XENMEM_add_to_physmap, arg: arg, mem: []byte{0xf0, 0x7f, 0, 0, abi.XENMAPSPACE_gmfn_foreign}, want: neg(abi.ENOSYS)},
		{name: "add_to_physmap other domain", cmd: abi.XENMEM_add_to_physmap, arg: arg, mem: []byte{0, 0, 0, 0, abi.XENMAPSPACE_gmfn}, want: neg(abi.EPERM)},
		{name: "add_to_physmap unreadable", cmd: abi.XENMEM_add_to_physmap, arg: badVA, want: neg(abi.EFAULT)},
		{name: "increase unreadable: 0 done", cmd: abi.XENMEM_increase_reservation, arg: badVA, want: 0},
		{name: "increase 2 extents", cmd: abi.XENMEM_increase_reservation, arg: arg, mem: reservation(list, 2, 0, 0, abi.DOMID_SELF), want: 2},
		{name: "increase beyond max_pages", cmd: abi.XENMEM_increase_reservation, arg: arg, mem: reservation(list, 70, 0, 0, abi.DOMID_SELF), want: 64},
		{name: "increase order 1 unprivileged", cmd: abi.XENMEM_increase_reservation, arg: arg, mem: reservation(list, 2, 1, 0, abi.DOMID_SELF), want: 0},
		{name: "populate order 10 unprivileged", cmd: abi.XENMEM_populate_physmap, arg: arg, mem: reservation(list, 1, 10, 0, abi.DOMID_SELF), want: 0},
		{name: "populate 12 address bits", cmd: abi.XENMEM_populate_physmap, arg: arg, mem: reservation(list, 1, 0, 12, abi.DOMID_SELF), want: 0},
		{name: "populate on demand", cmd: abi.XENMEM_populate_physmap, arg: arg, mem: reservation(list, 1, 0, abi.XENMEMF_populate_on_demand, abi.DOMID_SELF), want: 0},
		{name: "populate for dom0 from dom1", cmd: abi.XENMEM_populate_physmap, arg: arg, mem: reservation(list, 1, 0, 0, 0), want: neg(abi.EPERM)},
		{name: "populate for no domain", dom0: true, cmd: abi.XENMEM_populate_physmap, arg: arg, mem: reservation(list, 1, 0, 0, 9), want: 0},
		{name: "start beyond nr_extents", cmd: abi.XENMEM_populate_physmap | 3<<6, arg: arg, mem: reservation(list, 2, 0, 0, abi.DOMID_SELF), want: 3},
		{name: "nr_extents too large to continue", cmd: abi.XENMEM_populate_physmap, arg: arg, mem: reservation(list, 1<<26, 0, 0, abi.DOMID_SELF), want: 0},
		{name: "decrease a frame not owned: 0 done", cmd: abi.XENMEM_decrease_reservation, arg: arg, mem: reservation(list, 1, 0, 0, abi.DOMID_SELF), want: 0},
		{name: "exchange unreadable", cmd: abi.XENMEM_exchange, arg: badVA, want: neg(abi.EFAULT)},
		{name: "exchange with a start extent", cmd: abi.XENMEM_exchange | 1<<6, arg: arg, want: neg(abi.EINVAL)},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newOpsWorld(t)
			dom := 1
			if c.dom0 {
				dom = 0
			}
			if c.noOps {
				w.callers[dom].Domain = w.doms[dom]
			}
			w.guests[dom].put(arg, c.mem)
			checkRet(t, c.name, w.call(dom, abi.HYPERVISOR_memory_op, c.cmd, c.arg), c.want)
		})
	}
}

func TestMemoryOpPopulateDecrease(t *testing.T) {
	w := newOpsWorld(t)
	g, d := w.guests[0], w.ops[0] // dom0: multi-page extents allowed
	const arg, list = bufVA, bufVA + 0x800
	g.put(list, append(le64(0x100), le64(0x104)...)) // GPFNs
	g.put(arg, reservation(list, 2, 2, 0, abi.DOMID_SELF))
	checkRet(t, "populate 2 order-2 extents", w.call(0, abi.HYPERVISOR_memory_op, abi.XENMEM_populate_physmap, arg), 2)
	m0, m1 := mm.MFN(g.get64(list)), mm.MFN(g.get64(list+8))
	if m0%4 != 0 || m1%4 != 0 || d.tot != 8 {
		t.Fatalf("extents %#x %#x, tot %d", m0, m1, d.tot)
	}
	for k := range mm.MFN(4) {
		if d.m2p[m0+k] != 0x100+uint64(k) || d.m2p[m1+k] != 0x104+uint64(k) {
			t.Fatalf("M2P of %#x: %#x", m0+k, d.m2p[m0+k])
		}
	}
	// Give the second extent back, and a frame the domain does not own
	// after it: one extent done.
	g.put(list, append(le64(uint64(m1)), le64(0x9999)...))
	checkRet(t, "decrease", w.call(0, abi.HYPERVISOR_memory_op, abi.XENMEM_decrease_reservation, arg), 1)
	if d.tot != 4 {
		t.Fatalf("tot %d", d.tot)
	}
	// Preemption between extents: a continuation with the next extent in
	// cmd, then the rest.
	g.put(list, append(le64(0x200), le64(0x201)...))
	g.put(arg, reservation(list, 2, 0, 0, abi.DOMID_SELF))
	w.vcpus[0].calls, w.vcpus[0].preemptAt = 0, map[int]bool{0: true}
	r := w.call(0, abi.HYPERVISOR_memory_op, abi.XENMEM_populate_physmap, arg)
	if !r.Continue || r.Args[0] != abi.XENMEM_populate_physmap|1<<6 || r.Args[1] != arg {
		t.Fatalf("preempted populate: %+v", r)
	}
	checkRet(t, "continued populate", w.d.Dispatch(w.callers[0], abi.HYPERVISOR_memory_op, r.Args), 2)
	if d.tot != 6 {
		t.Fatalf("tot %d", d.tot)
	}
}

func TestMemoryOpExchange(t *testing.T) {
	w := newOpsWorld(t)
	g, d := w.guests[0], w.ops[0]
	const arg, in, out = bufVA, bufVA + 0x800, bufVA + 0xc00
	// Eight order-0 frames for one order-3 extent below 4 GiB, as
	// xen_create_contiguous_region asks.
	g.put(arg, reservation(0, 8, 0, 0, 0))
	var ins []mm.MFN
	for range 8 {
		m, _ := d.AllocExtent(0, 0)
		ins = append(ins, m)
	}
	slices.Reverse(ins)
	for i, m := range ins {
		g.put64(in+uint64(8*i), uint64(m))
	}
	exch := append(reservation(in, 8, 0, 0, abi.DOMID_SELF), reservation(out, 1, 3, 32, abi.DOMID_SELF)...)
	g.put(arg, append(exch, le64(0)...))
	g.put64(out, 0x300) // the first GPFN of the region
	checkRet(t, "exchange", w.call(0, abi.HYPERVISOR_memory_op, abi.XENMEM_exchange, arg), 0)
	if n := g.get64(arg + nrExchangedOff); n != 8 {
		t.Fatalf("nr_exchanged %d", n)
	}
	m := mm.MFN(g.get64(out))
	if m%8 != 0 || d.m2p[m+7] != 0x307 || d.owned[ins[0]] {
		t.Fatalf("out %#x, M2P %#x, old frame kept %v", m, d.m2p[m+7], d.owned[ins[0]])
	}
	// Done already: 0 and nothing changes.
	checkRet(t, "exchange again", w.call(0, abi.HYPERVISOR_memory_op, abi.XENMEM_exchange, arg), 0)

	// Errors, with nr_exchanged written back.
	for _, c := range []struct {
		name string
		exch []byte
		want abi.Errno
		n    uint64
	}{
		{"sizes differ", append(reservation(in, 8, 0, 0, abi.DOMID_SELF), reservation(out, 1, 2, 0, abi.DOMID_SELF)...), abi.EINVAL, 0},
		{"domains differ", append(reservation(in, 8, 0, 0, abi.DOMID_SELF), reservation(out, 1, 3, 0, 0)...), abi.EINVAL, 0},
		{"order above the limit", append(reservation(in, 1<<13, 0, 0, abi.DOMID_SELF), reservation(out, 1, 13, 0, abi.DOMID_SELF)...), abi.EPERM, 0},
		{"frames not owned any more", append(reservation(in, 8, 0, 0, abi.DOMID_SELF), reservation(out, 1, 3, 0, abi.DOMID_SELF)...), abi.EINVAL, 0},
		{"no domain", append(reservation(in, 8, 0, 0, 9), reservation(out, 1, 3, 0, 9)...), abi.ESRCH, 0},
	} {
		g.put(arg, append(c.exch, le64(0)...))
		g.put64(arg+nrExchangedOff, 99) // garbage: checked against nr_extents first
		if c.want != abi.EINVAL || c.name != "frames not owned any more" {
			g.put64(arg+nrExchangedOff, 0)
		}
		r := w.call(0, abi.HYPERVISOR_memory_op, abi.XENMEM_exchange, arg)
		if c.name == "frames not owned any more" {
			checkRet(t, c.name, r, neg(abi.EINVAL)) // 99 > 8
			g.put64(arg+nrExchangedOff, 0)
			r = w.call(0, abi.HYPERVISOR_memory_op, abi.XENMEM_exchange, arg)
		}
		checkRet(t, c.name, r, neg(c.want))
		if n := g.get64(arg + nrExchangedOff); n != c.n {
			t.Fatalf("%s: nr_exchanged %d", c.name, n)
		}
	}

	// No memory below the address width: -ENOMEM, the frames stay.
	var mine []mm.MFN
	for range 2 {
		m, _ := d.AllocExtent(0, 0)
		mine = append(mine, m)
	}
	g.put64(in, uint64(mine[0]))
	g.put64(in+8, uint64(mine[1]))
	g.put(arg, append(append(reservation(in, 2, 0, 0, abi.DOMID_SELF), reservation(out, 1, 1, 13, abi.DOMID_SELF)...), le64(0)...))
	checkRet(t, "exchange below 8 KiB", w.call(0, abi.HYPERVISOR_memory_op, abi.XENMEM_exchange, arg), neg(abi.ENOMEM))
	if !d.owned[mine[0]] || !d.owned[mine[1]] {
		t.Fatal("a failed exchange took the frames")
	}
}

func TestMemoryOpMachineInfo(t *testing.T) {
	w := newOpsWorld(t)
	g := w.guests[0]
	const arg, buf = bufVA, bufVA + 0x800
	checkRet(t, "machphys_mapping", w.call(0, abi.HYPERVISOR_memory_op, abi.XENMEM_machphys_mapping, arg), 0)
	if g.get64(arg) != abi.MACH2PHYS_VIRT_START || g.get64(arg+8) != abi.MACH2PHYS_VIRT_END || g.get64(arg+16) != abi.MACH2PHYS_NR_ENTRIES-1 {
		t.Fatalf("machphys_mapping % x", g.get(arg, 24))
	}

	g.put(arg, append([]byte{2, 0, 0, 0, 0, 0, 0, 0}, le64(buf)...))
	checkRet(t, "machphys_mfn_list", w.call(0, abi.HYPERVISOR_memory_op, abi.XENMEM_machphys_mfn_list, arg), 0)
	if g.get32(arg+16) != 2 || g.get64(buf) != 0x200 || g.get64(buf+8) != 0x400 || g.get64(buf+16) != 0 {
		t.Fatalf("mfn list: nr %d, % x", g.get32(arg+16), g.get(buf, 24))
	}

	w.ops[0].host = []E820Entry{{0, 0x9f000, E820RAM}, {0x100000, 0x3ff00000, E820RAM}}
	g.put(arg, append([]byte{2, 0, 0, 0, 0, 0, 0, 0}, le64(buf)...))
	checkRet(t, "machine_memory_map: room for 2 of 2 entries", w.call(0, abi.HYPERVISOR_memory_op, abi.XENMEM_machine_memory_map, arg), neg(abi.EINVAL))
	g.put32(arg, 3)
	checkRet(t, "machine_memory_map", w.call(0, abi.HYPERVISOR_memory_op, abi.XENMEM_machine_memory_map, arg), 0)
	if g.get32(arg) != 2 || g.get64(buf+20) != 0x100000 || g.get32(buf+36) != E820RAM {
		t.Fatalf("map: nr %d % x", g.get32(arg), g.get(buf, 40))
	}
	g.put(arg, make([]byte, 16)) // null buffer: count only
	checkRet(t, "machine_memory_map count", w.call(0, abi.HYPERVISOR_memory_op, abi.XENMEM_machine_memory_map, arg), 0)
	if g.get32(arg) != 2 {
		t.Fatalf("count %d", g.get32(arg))
	}
}

// MachineMemoryMap: gaps the domain may not map become unusable entries;
// permitted parts of a gap stay holes; the tail is not reported.
func TestMachineMemoryMapUnusable(t *testing.T) {
	host := []E820Entry{
		{0, 0x9fc00, E820RAM},
		{0xf0000, 0x10000, E820Reserved},
		{0x100000, 0x7ff00000, E820RAM},
		{0xfec00000, 0x1000, E820Reserved},
	}
	// Permitted: 0xa0-0xbf (VGA) and 0x80000-0xfebff (the PCI hole).
	perm := [][2]uint64{{0xa0, 0xbf}, {0x80000, 0xfebff}, {0xfee00, 0xfffff}}
	permitted := func(first, last uint64) (out [][2]uint64) {
		for _, r := range perm {
			if r[1] >= first && r[0] <= last {
				out = append(out, [2]uint64{max(r[0], first), min(r[1], last)})
			}
		}
		return out
	}
	got := MachineMemoryMap(host, permitted)
	want := []E820Entry{
		host[0],
		{0xc0000, 0x30000, E820Unusable}, // 0xa0000-0xbffff permitted; 0x9fc00 rounds up to frame 0xa0
		host[1], host[2], host[3],
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got  %x\nwant %x", got, want)
	}
	// Nothing permitted: every gap is unusable.
	got = MachineMemoryMap(host, func(uint64, uint64) [][2]uint64 { return nil })
	if len(got) != 6 || got[1] != (E820Entry{0xa0000, 0x50000, E820Unusable}) || got[4] != (E820Entry{0x80000000, 0x7ec00000, E820Unusable}) {
		t.Fatalf("nothing permitted: %x", got)
	}
}
