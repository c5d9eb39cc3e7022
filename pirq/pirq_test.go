package pirq_test

import (
	"slices"
	"testing"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/evtchn"
	"github.com/gohv/gohv/mm"
	"github.com/gohv/gohv/mm/mmtest"
	"github.com/gohv/gohv/pirq"
	"github.com/gohv/gohv/pirq/pirqtest"
)

type nopNotifier struct{}

func (nopNotifier) Kick(int) {}

// rig is a machine with the fake controller (24 GSIs, 2 vectors), the
// hardware domain 0 and domain 1, each with a PIRQ table and an evtchn
// table wired as hv wires them.
type rig struct {
	ctrl   *pirqtest.Controller
	m      *pirq.Machine
	mem    *mmtest.Memory
	tabs   [2]*pirq.Table
	events [2]*evtchn.Table
}

func newRig(t *testing.T, ctrl pirq.Controller) *rig {
	r := &rig{mem: mmtest.NewMemory(4)}
	if c, ok := ctrl.(*pirqtest.Controller); ok {
		r.ctrl = c
	}
	r.m = pirq.NewMachine(pirq.Config{Controller: ctrl, Mem: r.mem})
	reg := evtchn.NewRegistry()
	for i := range 2 {
		p := r.m.NewTable(abi.DomID(i), i == 0)
		e := evtchn.New(evtchn.Config{Dom: abi.DomID(i), VCPUs: 1, Privileged: i == 0, Memory: r.mem,
			SharedInfo: mm.MFN(i + 1).Addr(), Notifier: nopNotifier{}, Directory: reg,
			NrPIRQs: uint32(p.NrPIRQs()), PIRQPermitted: p.Permitted, PIRQBind: p.Bind, PIRQUnbind: p.Unbind})
		if !e.InitSharedInfo() {
			t.Fatal("InitSharedInfo")
		}
		reg.Add(e)
		p.SetEvents(e)
		r.tabs[i], r.events[i] = p, e
	}
	return r
}

// pending reports port's pending bit in domain d's shared_info
// (evtchn_pending at 2048) and clears it.
func (r *rig) pending(d int, port evtchn.Port) bool {
	a := mm.MFN(d+1).Addr() + 2048 + mm.Maddr(port/64*8)
	v, _ := r.mem.And64(a, ^(uint64(1) << (port % 64)))
	return v&(1<<(port%64)) != 0
}

func (r *rig) logged(t *testing.T, want ...string) {
	t.Helper()
	if !slices.Equal(r.ctrl.Log, want) {
		t.Fatalf("controller calls %q, want %q", r.ctrl.Log, want)
	}
	r.ctrl.Log = nil
}

func want(t *testing.T, what string, got, wantE abi.Errno) {
	t.Helper()
	if got != wantE {
		t.Fatalf("%s: %v, want %v", what, got, wantE)
	}
}

