package boot

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// acpiMem is a fake physical memory made of regions; with wrap set, every
// address reads wrap[addr % len(wrap)] instead. It counts calls and bytes.
type acpiMem struct {
	regions []acpiRegion
	wrap    []byte
	reads   int
	bytes   uint64
}

type acpiRegion struct {
	base uint64
	b    []byte
}

func (m *acpiMem) ReadPhys(addr uint64, p []byte) bool {
	m.reads++
	m.bytes += uint64(len(p))
	if m.wrap != nil {
		if len(m.wrap) == 0 {
			return false
		}
		off := addr % uint64(len(m.wrap))
		for n := 0; n < len(p); off = 0 {
			n += copy(p[n:], m.wrap[off:])
		}
		return true
	}
	for _, r := range m.regions {
		if addr < r.base {
			continue
		}
		off := addr - r.base
		if off <= uint64(len(r.b)) && uint64(len(p)) <= uint64(len(r.b))-off {
			copy(p, r.b[off:])
			return true
		}
	}
	return false
}

// at returns the bytes from addr to the end of its region.
func (m *acpiMem) at(addr uint64) []byte {
	for _, r := range m.regions {
		if addr >= r.base && addr-r.base < uint64(len(r.b)) {
			return r.b[addr-r.base:]
		}
	}
	panic(fmt.Sprintf("test bug: %#x not in a region", addr))
}

const (
	tblBase  = 0x07FE0000 // where the builder puts tables (QEMU pc, 128 MiB)
	qemuRSDP = 0xF5A40
)

func acpiFixSum(t []byte, at int) {
	t[at] = 0
	t[at] = -acpiChecksum(t)
}

// acpiSDT builds a table with QEMU's header values.
func acpiSDT(sig string, rev byte, body []byte) []byte {
	t := make([]byte, acpiHeaderLen+len(body))
	copy(t, sig)
	le.PutUint32(t[4:], uint32(len(t)))
	t[8] = rev
	copy(t[10:16], "BOCHS ")
	copy(t[16:24], "BXPC"+sig)
	le.PutUint32(t[24:], 1)
	copy(t[28:32], "BXPC")
	le.PutUint32(t[32:], 1)
	copy(t[acpiHeaderLen:], body)
	acpiFixSum(t, 9)
	return t
}

type acpiGAS struct {
	space byte
	addr  uint64
}

type acpiSpec struct {
	rsdpRev        byte   // 0: ACPI 1.0 RSDP and RSDT only; 2: also an XSDT
	rsdpAt         uint64 // 0: qemuRSDP
	fadtLen        int    // 0: 116 (QEMU pc's revision 1 FADT)
	pm1a, pm1b     uint32
	pmtmr          uint32
	xpm1a, xpm1b   acpiGAS
	xdsdtOnly      bool // DSDT address only in X_DSDT
	flags          uint32
	aml            []byte   // DSDT body; nil: no DSDT
	ssdts          [][]byte // SSDT bodies
	noFADT         bool
	xsdtNull       bool // XSDT gets a NULL entry
	noFACS         bool
	extraBeforeFAC bool   // an SSDT-like table listed before the FACP
	madt           []byte // MADT body; nil: QEMU pc's size, zero-filled
	noMADT         bool
}

type acpiImage struct {
	m     *acpiMem
	rsdp  uint64
	addrs map[string]uint64
}

