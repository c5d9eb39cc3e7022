package kernel

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/gohv/gohv/abi"
)

// Xen ELF notes (public/elfnote.h) and the rules by which Xen 4.17's libelf
// (common/libelf/libelf-dominfo.c, elf_xen_parse) combines them.

// UnsetAddr marks an address the image does not give (libelf's UNSET_ADDR).
const UnsetAddr = ^uint64(0)

// UnsetAddr32 marks an absent PHYS32_ENTRY (libelf's UNSET_ADDR32).
const UnsetAddr32 = ^uint32(0)

// NoteSource says where the Xen parameters of an image came from.
type NoteSource int

// Note sources, in the order libelf tries them.
const (
	NotesNone   NoteSource = iota // no Xen notes anywhere (never in a parsed Image)
	NotesPhdr                     // PT_NOTE program headers
	NotesShdr                     // SHT_NOTE sections (no Xen note in any PT_NOTE)
	NotesLegacy                   // the __xen_guest section string
)

func (s NoteSource) String() string {
	switch s {
	case NotesNone:
		return "none"
	case NotesPhdr:
		return "PT_NOTE"
	case NotesShdr:
		return "SHT_NOTE"
	case NotesLegacy:
		return "__xen_guest"
	}
	return fmt.Sprintf("NoteSource(%d)", int(s))
}

// PAEMode is libelf's enum xen_pae_type. It matters only to 32-bit guests;
// Xen zeroes it for a 64-bit dom0 (dom0_construct_pv).
type PAEMode int

// PAE modes (libelf.h).
const (
	XEN_PAE_NO      PAEMode = 0
	XEN_PAE_YES     PAEMode = 1 // legacy PAE=yes
	XEN_PAE_EXTCR3  PAEMode = 2 // PAE_MODE "yes", legacy PAE=yes[extended-cr3]
	XEN_PAE_BIMODAL PAEMode = 3 // PAE_MODE containing "bimodal"
)

// L1MFNValid is one mask/value pair of the L1_MFN_VALID note: a non-present
// L1 entry e carries a valid MFN when e&Mask == Value.
type L1MFNValid struct {
	Mask, Value uint64
}

// DomParms is libelf's struct elf_dom_parms: the Xen view of a PV kernel.
// Addresses the image does not give are UnsetAddr (UnsetAddr32); the derived
// values (VirtBase, ElfPaddrOffset, VirtOffset, VirtKStart, VirtKEnd,
// VirtEntry) are always set in a parsed Image.
type DomParms struct {
	Source NoteSource
	// Present has bit t set when a Xen note of type t (XEN_ELFNOTE_*, < 32)
	// was seen. Legacy __xen_guest images set no bits.
	Present uint32

	GuestOS      string // GUEST_OS (legacy GUEST_OS)
	GuestVersion string // GUEST_VERSION (legacy GUEST_VER)
	XenVersion   string // XEN_VERSION (legacy XEN_VER)
	Loader       string // LOADER
	Features     string // FEATURES as written, the last one seen (legacy FEATURES)
	PAE          PAEMode
	BSDSymtab    bool

	// XENFEAT_* bit sets: FEATURES names (a '!' prefix also sets the bit in
	// FeaturesRequired), ORed with SUPPORTED_FEATURES' 32-bit words.
	FeaturesSupported [abi.XENFEAT_NR_SUBMAPS]uint32
	FeaturesRequired  [abi.XENFEAT_NR_SUBMAPS]uint32

	VirtBase       uint64 // VIRT_BASE; default 0
	ElfPaddrOffset uint64 // PADDR_OFFSET; default 0 with notes, VirtBase with __xen_guest
	VirtOffset     uint64 // VirtBase - ElfPaddrOffset (mod 2^64)
	VirtKStart     uint64 // PStart + VirtOffset
	VirtKEnd       uint64 // PEnd + VirtOffset
	VirtEntry      uint64 // ENTRY; default e_entry
	VirtHypercall  uint64 // HYPERCALL_PAGE VA, or UnsetAddr
	VirtHVStartLow uint64 // HV_START_LOW, or UnsetAddr (32-bit guests only)
	P2MBase        uint64 // INIT_P2M, or UnsetAddr
	PhysEntry      uint32 // PHYS32_ENTRY, or UnsetAddr32 (PVH only; ignored for PV)

	SuspendCancel  bool // SUSPEND_CANCEL non-zero
	UnmappedInitrd bool // MOD_START_PFN non-zero: the initrd may be left unmapped
	L1MFNValid     []L1MFNValid
}

