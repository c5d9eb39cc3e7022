package image

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/gohv/gohv/internal/testenv"
)

// TestSlotLayout pins the constants the loaders depend on.
func TestSlotLayout(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want int
	}{
		{"MB1Flags", MB1Flags, 0x00010003},
		{"mb1 offset % 16", slotMB1 % mb1Align, 0},
		{"mb2 offset % 8", slotMB2 % mb2Align, 0},
		{"pvh offset % 4", slotPVH % pvhNoteAlign, 0},
		{"mb2Size", mb2Size, 96},
		{"pvhNoteSize", pvhNoteSize, 20},
		{"slotSize", slotSize, 160},
		{"len(mb2InfoRequests)", len(mb2InfoRequests), mb2InfoRequestCount},
		{"xenNoteNameSize", xenNoteNameSize, len(xenNoteName)},
	} {
		if c.got != c.want {
			t.Errorf("%s = %#x, want %#x", c.name, c.got, c.want)
		}
	}
}

// TestStampGoKernel stamps a real Go program linked like gohv and checks
// every field of every header against the ELF it came from.
func TestStampGoKernel(t *testing.T) {
	in := goKernel(t)
	orig := bytes.Clone(in)
	out, rep, err := Stamp(in, 0)
	if err != nil {
		t.Fatalf("Stamp: %v", err)
	}
	if !bytes.Equal(in, orig) {
		t.Fatal("Stamp modified its input")
	}
	t.Logf("report: %v", rep)
	checkStamped(t, orig, out, rep)

	h, err := Inspect(out)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("inspect: %v", h)
	if got, want := h.String(), "mb1 @"; !strings.HasPrefix(got, want) {
		t.Errorf("Headers.String() = %q, want prefix %q", got, want)
	}
}

