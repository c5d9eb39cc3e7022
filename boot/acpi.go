package boot

// ACPI power-off facts.
//
// gohv powers the machine off the way Xen does on ACPI machines: it writes
// (SLP_TYPx << ACPI_BITPOSITION_SLEEP_TYPE) | ACPI_BITMASK_SLEEP_ENABLE to the
// PM1a control block and, when the FADT has one, to the PM1b control block.
// The port numbers come from the FADT, the SLP_TYPa/SLP_TYPb values from the
// \_S5_ package in the DSDT (or, on older firmware such as SeaBIOS-era QEMU,
// an SSDT). gohv has no AML interpreter: the \_S5_ object is located by its
// Name() encoding, which is how firmware without methods for _S5 encodes it.
//
// Layout facts (ACPI 6.x spec; ACPICA actbl.h/actbl1.h as carried in Xen 4.17
// xen/include/acpi; the RSDP search of xen/drivers/acpi/tables/tbxfroot.c):
//
//	RSDP:  "RSD PTR " [0,8), checksum 8 over 20 bytes, OEM ID [9,15),
//	       revision 15, RSDT u32 16; revision >= 2 adds length u32 20,
//	       XSDT u64 24, extended checksum 32 over 36 bytes.
//	SDT header (36 bytes): signature [0,4), length u32 4, revision 8,
//	       checksum 9, OEM ID [10,16), OEM table ID [16,24), OEM revision
//	       u32 24, creator ID [28,32), creator revision u32 32.
//	FADT:  FACS u32 36, DSDT u32 40, PM1a_CNT_BLK u32 64, PM1b_CNT_BLK u32 68,
//	       flags u32 112, X_FACS u64 132, X_DSDT u64 140,
//	       X_PM1a_CNT_BLK GAS 172, X_PM1b_CNT_BLK GAS 184.
//	GAS (12 bytes): space ID 0 (1 = system I/O), bit width 1, bit offset 2,
//	       access size 3, address u64 4.
//
// As in ACPICA, FADT fields beyond the table's length read as zero, an X_
// field is used when its address is non-zero (here: and it is a system I/O
// port), and a bad table checksum is reported and otherwise ignored.

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// ErrNoACPI is returned (wrapped) when no valid RSDP, no FADT, no PM1a
// control block or no \_S5_ object is found.
var ErrNoACPI = errors.New("boot: ACPI table or object not found")

// PM1 control register bits (ACPICA names).
const (
	ACPI_BITPOSITION_SLEEP_TYPE = 10     // SLP_TYP, 3 bits
	ACPI_BITMASK_SLEEP_TYPE     = 0x1C00 // SLP_TYP field
	ACPI_BITMASK_SLEEP_ENABLE   = 0x2000 // SLP_EN
)

// Generic Address Structure space IDs and FADT flags used here.
const (
	ACPI_ADR_SPACE_SYSTEM_IO = 1
	ACPI_FADT_HW_REDUCED     = 1 << 20
)

// Bounds on what ParseS5 and FindRSDP read.
const (
	MaxACPITable   = 64 << 10 // any table other than DSDT/SSDT
	MaxAMLTable    = 1 << 20  // one DSDT or SSDT
	MaxAMLTotal    = 4 << 20  // all AML read by one ParseS5
	MaxRootEntries = 1024     // RSDT/XSDT entries examined
)

