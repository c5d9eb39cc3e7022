package image

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
)

// Refusals. Stamp wraps exactly one of these with %w and a message that names
// the offending segment, offset or address, so errors.Is tells the reason.
var (
	// ErrNotKernelELF: the input is not a well-formed little-endian x86-64
	// ELF64 executable with at least one PT_LOAD, or it is truncated.
	ErrNotKernelELF = errors.New("not a little-endian x86-64 ELF64 executable")
	// ErrFirstLoadNotAtZero: the first PT_LOAD does not start at file offset
	// 0, so the ELF header page (where the boot headers go) is not loaded.
	ErrFirstLoadNotAtZero = errors.New("first PT_LOAD does not start at file offset 0")
	// ErrNotContiguous: the PT_LOADs do not share one vaddr-offset, overlap,
	// are out of order, or a segment other than the last has bss, so loading
	// the file flat from offset 0 would not produce the memory image.
	ErrNotContiguous = errors.New("PT_LOAD segments are not file-contiguous with one vaddr-offset")
	// ErrNotPhysical: a PT_LOAD's p_paddr is neither its p_vaddr (as linked)
	// nor p_vaddr minus the virtual offset (as stamped), so its physical
	// load address is unknown.
	ErrNotPhysical = errors.New("PT_LOAD p_paddr is neither p_vaddr nor p_vaddr minus the virtual offset")
	// ErrAbove4G: some part of the image (up to the end of bss) is at or above 4 GiB.
	ErrAbove4G = errors.New("image does not lie below 4 GiB")
	// ErrEntryOutsideText: e_entry is not inside the file-backed part of an
	// executable PT_LOAD.
	ErrEntryOutsideText = errors.New("entry point outside the text segment")
	// ErrNoSlot: the padding after the ELF headers is too small, lies outside
	// the first PT_LOAD, lies beyond the loaders' search windows, or overlaps
	// a section or segment.
	ErrNoSlot = errors.New("no zero padding slot large enough for the boot headers")
	// ErrSlotNotZero: the slot holds bytes that are neither zero (a fresh
	// link) nor exactly the stamp this tool would write (an earlier run).
	ErrSlotNotZero = errors.New("header slot is not zero and is not an earlier stamp")
	// ErrNoNoteSegment: there is no PT_NOTE program header to point at the
	// PVH note (one cannot be added without moving the headers).
	ErrNoNoteSegment = errors.New("no PT_NOTE program header to retarget")
)

// Report says what Stamp wrote and where. Offsets are file offsets;
// addresses are physical (virtual minus the offset Stamp was given).
type Report struct {
	MB1Offset int // file offset of the multiboot1 header
	MB2Offset int // file offset of the multiboot2 header
	PVHOffset int // file offset of the Xen PHYS32_ENTRY note
	NotePhdr  int // index of the PT_NOTE program header now pointing at the PVH note

	LoadAddr    uint32 // physical address of file offset 0 (first PT_LOAD)
	LoadEndAddr uint32 // end of the file-backed image (last PT_LOAD p_vaddr+p_filesz)
	BSSEndAddr  uint32 // end of memory image (last PT_LOAD p_vaddr+p_memsz)
	Entry       uint32 // e_entry, the 32-bit physical entry point

	// Restamped is true when the input already carried exactly this stamp,
	// so the output equals the input.
	Restamped bool
}

// String is the one-line summary cmd/mkimage prints.
func (r Report) String() string {
	s := fmt.Sprintf("mb1 @%#x mb2 @%#x pvh @%#x load %#x-%#x bss-end %#x entry %#x",
		r.MB1Offset, r.MB2Offset, r.PVHOffset, r.LoadAddr, r.LoadEndAddr, r.BSSEndAddr, r.Entry)
	if r.Restamped {
		s += " (already stamped)"
	}
	return s
}

// kernel is what Stamp learns from the ELF headers before writing anything.
type kernel struct {
	hdr   elf.Header64
	progs []elf.Prog64 // every program header, in file order

	off     uint64 // virtual minus physical address of every loaded byte
	base    uint64 // physical address of the first PT_LOAD, which starts at file offset 0
	loadEnd uint64 // physical end of the last PT_LOAD's file bytes
	bssEnd  uint64 // physical end of the last PT_LOAD's memory
	entry   uint64 // physical entry point
	note    int    // index in progs of the PT_NOTE to retarget
	slot    int    // file offset of the header slot
}

