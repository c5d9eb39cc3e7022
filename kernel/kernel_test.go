package kernel

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gohv/gohv/abi"
)

// A small ELF64 writer for tests: program headers, sections, note builders.

type tSeg struct {
	typ          elf.ProgType
	flags        elf.ProgFlag
	paddr, vaddr uint64
	memsz        uint64 // 0: len(data)
	data         []byte
	offZero      bool   // write p_offset 0 (libelf skips such PT_NOTEs)
	filesz       uint64 // 0: len(data); set to lie about the size
}

type tSec struct {
	name string
	typ  elf.SectionType
	data []byte
}

type tELF struct {
	class   elf.Class
	order   elf.Data
	machine elf.Machine
	entry   uint64
	segs    []tSeg
	secs    []tSec
}

// bytes lays the file out as: ELF header, program headers, segment and
// section contents (8-byte aligned), section headers (null, the given ones,
// .shstrtab).
func (e *tELF) bytes() []byte {
	le := binary.LittleEndian
	nph := len(e.segs)
	b := make([]byte, 64+56*nph)
	align := func() {
		for len(b)%8 != 0 {
			b = append(b, 0)
		}
	}
	segOff := make([]uint64, nph)
	for i, s := range e.segs {
		align()
		segOff[i] = uint64(len(b))
		b = append(b, s.data...)
	}
	secOff := make([]uint64, len(e.secs))
	for i, s := range e.secs {
		align()
		secOff[i] = uint64(len(b))
		b = append(b, s.data...)
	}
	shstr := []byte{0}
	nameOff := make([]uint32, len(e.secs)+1)
	for i, s := range e.secs {
		nameOff[i] = uint32(len(shstr))
		shstr = append(shstr, s.name...)
		shstr = append(shstr, 0)
	}
	nameOff[len(e.secs)] = uint32(len(shstr))
	shstr = append(shstr, ".shstrtab\x00"...)
	align()
	shstrOff := uint64(len(b))
	b = append(b, shstr...)
	align()
	shoff := uint64(len(b))
	nsh := len(e.secs) + 2
	b = append(b, make([]byte, 64*nsh)...)

	class, order, machine := e.class, e.order, e.machine
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
	o.PutUint64(b[24:], e.entry)
	o.PutUint64(b[32:], 64)
	o.PutUint64(b[40:], shoff)
	o.PutUint16(b[52:], 64)
	o.PutUint16(b[54:], 56)
	o.PutUint16(b[56:], uint16(nph))
	o.PutUint16(b[58:], 64)
	o.PutUint16(b[60:], uint16(nsh))
	o.PutUint16(b[62:], uint16(nsh-1))
	for i, s := range e.segs {
		p := b[64+56*i:]
		filesz, memsz := uint64(len(s.data)), s.memsz
		if s.filesz != 0 {
			filesz = s.filesz
		}
		if memsz == 0 {
			memsz = uint64(len(s.data))
		}
		off := segOff[i]
		if s.offZero {
			off = 0
		}
		o.PutUint32(p[0:], uint32(s.typ))
		o.PutUint32(p[4:], uint32(s.flags))
		o.PutUint64(p[8:], off)
		o.PutUint64(p[16:], s.vaddr)
		o.PutUint64(p[24:], s.paddr)
		o.PutUint64(p[32:], filesz)
		o.PutUint64(p[40:], memsz)
		o.PutUint64(p[48:], 8)
	}
	for i, s := range e.secs {
		h := b[shoff+64*uint64(i+1):]
		o.PutUint32(h[0:], nameOff[i])
		o.PutUint32(h[4:], uint32(s.typ))
		o.PutUint64(h[24:], secOff[i])
		o.PutUint64(h[32:], uint64(len(s.data)))
		o.PutUint64(h[48:], 1)
	}
	h := b[shoff+64*uint64(nsh-1):]
	o.PutUint32(h[0:], nameOff[len(e.secs)])
	o.PutUint32(h[4:], uint32(elf.SHT_STRTAB))
	o.PutUint64(h[24:], shstrOff)
	o.PutUint64(h[32:], uint64(len(shstr)))
	o.PutUint64(h[48:], 1)
	return b
}