// Fixed locations and sizes (ACPICA actables.h / tbxfroot.c).
const (
	acpiEBDAPtr     = 0x40E   // ACPI_EBDA_PTR_LOCATION: real-mode segment, 2 bytes
	acpiEBDAWindow  = 1024    // ACPI_EBDA_WINDOW_SIZE
	acpiHiRSDPBase  = 0xE0000 // ACPI_HI_RSDP_WINDOW_BASE
	acpiHiRSDPSize  = 0x20000 // ACPI_HI_RSDP_WINDOW_SIZE
	acpiRSDPStep    = 16      // ACPI_RSDP_SCAN_STEP
	acpiRSDPLen     = 20      // ACPI_RSDP_CHECKSUM_LENGTH
	acpiRSDPXLen    = 36      // ACPI_RSDP_XCHECKSUM_LENGTH
	acpiHeaderLen   = 36      // struct acpi_table_header
	acpiGASLen      = 12      // struct acpi_generic_address
	acpiScanChunk   = 4096
	acpiSigRSDP     = "RSD PTR "
	fadtFACS        = 36
	fadtDSDT        = 40
	fadtPM1aCnt     = 64
	fadtPM1bCnt     = 68
	fadtPMTmr       = 76
	fadtFlags       = 112
	fadtXFACS       = 132
	fadtXDSDT       = 140
	fadtXPM1aCnt    = 172
	fadtXPM1bCnt    = 184
	fadtXPMTmr      = 208
	amlZeroOp       = 0x00
	amlOneOp        = 0x01
	amlNameOp       = 0x08
	amlBytePrefix   = 0x0A
	amlWordPrefix   = 0x0B
	amlDWordPrefix  = 0x0C
	amlQWordPrefix  = 0x0E
	amlPackageOp    = 0x12
	amlRootChar     = 0x5C
	amlOnesOp       = 0xFF
	amlMaxSleepType = 7
)

// PowerOff is what gohv needs to enter S5. PM1bCnt is 0 when the FADT has
// no PM1b control block. Lines are console lines (without "(XEN) ") in Xen's
// wording: the table list as ACPICA prints it, checksum and field warnings,
// and a final "ACPI: S5 power-off ..." line. ParseS5 fills Lines also when it
// fails, so the caller can print what was found.
type PowerOff struct {
	PM1aCnt, PM1bCnt uint16
	// PMTmr is the ACPI PM timer's port (PM_TMR_BLK; 0: none), which
	// Xen keeps from dom0.
	PMTmr            uint16
	SlpTypA, SlpTypB uint16
	Lines            []string
}

// PM1aValue is the value to write to PM1a_CNT to enter S5.
func (p PowerOff) PM1aValue() uint16 {
	return p.SlpTypA<<ACPI_BITPOSITION_SLEEP_TYPE&ACPI_BITMASK_SLEEP_TYPE | ACPI_BITMASK_SLEEP_ENABLE
}

// PM1bValue is the value to write to PM1b_CNT (when PM1bCnt != 0).
func (p PowerOff) PM1bValue() uint16 {
	return p.SlpTypB<<ACPI_BITPOSITION_SLEEP_TYPE&ACPI_BITMASK_SLEEP_TYPE | ACPI_BITMASK_SLEEP_ENABLE
}

// FindRSDP returns the physical address of a valid RSDP: hint (the PVH
// start info's rsdp_paddr; 0 for none) when it holds one, else the first
// valid one in the first KiB of the EBDA (whose real-mode segment is at
// 0x40E, used when above 0x400), else in 0xE0000-0xFFFFF, on 16-byte
// boundaries. Valid means the signature and the 20-byte checksum match and,
// for revision >= 2, the 36-byte extended checksum too (ACPICA's rule).
// Unreadable parts of the windows are skipped.
func FindRSDP(r PhysReader, hint uint64) (uint64, error) {
	if hint != 0 && validRSDP(r, hint) {
		return hint, nil
	}
	var seg [2]byte
	if r.ReadPhys(acpiEBDAPtr, seg[:]) {
		if ebda := uint64(le.Uint16(seg[:])) << 4; ebda > 0x400 {
			if a, ok := scanRSDP(r, ebda, acpiEBDAWindow); ok {
				return a, nil
			}
		}
	}
	if a, ok := scanRSDP(r, acpiHiRSDPBase, acpiHiRSDPSize); ok {
		return a, nil
	}
	if hint != 0 {
		return 0, fmt.Errorf("RSDP at %#x invalid and none in the EBDA or 0xE0000-0xFFFFF: %w", hint, ErrNoACPI)
	}
	return 0, fmt.Errorf("no valid RSDP in the EBDA or 0xE0000-0xFFFFF: %w", ErrNoACPI)
}

