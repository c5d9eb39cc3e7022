package testvectors

import (
	"bytes"
	"debug/elf"
	"encoding/binary"

	"github.com/gohv/gohv/abi"
)

// A small ELF64 writer: program headers, sections, note builders, and the
// Linux-like test kernel.

// Seg is one program header and the bytes it covers.
type Seg struct {
	Type         elf.ProgType
	Flags        elf.ProgFlag
	Paddr, Vaddr uint64
	Memsz        uint64 // 0: len(Data)
	Data         []byte
	OffZero      bool   // write p_offset 0 (libelf skips such PT_NOTEs)
	Filesz       uint64 // 0: len(Data); set to lie about the size
}

// Sec is one section header and its contents.
type Sec struct {
	Name string
	Type elf.SectionType
	Data []byte
}

// ELF describes a file for Bytes. Zero Class, Order and Machine mean
// ELFCLASS64, little-endian, x86-64.
type ELF struct {
	Class   elf.Class
	Order   elf.Data
	Machine elf.Machine
	Entry   uint64
	Segs    []Seg
	Secs    []Sec
}

// Bytes lays the file out as: ELF header, program headers, segment and
// section contents (8-byte aligned), section headers (null, the given ones,
// .shstrtab).
func (e *ELF) Bytes() []byte {
	le := binary.LittleEndian
	nph := len(e.Segs)
	b := make([]byte, 64+56*nph)
	align := func() {
		for len(b)%8 != 0 {
			b = append(b, 0)
		}
	}
	segOff := make([]uint64, nph)
	for i, s := range e.Segs {
		align()
		segOff[i] = uint64(len(b))
		b = append(b, s.Data...)
	}
	secOff := make([]uint64, len(e.Secs))
	for i, s := range e.Secs {
		align()
		secOff[i] = uint64(len(b))
		b = append(b, s.Data...)
	}
	shstr := []byte{0}
	nameOff := make([]uint32, len(e.Secs)+1)
	for i, s := range e.Secs {
		nameOff[i] = uint32(len(shstr))
		shstr = append(shstr, s.Name...)
		shstr = append(shstr, 0)
	}
	nameOff[len(e.Secs)] = uint32(len(shstr))
	shstr = append(shstr, ".shstrtab\x00"...)
	align()
	shstrOff := uint64(len(b))
	b = append(b, shstr...)
	align()
	shoff := uint64(len(b))
	nsh := len(e.Secs) + 2
	b = append(b, make([]byte, 64*nsh)...)

	class, order, machine := e.Class, e.Order, e.Machine
	if class == 0 {
		class = elf.ELFCLASS64
	}
	if order == 0 {
		order = elf.ELFDATA2LSB
	}
	if machine == 0 {
		machine = elf.EM_X86_64
	}
	copy(b, "\x7fELF")
	b[4], b[5], b[6] = byte(class), byte(order), 1
	var o binary.ByteOrder = le
	if order == elf.ELFDATA2MSB {
		o = binary.BigEndian
	}
	o.PutUint16(b[16:], uint16(elf.ET_EXEC))
	o.PutUint16(b[18:], uint16(machine))
	o.PutUint32(b[20:], 1)
	o.PutUint64(b[24:], e.Entry)
	o.PutUint64(b[32:], 64)
	o.PutUint64(b[40:], shoff)
	o.PutUint16(b[52:], 64)
	o.PutUint16(b[54:], 56)
	o.PutUint16(b[56:], uint16(nph))
	o.PutUint16(b[58:], 64)
	o.PutUint16(b[60:], uint16(nsh))
	o.PutUint16(b[62:], uint16(nsh-1))
	for i, s := range e.Segs {
		p := b[64+56*i:]
		filesz, memsz := uint64(len(s.Data)), s.Memsz
		if s.Filesz != 0 {
			filesz = s.Filesz
		}
		if memsz == 0 {
			memsz = uint64(len(s.Data))
		}
		off := segOff[i]
		if s.OffZero {
			off = 0
		}
		o.PutUint32(p[0:], uint32(s.Type))
		o.PutUint32(p[4:], uint32(s.Flags))
		o.PutUint64(p[8:], off)
		o.PutUint64(p[16:], s.Vaddr)
		o.PutUint64(p[24:], s.Paddr)
		o.PutUint64(p[32:], filesz)
		o.PutUint64(p[40:], memsz)
		o.PutUint64(p[48:], 8)
	}
	for i, s := range e.Secs {
		h := b[shoff+64*uint64(i+1):]
		o.PutUint32(h[0:], nameOff[i])
		o.PutUint32(h[4:], uint32(s.Type))
		o.PutUint64(h[24:], secOff[i])
		o.PutUint64(h[32:], uint64(len(s.Data)))
		o.PutUint64(h[48:], 1)
	}
	h := b[shoff+64*uint64(nsh-1):]
	o.PutUint32(h[0:], nameOff[len(e.Secs)])
	o.PutUint32(h[4:], uint32(elf.SHT_STRTAB))
	o.PutUint64(h[24:], shstrOff)
	o.PutUint64(h[32:], uint64(len(shstr)))
	o.PutUint64(h[48:], 1)
	return b
}

