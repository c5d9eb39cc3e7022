package boot

// MADT (ACPI "APIC" table) facts: the machine's CPUs, IO-APICs, ISA
// interrupt overrides and NMI wiring, which gohv needs to own the interrupt
// hardware and bring up the other CPUs.
//
// Layout (ACPI 6.5 section 5.2.12; ACPICA actbl2.h as carried in Xen 4.17
// xen/include/acpi/actbl1.h):
//
//	MADT body: local APIC address u32 36, flags u32 40 (bit 0 PCAT_COMPAT:
//	       the machine also has 8259 PICs), entries from 44, each
//	       type u8 0, length u8 1.
//	0 local APIC (8):       ACPI processor UID u8 2, APIC ID u8 3, flags u32 4
//	1 IO-APIC (12):         IO-APIC ID u8 2, address u32 4, GSI base u32 8
//	2 int source override (10): bus u8 2, source (ISA IRQ) u8 3, GSI u32 4,
//	       MPS INTI flags u16 8
//	3 NMI source (8):       MPS INTI flags u16 2, GSI u32 4
//	4 local APIC NMI (6):   ACPI processor UID u8 2 (0xFF: all), flags u16 3,
//	       LINT# u8 5
//	5 local APIC address override (12): address u64 4
//	9 local x2APIC (16):    x2APIC ID u32 4, flags u32 8, ACPI UID u32 12
//	10 local x2APIC NMI (12): flags u16 2, ACPI UID u32 4 (0xFFFFFFFF: all),
//	       LINT# u8 8
//
//	Local (x2)APIC flags: bit 0 enabled, bit 1 online capable (ACPI 6.3).
//	MPS INTI flags: bits 1-0 polarity (0 bus default, 1 active high,
//	       3 active low), bits 3-2 trigger (0 bus default, 1 edge, 3 level).
//
// Console lines follow Xen 4.17's acpi_table_print_madt_entry
// (xen/drivers/acpi/tables.c) and acpi_parse_madt (xen/arch/x86/acpi/boot.c).

import (
	"fmt"
)

// MADT entry types.
const (
	ACPI_MADT_TYPE_LOCAL_APIC          = 0
	ACPI_MADT_TYPE_IO_APIC             = 1
	ACPI_MADT_TYPE_INTERRUPT_OVERRIDE  = 2
	ACPI_MADT_TYPE_NMI_SOURCE          = 3
	ACPI_MADT_TYPE_LOCAL_APIC_NMI      = 4
	ACPI_MADT_TYPE_LOCAL_APIC_OVERRIDE = 5
	ACPI_MADT_TYPE_LOCAL_X2APIC        = 9
	ACPI_MADT_TYPE_LOCAL_X2APIC_NMI    = 10
)

// MADT flag bits.
const (
	ACPI_MADT_PCAT_COMPAT    = 1      // table flags: 8259 PICs present
	ACPI_MADT_ENABLED        = 1      // local APIC flags
	ACPI_MADT_ONLINE_CAPABLE = 1 << 1 // local APIC flags (ACPI 6.3)
	ACPI_MADT_POLARITY_MASK  = 3
	ACPI_MADT_TRIGGER_MASK   = 3 << 2
)

// Polarity and trigger values of MPS INTI flags.
const (
	MPSConforms    = 0 // bus default ("dfl")
	MPSActiveHigh  = 1
	MPSActiveLow   = 3
	MPSEdge        = 1
	MPSLevel       = 3
	madtBodyOff    = 44
	madtLAPICAddr  = 36
	madtFlagsOff   = 40
	madtNoX2APICID = 0xFFFFFFFF
)

// MaxMADTEntries bounds the entries ParseMADT decodes.
const MaxMADTEntries = 4096

// MADTCPU is one local APIC or local x2APIC entry.
type MADTCPU struct {
	APICID        uint32 // the CPU's (x2)APIC ID
	ACPIID        uint32 // the ACPI processor UID
	Enabled       bool   // usable now
	OnlineCapable bool   // disabled but may be brought online (hotplug)
	X2APIC        bool   // from a local x2APIC entry
}

// MADTIOAPIC is one IO-APIC: its ID, MMIO base and first GSI.
type MADTIOAPIC struct {
	ID      uint8
	Addr    uint32
	GSIBase uint32
}

// MADTOverride maps an ISA IRQ (Source on Bus, which is 0 = ISA) to a GSI
// with MPS polarity and trigger values (MPSConforms means the bus default:
// active high, edge for ISA).
type MADTOverride struct {
	Bus, Source       uint8
	GSI               uint32
	Polarity, Trigger uint8
}