func scanRSDP(r PhysReader, base uint64, size int) (uint64, bool) {
	buf := make([]byte, acpiScanChunk)
	for off := 0; off < size; off += acpiScanChunk {
		n := min(acpiScanChunk, size-off)
		if !r.ReadPhys(base+uint64(off), buf[:n]) {
			continue
		}
		for i := 0; i+len(acpiSigRSDP) <= n; i += acpiRSDPStep {
			if string(buf[i:i+len(acpiSigRSDP)]) == acpiSigRSDP && validRSDP(r, base+uint64(off+i)) {
				return base + uint64(off+i), true
			}
		}
	}
	return 0, false
}

func validRSDP(r PhysReader, a uint64) bool {
	b, err := read(r, a, acpiRSDPLen, "RSDP")
	if err != nil || string(b[:8]) != acpiSigRSDP || acpiChecksum(b) != 0 {
		return false
	}
	if b[15] < 2 {
		return true
	}
	x, err := read(r, a, acpiRSDPXLen, "RSDP")
	return err == nil && acpiChecksum(x) == 0
}

func acpiChecksum(b []byte) byte {
	var s byte
	for _, c := range b {
		s += c
	}
	return s
}

// acpiStr renders a fixed-size ACPI name field as printf's %N.Ns would
// (stopping at NUL), with unprintable bytes shown as '?'.
func acpiStr(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	var sb strings.Builder
	for _, c := range b {
		if c < 0x20 || c > 0x7E {
			c = '?'
		}
		sb.WriteByte(c)
	}
	return sb.String()
}

// s5Walk is the state of one ParseS5.
type s5Walk struct {
	r      PhysReader
	p      *PowerOff
	budget int // AML bytes still allowed (MaxAMLTotal)
}

func (w *s5Walk) line(format string, a ...any) {
	w.p.Lines = append(w.p.Lines, fmt.Sprintf(format, a...))
}

// printHeader emits ACPICA's acpi_tb_print_table_header line.
func (w *s5Walk) printHeader(addr uint64, h []byte) {
	if string(h[:4]) == "FACS" {
		w.line("ACPI: FACS %08X, %04X", addr, le.Uint32(h[4:]))
		return
	}
	w.line("ACPI: %s %08X, %04X (r%d %s %s %8X %s %8X)", acpiStr(h[0:4]), addr, le.Uint32(h[4:]),
		h[8], acpiStr(h[10:16]), acpiStr(h[16:24]), le.Uint32(h[24:]), acpiStr(h[28:32]), le.Uint32(h[32:]))
}

// verify emits ACPICA's warning when a table's checksum is wrong.
func (w *s5Walk) verify(t []byte) {
	if s := acpiChecksum(t); s != 0 {
		w.line("ACPI Warning: Incorrect checksum in table [%s] - %02X, should be %02X",
			acpiStr(t[0:4]), t[9], t[9]-s)
	}
}

// table reads the whole table at addr (header already read into h), whose
// length must lie in [36, max].
func (w *s5Walk) table(addr uint64, h []byte, max int) ([]byte, error) {
	n := le.Uint32(h[4:])
	sig := acpiStr(h[0:4])
	if n < acpiHeaderLen || uint64(n) > uint64(max) {
		return nil, fmt.Errorf("ACPI %s at %#x: length %#x outside [%#x, %#x]: %w", sig, addr, n, acpiHeaderLen, max, ErrMalformed)
	}
	return read(w.r, addr, int(n), "ACPI "+sig)
}