// Note encodes one ELF note with 4-byte padding.
func Note(name string, typ uint32, desc []byte) []byte {
	le := binary.LittleEndian
	b := le.AppendUint32(nil, uint32(len(name)+1))
	b = le.AppendUint32(b, uint32(len(desc)))
	b = le.AppendUint32(b, typ)
	b = append(b, name...)
	b = append(b, 0)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	b = append(b, desc...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// XenNum is a Xen note with an 8-byte number.
func XenNum(typ uint32, v uint64) []byte {
	return Note("Xen", typ, binary.LittleEndian.AppendUint64(nil, v))
}

// XenStr is a Xen note with a NUL-terminated string.
func XenStr(typ uint32, s string) []byte { return Note("Xen", typ, append([]byte(s), 0)) }

// Addresses of the test kernel, shaped like Debian's Linux 6.1.
const (
	VirtBase = 0xffffffff80000000
	Text     = 0x1000000
	Entry    = VirtBase + Text + 0x1c0
	P2M      = 0x8000000000
)

// LinuxNotes are the notes of Debian's Linux 6.1 (arch/x86/xen/xen-head.S),
// in its order, with FEATURES written without a NUL as Linux does.
func LinuxNotes() [][]byte {
	return [][]byte{
		XenStr(abi.XEN_ELFNOTE_GUEST_OS, "linux"),
		XenStr(abi.XEN_ELFNOTE_GUEST_VERSION, "2.6"),
		XenStr(abi.XEN_ELFNOTE_XEN_VERSION, "xen-3.0"),
		XenNum(abi.XEN_ELFNOTE_VIRT_BASE, VirtBase),
		XenNum(abi.XEN_ELFNOTE_INIT_P2M, P2M),
		XenNum(abi.XEN_ELFNOTE_ENTRY, Entry),
		Note("Xen", abi.XEN_ELFNOTE_FEATURES, []byte("!writable_page_tables|pae_pgdir_above_4gb")),
		Note("Xen", abi.XEN_ELFNOTE_SUPPORTED_FEATURES, binary.LittleEndian.AppendUint32(nil, 0x8801)),
		XenStr(abi.XEN_ELFNOTE_PAE_MODE, "yes"),
		XenStr(abi.XEN_ELFNOTE_LOADER, "generic"),
		Note("Xen", abi.XEN_ELFNOTE_L1_MFN_VALID, []byte{1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0}),
		Note("Xen", abi.XEN_ELFNOTE_SUSPEND_CANCEL, []byte{1, 0, 0, 0}),
		Note("Xen", abi.XEN_ELFNOTE_MOD_START_PFN, []byte{1, 0, 0, 0}),
		XenNum(abi.XEN_ELFNOTE_HV_START_LOW, 0xffff800000000000),
		XenNum(abi.XEN_ELFNOTE_PADDR_OFFSET, 0),
		Note("GNU", 3, make([]byte, 20)),
		Note("Xen", abi.XEN_ELFNOTE_PHYS32_ENTRY, binary.LittleEndian.AppendUint64(nil, Text+0x850)),
	}
}

// LinuxSegs are four loadable segments like Debian's, the third with vaddr 0.
func LinuxSegs() []Seg {
	text := bytes.Repeat([]byte{0x90}, 0x400)
	return []Seg{
		{Type: elf.PT_LOAD, Flags: elf.PF_R | elf.PF_X, Paddr: Text, Vaddr: VirtBase + Text, Data: text, Memsz: 0x1000},
		{Type: elf.PT_LOAD, Flags: elf.PF_R | elf.PF_W, Paddr: Text + 0x1000, Vaddr: VirtBase + Text + 0x1000, Data: []byte("data"), Memsz: 0x1000},
		{Type: elf.PT_LOAD, Flags: elf.PF_R | elf.PF_W, Paddr: Text + 0x2000, Vaddr: 0, Data: []byte("percpu"), Memsz: 0x1000},
		{Type: elf.PT_LOAD, Flags: elf.PF_R | elf.PF_W | elf.PF_X, Paddr: Text + 0x3000, Vaddr: VirtBase + Text + 0x3000, Data: []byte("init"), Memsz: 0x5000},
	}
}

// NotesSeg is a PT_NOTE segment holding notes.
func NotesSeg(notes ...[]byte) Seg {
	return Seg{Type: elf.PT_NOTE, Flags: elf.PF_R, Data: bytes.Join(notes, nil)}
}

// LinuxELF is the test kernel: Linux-like segments and notes in a PT_NOTE.
func LinuxELF() *ELF {
	return &ELF{Entry: Text, Segs: append(LinuxSegs(), NotesSeg(LinuxNotes()...))}
}