// Stamp writes the multiboot1 header, the multiboot2 header and the Xen PVH
// note into the zero padding that Go's linker leaves after the ELF program
// and section headers, and points the first PT_NOTE program header at the
// PVH note. virtOffset is what the image's virtual addresses exceed its
// physical ones by (0 for an image linked at its load address): Stamp sets
// every program header's p_paddr and e_entry to physical addresses, which
// is what the headers carry too. The input is not modified; out has the
// same length.
//
// Precondition: elf was linked with `-ldflags '-E <entry32> -T <addr>'` at
// virtual address virtOffset plus a physical address below 4 GiB (see doc.go
// for every check).
//
// Stamp is idempotent: given its own output (and the same offset) it
// returns an identical copy with Report.Restamped set. Any other non-zero
// content in the slot is refused.
func Stamp(elfFile []byte, virtOffset uint64) (out []byte, rep Report, err error) {
	k, err := parseKernel(elfFile, virtOffset)
	if err != nil {
		return nil, Report{}, err
	}
	want := k.slotBytes()
	have := elfFile[k.slot : k.slot+slotSize]
	switch {
	case bytes.Equal(have, want):
		rep.Restamped = true
	case !allZero(have):
		i := firstNonZero(have)
		return nil, Report{}, fmt.Errorf("%w: byte at file offset %#x is %#02x (slot %#x-%#x)",
			ErrSlotNotZero, k.slot+i, have[i], k.slot, k.slot+slotSize)
	}

	out = bytes.Clone(elfFile)
	copy(out[k.slot:], want)
	progs := append([]elf.Prog64(nil), k.progs...)
	ph := &progs[k.note]
	ph.Off = uint64(k.slot + slotPVH)
	ph.Vaddr = k.base + k.off + ph.Off
	ph.Filesz = pvhNoteSize
	ph.Memsz = pvhNoteSize
	ph.Align = pvhNoteAlign
	for i := range progs {
		// Loaded bytes (and the headers and notes inside them) get their
		// physical address; the rest (GNU_STACK) say 0 as linked.
		if p := &progs[i]; p.Vaddr != 0 {
			p.Paddr = p.Vaddr - k.off
		}
	}
	if _, err := binary.Encode(out[k.hdr.Phoff:], binary.LittleEndian, progs); err != nil {
		// parseKernel checked that the table fits in the file.
		panic(fmt.Sprintf("image: encoding the program headers at %#x: %v", k.hdr.Phoff, err))
	}
	binary.LittleEndian.PutUint64(out[elfEntryOffset:], k.entry)

	rep.MB1Offset = k.slot + slotMB1
	rep.MB2Offset = k.slot + slotMB2
	rep.PVHOffset = k.slot + slotPVH
	rep.NotePhdr = k.note
	rep.LoadAddr = uint32(k.base)
	rep.LoadEndAddr = uint32(k.loadEnd)
	rep.BSSEndAddr = uint32(k.bssEnd)
	rep.Entry = uint32(k.entry)

	// Read the result back the way the loaders do. A mismatch means another
	// header earlier in the file would shadow ours (e.g. stray magic bytes).
	if err := verify(out, rep); err != nil {
		return nil, Report{}, err
	}
	return out, rep, nil
}

// parseKernel checks every invariant Stamp relies on and computes the slot.
func parseKernel(b []byte, off uint64) (*kernel, error) {
	// debug/elf validates the overall structure (ident, header and section
	// table bounds, string table); the raw tables are then decoded with the
	// same debug/elf types so they can be written back byte-exactly.
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotKernelELF, err)
	}
	if f.Class != elf.ELFCLASS64 || f.Data != elf.ELFDATA2LSB || f.Machine != elf.EM_X86_64 || f.Type != elf.ET_EXEC {
		return nil, fmt.Errorf("%w: %v %v %v %v", ErrNotKernelELF, f.Class, f.Data, f.Machine, f.Type)
	}
	k := &kernel{note: -1, off: off}
	if _, err := binary.Decode(b, binary.LittleEndian, &k.hdr); err != nil {
		return nil, fmt.Errorf("%w: ELF header: %v", ErrNotKernelELF, err)
	}
	h := &k.hdr
	if h.Ehsize != elfHeaderSize || h.Phentsize != progHeaderSize || h.Phnum == 0 {
		return nil, fmt.Errorf("%w: e_ehsize %d, e_phentsize %d, e_phnum %d",
			ErrNotKernelELF, h.Ehsize, h.Phentsize, h.Phnum)
	}
	phEnd := h.Phoff + uint64(h.Phnum)*progHeaderSize
	if h.Phoff < elfHeaderSize || phEnd < h.Phoff || phEnd > uint64(len(b)) {
		return nil, fmt.Errorf("%w: program headers at %#x-%#x outside the file (%#x bytes)",
			ErrNotKernelELF, h.Phoff, phEnd, len(b))
	}
	k.progs = make([]elf.Prog64, h.Phnum)
	if _, err := binary.Decode(b[h.Phoff:phEnd], binary.LittleEndian, k.progs); err != nil {
		return nil, fmt.Errorf("%w: program headers: %v", ErrNotKernelELF, err)
	}
	if err := k.checkLoads(uint64(len(b))); err != nil {
		return nil, err
	}
	for i, p := range k.progs {
		if elf.ProgType(p.Type) == elf.PT_NOTE {
			k.note = i
			break
		}
	}
	if k.note < 0 {
		return nil, ErrNoNoteSegment
	}
	if err := k.findSlot(f.Sections, phEnd); err != nil {
		return nil, err
	}
	return k, nil
}

