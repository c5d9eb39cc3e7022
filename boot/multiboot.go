package boot

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// PhysReader reads boot-loader structures from physical memory. ReadPhys
// fills p from [addr, addr+len(p)) and reports whether the whole range was
// readable; on false the contents of p are unspecified. Implementations must
// not panic for any addr (including ranges that wrap past 2^64).
type PhysReader interface {
	ReadPhys(addr uint64, p []byte) bool
}

// Magic numbers a loader leaves in EAX (multiboot) or in the start-info
// structure (PVH). The entry code checks the EAX values; ParsePVH checks its
// own.
const (
	Multiboot1BootloaderMagic = 0x2BADB002
	Multiboot2BootloaderMagic = 0x36d76289
	XenHVMStartMagicValue     = 0x336ec578 // XEN_HVM_START_MAGIC_VALUE
)

// Bounds on what the parsers accept, so that no input can make them loop or
// allocate without limit.
const (
	// MaxModules is the most boot modules kept; Xen 4.17 keeps 64 (the bits
	// of its module_map) and says "Excessive multiboot modules".
	MaxModules = 64
	// E820Max is the most memory-map entries read (Xen's E820MAX).
	E820Max = 1024
	// MaxString is the longest NUL-terminated string read, without the NUL.
	MaxString = 4096
	// MaxMB2Size is the largest multiboot2 information structure accepted.
	MaxMB2Size = 1 << 20
)

// E820 memory types (ACPI address range types).
const (
	E820RAM      = 1
	E820Reserved = 2
	E820ACPI     = 3
	E820NVS      = 4
	E820Unusable = 5
)

// Errors returned (wrapped, with the offending address or field) by the
// parsers. Test with errors.Is.
var (
	ErrUnreadable    = errors.New("boot: physical memory not readable")
	ErrMalformed     = errors.New("boot: malformed boot information")
	ErrBadMagic      = errors.New("boot: bad magic value")
	ErrNoMemoryInfo  = errors.New("boot: bootloader provided no memory information")
	ErrStringTooLong = errors.New("boot: string not terminated within limit")
)

// MemRegion is one memory-map entry, [Base, Base+Length).
type MemRegion struct {
	Base, Length uint64
	Type         uint32 // E820RAM .. E820Unusable, or another ACPI type
}

// Module is one boot module, [Start, End) in physical memory.
type Module struct {
	Start, End uint64
	Cmdline    string // as the loader gave it (GRUB 1 / QEMU put the file name first)
}

// PVHStartInfo holds the raw hvm_start_info fields, kept for Xen's
// "PVH start info:" boot lines.
type PVHStartInfo struct {
	Addr         uint32
	Version      uint32
	Flags        uint32
	NrModules    uint32
	ModlistPaddr uint64
	CmdlinePaddr uint64
	RSDPPaddr    uint64
	MemmapPaddr  uint64
	MemmapCount  uint32
	// ModCmdlinePaddr[i] is module i's cmdline_paddr.
	ModCmdlinePaddr []uint64
}

// Info is what gohv learned from its boot loader.
type Info struct {
	Protocol string // "multiboot1", "multiboot2" or "pvh"
	Loader   string // boot loader name; "unknown" when none was given (Xen)
	Cmdline  string // raw command line; see CookCmdline

	MemLowerKiB, MemUpperKiB uint32 // 0 when not given

	// MemMap is the memory map as given (unsorted, possibly overlapping);
	// when the loader gave none, it is built from MemLowerKiB/MemUpperKiB.
	// Use Sanitize for a clean map.
	MemMap []MemRegion
	// MemMapSource names where MemMap came from, as Xen names it:
	// "Multiboot-e820", "Multiboot-e801" or "PVH-e820".
	MemMapSource string

	Modules []Module

	RSDP uint64 // ACPI RSDP address from PVH start info; 0 if unknown

	PVH *PVHStartInfo // nil unless Protocol is "pvh"

	// Warnings are console lines about input that was fixed up or cut
	// short, worded as Xen words them.
	Warnings []string
}

// le is shorthand for the little-endian decoders.
var le = binary.LittleEndian