// buildACPI lays out firmware tables: low memory [0, 1 MiB) with the RSDP,
// and a table region at tblBase.
func buildACPI(s acpiSpec) *acpiImage {
	low := make([]byte, 0x100000)
	var tbl []byte
	img := &acpiImage{m: &acpiMem{}, addrs: map[string]uint64{}}
	place := func(name string, t []byte, align int) uint64 {
		for len(tbl)%align != 0 {
			tbl = append(tbl, 0)
		}
		a := tblBase + uint64(len(tbl))
		tbl = append(tbl, t...)
		img.addrs[name] = a
		return a
	}
	var facs, dsdt uint64
	if !s.noFACS {
		f := make([]byte, 64)
		copy(f, "FACS")
		le.PutUint32(f[4:], 64)
		facs = place("FACS", f, 64)
	}
	if s.aml != nil {
		dsdt = place("DSDT", acpiSDT("DSDT", 1, s.aml), 1)
	}
	var entries []uint64
	if s.extraBeforeFAC {
		entries = append(entries, place("HPET", acpiSDT("HPET", 1, make([]byte, 20)), 1))
	}
	if !s.noFADT {
		n := s.fadtLen
		if n == 0 {
			n = 116
		}
		b := make([]byte, n)
		put32 := func(off int, v uint32) {
			if off+4 <= n {
				le.PutUint32(b[off:], v)
			}
		}
		put64 := func(off int, v uint64) {
			if off+8 <= n {
				le.PutUint64(b[off:], v)
			}
		}
		putGAS := func(off int, g acpiGAS) {
			if off+acpiGASLen <= n {
				b[off], b[off+1] = g.space, 16
				le.PutUint64(b[off+4:], g.addr)
			}
		}
		put32(fadtFACS, uint32(facs))
		if s.xdsdtOnly {
			put64(fadtXDSDT, dsdt)
		} else {
			put32(fadtDSDT, uint32(dsdt))
			put64(fadtXDSDT, dsdt)
		}
		put32(fadtPM1aCnt, s.pm1a)
		put32(fadtPM1bCnt, s.pm1b)
		put32(fadtPMTmr, s.pmtmr)
		put32(fadtFlags, s.flags)
		putGAS(fadtXPM1aCnt, s.xpm1a)
		putGAS(fadtXPM1bCnt, s.xpm1b)
		rev := byte(1)
		if n > 116 {
			rev = 3
		}
		t := acpiSDT("FACP", rev, b[acpiHeaderLen:])
		entries = append(entries, place("FACP", t, 1))
	}
	for i, body := range s.ssdts {
		entries = append(entries, place(fmt.Sprintf("SSDT%d", i), acpiSDT("SSDT", 1, body), 1))
	}
	if madt := s.madt; !s.noMADT {
		if madt == nil {
			madt = make([]byte, 0x78-acpiHeaderLen)
		}
		entries = append(entries, place("APIC", acpiSDT("APIC", 1, madt), 1))
	}

	rb := make([]byte, 4*len(entries))
	for i, e := range entries {
		le.PutUint32(rb[4*i:], uint32(e))
	}
	rsdt := place("RSDT", acpiSDT("RSDT", 1, rb), 1)
	var xsdt uint64
	if s.rsdpRev >= 2 {
		xb := make([]byte, 8*len(entries))
		for i, e := range entries {
			le.PutUint64(xb[8*i:], e)
		}
		if s.xsdtNull {
			xb = append(xb, make([]byte, 8)...)
		}
		xsdt = place("XSDT", acpiSDT("XSDT", 1, xb), 1)
	}

	at := s.rsdpAt
	if at == 0 {
		at = qemuRSDP
	}
	r := make([]byte, acpiRSDPXLen)
	copy(r, acpiSigRSDP)
	copy(r[9:15], "BOCHS ")
	r[15] = s.rsdpRev
	le.PutUint32(r[16:], uint32(rsdt))
	acpiFixSum(r[:acpiRSDPLen], 8)
	n := acpiRSDPLen
	if s.rsdpRev >= 2 {
		n = acpiRSDPXLen
		le.PutUint32(r[20:], acpiRSDPXLen)
		le.PutUint64(r[24:], xsdt)
		acpiFixSum(r[:acpiRSDPLen], 8)
		acpiFixSum(r, 32)
	}
	if at >= tblBase {
		for uint64(len(tbl)) < at-tblBase {
			tbl = append(tbl, 0)
		}
		tbl = append(tbl, r[:n]...)
	} else {
		copy(low[at:], r[:n])
	}
	tbl = append(tbl, make([]byte, 64)...) // slack
	img.m.regions = []acpiRegion{{0, low}, {tblBase, tbl}}
	img.rsdp = at
	return img
}

// aml helpers.
func s5Name(elems ...byte) []byte {
	pkg := append([]byte{byte(len(elems) + 2), 4}, elems...) // PkgLength, NumElements
	return append([]byte{amlNameOp, '_', 'S', '5', '_', amlPackageOp}, pkg...)
}

func qemuAML() []byte {
	inner := append([]byte{amlRootChar, 0}, s5Name(0, 0, 0, 0)...)
	return append([]byte{0x10, byte(len(inner) + 1)}, inner...) // Scope(\) {...}
}

func TestACPIQEMUPC(t *testing.T) {
	img := buildACPI(acpiSpec{pm1a: 0x604, pmtmr: 0x608, aml: qemuAML()})
	a, err := FindRSDP(img.m, 0)
	if err != nil || a != qemuRSDP {
		t.Fatalf("FindRSDP = %#x, %v", a, err)
	}
	p, err := ParseS5(img.m, a)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"ACPI: RSDP 000F5A40, 0014 (r0 BOCHS )",
		"ACPI: RSDT 07FE0160, 002C (r1 BOCHS  BXPCRSDT        1 BXPC        1)",
		"ACPI: FACP 07FE0074, 0074 (r1 BOCHS  BXPCFACP        1 BXPC        1)",
		"ACPI: DSDT 07FE0040, 0034 (r1 BOCHS  BXPCDSDT        1 BXPC        1)",
		"ACPI: FACS 07FE0000, 0040",
		"ACPI: APIC 07FE00E8, 0078 (r1 BOCHS  BXPCAPIC        1 BXPC        1)",
		"ACPI: S5 power-off through PM1a_CNT 0x604 SLP_TYP 0",
	}
	if !reflect.DeepEqual(p.Lines, want) {
		t.Fatalf("lines:\n%s\nwant:\n%s", strings.Join(p.Lines, "\n"), strings.Join(want, "\n"))
	}
	if p.PM1aCnt != 0x604 || p.PM1bCnt != 0 || p.PMTmr != 0x608 || p.SlpTypA != 0 || p.SlpTypB != 0 {
		t.Fatalf("%+v", p)
	}
	if p.PM1aValue() != 0x2000 {
		t.Fatalf("PM1aValue %#x", p.PM1aValue())
	}
}

