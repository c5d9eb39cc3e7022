package image

import (
	"debug/elf"
	"encoding/binary"
	"errors"
	"testing"
)

// rawELF returns a size-byte ELF64 header followed by progs at offset 64,
// with no sections, for feeding Inspect hand-placed headers.
func rawELF(size int, progs ...elf.Prog64) []byte {
	b := make([]byte, size)
	hdr := elf.Header64{
		Type: uint16(elf.ET_EXEC), Machine: uint16(elf.EM_X86_64), Version: 1,
		Entry: 0x1234, Phoff: elfHeaderSize, Ehsize: elfHeaderSize,
		Phentsize: progHeaderSize, Phnum: uint16(len(progs)),
	}
	copy(hdr.Ident[:], elf.ELFMAG)
	hdr.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	hdr.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	hdr.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	mustEncode(b, hdr)
	if len(progs) > 0 {
		mustEncode(b[elfHeaderSize:], progs)
	}
	return b
}

func put32(b []byte, off int, vs ...uint32) {
	for i, v := range vs {
		binary.LittleEndian.PutUint32(b[off+4*i:], v)
	}
}

// putMB1 writes a multiboot1 header with the given flags and a valid checksum.
func putMB1(b []byte, off int, flags uint32, addrs ...uint32) {
	put32(b, off, MULTIBOOT_HEADER_MAGIC, flags, checksum(MULTIBOOT_HEADER_MAGIC, flags))
	put32(b, off+12, addrs...)
}

// putMB2 writes a multiboot2 fixed part with a valid checksum for length.
func putMB2(b []byte, off int, length uint32) {
	put32(b, off, MULTIBOOT2_HEADER_MAGIC, 0, length, checksum(MULTIBOOT2_HEADER_MAGIC, length))
}

// putTag writes a multiboot2 tag header.
func putTag(b []byte, off int, typ, flags uint16, size uint32) {
	binary.LittleEndian.PutUint16(b[off:], typ)
	binary.LittleEndian.PutUint16(b[off+2:], flags)
	binary.LittleEndian.PutUint32(b[off+4:], size)
}

func TestInspectMB1(t *testing.T) {
	tests := []struct {
		name    string
		size    int
		edit    func(b []byte)
		wantOff int // -1: none found
		wantErr error
	}{
		{"none", 0x3000, func(b []byte) {}, -1, nil},
		{"at 0x100 with addresses", 0x3000, func(b []byte) { putMB1(b, 0x100, MB1Flags, 1, 2, 3, 4, 5) }, 0x100, nil},
		{"last 4-byte step in 8 KiB, no addresses", 0x3000, func(b []byte) { putMB1(b, mb1Search-12, MULTIBOOT_PAGE_ALIGN) }, mb1Search - 12, nil},
		{"beyond 8 KiB", 0x3000, func(b []byte) { putMB1(b, mb1Search, MULTIBOOT_PAGE_ALIGN) }, -1, nil},
		{"addresses run past 8 KiB", 0x3000, func(b []byte) { putMB1(b, mb1Search-28, MB1Flags) }, -1, ErrMalformed},
		{"addresses end exactly at 8 KiB", 0x3000, func(b []byte) { putMB1(b, mb1Search-32, MB1Flags) }, mb1Search - 32, nil},
		{"addresses run past the file", 0x90, func(b []byte) { putMB1(b, 0x80, MB1Flags) }, -1, ErrMalformed},
		{"not 4-byte aligned", 0x3000, func(b []byte) { putMB1(b, 0x102, MB1Flags) }, -1, nil},
		{"checksum off by one", 0x3000, func(b []byte) {
			putMB1(b, 0x100, MB1Flags)
			put32(b, 0x108, checksum(MULTIBOOT_HEADER_MAGIC, MB1Flags)+1)
		}, -1, nil},
		{"first of two wins", 0x3000, func(b []byte) {
			putMB1(b, 0x200, MB1Flags)
			putMB1(b, 0x100, MULTIBOOT_PAGE_ALIGN)
		}, 0x100, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := rawELF(tc.size)
			tc.edit(b)
			h, err := Inspect(b)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err == nil && h.MB1Offset() != tc.wantOff {
				t.Fatalf("mb1 at %#x, want %#x", h.MB1Offset(), tc.wantOff)
			}
		})
	}
	// Field decoding.
	b := rawELF(0x1000)
	putMB1(b, 0x100, MB1Flags, 0x1ff100, 0x1ff000, 0x300000, 0x400000, 0x200010)
	h, err := Inspect(b)
	if err != nil {
		t.Fatal(err)
	}
	want := MB1Header{Offset: 0x100, Magic: MULTIBOOT_HEADER_MAGIC, Flags: MB1Flags, Checksum: checksum(MULTIBOOT_HEADER_MAGIC, MB1Flags),
		HeaderAddr: 0x1ff100, LoadAddr: 0x1ff000, LoadEndAddr: 0x300000, BSSEndAddr: 0x400000, EntryAddr: 0x200010}
	if *h.MB1 != want {
		t.Errorf("mb1 = %+v, want %+v", *h.MB1, want)
	}
	if h.Entry != 0x1234 {
		t.Errorf("e_entry = %#x", h.Entry)
	}
}