// note encodes one ELF note with 4-byte padding.
func note(name string, typ uint32, desc []byte) []byte {
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

func xenNum(typ uint32, v uint64) []byte {
	return note("Xen", typ, binary.LittleEndian.AppendUint64(nil, v))
}

func xenStr(typ uint32, s string) []byte { return note("Xen", typ, append([]byte(s), 0)) }

// Addresses of the test kernel, shaped like Debian's Linux 6.1.
const (
	tVirtBase = 0xffffffff80000000
	tText     = 0x1000000
	tEntry    = tVirtBase + tText + 0x1c0
	tP2M      = 0x8000000000
)

// linuxNotes are the notes of Debian's Linux 6.1 (arch/x86/xen/xen-head.S), in its order, with
// FEATURES written without a NUL as Linux does.
func linuxNotes() [][]byte {
	return [][]byte{
		xenStr(abi.XEN_ELFNOTE_GUEST_OS, "linux"),
		xenStr(abi.XEN_ELFNOTE_GUEST_VERSION, "2.6"),
		xenStr(abi.XEN_ELFNOTE_XEN_VERSION, "xen-3.0"),
		xenNum(abi.XEN_ELFNOTE_VIRT_BASE, tVirtBase),
		xenNum(abi.XEN_ELFNOTE_INIT_P2M, tP2M),
		xenNum(abi.XEN_ELFNOTE_ENTRY, tEntry),
		note("Xen", abi.XEN_ELFNOTE_FEATURES, []byte("!writable_page_tables|pae_pgdir_above_4gb")),
		note("Xen", abi.XEN_ELFNOTE_SUPPORTED_FEATURES, binary.LittleEndian.AppendUint32(nil, 0x8801)),
		xenStr(abi.XEN_ELFNOTE_PAE_MODE, "yes"),
		xenStr(abi.XEN_ELFNOTE_LOADER, "generic"),
		note("Xen", abi.XEN_ELFNOTE_L1_MFN_VALID, []byte{1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0}),
		note("Xen", abi.XEN_ELFNOTE_SUSPEND_CANCEL, []byte{1, 0, 0, 0}),
		note("Xen", abi.XEN_ELFNOTE_MOD_START_PFN, []byte{1, 0, 0, 0}),
		xenNum(abi.XEN_ELFNOTE_HV_START_LOW, 0xffff800000000000),
		xenNum(abi.XEN_ELFNOTE_PADDR_OFFSET, 0),
		note("GNU", 3, make([]byte, 20)),
		note("Xen", abi.XEN_ELFNOTE_PHYS32_ENTRY, binary.LittleEndian.AppendUint64(nil, tText+0x850)),
	}
}

// linuxSegs are four loadable segments like Debian's, the third with vaddr 0.
func linuxSegs() []tSeg {
	text := bytes.Repeat([]byte{0x90}, 0x400)
	return []tSeg{
		{typ: elf.PT_LOAD, flags: elf.PF_R | elf.PF_X, paddr: tText, vaddr: tVirtBase + tText, data: text, memsz: 0x1000},
		{typ: elf.PT_LOAD, flags: elf.PF_R | elf.PF_W, paddr: tText + 0x1000, vaddr: tVirtBase + tText + 0x1000, data: []byte("data"), memsz: 0x1000},
		{typ: elf.PT_LOAD, flags: elf.PF_R | elf.PF_W, paddr: tText + 0x2000, vaddr: 0, data: []byte("percpu"), memsz: 0x1000},
		{typ: elf.PT_LOAD, flags: elf.PF_R | elf.PF_W | elf.PF_X, paddr: tText + 0x3000, vaddr: tVirtBase + tText + 0x3000, data: []byte("init"), memsz: 0x5000},
	}
}

func notesSeg(notes ...[]byte) tSeg {
	return tSeg{typ: elf.PT_NOTE, flags: elf.PF_R, data: bytes.Join(notes, nil)}
}

// linuxELF is the test kernel: Linux-like segments and notes in a PT_NOTE.
func linuxELF() *tELF {
	return &tELF{entry: tText, segs: append(linuxSegs(), notesSeg(linuxNotes()...))}
}

// withNotes is linuxELF with its notes replaced.
func withNotes(notes ...[]byte) *tELF {
	return &tELF{entry: tText, segs: append(linuxSegs(), notesSeg(notes...))}
}

// minimalNotes are the notes any PV kernel needs: generic loader, xen-3.0.
func minimalNotes(extra ...[]byte) [][]byte {
	return append([][]byte{
		xenStr(abi.XEN_ELFNOTE_LOADER, "generic"),
		xenStr(abi.XEN_ELFNOTE_XEN_VERSION, "xen-3.0"),
	}, extra...)
}

func TestParseKernelLinuxELF(t *testing.T) {
	img := linuxELF().bytes()
	k, err := Parse(img)
	if err != nil {
		t.Fatal(err)
	}
	if k.BzImage || k.Compression != CompressionNone || !bytes.Equal(k.ELF, img) || k.EEntry != tText {
		t.Errorf("BzImage %v Compression %v EEntry %#x", k.BzImage, k.Compression, k.EEntry)
	}
	if len(k.Segments) != 4 {
		t.Fatalf("%d segments, want 4", len(k.Segments))
	}
	want := linuxSegs()
	for i, s := range k.Segments {
		w := want[i]
		if s.Paddr != w.paddr || s.Vaddr != w.vaddr || s.Filesz != uint64(len(w.data)) || s.Memsz != w.memsz ||
			s.Flags != w.flags || !bytes.Equal(s.Data, w.data) || s.Dest != tVirtBase+w.paddr {
			t.Errorf("segment %d = %+v, want %+v", i, s, w)
		}
	}
	if k.PStart != tText || k.PEnd != tText+0x8000 {
		t.Errorf("PStart/PEnd %#x/%#x", k.PStart, k.PEnd)
	}
	p := k.Parms
	wantParms := DomParms{
		Source:            NotesPhdr,
		GuestOS:           "linux",
		GuestVersion:      "2.6",
		XenVersion:        "xen-3.0",
		Loader:            "generic",
		Features:          "!writable_page_tables|pae_pgdir_above_4gb",
		PAE:               XEN_PAE_EXTCR3,
		FeaturesSupported: [1]uint32{0x8811},
		FeaturesRequired:  [1]uint32{0x1},
		VirtBase:          tVirtBase,
		ElfPaddrOffset:    0,
		VirtOffset:        tVirtBase,
		VirtKStart:        tVirtBase + tText,
		VirtKEnd:          tVirtBase + tText + 0x8000,
		VirtEntry:         tEntry,
		VirtHypercall:     UnsetAddr,
		VirtHVStartLow:    0xffff800000000000,
		P2MBase:           tP2M,
		PhysEntry:         tText + 0x850,
		SuspendCancel:     true,
		UnmappedInitrd:    true,
		L1MFNValid:        []L1MFNValid{{1, 1}},
	}
	for _, typ := range []int{1, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 14, 15, 16, 17, 18} {
		wantParms.Present |= 1 << typ
	}
	if !equalParms(p, wantParms) {
		t.Errorf("Parms =\n%+v\nwant\n%+v", p, wantParms)
	}
	if !p.Has(abi.XEN_ELFNOTE_ENTRY) || p.Has(abi.XEN_ELFNOTE_HYPERCALL_PAGE) || p.Has(-1) || p.Has(40) {
		t.Error("Has")
	}
	if !p.Supports(abi.XENFEAT_dom0) || p.Supports(abi.XENFEAT_supervisor_mode_kernel) || !p.Requires(abi.XENFEAT_writable_page_tables) || p.Supports(99) {
		t.Error("Supports/Requires")
	}
	if err := k.CheckDom0(); err != nil {
		t.Errorf("CheckDom0: %v", err)
	}
}

func equalParms(a, b DomParms) bool { return reflect.DeepEqual(a, b) }

// TestParseKernelNotes covers each note and combination rule, one row each.
func TestParseKernelNotes(t *testing.T) {
	le := binary.LittleEndian
	tests := []struct {
		name  string
		elf   *tELF
		check func(t *testing.T, p *DomParms)
	}{
		{"defaults without VIRT_BASE, ENTRY, PADDR_OFFSET", withNotes(minimalNotes()...), func(t *testing.T, p *DomParms) {
			if p.VirtBase != 0 || p.ElfPaddrOffset != 0 || p.VirtOffset != 0 || p.VirtEntry != tText ||
				p.VirtKStart != tText || p.VirtKEnd != tText+0x8000 || p.P2MBase != UnsetAddr || p.PhysEntry != UnsetAddr32 {
				t.Errorf("%+v", p)
			}
		}},
		{"HYPERCALL_PAGE", withNotes(minimalNotes(xenNum(abi.XEN_ELFNOTE_HYPERCALL_PAGE, tText+0x1000))...), func(t *testing.T, p *DomParms) {
			if p.VirtHypercall != tText+0x1000 {
				t.Errorf("VirtHypercall %#x", p.VirtHypercall)
			}
		}},
		{"PADDR_OFFSET", &tELF{entry: tText, segs: []tSeg{
			// Old kernels put the VA in p_paddr and say so with PADDR_OFFSET.
			{typ: elf.PT_LOAD, flags: elf.PF_R | elf.PF_X, paddr: tVirtBase + tText, vaddr: tVirtBase + tText, data: []byte("text"), memsz: 0x4000},
			notesSeg(minimalNotes(xenNum(abi.XEN_ELFNOTE_VIRT_BASE, tVirtBase), xenNum(abi.XEN_ELFNOTE_PADDR_OFFSET, tVirtBase),
				xenNum(abi.XEN_ELFNOTE_ENTRY, tVirtBase+tText+4))...)}}, func(t *testing.T, p *DomParms) {
			if p.VirtOffset != 0 || p.ElfPaddrOffset != tVirtBase || p.VirtKStart != tVirtBase+tText || p.VirtKEnd != tVirtBase+tText+0x4000 {
				t.Errorf("%+v", p)
			}
		}},
		{"numeric notes of 1, 2 and 4 bytes", withNotes(minimalNotes(
			note("Xen", abi.XEN_ELFNOTE_SUSPEND_CANCEL, []byte{1}),
			note("Xen", abi.XEN_ELFNOTE_MOD_START_PFN, []byte{0, 0}),
			note("Xen", abi.XEN_ELFNOTE_ENTRY, le.AppendUint32(nil, tText+8)))...), func(t *testing.T, p *DomParms) {
			if !p.SuspendCancel || p.UnmappedInitrd || p.VirtEntry != tText+8 {
				t.Errorf("%+v", p)
			}
		}},
		{"INFO and unknown types ignored, later note wins", withNotes(minimalNotes(
			xenStr(abi.XEN_ELFNOTE_INFO, "a=b"),
			note("Xen", 99, []byte{1, 2, 3}),
			xenStr(abi.XEN_ELFNOTE_GUEST_OS, "first"),
			xenStr(abi.XEN_ELFNOTE_GUEST_OS, "second"))...), func(t *testing.T, p *DomParms) {
			if p.GuestOS != "second" || p.Has(abi.XEN_ELFNOTE_INFO) {
				t.Errorf("%+v", p)
			}
		}},
		{"notes with other names are not Xen's", withNotes(minimalNotes(
			note("Linux", abi.XEN_ELFNOTE_ENTRY, make([]byte, 8)),
			note("Xe", abi.XEN_ELFNOTE_GUEST_OS, []byte("no\x00")))...), func(t *testing.T, p *DomParms) {
			if p.VirtEntry != tText || p.GuestOS != "" {
				t.Errorf("%+v", p)
			}
		}},
		{"FEATURES accumulate; unknown unmarked names ignored", withNotes(minimalNotes(
			xenStr(abi.XEN_ELFNOTE_FEATURES, "writable_descriptor_tables|no_such_feature|!dom0"),
			xenStr(abi.XEN_ELFNOTE_FEATURES, "hvm_callback_vector||auto_translated_physmap"),
			note("Xen", abi.XEN_ELFNOTE_SUPPORTED_FEATURES, le.AppendUint32(le.AppendUint32(nil, 1<<13), 0xffffffff)))...), func(t *testing.T, p *DomParms) {
			want := uint32(1<<1 | 1<<11 | 1<<8 | 1<<2 | 1<<13)
			if p.FeaturesSupported[0] != want || p.FeaturesRequired[0] != 1<<11 {
				t.Errorf("supported %#x (want %#x) required %#x", p.FeaturesSupported[0], want, p.FeaturesRequired[0])
			}
		}},
		{"PAE_MODE bimodal", withNotes(minimalNotes(xenStr(abi.XEN_ELFNOTE_PAE_MODE, "yes,bimodal"))...), func(t *testing.T, p *DomParms) {
			if p.PAE != XEN_PAE_BIMODAL {
				t.Errorf("PAE %v", p.PAE)
			}
		}},
		{"PAE_MODE no", withNotes(minimalNotes(xenStr(abi.XEN_ELFNOTE_PAE_MODE, "no"))...), func(t *testing.T, p *DomParms) {
			if p.PAE != XEN_PAE_NO {
				t.Errorf("PAE %v", p.PAE)
			}
		}},
		{"BSD_SYMTAB no", withNotes(minimalNotes(xenStr(abi.XEN_ELFNOTE_BSD_SYMTAB, "no"))...), func(t *testing.T, p *DomParms) {
			if p.BSDSymtab {
				t.Error("BSDSymtab")
			}
		}},
		{"loader check passes on GUEST_OS linux alone", withNotes(
			xenStr(abi.XEN_ELFNOTE_GUEST_OS, "linux-6.1"), xenStr(abi.XEN_ELFNOTE_LOADER, "elsewhere"),
			xenStr(abi.XEN_ELFNOTE_XEN_VERSION, "xen-3.0-x86_64")), func(t *testing.T, p *DomParms) {}},
		{"entry at the very end is in bounds", withNotes(minimalNotes(xenNum(abi.XEN_ELFNOTE_ENTRY, tText+0x8000))...), func(t *testing.T, p *DomParms) {}},
		{"INIT_P2M just past the kernel", withNotes(minimalNotes(xenNum(abi.XEN_ELFNOTE_INIT_P2M, tText+0x8000))...), func(t *testing.T, p *DomParms) {
			if p.P2MBase != tText+0x8000 {
				t.Errorf("P2MBase %#x", p.P2MBase)
			}
		}},
		{"SHT_NOTE section when no PT_NOTE", &tELF{entry: tText, segs: linuxSegs(),
			secs: []tSec{{".note.xen", elf.SHT_NOTE, bytes.Join(minimalNotes(xenStr(abi.XEN_ELFNOTE_GUEST_OS, "sect")), nil)}}}, func(t *testing.T, p *DomParms) {
			if p.Source != NotesShdr || p.GuestOS != "sect" {
				t.Errorf("%v %q", p.Source, p.GuestOS)
			}
		}},
		{"PT_NOTE with p_offset 0 is skipped", &tELF{entry: tText,
			segs: append(linuxSegs(), tSeg{typ: elf.PT_NOTE, data: bytes.Join(minimalNotes(), nil), offZero: true}),
			secs: []tSec{{".note.xen", elf.SHT_NOTE, bytes.Join(minimalNotes(xenStr(abi.XEN_ELFNOTE_GUEST_OS, "sect")), nil)}}}, func(t *testing.T, p *DomParms) {
			if p.Source != NotesShdr {
				t.Errorf("%v", p.Source)
			}
		}},
		{"PT_NOTE wins over SHT_NOTE", &tELF{entry: tText,
			segs: append(linuxSegs(), notesSeg(minimalNotes(xenStr(abi.XEN_ELFNOTE_GUEST_OS, "seg"))...)),
			secs: []tSec{{".note.xen", elf.SHT_NOTE, bytes.Join(minimalNotes(xenStr(abi.XEN_ELFNOTE_GUEST_OS, "sect")), nil)}}}, func(t *testing.T, p *DomParms) {
			if p.Source != NotesPhdr || p.GuestOS != "seg" {
				t.Errorf("%v %q", p.Source, p.GuestOS)
			}
		}},
		{"legacy __xen_guest", &tELF{entry: tVirtBase + tText + 0x10, segs: []tSeg{
			// Legacy kernels put the VA in p_paddr; ELF_PADDR_OFFSET defaults to VIRT_BASE.
			{typ: elf.PT_LOAD, flags: elf.PF_R | elf.PF_X, paddr: tVirtBase + tText, vaddr: tVirtBase + tText, data: []byte("text"), memsz: 0x4000},
		}, secs: []tSec{{"__xen_guest", elf.SHT_PROGBITS, []byte(
			"GUEST_OS=linux,GUEST_VER=2.6,XEN_VER=xen-3.0,LOADER=generic,PAE=yes[extended-cr3],VIRT_BASE=0xffffffff80000000," +
				"HYPERCALL_PAGE=0x1002,FEATURES=writable_page_tables|!dom0,IGNORED,=x\x00GUEST_OS=after-nul")}}}, func(t *testing.T, p *DomParms) {
			want := DomParms{
				Source: NotesLegacy, GuestOS: "linux", GuestVersion: "2.6", XenVersion: "xen-3.0", Loader: "generic",
				Features: "writable_page_tables|!dom0", PAE: XEN_PAE_EXTCR3,
				FeaturesSupported: [1]uint32{1 | 1<<11}, FeaturesRequired: [1]uint32{1 << 11},
				VirtBase: tVirtBase, ElfPaddrOffset: tVirtBase, VirtOffset: 0,
				VirtKStart: tVirtBase + tText, VirtKEnd: tVirtBase + tText + 0x4000, VirtEntry: tVirtBase + tText + 0x10,
				VirtHypercall: tVirtBase + 0x1002000, VirtHVStartLow: UnsetAddr, P2MBase: UnsetAddr, PhysEntry: UnsetAddr32,
			}
			if !equalParms(*p, want) {
				t.Errorf("got\n%+v\nwant\n%+v", *p, want)
			}
		}},
		{"legacy PAE=yes, VIRT_ENTRY, ELF_PADDR_OFFSET, decimal and octal", &tELF{entry: 0, segs: []tSeg{
			{typ: elf.PT_LOAD, flags: elf.PF_R, paddr: 0x100000, data: []byte("t"), memsz: 0x1000},
		}, secs: []tSec{{"__xen_guest", elf.SHT_PROGBITS, []byte(
			"XEN_VER=xen-3.0,LOADER=generic,PAE=yes,VIRT_BASE=010,ELF_PADDR_OFFSET=8,VIRT_ENTRY=1048576")}}}, func(t *testing.T, p *DomParms) {
			if p.PAE != XEN_PAE_YES || p.VirtBase != 8 || p.ElfPaddrOffset != 8 || p.VirtEntry != 0x100000 || p.VirtHypercall != UnsetAddr {
				t.Errorf("%+v", p)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := Parse(tc.elf.bytes())
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, &k.Parms)
		})
	}
}

// TestParseKernelRefusals: each refusal, with the sentinel it must wrap.
func TestParseKernelRefusals(t *testing.T) {
	le := binary.LittleEndian
	seg := func(s tSeg) *tELF { return &tELF{entry: tText, segs: []tSeg{s, notesSeg(minimalNotes()...)}} }
	text := tSeg{typ: elf.PT_LOAD, flags: elf.PF_R | elf.PF_X, paddr: tText, data: []byte("text"), memsz: 0x1000}
	tests := []struct {
		name string
		img  []byte
		want error
	}{
		{"empty", nil, ErrFormat},
		{"garbage", []byte("MZ this is not a kernel"), ErrFormat},
		{"truncated ELF", linuxELF().bytes()[:40], ErrELF},
		{"ELF32", (&tELF{class: elf.ELFCLASS32}).bytes(), ErrELF}, // a 64-bit layout with a 32-bit class byte
		{"big-endian", (&tELF{order: elf.ELFDATA2MSB, segs: linuxSegs()}).bytes(), ErrMachine},
		{"i386", (&tELF{machine: elf.EM_386, segs: linuxSegs()}).bytes(), ErrMachine},
		{"no segments", (&tELF{}).bytes(), ErrNoSegments},
		{"PT_LOAD without R, W or X", seg(tSeg{typ: elf.PT_LOAD, paddr: tText, data: []byte("x")}).bytes(), ErrNoSegments},
		{"filesz above memsz", seg(tSeg{typ: elf.PT_LOAD, flags: elf.PF_R, paddr: tText, data: []byte("text"), memsz: 2}).bytes(), ErrSegment},
		{"file bytes outside the file", seg(tSeg{typ: elf.PT_LOAD, flags: elf.PF_R, paddr: tText, data: []byte("t"), filesz: 1 << 40, memsz: 1 << 41}).bytes(), ErrSegment},
		{"paddr overflow", seg(tSeg{typ: elf.PT_LOAD, flags: elf.PF_R, paddr: ^uint64(0) - 10, data: []byte("t"), memsz: 0x1000}).bytes(), ErrSegment},
		{"span above 1 GiB", (&tELF{entry: tText, segs: []tSeg{text,
			{typ: elf.PT_LOAD, flags: elf.PF_R, paddr: tText + MaxSpan, data: []byte("far"), memsz: 0x1000},
			notesSeg(minimalNotes()...)}}).bytes(), ErrTooLarge},
		{"no notes at all", (&tELF{entry: tText, segs: linuxSegs()}).bytes(), ErrNotXenELF},
		{"only non-Xen notes", withNotes(note("GNU", 3, make([]byte, 20))).bytes(), ErrNotXenELF},
		{"note overruns its segment", withNotes(append(xenStr(abi.XEN_ELFNOTE_LOADER, "generic"), 4, 0, 0, 0, 0xff, 0, 0, 0, 5, 0, 0, 0, 'X', 'e', 'n', 0)).bytes(), ErrELF},
		{"note segment outside the file", (&tELF{entry: tText, segs: append(linuxSegs(), tSeg{typ: elf.PT_NOTE, data: []byte("abcd"), filesz: 1 << 20})}).bytes(), ErrELF},
		{"LOADER and GUEST_OS wrong", withNotes(xenStr(abi.XEN_ELFNOTE_LOADER, "special"), xenStr(abi.XEN_ELFNOTE_GUEST_OS, "NetBSD"),
			xenStr(abi.XEN_ELFNOTE_XEN_VERSION, "xen-3.0")).bytes(), ErrLoader},
		{"LOADER absent", withNotes(xenStr(abi.XEN_ELFNOTE_XEN_VERSION, "xen-3.0")).bytes(), ErrLoader},
		{"XEN_VERSION wrong", withNotes(xenStr(abi.XEN_ELFNOTE_LOADER, "generic"), xenStr(abi.XEN_ELFNOTE_XEN_VERSION, "xen-2.0")).bytes(), ErrXenVersion},
		{"XEN_VERSION absent", withNotes(xenStr(abi.XEN_ELFNOTE_LOADER, "generic")).bytes(), ErrXenVersion},
		{"unknown required feature", withNotes(minimalNotes(xenStr(abi.XEN_ELFNOTE_FEATURES, "pae_pgdir_above_4gb|!gnttab_map_avail_bits"))...).bytes(), ErrUnknownFeature},
		{"BSD_SYMTAB yes", withNotes(minimalNotes(xenStr(abi.XEN_ELFNOTE_BSD_SYMTAB, "yes"))...).bytes(), ErrBSDSymtab},
		{"PADDR_OFFSET without VIRT_BASE", withNotes(minimalNotes(xenNum(abi.XEN_ELFNOTE_PADDR_OFFSET, 0))...).bytes(), ErrPaddrOffset},
		{"entry below the kernel", withNotes(minimalNotes(xenNum(abi.XEN_ELFNOTE_ENTRY, tText-1))...).bytes(), ErrBounds},
		{"entry above the kernel", withNotes(minimalNotes(xenNum(abi.XEN_ELFNOTE_ENTRY, tText+0x8001))...).bytes(), ErrBounds},
		{"virt_base above kstart", withNotes(minimalNotes(xenNum(abi.XEN_ELFNOTE_VIRT_BASE, tText+0x1000))...).bytes(), ErrBounds},
		{"e_entry outside without ENTRY", (&tELF{entry: 0x10, segs: append(linuxSegs(), notesSeg(minimalNotes()...))}).bytes(), ErrBounds},
		{"INIT_P2M inside the kernel", withNotes(minimalNotes(xenNum(abi.XEN_ELFNOTE_INIT_P2M, tText+0x7fff))...).bytes(), ErrP2MBase},
		{"numeric note of 3 bytes", withNotes(minimalNotes(note("Xen", abi.XEN_ELFNOTE_ENTRY, []byte{1, 2, 3}))...).bytes(), ErrXenNote},
		{"numeric note of 16 bytes", withNotes(minimalNotes(note("Xen", abi.XEN_ELFNOTE_VIRT_BASE, make([]byte, 16)))...).bytes(), ErrXenNote},
		{"L1_MFN_VALID of 8 bytes", withNotes(minimalNotes(note("Xen", abi.XEN_ELFNOTE_L1_MFN_VALID, make([]byte, 8)))...).bytes(), ErrXenNote},
		{"SUPPORTED_FEATURES of 2 bytes", withNotes(minimalNotes(note("Xen", abi.XEN_ELFNOTE_SUPPORTED_FEATURES, []byte{1, 8}))...).bytes(), ErrXenNote},
		{"legacy unknown required feature", (&tELF{entry: tText, segs: []tSeg{text},
			secs: []tSec{{"__xen_guest", elf.SHT_PROGBITS, []byte("LOADER=generic,XEN_VER=xen-3.0,FEATURES=!warp_drive")}}}).bytes(), ErrUnknownFeature},
		{"legacy BSD_SYMTAB", (&tELF{entry: tText, segs: []tSeg{text},
			secs: []tSec{{"__xen_guest", elf.SHT_PROGBITS, []byte("LOADER=generic,XEN_VER=xen-3.0,BSD_SYMTAB")}}}).bytes(), ErrBSDSymtab},
		{"legacy without XEN_VER", (&tELF{entry: tText, segs: []tSeg{text},
			secs: []tSec{{"__xen_guest", elf.SHT_PROGBITS, []byte("LOADER=generic")}}}).bytes(), ErrXenVersion},
		{"legacy ELF_PADDR_OFFSET without VIRT_BASE", (&tELF{entry: tText, segs: []tSeg{text},
			secs: []tSec{{"__xen_guest", elf.SHT_PROGBITS, []byte("LOADER=generic,XEN_VER=xen-3.0,ELF_PADDR_OFFSET=0")}}}).bytes(), ErrPaddrOffset},
		{"supported features note too short", withNotes(minimalNotes(note("Xen", abi.XEN_ELFNOTE_SUPPORTED_FEATURES, nil))...).bytes(), ErrXenNote},
		{"legacy without LOADER", (&tELF{entry: tText, segs: []tSeg{text},
			secs: []tSec{{"__xen_guest", elf.SHT_PROGBITS, le.AppendUint32([]byte("XEN_VER=xen-3.0,"), 0)}}}).bytes(), ErrLoader},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := Parse(tc.img)
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", k.Parms)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Parse: %v\nwant an error wrapping %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			t.Log(err)
		})
	}
}