func TestACPISleepTypeEncodings(t *testing.T) {
	pkg := func(n byte, elems ...byte) []byte { // Name(_S5_, Package(n){elems})
		return append([]byte{amlNameOp, '_', 'S', '5', '_', amlPackageOp, byte(len(elems) + 2), n}, elems...)
	}
	for _, tc := range []struct {
		name   string
		aml    []byte
		a, b   uint16
		warn   string
		errIs  error
		pm1b   uint32
		bValue uint16
	}{
		{name: "zero zero", aml: pkg(4, 0, 0, 0, 0)},
		{name: "one one", aml: pkg(2, 1, 1), a: 1, b: 1},
		{name: "byte", aml: pkg(4, 0x0A, 5, 0x0A, 6, 0, 0), a: 5, b: 6},
		{name: "byte 7 boundary", aml: pkg(2, 0x0A, 7, 0x0A, 7), a: 7, b: 7},
		{name: "word", aml: pkg(2, 0x0B, 3, 0, 0x0B, 4, 0), a: 3, b: 4},
		{name: "dword", aml: pkg(2, 0x0C, 2, 0, 0, 0, 0x0C, 6, 0, 0, 0), a: 2, b: 6},
		{name: "qword", aml: pkg(2, 0x0E, 5, 0, 0, 0, 0, 0, 0, 0, 1), a: 5, b: 1},
		{name: "mixed", aml: pkg(4, 0x0A, 5, 1, 0, 0), a: 5, b: 1},
		{name: "one element splits bytes", aml: pkg(1, 0x0B, 5, 6), a: 5, b: 6},
		{name: "byte 8 masked", aml: pkg(2, 0x0A, 8, 0), a: 0, warn: "SLP_TYPa value 0x8 does not fit SLP_TYP, using 0"},
		{name: "word 0x105 masked", aml: pkg(2, 0x0B, 5, 1, 0), a: 5, warn: "SLP_TYPa value 0x105"},
		{name: "ones masked", aml: pkg(2, 0, 0xFF), b: 7, warn: "SLP_TYPb value 0xffffffffffffffff"},
		{name: "root prefix", aml: []byte{amlNameOp, amlRootChar, '_', 'S', '5', '_', amlPackageOp, 6, 4, 0x0A, 5, 0x0A, 5, 0, 0}, a: 5, b: 5},
		{name: "two-byte PkgLength", aml: []byte{amlNameOp, '_', 'S', '5', '_', amlPackageOp, 0x4A, 0x00, 2, 0x0A, 3, 0x0A, 4, 0, 0, 0}, a: 3, b: 4},
		{name: "four-byte PkgLength", aml: []byte{amlNameOp, '_', 'S', '5', '_', amlPackageOp, 0xC8, 0, 0, 0, 2, 1, 1, 0}, a: 1, b: 1},
		{name: "decoy reference first", aml: append([]byte{0x70, '_', 'S', '5', '_', 0x60, amlNameOp, '_', 'S', '5', '_', 0x0A}, pkg(2, 0x0A, 3, 0x0A, 3)...), a: 3, b: 3},
		{name: "decoy malformed then good", aml: append(pkg(2, 0x0D, 'x', 0), pkg(2, 0x0A, 2, 0x0A, 2)...), a: 2, b: 2},
		{name: "pm1b", aml: pkg(2, 0x0A, 5, 0x0A, 6), a: 5, b: 6, pm1b: 0x704, bValue: 0x2000 | 6<<10},
		{name: "empty package", aml: pkg(0), errIs: ErrMalformed},
		{name: "string element", aml: pkg(2, 0x0D, 'a', 0), errIs: ErrMalformed},
		{name: "truncated byte const", aml: pkg(2, 0x0A), errIs: ErrMalformed},
		{name: "second missing", aml: pkg(2, 0x0A, 1), errIs: ErrMalformed},
		{name: "PkgLength past table", aml: []byte{amlNameOp, '_', 'S', '5', '_', amlPackageOp, 0x3F, 2, 0, 0}, errIs: ErrMalformed},
		{name: "PkgLength reserved bits", aml: []byte{amlNameOp, '_', 'S', '5', '_', amlPackageOp, 0x70, 0, 2, 0, 0}, errIs: ErrMalformed},
		{name: "PkgLength truncated", aml: []byte{amlNameOp, '_', 'S', '5', '_', amlPackageOp, 0xC0, 0}, errIs: ErrMalformed},
		{name: "PkgLength too short", aml: []byte{amlNameOp, '_', 'S', '5', '_', amlPackageOp, 1, 2, 0, 0}, errIs: ErrMalformed},
		{name: "no _S5_", aml: []byte{amlNameOp, '_', 'S', '4', '_', amlPackageOp, 6, 4, 0, 0, 0, 0}, errIs: ErrNoACPI},
		{name: "_S5_ not a package", aml: []byte{amlNameOp, '_', 'S', '5', '_', 0x0A, 5}, errIs: ErrNoACPI},
		{name: "_S5_ method", aml: []byte{0x14, 0x0B, '_', 'S', '5', '_', 0, 0xA4, 0x12, 4, 1, 0x0A, 5}, errIs: ErrNoACPI},
		{name: "_S5_ at end", aml: []byte{amlNameOp, '_', 'S', '5', '_'}, errIs: ErrNoACPI},
		{name: "empty DSDT", aml: []byte{}, errIs: ErrNoACPI},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := buildACPI(acpiSpec{pm1a: 0x604, pm1b: tc.pm1b, aml: tc.aml})
			p, err := ParseS5(img.m, img.rsdp)
			if tc.errIs != nil {
				if !errors.Is(err, tc.errIs) {
					t.Fatalf("err %v, want %v", err, tc.errIs)
				}
				if p.PM1aCnt != 0 || p.SlpTypA != 0 || len(p.Lines) == 0 {
					t.Fatalf("failed parse returned %+v", p)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.SlpTypA != tc.a || p.SlpTypB != tc.b {
				t.Fatalf("SLP_TYP %d/%d, want %d/%d", p.SlpTypA, p.SlpTypB, tc.a, tc.b)
			}
			if got := p.PM1aValue(); got != tc.a<<10|0x2000 {
				t.Fatalf("PM1aValue %#x", got)
			}
			if tc.warn != "" && !acpiHasLine(p.Lines, tc.warn) {
				t.Fatalf("no %q in\n%s", tc.warn, strings.Join(p.Lines, "\n"))
			}
			if tc.warn == "" && acpiHasLine(p.Lines, "Warning") {
				t.Fatalf("unexpected warning in\n%s", strings.Join(p.Lines, "\n"))
			}
			last := p.Lines[len(p.Lines)-1]
			want := fmt.Sprintf("ACPI: S5 power-off through PM1a_CNT 0x604 SLP_TYP %d", tc.a)
			if tc.pm1b != 0 {
				want += fmt.Sprintf(", PM1b_CNT %#x SLP_TYP %d", tc.pm1b, tc.b)
				if p.PM1bCnt != uint16(tc.pm1b) || p.PM1bValue() != tc.bValue {
					t.Fatalf("PM1b %#x value %#x", p.PM1bCnt, p.PM1bValue())
				}
			}
			if last != want {
				t.Fatalf("last line %q, want %q", last, want)
			}
		})
	}
}

