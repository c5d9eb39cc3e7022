package hypercall

import (
	"encoding/binary"
	"testing"

	"github.com/gohv/gohv/abi"
)

// fuzzPrivileged runs one call from the privileged dom0 of a fuzz world
// with guest memory from mem and checks the decoder properties: no panic,
// a guest-visible errno or a non-negative value, and no guest byte
// written outside [lo, hi) or the extra ranges.
func fuzzPrivileged(t *testing.T, nr uint64, a Args, mem []byte, lo, hi uint64, extra ...[2]uint64) {
	w := newFuzzWorld(t)
	g := w.guests[0]
	if len(mem) > bufEnd-bufVA {
		mem = mem[:bufEnd-bufVA]
	}
	g.put(bufVA, mem)
	// Some interrupt state to reach: GSI 10 level, mapped and bound.
	w.irqs.SetupGSI(10, 1, 1)
	if _, e := w.pirqs[0].MapGSI(w.pirqs[0], 10, 10); e != 0 {
		t.Fatal(e)
	}
	if _, e := w.doms[0].state.events.BindPIRQ(10, 0); e != 0 {
		t.Fatal(e)
	}
	g.writes = map[uint64]bool{}
	r := w.d.Dispatch(w.callers[0], nr, &a)
	if r.Continue {
		t.Fatalf("unexpected continuation")
	}
	if int64(r.Ret) < 0 {
		if e, ok := abi.ErrnoFromRet(r.Ret); !ok || !e.GuestVisible() {
			t.Fatalf("returned %#x, not a guest-visible errno", r.Ret)
		}
	}
next:
	for at := range g.writes {
		if at >= lo && at < hi {
			continue
		}
		for _, x := range extra {
			if at >= x[0] && at < x[1] {
				continue next
			}
		}
		t.Fatalf("wrote guest byte %#x outside [%#x, %#x) %v", at, lo, hi, extra)
	}
	if len(w.guests[1].writes) != 0 {
		t.Fatal("dom1's guest memory written")
	}
}

// FuzzPhysdevOp issues physdev_op from the privileged domain with any
// command and argument bytes. Properties: see fuzzPrivileged; only the
// named argument structure (at most 40 bytes) is written.
func FuzzPhysdevOp(f *testing.F) {
	for _, cmd := range []int{abi.PHYSDEVOP_eoi, abi.PHYSDEVOP_irq_status_query, abi.PHYSDEVOP_set_iopl,
		abi.PHYSDEVOP_set_iobitmap, abi.PHYSDEVOP_apic_read, abi.PHYSDEVOP_map_pirq, abi.PHYSDEVOP_unmap_pirq,
		abi.PHYSDEVOP_get_free_pirq, abi.PHYSDEVOP_pci_device_add, abi.PHYSDEVOP_pirq_eoi_gmfn_v2, abi.PHYSDEVOP_setup_gsi} {
		f.Add(uint32(cmd), uint16(0), mapArg(0, abi.MAP_PIRQ_TYPE_GSI, 10, -1, 1, 0, 0, 0))
	}
	f.Add(uint32(abi.PHYSDEVOP_map_pirq), uint16(0), mapArg(abi.DOMID_SELF, abi.MAP_PIRQ_TYPE_MSI_SEG, -1, -1, 0x10001, 8, 2, 0xfe000000))
	f.Add(uint32(abi.PHYSDEVOP_pci_device_add), uint16(bufEnd-bufVA-12), []byte{0, 0, 1, 0, 4})
	f.Fuzz(func(t *testing.T, cmd uint32, off uint16, mem []byte) {
		arg := bufVA + uint64(off)%(bufEnd-bufVA)
		fuzzPrivileged(t, abi.HYPERVISOR_physdev_op, Args{uint64(cmd % 40), arg}, memAt(off, mem), arg, arg+physdevMaxArg)
	})
}

// memAt places mem at offset off of the mapped guest pages.
func memAt(off uint16, mem []byte) []byte {
	o := int(off) % (bufEnd - bufVA)
	b := make([]byte, o+len(mem))
	copy(b[o:], mem)
	return b
}

// FuzzPlatformOp issues platform_op from the privileged domain with any
// structure. Properties: see fuzzPrivileged; only the structure and, for
// a _PDC request, the 12 bytes its handle names are written.
func FuzzPlatformOp(f *testing.F) {
	for _, cmd := range []uint32{abi.XENPF_settime64, abi.XENPF_firmware_info, abi.XENPF_get_cpuinfo,
		abi.XENPF_enter_acpi_sleep, abi.XENPF_set_processor_pminfo} {
		f.Add(uint16(0), pfOp(cmd, cat(u32s(1, abi.XEN_FW_KBD_SHIFT_FLAGS), u64le(bufVA+0x800))...))
	}
	f.Add(uint16(0x100), pfOp(abi.XENPF_set_processor_pminfo, cat(u32s(^uint32(0), abi.XEN_PM_PDC), u64le(bufVA))...))
	f.Fuzz(func(t *testing.T, off uint16, op []byte) {
		arg := bufVA + uint64(off)%(bufEnd-bufVA)
		var pdc [][2]uint64
		if len(op) >= pfPMInfoPDC+8 && binary.LittleEndian.Uint32(op) == abi.XENPF_set_processor_pminfo &&
			binary.LittleEndian.Uint32(op[pfPMInfoType:]) == abi.XEN_PM_PDC {
			h := binary.LittleEndian.Uint64(op[pfPMInfoPDC:])
			pdc = append(pdc, [2]uint64{h + 8, h + 12})
		}
		fuzzPrivileged(t, abi.HYPERVISOR_platform_op, Args{arg}, memAt(off, op), arg, arg+platformOpSize, pdc...)
	})
}