func TestInspectMB2(t *testing.T) {
	const o = 0x100
	endOnly := func(b []byte) { putMB2(b, o, 24); putTag(b, o+16, 0, 0, 8) }
	tests := []struct {
		name     string
		size     int
		edit     func(b []byte)
		wantOff  int // -1: none found
		wantTags int
		wantErr  error
	}{
		{"none", 0x9000, func(b []byte) {}, -1, 0, nil},
		{"end tag only", 0x9000, endOnly, o, 1, nil},
		{"last fit in 32 KiB", 0x9000, func(b []byte) {
			putMB2(b, mb2Search-24, 24)
			putTag(b, mb2Search-8, 0, 0, 8)
		}, mb2Search - 24, 1, nil},
		{"end tag past 32 KiB", 0x9000, func(b []byte) {
			putMB2(b, mb2Search-16, 24)
		}, -1, 0, ErrMalformed},
		{"fixed part past 32 KiB", 0x9000, func(b []byte) {
			putMB2(b, mb2Search-8, 24)
		}, -1, 0, nil},
		{"not 8-byte aligned", 0x9000, func(b []byte) {
			putMB2(b, o+4, 24)
			putTag(b, o+20, 0, 0, 8)
		}, -1, 0, nil},
		{"architecture 4 (MIPS)", 0x9000, func(b []byte) {
			put32(b, o, MULTIBOOT2_HEADER_MAGIC, 4, 24, checksum(MULTIBOOT2_HEADER_MAGIC, 4, 24))
		}, -1, 0, nil},
		{"checksum off by one", 0x9000, func(b []byte) {
			endOnly(b)
			put32(b, o+12, checksum(MULTIBOOT2_HEADER_MAGIC, 24)-1)
		}, -1, 0, nil},
		{"header_length below fixed+end", 0x9000, func(b []byte) { putMB2(b, o, 23) }, -1, 0, ErrMalformed},
		{"header_length huge", 0x9000, func(b []byte) { putMB2(b, o, 0xFFFFFFF0) }, -1, 0, ErrMalformed},
		{"no end tag", 0x9000, func(b []byte) {
			putMB2(b, o, 32)
			putTag(b, o+16, 3, 0, 12)
		}, -1, 0, ErrMalformed},
		{"tag size below 8", 0x9000, func(b []byte) {
			putMB2(b, o, 32)
			putTag(b, o+16, 3, 0, 4)
		}, -1, 0, ErrMalformed},
		{"tag size runs past header_length", 0x9000, func(b []byte) {
			putMB2(b, o, 32)
			putTag(b, o+16, 1, 0, 17)
		}, -1, 0, ErrMalformed},
		{"tag size near 2^32", 0x9000, func(b []byte) {
			putMB2(b, o, 32)
			putTag(b, o+16, 1, 0, 0xFFFFFFF9)
		}, -1, 0, ErrMalformed},
		{"end tag of size 16", 0x9000, func(b []byte) {
			putMB2(b, o, 32)
			putTag(b, o+16, 0, 0, 16)
		}, -1, 0, ErrMalformed},
		{"address tag of size 20", 0x9000, func(b []byte) {
			putMB2(b, o, 48)
			putTag(b, o+16, 2, 1, 20)
			putTag(b, o+40, 0, 0, 8)
		}, -1, 0, ErrMalformed},
		{"information request of size 10", 0x9000, func(b []byte) {
			putMB2(b, o, 40)
			putTag(b, o+16, 1, 0, 10)
			putTag(b, o+32, 0, 0, 8)
		}, -1, 0, ErrMalformed},
		{"entry tag of size 8", 0x9000, func(b []byte) {
			putMB2(b, o, 32)
			putTag(b, o+16, 3, 0, 8)
			putTag(b, o+24, 0, 0, 8)
		}, -1, 0, ErrMalformed},
		{"empty information request, unknown optional tag", 0x9000, func(b []byte) {
			putMB2(b, o, 48)
			putTag(b, o+16, 1, 0, 8)
			putTag(b, o+24, 9, 1, 12) // padded to 16
			putTag(b, o+40, 0, 0, 8)
		}, o, 3, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := rawELF(tc.size)
			tc.edit(b)
			h, err := Inspect(b)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if h.MB2Offset() != tc.wantOff {
				t.Fatalf("mb2 at %#x, want %#x", h.MB2Offset(), tc.wantOff)
			}
			if h.MB2 != nil && len(h.MB2.Tags) != tc.wantTags {
				t.Fatalf("%d tags, want %d: %+v", len(h.MB2.Tags), tc.wantTags, h.MB2.Tags)
			}
		})
	}
}

