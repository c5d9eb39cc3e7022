package hv

import (
	"sort"

	"github.com/gohv/gohv/hypercall"
	"github.com/gohv/gohv/mm"
)

// IOMem is a domain's I/O capability as an mm.IOPolicy (Xen's iomem_caps
// with its ioport_caps reduced to "holds any"): the machine frames it may
// map as I/O memory, kept as sorted, disjoint, inclusive frame ranges.
// Built once; read-only afterwards, so safe for concurrent use.
type IOMem struct {
	ranges [][2]uint64
	ports  bool
}

// NewIOMem permits frames [0, frames) but those in deny (inclusive
// ranges, any order, overlaps allowed); ports says whether the domain
// also holds I/O port capabilities.
func NewIOMem(frames uint64, deny [][2]uint64, ports bool) *IOMem {
	d := append([][2]uint64(nil), deny...)
	sort.Slice(d, func(i, j int) bool { return d[i][0] < d[j][0] })
	m := &IOMem{ports: ports}
	next := uint64(0)
	for _, r := range d {
		if r[0] > r[1] || r[0] >= frames {
			continue
		}
		if r[0] > next {
			m.ranges = append(m.ranges, [2]uint64{next, r[0] - 1})
		}
		next = max(next, r[1]+1)
	}
	if next < frames {
		m.ranges = append(m.ranges, [2]uint64{next, frames - 1})
	}
	return m
}

// IOMemAllowed implements mm.IOPolicy (iomem_access_permitted).
func (m *IOMem) IOMemAllowed(f mm.MFN) bool {
	i := sort.Search(len(m.ranges), func(i int) bool { return m.ranges[i][1] >= uint64(f) })
	return i < len(m.ranges) && m.ranges[i][0] <= uint64(f)
}

// HasIOCaps implements mm.IOPolicy (cache_flush_permitted).
func (m *IOMem) HasIOCaps() bool { return m.ports || len(m.ranges) > 0 }

// IOMemRanges implements IOMemRanger.
func (m *IOMem) IOMemRanges(first, last uint64) [][2]uint64 {
	var out [][2]uint64
	for _, r := range m.ranges {
		lo, hi := max(r[0], first), min(r[1], last)
		if lo <= hi {
			out = append(out, [2]uint64{lo, hi})
		}
	}
	return out
}

// Dom0IOMemHost is what Dom0IOMemDenied needs to know of the machine.
type Dom0IOMemHost struct {
	LocalAPIC uint64   // the local APIC's base address (0: none)
	IOAPICs   []uint64 // the IO-APICs' base addresses
	AMD       bool     // AMD or Hygon: the HyperTransport window is kept back
	Family    uint     // the CPU's display family (CPUID 1)
	PaddrBits uint     // physical address width (CPUID 0x80000008)
	E820      []hypercall.E820Entry
}

// Dom0IOMemDenied lists the frames the hardware domain may not map as
// I/O memory, as Xen 4.17's dom0_setup_permissions keeps them back: the
// local APIC's frame, each IO-APIC's, the MSI window 0xFEE00000-
// 0xFEEFFFFF, on AMD and Hygon the HyperTransport window (the 12 GiB
// below 1 TiB before family 0x17, below 2^PaddrBits from it on) and the E820-unusable ranges above 1 MiB. (Xen also
// keeps back the HPET's frames when the ACPI HPET table asks for page
// protection, and maps it read-only otherwise; gohv reads no HPET table.)
func Dom0IOMemDenied(h Dom0IOMemHost) [][2]uint64 {
	var d [][2]uint64
	one := func(a uint64) { d = append(d, [2]uint64{a >> mm.PageShift, a >> mm.PageShift}) }
	if h.LocalAPIC != 0 {
		one(h.LocalAPIC)
	}
	for _, a := range h.IOAPICs {
		one(a)
	}
	d = append(d, [2]uint64{0xFEE00000 >> mm.PageShift, 0xFEEFFFFF >> mm.PageShift})
	if h.AMD {
		bits := h.PaddrBits
		if h.Family < 0x17 {
			bits = 40
		}
		top := uint64(1) << bits >> mm.PageShift
		d = append(d, [2]uint64{top - (3 << 32 >> mm.PageShift), top - 1})
	}
	for _, e := range h.E820 {
		if e.Type != hypercall.E820Unusable || e.Size == 0 {
			continue
		}
		s, l := max(e.Addr>>mm.PageShift, 0x100), (e.Addr+e.Size-1)>>mm.PageShift
		if s <= l {
			d = append(d, [2]uint64{s, l})
		}
	}
	return d
}