// Has reports whether a Xen note of the given type (XEN_ELFNOTE_*) was seen.
func (p *DomParms) Has(note int) bool {
	return note >= 0 && note < 32 && p.Present&(1<<uint(note)) != 0
}

// Supports reports whether XENFEAT bit feat is in the supported set.
func (p *DomParms) Supports(feat int) bool { return featureBit(&p.FeaturesSupported, feat) }

// Requires reports whether XENFEAT bit feat is marked required ('!').
func (p *DomParms) Requires(feat int) bool { return featureBit(&p.FeaturesRequired, feat) }

func featureBit(set *[abi.XENFEAT_NR_SUBMAPS]uint32, feat int) bool {
	if feat < 0 || feat >= 32*len(set) {
		return false
	}
	return set[feat/32]&(1<<uint(feat%32)) != 0
}

func setFeature(set *[abi.XENFEAT_NR_SUBMAPS]uint32, feat int) {
	set[feat/32] |= 1 << uint(feat%32)
}

// featureNames are the XENFEAT names libelf accepts in a FEATURES string
// (elf_xen_feature_names): only these seven. Any other name is ignored,
// unless marked required, which refuses the image.
var featureNames = map[string]int{
	"writable_page_tables":       abi.XENFEAT_writable_page_tables,
	"writable_descriptor_tables": abi.XENFEAT_writable_descriptor_tables,
	"auto_translated_physmap":    abi.XENFEAT_auto_translated_physmap,
	"supervisor_mode_kernel":     abi.XENFEAT_supervisor_mode_kernel,
	"pae_pgdir_above_4gb":        abi.XENFEAT_pae_pgdir_above_4gb,
	"hvm_callback_vector":        abi.XENFEAT_hvm_callback_vector,
	"dom0":                       abi.XENFEAT_dom0,
}

// maxFeatureLen is the longest feature name libelf reads as one token (its
// buffer is 64 bytes with a NUL); a longer run is split into tokens.
const maxFeatureLen = 63

// ParseFeatures parses a FEATURES string ("name|!name|...") into supported
// and required XENFEAT bit sets, as libelf does. Unknown names are ignored;
// an unknown name marked required is an error.
func ParseFeatures(s string, supported, required *[abi.XENFEAT_NR_SUBMAPS]uint32) error {
	for len(s) > 0 {
		// One token: up to '|' (consumed) or maxFeatureLen bytes.
		n := 0
		for n < maxFeatureLen && n < len(s) && s[n] != '|' {
			n++
		}
		tok := s[:n]
		if n < len(s) && s[n] == '|' {
			n++
		}
		s = s[n:]

		name, req := strings.CutPrefix(tok, "!")
		bit, ok := featureNames[name]
		switch {
		case ok:
			setFeature(supported, bit)
			if req {
				setFeature(required, bit)
			}
		case req:
			return fmt.Errorf("%w: FEATURES requires %q", ErrUnknownFeature, name)
		}
	}
	return nil
}

// noteNames are the note types libelf parses; others (INFO among them) are
// ignored.
var noteNames = [...]string{
	abi.XEN_ELFNOTE_ENTRY:              "ENTRY",
	abi.XEN_ELFNOTE_HYPERCALL_PAGE:     "HYPERCALL_PAGE",
	abi.XEN_ELFNOTE_VIRT_BASE:          "VIRT_BASE",
	abi.XEN_ELFNOTE_PADDR_OFFSET:       "PADDR_OFFSET",
	abi.XEN_ELFNOTE_XEN_VERSION:        "XEN_VERSION",
	abi.XEN_ELFNOTE_GUEST_OS:           "GUEST_OS",
	abi.XEN_ELFNOTE_GUEST_VERSION:      "GUEST_VERSION",
	abi.XEN_ELFNOTE_LOADER:             "LOADER",
	abi.XEN_ELFNOTE_PAE_MODE:           "PAE_MODE",
	abi.XEN_ELFNOTE_FEATURES:           "FEATURES",
	abi.XEN_ELFNOTE_BSD_SYMTAB:         "BSD_SYMTAB",
	abi.XEN_ELFNOTE_HV_START_LOW:       "HV_START_LOW",
	abi.XEN_ELFNOTE_L1_MFN_VALID:       "L1_MFN_VALID",
	abi.XEN_ELFNOTE_SUSPEND_CANCEL:     "SUSPEND_CANCEL",
	abi.XEN_ELFNOTE_INIT_P2M:           "INIT_P2M",
	abi.XEN_ELFNOTE_MOD_START_PFN:      "MOD_START_PFN",
	abi.XEN_ELFNOTE_SUPPORTED_FEATURES: "SUPPORTED_FEATURES",
	abi.XEN_ELFNOTE_PHYS32_ENTRY:       "PHYS32_ENTRY",
}