const (
	elfHeaderSize  = 64 // sizeof(Elf64_Ehdr)
	progHeaderSize = 56 // sizeof(Elf64_Phdr)
	elfEntryOffset = 24 // offsetof(Elf64_Ehdr, e_entry)
)

// checkLoads enforces the flat-load invariants on the PT_LOAD segments:
// loading the file [0, loadEnd) at physical base and zeroing up to bssEnd
// must give exactly the memory image the ELF describes, all below 4 GiB,
// with the entry in text. Addresses are checked and recorded physical.
func (k *kernel) checkLoads(fileSize uint64) error {
	var loads []elf.Prog64
	for _, p := range k.progs {
		if elf.ProgType(p.Type) == elf.PT_LOAD {
			loads = append(loads, p)
		}
	}
	if len(loads) == 0 {
		return fmt.Errorf("%w: no PT_LOAD", ErrNotKernelELF)
	}
	if loads[0].Off != 0 {
		return fmt.Errorf("%w: it starts at %#x", ErrFirstLoadNotAtZero, loads[0].Off)
	}
	if loads[0].Vaddr < k.off {
		return fmt.Errorf("%w: PT_LOAD 0 at %#x lies below the virtual offset %#x", ErrNotPhysical, loads[0].Vaddr, k.off)
	}
	k.base = loads[0].Vaddr - k.off
	var prevEnd uint64
	for i, p := range loads {
		if p.Filesz > p.Memsz || p.Off+p.Filesz < p.Off || p.Off+p.Filesz > fileSize {
			return fmt.Errorf("%w: PT_LOAD %d: offset %#x filesz %#x memsz %#x, file %#x bytes",
				ErrNotKernelELF, i, p.Off, p.Filesz, p.Memsz, fileSize)
		}
		if p.Paddr != p.Vaddr && p.Paddr != p.Vaddr-k.off {
			return fmt.Errorf("%w: PT_LOAD %d: p_vaddr %#x, p_paddr %#x, offset %#x", ErrNotPhysical, i, p.Vaddr, p.Paddr, k.off)
		}
		pa := p.Vaddr - k.off
		if pa-p.Off != k.base || pa < p.Off || p.Vaddr < k.off {
			return fmt.Errorf("%w: PT_LOAD %d at offset %#x has vaddr %#x, want %#x",
				ErrNotContiguous, i, p.Off, p.Vaddr, k.base+k.off+p.Off)
		}
		end := pa + p.Memsz
		if end < pa || end > maxAddr-1 {
			// The end is exclusive, but bss_end_addr is a 32-bit field in
			// which 1<<32 would read as 0 ("no bss"), so the end itself must
			// fit in 32 bits.
			return fmt.Errorf("%w: PT_LOAD %d ends at %#x", ErrAbove4G, i, end)
		}
		if i > 0 && pa < prevEnd {
			return fmt.Errorf("%w: PT_LOAD %d at %#x overlaps or precedes the previous one (ends %#x)",
				ErrNotContiguous, i, pa, prevEnd)
		}
		if i < len(loads)-1 && p.Memsz != p.Filesz {
			return fmt.Errorf("%w: PT_LOAD %d has bss (filesz %#x < memsz %#x) but is not the last; a flat load would fill it with file bytes",
				ErrNotContiguous, i, p.Filesz, p.Memsz)
		}
		prevEnd = end
	}
	last := loads[len(loads)-1]
	k.loadEnd = last.Vaddr - k.off + last.Filesz
	k.bssEnd = last.Vaddr - k.off + last.Memsz

	// e_entry is virtual as linked, physical once stamped.
	for _, entry := range []uint64{k.hdr.Entry, k.hdr.Entry - k.off} {
		for _, p := range loads {
			pa := p.Vaddr - k.off
			if elf.ProgFlag(p.Flags)&elf.PF_X != 0 && entry >= pa && entry < pa+p.Filesz {
				k.entry = entry
				return nil
			}
		}
		if k.off == 0 {
			break
		}
	}
	return fmt.Errorf("%w: e_entry %#x is not in the file-backed part of an executable PT_LOAD", ErrEntryOutsideText, k.hdr.Entry)
}

