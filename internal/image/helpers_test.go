package image

import (
	"debug/elf"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// goKernel builds testdata/entry32 with gohv's link flags once per test
// binary and returns the ELF bytes (a fresh copy per call).
func goKernel(t testing.TB) []byte {
	t.Helper()
	kernelOnce.Do(func() {
		// The go command that runs the tests builds the test input.
		goBin, err := exec.LookPath("go")
		if err != nil {
			goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		dir, err := os.MkdirTemp("", "image-test-")
		if err != nil {
			kernelErr = err
			return
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, "entry32.elf")
		cmd := exec.Command(goBin, "build", "-o", out, "-ldflags=-E main.entry32 -T 0x200000", ".")
		cmd.Dir = filepath.Join("testdata", "entry32")
		cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=-buildvcs=false")
		if msg, err := cmd.CombinedOutput(); err != nil {
			kernelErr = &buildError{err: err, out: string(msg)}
			return
		}
		kernelELF, kernelErr = os.ReadFile(out)
	})
	if kernelErr != nil {
		t.Fatalf("building testdata/entry32: %v", kernelErr)
	}
	return append([]byte(nil), kernelELF...)
}

var (
	kernelOnce sync.Once
	kernelELF  []byte
	kernelErr  error
)

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

// synth describes a small hand-made ELF64 shaped like Go's output: headers
// and zero padding in the first page, a note section, text, data with bss.
// Tests change fields to make the bad images Stamp must refuse.
type synth struct {
	base      uint64       // vaddr (= paddr) of file offset 0
	entry     uint64       // e_entry
	nullPhdrs int          // extra PT_NULL program headers (push the slot down)
	progs     []elf.Prog64 // PHDR, NOTE, LOAD text, LOAD data, GNU_STACK; edit freely
	noteOff   uint64       // file offset of the Go-style note section
	textStart uint64       // file offset of the .text section (filled with 0xCC)
	textEnd   uint64       // end of the .text section
	dataOff   uint64       // file offset of .data (synthDataLen bytes of 0xDA)
	shdrsLast bool         // put the section headers at the end of the file
	raw       []byte       // when non-nil, build returns exactly this
	poke      func([]byte) // last-minute byte edits
}

const (
	synthBase    = 0x1ff000
	synthTextEnd = 0x2000 // text PT_LOAD: file [0, 0x2000)
	synthData    = 0x2000 // data PT_LOAD: file [0x2000, 0x2800), bss to 0x5000
	synthDataLen = 0x800
	synthDataMem = 0x3000
	synthSlot    = 0x2e0 // align16(64 + 5*56 + 6*64)
)

func newSynth() *synth {
	s := &synth{base: synthBase, entry: synthBase + 0x1010, noteOff: 0xf80,
		textStart: 0x1000, textEnd: synthTextEnd, dataOff: synthData}
	s.progs = []elf.Prog64{
		{Type: uint32(elf.PT_PHDR), Flags: uint32(elf.PF_R), Align: 0x1000},
		{Type: uint32(elf.PT_NOTE), Flags: uint32(elf.PF_R), Align: 4},
		{Type: uint32(elf.PT_LOAD), Flags: uint32(elf.PF_R | elf.PF_X), Off: 0, Filesz: synthTextEnd, Memsz: synthTextEnd, Align: 0x1000},
		{Type: uint32(elf.PT_LOAD), Flags: uint32(elf.PF_R | elf.PF_W), Off: synthData, Filesz: synthDataLen, Memsz: synthDataMem, Align: 0x1000},
		{Type: uint32(elf.PT_GNU_STACK), Flags: uint32(elf.PF_R | elf.PF_W), Align: 8},
	}
	return s
}

// gohvOffset is the virtual offset gohv's image is linked at (image VA
// minus PA), as the Makefile passes it to mkimage.
const gohvOffset = 0xffff82d040000000

// newHighSynth is newSynth linked gohvOffset above where it loads, as gohv
// is: p_vaddr and e_entry in the upper half, p_paddr equal to p_vaddr.
func newHighSynth() *synth {
	s := newSynth()
	s.base += gohvOffset
	s.entry += gohvOffset
	return s
}

const sectionHeaderSize = 64 // sizeof(Elf64_Shdr)

const synthNoteSize = 20 // namesz 4 ("Go\0\0"), descsz 4, type 4, desc "abcd"

// build lays the ELF out and returns its bytes. Vaddr/Paddr of PT_LOADs are
// filled from base when they are zero, so tests only set what they break.
func (s *synth) build() []byte {
	if s.raw != nil {
		return s.raw
	}
	le := binary.LittleEndian
	phnum := len(s.progs) + s.nullPhdrs
	phoff := uint64(elfHeaderSize)
	phEnd := phoff + uint64(phnum)*progHeaderSize

	type section struct {
		name      string
		typ       elf.SectionType
		off, size uint64
	}
	names := []string{".note.go.buildid", ".text", ".data", ".bss", ".shstrtab"}
	strtab := []byte{0}
	nameOff := map[string]uint32{"": 0}
	for _, n := range names {
		nameOff[n] = uint32(len(strtab))
		strtab = append(strtab, n...)
		strtab = append(strtab, 0)
	}
	strOff := s.dataOff + synthDataLen // after the loaded data
	sections := []section{
		{"", elf.SHT_NULL, 0, 0},
		{".note.go.buildid", elf.SHT_NOTE, s.noteOff, synthNoteSize},
		{".text", elf.SHT_PROGBITS, s.textStart, s.textEnd - s.textStart},
		{".data", elf.SHT_PROGBITS, s.dataOff, synthDataLen},
		{".bss", elf.SHT_NOBITS, s.dataOff + synthDataLen, synthDataMem - synthDataLen},
		{".shstrtab", elf.SHT_STRTAB, strOff, uint64(len(strtab))},
	}
	shoff := phEnd
	size := (strOff + uint64(len(strtab)) + 7) &^ 7
	if s.shdrsLast {
		shoff = size
		size += uint64(len(sections)) * sectionHeaderSize
	}
	b := make([]byte, size)

	// Contents first, headers last, so a header never gets overwritten.
	n := b[s.noteOff:]
	le.PutUint32(n[0:], 4)
	le.PutUint32(n[4:], 4)
	le.PutUint32(n[8:], 4)
	copy(n[12:], "Go\x00\x00abcd")
	for i := s.textStart; i < s.textEnd; i++ {
		b[i] = 0xCC
	}
	for i := s.dataOff; i < s.dataOff+synthDataLen; i++ {
		b[i] = 0xDA
	}
	copy(b[strOff:], strtab)

	hdr := elf.Header64{
		Type: uint16(elf.ET_EXEC), Machine: uint16(elf.EM_X86_64), Version: 1,
		Entry: s.entry, Phoff: phoff, Shoff: shoff,
		Ehsize: elfHeaderSize, Phentsize: progHeaderSize, Phnum: uint16(phnum),
		Shentsize: sectionHeaderSize, Shnum: uint16(len(sections)), Shstrndx: uint16(len(sections) - 1),
	}
	copy(hdr.Ident[:], elf.ELFMAG)
	hdr.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	hdr.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	hdr.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	mustEncode(b, hdr)

	progs := append([]elf.Prog64(nil), s.progs...)
	for i := range progs {
		p := &progs[i]
		switch elf.ProgType(p.Type) {
		case elf.PT_PHDR:
			p.Off, p.Filesz, p.Memsz = phoff, phEnd-phoff, phEnd-phoff
			p.Vaddr, p.Paddr = s.base+phoff, s.base+phoff
		case elf.PT_NOTE:
			if p.Off == 0 && p.Filesz == 0 {
				p.Off, p.Filesz, p.Memsz = s.noteOff, synthNoteSize, synthNoteSize
			}
			p.Vaddr, p.Paddr = s.base+p.Off, s.base+p.Off
		case elf.PT_LOAD:
			if p.Vaddr == 0 {
				p.Vaddr = s.base + p.Off
			}
			if p.Paddr == 0 {
				p.Paddr = p.Vaddr
			}
		}
	}
	for i := 0; i < s.nullPhdrs; i++ {
		progs = append(progs, elf.Prog64{Type: uint32(elf.PT_NULL)})
	}
	mustEncode(b[phoff:], progs)

	shdrs := make([]elf.Section64, len(sections))
	for i, sec := range sections {
		shdrs[i] = elf.Section64{Name: nameOff[sec.name], Type: uint32(sec.typ), Off: sec.off, Size: sec.size, Addralign: 1}
		if sec.typ != elf.SHT_NULL && sec.typ != elf.SHT_STRTAB {
			shdrs[i].Addr = s.base + sec.off
			shdrs[i].Flags = uint64(elf.SHF_ALLOC)
		}
	}
	mustEncode(b[shoff:], shdrs)
	if s.poke != nil {
		s.poke(b)
	}
	return b
}

func mustEncode(b []byte, v any) {
	if _, err := binary.Encode(b, binary.LittleEndian, v); err != nil {
		panic(err)
	}
}

// load returns the PT_LOAD program headers of b in order.
func loads(t testing.TB, b []byte) []elf.Prog64 {
	t.Helper()
	_, progs, err := readELF(b)
	if err != nil {
		t.Fatal(err)
	}
	var out []elf.Prog64
	for _, p := range progs {
		if elf.ProgType(p.Type) == elf.PT_LOAD {
			out = append(out, p)
		}
	}
	return out
}