// With no interrupt hardware every operation gives Xen's answer for a
// machine without it: no GSI to map or set up, no vector for an MSI, no
// IO-APIC.
func TestNoHardware(t *testing.T) {
	r := newRig(t, nil)
	if r.m.NrGSIs() != 0 || r.tabs[0].NrPIRQs() != pirq.NrDynamicVectors || r.tabs[1].NrPIRQs() != pirq.ExtraDomUPIRQs {
		t.Fatalf("GSIs %d, PIRQs %d/%d", r.m.NrGSIs(), r.tabs[0].NrPIRQs(), r.tabs[1].NrPIRQs())
	}
	for _, gsi := range []int{0, 9, -1} {
		_, e := r.tabs[0].MapGSI(r.tabs[0], gsi, gsi)
		want(t, "MapGSI", e, abi.EINVAL)
	}
	want(t, "SetupGSI", r.m.SetupGSI(9, pirq.Level, pirq.ActiveLow), abi.EINVAL)
	dev := pirq.SBDF{Bus: 0, Devfn: 3 << 3}
	want(t, "AddDevice", r.m.AddDevice(dev, 0, pirq.SBDF{}), 0)
	_, e := r.tabs[0].MapMSI(-1, -1, pirq.MSI{Dev: dev})
	want(t, "MapMSI", e, abi.EINVAL)
	_, e = r.m.IOAPICRead(pirqtest.IOAPICBase, 1)
	want(t, "IOAPICRead", e, abi.EINVAL)
	want(t, "IOAPICWrite", r.m.IOAPICWrite(pirqtest.IOAPICBase, 0x10, 0), abi.EINVAL)
	want(t, "MMCFGReserved", r.m.MMCFGReserved(0xb0000000, 0, 0, 255, abi.XEN_PCI_MMCFG_RESERVED), abi.ENODEV)
	want(t, "MMCFGReserved flags", r.m.MMCFGReserved(0xb0000000, 0, 0, 255, 2), abi.EINVAL)
	if _, e := r.events[0].BindPIRQ(9, 0); e != abi.EPERM {
		t.Fatalf("bind_pirq of an unmapped PIRQ: %v, want EPERM", e)
	}
	// The dynamic PIRQs exist even without hardware.
	p, e := r.tabs[0].GetFree(abi.MAP_PIRQ_TYPE_MSI)
	if e != 0 || p != r.tabs[0].NrPIRQs()-1 {
		t.Fatalf("GetFree %d %v", p, e)
	}
	want(t, "EOI of an allocated PIRQ", r.tabs[0].EOI(uint32(p)), 0)
	want(t, "EOI of no PIRQ", r.tabs[0].EOI(5), abi.EINVAL)
	want(t, "EOI out of range", r.tabs[0].EOI(1<<31), abi.EINVAL)
}

func TestMapGSI(t *testing.T) {
	r := newRig(t, pirqtest.New(24, 2))
	if n := r.tabs[0].NrPIRQs(); n != 208 { // Xen 4.17 on QEMU: "d0 has maximum 208 PIRQs"
		t.Fatalf("dom0 has %d PIRQs", n)
	}
	if n := r.tabs[1].NrPIRQs(); n != 24+32 {
		t.Fatalf("dom1 has %d PIRQs", n)
	}
	d0, d1 := r.tabs[0], r.tabs[1]
	cases := []struct {
		name      string
		t, caller *pirq.Table
		gsi, pirq int
		want      int
		e         abi.Errno
	}{
		{"gsi 9 as pirq 9", d0, d0, 9, 9, 9, 0},
		{"same again", d0, d0, 9, 9, 9, 0},
		{"any pirq for a mapped gsi", d0, d0, 9, -1, 9, 0},
		{"other pirq for gsi 9", d0, d0, 9, 10, 0, abi.EEXIST},
		{"any pirq for gsi 5: from 16", d0, d0, 5, -1, 16, 0},
		{"gsi 0 (irq 0)", d0, d0, 0, 0, 0, abi.EINVAL},
		{"gsi beyond the IO-APICs", d0, d0, 24, 24, 0, abi.EINVAL},
		{"pirq beyond nr_pirqs", d0, d0, 7, 100000, 0, abi.EINVAL},
		{"domU maps by its own pirq", d1, d1, 9, 9, 0, abi.EINVAL},
		{"dom0 maps its gsi 9 for domU", d1, d0, 9, 3, 3, 0},
		{"pirq 9 mapped elsewhere: Xen's silent success", d0, d0, 11, 9, 9, 0},
	}
	for _, c := range cases {
		p, e := c.t.MapGSI(c.caller, c.gsi, c.pirq)
		if e != c.e || e == 0 && p != c.want {
			t.Fatalf("%s: %d %v, want %d %v", c.name, p, e, c.want, c.e)
		}
	}
	if irq, ok := d0.IRQ(9); !ok || irq != 9 {
		t.Fatalf("dom0 pirq 9 -> %d %v", irq, ok)
	}
	if _, ok := d0.PIRQOf(11); ok {
		t.Fatal("gsi 11 was mapped by the silent success")
	}
	if irq, ok := d1.IRQ(3); !ok || irq != 9 {
		t.Fatalf("dom1 pirq 3 -> %d %v", irq, ok)
	}
	if p, e := d0.GetFree(abi.MAP_PIRQ_TYPE_GSI); e != 0 || p != 17 {
		t.Fatalf("GetFree GSI %d %v", p, e)
	}
	if p, e := d0.GetFree(abi.MAP_PIRQ_TYPE_MSI); e != 0 || p != d0.NrPIRQs()-1 {
		t.Fatalf("GetFree MSI %d %v", p, e)
	}
	want(t, "Unmap", d0.Unmap(16), 0)
	want(t, "Unmap again", d0.Unmap(16), abi.EINVAL)
	want(t, "Unmap out of range", d0.Unmap(-1), abi.EINVAL)
	if p, e := d0.GetFree(abi.MAP_PIRQ_TYPE_GSI); e != 0 || p != 16 {
		t.Fatalf("GetFree after unmap %d %v", p, e)
	}
}

