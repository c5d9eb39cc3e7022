package hypercall

import (
	"strings"
	"testing"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/mm"
	"github.com/gohv/gohv/pirq"
	"github.com/gohv/gohv/pirq/pirqtest"
)

// physdev issues physdev_op cmd from dom with the argument bytes b at
// bufVA.
func (w *mmWorld) physdev(dom int, cmd int, b []byte) Result {
	w.guests[dom].put(bufVA, b)
	return w.call(dom, abi.HYPERVISOR_physdev_op, uint64(cmd), bufVA)
}

func u32s(v ...uint32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		le.PutUint32(b[4*i:], x)
	}
	return b
}

// mapArg is a physdev_map_pirq.
func mapArg(dom uint16, typ, index, p int32, bus, devfn uint32, entry int32, table uint64) []byte {
	b := make([]byte, physdevMapSize)
	le.PutUint16(b, dom)
	le.PutUint32(b[4:], uint32(typ))
	le.PutUint32(b[8:], uint32(index))
	le.PutUint32(b[12:], uint32(p))
	le.PutUint32(b[16:], bus)
	le.PutUint32(b[20:], devfn)
	le.PutUint32(b[24:], uint32(entry))
	le.PutUint64(b[32:], table)
	return b
}

func TestPhysdevOpTable(t *testing.T) {
	w := newMMWorld(t)
	g0 := w.guests[0]
	top := uint32(w.pirqs[0].NrPIRQs() - 1)
	mmcfg := func(flags uint32) []byte {
		b := make([]byte, physdevMMCFGSize)
		le.PutUint64(b, 0xb0000000)
		b[11] = 0xff
		le.PutUint32(b[12:], flags)
		return b
	}
	iobmp := func(va uint64, ports uint32) []byte {
		b := make([]byte, 16)
		le.PutUint64(b, va)
		le.PutUint32(b[8:], ports)
		return b
	}
	apic := func(base uint64, reg, val uint32) []byte {
		b := make([]byte, 16)
		le.PutUint64(b, base)
		le.PutUint32(b[8:], reg)
		le.PutUint32(b[12:], val)
		return b
	}
	w.ctrl.Regs[1] = 0x00170020
	cases := []struct {
		name string
		dom  int
		cmd  int
		arg  []byte
		want uint64
		out  []byte // expected bytes at bufVA afterwards (nil: not checked)
	}{
		{"set_iopl 1", 1, abi.PHYSDEVOP_set_iopl, u32s(1), 0, nil},
		{"set_iopl 4", 1, abi.PHYSDEVOP_set_iopl, u32s(4), neg(abi.EINVAL), nil},
		{"set_iobitmap", 1, abi.PHYSDEVOP_set_iobitmap, iobmp(0x4000, 1024), 0, nil},
		{"set_iobitmap in the hypervisor's range", 1, abi.PHYSDEVOP_set_iobitmap, iobmp(0xffff800000000000, 8), neg(abi.EINVAL), nil},
		{"set_iobitmap non-canonical", 1, abi.PHYSDEVOP_set_iobitmap, iobmp(0x0000900000000000, 8), neg(abi.EINVAL), nil},
		{"set_iobitmap too many ports", 1, abi.PHYSDEVOP_set_iobitmap, iobmp(0x4000, 65537), neg(abi.EINVAL), nil},
		{"apic_read unprivileged", 1, abi.PHYSDEVOP_apic_read, apic(pirqtest.IOAPICBase, 1, 0), neg(abi.EPERM), nil},
		{"apic_read", 0, abi.PHYSDEVOP_apic_read, apic(pirqtest.IOAPICBase, 1, 0), 0, apic(pirqtest.IOAPICBase, 1, 0x00170020)},
		{"apic_read no IO-APIC there", 0, abi.PHYSDEVOP_apic_read, apic(0xfec01000, 1, 7), neg(abi.EINVAL), apic(0xfec01000, 1, 7)},
		{"apic_write", 0, abi.PHYSDEVOP_apic_write, apic(pirqtest.IOAPICBase, 0x10, 0x1234), 0, nil},
		{"alloc_irq_vector unprivileged", 1, abi.PHYSDEVOP_alloc_irq_vector, u32s(10, 0), neg(abi.EPERM), nil},
		{"alloc_irq_vector", 0, abi.PHYSDEVOP_alloc_irq_vector, u32s(10, 0), 0, u32s(10, 10)},
		{"setup_gsi unprivileged", 1, abi.PHYSDEVOP_setup_gsi, []byte{10, 0, 0, 0, 1, 1, 0, 0}, neg(abi.EPERM), nil},
		{"setup_gsi beyond the GSIs", 1, abi.PHYSDEVOP_setup_gsi, []byte{24, 0, 0, 0, 1, 1, 0, 0}, neg(abi.EINVAL), nil},
		{"setup_gsi 10 level low", 0, abi.PHYSDEVOP_setup_gsi, []byte{10, 0, 0, 0, 1, 1, 0, 0}, 0, nil},
		{"setup_gsi 4 edge high", 0, abi.PHYSDEVOP_setup_gsi, []byte{4, 0, 0, 0, 0, 0, 0, 0}, 0, nil},
		{"map_pirq unprivileged", 1, abi.PHYSDEVOP_map_pirq, mapArg(abi.DOMID_SELF, abi.MAP_PIRQ_TYPE_GSI, 9, 9, 0, 0, 0, 0), neg(abi.EPERM),
			mapArg(abi.DOMID_SELF, abi.MAP_PIRQ_TYPE_GSI, 9, 9, 0, 0, 0, 0)},
		{"map_pirq unknown domain", 0, abi.PHYSDEVOP_map_pirq, mapArg(7, abi.MAP_PIRQ_TYPE_GSI, 9, 9, 0, 0, 0, 0), neg(abi.ESRCH), nil},
		{"map_pirq gsi 9 any pirq", 0, abi.PHYSDEVOP_map_pirq, mapArg(abi.DOMID_SELF, abi.MAP_PIRQ_TYPE_GSI, 9, -1, 0, 0, 0, 0), 0,
			mapArg(abi.DOMID_SELF, abi.MAP_PIRQ_TYPE_GSI, 9, 16, 0, 0, 0, 0)},
		{"map_pirq gsi 10", 0, abi.PHYSDEVOP_map_pirq, mapArg(0, abi.MAP_PIRQ_TYPE_GSI, 10, 10, 0, 0, 0, 0), 0, nil},
		{"map_pirq gsi 4", 0, abi.PHYSDEVOP_map_pirq, mapArg(0, abi.MAP_PIRQ_TYPE_GSI, 4, 4, 0, 0, 0, 0), 0, nil},
		{"map_pirq gsi 30", 0, abi.PHYSDEVOP_map_pirq, mapArg(0, abi.MAP_PIRQ_TYPE_GSI, 30, 30, 0, 0, 0, 0), neg(abi.EINVAL),
			mapArg(0, abi.MAP_PIRQ_TYPE_GSI, 30, 30, 0, 0, 0, 0)},
		{"map_pirq gsi 10 for dom1 as pirq 3", 0, abi.PHYSDEVOP_map_pirq, mapArg(1, abi.MAP_PIRQ_TYPE_GSI, 10, 3, 0, 0, 0, 0), 0, nil},
		{"map_pirq gsi 4 for dom1 as pirq 4", 0, abi.PHYSDEVOP_map_pirq, mapArg(1, abi.MAP_PIRQ_TYPE_GSI, 4, 4, 0, 0, 0, 0), 0, nil},
		{"map_pirq MSI of an unreported device", 0, abi.PHYSDEVOP_map_pirq, mapArg(0, abi.MAP_PIRQ_TYPE_MSI_SEG, -1, -1, 1, 0, 0, 0), neg(abi.ENODEV),
			mapArg(0, abi.MAP_PIRQ_TYPE_MSI, -1, -1, 1, 0, 0, 0)},
		{"pci_device_add unprivileged", 1, abi.PHYSDEVOP_pci_device_add, []byte{0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0}, neg(abi.EPERM), nil},
		{"pci_device_add 0000:01:00.0", 0, abi.PHYSDEVOP_pci_device_add, []byte{0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 0, nil},
		{"map_pirq MSI", 0, abi.PHYSDEVOP_map_pirq, mapArg(0, abi.MAP_PIRQ_TYPE_MSI_SEG, -1, -1, 1, 0, 0, 0), 0,
			mapArg(0, abi.MAP_PIRQ_TYPE_MSI, -1, int32(top), 1, 0, 0, 0)},
		{"map_pirq multi-MSI", 0, abi.PHYSDEVOP_map_pirq, mapArg(0, abi.MAP_PIRQ_TYPE_MULTI_MSI, -1, -1, 1, 0, 4, 0), neg(abi.EINVAL), nil},
		{"map_pirq bad type", 0, abi.PHYSDEVOP_map_pirq, mapArg(0, 9, 9, 9, 0, 0, 0, 0), neg(abi.EINVAL), nil},
		{"unmap_pirq MSI", 0, abi.PHYSDEVOP_unmap_pirq, append([]byte{0xf0, 0x7f, 0, 0}, u32s(top)...), 0, nil},
		{"unmap_pirq again", 0, abi.PHYSDEVOP_unmap_pirq, append([]byte{0xf0, 0x7f, 0, 0}, u32s(top)...), neg(abi.EINVAL), nil},
		{"unmap_pirq unprivileged", 1, abi.PHYSDEVOP_unmap_pirq, append([]byte{0xf0, 0x7f, 0, 0}, u32s(3)...), neg(abi.EPERM), nil},
		{"irq_status_query", 1, abi.PHYSDEVOP_irq_status_query, u32s(3, 0), 0, u32s(3, abi.XENIRQSTAT_needs_eoi)},
		{"irq_status_query out of range", 1, abi.PHYSDEVOP_irq_status_query, u32s(1000, 0), neg(abi.EINVAL), nil},
		{"get_free_pirq GSI", 0, abi.PHYSDEVOP_get_free_pirq, u32s(abi.MAP_PIRQ_TYPE_GSI, 0), 0, u32s(abi.MAP_PIRQ_TYPE_GSI, 17)},
		{"get_free_pirq MSI", 0, abi.PHYSDEVOP_get_free_pirq, u32s(abi.MAP_PIRQ_TYPE_MSI, 0), 0, u32s(abi.MAP_PIRQ_TYPE_MSI, top)},
		{"eoi of no PIRQ", 0, abi.PHYSDEVOP_eoi, u32s(5), neg(abi.EINVAL), nil},
		{"pci_device_remove unknown", 0, abi.PHYSDEVOP_pci_device_remove, []byte{0, 0, 9, 0}, neg(abi.ENODEV), nil},
		{"pci_device_remove unprivileged", 1, abi.PHYSDEVOP_pci_device_remove, []byte{0, 0, 1, 0}, neg(abi.EPERM), nil},
		{"manage_pci_add_ext bad is_extfn", 0, abi.PHYSDEVOP_manage_pci_add_ext, append([]byte{2, 8, 0, 0}, u32s(2, 0, 0)...), neg(abi.EINVAL), nil},
		{"manage_pci_add_ext virtfn", 0, abi.PHYSDEVOP_manage_pci_add_ext, append([]byte{2, 9, 0, 0}, u32s(0, 1, 8)...), 0, nil},
		{"manage_pci_add", 0, abi.PHYSDEVOP_manage_pci_add, []byte{3, 0}, 0, nil},
		{"manage_pci_remove", 0, abi.PHYSDEVOP_manage_pci_remove, []byte{3, 0}, 0, nil},
		{"pci_mmcfg_reserved unprivileged", 1, abi.PHYSDEVOP_pci_mmcfg_reserved, mmcfg(1), neg(abi.EPERM), nil},
		{"pci_mmcfg_reserved not in MCFG", 0, abi.PHYSDEVOP_pci_mmcfg_reserved, mmcfg(1), neg(abi.ENODEV), nil},
		{"pci_mmcfg_reserved bad flags", 0, abi.PHYSDEVOP_pci_mmcfg_reserved, mmcfg(3), neg(abi.EINVAL), nil},
		{"dbgp_op unprivileged", 1, abi.PHYSDEVOP_dbgp_op, make([]byte, 6), neg(abi.EPERM), nil},
		{"dbgp_op", 0, abi.PHYSDEVOP_dbgp_op, make([]byte, 6), 0, nil},
		{"IRQ_UNMASK_NOTIFY", 0, abi.PHYSDEVOP_IRQ_UNMASK_NOTIFY, nil, 0, nil},
		{"unknown command", 0, 99, nil, neg(abi.ENOSYS), nil},
		{"restore_msi unknown", 0, abi.PHYSDEVOP_restore_msi, []byte{0, 0}, neg(abi.ENODEV), nil},
		{"restore_msi unprivileged", 1, abi.PHYSDEVOP_restore_msi, []byte{1, 0}, neg(abi.EPERM), nil},
		{"restore_msi", 0, abi.PHYSDEVOP_restore_msi, []byte{1, 0}, 0, nil},
		{"restore_msi_ext", 0, abi.PHYSDEVOP_restore_msi_ext, []byte{0, 0, 1, 0}, 0, nil},
		{"restore_msi_ext other segment", 0, abi.PHYSDEVOP_restore_msi_ext, []byte{1, 0, 1, 0}, neg(abi.ENODEV), nil},
	}
	for _, c := range cases {
		checkRet(t, c.name, w.physdev(c.dom, c.cmd, c.arg), c.want)
		if c.out != nil {
			if got := w.guests[c.dom].get(bufVA, len(c.out)); string(got) != string(c.out) {
				t.Fatalf("%s: argument afterwards % x, want % x", c.name, got, c.out)
			}
		}
	}
	if v := w.vcpus[1]; v.iopl != 1 || v.iobmp != 0x4000 || v.ioPorts != 1024 {
		t.Fatalf("I/O privileges %d %#x %d", v.iopl, v.iobmp, v.ioPorts)
	}
	if w.ctrl.Regs[0x10] != 0x1234 || w.ctrl.Triggers[10] != pirq.Level || w.ctrl.Triggers[4] != pirq.Edge {
		t.Fatalf("controller %+v", w.ctrl)
	}
	if n := strings.Count(strings.Join(w.ctrl.Log, "\n"), "restore 0000:01:00"); n != 2 {
		t.Fatalf("controller restored 0000:01:00.0 %d times, want 2: %q", n, w.ctrl.Log)
	}
	if !w.irqs.HasDevice(pirq.SBDF{Bus: 2, Devfn: 9}) || !w.irqs.HasDevice(pirq.SBDF{Bus: 8}) || w.irqs.HasDevice(pirq.SBDF{Bus: 3}) {
		t.Fatal("PCI devices")
	}

	// Every command that reads an argument faults on a bad pointer.
	for _, cmd := range []int{abi.PHYSDEVOP_eoi, abi.PHYSDEVOP_pirq_eoi_gmfn_v2, abi.PHYSDEVOP_irq_status_query,
		abi.PHYSDEVOP_set_iopl, abi.PHYSDEVOP_set_iobitmap, abi.PHYSDEVOP_apic_read, abi.PHYSDEVOP_apic_write,
		abi.PHYSDEVOP_map_pirq, abi.PHYSDEVOP_unmap_pirq, abi.PHYSDEVOP_manage_pci_add, abi.PHYSDEVOP_manage_pci_add_ext,
		abi.PHYSDEVOP_setup_gsi, abi.PHYSDEVOP_get_free_pirq, abi.PHYSDEVOP_pci_mmcfg_reserved,
		abi.PHYSDEVOP_pci_device_add, abi.PHYSDEVOP_pci_device_remove, abi.PHYSDEVOP_dbgp_op,
		abi.PHYSDEVOP_restore_msi, abi.PHYSDEVOP_restore_msi_ext} {
		checkRet(t, "bad pointer", w.call(0, abi.HYPERVISOR_physdev_op, uint64(cmd), badVA), neg(abi.EFAULT))
	}
	// pci_device_add reads the proximity domain after the structure.
	at := uint64(bufEnd - physdevDevAddSize)
	g0.put(at, []byte{0, 0, 4, 0, abi.XEN_PCI_DEV_PXM, 0, 0, 0, 0, 0, 0, 0})
	checkRet(t, "pci_device_add PXM unreadable", w.call(0, abi.HYPERVISOR_physdev_op, abi.PHYSDEVOP_pci_device_add, at), neg(abi.EFAULT))
}

// The EOI map: dom1 registers one of its frames; binding a level PIRQ
// sets its bit, an edge PIRQ's is cleared; the EOI unmasks the pin.
func TestPhysdevEOIMap(t *testing.T) {
	w := newMMWorld(t)
	w.physdev(0, abi.PHYSDEVOP_setup_gsi, []byte{10, 0, 0, 0, 1, 1, 0, 0})
	w.physdev(0, abi.PHYSDEVOP_setup_gsi, []byte{4, 0, 0, 0, 0, 0, 0, 0})
	checkRet(t, "map 10", w.physdev(0, abi.PHYSDEVOP_map_pirq, mapArg(1, abi.MAP_PIRQ_TYPE_GSI, 10, 3, 0, 0, 0, 0)), 0)
	checkRet(t, "map 4", w.physdev(0, abi.PHYSDEVOP_map_pirq, mapArg(1, abi.MAP_PIRQ_TYPE_GSI, 4, 4, 0, 0, 0, 0)), 0)

	eoi := w.data[1][5]
	gmfn := func(m mm.MFN) []byte { b := make([]byte, 8); le.PutUint64(b, uint64(m)); return b }
	checkRet(t, "eoi_gmfn of dom0's frame", w.physdev(1, abi.PHYSDEVOP_pirq_eoi_gmfn_v2, gmfn(w.data[0][5])), neg(abi.EINVAL))
	checkRet(t, "eoi_gmfn beyond memory", w.physdev(1, abi.PHYSDEVOP_pirq_eoi_gmfn_v2, gmfn(1<<40)), neg(abi.EINVAL))
	checkRet(t, "eoi_gmfn of a page table", w.physdev(1, abi.PHYSDEVOP_pirq_eoi_gmfn_v2, gmfn(w.l1[1])), neg(abi.EINVAL))
	before, _ := w.ft.Page(eoi)
	checkRet(t, "eoi_gmfn_v2", w.physdev(1, abi.PHYSDEVOP_pirq_eoi_gmfn_v2, gmfn(eoi)), 0)
	checkRet(t, "eoi_gmfn again", w.physdev(1, abi.PHYSDEVOP_pirq_eoi_gmfn_v2, gmfn(eoi)), neg(abi.EBUSY))
	if pi, _ := w.ft.Page(eoi); pi.Type != mm.PageTypeWritable || pi.TypeCount != before.TypeCount+1 || pi.Count != before.Count+1 {
		t.Fatalf("EOI map frame %+v (before %+v)", pi, before)
	}
	w.mmem.Write(eoi.Addr(), []byte{0x10}) // a stale bit 4, as a guest may leave it

	bind := func(p uint32) uint32 {
		w.guests[1].put(bufVA, u32s(p, 0, 0))
		checkRet(t, "bind_pirq", w.call(1, abi.HYPERVISOR_event_channel_op, abi.EVTCHNOP_bind_pirq, bufVA), 0)
		return w.guests[1].get32(bufVA + 8)
	}
	bind(3)
	bind(4)
	if v, _ := w.mmem.Load64(eoi.Addr()); v != 1<<3 {
		t.Fatalf("EOI map %#x, want bit 3 only", v)
	}
	w.ctrl.Log = nil
	w.irqs.Interrupt(10)
	checkRet(t, "eoi", w.physdev(1, abi.PHYSDEVOP_eoi, u32s(3)), 0)
	if len(w.ctrl.Log) != 1 || w.ctrl.Log[0] != "unmask 10" {
		t.Fatalf("controller %q", w.ctrl.Log)
	}
	// Binding a PIRQ that is not mapped is refused as in Xen.
	w.guests[1].put(bufVA, u32s(7, 0, 0))
	checkRet(t, "bind_pirq unmapped", w.call(1, abi.HYPERVISOR_event_channel_op, abi.EVTCHNOP_bind_pirq, bufVA), neg(abi.EPERM))
	w.pirqs[1].Destroy()
	if pi, _ := w.ft.Page(eoi); pi != before {
		t.Fatalf("EOI map frame after Destroy %+v, want %+v", pi, before)
	}
}

// With the v1 EOI map, PHYSDEVOP_eoi also unmasks the PIRQ's port.
func TestPhysdevEOIMapV1Unmasks(t *testing.T) {
	w := newMMWorld(t)
	w.physdev(0, abi.PHYSDEVOP_map_pirq, mapArg(0, abi.MAP_PIRQ_TYPE_GSI, 5, 5, 0, 0, 0, 0))
	b := make([]byte, 8)
	le.PutUint64(b, uint64(w.data[0][5]))
	checkRet(t, "eoi_gmfn_v1", w.physdev(0, abi.PHYSDEVOP_pirq_eoi_gmfn_v1, b), 0)
	w.guests[0].put(bufVA, u32s(5, 0, 0))
	checkRet(t, "bind_pirq", w.call(0, abi.HYPERVISOR_event_channel_op, abi.EVTCHNOP_bind_pirq, bufVA), 0)
	port := w.guests[0].get32(bufVA + 8)
	mask := mm.Maddr(sharedA + 2560 + port/64*8)
	w.mem.Or64(mask, 1<<(port%64))
	checkRet(t, "eoi", w.physdev(0, abi.PHYSDEVOP_eoi, u32s(5)), 0)
	if v, _ := w.mem.Load64(mask); v&(1<<(port%64)) != 0 {
		t.Fatal("port still masked after a v1 EOI")
	}
}

// Without interrupt hardware (the metal's state today) physdev_op gives
// Xen's answers for a machine without it, never success.
func TestPhysdevNoHardware(t *testing.T) {
	w := newWorld(t)
	m := pirq.NewMachine(pirq.Config{})
	w.d = New(Config{IRQs: m})
	for i := range 2 {
		t := m.NewTable(abi.DomID(i), i == 0)
		w.doms[i].state = NewDomainState(DomainConfig{Events: w.doms[i].state.events, PIRQs: t})
	}
	w.guests[0].put(bufVA, mapArg(abi.DOMID_SELF, abi.MAP_PIRQ_TYPE_GSI, 9, 9, 0, 0, 0, 0))
	checkRet(t, "map_pirq gsi 9", w.call(0, abi.HYPERVISOR_physdev_op, abi.PHYSDEVOP_map_pirq, bufVA), neg(abi.EINVAL))
	w.guests[0].put(bufVA, []byte{9, 0, 0, 0, 1, 1, 0, 0})
	checkRet(t, "setup_gsi 9", w.call(0, abi.HYPERVISOR_physdev_op, abi.PHYSDEVOP_setup_gsi, bufVA), neg(abi.EINVAL))
	w.guests[0].put(bufVA, make([]byte, 16))
	checkRet(t, "apic_read", w.call(0, abi.HYPERVISOR_physdev_op, abi.PHYSDEVOP_apic_read, bufVA), neg(abi.EINVAL))
	checkRet(t, "pirq_eoi_gmfn without frames", w.call(0, abi.HYPERVISOR_physdev_op, abi.PHYSDEVOP_pirq_eoi_gmfn_v2, bufVA), neg(abi.EINVAL))
	checkRet(t, "set_iopl", w.call(0, abi.HYPERVISOR_physdev_op, abi.PHYSDEVOP_set_iopl, bufVA), 0)
}
