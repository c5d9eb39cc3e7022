package boot

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// madtEntry helpers build MADT entries as firmware lays them out.
func madtLAPIC(acpiID, apicID byte, flags uint32) []byte {
	e := []byte{ACPI_MADT_TYPE_LOCAL_APIC, 8, acpiID, apicID, 0, 0, 0, 0}
	le.PutUint32(e[4:], flags)
	return e
}

func madtIOAPIC(id byte, addr, gsiBase uint32) []byte {
	e := make([]byte, 12)
	e[0], e[1], e[2] = ACPI_MADT_TYPE_IO_APIC, 12, id
	le.PutUint32(e[4:], addr)
	le.PutUint32(e[8:], gsiBase)
	return e
}

func madtISO(src byte, gsi uint32, flags uint16) []byte {
	e := make([]byte, 10)
	e[0], e[1], e[3] = ACPI_MADT_TYPE_INTERRUPT_OVERRIDE, 10, src
	le.PutUint32(e[4:], gsi)
	le.PutUint16(e[8:], flags)
	return e
}

func madtLAPICNMI(acpiID byte, flags uint16, lint byte) []byte {
	e := []byte{ACPI_MADT_TYPE_LOCAL_APIC_NMI, 6, acpiID, 0, 0, lint}
	le.PutUint16(e[3:], flags)
	return e
}

func madtX2APIC(id, flags, uid uint32) []byte {
	e := make([]byte, 16)
	e[0], e[1] = ACPI_MADT_TYPE_LOCAL_X2APIC, 16
	le.PutUint32(e[4:], id)
	le.PutUint32(e[8:], flags)
	le.PutUint32(e[12:], uid)
	return e
}

func madtX2APICNMI(flags uint16, uid uint32, lint byte) []byte {
	e := make([]byte, 12)
	e[0], e[1] = ACPI_MADT_TYPE_LOCAL_X2APIC_NMI, 12
	le.PutUint16(e[2:], flags)
	le.PutUint32(e[4:], uid)
	e[8] = lint
	return e
}

func madtNMISrc(flags uint16, gsi uint32) []byte {
	e := make([]byte, 8)
	e[0], e[1] = ACPI_MADT_TYPE_NMI_SOURCE, 8
	le.PutUint16(e[2:], flags)
	le.PutUint32(e[4:], gsi)
	return e
}

func madtAddrOvr(addr uint64) []byte {
	e := make([]byte, 12)
	e[0], e[1] = ACPI_MADT_TYPE_LOCAL_APIC_OVERRIDE, 12
	le.PutUint64(e[4:], addr)
	return e
}

// madtBody is the body (after the SDT header) of an MADT.
func madtBody(lapic uint32, flags uint32, entries ...[]byte) []byte {
	b := make([]byte, 8)
	le.PutUint32(b, lapic)
	le.PutUint32(b[4:], flags)
	for _, e := range entries {
		b = append(b, e...)
	}
	return b
}

// qemuMADT is the MADT QEMU 7.2 builds for -machine pc and q35 alike with
// -smp cpus (as gohv printed it from both): one LAPIC per CPU, the IO-APIC
// at 0xfec00000, IRQ0 -> GSI 2, the PCI link IRQs 5, 9, 10, 11 active high
// level, one LAPIC NMI for all processors on LINT1.
func qemuMADT(cpus int) []byte {
	var es [][]byte
	for i := 0; i < cpus; i++ {
		es = append(es, madtLAPIC(byte(i), byte(i), ACPI_MADT_ENABLED))
	}
	es = append(es, madtIOAPIC(0, 0xFEC00000, 0), madtISO(0, 2, 0))
	for _, irq := range []byte{5, 9, 10, 11} {
		es = append(es, madtISO(irq, uint32(irq), 0xD))
	}
	es = append(es, madtLAPICNMI(0xFF, 0, 1))
	return acpiSDT("APIC", 1, madtBody(0xFEE00000, ACPI_MADT_PCAT_COMPAT, es...))
}