// A level-triggered GSI is unmasked when its guest binds it, counted in
// flight while the guest handles it and unmasked again at the EOI; an
// edge-triggered one needs no EOI.
func TestDeliveryLevelAndEdge(t *testing.T) {
	r := newRig(t, pirqtest.New(24, 2))
	d0, e0 := r.tabs[0], r.events[0]
	want(t, "SetupGSI", r.m.SetupGSI(10, pirq.Level, pirq.ActiveLow), 0)
	want(t, "SetupGSI edge", r.m.SetupGSI(4, pirq.Edge, pirq.ActiveHigh), 0)
	r.logged(t, "setup 10 1 1", "setup 4 0 0")
	for _, g := range []int{10, 4} {
		if _, e := d0.MapGSI(d0, g, g); e != 0 {
			t.Fatal(e)
		}
	}
	lvl, e := e0.BindPIRQ(10, 0)
	want(t, "bind level", e, 0)
	edge, e := e0.BindPIRQ(4, 0)
	want(t, "bind edge", e, 0)
	r.logged(t, "unmask 10", "unmask 4")
	if r.m.AckTypeOf(10) != pirq.AckUnmask || r.m.AckTypeOf(4) != pirq.AckNone {
		t.Fatalf("ack types %d %d", r.m.AckTypeOf(10), r.m.AckTypeOf(4))
	}

	r.m.Interrupt(10)
	r.m.Interrupt(10) // a second one before the EOI: still one in flight
	if !r.pending(0, lvl) {
		t.Fatal("level PIRQ's port not pending")
	}
	want(t, "EOI", d0.EOI(10), 0)
	r.logged(t, "unmask 10")
	want(t, "EOI again", d0.EOI(10), 0)
	r.logged(t)

	r.m.Interrupt(4)
	if !r.pending(0, edge) {
		t.Fatal("edge PIRQ's port not pending")
	}
	want(t, "EOI edge", d0.EOI(4), 0)
	r.logged(t)

	// Closing the port of an interrupt in flight ends it and stops the
	// IRQ.
	r.m.Interrupt(10)
	want(t, "close", e0.Close(lvl), 0)
	r.logged(t, "unmask 10", "mask 10")
	r.m.Interrupt(10)
	if r.pending(0, lvl) {
		t.Fatal("closed port pending")
	}
	r.m.Interrupt(99) // an IRQ nobody has: nothing happens
}