// NoteName returns the name of Xen note type t ("ENTRY"), or "" for a type
// libelf ignores.
func NoteName(t uint32) string {
	if t < uint32(len(noteNames)) {
		return noteNames[t]
	}
	return ""
}

// stringNote reports whether note type t carries a string.
func stringNote(t uint32) bool {
	switch t {
	case abi.XEN_ELFNOTE_XEN_VERSION, abi.XEN_ELFNOTE_GUEST_OS, abi.XEN_ELFNOTE_GUEST_VERSION,
		abi.XEN_ELFNOTE_LOADER, abi.XEN_ELFNOTE_PAE_MODE, abi.XEN_ELFNOTE_FEATURES,
		abi.XEN_ELFNOTE_BSD_SYMTAB:
		return true
	}
	return false
}

// noteArea is one PT_NOTE segment or SHT_NOTE section.
type noteArea struct {
	what string // for messages: "PT_NOTE program header 4"
	data []byte
}

// parse fills p from the notes of f (whose bytes are img), following
// elf_xen_parse: Xen notes from PT_NOTE segments; if there are none, from
// SHT_NOTE sections; if still none, the __xen_guest section.
func (p *DomParms) parse(f *elf.File, img []byte) error {
	p.reset()
	total := 0 // notes examined, Xen or not

	var areas []noteArea
	for i, ph := range f.Progs {
		// libelf skips PT_NOTE headers with p_offset 0 (old binutils).
		if ph.Type != elf.PT_NOTE || ph.Off == 0 {
			continue
		}
		a, err := areaOf(img, ph.Off, ph.Filesz, fmt.Sprintf("PT_NOTE program header %d", i))
		if err != nil {
			return err
		}
		areas = append(areas, a)
	}
	n, err := p.parseNotes(areas, &total)
	if err != nil {
		return err
	}
	if n > 0 {
		p.Source = NotesPhdr
		return nil
	}

	areas = areas[:0]
	for i, s := range f.Sections {
		if i == 0 || s.Type != elf.SHT_NOTE {
			continue
		}
		a, err := areaOf(img, s.Offset, s.Size, fmt.Sprintf("SHT_NOTE section %d (%s)", i, s.Name))
		if err != nil {
			return err
		}
		areas = append(areas, a)
	}
	n, err = p.parseNotes(areas, &total)
	if err != nil {
		return err
	}
	if n > 0 {
		p.Source = NotesShdr
		return nil
	}

	if s := f.Section("__xen_guest"); s != nil && s.Type != elf.SHT_NOBITS {
		a, err := areaOf(img, s.Offset, s.Size, "the __xen_guest section")
		if err != nil {
			return err
		}
		p.Source = NotesLegacy
		return p.parseGuestInfo(a.data)
	}
	return nil
}

// reset gives p libelf's values before any note is read.
func (p *DomParms) reset() {
	*p = DomParms{
		VirtBase:       UnsetAddr,
		ElfPaddrOffset: UnsetAddr,
		VirtEntry:      UnsetAddr,
		VirtHypercall:  UnsetAddr,
		VirtHVStartLow: UnsetAddr,
		P2MBase:        UnsetAddr,
		PhysEntry:      UnsetAddr32,
	}
}