// ParseS5 walks the ACPI tables from the RSDP at rsdp (see FindRSDP) and
// returns the PM1 control ports and the S5 sleep types. The root table is the
// XSDT when the RSDP's revision is >= 2 and its XSDT address is non-zero
// (falling back to the RSDT, with Xen's warning, when the XSDT has a NULL
// entry), else the RSDT. The first "FACP" entry is the FADT; \_S5_ is looked
// for in the DSDT, then in each SSDT in root-table order. Reads are bounded
// (MaxACPITable, MaxAMLTable, MaxAMLTotal, MaxRootEntries). Errors wrap
// ErrUnreadable, ErrMalformed or ErrNoACPI.
func ParseS5(r PhysReader, rsdp uint64) (PowerOff, error) {
	var p PowerOff
	w := &s5Walk{r: r, p: &p, budget: MaxAMLTotal}
	err := w.parse(rsdp)
	if err != nil {
		p.PM1aCnt, p.PM1bCnt, p.PMTmr, p.SlpTypA, p.SlpTypB = 0, 0, 0, 0, 0
	}
	return p, err
}

func (w *s5Walk) parse(rsdp uint64) error {
	rs, err := read(w.r, rsdp, acpiRSDPLen, "RSDP")
	if err != nil {
		return err
	}
	if string(rs[:8]) != acpiSigRSDP {
		return fmt.Errorf("RSDP at %#x: bad signature: %w", rsdp, ErrMalformed)
	}
	rev := rs[15]
	plen := uint32(acpiRSDPLen)
	var xsdt uint64
	if rev > 0 {
		x, err := read(w.r, rsdp, acpiRSDPXLen, "RSDP")
		if err != nil {
			return err
		}
		plen = le.Uint32(x[20:])
		if rev > 1 {
			xsdt = le.Uint64(x[24:])
			if acpiChecksum(x) != 0 {
				w.line("ACPI Warning: Incorrect extended checksum in RSDP - %02X, should be %02X", x[32], x[32]-acpiChecksum(x))
			}
		}
	}
	w.line("ACPI: RSDP %08X, %04X (r%d %s)", rsdp, plen, rev, acpiStr(rs[9:15]))
	if s := acpiChecksum(rs); s != 0 {
		w.line("ACPI Warning: Incorrect checksum in RSDP - %02X, should be %02X", rs[8], rs[8]-s)
	}

	rsdt := uint64(le.Uint32(rs[16:]))
	root, esize, sig := rsdt, 4, "RSDT"
	if xsdt != 0 {
		root, esize, sig = xsdt, 8, "XSDT"
	}
	rt, err := w.rootTable(root, sig)
	if err != nil {
		return err
	}
	if esize == 8 && rsdt != 0 && acpiHasNullEntry(rt[acpiHeaderLen:]) {
		w.line("ACPI Warning: BIOS XSDT has NULL entry, using RSDT")
		root, esize, sig = rsdt, 4, "RSDT"
		if rt, err = w.rootTable(root, sig); err != nil {
			return err
		}
	}
	w.printHeader(root, rt)
	w.verify(rt)

	entries := rt[acpiHeaderLen:]
	n := len(entries) / esize
	if n > MaxRootEntries {
		w.line("ACPI Warning: Truncating %d table entries!", n-MaxRootEntries)
		n = MaxRootEntries
	}
	var (
		dsdt    uint64
		ssdts   []uint64
		sawFADT bool
	)
	for i := 0; i < n; i++ {
		a := rootEntry(entries, i, esize)
		if a == 0 {
			continue
		}
		h, err := read(w.r, a, acpiHeaderLen, "ACPI table header")
		if err != nil {
			continue // as ACPICA: a table that cannot be mapped is skipped
		}
		w.printHeader(a, h)
		switch string(h[:4]) {
		case "FACP":
			if sawFADT {
				continue
			}
			sawFADT = true
			if dsdt, err = w.fadt(a, h); err != nil {
				return err
			}
		case "SSDT":
			ssdts = append(ssdts, a)
		}
	}
	if !sawFADT {
		return fmt.Errorf("no FACP in the %s at %#x: %w", sig, root, ErrNoACPI)
	}

	var lastErr error
	for _, a := range append([]uint64{dsdt}, ssdts...) {
		if a == 0 {
			continue
		}
		found, err := w.s5In(a, a == dsdt)
		if found {
			if err != nil {
				return err
			}
			w.s5Line()
			return nil
		}
		if err != nil {
			lastErr = err
		}
	}
	if lastErr != nil {
		return lastErr
	}
	return fmt.Errorf("no \\_S5_ package in the DSDT or SSDTs: %w", ErrNoACPI)
}