// checkStamped verifies out = Stamp(orig, 0) field by field.
func checkStamped(t *testing.T, orig, out []byte, rep Report) {
	t.Helper()
	if len(out) != len(orig) {
		t.Fatalf("len(out) = %d, want %d", len(out), len(orig))
	}
	f, err := elf.NewFile(bytes.NewReader(orig))
	if err != nil {
		t.Fatal(err)
	}
	ld := loads(t, orig)
	first, last := ld[0], ld[len(ld)-1]
	base := uint32(first.Vaddr)
	loadEnd := uint32(last.Vaddr + last.Filesz)
	bssEnd := uint32(last.Vaddr + last.Memsz)
	entry := uint32(f.Entry)

	// Report.
	if rep.LoadAddr != base || rep.LoadEndAddr != loadEnd || rep.BSSEndAddr != bssEnd || rep.Entry != entry {
		t.Errorf("report addresses %#x-%#x bss %#x entry %#x, want %#x-%#x bss %#x entry %#x",
			rep.LoadAddr, rep.LoadEndAddr, rep.BSSEndAddr, rep.Entry, base, loadEnd, bssEnd, entry)
	}
	if rep.MB2Offset != rep.MB1Offset+slotMB2 || rep.PVHOffset != rep.MB1Offset+slotPVH {
		t.Errorf("report offsets %#x %#x %#x not in slot order", rep.MB1Offset, rep.MB2Offset, rep.PVHOffset)
	}

	h, err := Inspect(out)
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	if h.Entry != f.Entry {
		t.Errorf("e_entry changed: %#x, want %#x", h.Entry, f.Entry)
	}

	// 1. Multiboot1.
	m1 := h.MB1
	if m1 == nil {
		t.Fatal("no multiboot1 header found")
	}
	switch {
	case m1.Offset != rep.MB1Offset:
		t.Errorf("mb1 found at %#x, report says %#x", m1.Offset, rep.MB1Offset)
	case m1.Offset%16 != 0:
		t.Errorf("mb1 at %#x is not 16-byte aligned", m1.Offset)
	case m1.Offset+mb1ScanReach > mb1Search:
		t.Errorf("mb1 at %#x is beyond QEMU's scan", m1.Offset)
	}
	if m1.Magic != 0x1BADB002 || m1.Flags != 0x00010003 || m1.Magic+m1.Flags+m1.Checksum != 0 {
		t.Errorf("mb1 magic %#x flags %#x checksum %#x", m1.Magic, m1.Flags, m1.Checksum)
	}
	if m1.HeaderAddr != base+uint32(m1.Offset) || m1.LoadAddr != base || m1.LoadEndAddr != loadEnd ||
		m1.BSSEndAddr != bssEnd || m1.EntryAddr != entry {
		t.Errorf("mb1 addresses %+v, want header %#x load %#x-%#x bss %#x entry %#x",
			*m1, base+uint32(m1.Offset), base, loadEnd, bssEnd, entry)
	}
	// The a.out kludge loads file [offset - (header_addr - load_addr), ...):
	// that must be file offset 0.
	if got := m1.Offset - int(m1.HeaderAddr-m1.LoadAddr); got != 0 {
		t.Errorf("mb1 load starts at file offset %#x, want 0", got)
	}

	// 2. Multiboot2.
	m2 := h.MB2
	if m2 == nil {
		t.Fatal("no multiboot2 header found")
	}
	if m2.Offset != rep.MB2Offset || m2.Offset%8 != 0 || m2.Offset+int(m2.HeaderLength) > mb2Search {
		t.Errorf("mb2 at %#x (len %d), report says %#x", m2.Offset, m2.HeaderLength, rep.MB2Offset)
	}
	if m2.Magic != 0xE85250D6 || m2.Architecture != 0 || m2.HeaderLength != 96 ||
		m2.Magic+m2.Architecture+m2.HeaderLength+m2.Checksum != 0 {
		t.Errorf("mb2 fixed part %+v", *m2)
	}
	wantTags := []MB2Tag{
		{Offset: m2.Offset + 16, Type: 1, Flags: 1, Size: 28},
		{Offset: m2.Offset + 48, Type: 2, Flags: 1, Size: 24},
		{Offset: m2.Offset + 72, Type: 3, Flags: 0, Size: 12},
		{Offset: m2.Offset + 88, Type: 0, Flags: 0, Size: 8},
	}
	if !slices.Equal(m2.Tags, wantTags) {
		t.Errorf("mb2 tags %+v, want %+v", m2.Tags, wantTags)
	}
	for _, tag := range m2.Tags {
		if (tag.Offset-m2.Offset)%8 != 0 {
			t.Errorf("mb2 tag %d at %#x not 8-byte aligned", tag.Type, tag.Offset)
		}
	}
	if last := m2.Tags[len(m2.Tags)-1]; last.Offset+int(last.Size) != m2.Offset+int(m2.HeaderLength) {
		t.Errorf("header_length %d does not end at the end tag", m2.HeaderLength)
	}
	if r := m2.InfoRequest; r == nil || r.Flags != MULTIBOOT_HEADER_TAG_OPTIONAL ||
		!slices.Equal(r.Types, []uint32{1, 3, 4, 6, 2}) {
		t.Errorf("mb2 information request %+v, want optional [cmdline module basic-meminfo mmap loader-name]", r)
	}
	if a := m2.Address; a == nil || *a != (MB2Address{Flags: MULTIBOOT_HEADER_TAG_OPTIONAL,
		HeaderAddr: base + uint32(m2.Offset), LoadAddr: base, LoadEndAddr: loadEnd, BSSEndAddr: bssEnd}) {
		t.Errorf("mb2 address tag %+v", a)
	}
	if e := m2.EntryAddr; e == nil || *e != (MB2EntryAddress{Flags: 0, EntryAddr: entry}) {
		t.Errorf("mb2 entry tag %+v, want entry %#x", e, entry)
	}

	// 3. PVH note and its PT_NOTE.
	p := h.PVH
	if p == nil {
		t.Fatal("no PVH note found")
	}
	if p.Offset != rep.PVHOffset || p.Offset%4 != 0 || p.DescSize != 4 || p.Entry != uint64(entry) || p.Phdr != rep.NotePhdr {
		t.Errorf("pvh %+v, report %+v", *p, rep)
	}
	sf, err := elf.NewFile(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("stamped image no longer parses: %v", err)
	}
	note := sf.Progs[rep.NotePhdr]
	if note.Type != elf.PT_NOTE || note.Off != uint64(p.Offset) || note.Vaddr != uint64(base)+note.Off ||
		note.Paddr != note.Vaddr || note.Filesz != 20 || note.Memsz != 20 || note.Align != 4 {
		t.Errorf("retargeted PT_NOTE %+v", note.ProgHeader)
	}
	raw := make([]byte, note.Filesz)
	if _, err := note.ReadAt(raw, 0); err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	if le.Uint32(raw) != 4 || le.Uint32(raw[4:]) != 4 || le.Uint32(raw[8:]) != 18 ||
		string(raw[12:16]) != "Xen\x00" || le.Uint32(raw[16:]) != entry {
		t.Errorf("PVH note bytes % x", raw)
	}

	// Nothing else changed: e_entry, every other program header (so every
	// p_paddr), every section header, every byte outside the slot and the
	// one retargeted program header.
	of, _ := elf.NewFile(bytes.NewReader(orig))
	for i := range of.Progs {
		if i != rep.NotePhdr && of.Progs[i].ProgHeader != sf.Progs[i].ProgHeader {
			t.Errorf("program header %d changed: %+v -> %+v", i, of.Progs[i].ProgHeader, sf.Progs[i].ProgHeader)
		}
	}
	for i := range of.Sections {
		if of.Sections[i].SectionHeader != sf.Sections[i].SectionHeader {
			t.Errorf("section header %d changed", i)
		}
	}
	if bn := sf.Section(".note.go.buildid"); bn != nil {
		d, err := bn.Data()
		if err != nil || len(d) < 16 || string(d[12:16]) != "Go\x00\x00" {
			t.Errorf(".note.go.buildid no longer readable through its section: %q, %v", d, err)
		}
	}
	var hdr elf.Header64
	mustDecode(t, orig, &hdr)
	phdr := int(hdr.Phoff) + rep.NotePhdr*progHeaderSize
	for i := range out {
		inSlot := i >= rep.MB1Offset && i < rep.MB1Offset+slotSize
		inPhdr := i >= phdr && i < phdr+progHeaderSize
		if out[i] != orig[i] && !inSlot && !inPhdr {
			t.Fatalf("byte at %#x changed outside the slot and the PT_NOTE header", i)
		}
		if inSlot && orig[i] != 0 {
			t.Fatalf("slot byte at %#x was not zero in the input", i)
		}
	}
}