// read reads n bytes at addr, failing (not panicking) on wrap-around.
func read(r PhysReader, addr uint64, n int, what string) ([]byte, error) {
	if n < 0 || addr+uint64(n) < addr {
		return nil, fmt.Errorf("%s at %#x (+%d): %w", what, addr, n, ErrUnreadable)
	}
	b := make([]byte, n)
	if n > 0 && !r.ReadPhys(addr, b) {
		return nil, fmt.Errorf("%s at %#x (+%d): %w", what, addr, n, ErrUnreadable)
	}
	return b, nil
}

// readString reads a NUL-terminated string of at most MaxString bytes. It
// reads in chunks that never cross a 64-byte boundary; when a chunk is not
// readable it retries that chunk byte by byte, so a string ending right below
// unreadable memory still reads.
func readString(r PhysReader, addr uint64, what string) (string, error) {
	var sb strings.Builder
	var chunk [64]byte
	for {
		n := 64 - int(addr%64) // addr+n <= 2^64: 2^64 is a multiple of 64
		if !r.ReadPhys(addr, chunk[:n]) {
			for k := 0; ; k++ {
				if k == n || !r.ReadPhys(addr+uint64(k), chunk[k:k+1]) {
					return "", fmt.Errorf("%s at %#x: %w", what, addr+uint64(k), ErrUnreadable)
				}
				if chunk[k] == 0 {
					break
				}
			}
		}
		for _, c := range chunk[:n] {
			if c == 0 {
				return sb.String(), nil
			}
			if sb.Len() == MaxString {
				return "", fmt.Errorf("%s: longer than %d bytes: %w", what, MaxString, ErrStringTooLong)
			}
			sb.WriteByte(c)
		}
		addr += uint64(n)
		if addr == 0 {
			return "", fmt.Errorf("%s: runs past the top of memory: %w", what, ErrUnreadable)
		}
	}
}

// cString returns b up to its first NUL; a string with no NUL in b is
// malformed.
func cString(b []byte, what string) (string, error) {
	for i, c := range b {
		if c == 0 {
			if i > MaxString {
				return "", fmt.Errorf("%s: longer than %d bytes: %w", what, MaxString, ErrStringTooLong)
			}
			return string(b[:i]), nil
		}
	}
	if len(b) > MaxString {
		return "", fmt.Errorf("%s: longer than %d bytes: %w", what, MaxString, ErrStringTooLong)
	}
	return "", fmt.Errorf("%s: no NUL terminator: %w", what, ErrMalformed)
}

func excessiveModules(n int) string {
	return fmt.Sprintf("Excessive multiboot modules - using the first %d only", n)
}

const buggyE820 = "WARNING: Buggy e820 map detected and fixed (truncated length fields)."

func e820Truncated(what string) string {
	return fmt.Sprintf("WARNING: %s has more than %d entries - using the first %d only", what, E820Max, E820Max)
}

// e801Map builds the two-entry map Xen makes from mem_lower/mem_upper.
func e801Map(lowerKiB, upperKiB uint32) []MemRegion {
	return []MemRegion{
		{Base: 0, Length: uint64(lowerKiB) << 10, Type: E820RAM},
		{Base: 0x100000, Length: uint64(upperKiB) << 10, Type: E820RAM},
	}
}

// Multiboot 1 information structure (Multiboot Specification 0.6.96 §3.3).
const (
	mb1FlagMem        = 1 << 0
	mb1FlagCmdline    = 1 << 2
	mb1FlagMods       = 1 << 3
	mb1FlagMmap       = 1 << 6
	mb1FlagLoaderName = 1 << 9

	mb1InfoLen    = 68 // through boot_loader_name
	mb1ModLen     = 16
	mb1MmapMinLen = 20 // base_addr, length, type after the size field
)