func (w *s5Walk) rootTable(a uint64, sig string) ([]byte, error) {
	h, err := read(w.r, a, acpiHeaderLen, sig)
	if err != nil {
		return nil, err
	}
	if string(h[:4]) != sig {
		return nil, fmt.Errorf("%s at %#x: signature %q: %w", sig, a, acpiStr(h[:4]), ErrMalformed)
	}
	return w.table(a, h, MaxACPITable)
}

func acpiHasNullEntry(e []byte) bool {
	for i := 0; i+8 <= len(e); i += 8 {
		if le.Uint64(e[i:]) == 0 {
			return true
		}
	}
	return false
}

// fadt decodes the FADT at a (header h), prints the DSDT and FACS lines as
// ACPICA's acpi_tb_parse_fadt does, fills PM1aCnt/PM1bCnt and returns the
// DSDT address (0 when it has no valid DSDT).
func (w *s5Walk) fadt(a uint64, h []byte) (uint64, error) {
	t, err := w.table(a, h, MaxACPITable)
	if err != nil {
		return 0, err
	}
	w.verify(t)
	u32 := func(off int) uint64 {
		if off+4 > len(t) {
			return 0
		}
		return uint64(le.Uint32(t[off:]))
	}
	u64 := func(off int) uint64 {
		if off+8 > len(t) {
			return 0
		}
		return le.Uint64(t[off:])
	}
	dsdt := u64(fadtXDSDT)
	if dsdt == 0 {
		dsdt = u32(fadtDSDT)
	}
	if dsdt != 0 {
		if dh, err := read(w.r, dsdt, acpiHeaderLen, "DSDT"); err != nil {
			w.line("ACPI Error: Could not map memory at %08X for length %X", dsdt, acpiHeaderLen)
			dsdt = 0
		} else if string(dh[:4]) != "DSDT" {
			w.line("ACPI Error: Invalid signature 0x%X for ACPI table [DSDT]", le.Uint32(dh))
			dsdt = 0
		} else {
			w.printHeader(dsdt, dh)
		}
	} else {
		w.line("ACPI Error: Null physical address for ACPI table [DSDT]")
	}
	if u32(fadtFlags)&ACPI_FADT_HW_REDUCED == 0 {
		facs := u64(fadtXFACS)
		if facs == 0 {
			facs = u32(fadtFACS)
		}
		if facs != 0 {
			if fh, err := read(w.r, facs, 8, "FACS"); err == nil {
				if string(fh[:4]) == "FACS" {
					w.line("ACPI: FACS %08X, %04X", facs, le.Uint32(fh[4:]))
				} else {
					w.line("ACPI Error: Invalid signature 0x%X for ACPI table [FACS]", le.Uint32(fh))
				}
			}
		}
	}
	w.p.PM1aCnt = w.pm1Block(t, fadtPM1aCnt, fadtXPM1aCnt, "Pm1aControlBlock")
	w.p.PM1bCnt = w.pm1Block(t, fadtPM1bCnt, fadtXPM1bCnt, "Pm1bControlBlock")
	w.p.PMTmr = w.pm1Block(t, fadtPMTmr, fadtXPMTmr, "PmTimerBlock")
	if w.p.PM1aCnt == 0 {
		return 0, fmt.Errorf("FADT at %#x: no usable PM1a control block: %w", a, ErrNoACPI)
	}
	return dsdt, nil
}