func TestMADTQEMUPC(t *testing.T) {
	img := buildACPI(acpiSpec{rsdpRev: 0, aml: qemuAML(), madt: qemuMADT(2)[acpiHeaderLen:]})
	m, err := ParseMADT(img.m, img.rsdp)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"ACPI: Local APIC address 0xfee00000",
		"ACPI: LAPIC (acpi_id[0x00] lapic_id[0x00] enabled)",
		"ACPI: LAPIC (acpi_id[0x01] lapic_id[0x01] enabled)",
		"ACPI: IOAPIC (id[0x00] address[0xfec00000] gsi_base[0])",
		"ACPI: INT_SRC_OVR (bus 0 bus_irq 0 global_irq 2 dfl dfl)",
		"ACPI: INT_SRC_OVR (bus 0 bus_irq 5 global_irq 5 high level)",
		"ACPI: INT_SRC_OVR (bus 0 bus_irq 9 global_irq 9 high level)",
		"ACPI: INT_SRC_OVR (bus 0 bus_irq 10 global_irq 10 high level)",
		"ACPI: INT_SRC_OVR (bus 0 bus_irq 11 global_irq 11 high level)",
		"ACPI: LAPIC_NMI (acpi_id[0xff] dfl dfl lint[0x1])",
		"ACPI: IRQ0 used by override.",
		"ACPI: IRQ2 used by override.",
		"ACPI: IRQ5 used by override.",
		"ACPI: IRQ9 used by override.",
		"ACPI: IRQ10 used by override.",
		"ACPI: IRQ11 used by override.",
		"Enabling APIC mode.  Using 1 I/O APICs",
		"Using ACPI (MADT) for SMP configuration information",
		"SMP: Allowing 2 CPUs (0 hotplug CPUs)",
	}
	if !reflect.DeepEqual(m.Lines, want) {
		t.Errorf("lines:\n%s\nwant:\n%s", strings.Join(m.Lines, "\n"), strings.Join(want, "\n"))
	}
	if m.LAPICAddr != 0xFEE00000 || !m.PCATCompat || m.EnabledCPUs() != 2 {
		t.Errorf("LAPIC %#x PCAT %v CPUs %d", m.LAPICAddr, m.PCATCompat, m.EnabledCPUs())
	}
	wantCPUs := []MADTCPU{{APICID: 0, ACPIID: 0, Enabled: true}, {APICID: 1, ACPIID: 1, Enabled: true}}
	if !reflect.DeepEqual(m.CPUs, wantCPUs) {
		t.Errorf("CPUs %+v", m.CPUs)
	}
	if !reflect.DeepEqual(m.IOAPICs, []MADTIOAPIC{{ID: 0, Addr: 0xFEC00000, GSIBase: 0}}) {
		t.Errorf("IO-APICs %+v", m.IOAPICs)
	}
	for _, c := range []struct {
		irq       uint8
		gsi       uint32
		pol, trig uint8
	}{
		{0, 2, MPSActiveHigh, MPSEdge},
		{1, 1, MPSActiveHigh, MPSEdge},
		{4, 4, MPSActiveHigh, MPSEdge},
		{9, 9, MPSActiveHigh, MPSLevel},
		{11, 11, MPSActiveHigh, MPSLevel},
	} {
		g, p, tr := m.ISAGSI(c.irq)
		if g != c.gsi || p != c.pol || tr != c.trig {
			t.Errorf("ISA IRQ %d: GSI %d %d/%d, want %d %d/%d", c.irq, g, p, tr, c.gsi, c.pol, c.trig)
		}
	}
	if len(m.LAPICNMIs) != 1 || !m.LAPICNMIs[0].All || m.LAPICNMIs[0].LINT != 1 {
		t.Errorf("LAPIC NMIs %+v", m.LAPICNMIs)
	}
}

func TestMADTXSDT(t *testing.T) {
	img := buildACPI(acpiSpec{rsdpRev: 2, aml: qemuAML(), madt: qemuMADT(4)[acpiHeaderLen:]})
	m, err := ParseMADT(img.m, img.rsdp)
	if err != nil {
		t.Fatal(err)
	}
	if m.EnabledCPUs() != 4 || len(m.Overrides) != 5 || !acpiHasLine(m.Lines, "SMP: Allowing 4 CPUs (0 hotplug CPUs)") ||
		!acpiHasLine(m.Lines, "ACPI: LAPIC (acpi_id[0x03] lapic_id[0x03] enabled)") {
		t.Errorf("%+v\n%s", m, strings.Join(m.Lines, "\n"))
	}
}