func acpiHasLine(lines []string, sub string) bool {
	for _, l := range lines {
		if strings.Contains(l, sub) {
			return true
		}
	}
	return false
}

func TestACPIFADT(t *testing.T) {
	s5 := s5Name(0x0A, 5, 0x0A, 5)
	for _, tc := range []struct {
		name       string
		spec       acpiSpec
		pm1a, pm1b uint16
		line       string
		errIs      error
	}{
		{name: "rev1 legacy", spec: acpiSpec{pm1a: 0x604}, pm1a: 0x604},
		{name: "X_ I/O preferred", spec: acpiSpec{fadtLen: 244, pm1a: 0x1804, xpm1a: acpiGAS{1, 0x1804}, pm1b: 0x1904, xpm1b: acpiGAS{1, 0x1904}}, pm1a: 0x1804, pm1b: 0x1904},
		{name: "X_ only", spec: acpiSpec{fadtLen: 244, xpm1a: acpiGAS{1, 0xB004}}, pm1a: 0xB004},
		{name: "X_ mismatch uses X", spec: acpiSpec{fadtLen: 244, pm1a: 0x604, xpm1a: acpiGAS{1, 0x704}}, pm1a: 0x704,
			line: `ACPI Error: 32/64X address mismatch in "Pm1aControlBlock": [00000604] [0000000000000704], using 64X`},
		{name: "X_ memory space falls back", spec: acpiSpec{fadtLen: 244, pm1a: 0x604, xpm1a: acpiGAS{0, 0xFED00000}}, pm1a: 0x604,
			line: `"Pm1aControlBlock" is not a system I/O port (space 0, address 0xfed00000), using the 32-bit field`},
		{name: "X_ port too large falls back", spec: acpiSpec{fadtLen: 244, pm1a: 0x604, xpm1a: acpiGAS{1, 0x10000}}, pm1a: 0x604},
		{name: "X_ PM1a cut by length", spec: acpiSpec{fadtLen: 183, pm1a: 0x604, xpm1a: acpiGAS{1, 0x704}}, pm1a: 0x604},
		{name: "X_ PM1a exactly fits", spec: acpiSpec{fadtLen: 184, pm1a: 0x604, xpm1a: acpiGAS{1, 0x604}, xpm1b: acpiGAS{1, 0x704}}, pm1a: 0x604},
		{name: "X_DSDT only", spec: acpiSpec{fadtLen: 244, xdsdtOnly: true, pm1a: 0x604}, pm1a: 0x604},
		{name: "X_DSDT cut by length", spec: acpiSpec{fadtLen: 147, xdsdtOnly: true, pm1a: 0x604},
			line: "ACPI Error: Null physical address for ACPI table [DSDT]", errIs: ErrNoACPI},
		{name: "legacy port above 64K", spec: acpiSpec{pm1a: 0x10604}, errIs: ErrNoACPI},
		{name: "no PM1a", spec: acpiSpec{}, errIs: ErrNoACPI},
		{name: "FADT shorter than PM1a field", spec: acpiSpec{fadtLen: 64, pm1a: 0x604}, errIs: ErrNoACPI},
		{name: "hardware reduced has no FACS line", spec: acpiSpec{pm1a: 0x604, flags: ACPI_FADT_HW_REDUCED}, pm1a: 0x604},
		{name: "no FADT", spec: acpiSpec{noFADT: true}, errIs: ErrNoACPI},
		{name: "no FACS", spec: acpiSpec{pm1a: 0x604, noFACS: true}, pm1a: 0x604},
		{name: "table before FACP", spec: acpiSpec{pm1a: 0x604, extraBeforeFAC: true}, pm1a: 0x604, line: "ACPI: HPET 07FE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.spec.aml = s5
			img := buildACPI(tc.spec)
			p, err := ParseS5(img.m, img.rsdp)
			if tc.line != "" && !acpiHasLine(p.Lines, tc.line) {
				t.Errorf("no %q in\n%s", tc.line, strings.Join(p.Lines, "\n"))
			}
			if tc.errIs != nil {
				if !errors.Is(err, tc.errIs) {
					t.Fatalf("err %v, want %v", err, tc.errIs)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.PM1aCnt != tc.pm1a || p.PM1bCnt != tc.pm1b || p.SlpTypA != 5 || p.SlpTypB != 5 {
				t.Fatalf("%+v", p)
			}
			facs := acpiHasLine(p.Lines, "ACPI: FACS")
			if want := !tc.spec.noFACS && tc.spec.flags&ACPI_FADT_HW_REDUCED == 0; facs != want {
				t.Fatalf("FACS line %v, want %v:\n%s", facs, want, strings.Join(p.Lines, "\n"))
			}
		})
	}
}

func TestACPIXSDT(t *testing.T) {
	s5 := s5Name(0x0A, 5, 0x0A, 5)
	img := buildACPI(acpiSpec{rsdpRev: 2, fadtLen: 244, pm1a: 0x604, xpm1a: acpiGAS{1, 0x604}, aml: s5})
	p, err := ParseS5(img.m, img.rsdp)
	if err != nil {
		t.Fatal(err)
	}
	want0 := "ACPI: RSDP 000F5A40, 0024 (r2 BOCHS )"
	want1 := fmt.Sprintf("ACPI: XSDT %08X, 0034 (r1 BOCHS  BXPCXSDT        1 BXPC        1)", img.addrs["XSDT"])
	if p.Lines[0] != want0 || p.Lines[1] != want1 {
		t.Fatalf("lines:\n%s", strings.Join(p.Lines, "\n"))
	}
	if a, err := FindRSDP(img.m, 0); err != nil || a != qemuRSDP {
		t.Fatalf("FindRSDP %#x %v", a, err)
	}

	// An XSDT with a NULL entry: Xen warns and uses the RSDT.
	img = buildACPI(acpiSpec{rsdpRev: 2, fadtLen: 244, pm1a: 0x604, aml: s5, xsdtNull: true})
	p, err = ParseS5(img.m, img.rsdp)
	if err != nil || p.PM1aCnt != 0x604 {
		t.Fatal(p, err)
	}
	if p.Lines[1] != "ACPI Warning: BIOS XSDT has NULL entry, using RSDT" || !strings.HasPrefix(p.Lines[2], "ACPI: RSDT ") {
		t.Fatalf("lines:\n%s", strings.Join(p.Lines, "\n"))
	}

	// An XSDT whose signature is wrong.
	img = buildACPI(acpiSpec{rsdpRev: 2, pm1a: 0x604, aml: s5})
	copy(img.m.at(img.addrs["XSDT"]), "XXXX")
	if _, err := ParseS5(img.m, img.rsdp); !errors.Is(err, ErrMalformed) {
		t.Fatal(err)
	}
}

func TestACPISSDT(t *testing.T) {
	// SeaBIOS-era QEMU: \_S5 in an SSDT, none in the DSDT.
	img := buildACPI(acpiSpec{pm1a: 0x604, aml: []byte{0x10, 2, amlRootChar, 0},
		ssdts: [][]byte{{0x10, 2, amlRootChar, 0}, s5Name(0x0A, 5, 0x0A, 5)}})
	p, err := ParseS5(img.m, img.rsdp)
	if err != nil || p.SlpTypA != 5 {
		t.Fatal(p, err)
	}
	// The DSDT's object wins over an SSDT's.
	img = buildACPI(acpiSpec{pm1a: 0x604, aml: s5Name(0x0A, 1, 0x0A, 1), ssdts: [][]byte{s5Name(0x0A, 5, 0x0A, 5)}})
	if p, err = ParseS5(img.m, img.rsdp); err != nil || p.SlpTypA != 1 {
		t.Fatal(p, err)
	}
	// A DSDT with a bad signature is reported and skipped; the SSDT is used.
	img = buildACPI(acpiSpec{pm1a: 0x604, aml: s5Name(0x0A, 1, 0x0A, 1), ssdts: [][]byte{s5Name(0x0A, 5, 0x0A, 5)}})
	copy(img.m.at(img.addrs["DSDT"]), "XSDT")
	p, err = ParseS5(img.m, img.rsdp)
	if err != nil || p.SlpTypA != 5 || !acpiHasLine(p.Lines, "ACPI Error: Invalid signature 0x54445358 for ACPI table [DSDT]") {
		t.Fatal(p, err)
	}
}

func TestACPIChecksums(t *testing.T) {
	s5 := s5Name(0x0A, 5, 0x0A, 5)
	for _, tc := range []struct {
		sig, line string
	}{
		{"RSDT", "ACPI Warning: Incorrect checksum in table [RSDT] - %02X, should be %02X"},
		{"FACP", "ACPI Warning: Incorrect checksum in table [FACP] - %02X, should be %02X"},
		{"DSDT", "ACPI Warning: Incorrect checksum in table [DSDT] - %02X, should be %02X"},
	} {
		t.Run(tc.sig, func(t *testing.T) {
			img := buildACPI(acpiSpec{pm1a: 0x604, aml: s5})
			tb := img.m.at(img.addrs[tc.sig])
			good := tb[9]
			tb[9] += 3
			p, err := ParseS5(img.m, img.rsdp)
			if err != nil || p.SlpTypA != 5 {
				t.Fatal(p, err)
			}
			if want := fmt.Sprintf(tc.line, good+3, good); !acpiHasLine(p.Lines, want) {
				t.Fatalf("no %q in\n%s", want, strings.Join(p.Lines, "\n"))
			}
		})
	}

	// Bad RSDP checksum: FindRSDP skips it, ParseS5 warns and goes on.
	img := buildACPI(acpiSpec{pm1a: 0x604, aml: s5})
	img.m.at(qemuRSDP)[8]++
	if a, err := FindRSDP(img.m, 0); !errors.Is(err, ErrNoACPI) {
		t.Fatalf("FindRSDP %#x %v", a, err)
	}
	p, err := ParseS5(img.m, qemuRSDP)
	if err != nil || !acpiHasLine(p.Lines, "ACPI Warning: Incorrect checksum in RSDP") {
		t.Fatal(p, err)
	}

	// Bad extended checksum on a revision 2 RSDP.
	img = buildACPI(acpiSpec{rsdpRev: 2, pm1a: 0x604, aml: s5})
	img.m.at(qemuRSDP)[32]++
	if a, err := FindRSDP(img.m, 0); !errors.Is(err, ErrNoACPI) {
		t.Fatalf("FindRSDP %#x %v", a, err)
	}
	if p, err = ParseS5(img.m, qemuRSDP); err != nil || !acpiHasLine(p.Lines, "Incorrect extended checksum in RSDP") {
		t.Fatal(p, err)
	}
}

func TestFindRSDP(t *testing.T) {
	s5 := s5Name(0, 0)
	// Hint honoured, including outside the scanned windows.
	img := buildACPI(acpiSpec{pm1a: 0x604, aml: s5, rsdpAt: tblBase + 0x800})
	if a, err := FindRSDP(img.m, tblBase+0x800); err != nil || a != tblBase+0x800 {
		t.Fatalf("hint: %#x %v", a, err)
	}
	if a, err := FindRSDP(img.m, 0); !errors.Is(err, ErrNoACPI) {
		t.Fatalf("no hint: %#x %v", a, err)
	}
	// A bad hint falls back to the scan.
	img = buildACPI(acpiSpec{pm1a: 0x604, aml: s5})
	if a, err := FindRSDP(img.m, tblBase); err != nil || a != qemuRSDP {
		t.Fatalf("bad hint: %#x %v", a, err)
	}
	if a, err := FindRSDP(img.m, 1<<40); err != nil || a != qemuRSDP {
		t.Fatalf("unreadable hint: %#x %v", a, err)
	}

	for _, tc := range []struct {
		name  string
		at    uint64
		ebda  uint16
		found bool
	}{
		{name: "window start", at: 0xE0000, found: true},
		{name: "window last slot", at: 0xFFFF0}, // its 20 bytes run past this fake's 1 MiB
		{name: "window last full slot", at: 0xFFFE0, found: true},
		{name: "below window", at: 0xDFFF0},
		{name: "unaligned", at: 0xF5A48},
		{name: "EBDA start", at: 0x9FC00, ebda: 0x9FC0, found: true},
		{name: "EBDA last slot", at: 0x9FFF0, ebda: 0x9FC0, found: true},
		{name: "past EBDA KiB", at: 0xA0000, ebda: 0x9FC0},
		{name: "EBDA pointer too low", at: 0x420, ebda: 0x40},
		{name: "EBDA pointer 0x410", at: 0x410, ebda: 0x41, found: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := buildACPI(acpiSpec{pm1a: 0x604, aml: s5, rsdpAt: tc.at})
			le.PutUint16(img.m.at(acpiEBDAPtr), tc.ebda)
			a, err := FindRSDP(img.m, 0)
			if tc.found != (err == nil) || tc.found && a != tc.at {
				t.Fatalf("FindRSDP = %#x, %v", a, err)
			}
			if err == nil {
				if p, err := ParseS5(img.m, a); err != nil || p.PM1aCnt != 0x604 {
					t.Fatal(p, err)
				}
			}
		})
	}

	// The first valid candidate wins; invalid ones before it are skipped.
	img = buildACPI(acpiSpec{pm1a: 0x604, aml: s5})
	copy(img.m.at(0xE0010), acpiSigRSDP)
	if a, err := FindRSDP(img.m, 0); err != nil || a != qemuRSDP {
		t.Fatalf("%#x %v", a, err)
	}
}