func TestSharingAndStatus(t *testing.T) {
	r := newRig(t, pirqtest.New(24, 2))
	d0, d1 := r.tabs[0], r.tabs[1]
	r.m.SetupGSI(11, pirq.Level, pirq.ActiveLow)
	d0.MapGSI(d0, 11, 11)
	if _, e := d1.MapGSI(d0, 11, 2); e != 0 {
		t.Fatal(e)
	}
	p0, e := r.events[0].BindPIRQ(11, evtchn.BindPIRQFlagWillShare)
	want(t, "bind dom0", e, 0)
	_, e = r.events[1].BindPIRQ(2, 0)
	want(t, "bind dom1 without sharing", e, abi.EBUSY)
	p1, e := r.events[1].BindPIRQ(2, evtchn.BindPIRQFlagWillShare)
	want(t, "bind dom1 sharing", e, 0)
	flags, e := d0.Status(11)
	if e != 0 || flags != abi.XENIRQSTAT_needs_eoi|abi.XENIRQSTAT_shared {
		t.Fatalf("status %#x %v", flags, e)
	}
	flags, e = d0.Status(12) // not mapped: needs_eoi all the same
	if e != 0 || flags != abi.XENIRQSTAT_needs_eoi {
		t.Fatalf("status of an unmapped PIRQ %#x %v", flags, e)
	}
	if _, e := d0.Status(uint32(d0.NrPIRQs())); e != abi.EINVAL {
		t.Fatalf("status out of range: %v", e)
	}
	// Both guests get the interrupt; the pin is unmasked once both EOI.
	r.ctrl.Log = nil
	r.m.Interrupt(11)
	if !r.pending(0, p0) || !r.pending(1, p1) {
		t.Fatal("shared interrupt not delivered to both")
	}
	d0.EOI(11)
	r.logged(t)
	d1.EOI(2)
	r.logged(t, "unmask 11")
	// Unmapping dom0's PIRQ while bound unbinds it by force; it stays
	// taken until its port closes.
	want(t, "unmap bound", d0.Unmap(11), 0)
	if d0.Permitted(11) {
		t.Fatal("unmapped PIRQ still permitted")
	}
	if _, e := d0.MapGSI(d0, 11, 11); e != abi.EBUSY {
		t.Fatalf("remap of an orphan PIRQ: %v", e)
	}
	want(t, "close orphan", r.events[0].Close(p0), 0)
	if p, e := d0.MapGSI(d0, 11, 11); e != 0 || p != 11 {
		t.Fatalf("remap after close: %d %v", p, e)
	}
}

func TestMSI(t *testing.T) {
	c := pirqtest.New(24, 2)
	r := newRig(t, c)
	d0 := r.tabs[0]
	dev := pirq.SBDF{Seg: 0, Bus: 1, Devfn: 0}
	src := pirq.MSI{Dev: dev}
	_, e := d0.MapMSI(-1, -1, src)
	want(t, "MSI of an unreported device", e, abi.ENODEV)
	r.logged(t, "vector 24", "free 24")
	want(t, "AddDevice", r.m.AddDevice(dev, 0, pirq.SBDF{}), 0)
	want(t, "AddDevice again", r.m.AddDevice(dev, 0, pirq.SBDF{}), 0)
	p1, e := d0.MapMSI(-1, -1, src)
	top := d0.NrPIRQs() - 1
	if e != 0 || p1 != top {
		t.Fatalf("MapMSI %d %v", p1, e)
	}
	p2, e := d0.MapMSI(-1, -1, pirq.MSI{Dev: dev, TableBase: 0xfe000000, EntryNr: 3})
	if e != 0 || p2 != top-1 {
		t.Fatalf("MapMSI-X %d %v", p2, e)
	}
	r.logged(t, "vector 24", "msi 24 0000:01:00 entry 1", "vector 25", "msi 25 0000:01:00 entry 3")
	_, e = d0.MapMSI(-1, -1, src)
	want(t, "out of vectors", e, abi.EINVAL)
	_, e = d0.MapMSI(24, -1, src)
	want(t, "enabled MSI IRQ by index", e, abi.EEXIST)
	_, e = d0.MapMSI(3, -1, src)
	want(t, "GSI as MSI index", e, abi.EINVAL)
	// Maskable MSIs need no EOI; others hold the local APIC EOI.
	port, e := r.events[0].BindPIRQ(uint32(p1), 0)
	want(t, "bind MSI", e, 0)
	if r.m.AckTypeOf(24) != pirq.AckEOI {
		t.Fatalf("unmaskable MSI ack %d", r.m.AckTypeOf(24))
	}
	r.ctrl.Log = nil
	r.m.Interrupt(24)
	if !r.pending(0, port) {
		t.Fatal("MSI not delivered")
	}
	r.logged(t)
	d0.EOI(uint32(p1))
	r.logged(t, "eoi 24")
	r.events[0].Close(port)
	want(t, "unmap MSI", d0.Unmap(p1), 0)
	r.logged(t, "mask 24", "nomsi 24", "free 24")
	want(t, "RemoveDevice", r.m.RemoveDevice(dev), 0)
	want(t, "RemoveDevice again", r.m.RemoveDevice(dev), abi.ENODEV)
	// Destroy gives the rest back.
	d0.Destroy()
	r.logged(t, "nomsi 25", "free 25")
	if _, e := d0.MapGSI(d0, 9, 9); e != abi.EINVAL {
		t.Fatalf("map after Destroy: %v", e)
	}
}