// pm1Block returns the I/O port of a FADT block (PM1 control, PM timer): the X_ GAS when it
// is present, non-zero and a system I/O port, else the 32-bit field; 0 when
// neither is a usable port.
func (w *s5Walk) pm1Block(t []byte, off32, offX int, name string) uint16 {
	var legacy uint64
	if off32+4 <= len(t) {
		legacy = uint64(le.Uint32(t[off32:]))
	}
	if offX+acpiGASLen <= len(t) {
		space, xaddr := t[offX], le.Uint64(t[offX+4:])
		if xaddr != 0 {
			if legacy != 0 && legacy != xaddr {
				w.line("ACPI Error: 32/64X address mismatch in \"%s\": [%08X] [%016X], using 64X", name, legacy, xaddr)
			}
			if space == ACPI_ADR_SPACE_SYSTEM_IO && xaddr <= 0xFFFF {
				return uint16(xaddr)
			}
			w.line("ACPI Warning: \"%s\" is not a system I/O port (space %d, address %#x), using the 32-bit field", name, space, xaddr)
		}
	}
	if legacy > 0xFFFF {
		w.line("ACPI Warning: \"%s\" address %#x is not an I/O port", name, legacy)
		return 0
	}
	return uint16(legacy)
}

// s5In reads the DSDT or SSDT at a and looks for \_S5_ in its AML. found
// reports that a Name(_S5_, Package) object was seen (err then says whether
// it was usable); otherwise err explains why the table could not be
// searched.
func (w *s5Walk) s5In(a uint64, isDSDT bool) (found bool, err error) {
	h, err := read(w.r, a, acpiHeaderLen, "AML table")
	if err != nil {
		return false, err
	}
	if isDSDT && string(h[:4]) != "DSDT" || !isDSDT && string(h[:4]) != "SSDT" {
		return false, nil // already reported, or not an SSDT: nothing to search
	}
	n := int(min(le.Uint32(h[4:]), MaxAMLTable+1))
	if n > w.budget {
		return false, fmt.Errorf("ACPI %s at %#x: AML read budget (%d bytes) exhausted: %w", acpiStr(h[:4]), a, MaxAMLTotal, ErrMalformed)
	}
	t, err := w.table(a, h, MaxAMLTable)
	if err != nil {
		return false, err
	}
	w.budget -= len(t)
	w.verify(t)
	typA, typB, found, err := amlFindS5(t[acpiHeaderLen:])
	if !found {
		return false, err
	}
	if err != nil {
		return true, fmt.Errorf("\\_S5_ in %s at %#x: %w", acpiStr(h[:4]), a, err)
	}
	w.p.SlpTypA = w.sleepType(typA, "A")
	w.p.SlpTypB = w.sleepType(typB, "B")
	return true, nil
}

// sleepType narrows an _S5_ element as ACPICA does (to a byte) and then to
// the 3-bit SLP_TYP field, warning when bits are lost.
func (w *s5Walk) sleepType(v uint64, which string) uint16 {
	b := uint16(uint8(v))
	if uint64(b) != v || b > amlMaxSleepType {
		w.line("ACPI Warning: \\_S5_ SLP_TYP%s value %#x does not fit SLP_TYP, using %d", strings.ToLower(which), v, b&amlMaxSleepType)
	}
	return b & amlMaxSleepType
}

func (w *s5Walk) s5Line() {
	p := w.p
	s := fmt.Sprintf("ACPI: S5 power-off through PM1a_CNT %#x SLP_TYP %d", p.PM1aCnt, p.SlpTypA)
	if p.PM1bCnt != 0 {
		s += fmt.Sprintf(", PM1b_CNT %#x SLP_TYP %d", p.PM1bCnt, p.SlpTypB)
	}
	p.Lines = append(p.Lines, s)
}

// amlFindS5 scans AML for NameOp [RootChar] "_S5_" PackageOp and decodes the
// package's first two integer elements. found is false when no such object
// exists; when one exists but none decodes, err says why (ErrMalformed).
// With a single element, SLP_TYPa is its low byte and SLP_TYPb the next
// (ACPICA acpi_get_sleep_type_data).
func amlFindS5(aml []byte) (a, b uint64, found bool, err error) {
	for from := 0; from < len(aml); {
		i := bytes.Index(aml[from:], []byte("_S5_"))
		if i < 0 {
			break
		}
		i += from
		from = i + 1
		named := i >= 1 && aml[i-1] == amlNameOp ||
			i >= 2 && aml[i-1] == amlRootChar && aml[i-2] == amlNameOp
		if !named || i+4 >= len(aml) || aml[i+4] != amlPackageOp {
			continue
		}
		found = true
		var perr error
		if a, b, perr = amlS5Package(aml[i+5:]); perr == nil {
			return a, b, true, nil
		}
		err = perr
	}
	return 0, 0, found, err
}