func TestCheckDom0(t *testing.T) {
	le := binary.LittleEndian
	tests := []struct {
		name  string
		notes [][]byte
		want  error
	}{
		{"no SUPPORTED_FEATURES note", minimalNotes(), nil},
		{"SUPPORTED_FEATURES with dom0", minimalNotes(note("Xen", abi.XEN_ELFNOTE_SUPPORTED_FEATURES, le.AppendUint32(nil, 1<<11))), nil},
		{"dom0 from FEATURES counts", minimalNotes(xenStr(abi.XEN_ELFNOTE_FEATURES, "dom0"),
			note("Xen", abi.XEN_ELFNOTE_SUPPORTED_FEATURES, le.AppendUint32(nil, 1))), nil},
		{"SUPPORTED_FEATURES without dom0", minimalNotes(note("Xen", abi.XEN_ELFNOTE_SUPPORTED_FEATURES, le.AppendUint32(nil, 0x8001))), ErrNotDom0Capable},
		{"requires supervisor_mode_kernel", minimalNotes(xenStr(abi.XEN_ELFNOTE_FEATURES, "!supervisor_mode_kernel")), ErrSupervisorMode},
		{"supervisor_mode_kernel merely supported", minimalNotes(xenStr(abi.XEN_ELFNOTE_FEATURES, "supervisor_mode_kernel")), nil},
	}
	for _, tc := range tests {
		k, err := Parse(withNotes(tc.notes...).bytes())
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if err := k.CheckDom0(); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: CheckDom0 = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestParseFeatures(t *testing.T) {
	long := strings.Repeat("x", 70) + "dom0" // split at 63 bytes: "xxx...x" then "xxxxxxxdom0"
	tests := []struct {
		in       string
		sup, req uint32
		err      error
	}{
		{"", 0, 0, nil},
		{"|||", 0, 0, nil},
		{"dom0", 1 << 11, 0, nil},
		{"!dom0|!pae_pgdir_above_4gb", 1<<11 | 1<<4, 1<<11 | 1<<4, nil},
		{"writable_page_tables|writable_descriptor_tables|auto_translated_physmap|supervisor_mode_kernel|hvm_callback_vector", 0x10f, 0, nil},
		{"mmu_pt_update_preserve_ad", 0, 0, nil}, // not in libelf's table
		{"!", 0, 0, ErrUnknownFeature},
		{"!mmu_pt_update_preserve_ad", 0, 0, ErrUnknownFeature},
		{long, 0, 0, nil},
		{"dom0\x00", 0, 0, nil}, // the NUL is part of the token here: unknown, ignored
	}
	for _, tc := range tests {
		var sup, req [abi.XENFEAT_NR_SUBMAPS]uint32
		err := ParseFeatures(tc.in, &sup, &req)
		if !errors.Is(err, tc.err) || (tc.err == nil && (sup[0] != tc.sup || req[0] != tc.req)) {
			t.Errorf("ParseFeatures(%q) = %#x %#x %v; want %#x %#x %v", tc.in, sup[0], req[0], err, tc.sup, tc.req, tc.err)
		}
	}
}

func TestStrtoull(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
	}{
		{"", 0}, {"0", 0}, {"42", 42}, {"0x2a", 42}, {"0X2A", 42}, {"052", 42}, {"  +42", 42},
		{"42abc", 42}, {"0x", 0}, {"0xg", 0}, {"09", 0}, {"-1", ^uint64(0)}, {"abc", 0},
		{"0xffffffffffffffff", ^uint64(0)}, {"0x10000000000000000", ^uint64(0)}, {"99999999999999999999999", ^uint64(0)},
	}
	for _, tc := range tests {
		if got := strtoull(tc.in); got != tc.want {
			t.Errorf("strtoull(%q) = %#x, want %#x", tc.in, got, tc.want)
		}
	}
}

func TestNames(t *testing.T) {
	if NoteName(abi.XEN_ELFNOTE_ENTRY) != "ENTRY" || NoteName(abi.XEN_ELFNOTE_PHYS32_ENTRY) != "PHYS32_ENTRY" || NoteName(0) != "" || NoteName(1000) != "" {
		t.Error("NoteName")
	}
	for _, s := range []interface{ String() string }{CompressionNone, CompressionXZ, CompressionGzip, CompressionBzip2, Compression(9),
		NotesNone, NotesPhdr, NotesShdr, NotesLegacy, NoteSource(9)} {
		if s.String() == "" {
			t.Errorf("%#v has no name", s)
		}
	}
}

// bzImage wraps payload in a minimal bzImage: boot sector plus setupSects
// sectors of setup, the payload at payloadOffset into the protected-mode
// part.
func bzImage(payload []byte, version uint16, setupSects byte, payloadOffset uint32) []byte {
	sects := int(setupSects)
	if sects == 0 {
		sects = 4
	}
	pm := (sects + 1) * 512
	img := make([]byte, pm+int(payloadOffset))
	img[bzSetupSects] = setupSects
	copy(img[bzHeaderMagic:], "HdrS")
	binary.LittleEndian.PutUint16(img[bzVersion:], version)
	binary.LittleEndian.PutUint32(img[bzPayloadOffset:], payloadOffset)
	binary.LittleEndian.PutUint32(img[bzPayloadLength:], uint32(len(payload)))
	img = append(img, payload...)
	return append(img, "trailing setup data"...)
}

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// The compressed test kernels in testdata are linuxELF().bytes() compressed
// by the xz and bzip2 commands; TestRegenerateKernelVectors rebuilds them.
const (
	vectorXZ    = "kernel.elf.xz"  // xz --x86 --lzma2=dict=32MiB --check=crc32, plus Linux's size trailer
	vectorBzip2 = "kernel.elf.bz2" // bzip2 -9, plus Linux's size trailer
)

func TestRegenerateKernelVectors(t *testing.T) {
	if os.Getenv("GOHV_XZ_REGEN") != "1" {
		t.Skip("set GOHV_XZ_REGEN=1 to rebuild testdata with the xz and bzip2 commands")
	}
	plain := linuxELF().bytes()
	for _, v := range []struct {
		file string
		cmd  []string
	}{
		{vectorXZ, []string{"xz", "--format=xz", "--x86", "--lzma2=dict=32MiB", "--check=crc32", "--stdout"}},
		{vectorBzip2, []string{"bzip2", "-9", "--stdout"}},
	} {
		cmd := exec.Command(v.cmd[0], v.cmd[1:]...)
		cmd.Stdin = bytes.NewReader(plain)
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		out = binary.LittleEndian.AppendUint32(out, uint32(len(plain)))
		if err := os.WriteFile(filepath.Join("testdata", v.file), out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseKernelBzImage(t *testing.T) {
	plain := linuxELF().bytes()
	xzPayload := readTestdata(t, vectorXZ)
	bz2Payload := readTestdata(t, vectorBzip2)
	tests := []struct {
		name string
		img  []byte
		comp Compression
		bz   bool
	}{
		{"bzImage with ELF payload", bzImage(plain, 0x020f, 39, 0x2cc), CompressionNone, true},
		{"bzImage with xz payload", bzImage(xzPayload, 0x020f, 39, 0x2cc), CompressionXZ, true},
		{"bzImage with xz payload, no size trailer", bzImage(xzPayload[:len(xzPayload)-4], 0x020f, 39, 0), CompressionXZ, true},
		{"bzImage with xz payload and stream padding", bzImage(append(xzPayload[:len(xzPayload)-4:len(xzPayload)-4], 0, 0, 0, 0, 0, 0, 0, 0), 0x020f, 39, 0), CompressionXZ, true},
		{"bzImage with gzip payload", bzImage(gzipped(plain), 0x0208, 0, 16), CompressionGzip, true},
		{"bzImage with bzip2 payload", bzImage(bz2Payload, 0x020c, 4, 0), CompressionBzip2, true},
		{"bare xz", xzPayload, CompressionXZ, false},
		{"bare gzip", gzipped(plain), CompressionGzip, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := Parse(tc.img)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(k.ELF, plain) || k.Compression != tc.comp || k.BzImage != tc.bz {
				t.Fatalf("ELF equal %v, compression %v, bzImage %v", bytes.Equal(k.ELF, plain), k.Compression, k.BzImage)
			}
			if tc.bz && k.BootProtocol < 0x0208 {
				t.Errorf("BootProtocol %#x", k.BootProtocol)
			}
			if k.Parms.VirtEntry != tEntry {
				t.Errorf("VirtEntry %#x", k.Parms.VirtEntry)
			}
		})
	}
}

func TestParseKernelBzImageRefusals(t *testing.T) {
	plain := linuxELF().bytes()
	xzPayload := readTestdata(t, vectorXZ)
	badTrailer := append([]byte{}, xzPayload...)
	badTrailer[len(badTrailer)-1] ^= 1
	corruptXZ := append([]byte{}, xzPayload...)
	corruptXZ[len(corruptXZ)/2] ^= 0x40
	corruptGzip := gzipped(plain)
	corruptGzip[len(corruptGzip)-6] ^= 1 // in the CRC32 trailer
	outside := bzImage(plain, 0x020f, 39, 0)
	binary.LittleEndian.PutUint32(outside[bzPayloadLength:], uint32(len(plain)+1000))
	emptyPayload := bzImage(nil, 0x020f, 39, 0)

	tests := []struct {
		name  string
		img   []byte
		limit int
		want  error
	}{
		{"boot protocol 2.07", bzImage(plain, 0x0207, 39, 0), MaxSize, ErrBzImage},
		{"payload outside the image", outside, MaxSize, ErrBzImage},
		{"payload length 0", emptyPayload, MaxSize, ErrBzImage},
		{"unknown compression", bzImage([]byte("\x89LZO\x00data"), 0x020f, 39, 0), MaxSize, ErrCompression},
		{"xz size trailer mismatch", bzImage(badTrailer, 0x020f, 39, 0), MaxSize, ErrDecompress},
		{"bytes after the xz stream", bzImage(append(append([]byte{}, xzPayload...), 1, 2), 0x020f, 39, 0), MaxSize, ErrDecompress},
		{"corrupt xz", bzImage(corruptXZ, 0x020f, 39, 0), MaxSize, ErrDecompress},
		{"corrupt gzip", bzImage(corruptGzip, 0x020f, 39, 0), MaxSize, ErrDecompress},
		{"truncated bzip2", bzImage(readTestdata(t, vectorBzip2)[:100], 0x020f, 39, 0), MaxSize, ErrDecompress},
		{"xz above the limit (trailer)", bzImage(xzPayload, 0x020f, 39, 0), len(plain) - 1, ErrTooLarge},
		{"xz above the limit (stream)", bzImage(xzPayload[:len(xzPayload)-4], 0x020f, 39, 0), len(plain) - 1, ErrTooLarge},
		{"gzip above the limit", bzImage(gzipped(plain), 0x020f, 39, 0), len(plain) - 1, ErrTooLarge},
		{"ELF above the limit", plain, len(plain) - 1, ErrTooLarge},
		{"bzImage payload is garbage ELF", bzImage([]byte("\x7fELF garbage"), 0x020f, 39, 0), MaxSize, ErrELF},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseLimited(tc.img, tc.limit)
			if !errors.Is(err, tc.want) {
				t.Fatalf("parseLimited: %v\nwant an error wrapping %q", err, tc.want)
			}
			t.Log(err)
		})
	}
}

// kernelSentinels are every error Parse may wrap.
var kernelSentinels = []error{
	ErrFormat, ErrBzImage, ErrCompression, ErrDecompress, ErrTooLarge, ErrELF,
	ErrMachine, ErrNoSegments, ErrSegment, ErrNotXenELF, ErrXenNote, ErrUnknownFeature,
	ErrLoader, ErrXenVersion, ErrPaddrOffset, ErrBounds, ErrP2MBase, ErrBSDSymtab,
}

func FuzzParseKernel(f *testing.F) {
	plain := linuxELF().bytes()
	f.Add(plain)
	f.Add(withNotes(minimalNotes(xenNum(abi.XEN_ELFNOTE_HYPERCALL_PAGE, tText))...).bytes())
	f.Add((&tELF{entry: tText, segs: linuxSegs(), secs: []tSec{{"__xen_guest", elf.SHT_PROGBITS,
		[]byte("GUEST_OS=linux,XEN_VER=xen-3.0,VIRT_BASE=0x0,HYPERCALL_PAGE=0x1002,FEATURES=!dom0")}}}).bytes())
	f.Add(bzImage(readTestdata(f, vectorXZ), 0x020f, 1, 0))
	f.Add(bzImage(gzipped(plain), 0x020f, 1, 0))
	const limit = 4 << 20
	f.Fuzz(func(t *testing.T, img []byte) {
		k, err := parseLimited(img, limit)
		if err != nil {
			for _, s := range kernelSentinels {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("error wraps no sentinel: %v", err)
		}
		if len(k.ELF) > limit || len(k.Segments) == 0 {
			t.Fatalf("%d-byte ELF, %d segments", len(k.ELF), len(k.Segments))
		}
		p := &k.Parms
		if p.VirtEntry < p.VirtKStart || p.VirtEntry > p.VirtKEnd || p.VirtBase > p.VirtKStart || p.Source == NotesNone {
			t.Fatalf("accepted out-of-bounds parameters %+v", p)
		}
		for _, s := range k.Segments {
			if uint64(len(s.Data)) != s.Filesz || s.Filesz > s.Memsz || s.Dest != s.Paddr+p.VirtOffset {
				t.Fatalf("bad segment %+v", s)
			}
		}
		_ = k.CheckDom0()
	})
}