func TestMADTEntries(t *testing.T) {
	tb := acpiSDT("APIC", 5, madtBody(0xFEE00000, 0,
		madtLAPIC(0, 0, ACPI_MADT_ENABLED),
		madtLAPIC(1, 2, ACPI_MADT_ONLINE_CAPABLE),
		madtLAPIC(2, 0xFF, ACPI_MADT_ENABLED), // broadcast ID: printed, not a CPU
		madtX2APIC(0x100, ACPI_MADT_ENABLED, 7),
		madtX2APIC(0xFFFFFFFF, ACPI_MADT_ENABLED, 8),
		madtIOAPIC(1, 0xFEC00000, 0),
		madtIOAPIC(2, 0xFEC01000, 24),
		madtISO(0, 2, 0x10|0x3|0xC),
		madtNMISrc(0x7, 30),
		madtX2APICNMI(0xF, 0xFFFFFFFF, 1),
		[]byte{0x7F, 4, 0, 0}, // unknown type
		madtAddrOvr(0xFEE10000),
	))
	m, err := DecodeMADT(tb)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{
		"ACPI: LAPIC (acpi_id[0x01] lapic_id[0x02] disabled)",
		"ACPI: LAPIC (acpi_id[0x02] lapic_id[0xff] enabled)",
		"ACPI: X2APIC (apic_id[0x100] uid[0x07] enabled)",
		"ACPI: IOAPIC (id[0x02] address[0xfec01000] gsi_base[24])",
		"ACPI: INT_SRC_OVR (bus 0 bus_irq 0 global_irq 2 low level)",
		"ACPI: INT_SRC_OVR unexpected reserved flags: 0x10",
		"ACPI: NMI_SRC (low edge global_irq 30)",
		"ACPI: X2APIC_NMI (uid[0xffffffff] low level lint[0x1])",
		"ACPI: Found unsupported MADT entry (type = 0x7f)",
		"ACPI: LAPIC_ADDR_OVR (address[00000000fee10000])",
		"Enabling APIC mode.  Using 2 I/O APICs",
		"SMP: Allowing 3 CPUs (1 hotplug CPUs)",
	} {
		if !acpiHasLine(m.Lines, l) {
			t.Errorf("no line %q in\n%s", l, strings.Join(m.Lines, "\n"))
		}
	}
	want := []MADTCPU{
		{APICID: 0, ACPIID: 0, Enabled: true},
		{APICID: 2, ACPIID: 1, OnlineCapable: true},
		{APICID: 0x100, ACPIID: 7, Enabled: true, X2APIC: true},
	}
	if !reflect.DeepEqual(m.CPUs, want) {
		t.Errorf("CPUs %+v", m.CPUs)
	}
	if m.LAPICAddr != 0xFEE10000 || m.PCATCompat {
		t.Errorf("LAPIC %#x PCAT %v", m.LAPICAddr, m.PCATCompat)
	}
	if len(m.NMISources) != 1 || m.NMISources[0].GSI != 30 || m.NMISources[0].Polarity != MPSActiveLow ||
		len(m.LAPICNMIs) != 1 || !m.LAPICNMIs[0].All || !m.LAPICNMIs[0].X2APIC {
		t.Errorf("NMIs %+v %+v", m.NMISources, m.LAPICNMIs)
	}
	if g, p, tr := m.ISAGSI(0); g != 2 || p != MPSActiveLow || tr != MPSLevel {
		t.Errorf("IRQ0: %d %d %d", g, p, tr)
	}
}

func TestMADTMalformed(t *testing.T) {
	good := qemuMADT(1)
	for name, tb := range map[string][]byte{
		"short":          good[:40],
		"signature":      append([]byte("APIX"), good[4:]...),
		"length":         good[:len(good)-1],
		"zero entry":     acpiSDT("APIC", 1, madtBody(0xFEE00000, 0, madtLAPIC(0, 0, 1), []byte{0, 0})),
		"entry overruns": acpiSDT("APIC", 1, madtBody(0xFEE00000, 0, madtLAPIC(0, 0, 1), []byte{1, 12, 0})),
		"short LAPIC":    acpiSDT("APIC", 1, madtBody(0xFEE00000, 0, []byte{0, 4, 0, 0})),
		"half header":    acpiSDT("APIC", 1, madtBody(0xFEE00000, 0, madtLAPIC(0, 0, 1), []byte{1})),
	} {
		m, err := DecodeMADT(tb)
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err %v", name, err)
		}
		if strings.Contains(name, "entry") && len(m.CPUs) != 1 {
			t.Errorf("%s: lost the entries before the bad one: %+v", name, m.CPUs)
		}
	}
	bad := qemuMADT(1)
	bad[9]++
	m, err := DecodeMADT(bad)
	if err != nil || !acpiHasLine(m.Lines, "Incorrect checksum in table [APIC]") {
		t.Errorf("checksum: %v %q", err, m.Lines)
	}
	img := buildACPI(acpiSpec{rsdpRev: 2, aml: qemuAML(), noMADT: true})
	if _, err := ParseMADT(img.m, img.rsdp); !errors.Is(err, ErrNoACPI) {
		t.Errorf("no MADT: %v", err)
	}
}

func FuzzMADT(f *testing.F) {
	f.Add(qemuMADT(2))
	f.Add(qemuMADT(4))
	f.Add(acpiSDT("APIC", 5, madtBody(0, 0, madtX2APIC(1, 1, 1), madtX2APICNMI(0, 1, 0), madtAddrOvr(1), madtNMISrc(0, 0))))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) >= 8 {
			le.PutUint32(b[4:], uint32(len(b))) // reach the entry walk
		}
		m, err := DecodeMADT(b)
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("error %v wraps no sentinel", err)
		}
		if m.EnabledCPUs()+m.HotplugCPUs() != len(m.CPUs) {
			t.Fatalf("CPU counts")
		}
		for _, c := range m.CPUs {
			if !c.X2APIC && c.APICID > 0xFE || c.X2APIC && c.APICID == 0xFFFFFFFF {
				t.Fatalf("broadcast ID recorded as a CPU: %+v", c)
			}
		}
	})
}