// findSlot places the slot at the first 16-byte boundary after the ELF
// header, the program header table and (when it lies in the first PT_LOAD,
// as with Go's internal linker) the section header table, then checks that
// it is inside the first PT_LOAD, inside every loader's search window, and
// clear of every section and non-LOAD segment.
func (k *kernel) findSlot(sections []*elf.Section, phEnd uint64) error {
	first := k.firstLoad()
	hdrEnd := max(uint64(elfHeaderSize), phEnd)
	h := &k.hdr
	if h.Shnum > 0 && h.Shoff < first.Filesz {
		hdrEnd = max(hdrEnd, h.Shoff+uint64(h.Shnum)*uint64(h.Shentsize))
	}
	slot := (hdrEnd + mb1Align - 1) &^ (mb1Align - 1)
	end := slot + slotSize
	switch {
	case end > first.Filesz:
		return fmt.Errorf("%w: slot %#x-%#x runs past the first PT_LOAD (%#x bytes)", ErrNoSlot, slot, end, first.Filesz)
	case slot+slotMB1+mb1ScanReach > mb1Search:
		return fmt.Errorf("%w: multiboot1 header at %#x would lie beyond the first %d bytes QEMU scans",
			ErrNoSlot, slot+slotMB1, mb1Search-mb1ScanReach)
	case slot+slotMB2+mb2Size > mb2Search:
		return fmt.Errorf("%w: multiboot2 header at %#x would end beyond the first %d bytes", ErrNoSlot, slot+slotMB2, mb2Search)
	}
	for _, s := range sections {
		if s.Type == elf.SHT_NULL || s.Type == elf.SHT_NOBITS || s.FileSize == 0 {
			continue
		}
		if s.Offset < end && slot < s.Offset+s.FileSize {
			return fmt.Errorf("%w: slot %#x-%#x overlaps section %q at %#x-%#x",
				ErrNoSlot, slot, end, s.Name, s.Offset, s.Offset+s.FileSize)
		}
	}
	notePos := slot + slotPVH
	for i, p := range k.progs {
		switch elf.ProgType(p.Type) {
		case elf.PT_LOAD, elf.PT_PHDR:
			continue
		}
		if i == k.note && p.Off == notePos && p.Filesz == pvhNoteSize {
			continue // our own note from an earlier run
		}
		if p.Filesz > 0 && p.Off < end && slot < p.Off+p.Filesz {
			return fmt.Errorf("%w: slot %#x-%#x overlaps %v segment at %#x-%#x",
				ErrNoSlot, slot, end, elf.ProgType(p.Type), p.Off, p.Off+p.Filesz)
		}
	}
	k.slot = int(slot)
	return nil
}

func (k *kernel) firstLoad() elf.Prog64 {
	for _, p := range k.progs {
		if elf.ProgType(p.Type) == elf.PT_LOAD {
			return p
		}
	}
	panic("image: firstLoad before checkLoads")
}