// ParseMultiboot1 decodes the multiboot1 information structure at physical
// address info (the EBX a multiboot1 loader leaves).
func ParseMultiboot1(r PhysReader, info uint32) (*Info, error) {
	h, err := read(r, uint64(info), mb1InfoLen, "multiboot1 info")
	if err != nil {
		return nil, err
	}
	in := &Info{Protocol: "multiboot1", Loader: "unknown"}
	flags := le.Uint32(h[0:])
	if flags&mb1FlagMem != 0 {
		in.MemLowerKiB, in.MemUpperKiB = le.Uint32(h[4:]), le.Uint32(h[8:])
	}
	if flags&mb1FlagCmdline != 0 {
		if in.Cmdline, err = readString(r, uint64(le.Uint32(h[16:])), "multiboot1 cmdline"); err != nil {
			return nil, err
		}
	}
	if flags&mb1FlagLoaderName != 0 {
		if in.Loader, err = readString(r, uint64(le.Uint32(h[64:])), "multiboot1 boot_loader_name"); err != nil {
			return nil, err
		}
	}
	if flags&mb1FlagMods != 0 {
		count, addr := le.Uint32(h[20:]), le.Uint32(h[24:])
		n := int(min(count, MaxModules))
		if count > MaxModules {
			in.Warnings = append(in.Warnings, excessiveModules(MaxModules))
		}
		mods, err := read(r, uint64(addr), n*mb1ModLen, "multiboot1 module list")
		if err != nil {
			return nil, err
		}
		for i := 0; i < n; i++ {
			e := mods[i*mb1ModLen:]
			m := Module{Start: uint64(le.Uint32(e[0:])), End: uint64(le.Uint32(e[4:]))}
			if m.End < m.Start {
				return nil, fmt.Errorf("multiboot1 module %d: end %#x below start %#x: %w", i, m.End, m.Start, ErrMalformed)
			}
			if s := le.Uint32(e[8:]); s != 0 {
				if m.Cmdline, err = readString(r, uint64(s), fmt.Sprintf("multiboot1 module %d string", i)); err != nil {
					return nil, err
				}
			}
			in.Modules = append(in.Modules, m)
		}
	}
	switch {
	case flags&mb1FlagMmap != 0:
		if err := in.mb1Mmap(r, le.Uint32(h[44:]), le.Uint32(h[48:])); err != nil {
			return nil, err
		}
		in.MemMapSource = "Multiboot-e820"
	case flags&mb1FlagMem != 0:
		in.MemMap = e801Map(in.MemLowerKiB, in.MemUpperKiB)
		in.MemMapSource = "Multiboot-e801"
	default:
		return nil, fmt.Errorf("multiboot1 flags %#x: %w", flags, ErrNoMemoryInfo)
	}
	return in, nil
}

// mb1Mmap walks the multiboot1 memory map: entries of 4+size bytes, size
// read from each entry, as Xen's __start_xen does.
func (in *Info) mb1Mmap(r PhysReader, length, addr uint32) error {
	warned := false
	for off := uint64(0); off < uint64(length); {
		if len(in.MemMap) == E820Max {
			in.Warnings = append(in.Warnings, e820Truncated("Multiboot-e820 map"))
			break
		}
		if off+4+mb1MmapMinLen > uint64(length) {
			return fmt.Errorf("multiboot1 mmap entry %d at offset %d: runs past mmap_length %d: %w",
				len(in.MemMap), off, length, ErrMalformed)
		}
		e, err := read(r, uint64(addr)+off, 4+mb1MmapMinLen, "multiboot1 mmap entry")
		if err != nil {
			return err
		}
		size := le.Uint32(e[0:])
		if size < mb1MmapMinLen {
			return fmt.Errorf("multiboot1 mmap entry %d: size %d < %d: %w", len(in.MemMap), size, mb1MmapMinLen, ErrMalformed)
		}
		baseLo, baseHi := le.Uint32(e[4:]), le.Uint32(e[8:])
		lenLo, lenHi := le.Uint32(e[12:]), le.Uint32(e[16:])
		// Some BIOSes leave the high word of a <4GiB length unwritten;
		// Xen drops it for regions that start below 4 GiB.
		if baseHi == 0 && lenHi != 0 {
			if !warned {
				in.Warnings = append(in.Warnings, buggyE820)
				warned = true
			}
			lenHi = 0
		}
		in.MemMap = append(in.MemMap, MemRegion{
			Base:   uint64(baseHi)<<32 | uint64(baseLo),
			Length: uint64(lenHi)<<32 | uint64(lenLo),
			Type:   le.Uint32(e[20:]),
		})
		off += 4 + uint64(size)
	}
	return nil
}

