package image

import (
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// ErrMalformed: Inspect found a header whose magic and checksum are valid but
// whose body is inconsistent (a tag overrunning header_length, a missing end
// tag, a note overrunning its segment, a PHYS32_ENTRY desc of odd size).
var ErrMalformed = errors.New("malformed boot header")

// Headers is what a boot loader would find in an image: the first valid
// multiboot1 header, the first valid multiboot2 header and the first Xen
// PHYS32_ENTRY note reachable through a PT_NOTE program header. A field is
// nil when there is no such header.
type Headers struct {
	Entry uint64 // e_entry from the ELF header

	MB1 *MB1Header
	MB2 *MB2Header
	PVH *PVHNote
}

// MB1Header is a multiboot1 header as found by a loader scanning the first
// 8192 bytes in 4-byte steps (GRUB, QEMU, u-root).
type MB1Header struct {
	Offset int // file offset of the magic

	Magic    uint32 // MULTIBOOT_HEADER_MAGIC
	Flags    uint32 // MULTIBOOT_* flag bits
	Checksum uint32 // Magic+Flags+Checksum == 0 (mod 2^32)

	// Address fields, decoded only when Flags has MULTIBOOT_AOUT_KLUDGE.
	HeaderAddr  uint32 // physical address of the magic
	LoadAddr    uint32 // physical address of file offset Offset-(HeaderAddr-LoadAddr)
	LoadEndAddr uint32 // end of the data loaded from the file
	BSSEndAddr  uint32 // end of the zeroed bss
	EntryAddr   uint32 // 32-bit entry point
}

// MB2Header is a multiboot2 header as found by a loader scanning the first
// 32768 bytes in 8-byte steps (GRUB, NetBSD), with its tags.
type MB2Header struct {
	Offset int // file offset of the magic

	Magic        uint32 // MULTIBOOT2_HEADER_MAGIC
	Architecture uint32 // MULTIBOOT_ARCHITECTURE_I386
	HeaderLength uint32 // bytes from the magic to the end of the end tag
	Checksum     uint32 // Magic+Architecture+HeaderLength+Checksum == 0

	Tags []MB2Tag // every tag up to and including the end tag, in order

	// Decoded copies of the tags gohv stamps (nil when absent).
	InfoRequest *MB2InfoRequest
	Address     *MB2Address
	EntryAddr   *MB2EntryAddress
}

// MB2Tag is one raw multiboot2 header tag.
type MB2Tag struct {
	Offset int    // file offset; a multiple of 8 from the header start
	Type   uint16 // MULTIBOOT_HEADER_TAG_*
	Flags  uint16 // MULTIBOOT_HEADER_TAG_OPTIONAL or 0
	Size   uint32 // size without the padding to 8 bytes
}

// MB2InfoRequest is the information request tag (type 1).
type MB2InfoRequest struct {
	Flags uint16   // MULTIBOOT_HEADER_TAG_OPTIONAL or 0
	Types []uint32 // requested MULTIBOOT_TAG_TYPE_* values, in order
}

// MB2Address is the address tag (type 2).
type MB2Address struct {
	Flags       uint16 // MULTIBOOT_HEADER_TAG_OPTIONAL or 0
	HeaderAddr  uint32 // physical address of the multiboot2 magic
	LoadAddr    uint32 // physical address of the first byte loaded
	LoadEndAddr uint32 // end of the data loaded from the file
	BSSEndAddr  uint32 // end of the zeroed bss
}

// MB2EntryAddress is the entry address tag (type 3).
type MB2EntryAddress struct {
	Flags     uint16 // MULTIBOOT_HEADER_TAG_OPTIONAL or 0
	EntryAddr uint32 // 32-bit physical entry point
}

// PVHNote is a Xen XEN_ELFNOTE_PHYS32_ENTRY note.
type PVHNote struct {
	Offset   int    // file offset of the note header (namesz)
	Phdr     int    // index of the PT_NOTE program header that holds it
	DescSize uint32 // 4 or 8
	Entry    uint64 // the desc: physical 32-bit entry point
}

// MB1Offset returns the file offset of the multiboot1 header, or -1.
func (h Headers) MB1Offset() int {
	if h.MB1 == nil {
		return -1
	}
	return h.MB1.Offset
}

// MB2Offset returns the file offset of the multiboot2 header, or -1.
func (h Headers) MB2Offset() int {
	if h.MB2 == nil {
		return -1
	}
	return h.MB2.Offset
}

// PVHOffset returns the file offset of the PVH note, or -1.
func (h Headers) PVHOffset() int {
	if h.PVH == nil {
		return -1
	}
	return h.PVH.Offset
}

// String prints where everything is, in the style of cmd/mkimage.
func (h Headers) String() string {
	var parts []string
	if m := h.MB1; m != nil {
		parts = append(parts, fmt.Sprintf("mb1 @%#x flags %#x", m.Offset, m.Flags))
		if m.Flags&MULTIBOOT_AOUT_KLUDGE != 0 {
			parts = append(parts, fmt.Sprintf("load %#x-%#x bss-end %#x entry %#x",
				m.LoadAddr, m.LoadEndAddr, m.BSSEndAddr, m.EntryAddr))
		}
	} else {
		parts = append(parts, "mb1 none")
	}
	if m := h.MB2; m != nil {
		parts = append(parts, fmt.Sprintf("mb2 @%#x len %d tags %d", m.Offset, m.HeaderLength, len(m.Tags)))
	} else {
		parts = append(parts, "mb2 none")
	}
	if p := h.PVH; p != nil {
		parts = append(parts, fmt.Sprintf("pvh @%#x (phdr %d) entry %#x", p.Offset, p.Phdr, p.Entry))
	} else {
		parts = append(parts, "pvh none")
	}
	parts = append(parts, fmt.Sprintf("e_entry %#x", h.Entry))
	return strings.Join(parts, " ")
}

// Inspect parses an image the way the boot loaders do and returns the
// headers they would use. It needs a little-endian ELF64 header (for
// e_entry and the PT_NOTE segments); it does not require the image to be
// stamped. Inspect never panics on any input and reads only inside b.
func Inspect(b []byte) (Headers, error) {
	var h Headers
	hdr, progs, err := readELF(b)
	if err != nil {
		return h, err
	}
	h.Entry = hdr.Entry
	if h.MB1, err = findMB1(b); err != nil {
		return h, err
	}
	if h.MB2, err = findMB2(b); err != nil {
		return h, err
	}
	if h.PVH, err = findPVH(b, progs); err != nil {
		return h, err
	}
	return h, nil
}

// readELF decodes the ELF64 header and program headers with bounds checks.
func readELF(b []byte) (elf.Header64, []elf.Prog64, error) {
	var hdr elf.Header64
	if len(b) < elfHeaderSize || string(b[:4]) != elf.ELFMAG ||
		elf.Class(b[elf.EI_CLASS]) != elf.ELFCLASS64 || elf.Data(b[elf.EI_DATA]) != elf.ELFDATA2LSB {
		return hdr, nil, fmt.Errorf("%w: no little-endian ELF64 header", ErrNotKernelELF)
	}
	if _, err := binary.Decode(b, binary.LittleEndian, &hdr); err != nil {
		return hdr, nil, fmt.Errorf("%w: %v", ErrNotKernelELF, err)
	}
	if hdr.Phnum == 0 {
		return hdr, nil, nil
	}
	if hdr.Phentsize != progHeaderSize {
		return hdr, nil, fmt.Errorf("%w: e_phentsize %d", ErrNotKernelELF, hdr.Phentsize)
	}
	end := hdr.Phoff + uint64(hdr.Phnum)*progHeaderSize
	if end < hdr.Phoff || end > uint64(len(b)) {
		return hdr, nil, fmt.Errorf("%w: program headers at %#x-%#x outside the file", ErrNotKernelELF, hdr.Phoff, end)
	}
	progs := make([]elf.Prog64, hdr.Phnum)
	if _, err := binary.Decode(b[hdr.Phoff:end], binary.LittleEndian, progs); err != nil {
		return hdr, nil, fmt.Errorf("%w: %v", ErrNotKernelELF, err)
	}
	return hdr, progs, nil
}

// findMB1 returns the first multiboot1 header (valid magic and checksum) at
// a 4-byte step in the first 8192 bytes, as GRUB's and u-root's scans do.
func findMB1(b []byte) (*MB1Header, error) {
	le := binary.LittleEndian
	limit := min(len(b), mb1Search)
	for off := 0; off+12 <= limit; off += mb1ScanStep {
		magic, flags, sum := le.Uint32(b[off:]), le.Uint32(b[off+4:]), le.Uint32(b[off+8:])
		if magic != MULTIBOOT_HEADER_MAGIC || magic+flags+sum != 0 {
			continue
		}
		m := &MB1Header{Offset: off, Magic: magic, Flags: flags, Checksum: sum}
		if flags&MULTIBOOT_AOUT_KLUDGE != 0 {
			if off+mb1Size > limit {
				return nil, fmt.Errorf("%w: multiboot1 header at %#x: address fields run past %#x", ErrMalformed, off, limit)
			}
			m.HeaderAddr = le.Uint32(b[off+12:])
			m.LoadAddr = le.Uint32(b[off+16:])
			m.LoadEndAddr = le.Uint32(b[off+20:])
			m.BSSEndAddr = le.Uint32(b[off+24:])
			m.EntryAddr = le.Uint32(b[off+28:])
		}
		return m, nil
	}
	return nil, nil
}

// findMB2 returns the first multiboot2 header (valid magic, architecture 0
// and checksum) at an 8-byte step in the first 32768 bytes, as GRUB's and
// NetBSD's scans do, and walks its tags within header_length.
func findMB2(b []byte) (*MB2Header, error) {
	le := binary.LittleEndian
	limit := min(len(b), mb2Search)
	for off := 0; off+mb2FixedSize <= limit; off += mb2Align {
		magic, arch := le.Uint32(b[off:]), le.Uint32(b[off+4:])
		length, sum := le.Uint32(b[off+8:]), le.Uint32(b[off+12:])
		if magic != MULTIBOOT2_HEADER_MAGIC || arch != MULTIBOOT_ARCHITECTURE_I386 || magic+arch+length+sum != 0 {
			continue
		}
		m := &MB2Header{Offset: off, Magic: magic, Architecture: arch, HeaderLength: length, Checksum: sum}
		if uint64(length) > uint64(limit-off) || length < mb2FixedSize+mb2EndSize {
			return nil, fmt.Errorf("%w: multiboot2 header at %#x: header_length %d does not fit in the first %d bytes",
				ErrMalformed, off, length, limit)
		}
		if err := m.parseTags(b[off : off+int(length)]); err != nil {
			return nil, err
		}
		return m, nil
	}
	return nil, nil
}

// parseTags walks the tags of the header in h (h[0] is the magic).
func (m *MB2Header) parseTags(h []byte) error {
	le := binary.LittleEndian
	for t := mb2FixedSize; ; {
		if t+mb2TagHdrSize > len(h) {
			return fmt.Errorf("%w: multiboot2 header at %#x: no end tag within header_length %d", ErrMalformed, m.Offset, len(h))
		}
		tag := MB2Tag{Offset: m.Offset + t, Type: le.Uint16(h[t:]), Flags: le.Uint16(h[t+2:]), Size: le.Uint32(h[t+4:])}
		if tag.Size < mb2TagHdrSize || uint64(tag.Size) > uint64(len(h)-t) {
			return fmt.Errorf("%w: multiboot2 tag type %d at %#x: size %d outside the header", ErrMalformed, tag.Type, tag.Offset, tag.Size)
		}
		m.Tags = append(m.Tags, tag)
		body := h[t+mb2TagHdrSize : t+int(tag.Size)]
		switch tag.Type {
		case MULTIBOOT_HEADER_TAG_END:
			if tag.Size != mb2EndSize {
				return fmt.Errorf("%w: multiboot2 end tag at %#x has size %d", ErrMalformed, tag.Offset, tag.Size)
			}
			return nil
		case MULTIBOOT_HEADER_TAG_INFORMATION_REQUEST:
			if len(body)%4 != 0 {
				return fmt.Errorf("%w: multiboot2 information request at %#x: size %d", ErrMalformed, tag.Offset, tag.Size)
			}
			r := &MB2InfoRequest{Flags: tag.Flags}
			for i := 0; i < len(body); i += 4 {
				r.Types = append(r.Types, le.Uint32(body[i:]))
			}
			m.InfoRequest = r
		case MULTIBOOT_HEADER_TAG_ADDRESS:
			if len(body) != mb2AddressSize-mb2TagHdrSize {
				return fmt.Errorf("%w: multiboot2 address tag at %#x: size %d", ErrMalformed, tag.Offset, tag.Size)
			}
			m.Address = &MB2Address{Flags: tag.Flags, HeaderAddr: le.Uint32(body[0:]), LoadAddr: le.Uint32(body[4:]),
				LoadEndAddr: le.Uint32(body[8:]), BSSEndAddr: le.Uint32(body[12:])}
		case MULTIBOOT_HEADER_TAG_ENTRY_ADDRESS:
			if len(body) < 4 {
				return fmt.Errorf("%w: multiboot2 entry address tag at %#x: size %d", ErrMalformed, tag.Offset, tag.Size)
			}
			m.EntryAddr = &MB2EntryAddress{Flags: tag.Flags, EntryAddr: le.Uint32(body)}
		}
		// Round up in 64 bits: a size near 2^32 must not wrap.
		t += int((uint64(tag.Size) + mb2Align - 1) &^ (mb2Align - 1))
	}
}

// findPVH walks the notes of every PT_NOTE segment in program-header order
// and returns the first Xen PHYS32_ENTRY note.
func findPVH(b []byte, progs []elf.Prog64) (*PVHNote, error) {
	le := binary.LittleEndian
	for i, p := range progs {
		if elf.ProgType(p.Type) != elf.PT_NOTE {
			continue
		}
		if p.Off > uint64(len(b)) || p.Filesz > uint64(len(b))-p.Off {
			return nil, fmt.Errorf("%w: PT_NOTE %d at %#x+%#x outside the file", ErrMalformed, i, p.Off, p.Filesz)
		}
		// Notes are 4-byte aligned in practice (gABI says 8 for ELF64; GNU
		// tools use 8 only in segments with p_align 8).
		align := uint64(4)
		if p.Align == 8 {
			align = 8
		}
		seg := b[p.Off : p.Off+p.Filesz]
		for n := uint64(0); n+noteHdrSize <= uint64(len(seg)); {
			namesz, descsz, typ := uint64(le.Uint32(seg[n:])), uint64(le.Uint32(seg[n+4:])), le.Uint32(seg[n+8:])
			name := n + noteHdrSize
			desc := name + (namesz+align-1)&^(align-1)
			next := desc + (descsz+align-1)&^(align-1)
			if desc+descsz > uint64(len(seg)) {
				return nil, fmt.Errorf("%w: note at %#x (PT_NOTE %d) runs past its segment", ErrMalformed, p.Off+n, i)
			}
			if typ == XEN_ELFNOTE_PHYS32_ENTRY && string(seg[name:name+namesz]) == xenNoteName {
				v := &PVHNote{Offset: int(p.Off + n), Phdr: i, DescSize: uint32(descsz)}
				switch descsz {
				case 4:
					v.Entry = uint64(le.Uint32(seg[desc:]))
				case 8:
					v.Entry = le.Uint64(seg[desc:])
				default:
					return nil, fmt.Errorf("%w: Xen PHYS32_ENTRY note at %#x has desc size %d", ErrMalformed, v.Offset, descsz)
				}
				return v, nil
			}
			n = next
		}
	}
	return nil, nil
}