// slotBytes builds the slotSize bytes Stamp writes at k.slot.
func (k *kernel) slotBytes() []byte {
	b := make([]byte, slotSize)
	le := binary.LittleEndian
	base := uint32(k.base)
	slot := uint32(k.slot)
	entry := uint32(k.entry)

	// 1. Multiboot1 (spec §3.1.1–3.1.3): magic, flags, checksum such that
	// the three sum to zero, then the a.out-kludge address fields.
	m := b[slotMB1:]
	le.PutUint32(m[0:], MULTIBOOT_HEADER_MAGIC)
	le.PutUint32(m[4:], MB1Flags)
	le.PutUint32(m[8:], checksum(MULTIBOOT_HEADER_MAGIC, MB1Flags))
	le.PutUint32(m[12:], base+slot+slotMB1) // header_addr
	le.PutUint32(m[16:], base)              // load_addr: file offset 0
	le.PutUint32(m[20:], uint32(k.loadEnd)) // load_end_addr
	le.PutUint32(m[24:], uint32(k.bssEnd))  // bss_end_addr
	le.PutUint32(m[28:], entry)             // entry_addr

	// 2. Multiboot2 (spec §3.1.1–3.1.7): fixed part, then tags, each
	// starting on an 8-byte boundary; sizes exclude the padding.
	m = b[slotMB2:]
	le.PutUint32(m[0:], MULTIBOOT2_HEADER_MAGIC)
	le.PutUint32(m[4:], MULTIBOOT_ARCHITECTURE_I386)
	le.PutUint32(m[8:], mb2Size) // header_length
	le.PutUint32(m[12:], checksum(MULTIBOOT2_HEADER_MAGIC, MULTIBOOT_ARCHITECTURE_I386, mb2Size))
	t := mb2FixedSize
	putTag := func(typ, flags uint16, size int) []byte {
		le.PutUint16(m[t:], typ)
		le.PutUint16(m[t+2:], flags)
		le.PutUint32(m[t+4:], uint32(size))
		body := m[t+mb2TagHdrSize : t+size]
		t += (size + mb2Align - 1) &^ (mb2Align - 1)
		return body
	}
	body := putTag(MULTIBOOT_HEADER_TAG_INFORMATION_REQUEST, mb2InfoRequestFlags, mb2InfoRequestSize)
	for i, typ := range mb2InfoRequests {
		le.PutUint32(body[4*i:], typ)
	}
	body = putTag(MULTIBOOT_HEADER_TAG_ADDRESS, mb2AddressFlags, mb2AddressSize)
	le.PutUint32(body[0:], base+slot+slotMB2) // header_addr
	le.PutUint32(body[4:], base)              // load_addr
	le.PutUint32(body[8:], uint32(k.loadEnd)) // load_end_addr
	le.PutUint32(body[12:], uint32(k.bssEnd)) // bss_end_addr
	body = putTag(MULTIBOOT_HEADER_TAG_ENTRY_ADDRESS, mb2EntryFlags, mb2EntrySize)
	le.PutUint32(body[0:], entry)
	putTag(MULTIBOOT_HEADER_TAG_END, 0, mb2EndSize)
	if t != mb2Size {
		panic(fmt.Sprintf("image: multiboot2 header is %d bytes, mb2Size says %d", t, mb2Size))
	}

	// 3. Xen PVH note: namesz, descsz, type, "Xen\0", 32-bit entry.
	m = b[slotPVH:]
	le.PutUint32(m[0:], xenNoteNameSize)
	le.PutUint32(m[4:], pvhDescSize)
	le.PutUint32(m[8:], XEN_ELFNOTE_PHYS32_ENTRY)
	copy(m[noteHdrSize:], xenNoteName)
	le.PutUint32(m[noteHdrSize+xenNoteNameSize:], entry)
	return b
}

// verify reads out back with Inspect and checks that the loaders would find
// exactly the headers in rep.
func verify(out []byte, rep Report) error {
	h, err := Inspect(out)
	if err != nil {
		return fmt.Errorf("image: reading back the stamped image: %w", err)
	}
	switch {
	case h.MB1 == nil || h.MB1.Offset != rep.MB1Offset:
		return fmt.Errorf("%w: a loader would find a multiboot1 header at %s, not at %#x", ErrNoSlot, foundAt(h.MB1Offset()), rep.MB1Offset)
	case h.MB2 == nil || h.MB2.Offset != rep.MB2Offset:
		return fmt.Errorf("%w: a loader would find a multiboot2 header at %s, not at %#x", ErrNoSlot, foundAt(h.MB2Offset()), rep.MB2Offset)
	case h.PVH == nil || h.PVH.Offset != rep.PVHOffset || h.PVH.Entry != uint64(rep.Entry):
		return fmt.Errorf("%w: a loader would find a PVH note at %s, not at %#x", ErrNoSlot, foundAt(h.PVHOffset()), rep.PVHOffset)
	}
	return nil
}

// foundAt formats an offset from Headers.MB1Offset and friends.
func foundAt(off int) string {
	if off < 0 {
		return "no offset"
	}
	return fmt.Sprintf("%#x", off)
}

// checksum returns the word that makes words plus itself sum to zero
// modulo 2^32, as both multiboot headers require.
func checksum(words ...uint32) uint32 {
	var sum uint32
	for _, w := range words {
		sum += w
	}
	return -sum
}

func allZero(b []byte) bool { return firstNonZero(b) == len(b) }

func firstNonZero(b []byte) int {
	for i, c := range b {
		if c != 0 {
			return i
		}
	}
	return len(b)
}