// Multiboot 2 tags (Multiboot2 Specification §3.6).
const (
	mb2TagEnd          = 0
	mb2TagCmdline      = 1
	mb2TagLoaderName   = 2
	mb2TagModule       = 3
	mb2TagBasicMeminfo = 4
	mb2TagMmap         = 6

	mb2MmapEntryMin = 24
)

// ParseMultiboot2 decodes the multiboot2 information structure at physical
// address info (the EBX a multiboot2 loader leaves).
func ParseMultiboot2(r PhysReader, info uint32) (*Info, error) {
	h, err := read(r, uint64(info), 8, "multiboot2 info")
	if err != nil {
		return nil, err
	}
	total := le.Uint32(h[0:])
	if total < 16 || total > MaxMB2Size {
		return nil, fmt.Errorf("multiboot2 total_size %d: %w", total, ErrMalformed)
	}
	in := &Info{Protocol: "multiboot2", Loader: "unknown"}
	base := uint64(info)
	haveMem, haveMmap, end, modWarned := false, false, false, false
	for off := uint64(8); off+8 <= uint64(total); {
		th, err := read(r, base+off, 8, "multiboot2 tag")
		if err != nil {
			return nil, err
		}
		typ, size := le.Uint32(th[0:]), le.Uint32(th[4:])
		if size < 8 || off+uint64(size) > uint64(total) {
			return nil, fmt.Errorf("multiboot2 tag type %d at offset %d: size %d: %w", typ, off, size, ErrMalformed)
		}
		if typ == mb2TagEnd {
			end = true
			break
		}
		payload := func(n uint32) ([]byte, error) {
			return read(r, base+off+8, int(n), fmt.Sprintf("multiboot2 tag %d", typ))
		}
		// For strings, read at most MaxString+1 bytes: enough to find the
		// NUL of any acceptable string.
		strLen := func(from uint32) uint32 { return min(size-from, MaxString+1) }
		switch typ {
		case mb2TagCmdline, mb2TagLoaderName:
			p, err := payload(strLen(8))
			if err != nil {
				return nil, err
			}
			s, err := cString(p, fmt.Sprintf("multiboot2 tag %d string", typ))
			if err != nil {
				return nil, err
			}
			if typ == mb2TagCmdline {
				in.Cmdline = s
			} else {
				in.Loader = s
			}
		case mb2TagModule:
			if size < 16 {
				return nil, fmt.Errorf("multiboot2 module tag size %d: %w", size, ErrMalformed)
			}
			if len(in.Modules) == MaxModules {
				// Keep walking for the memory map; skip further modules.
				if !modWarned {
					in.Warnings = append(in.Warnings, excessiveModules(MaxModules))
					modWarned = true
				}
				break
			}
			p, err := payload(8 + strLen(16))
			if err != nil {
				return nil, err
			}
			m := Module{Start: uint64(le.Uint32(p[0:])), End: uint64(le.Uint32(p[4:]))}
			if m.End < m.Start {
				return nil, fmt.Errorf("multiboot2 module %d: end %#x below start %#x: %w", len(in.Modules), m.End, m.Start, ErrMalformed)
			}
			if m.Cmdline, err = cString(p[8:], fmt.Sprintf("multiboot2 module %d string", len(in.Modules))); err != nil {
				return nil, err
			}
			in.Modules = append(in.Modules, m)
		case mb2TagBasicMeminfo:
			if size < 16 {
				return nil, fmt.Errorf("multiboot2 basic meminfo tag size %d: %w", size, ErrMalformed)
			}
			p, err := payload(8)
			if err != nil {
				return nil, err
			}
			in.MemLowerKiB, in.MemUpperKiB = le.Uint32(p[0:]), le.Uint32(p[4:])
			haveMem = true
		case mb2TagMmap:
			if haveMmap {
				break // first map wins
			}
			if err := in.mb2Mmap(r, base+off, size); err != nil {
				return nil, err
			}
			haveMmap = true
		}
		off += (uint64(size) + 7) &^ 7
	}
	if !end {
		return nil, fmt.Errorf("multiboot2: no end tag within total_size %d: %w", total, ErrMalformed)
	}
	switch {
	case haveMmap:
		in.MemMapSource = "Multiboot-e820"
	case haveMem:
		in.MemMap = e801Map(in.MemLowerKiB, in.MemUpperKiB)
		in.MemMapSource = "Multiboot-e801"
	default:
		return nil, fmt.Errorf("multiboot2: %w", ErrNoMemoryInfo)
	}
	return in, nil
}