func mustDecode(t testing.TB, b []byte, v any) {
	t.Helper()
	if _, err := binary.Decode(b, binary.LittleEndian, v); err != nil {
		t.Fatal(err)
	}
}

// TestStampIdempotent: stamping the output again changes nothing.
func TestStampIdempotent(t *testing.T) {
	for name, in := range map[string][]byte{"go": goKernel(t), "synth": newSynth().build()} {
		t.Run(name, func(t *testing.T) {
			out1, rep1, err := Stamp(in, 0)
			if err != nil {
				t.Fatal(err)
			}
			if rep1.Restamped {
				t.Error("first stamp reports Restamped")
			}
			out2, rep2, err := Stamp(out1, 0)
			if err != nil {
				t.Fatalf("second Stamp: %v", err)
			}
			if !bytes.Equal(out1, out2) {
				t.Error("second Stamp changed the image")
			}
			if !rep2.Restamped {
				t.Error("second stamp does not report Restamped")
			}
			rep2.Restamped = false
			if rep1 != rep2 {
				t.Errorf("reports differ: %+v vs %+v", rep1, rep2)
			}
		})
	}
}

// TestStampSynth checks the synthetic image the refusal table starts from.
func TestStampSynth(t *testing.T) {
	in := newSynth().build()
	out, rep, err := Stamp(in, 0)
	if err != nil {
		t.Fatal(err)
	}
	if rep.MB1Offset != synthSlot || rep.NotePhdr != 1 {
		t.Errorf("report %+v, want slot 0x2e0, PT_NOTE 1", rep)
	}
	checkStamped(t, in, out, rep)
}