func TestACPITruncated(t *testing.T) {
	s5 := s5Name(0x0A, 5, 0x0A, 5)
	for _, tc := range []struct {
		name   string
		mutate func(img *acpiImage)
		errIs  error
	}{
		{"RSDP unreadable", func(img *acpiImage) { img.rsdp = 1 << 40 }, ErrUnreadable},
		{"RSDP bad signature", func(img *acpiImage) { img.m.at(img.rsdp)[0] = 'X' }, ErrMalformed},
		{"RSDT address unreadable", func(img *acpiImage) { le.PutUint32(img.m.at(img.rsdp)[16:], 0x10000000) }, ErrUnreadable},
		{"RSDT length < header", func(img *acpiImage) { le.PutUint32(img.m.at(img.addrs["RSDT"])[4:], 35) }, ErrMalformed},
		{"RSDT length huge", func(img *acpiImage) { le.PutUint32(img.m.at(img.addrs["RSDT"])[4:], 0xFFFFFFFF) }, ErrMalformed},
		{"RSDT runs off memory", func(img *acpiImage) { le.PutUint32(img.m.at(img.addrs["RSDT"])[4:], 0x8000) }, ErrUnreadable},
		{"FADT length huge", func(img *acpiImage) { le.PutUint32(img.m.at(img.addrs["FACP"])[4:], MaxACPITable+1) }, ErrMalformed},
		{"FADT runs off memory", func(img *acpiImage) { le.PutUint32(img.m.at(img.addrs["FACP"])[4:], 0x8000) }, ErrUnreadable},
		{"DSDT length < header", func(img *acpiImage) { le.PutUint32(img.m.at(img.addrs["DSDT"])[4:], 0) }, ErrMalformed},
		{"DSDT length over cap", func(img *acpiImage) { le.PutUint32(img.m.at(img.addrs["DSDT"])[4:], MaxAMLTable+1) }, ErrMalformed},
		{"DSDT runs off memory", func(img *acpiImage) { le.PutUint32(img.m.at(img.addrs["DSDT"])[4:], MaxAMLTable) }, ErrUnreadable},
		{"DSDT unreadable", func(img *acpiImage) { le.PutUint32(img.m.at(img.addrs["FACP"])[fadtDSDT:], 0x10000000) }, ErrNoACPI},
		{"FACP entry unreadable", func(img *acpiImage) { le.PutUint32(img.m.at(img.addrs["RSDT"])[acpiHeaderLen:], 0x10000000) }, ErrNoACPI},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := buildACPI(acpiSpec{pm1a: 0x604, aml: s5})
			tc.mutate(img)
			if _, err := ParseS5(img.m, img.rsdp); !errors.Is(err, tc.errIs) {
				t.Fatalf("err %v, want %v", err, tc.errIs)
			}
		})
	}
}