// mb2Mmap decodes a multiboot2 memory-map tag at addr of size bytes.
func (in *Info) mb2Mmap(r PhysReader, addr uint64, size uint32) error {
	if size < 16 {
		return fmt.Errorf("multiboot2 mmap tag size %d: %w", size, ErrMalformed)
	}
	h, err := read(r, addr+8, 8, "multiboot2 mmap tag")
	if err != nil {
		return err
	}
	esz := le.Uint32(h[0:]) // entry_version (h[4:]) is 0 and ignored, as by Xen
	if esz < mb2MmapEntryMin {
		return fmt.Errorf("multiboot2 mmap entry_size %d: %w", esz, ErrMalformed)
	}
	n := (size - 16) / esz
	if n > E820Max {
		in.Warnings = append(in.Warnings, e820Truncated("Multiboot-e820 map"))
		n = E820Max
	}
	in.MemMap = make([]MemRegion, 0, n)
	for i := uint32(0); i < n; i++ {
		e, err := read(r, addr+16+uint64(i)*uint64(esz), mb2MmapEntryMin, "multiboot2 mmap entry")
		if err != nil {
			return err
		}
		in.MemMap = append(in.MemMap, MemRegion{Base: le.Uint64(e[0:]), Length: le.Uint64(e[8:]), Type: le.Uint32(e[16:])})
	}
	return nil
}

// hvm_start_info layout (public/arch-x86/hvm/start_info.h).
const (
	pvhInfoLenV0  = 40
	pvhInfoLenV1  = 56
	pvhModLen     = 32
	pvhMemmapLen  = 24
	pvhLoaderName = "PVH Directboot" // what Xen's pvh-boot.c calls itself
)

// ParsePVH decodes the hvm_start_info structure at physical address
// startInfo (the EBX of a PVH entry). Versions 0 and 1 are understood; later
// versions are read as version 1, which they extend compatibly. The memory
// map comes from the version 1 memmap table; without one there is no memory
// information (Xen asks its own hypervisor; gohv has none to ask).
func ParsePVH(r PhysReader, startInfo uint32) (*Info, error) {
	h, err := read(r, uint64(startInfo), pvhInfoLenV0, "PVH start info")
	if err != nil {
		return nil, err
	}
	if m := le.Uint32(h[0:]); m != XenHVMStartMagicValue {
		return nil, fmt.Errorf("PVH start info magic %#x: %w", m, ErrBadMagic)
	}
	p := &PVHStartInfo{
		Addr:         startInfo,
		Version:      le.Uint32(h[4:]),
		Flags:        le.Uint32(h[8:]),
		NrModules:    le.Uint32(h[12:]),
		ModlistPaddr: le.Uint64(h[16:]),
		CmdlinePaddr: le.Uint64(h[24:]),
		RSDPPaddr:    le.Uint64(h[32:]),
	}
	if p.Version >= 1 {
		v1, err := read(r, uint64(startInfo)+pvhInfoLenV0, pvhInfoLenV1-pvhInfoLenV0, "PVH start info v1")
		if err != nil {
			return nil, err
		}
		p.MemmapPaddr, p.MemmapCount = le.Uint64(v1[0:]), le.Uint32(v1[8:])
	}
	in := &Info{Protocol: "pvh", Loader: pvhLoaderName, RSDP: p.RSDPPaddr, PVH: p}
	if p.CmdlinePaddr != 0 {
		if in.Cmdline, err = readString(r, p.CmdlinePaddr, "PVH cmdline"); err != nil {
			return nil, err
		}
	}
	n := p.NrModules
	if n > MaxModules {
		in.Warnings = append(in.Warnings, excessiveModules(MaxModules))
		n = MaxModules
	}
	if n > 0 && p.ModlistPaddr == 0 {
		return nil, fmt.Errorf("PVH start info: %d modules but modlist_paddr 0: %w", p.NrModules, ErrMalformed)
	}
	for i := uint32(0); i < n; i++ {
		e, err := read(r, p.ModlistPaddr+uint64(i)*pvhModLen, pvhModLen, "PVH module entry")
		if err != nil {
			return nil, err
		}
		start, size, cl := le.Uint64(e[0:]), le.Uint64(e[8:]), le.Uint64(e[16:])
		if start+size < start {
			return nil, fmt.Errorf("PVH module %d: %#x + %#x wraps: %w", i, start, size, ErrMalformed)
		}
		m := Module{Start: start, End: start + size}
		if cl != 0 {
			if m.Cmdline, err = readString(r, cl, fmt.Sprintf("PVH module %d cmdline", i)); err != nil {
				return nil, err
			}
		}
		p.ModCmdlinePaddr = append(p.ModCmdlinePaddr, cl)
		in.Modules = append(in.Modules, m)
	}
	if p.Version < 1 || p.MemmapCount == 0 || p.MemmapPaddr == 0 {
		return nil, fmt.Errorf("PVH start info version %d, %d memmap entries: %w", p.Version, p.MemmapCount, ErrNoMemoryInfo)
	}
	cnt := p.MemmapCount
	if cnt > E820Max {
		in.Warnings = append(in.Warnings, e820Truncated("PVH-e820 map"))
		cnt = E820Max
	}
	in.MemMap = make([]MemRegion, 0, cnt)
	for i := uint32(0); i < cnt; i++ {
		e, err := read(r, p.MemmapPaddr+uint64(i)*pvhMemmapLen, pvhMemmapLen, "PVH memmap entry")
		if err != nil {
			return nil, err
		}
		in.MemMap = append(in.MemMap, MemRegion{Base: le.Uint64(e[0:]), Length: le.Uint64(e[8:]), Type: le.Uint32(e[16:])})
	}
	in.MemMapSource = "PVH-e820"
	return in, nil
}

