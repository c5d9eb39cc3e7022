package kernel

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/kernel/internal/testvectors"
)

// The ELF writer and the Linux-like test kernel are package testvectors',
// shared with the generator of testdata.
type (
	tSeg = testvectors.Seg
	tSec = testvectors.Sec
	tELF = testvectors.ELF
)

const (
	tVirtBase = testvectors.VirtBase
	tText     = testvectors.Text
	tEntry    = testvectors.Entry
	tP2M      = testvectors.P2M
)

var (
	note       = testvectors.Note
	xenNum     = testvectors.XenNum
	xenStr     = testvectors.XenStr
	linuxNotes = testvectors.LinuxNotes
	linuxSegs  = testvectors.LinuxSegs
	notesSeg   = testvectors.NotesSeg
	linuxELF   = testvectors.LinuxELF
)

// withNotes is linuxELF with its notes replaced.
func withNotes(notes ...[]byte) *tELF {
	return &tELF{Entry: tText, Segs: append(linuxSegs(), notesSeg(notes...))}
}

// minimalNotes are the notes any PV kernel needs: generic loader, xen-3.0.
func minimalNotes(extra ...[]byte) [][]byte {
	return append([][]byte{
		xenStr(abi.XEN_ELFNOTE_LOADER, "generic"),
		xenStr(abi.XEN_ELFNOTE_XEN_VERSION, "xen-3.0"),
	}, extra...)
}