func TestACPIBounds(t *testing.T) {
	// Root table with more entries than MaxRootEntries, all pointing at the
	// FADT: entries past the cap are not read.
	s5 := s5Name(0x0A, 5, 0x0A, 5)
	img := buildACPI(acpiSpec{pm1a: 0x604, aml: s5})
	fadt := img.addrs["FACP"]
	n := MaxRootEntries + 10
	body := make([]byte, 4*n)
	for i := 0; i < n; i++ {
		le.PutUint32(body[4*i:], uint32(fadt))
	}
	rsdt := acpiSDT("RSDT", 1, body)
	img.m.regions = append(img.m.regions, acpiRegion{0x20000000, rsdt})
	le.PutUint32(img.m.at(img.rsdp)[16:], 0x20000000)
	acpiFixSum(img.m.at(img.rsdp)[:acpiRSDPLen], 8)
	img.m.reads = 0
	p, err := ParseS5(img.m, img.rsdp)
	if err != nil || !acpiHasLine(p.Lines, "ACPI Warning: Truncating 10 table entries!") {
		t.Fatal(err)
	}
	if img.m.reads > MaxRootEntries+20 {
		t.Fatalf("%d reads", img.m.reads)
	}

	// Many large SSDTs without _S5: total AML read stays under MaxAMLTotal.
	big := make([]byte, MaxAMLTable-acpiHeaderLen)
	var ssdts [][]byte
	for i := 0; i < 8; i++ {
		ssdts = append(ssdts, big)
	}
	img = buildACPI(acpiSpec{pm1a: 0x604, aml: []byte{}, ssdts: ssdts})
	img.m.bytes = 0
	if _, err := ParseS5(img.m, img.rsdp); !errors.Is(err, ErrMalformed) {
		t.Fatal(err)
	}
	if img.m.bytes > MaxAMLTotal+MaxACPITable {
		t.Fatalf("%d bytes read", img.m.bytes)
	}
}