// Sanitize returns the memory map sorted, non-overlapping and with adjacent
// regions of one type merged, as Xen's sanitize_e820_map followed by
// copy_e820_map produce it:
//   - where regions overlap, the larger type number wins (1=usable loses to
//     everything, so reserved/ACPI/unusable are never handed out as RAM);
//   - empty regions, type-0 regions and regions that wrap past 2^64 are
//     dropped (Xen would discard the whole map for a wrapping one);
//   - RAM claimed in the legacy hole [0xA0000, 0x100000) is removed.
func (i *Info) Sanitize() []MemRegion { return SanitizeE820(i.MemMap) }

// SanitizeE820 is Info.Sanitize for any map. It does not modify in.
func SanitizeE820(in []MemRegion) []MemRegion {
	type event struct {
		addr  uint64
		typ   uint32
		delta int
	}
	ev := make([]event, 0, 2*len(in))
	for _, r := range in {
		end := r.Base + r.Length
		if r.Length == 0 || r.Type == 0 || end < r.Base || end == 0 {
			continue
		}
		ev = append(ev, event{r.Base, r.Type, +1}, event{end, r.Type, -1})
	}
	sort.Slice(ev, func(a, b int) bool { return ev[a].addr < ev[b].addr })

	var out []MemRegion
	count := map[uint32]int{}
	var lastType uint32
	var lastAddr uint64
	for k := 0; k < len(ev); {
		at := ev[k].addr
		for ; k < len(ev) && ev[k].addr == at; k++ {
			count[ev[k].typ] += ev[k].delta
		}
		var cur uint32
		for t, c := range count {
			if c > 0 && t > cur {
				cur = t
			}
		}
		if cur == lastType {
			continue
		}
		if lastType != 0 {
			out = append(out, MemRegion{Base: lastAddr, Length: at - lastAddr, Type: lastType})
		}
		lastType, lastAddr = cur, at
	}
	return cutLegacyHole(out)
}

// cutLegacyHole removes RAM in [0xA0000, 0x100000), as Xen's copy_e820_map
// does ("Some BIOSes claim RAM in the 640k - 1M region").
func cutLegacyHole(m []MemRegion) []MemRegion {
	const lo, hi = 0xA0000, 0x100000
	out := m[:0:0]
	for _, r := range m {
		end := r.Base + r.Length
		if r.Type != E820RAM || r.Base >= hi || end <= lo {
			out = append(out, r)
			continue
		}
		if r.Base < lo {
			out = append(out, MemRegion{Base: r.Base, Length: lo - r.Base, Type: E820RAM})
		}
		if end > hi {
			out = append(out, MemRegion{Base: hi, Length: end - hi, Type: E820RAM})
		}
	}
	return out
}