func TestVirtualFunctionAddsPhysical(t *testing.T) {
	r := newRig(t, pirqtest.New(24, 2))
	vf := pirq.SBDF{Bus: 2, Devfn: 1}
	want(t, "add VF", r.m.AddDevice(vf, abi.XEN_PCI_DEV_VIRTFN, pirq.SBDF{Bus: 2, Devfn: 0}), 0)
	if !r.m.HasDevice(pirq.SBDF{Bus: 2, Devfn: 0}) || !r.m.HasDevice(vf) {
		t.Fatal("physical function not recorded")
	}
}

// Delivery, EOIs, binding and closing from several goroutines (run with
// -race): the lock order evtchn table, then Machine holds, and the
// in-flight count ends at zero with the pin unmasked.
func TestConcurrentDelivery(t *testing.T) {
	r := newRig(t, pirqtest.New(24, 2))
	d0 := r.tabs[0]
	r.m.SetupGSI(10, pirq.Level, pirq.ActiveLow)
	d0.MapGSI(d0, 10, 10)
	done := make(chan bool)
	go func() {
		for range 2000 {
			r.m.Interrupt(10)
		}
		done <- true
	}()
	go func() {
		for range 2000 {
			d0.EOI(10)
			d0.Status(10)
		}
		done <- true
	}()
	go func() {
		for range 200 {
			if port, e := r.events[0].BindPIRQ(10, 0); e == 0 {
				r.events[0].Close(port)
			}
		}
		done <- true
	}()
	for range 3 {
		<-done
	}
	port, e := r.events[0].BindPIRQ(10, 0)
	want(t, "bind", e, 0)
	r.m.Interrupt(10)
	d0.EOI(10)
	if r.ctrl.Masked[10] {
		t.Fatal("pin left masked")
	}
	r.events[0].Close(port)
	if !r.ctrl.Masked[10] {
		t.Fatal("pin unmasked with nobody bound")
	}
}

// IRQ_UNMASK_NOTIFY EOIs the in-flight PIRQs whose ports the guest has
// unmasked, and leaves the masked ones.
func TestUnmaskNotify(t *testing.T) {
	r := newRig(t, pirqtest.New(24, 2))
	d0 := r.tabs[0]
	for _, g := range []int{10, 11} {
		r.m.SetupGSI(g, pirq.Level, pirq.ActiveLow)
		d0.MapGSI(d0, g, g)
	}
	p10, _ := r.events[0].BindPIRQ(10, 0)
	p11, _ := r.events[0].BindPIRQ(11, 0)
	r.m.Interrupt(10)
	r.m.Interrupt(11)
	// The guest masks port p11 (evtchn_mask at 2560 of its shared_info).
	r.mem.Or64(mm.MFN(1).Addr()+2560+mm.Maddr(p11/64*8), 1<<(p11%64))
	r.ctrl.Log = nil
	d0.UnmaskNotify()
	r.logged(t, "unmask 10")
	if r.events[0].Masked(p10) || !r.events[0].Masked(p11) {
		t.Fatal("Masked")
	}
	d0.UnmaskNotify()
	r.logged(t)
}