func TestParseKernelLinuxELF(t *testing.T) {
	img := linuxELF().Bytes()
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
		if s.Paddr != w.Paddr || s.Vaddr != w.Vaddr || s.Filesz != uint64(len(w.Data)) || s.Memsz != w.Memsz ||
			s.Flags != w.Flags || !bytes.Equal(s.Data, w.Data) || s.Dest != tVirtBase+w.Paddr {
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
		{"PADDR_OFFSET", &tELF{Entry: tText, Segs: []tSeg{
			// Old kernels put the VA in p_paddr and say so with PADDR_OFFSET.
			{Type: elf.PT_LOAD, Flags: elf.PF_R | elf.PF_X, Paddr: tVirtBase + tText, Vaddr: tVirtBase + tText, Data: []byte("text"), Memsz: 0x4000},
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
		{"SHT_NOTE section when no PT_NOTE", &tELF{Entry: tText, Segs: linuxSegs(),
			Secs: []tSec{{Name: ".note.xen", Type: elf.SHT_NOTE, Data: bytes.Join(minimalNotes(xenStr(abi.XEN_ELFNOTE_GUEST_OS, "sect")), nil)}}}, func(t *testing.T, p *DomParms) {
			if p.Source != NotesShdr || p.GuestOS != "sect" {
				t.Errorf("%v %q", p.Source, p.GuestOS)
			}
		}},
		{"PT_NOTE with p_offset 0 is skipped", &tELF{Entry: tText,
			Segs: append(linuxSegs(), tSeg{Type: elf.PT_NOTE, Data: bytes.Join(minimalNotes(), nil), OffZero: true}),
			Secs: []tSec{{Name: ".note.xen", Type: elf.SHT_NOTE, Data: bytes.Join(minimalNotes(xenStr(abi.XEN_ELFNOTE_GUEST_OS, "sect")), nil)}}}, func(t *testing.T, p *DomParms) {
			if p.Source != NotesShdr {
				t.Errorf("%v", p.Source)
			}
		}},
		{"PT_NOTE wins over SHT_NOTE", &tELF{Entry: tText,
			Segs: append(linuxSegs(), notesSeg(minimalNotes(xenStr(abi.XEN_ELFNOTE_GUEST_OS, "seg"))...)),
			Secs: []tSec{{Name: ".note.xen", Type: elf.SHT_NOTE, Data: bytes.Join(minimalNotes(xenStr(abi.XEN_ELFNOTE_GUEST_OS, "sect")), nil)}}}, func(t *testing.T, p *DomParms) {
			if p.Source != NotesPhdr || p.GuestOS != "seg" {
				t.Errorf("%v %q", p.Source, p.GuestOS)
			}
		}},
		{"legacy __xen_guest", &tELF{Entry: tVirtBase + tText + 0x10, Segs: []tSeg{
			// Legacy kernels put the VA in p_paddr; ELF_PADDR_OFFSET defaults to VIRT_BASE.
			{Type: elf.PT_LOAD, Flags: elf.PF_R | elf.PF_X, Paddr: tVirtBase + tText, Vaddr: tVirtBase + tText, Data: []byte("text"), Memsz: 0x4000},
		}, Secs: []tSec{{Name: "__xen_guest", Type: elf.SHT_PROGBITS, Data: []byte(
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
		{"legacy PAE=yes, VIRT_ENTRY, ELF_PADDR_OFFSET, decimal and octal", &tELF{Entry: 0, Segs: []tSeg{
			{Type: elf.PT_LOAD, Flags: elf.PF_R, Paddr: 0x100000, Data: []byte("t"), Memsz: 0x1000},
		}, Secs: []tSec{{Name: "__xen_guest", Type: elf.SHT_PROGBITS, Data: []byte(
			"XEN_VER=xen-3.0,LOADER=generic,PAE=yes,VIRT_BASE=010,ELF_PADDR_OFFSET=8,VIRT_ENTRY=1048576")}}}, func(t *testing.T, p *DomParms) {
			if p.PAE != XEN_PAE_YES || p.VirtBase != 8 || p.ElfPaddrOffset != 8 || p.VirtEntry != 0x100000 || p.VirtHypercall != UnsetAddr {
				t.Errorf("%+v", p)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := Parse(tc.elf.Bytes())
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
	seg := func(s tSeg) *tELF { return &tELF{Entry: tText, Segs: []tSeg{s, notesSeg(minimalNotes()...)}} }
	text := tSeg{Type: elf.PT_LOAD, Flags: elf.PF_R | elf.PF_X, Paddr: tText, Data: []byte("text"), Memsz: 0x1000}
	tests := []struct {
		name string
		img  []byte
		want error
	}{
		{"empty", nil, ErrFormat},
		{"garbage", []byte("MZ this is not a kernel"), ErrFormat},
		{"truncated ELF", linuxELF().Bytes()[:40], ErrELF},
		{"ELF32", (&tELF{Class: elf.ELFCLASS32}).Bytes(), ErrELF}, // a 64-bit layout with a 32-bit class byte
		{"big-endian", (&tELF{Order: elf.ELFDATA2MSB, Segs: linuxSegs()}).Bytes(), ErrMachine},
		{"i386", (&tELF{Machine: elf.EM_386, Segs: linuxSegs()}).Bytes(), ErrMachine},
		{"no segments", (&tELF{}).Bytes(), ErrNoSegments},
		{"PT_LOAD without R, W or X", seg(tSeg{Type: elf.PT_LOAD, Paddr: tText, Data: []byte("x")}).Bytes(), ErrNoSegments},
		{"filesz above memsz", seg(tSeg{Type: elf.PT_LOAD, Flags: elf.PF_R, Paddr: tText, Data: []byte("text"), Memsz: 2}).Bytes(), ErrSegment},
		{"file bytes outside the file", seg(tSeg{Type: elf.PT_LOAD, Flags: elf.PF_R, Paddr: tText, Data: []byte("t"), Filesz: 1 << 40, Memsz: 1 << 41}).Bytes(), ErrSegment},
		{"paddr overflow", seg(tSeg{Type: elf.PT_LOAD, Flags: elf.PF_R, Paddr: ^uint64(0) - 10, Data: []byte("t"), Memsz: 0x1000}).Bytes(), ErrSegment},
		{"span above 1 GiB", (&tELF{Entry: tText, Segs: []tSeg{text,
			{Type: elf.PT_LOAD, Flags: elf.PF_R, Paddr: tText + MaxSpan, Data: []byte("far"), Memsz: 0x1000},
			notesSeg(minimalNotes()...)}}).Bytes(), ErrTooLarge},
		{"no notes at all", (&tELF{Entry: tText, Segs: linuxSegs()}).Bytes(), ErrNotXenELF},
		{"only non-Xen notes", withNotes(note("GNU", 3, make([]byte, 20))).Bytes(), ErrNotXenELF},
		{"note overruns its segment", withNotes(append(xenStr(abi.XEN_ELFNOTE_LOADER, "generic"), 4, 0, 0, 0, 0xff, 0, 0, 0, 5, 0, 0, 0, 'X', 'e', 'n', 0)).Bytes(), ErrELF},
		{"note segment outside the file", (&tELF{Entry: tText, Segs: append(linuxSegs(), tSeg{Type: elf.PT_NOTE, Data: []byte("abcd"), Filesz: 1 << 20})}).Bytes(), ErrELF},
		{"LOADER and GUEST_OS wrong", withNotes(xenStr(abi.XEN_ELFNOTE_LOADER, "special"), xenStr(abi.XEN_ELFNOTE_GUEST_OS, "NetBSD"),
			xenStr(abi.XEN_ELFNOTE_XEN_VERSION, "xen-3.0")).Bytes(), ErrLoader},
		{"LOADER absent", withNotes(xenStr(abi.XEN_ELFNOTE_XEN_VERSION, "xen-3.0")).Bytes(), ErrLoader},
		{"XEN_VERSION wrong", withNotes(xenStr(abi.XEN_ELFNOTE_LOADER, "generic"), xenStr(abi.XEN_ELFNOTE_XEN_VERSION, "xen-2.0")).Bytes(), ErrXenVersion},
		{"XEN_VERSION absent", withNotes(xenStr(abi.XEN_ELFNOTE_LOADER, "generic")).Bytes(), ErrXenVersion},
		{"unknown required feature", withNotes(minimalNotes(xenStr(abi.XEN_ELFNOTE_FEATURES, "pae_pgdir_above_4gb|!gnttab_map_avail_bits"))...).Bytes(), ErrUnknownFeature},
		{"BSD_SYMTAB yes", withNotes(minimalNotes(xenStr(abi.XEN_ELFNOTE_BSD_SYMTAB, "yes"))...).Bytes(), ErrBSDSymtab},
		{"PADDR_OFFSET without VIRT_BASE", withNotes(minimalNotes(xenNum(abi.XEN_ELFNOTE_PADDR_OFFSET, 0))...).Bytes(), ErrPaddrOffset},
		{"entry below the kernel", withNotes(minimalNotes(xenNum(abi.XEN_ELFNOTE_ENTRY, tText-1))...).Bytes(), ErrBounds},
		{"entry above the kernel", withNotes(minimalNotes(xenNum(abi.XEN_ELFNOTE_ENTRY, tText+0x8001))...).Bytes(), ErrBounds},
		{"virt_base above kstart", withNotes(minimalNotes(xenNum(abi.XEN_ELFNOTE_VIRT_BASE, tText+0x1000))...).Bytes(), ErrBounds},
		{"e_entry outside without ENTRY", (&tELF{Entry: 0x10, Segs: append(linuxSegs(), notesSeg(minimalNotes()...))}).Bytes(), ErrBounds},
		{"INIT_P2M inside the kernel", withNotes(minimalNotes(xenNum(abi.XEN_ELFNOTE_INIT_P2M, tText+0x7fff))...).Bytes(), ErrP2MBase},
		{"numeric note of 3 bytes", withNotes(minimalNotes(note("Xen", abi.XEN_ELFNOTE_ENTRY, []byte{1, 2, 3}))...).Bytes(), ErrXenNote},
		{"numeric note of 16 bytes", withNotes(minimalNotes(note("Xen", abi.XEN_ELFNOTE_VIRT_BASE, make([]byte, 16)))...).Bytes(), ErrXenNote},
		{"L1_MFN_VALID of 8 bytes", withNotes(minimalNotes(note("Xen", abi.XEN_ELFNOTE_L1_MFN_VALID, make([]byte, 8)))...).Bytes(), ErrXenNote},
		{"SUPPORTED_FEATURES of 2 bytes", withNotes(minimalNotes(note("Xen", abi.XEN_ELFNOTE_SUPPORTED_FEATURES, []byte{1, 8}))...).Bytes(), ErrXenNote},
		{"legacy unknown required feature", (&tELF{Entry: tText, Segs: []tSeg{text},
			Secs: []tSec{{Name: "__xen_guest", Type: elf.SHT_PROGBITS, Data: []byte("LOADER=generic,XEN_VER=xen-3.0,FEATURES=!warp_drive")}}}).Bytes(), ErrUnknownFeature},
		{"legacy BSD_SYMTAB", (&tELF{Entry: tText, Segs: []tSeg{text},
			Secs: []tSec{{Name: "__xen_guest", Type: elf.SHT_PROGBITS, Data: []byte("LOADER=generic,XEN_VER=xen-3.0,BSD_SYMTAB")}}}).Bytes(), ErrBSDSymtab},
		{"legacy without XEN_VER", (&tELF{Entry: tText, Segs: []tSeg{text},
			Secs: []tSec{{Name: "__xen_guest", Type: elf.SHT_PROGBITS, Data: []byte("LOADER=generic")}}}).Bytes(), ErrXenVersion},
		{"legacy ELF_PADDR_OFFSET without VIRT_BASE", (&tELF{Entry: tText, Segs: []tSeg{text},
			Secs: []tSec{{Name: "__xen_guest", Type: elf.SHT_PROGBITS, Data: []byte("LOADER=generic,XEN_VER=xen-3.0,ELF_PADDR_OFFSET=0")}}}).Bytes(), ErrPaddrOffset},
		{"supported features note too short", withNotes(minimalNotes(note("Xen", abi.XEN_ELFNOTE_SUPPORTED_FEATURES, nil))...).Bytes(), ErrXenNote},
		{"legacy without LOADER", (&tELF{Entry: tText, Segs: []tSeg{text},
			Secs: []tSec{{Name: "__xen_guest", Type: elf.SHT_PROGBITS, Data: le.AppendUint32([]byte("XEN_VER=xen-3.0,"), 0)}}}).Bytes(), ErrLoader},
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
		k, err := Parse(withNotes(tc.notes...).Bytes())
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

// The compressed test kernels in testdata are linuxELF().Bytes() compressed
// by the xz and bzip2 commands (testvectors.WriteKernel, run by go generate).
const (
	vectorXZ    = testvectors.KernelXZ
	vectorBzip2 = testvectors.KernelBzip2
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseKernelBzImage(t *testing.T) {
	plain := linuxELF().Bytes()
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
	plain := linuxELF().Bytes()
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
	plain := linuxELF().Bytes()
	f.Add(plain)
	f.Add(withNotes(minimalNotes(xenNum(abi.XEN_ELFNOTE_HYPERCALL_PAGE, tText))...).Bytes())
	f.Add((&tELF{Entry: tText, Segs: linuxSegs(), Secs: []tSec{{Name: "__xen_guest", Type: elf.SHT_PROGBITS,
		Data: []byte("GUEST_OS=linux,XEN_VER=xen-3.0,VIRT_BASE=0x0,HYPERCALL_PAGE=0x1002,FEATURES=!dom0")}}}).Bytes())
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