// areaOf returns img[off:off+size] or an error naming what overran.
func areaOf(img []byte, off, size uint64, what string) (noteArea, error) {
	if off > uint64(len(img)) || size > uint64(len(img))-off {
		return noteArea{}, fmt.Errorf("%w: %s's bytes [%#x, +%#x) lie outside the %#x-byte file", ErrELF, what, off, size, len(img))
	}
	return noteArea{what: what, data: img[off : off+size]}, nil
}

// parseNotes walks the notes of each area and applies every note named
// "Xen". It returns how many Xen notes it applied.
func (p *DomParms) parseNotes(areas []noteArea, total *int) (int, error) {
	xen := 0
	for _, a := range areas {
		b := a.data
		off := 0
		// A note is a 12-byte header (namesz, descsz, type; 4 bytes each
		// in ELF64 too), the name and the descriptor, each padded to 4
		// bytes. Fewer than 12 bytes left is trailing padding.
		for len(b)-off >= 12 {
			if *total >= MaxNotes {
				return 0, fmt.Errorf("%w: the kernel has more than %d ELF notes", ErrELF, MaxNotes)
			}
			*total++
			namesz := uint64(binary.LittleEndian.Uint32(b[off:]))
			descsz := uint64(binary.LittleEndian.Uint32(b[off+4:]))
			typ := binary.LittleEndian.Uint32(b[off+8:])
			nameOff := uint64(off) + 12
			descOff := nameOff + align4(namesz)
			next := descOff + align4(descsz)
			if descOff+descsz > uint64(len(b)) {
				return 0, fmt.Errorf("%w: the note at offset %#x of %s overruns it", ErrELF, off, a.what)
			}
			name := b[nameOff : nameOff+namesz]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			if string(name) == "Xen" {
				if err := p.applyNote(typ, b[descOff:descOff+descsz]); err != nil {
					return 0, err
				}
				xen++
			}
			if next >= uint64(len(b)) {
				break
			}
			off = int(next)
		}
	}
	return xen, nil
}

func align4(n uint64) uint64 { return (n + 3) &^ 3 }