// E820TypeName is how Xen's print_e820_memory_map names a type.
func E820TypeName(t uint32) string {
	switch t {
	case E820RAM:
		return "(usable)"
	case E820Reserved:
		return "(reserved)"
	case E820ACPI:
		return "(ACPI data)"
	case E820NVS:
		return "(ACPI NVS)"
	case E820Unusable:
		return "(unusable)"
	}
	return fmt.Sprintf("type %d", t)
}

// E820Lines formats a map as Xen 4.17 prints it: " [start, last] (type)",
// with the inclusive last byte.
func E820Lines(m []MemRegion) []string {
	out := make([]string, 0, len(m))
	for _, r := range m {
		out = append(out, fmt.Sprintf(" [%016x, %016x] %s", r.Base, r.Base+r.Length-1, E820TypeName(r.Type)))
	}
	return out
}

// cHexAlt is C's "%#x": "0" for zero, else 0x-prefixed.
func cHexAlt(v uint32) string {
	if v == 0 {
		return "0"
	}
	return fmt.Sprintf("%#x", v)
}

// Lines returns the boot lines Xen 4.17 prints about its loader, without the
// "(XEN) " prefix and with loader strings passed through Printable: for PVH the "PVH start info:" block (pvh-boot.c), then
// "Bootloader: ...", "Command line: ..." (the cooked hypervisor part, as Xen
// prints it), any warnings, "<source> RAM map:" and the sanitized map. gohv
// adds one line per module, which Xen does not print:
// "Module <n>: 0x<start> - 0x<end> (<KiB> KiB) <cmdline>", end exclusive,
// size rounded up.
func (i *Info) Lines() []string {
	var out []string
	if p := i.PVH; p != nil {
		out = append(out,
			fmt.Sprintf("PVH start info: (pa %08x)", p.Addr),
			fmt.Sprintf("  version:    %d", p.Version),
			fmt.Sprintf("  flags:      %s", cHexAlt(p.Flags)),
			fmt.Sprintf("  nr_modules: %d", p.NrModules),
			fmt.Sprintf("  modlist_pa: %016x", p.ModlistPaddr),
			fmt.Sprintf("  cmdline_pa: %016x", p.CmdlinePaddr))
		if p.CmdlinePaddr != 0 {
			out = append(out, fmt.Sprintf("  cmdline:    '%s'", Printable(i.Cmdline)))
		}
		out = append(out, fmt.Sprintf("  rsdp_pa:    %016x", p.RSDPPaddr))
		for n, m := range i.Modules {
			var cl uint64
			if n < len(p.ModCmdlinePaddr) {
				cl = p.ModCmdlinePaddr[n]
			}
			out = append(out,
				fmt.Sprintf("    mod[%d].pa:         %016x", n, m.Start),
				fmt.Sprintf("    mod[%d].size:       %016d", n, m.End-m.Start),
				fmt.Sprintf("    mod[%d].cmdline_pa: %016x", n, cl))
			if cl != 0 {
				out = append(out, fmt.Sprintf("    mod[%d].cmdline:    '%s'", n, Printable(m.Cmdline)))
			}
		}
	}
	xen, _ := CookCmdline(i.Cmdline, i.Loader, i.Protocol == "pvh")
	out = append(out, "Bootloader: "+Printable(i.Loader), "Command line: "+Printable(xen))
	out = append(out, i.Warnings...)
	out = append(out, i.MemMapSource+" RAM map:")
	out = append(out, E820Lines(i.Sanitize())...)
	for n, m := range i.Modules {
		sz := m.End - m.Start
		kib := sz >> 10
		if sz&1023 != 0 {
			kib++
		}
		l := fmt.Sprintf("Module %d: %#x - %#x (%d KiB)", n, m.Start, m.End, kib)
		if m.Cmdline != "" {
			l += " " + Printable(m.Cmdline)
		}
		out = append(out, l)
	}
	return out
}