// MADTNMISource says a GSI is wired to NMI.
type MADTNMISource struct {
	GSI               uint32
	Polarity, Trigger uint8
}

// MADTLAPICNMI says a CPU's (ACPIID; all CPUs when All) LINT pin is NMI.
type MADTLAPICNMI struct {
	ACPIID            uint32
	All               bool
	LINT              uint8
	Polarity, Trigger uint8
	X2APIC            bool
}

// MADT is what gohv uses from the MADT. LAPICAddr is the local APIC's MMIO
// base after any address override. Lines are console lines (without
// "(XEN) ") in Xen's wording, filled also when ParseMADT fails.
type MADT struct {
	LAPICAddr  uint64
	PCATCompat bool
	CPUs       []MADTCPU // in table order
	IOAPICs    []MADTIOAPIC
	Overrides  []MADTOverride
	NMISources []MADTNMISource
	LAPICNMIs  []MADTLAPICNMI
	Lines      []string
}

// EnabledCPUs counts the CPUs that are enabled.
func (m *MADT) EnabledCPUs() int {
	n := 0
	for _, c := range m.CPUs {
		if c.Enabled {
			n++
		}
	}
	return n
}

// HotplugCPUs counts the CPUs that are listed but not enabled, as Xen 4.17
// counts its hotplug CPUs (whether or not the entry says online capable).
func (m *MADT) HotplugCPUs() int {
	n := 0
	for _, c := range m.CPUs {
		if !c.Enabled {
			n++
		}
	}
	return n
}

// ISAGSI returns the GSI, polarity and trigger of ISA IRQ irq: the
// override's when there is one, else the identity mapping, active high,
// edge (the ISA default).
func (m *MADT) ISAGSI(irq uint8) (gsi uint32, polarity, trigger uint8) {
	for _, o := range m.Overrides {
		if o.Bus == 0 && o.Source == irq {
			p, t := o.Polarity, o.Trigger
			if p == MPSConforms {
				p = MPSActiveHigh
			}
			if t == MPSConforms {
				t = MPSEdge
			}
			return o.GSI, p, t
		}
	}
	return uint32(irq), MPSActiveHigh, MPSEdge
}

var (
	mpsPolarity = [4]string{"dfl", "high", "res", "low"}
	mpsTrigger  = [4]string{"dfl", "edge", "res", "level"}
)

func madtEnabled(flags uint32) string {
	if flags&ACPI_MADT_ENABLED != 0 {
		return "enabled"
	}
	return "disabled"
}

// FindACPITable returns the address and bytes of the first table with
// signature sig listed in the root table (XSDT or RSDT, chosen as ParseS5
// chooses) of the RSDP at rsdp. The table's length must lie in
// [36, MaxACPITable]. Errors wrap ErrUnreadable, ErrMalformed or ErrNoACPI.
func FindACPITable(r PhysReader, rsdp uint64, sig string) (uint64, []byte, error) {
	w := &s5Walk{r: r, p: &PowerOff{}}
	rs, err := read(r, rsdp, acpiRSDPXLen, "RSDP")
	if err != nil {
		if rs, err = read(r, rsdp, acpiRSDPLen, "RSDP"); err != nil {
			return 0, nil, err
		}
	}
	if string(rs[:8]) != acpiSigRSDP {
		return 0, nil, fmt.Errorf("RSDP at %#x: bad signature: %w", rsdp, ErrMalformed)
	}
	rsdt := uint64(le.Uint32(rs[16:]))
	var xsdt uint64
	if rs[15] > 1 && len(rs) >= acpiRSDPXLen {
		xsdt = le.Uint64(rs[24:])
	}
	root, esize, rsig := rsdt, 4, "RSDT"
	if xsdt != 0 {
		root, esize, rsig = xsdt, 8, "XSDT"
	}
	rt, err := w.rootTable(root, rsig)
	if err != nil {
		return 0, nil, err
	}
	if esize == 8 && rsdt != 0 && acpiHasNullEntry(rt[acpiHeaderLen:]) {
		root, esize, rsig = rsdt, 4, "RSDT"
		if rt, err = w.rootTable(root, rsig); err != nil {
			return 0, nil, err
		}
	}
	entries := rt[acpiHeaderLen:]
	n := min(len(entries)/esize, MaxRootEntries)
	for i := 0; i < n; i++ {
		a := rootEntry(entries, i, esize)
		if a == 0 {
			continue
		}
		h, err := read(r, a, acpiHeaderLen, "ACPI table header")
		if err != nil || string(h[:4]) != sig {
			continue
		}
		t, err := w.table(a, h, MaxACPITable)
		if err != nil {
			return 0, nil, err
		}
		return a, t, nil
	}
	return 0, nil, fmt.Errorf("no %s in the %s at %#x: %w", sig, rsig, root, ErrNoACPI)
}