// TestStampHighHalf: an image linked at a virtual offset (as gohv is, in
// the upper half) gets the headers of the same image linked at its
// physical address, and physical p_paddr and e_entry; a restamp changes
// nothing.
func TestStampHighHalf(t *testing.T) {
	const off = gohvOffset
	in := newHighSynth().build()
	out, rep, err := Stamp(in, off)
	if err != nil {
		t.Fatal(err)
	}
	_, lowRep, err := Stamp(newSynth().build(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if rep != lowRep {
		t.Errorf("report %+v, want the physical image's %+v", rep, lowRep)
	}
	hdr, progs, err := readELF(out)
	if err != nil {
		t.Fatal(err)
	}
	if hdr.Entry != synthBase+0x1010 {
		t.Errorf("e_entry %#x, want the physical %#x", hdr.Entry, synthBase+0x1010)
	}
	for i, p := range progs {
		want := uint64(0)
		if p.Vaddr != 0 {
			want = p.Vaddr - off
		}
		if p.Paddr != want {
			t.Errorf("phdr %d (%v): p_paddr %#x, want %#x", i, elf.ProgType(p.Type), p.Paddr, want)
		}
	}
	out2, rep2, err := Stamp(out, off)
	if err != nil || !bytes.Equal(out, out2) || !rep2.Restamped {
		t.Errorf("restamp: %v, equal %v, restamped %v", err, bytes.Equal(out, out2), rep2.Restamped)
	}

	// Neither the linked nor the stamped p_paddr; an image below the offset.
	odd := newHighSynth()
	odd.progs[3].Paddr = synthBase + synthData + 0x100000
	if _, _, err := Stamp(odd.build(), off); !errors.Is(err, ErrNotPhysical) {
		t.Errorf("odd p_paddr: %v, want ErrNotPhysical", err)
	}
	if _, _, err := Stamp(newSynth().build(), off); !errors.Is(err, ErrNotPhysical) {
		t.Errorf("image below the offset: %v, want ErrNotPhysical", err)
	}
}

// TestStampRefusals: every bad image is refused with the right sentinel,
// and the boundary rows just inside the limits are accepted.
func TestStampRefusals(t *testing.T) {
	const b = synthBase
	textLoad, dataLoad := 2, 3 // indices in synth.progs
	tests := []struct {
		name string
		edit func(s *synth)
		want error // nil: accepted
	}{
		{"default", func(s *synth) {}, nil},

		// Not an ELF, or not ours.
		{"empty", func(s *synth) { s.raw = []byte{} }, ErrNotKernelELF},
		{"ELF header only", func(s *synth) { s.raw = newSynth().build()[:elfHeaderSize] }, ErrNotKernelELF},
		{"ELF32 class", func(s *synth) { s.poke = func(b []byte) { b[elf.EI_CLASS] = byte(elf.ELFCLASS32) } }, ErrNotKernelELF},
		{"big endian", func(s *synth) { s.poke = func(b []byte) { b[elf.EI_DATA] = byte(elf.ELFDATA2MSB) } }, ErrNotKernelELF},
		{"i386 machine", func(s *synth) { s.poke = func(b []byte) { b[18] = byte(elf.EM_386) } }, ErrNotKernelELF},
		{"shared object", func(s *synth) { s.poke = func(b []byte) { b[16] = byte(elf.ET_DYN) } }, ErrNotKernelELF},
		{"no PT_LOAD", func(s *synth) {
			s.progs[textLoad].Type, s.progs[dataLoad].Type = uint32(elf.PT_NULL), uint32(elf.PT_NULL)
		}, ErrNotKernelELF},
		{"data past end of file", func(s *synth) { s.progs[dataLoad].Filesz = 0x1000 }, ErrNotKernelELF},
		{"filesz > memsz", func(s *synth) { s.progs[dataLoad].Memsz = synthDataLen - 1 }, ErrNotKernelELF},

		// First PT_LOAD.
		{"first PT_LOAD at 0x1000", func(s *synth) {
			s.progs[textLoad].Off, s.progs[textLoad].Filesz, s.progs[textLoad].Memsz = 0x1000, 0x1000, 0x1000
		}, ErrFirstLoadNotAtZero},

		// One vaddr-offset, in order, bss only last.
		{"data vaddr off by a page", func(s *synth) { s.progs[dataLoad].Vaddr = b + synthData + 0x1000 }, ErrNotContiguous},
		{"data vaddr off by one", func(s *synth) { s.progs[dataLoad].Vaddr = b + synthData + 1 }, ErrNotContiguous},
		{"overlapping loads", func(s *synth) {
			s.progs[dataLoad].Off = 0x1800
			s.progs[dataLoad].Vaddr = 0
		}, ErrNotContiguous},
		{"bss in text", func(s *synth) { s.progs[textLoad].Filesz = 0x1800 }, ErrNotContiguous},
		{"data swapped before text", func(s *synth) {
			s.progs[textLoad], s.progs[dataLoad] = s.progs[dataLoad], s.progs[textLoad]
		}, ErrFirstLoadNotAtZero},

		// Physical addresses.
		{"paddr != vaddr", func(s *synth) { s.progs[dataLoad].Paddr = b + synthData + 0x100000 }, ErrNotPhysical},
		{"high-half link", func(s *synth) {
			s.base = 0xffff800000000000
			s.entry = s.base + 0x1010
		}, ErrAbove4G},

		// Below 4 GiB: bss end is a 32-bit field, so it must stay below 1<<32.
		{"bss ends at 4GiB-1", func(s *synth) {
			s.base = 1<<32 - 1 - (synthData + synthDataMem)
			s.entry = s.base + 0x1010
		}, nil},
		{"bss ends at 4GiB", func(s *synth) {
			s.base = 1<<32 - (synthData + synthDataMem)
			s.entry = s.base + 0x1010
		}, ErrAbove4G},

		// Entry.
		{"entry at first text byte", func(s *synth) { s.entry = b }, nil},
		{"entry at last text byte", func(s *synth) { s.entry = b + synthTextEnd - 1 }, nil},
		{"entry just past text", func(s *synth) { s.entry = b + synthTextEnd }, ErrEntryOutsideText},
		{"entry below image", func(s *synth) { s.entry = b - 1 }, ErrEntryOutsideText},
		{"entry in data", func(s *synth) { s.entry = b + synthData + 0x10 }, ErrEntryOutsideText},
		{"entry in bss", func(s *synth) { s.entry = b + synthData + synthDataLen + 0x10 }, ErrEntryOutsideText},
		{"text not executable", func(s *synth) { s.progs[textLoad].Flags = uint32(elf.PF_R) }, ErrEntryOutsideText},

		// PT_NOTE.
		{"no PT_NOTE", func(s *synth) { s.progs[1].Type = uint32(elf.PT_NULL) }, ErrNoNoteSegment},

		// Slot placement. Section headers at the end of the file: slot =
		// align16(64 + n*56). QEMU wants the header before 8192-48 = 0x1fd0.
		// 64 + (5+139)*56 = 0x1fc0, the last 16-byte slot QEMU still sees
		// (it scans offsets below 8192-48 = 0x1fd0); one more header moves
		// the slot to 0x2000.
		{"slot at 0x1fc0 (QEMU's last)", func(s *synth) { bigHeaders(s, 139) }, nil},
		{"slot at 0x2000 (past QEMU's scan)", func(s *synth) { bigHeaders(s, 140) }, ErrNoSlot},
		{"slot fills the first PT_LOAD exactly", func(s *synth) { shortText(s, synthSlot+slotSize) }, nil},
		{"slot one byte past the first PT_LOAD", func(s *synth) { shortText(s, synthSlot+slotSize-1) }, ErrNoSlot},
		{"section in the slot", func(s *synth) { s.noteOff = 0x300 }, ErrNoSlot},
		{"section starts at the last slot word", func(s *synth) { s.noteOff = synthSlot + slotSize - 4 }, ErrNoSlot},
		{"section starts at slot end", func(s *synth) { s.noteOff = synthSlot + slotSize }, nil},
		{"PT_NOTE in the slot", func(s *synth) {
			s.progs[1].Off, s.progs[1].Filesz, s.progs[1].Memsz = 0x2f0, 4, 4
		}, ErrNoSlot},
		{"stray multiboot1 header before the slot", func(s *synth) {
			s.nullPhdrs = 1
			s.poke = func(b []byte) {
				// Inside the PT_NULL program header's fields, 4-byte aligned.
				off := elfHeaderSize + len(s.progs)*progHeaderSize + 8
				binary.LittleEndian.PutUint32(b[off:], MULTIBOOT_HEADER_MAGIC)
				binary.LittleEndian.PutUint32(b[off+4:], 0)
				binary.LittleEndian.PutUint32(b[off+8:], checksum(MULTIBOOT_HEADER_MAGIC))
			}
		}, ErrNoSlot},

		// Slot content.
		{"slot first byte not zero", func(s *synth) { s.poke = func(b []byte) { b[synthSlot] = 1 } }, ErrSlotNotZero},
		{"slot last byte not zero", func(s *synth) { s.poke = func(b []byte) { b[synthSlot+slotSize-1] = 1 } }, ErrSlotNotZero},
		{"byte after the slot not zero", func(s *synth) { s.poke = func(b []byte) { b[synthSlot+slotSize] = 1 } }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSynth()
			tc.edit(s)
			in := s.build()
			out, _, err := Stamp(in, 0)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Stamp refused: %v", err)
				}
				if _, _, err := Stamp(out, 0); err != nil {
					t.Fatalf("restamp refused: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Stamp error = %v, want %v", err, tc.want)
			}
			if out != nil {
				t.Error("refused Stamp returned output")
			}
			t.Logf("refused: %v", err)
		})
	}
}

