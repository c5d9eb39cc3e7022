package hv

import (
	"encoding/binary"
	"testing"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/arch"
	"github.com/gohv/gohv/mm"
)

// TestPhysdevAndPlatformWiring: physdev_op and platform_op through the
// run loop: set_iopl and set_iobitmap reach the PV vCPU, map_pirq gets
// Xen's answer for a machine without interrupt hardware (the metal drives
// none yet), the EOI map takes a frame of the domain, settime64 moves
// every domain's wall clock, and get_cpuinfo describes CPU 0.
func TestPhysdevAndPlatformWiring(t *testing.T) {
	m, d, fm, _, data := testGuest(t, true)
	d1, err := m.CreateDomain(DomainConfig{ID: 1, VCPUs: 1})
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	var page [mm.PageSize]byte
	le.PutUint32(page[0:], 2)               // physdev_set_iopl
	le.PutUint64(page[16:], 0x7000)         // physdev_set_iobitmap
	le.PutUint32(page[24:], 256)            //
	le.PutUint16(page[32:], abi.DOMID_SELF) // physdev_map_pirq: GSI 9
	le.PutUint32(page[36:], abi.MAP_PIRQ_TYPE_GSI)
	le.PutUint32(page[40:], 9)
	le.PutUint32(page[44:], 9)
	le.PutUint64(page[80:], uint64(data)) // physdev_pirq_eoi_gmfn
	op := page[256:]                      // xen_platform_op settime64
	le.PutUint32(op[0:], abi.XENPF_settime64)
	le.PutUint32(op[4:], abi.XENPF_INTERFACE_VERSION)
	le.PutUint64(op[8:], 1_900_000_000)
	le.PutUint32(op[16:], 5)
	le.PutUint64(op[24:], 2_000_000_000)
	ci := page[512:] // xen_platform_op get_cpuinfo of CPU 0
	le.PutUint32(ci[0:], abi.XENPF_get_cpuinfo)
	le.PutUint32(ci[4:], abi.XENPF_INTERFACE_VERSION)
	le.PutUint32(ci[16:], 7)
	m.cfg.Mem.Write(data.Addr(), page[:])

	fm.steps = []func(*arch.Regs) arch.Exit{
		hypercallExit(abi.HYPERVISOR_physdev_op, abi.PHYSDEVOP_set_iopl, dataVA),
		hypercallExit(abi.HYPERVISOR_physdev_op, abi.PHYSDEVOP_set_iobitmap, dataVA+16),
		hypercallExit(abi.HYPERVISOR_physdev_op, abi.PHYSDEVOP_map_pirq, dataVA+32),
		hypercallExit(abi.HYPERVISOR_physdev_op, abi.PHYSDEVOP_pirq_eoi_gmfn_v2, dataVA+80),
		hypercallExit(abi.HYPERVISOR_platform_op, dataVA+256),
		hypercallExit(abi.HYPERVISOR_platform_op, dataVA+512),
	}
	d.VCPU(0).Run()
	r := fm.results
	einval := abi.EINVAL.Ret()
	if r[1].RAX != 0 || r[2].RAX != 0 || r[3].RAX != einval || r[4].RAX != 0 || r[5].RAX != 0 || r[6].RAX != 0 {
		t.Fatalf("results %#x %#x %#x %#x %#x %#x", r[1].RAX, r[2].RAX, r[3].RAX, r[4].RAX, r[5].RAX, r[6].RAX)
	}
	v := d.VCPU(0).pv
	if v.IOPL != 2<<12 || v.IOBitmap != 0x7000 || v.IOBitmapPorts != 256 {
		t.Fatalf("I/O privileges %#x %#x %d", v.IOPL, v.IOBitmap, v.IOBitmapPorts)
	}
	if f, ok := d.state.PIRQs().EOIMap(); !ok || f != data {
		t.Fatalf("EOI map %#x %v", f, ok)
	}
	m.cfg.Mem.Read(data.Addr(), page[:])
	if flags, apic := le.Uint32(page[512+16:]), le.Uint32(page[512+20:]); flags != abi.XEN_PCPU_FLAGS_ONLINE || apic != 0 || le.Uint32(page[512+24:]) != ^uint32(0) {
		t.Fatalf("cpuinfo flags %d apic %d acpi %#x", flags, apic, le.Uint32(page[512+24:]))
	}
	for _, dom := range []*Domain{d, d1} {
		var wc [12]byte
		m.cfg.Mem.Read(dom.SharedInfo().Addr()+wcVersionOff+4, wc[:])
		if sec, nsec := le.Uint32(wc[0:]), le.Uint32(wc[4:]); sec != 1_899_999_998 || nsec != 5 {
			t.Fatalf("d%d wall clock %d.%09d", dom.id, sec, nsec)
		}
	}
	// Destroying the domain drops the EOI map's references with its
	// other frames.
	free := m.cfg.Alloc.FreeFrames()
	if err := m.DestroyDomain(0); err != nil {
		t.Fatalf("destroying the domain with an EOI map: %v", err)
	}
	if m.cfg.Alloc.FreeFrames() <= free {
		t.Fatal("no frame came back")
	}
	if err := m.DestroyDomain(1); err != nil {
		t.Fatal(err)
	}
}