func TestInspectPVH(t *testing.T) {
	const noteAt = 0x200
	note := func(off uint64, size uint64, align uint64) elf.Prog64 {
		return elf.Prog64{Type: uint32(elf.PT_NOTE), Off: off, Filesz: size, Memsz: size, Align: align}
	}
	// putNote writes a note with 4-byte padding and returns the next offset.
	putNote := func(b []byte, off int, name string, typ uint32, desc []byte) int {
		put32(b, off, uint32(len(name)), uint32(len(desc)), typ)
		copy(b[off+12:], name)
		d := off + 12 + (len(name)+3)&^3
		copy(b[d:], desc)
		return d + (len(desc)+3)&^3
	}
	entry4 := []byte{0x10, 0x00, 0x20, 0x00}
	entry8 := []byte{0x10, 0x00, 0x20, 0x00, 0, 0, 0, 0}
	tests := []struct {
		name      string
		progs     []elf.Prog64
		edit      func(b []byte)
		wantOff   int // -1: none
		wantEntry uint64
		wantErr   error
	}{
		{"none", []elf.Prog64{note(noteAt, 20, 4)}, func(b []byte) { putNote(b, noteAt, "Go\x00\x00", 4, []byte("abcd")) }, -1, 0, nil},
		{"4-byte desc", []elf.Prog64{note(noteAt, 20, 4)}, func(b []byte) { putNote(b, noteAt, xenNoteName, 18, entry4) }, noteAt, 0x200010, nil},
		{"8-byte desc", []elf.Prog64{note(noteAt, 24, 4)}, func(b []byte) { putNote(b, noteAt, xenNoteName, 18, entry8) }, noteAt, 0x200010, nil},
		{"2-byte desc", []elf.Prog64{note(noteAt, 20, 4)}, func(b []byte) { putNote(b, noteAt, xenNoteName, 18, entry4[:2]) }, -1, 0, ErrMalformed},
		{"after a Go note", []elf.Prog64{note(noteAt, 40, 4)}, func(b []byte) {
			n := putNote(b, noteAt, "Go\x00\x00", 4, []byte("abcd"))
			putNote(b, n, xenNoteName, 18, entry4)
		}, noteAt + 20, 0x200010, nil},
		{"in the second PT_NOTE", []elf.Prog64{note(noteAt, 20, 4), note(noteAt+0x40, 20, 4)}, func(b []byte) {
			putNote(b, noteAt, "Go\x00\x00", 4, []byte("abcd"))
			putNote(b, noteAt+0x40, xenNoteName, 18, entry4)
		}, noteAt + 0x40, 0x200010, nil},
		{"other Xen note type", []elf.Prog64{note(noteAt, 20, 4)}, func(b []byte) { putNote(b, noteAt, xenNoteName, 1, entry4) }, -1, 0, nil},
		{"owner Xe", []elf.Prog64{note(noteAt, 20, 4)}, func(b []byte) { putNote(b, noteAt, "Xe\x00\x00", 18, entry4) }, -1, 0, nil},
		{"desc past segment", []elf.Prog64{note(noteAt, 19, 4)}, func(b []byte) { putNote(b, noteAt, xenNoteName, 18, entry4) }, -1, 0, ErrMalformed},
		{"short tail ignored", []elf.Prog64{note(noteAt, 31, 4)}, func(b []byte) { putNote(b, noteAt, "Go\x00\x00", 4, []byte("abcd")) }, -1, 0, nil},
		{"segment past file", []elf.Prog64{note(0xff0, 0x20, 4)}, func(b []byte) {}, -1, 0, ErrMalformed},
		{"segment offset past file", []elf.Prog64{note(1<<63, 0x20, 4)}, func(b []byte) {}, -1, 0, ErrMalformed},
		{"namesz near 2^32", []elf.Prog64{note(noteAt, 0x40, 4)}, func(b []byte) { put32(b, noteAt, 0xFFFFFFFF, 4, 18) }, -1, 0, ErrMalformed},
		{"8-aligned segment", []elf.Prog64{note(noteAt, 32, 8)}, func(b []byte) {
			put32(b, noteAt, 4, 8, 18)
			copy(b[noteAt+12:], xenNoteName)
			put32(b, noteAt+16, 0xdeadbeef) // where a 4-aligned walk would look
			copy(b[noteAt+20:], entry8)     // namesz 4 rounds up to 8
		}, noteAt, 0x200010, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := rawELF(0x1000, tc.progs...)
			tc.edit(b)
			h, err := Inspect(b)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if h.PVHOffset() != tc.wantOff {
				t.Fatalf("pvh at %#x, want %#x", h.PVHOffset(), tc.wantOff)
			}
			if h.PVH != nil && h.PVH.Entry != tc.wantEntry {
				t.Fatalf("pvh entry %#x, want %#x", h.PVH.Entry, tc.wantEntry)
			}
		})
	}
}

func TestInspectNotELF(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":        {},
		"short":        []byte(elf.ELFMAG),
		"ELF32":        append([]byte(elf.ELFMAG+"\x01\x01\x01"), make([]byte, 64)...),
		"big endian":   append([]byte(elf.ELFMAG+"\x02\x02\x01"), make([]byte, 64)...),
		"phdrs beyond": func() []byte { b := rawELF(0x100, elf.Prog64{}); b[0x38] = 0xff; return b }(),
	} {
		if _, err := Inspect(b); !errors.Is(err, ErrNotKernelELF) {
			t.Errorf("%s: err = %v, want ErrNotKernelELF", name, err)
		}
	}
}