// ParseMADT finds the MADT through the RSDP at rsdp and decodes it (see
// DecodeMADT).
func ParseMADT(r PhysReader, rsdp uint64) (MADT, error) {
	_, t, err := FindACPITable(r, rsdp, "APIC")
	if err != nil {
		return MADT{}, err
	}
	return DecodeMADT(t)
}

// DecodeMADT decodes a whole MADT (header included). Entries of unknown
// type are reported and skipped; an entry shorter than its type's size, or
// one running past the table, ends the walk with an error wrapping
// ErrMalformed (what was decoded before it is kept). A bad checksum is
// reported and otherwise ignored, as ACPICA does.
func DecodeMADT(t []byte) (MADT, error) {
	var m MADT
	line := func(format string, a ...any) { m.Lines = append(m.Lines, fmt.Sprintf(format, a...)) }
	if len(t) < madtBodyOff || string(t[:4]) != "APIC" {
		return m, fmt.Errorf("MADT: %d bytes or bad signature: %w", len(t), ErrMalformed)
	}
	if n := le.Uint32(t[4:]); uint64(n) != uint64(len(t)) {
		return m, fmt.Errorf("MADT: length %#x but %#x bytes given: %w", n, len(t), ErrMalformed)
	}
	if s := acpiChecksum(t); s != 0 {
		line("ACPI Warning: Incorrect checksum in table [APIC] - %02X, should be %02X", t[9], t[9]-s)
	}
	m.LAPICAddr = uint64(le.Uint32(t[madtLAPICAddr:]))
	m.PCATCompat = le.Uint32(t[madtFlagsOff:])&ACPI_MADT_PCAT_COMPAT != 0
	line("ACPI: Local APIC address 0x%08x", m.LAPICAddr)

	need := map[byte]int{
		ACPI_MADT_TYPE_LOCAL_APIC: 8, ACPI_MADT_TYPE_IO_APIC: 12,
		ACPI_MADT_TYPE_INTERRUPT_OVERRIDE: 10, ACPI_MADT_TYPE_NMI_SOURCE: 8,
		ACPI_MADT_TYPE_LOCAL_APIC_NMI: 6, ACPI_MADT_TYPE_LOCAL_APIC_OVERRIDE: 12,
		ACPI_MADT_TYPE_LOCAL_X2APIC: 16, ACPI_MADT_TYPE_LOCAL_X2APIC_NMI: 12,
	}
	body := t[madtBodyOff:]
	for off, count := 0, 0; off < len(body); count++ {
		if count == MaxMADTEntries {
			return m, fmt.Errorf("MADT: more than %d entries: %w", MaxMADTEntries, ErrMalformed)
		}
		if len(body)-off < 2 {
			return m, fmt.Errorf("MADT: truncated entry header at offset %#x: %w", madtBodyOff+off, ErrMalformed)
		}
		typ, n := body[off], int(body[off+1])
		if n < 2 || n > len(body)-off {
			return m, fmt.Errorf("MADT: entry type %d at offset %#x has length %d: %w", typ, madtBodyOff+off, n, ErrMalformed)
		}
		e := body[off : off+n]
		off += n
		want, known := need[typ]
		if !known {
			line("ACPI: Found unsupported MADT entry (type = 0x%x)", typ)
			continue
		}
		if n < want {
			return m, fmt.Errorf("MADT: entry type %d has length %d, want %d: %w", typ, n, want, ErrMalformed)
		}
		switch typ {
		case ACPI_MADT_TYPE_LOCAL_APIC:
			f := le.Uint32(e[4:])
			line("ACPI: LAPIC (acpi_id[0x%02x] lapic_id[0x%02x] %s)", e[2], e[3], madtEnabled(f))
			if e[3] == 0xFF {
				continue // the xAPIC broadcast ID names no CPU
			}
			m.CPUs = append(m.CPUs, MADTCPU{APICID: uint32(e[3]), ACPIID: uint32(e[2]),
				Enabled: f&ACPI_MADT_ENABLED != 0, OnlineCapable: f&ACPI_MADT_ONLINE_CAPABLE != 0})
		case ACPI_MADT_TYPE_LOCAL_X2APIC:
			id, f, uid := le.Uint32(e[4:]), le.Uint32(e[8:]), le.Uint32(e[12:])
			line("ACPI: X2APIC (apic_id[0x%02x] uid[0x%02x] %s)", id, uid, madtEnabled(f))
			if id == madtNoX2APICID {
				continue
			}
			m.CPUs = append(m.CPUs, MADTCPU{APICID: id, ACPIID: uid, X2APIC: true,
				Enabled: f&ACPI_MADT_ENABLED != 0, OnlineCapable: f&ACPI_MADT_ONLINE_CAPABLE != 0})
		case ACPI_MADT_TYPE_IO_APIC:
			io := MADTIOAPIC{ID: e[2], Addr: le.Uint32(e[4:]), GSIBase: le.Uint32(e[8:])}
			line("ACPI: IOAPIC (id[0x%02x] address[0x%08x] gsi_base[%d])", io.ID, io.Addr, io.GSIBase)
			m.IOAPICs = append(m.IOAPICs, io)
		case ACPI_MADT_TYPE_INTERRUPT_OVERRIDE:
			f := le.Uint16(e[8:])
			o := MADTOverride{Bus: e[2], Source: e[3], GSI: le.Uint32(e[4:]),
				Polarity: uint8(f & ACPI_MADT_POLARITY_MASK), Trigger: uint8(f & ACPI_MADT_TRIGGER_MASK >> 2)}
			line("ACPI: INT_SRC_OVR (bus %d bus_irq %d global_irq %d %s %s)", o.Bus, o.Source, o.GSI,
				mpsPolarity[o.Polarity], mpsTrigger[o.Trigger])
			if r := f &^ (ACPI_MADT_POLARITY_MASK | ACPI_MADT_TRIGGER_MASK); r != 0 {
				line("ACPI: INT_SRC_OVR unexpected reserved flags: 0x%x", r)
			}
			m.Overrides = append(m.Overrides, o)
		case ACPI_MADT_TYPE_NMI_SOURCE:
			f := le.Uint16(e[2:])
			s := MADTNMISource{GSI: le.Uint32(e[4:]),
				Polarity: uint8(f & ACPI_MADT_POLARITY_MASK), Trigger: uint8(f & ACPI_MADT_TRIGGER_MASK >> 2)}
			line("ACPI: NMI_SRC (%s %s global_irq %d)", mpsPolarity[s.Polarity], mpsTrigger[s.Trigger], s.GSI)
			m.NMISources = append(m.NMISources, s)
		case ACPI_MADT_TYPE_LOCAL_APIC_NMI:
			f := le.Uint16(e[3:])
			x := MADTLAPICNMI{ACPIID: uint32(e[2]), All: e[2] == 0xFF, LINT: e[5],
				Polarity: uint8(f & ACPI_MADT_POLARITY_MASK), Trigger: uint8(f & ACPI_MADT_TRIGGER_MASK >> 2)}
			line("ACPI: LAPIC_NMI (acpi_id[0x%02x] %s %s lint[0x%x])", e[2], mpsPolarity[x.Polarity], mpsTrigger[x.Trigger], x.LINT)
			m.LAPICNMIs = append(m.LAPICNMIs, x)
		case ACPI_MADT_TYPE_LOCAL_X2APIC_NMI:
			f := le.Uint16(e[2:])
			uid := le.Uint32(e[4:])
			x := MADTLAPICNMI{ACPIID: uid, All: uid == madtNoX2APICID, LINT: e[8], X2APIC: true,
				Polarity: uint8(f & ACPI_MADT_POLARITY_MASK), Trigger: uint8(f & ACPI_MADT_TRIGGER_MASK >> 2)}
			line("ACPI: X2APIC_NMI (uid[0x%02x] %s %s lint[0x%x])", uid, mpsPolarity[x.Polarity], mpsTrigger[x.Trigger], x.LINT)
			m.LAPICNMIs = append(m.LAPICNMIs, x)
		case ACPI_MADT_TYPE_LOCAL_APIC_OVERRIDE:
			m.LAPICAddr = le.Uint64(e[4:])
			line("ACPI: LAPIC_ADDR_OVR (address[%016x])", m.LAPICAddr)
		}
	}
	for irq := 0; irq < 16; irq++ {
		for _, o := range m.Overrides {
			if o.Bus == 0 && (uint32(o.Source) == uint32(irq) || o.GSI == uint32(irq)) {
				line("ACPI: IRQ%d used by override.", irq)
				break
			}
		}
	}
	if len(m.IOAPICs) > 0 {
		line("Enabling APIC mode.  Using %d I/O APICs", len(m.IOAPICs))
	}
	line("Using ACPI (MADT) for SMP configuration information")
	line("SMP: Allowing %d CPUs (%d hotplug CPUs)", len(m.CPUs), m.HotplugCPUs())
	return m, nil
}