// amlS5Package decodes PkgLength NumElements Element... (p starts at the
// PkgLength, which counts itself).
func amlS5Package(p []byte) (a, b uint64, err error) {
	plen, hdr, err := amlPkgLength(p)
	if err != nil {
		return 0, 0, err
	}
	if plen < hdr+1 || plen > len(p) {
		return 0, 0, fmt.Errorf("package length %d outside [%d, %d]: %w", plen, hdr+1, len(p), ErrMalformed)
	}
	body := p[hdr:plen]
	count := int(body[0])
	body = body[1:]
	if count == 0 {
		return 0, 0, fmt.Errorf("empty package: %w", ErrMalformed)
	}
	a, n, err := amlInteger(body)
	if err != nil {
		return 0, 0, fmt.Errorf("element 0: %w", err)
	}
	if count == 1 {
		return a & 0xFF, a >> 8 & 0xFF, nil
	}
	b, _, err = amlInteger(body[n:])
	if err != nil {
		return 0, 0, fmt.Errorf("element 1: %w", err)
	}
	return a, b, nil
}

// amlPkgLength decodes an AML PkgLength: bits 7-6 of the lead byte count the
// following bytes (0-3); with none, bits 5-0 are the length; otherwise bits
// 3-0 are the low nibble (bits 5-4 must be zero) and each following byte adds
// 8 more bits.
func amlPkgLength(p []byte) (length, size int, err error) {
	if len(p) == 0 {
		return 0, 0, fmt.Errorf("truncated PkgLength: %w", ErrMalformed)
	}
	lead := p[0]
	extra := int(lead >> 6)
	if extra == 0 {
		return int(lead & 0x3F), 1, nil
	}
	if lead&0x30 != 0 {
		return 0, 0, fmt.Errorf("PkgLength lead byte %#x has reserved bits set: %w", lead, ErrMalformed)
	}
	if len(p) < 1+extra {
		return 0, 0, fmt.Errorf("truncated PkgLength: %w", ErrMalformed)
	}
	length = int(lead & 0x0F)
	for k := 0; k < extra; k++ {
		length |= int(p[1+k]) << (4 + 8*k)
	}
	return length, 1 + extra, nil
}

// amlInteger decodes one integer data object (ZeroOp, OneOp, OnesOp or a
// Byte/Word/DWord/QWord constant) and returns its value and encoded size.
func amlInteger(p []byte) (v uint64, size int, err error) {
	if len(p) == 0 {
		return 0, 0, fmt.Errorf("missing element: %w", ErrMalformed)
	}
	var n int
	switch p[0] {
	case amlZeroOp:
		return 0, 1, nil
	case amlOneOp:
		return 1, 1, nil
	case amlOnesOp:
		return ^uint64(0), 1, nil
	case amlBytePrefix:
		n = 1
	case amlWordPrefix:
		n = 2
	case amlDWordPrefix:
		n = 4
	case amlQWordPrefix:
		n = 8
	default:
		return 0, 0, fmt.Errorf("element opcode %#x is not an integer: %w", p[0], ErrMalformed)
	}
	if len(p) < 1+n {
		return 0, 0, fmt.Errorf("truncated integer: %w", ErrMalformed)
	}
	for k := n; k >= 1; k-- {
		v = v<<8 | uint64(p[k])
	}
	return v, 1 + n, nil
}

// rootEntry is entry i of an RSDT (esize 4) or XSDT (esize 8) body: a
// table's physical address, 0 for an empty slot.
func rootEntry(entries []byte, i, esize int) uint64 {
	if esize == 8 {
		return le.Uint64(entries[i*8:])
	}
	return uint64(le.Uint32(entries[i*4:]))
}