// applyNote applies one Xen note, as elf_xen_parse_note does. Unknown types
// are ignored. A note given twice takes its last value; FEATURES and
// SUPPORTED_FEATURES accumulate.
func (p *DomParms) applyNote(typ uint32, desc []byte) error {
	name := NoteName(typ)
	if name == "" {
		return nil
	}
	p.Present |= 1 << typ

	if stringNote(typ) {
		// The string ends at the first NUL. Linux writes FEATURES with
		// .ascii, without one: libelf then stops at the note's zero padding,
		// so a descriptor without a NUL is taken whole.
		s := string(desc)
		if i := bytes.IndexByte(desc, 0); i >= 0 {
			s = string(desc[:i])
		}
		switch typ {
		case abi.XEN_ELFNOTE_LOADER:
			p.Loader = s
		case abi.XEN_ELFNOTE_GUEST_OS:
			p.GuestOS = s
		case abi.XEN_ELFNOTE_GUEST_VERSION:
			p.GuestVersion = s
		case abi.XEN_ELFNOTE_XEN_VERSION:
			p.XenVersion = s
		case abi.XEN_ELFNOTE_PAE_MODE:
			if s == "yes" {
				p.PAE = XEN_PAE_EXTCR3
			}
			if strings.Contains(s, "bimodal") {
				p.PAE = XEN_PAE_BIMODAL
			}
		case abi.XEN_ELFNOTE_BSD_SYMTAB:
			if s == "yes" {
				p.BSDSymtab = true
			}
		case abi.XEN_ELFNOTE_FEATURES:
			p.Features = s
			if err := ParseFeatures(s, &p.FeaturesSupported, &p.FeaturesRequired); err != nil {
				return err
			}
		}
		return nil
	}

	switch typ {
	case abi.XEN_ELFNOTE_L1_MFN_VALID:
		// maddr_t-sized (8-byte) mask/value pairs.
		if len(desc) == 0 || len(desc)%16 != 0 {
			return fmt.Errorf("%w: L1_MFN_VALID has %d bytes, not a non-zero multiple of 16", ErrXenNote, len(desc))
		}
		p.L1MFNValid = p.L1MFNValid[:0]
		for i := 0; i < len(desc); i += 16 {
			p.L1MFNValid = append(p.L1MFNValid, L1MFNValid{
				Mask:  binary.LittleEndian.Uint64(desc[i:]),
				Value: binary.LittleEndian.Uint64(desc[i+8:]),
			})
		}
		return nil
	case abi.XEN_ELFNOTE_SUPPORTED_FEATURES:
		// 32-bit words, one per XENFEAT submap; words beyond the submaps
		// Xen knows are ignored.
		if len(desc) == 0 || len(desc)%4 != 0 {
			return fmt.Errorf("%w: SUPPORTED_FEATURES has %d bytes, not a non-zero multiple of 4", ErrXenNote, len(desc))
		}
		for i := range p.FeaturesSupported {
			if 4*i+4 <= len(desc) {
				p.FeaturesSupported[i] |= binary.LittleEndian.Uint32(desc[4*i:])
			}
		}
		return nil
	}

	var v uint64
	switch len(desc) {
	case 1:
		v = uint64(desc[0])
	case 2:
		v = uint64(binary.LittleEndian.Uint16(desc))
	case 4:
		v = uint64(binary.LittleEndian.Uint32(desc))
	case 8:
		v = binary.LittleEndian.Uint64(desc)
	default:
		return fmt.Errorf("%w: %s has a %d-byte value, not 1, 2, 4 or 8 bytes", ErrXenNote, name, len(desc))
	}
	switch typ {
	case abi.XEN_ELFNOTE_ENTRY:
		p.VirtEntry = v
	case abi.XEN_ELFNOTE_HYPERCALL_PAGE:
		p.VirtHypercall = v
	case abi.XEN_ELFNOTE_VIRT_BASE:
		p.VirtBase = v
	case abi.XEN_ELFNOTE_PADDR_OFFSET:
		p.ElfPaddrOffset = v
	case abi.XEN_ELFNOTE_HV_START_LOW:
		p.VirtHVStartLow = v
	case abi.XEN_ELFNOTE_INIT_P2M:
		p.P2MBase = v
	case abi.XEN_ELFNOTE_SUSPEND_CANCEL:
		p.SuspendCancel = v != 0
	case abi.XEN_ELFNOTE_MOD_START_PFN:
		p.UnmappedInitrd = v != 0
	case abi.XEN_ELFNOTE_PHYS32_ENTRY:
		p.PhysEntry = uint32(v) // libelf keeps 32 bits
	}
	return nil
}

// Legacy __xen_guest limits: libelf reads a key into 32 bytes and a value
// into 128, NUL included; longer runs are split.
const (
	maxGuestInfoKey   = 31
	maxGuestInfoValue = 127
)

// parseGuestInfo parses the legacy __xen_guest string, "KEY=VALUE,KEY,...",
// as elf_xen_parse_guest_info does.
func (p *DomParms) parseGuestInfo(sec []byte) error {
	if i := bytes.IndexByte(sec, 0); i >= 0 {
		sec = sec[:i]
	}
	for h := 0; h < len(sec); {
		var key, val []byte
	key:
		for len(key) < maxGuestInfoKey && h < len(sec) {
			c := sec[h]
			switch c {
			case ',':
				h++
				break key
			case '=':
				h++
				for len(val) < maxGuestInfoValue && h < len(sec) {
					c := sec[h]
					h++
					if c == ',' {
						break
					}
					val = append(val, c)
				}
				break key
			}
			key = append(key, c)
			h++
		}
		v := string(val)
		switch string(key) {
		case "LOADER":
			p.Loader = v
		case "GUEST_OS":
			p.GuestOS = v
		case "GUEST_VER":
			p.GuestVersion = v
		case "XEN_VER":
			p.XenVersion = v
		case "PAE":
			if v == "yes[extended-cr3]" {
				p.PAE = XEN_PAE_EXTCR3
			} else if strings.HasPrefix(v, "yes") {
				p.PAE = XEN_PAE_YES
			}
		case "BSD_SYMTAB":
			p.BSDSymtab = true
		case "VIRT_BASE":
			p.VirtBase = strtoull(v)
		case "VIRT_ENTRY":
			p.VirtEntry = strtoull(v)
		case "ELF_PADDR_OFFSET":
			p.ElfPaddrOffset = strtoull(v)
		case "HYPERCALL_PAGE":
			// A page number relative to VIRT_BASE, not a VA.
			p.VirtHypercall = strtoull(v) << 12
		case "FEATURES":
			p.Features = v
			if err := ParseFeatures(v, &p.FeaturesSupported, &p.FeaturesRequired); err != nil {
				return err
			}
		}
	}
	if p.VirtBase != UnsetAddr && p.VirtHypercall != UnsetAddr {
		p.VirtHypercall += p.VirtBase
	}
	return nil
}