// bigHeaders adds n PT_NULL program headers, moves the section headers to
// the end of the file, and moves text, note and data up a page so the slot
// stays inside the first PT_LOAD and clear of them.
func bigHeaders(s *synth, n int) {
	s.nullPhdrs = n
	s.shdrsLast = true
	s.textStart, s.textEnd = 0x2100, 0x3000
	s.noteOff = 0x20c0
	s.dataOff = 0x3000
	s.entry = s.base + 0x2110
	s.progs[2].Filesz, s.progs[2].Memsz = 0x3000, 0x3000
	s.progs[3].Off = 0x3000
}

// shortText shrinks the text PT_LOAD to its first end bytes (the .text
// section then lies in a hole between the segments, which is allowed).
func shortText(s *synth, end uint64) {
	s.progs[2].Filesz, s.progs[2].Memsz = end, end
	s.entry = synthBase + 0x10
}

// TestStampRefusesAlteredStamp: a slot holding a stamp that differs from
// what Stamp would write (e.g. the entry changed by hand) is refused.
func TestStampRefusesAlteredStamp(t *testing.T) {
	out, rep, err := Stamp(newSynth().build(), 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, off := range []int{rep.MB1Offset + 28, rep.MB2Offset + 8, rep.PVHOffset + 16, rep.MB1Offset + slotSize - 1} {
		bad := bytes.Clone(out)
		bad[off] ^= 0x40
		if _, _, err := Stamp(bad, 0); !errors.Is(err, ErrSlotNotZero) {
			t.Errorf("byte %#x flipped: err = %v, want ErrSlotNotZero", off, err)
		}
	}
}

// TestStampedKernelRuns runs the stamped test program on the host: Linux
// loads it through its PT_LOADs, so a wrong byte anywhere loaded would show.
func TestStampedKernelRuns(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		testenv.Missing(t, "needs a linux/amd64 host, not %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	out, _, err := Stamp(goKernel(t), 0)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "stamped.elf")
	if err := os.WriteFile(path, out, 0o755); err != nil {
		t.Fatal(err)
	}
	msg, err := exec.Command(path).CombinedOutput()
	if err != nil || string(msg) != "entry32: ok\n" {
		t.Fatalf("stamped program: %v, output %q", err, msg)
	}
}