func TestACPIStr(t *testing.T) {
	for in, want := range map[string]string{"BOCHS ": "BOCHS ", "AB\x00CD": "AB", "A\x01\xffB": "A??B", "": ""} {
		if got := acpiStr([]byte(in)); got != want {
			t.Errorf("acpiStr(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzACPI: arbitrary memory never makes FindRSDP or ParseS5 panic, reads
// stay bounded, errors wrap the sentinels, and results are in range.
func FuzzACPI(f *testing.F) {
	for _, s := range []acpiSpec{
		{pm1a: 0x604, aml: qemuAML(), rsdpAt: tblBase + 0x400},
		{rsdpRev: 2, fadtLen: 244, pm1a: 0x604, xpm1a: acpiGAS{1, 0x604}, pm1b: 0x704, aml: s5Name(0x0A, 5, 0x0B, 6, 0), rsdpAt: tblBase + 0x400},
		{pm1a: 0x604, aml: []byte{}, ssdts: [][]byte{s5Name(0x0C, 1, 0, 0, 0, 1)}, rsdpAt: tblBase + 0x400},
	} {
		img := buildACPI(s)
		f.Add(img.m.regions[1].b, uint16(0x400), false)
		f.Add(img.m.regions[1].b, uint16(0x400), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, hint uint16, wrap bool) {
		m := &acpiMem{regions: []acpiRegion{{tblBase, data}, {acpiHiRSDPBase, data}}}
		if wrap {
			m = &acpiMem{wrap: data}
		}
		h := tblBase + uint64(hint)
		a, err := FindRSDP(m, h)
		checkACPIErr(t, err)
		if m.reads > 20000 || m.bytes > 1<<20 {
			t.Fatalf("FindRSDP: %d reads, %d bytes", m.reads, m.bytes)
		}
		for _, start := range []uint64{a, h} {
			if start == 0 {
				continue
			}
			m.reads, m.bytes = 0, 0
			p, err := ParseS5(m, start)
			checkACPIErr(t, err)
			if m.reads > MaxRootEntries+40 || m.bytes > MaxAMLTotal+4*MaxACPITable {
				t.Fatalf("ParseS5: %d reads, %d bytes", m.reads, m.bytes)
			}
			if err != nil {
				if p.PM1aCnt != 0 || p.PM1bCnt != 0 || p.SlpTypA != 0 || p.SlpTypB != 0 {
					t.Fatalf("failed parse returned %+v", p)
				}
				continue
			}
			if p.PM1aCnt == 0 || p.SlpTypA > 7 || p.SlpTypB > 7 {
				t.Fatalf("%+v", p)
			}
			if v := p.PM1aValue(); v&^0x3C00 != 0 || v&ACPI_BITMASK_SLEEP_ENABLE == 0 {
				t.Fatalf("PM1aValue %#x", p.PM1aValue())
			}
			if !strings.HasPrefix(p.Lines[len(p.Lines)-1], "ACPI: S5 power-off through PM1a_CNT ") {
				t.Fatalf("last line %q", p.Lines[len(p.Lines)-1])
			}
		}
	})
}

func checkACPIErr(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range []error{ErrUnreadable, ErrMalformed, ErrNoACPI} {
		if errors.Is(err, s) {
			return
		}
	}
	t.Fatalf("error %v wraps no sentinel", err)
}

func TestACPIFACSInRoot(t *testing.T) {
	img := buildACPI(acpiSpec{pm1a: 0x604, aml: s5Name(0, 0)})
	rt := img.m.at(img.addrs["RSDT"])[:0x2C]
	le.PutUint32(rt[acpiHeaderLen+4:], uint32(img.addrs["FACS"])) // APIC entry -> FACS
	acpiFixSum(rt, 9)
	p, err := ParseS5(img.m, img.rsdp)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Lines[len(p.Lines)-2]; got != "ACPI: FACS 07FE0000, 0040" {
		t.Fatalf("line %q", got)
	}
	if acpiHasLine(p.Lines, "Warning") {
		t.Fatalf("warnings:\n%s", strings.Join(p.Lines, "\n"))
	}
}

// FindRSDP's work is bounded even when every 16-byte slot of both windows
// carries the signature: one read per 4 KiB chunk plus at most two per slot.
func TestFindRSDPWorstCase(t *testing.T) {
	d := make([]byte, 16)
	copy(d, acpiSigRSDP)
	d[15] = 2
	m := &acpiMem{wrap: d}
	if _, err := FindRSDP(m, 0x10); !errors.Is(err, ErrNoACPI) {
		t.Fatal(err)
	}
	slots := (acpiEBDAWindow + acpiHiRSDPSize) / acpiRSDPStep
	if max := 1 + 1 + 1 + acpiHiRSDPSize/acpiScanChunk + slots; m.reads > max {
		t.Fatalf("%d reads, bound %d", m.reads, max)
	}
}