// strtoull parses s as C's strtoull(s, NULL, 0) does: leading white space,
// an optional sign, then hexadecimal after "0x", octal after "0", else
// decimal, stopping at the first byte that is not a digit. No digits gives 0;
// overflow gives the maximum value.
func strtoull(s string) uint64 {
	i := 0
	for i < len(s) && strings.IndexByte(" \t\n\v\f\r", s[i]) >= 0 {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	base := uint64(10)
	if i < len(s) && s[i] == '0' {
		base = 8
		if i+2 < len(s) && (s[i+1] == 'x' || s[i+1] == 'X') && digitVal(s[i+2]) < 16 {
			base = 16
			i += 2
		}
	}
	var v uint64
	overflow := false
	for ; i < len(s); i++ {
		d := digitVal(s[i])
		if d >= base {
			break
		}
		if v > (^uint64(0)-d)/base {
			overflow = true
		}
		v = v*base + d
	}
	if overflow {
		return ^uint64(0)
	}
	if neg {
		v = -v
	}
	return v
}

func digitVal(c byte) uint64 {
	switch {
	case '0' <= c && c <= '9':
		return uint64(c - '0')
	case 'a' <= c && c <= 'f':
		return uint64(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return uint64(c-'A') + 10
	}
	return 99
}

// derive checks the notes and computes the addresses, as elf_xen_note_check
// and elf_xen_addr_calc_check do for a PV guest.
func (p *DomParms) derive(pstart, pend, eEntry uint64) error {
	if p.Source == NotesNone {
		return ErrNotXenELF
	}
	if !strings.HasPrefix(p.Loader, "generic") && !strings.HasPrefix(p.GuestOS, "linux") {
		return fmt.Errorf("%w: LOADER is %q and GUEST_OS is %q", ErrLoader, p.Loader, p.GuestOS)
	}
	if !strings.HasPrefix(p.XenVersion, "xen-3.0") {
		return fmt.Errorf("%w: XEN_VERSION is %q", ErrXenVersion, p.XenVersion)
	}
	if p.BSDSymtab {
		return fmt.Errorf("%w: BSD_SYMTAB is set", ErrBSDSymtab)
	}

	if p.ElfPaddrOffset != UnsetAddr && p.VirtBase == UnsetAddr {
		return fmt.Errorf("%w: ELF_PADDR_OFFSET is %#x", ErrPaddrOffset, p.ElfPaddrOffset)
	}
	if p.VirtBase == UnsetAddr {
		p.VirtBase = 0
	}
	if p.ElfPaddrOffset == UnsetAddr {
		if p.Source == NotesLegacy {
			p.ElfPaddrOffset = p.VirtBase
		} else {
			p.ElfPaddrOffset = 0
		}
	}
	p.VirtOffset = p.VirtBase - p.ElfPaddrOffset
	p.VirtKStart = pstart + p.VirtOffset
	p.VirtKEnd = pend + p.VirtOffset
	if p.VirtEntry == UnsetAddr {
		p.VirtEntry = eEntry
	}

	if p.VirtKStart > p.VirtKEnd || p.VirtEntry < p.VirtKStart || p.VirtEntry > p.VirtKEnd || p.VirtBase > p.VirtKStart {
		return fmt.Errorf("%w: virt_base %#x, kernel %#x-%#x, entry %#x", ErrBounds, p.VirtBase, p.VirtKStart, p.VirtKEnd, p.VirtEntry)
	}
	if p.P2MBase != UnsetAddr && p.P2MBase >= p.VirtKStart && p.P2MBase < p.VirtKEnd {
		return fmt.Errorf("%w: INIT_P2M %#x, kernel %#x-%#x", ErrP2MBase, p.P2MBase, p.VirtKStart, p.VirtKEnd)
	}
	return nil
}
