package build

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/kernel"
	"github.com/gohv/gohv/mm"
)

// debianImage is Debian's Linux 6.1 vmlinux as its headers and notes describe it:
// four PT_LOAD segments (the percpu one has p_vaddr 0, irrelevant here),
// VIRT_BASE 0xffffffff80000000, ENTRY startup_xen, INIT_P2M 512 GiB,
// MOD_START_PFN, no hypercall page.
func debianImage() Image {
	return Image{
		Segments: []Segment{
			{PAddr: 0x1000000, MemSz: 0x18ea9f0},
			{PAddr: 0x2a00000, MemSz: 0x644000},
			{PAddr: 0x3044000, MemSz: 0x35000},
			{PAddr: 0x3079000, MemSz: 0x1987000},
		},
		Notes: Notes{
			VirtBase:    0xffffffff80000000,
			Entry:       0xffffffff830791c0,
			HasInitP2M:  true,
			InitP2M:     0x8000000000,
			ModStartPFN: true,
			PAE:         true,
		},
	}
}

// xtfImage is an XTF-like pv64 image: VIRT_BASE 0, linked at 1 MiB, a
// hypercall page note.
func xtfImage() Image {
	return Image{
		Segments: []Segment{
			{PAddr: 0x100000, MemSz: 0x12000, Data: []byte{0x90, 0x90, 0xf4}},
			{PAddr: 0x112000, MemSz: 0xe000, Data: []byte("data")},
		},
		Notes: Notes{Entry: 0x100000, HasHypercallPage: true, HypercallPage: 0x101000},
	}
}

// smallDom0Image is a small Linux-like dom0 kernel: 2 MiB at 16 MiB.
func smallDom0Image() Image {
	return Image{
		Segments: []Segment{{PAddr: 0x1000000, MemSz: 0x200000, Data: []byte{0xcc}}},
		Notes: Notes{
			VirtBase:    0xffffffff80000000,
			Entry:       0xffffffff81000000,
			ModStartPFN: true,
		},
	}
}

// checkLayout asserts the invariants every successful Plan must meet.
func checkLayout(t testing.TB, l *Layout) {
	t.Helper()
	els := l.Elements()
	sorted := append([]Element(nil), els...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].PFN < sorted[j].PFN })
	for i, e := range sorted {
		if uint64(e.End()) > l.NrPages || e.End() < e.PFN {
			t.Fatalf("%s [%#x, %#x) beyond %#x pages", e.Name, e.PFN, e.End(), l.NrPages)
		}
		if i > 0 && sorted[i-1].End() > e.PFN {
			t.Fatalf("%s [%#x, %#x) overlaps %s [%#x, %#x)", sorted[i-1].Name, sorted[i-1].PFN, sorted[i-1].End(), e.Name, e.PFN, e.End())
		}
		if e.Mapped && e.Name != "p2m" && e.VA != l.VStart+uint64(e.PFN)<<pageShift {
			t.Fatalf("%s at PFN %#x has VA %#x", e.Name, e.PFN, e.VA)
		}
	}
	region := uint64(l.VEnd-l.VStart) >> pageShift
	if l.VEnd%mib4 != 0 || l.Padding.End() != mm.PFN(region) {
		t.Fatalf("v_end %#x, padding ends at PFN %#x", l.VEnd, l.Padding.End())
	}
	if l.Kind == DomU && (l.VEnd-(l.Stack.VA+pageSize)) < kib512 {
		t.Fatalf("less than 512 KiB after the stack: v_end %#x stack %#x", l.VEnd, l.Stack.VA)
	}
	if got := regionTables(l.VStart, l.VEnd); got != l.PageTables.Pages {
		t.Fatalf("%d page tables planned, %d needed", l.PageTables.Pages, got)
	}
	if uint64(len(l.Tables)) != l.PageTables.Pages+l.P2MTables.Pages {
		t.Fatalf("%d tables listed, %d+%d planned", len(l.Tables), l.PageTables.Pages, l.P2MTables.Pages)
	}
	seen := map[[2]uint64]bool{}
	for i, tb := range l.Tables {
		k := [2]uint64{uint64(tb.Level), tb.VA}
		if seen[k] {
			t.Fatalf("table L%d %#x listed twice", tb.Level, tb.VA)
		}
		seen[k] = true
		if uint64(i) < l.PageTables.Pages {
			if tb.PFN != l.PageTables.PFN+mm.PFN(i) {
				t.Fatalf("table %d at PFN %#x", i, tb.PFN)
			}
		} else if tb.PFN != l.P2MTables.PFN+mm.PFN(uint64(i)-l.PageTables.Pages) {
			t.Fatalf("P2M table %d at PFN %#x", i, tb.PFN)
		}
	}
	if l.Tables[0].Level != 4 {
		t.Fatalf("first table is L%d", l.Tables[0].Level)
	}
	if l.P2M.Pages != pagesFor(l.NrPages*8) {
		t.Fatalf("P2M of %d pages for %d entries", l.P2M.Pages, l.NrPages)
	}
}

func TestPlanDebianDomU(t *testing.T) {
	l, err := Plan(Input{Kind: DomU, Image: debianImage(), NrPages: 131072})
	if err != nil {
		t.Fatal(err)
	}
	checkLayout(t, l)
	for _, c := range []struct {
		name      string
		got, want uint64
	}{
		{"kstart", l.KStart, 0xffffffff81000000},
		{"kend", l.KEnd, 0xffffffff84a00000},
		{"kernel PFN", uint64(l.Kernel.PFN), 0x1000},
		{"kernel end PFN", uint64(l.Kernel.End()), 0x4a00},
		{"kernel VA", l.Kernel.VA, 0xffffffff81000000},
		{"start_info PFN", uint64(l.StartInfo.PFN), 0x4a00},
		{"start_info VA", l.StartInfo.VA, 0xffffffff84a00000},
		{"xenstore PFN", uint64(l.XenStore.PFN), 0x4a01},
		{"console PFN", uint64(l.Console.PFN), 0x4a02},
		{"page tables PFN", uint64(l.PageTables.PFN), 0x4a03},
		{"page tables", l.PageTables.Pages, 41}, // 1 L4, 1 L3, 1 L2, 38 L1
		{"stack PFN", uint64(l.Stack.PFN), 0x4a03 + 41},
		{"v_end", l.VEnd, 0xffffffff84c00000},
		{"p2m PFN", uint64(l.P2M.PFN), 0x4c00},
		{"p2m pages", l.P2M.Pages, 256},
		{"p2m tables", l.P2MTables.Pages, 3},
		{"si.nr_pages", l.SI.NrPages, 131072},
		{"si.mfn_list", l.SI.MfnList, 0x8000000000},
		{"si.pt_base", l.SI.PtBase, 0xffffffff84a03000},
		{"si.nr_pt_frames", l.SI.NrPtFrames, 41},
		{"si.first_p2m_pfn", l.SI.FirstP2MPFN, 0x4c00},
		{"si.nr_p2m_frames", l.SI.NrP2MFrames, 259},
		{"si.flags", uint64(l.SI.Flags), 0},
		{"si.mod_start", l.SI.ModStart, 0},
		{"initrd pages", l.Initrd.Pages, 0},
	} {
		if c.got != c.want {
			t.Errorf("%s = %#x, want %#x", c.name, c.got, c.want)
		}
	}
	if l.SI.Magic != "xen-3.0-x86_64" {
		t.Errorf("magic %q", l.SI.Magic)
	}
	// Table order for the toolstack: L4, L3, L2, L1s; then the P2M's
	// L3, L2, L1.
	levels := ""
	for _, tb := range l.Tables {
		levels += fmt.Sprint(tb.Level)
	}
	want := "432" + repeat("1", 38) + "321"
	if levels != want {
		t.Errorf("table levels %s, want %s", levels, want)
	}
}

func repeat(s string, n int) string {
	out := ""
	for i := 0; i < n; i++ {
		out += s
	}
	return out
}

func TestPlanXTF(t *testing.T) {
	l, err := Plan(Input{Kind: DomU, Image: xtfImage(), NrPages: 2048})
	if err != nil {
		t.Fatal(err)
	}
	checkLayout(t, l)
	for _, c := range []struct {
		name      string
		got, want uint64
	}{
		{"low pages", l.Low.Pages, 0x100},
		{"kernel PFN", uint64(l.Kernel.PFN), 0x100},
		{"kernel pages", l.Kernel.Pages, 0x20},
		{"p2m PFN", uint64(l.P2M.PFN), 0x120},
		{"p2m pages", l.P2M.Pages, 4},
		{"p2m VA", l.P2M.VA, 0x120000},
		{"start_info", uint64(l.StartInfo.PFN), 0x124},
		{"xenstore", uint64(l.XenStore.PFN), 0x125},
		{"console", uint64(l.Console.PFN), 0x126},
		{"page tables", uint64(l.PageTables.PFN), 0x127},
		{"nr_pt", l.PageTables.Pages, 5},
		{"stack", uint64(l.Stack.PFN), 0x12c},
		{"v_end", l.VEnd, 0x400000},
		{"hypercall page", l.HypercallPage, 0x101000},
		{"si.mfn_list", l.SI.MfnList, 0x120000},
		{"si.first_p2m_pfn", l.SI.FirstP2MPFN, 0},
		{"si.nr_p2m_frames", l.SI.NrP2MFrames, 0},
	} {
		if c.got != c.want {
			t.Errorf("%s = %#x, want %#x", c.name, c.got, c.want)
		}
	}
	if !l.HasHypercallPage {
		t.Error("no hypercall page")
	}
}

func TestPlanSmallDom0(t *testing.T) {
	const initrdLen = 0x12345 // 19 pages
	l, err := Plan(Input{Kind: Dom0, Image: smallDom0Image(), NrPages: 16384, InitrdLen: initrdLen, ExtraFlags: 0x300})
	if err != nil {
		t.Fatal(err)
	}
	checkLayout(t, l)
	for _, c := range []struct {
		name      string
		got, want uint64
	}{
		{"p2m PFN", uint64(l.P2M.PFN), 0x1200},
		{"p2m pages", l.P2M.Pages, 32},
		{"start_info", uint64(l.StartInfo.PFN), 0x1220},
		{"xenstore pages", l.XenStore.Pages, 0},
		{"console pages", l.Console.Pages, 0},
		{"page tables", uint64(l.PageTables.PFN), 0x1221},
		{"nr_pt", l.PageTables.Pages, 13}, // L4, L3, L2, 10 L1s
		{"stack", uint64(l.Stack.PFN), 0x122e},
		{"v_end", l.VEnd, 0xffffffff81400000},
		{"initrd PFN", uint64(l.Initrd.PFN), 0x1400},
		{"initrd pages", l.Initrd.Pages, 19},
		{"si.flags", uint64(l.SI.Flags), abi.SIF_PRIVILEGED | abi.SIF_INITDOMAIN | abi.SIF_MOD_START_PFN | 0x300},
		{"si.mod_start", l.SI.ModStart, 0x1400},
		{"si.mod_len", l.SI.ModLen, initrdLen},
		{"si.first_p2m_pfn", l.SI.FirstP2MPFN, 0x1413},
		{"si.nr_p2m_frames", l.SI.NrP2MFrames, 0},
	} {
		if c.got != c.want {
			t.Errorf("%s = %#x, want %#x", c.name, c.got, c.want)
		}
	}
	if l.Initrd.Mapped {
		t.Error("MOD_START_PFN initrd is mapped")
	}
	// Xen's dom0 order: L4, L1, L2, L3, then the other L1s.
	levels := ""
	for _, tb := range l.Tables {
		levels += fmt.Sprint(tb.Level)
	}
	if want := "4123" + repeat("1", 9); levels != want {
		t.Errorf("table levels %s, want %s", levels, want)
	}
}

func TestPlanVariants(t *testing.T) {
	mapped := smallDom0Image()
	mapped.Notes.ModStartPFN = false
	noP2M := debianImage()
	noP2M.Notes.HasInitP2M = false
	highP2M := debianImage()
	highP2M.Notes.InitP2M = 0xffffffffc0000000 // above VIRT_BASE: ignored by the toolstack
	unaligned := debianImage()
	unaligned.Notes.InitP2M = 0x8000000800

	t.Run("domU mapped initrd", func(t *testing.T) {
		l, err := Plan(Input{Kind: DomU, Image: mapped, NrPages: 16384, InitrdLen: 5000})
		if err != nil {
			t.Fatal(err)
		}
		checkLayout(t, l)
		if !l.Initrd.Mapped || l.Initrd.PFN != 0x1200 || l.Initrd.Pages != 2 || l.SI.ModStart != l.Initrd.VA ||
			l.SI.ModLen != 8192 || l.SI.Flags != 0 || l.P2M.PFN != 0x1202 {
			t.Errorf("initrd %+v si %+v p2m %+v", l.Initrd, l.SI, l.P2M)
		}
	})
	t.Run("dom0 mapped initrd", func(t *testing.T) {
		l, err := Plan(Input{Kind: Dom0, Image: mapped, NrPages: 16384, InitrdLen: 5000})
		if err != nil {
			t.Fatal(err)
		}
		checkLayout(t, l)
		if l.SI.ModLen != 5000 || l.SI.Flags != abi.SIF_PRIVILEGED|abi.SIF_INITDOMAIN || l.SI.ModStart != 0xffffffff81200000 {
			t.Errorf("si %+v", l.SI)
		}
	})
	t.Run("domU P2M in region", func(t *testing.T) {
		l, err := Plan(Input{Kind: DomU, Image: noP2M, NrPages: 131072})
		if err != nil {
			t.Fatal(err)
		}
		checkLayout(t, l)
		if l.P2M.PFN != 0x4a00 || l.SI.MfnList != 0xffffffff84a00000 || l.StartInfo.PFN != 0x4b00 || l.SI.NrP2MFrames != 0 {
			t.Errorf("p2m %+v start_info %+v", l.P2M, l.StartInfo)
		}
	})
	for _, img := range []Image{highP2M, unaligned} {
		l, err := Plan(Input{Kind: DomU, Image: img, NrPages: 131072})
		if err != nil {
			t.Fatal(err)
		}
		checkLayout(t, l)
		if l.P2M.VA != l.VStart+uint64(l.P2M.PFN)<<pageShift || len(l.Mappings) != 1 {
			t.Errorf("INIT_P2M %#x not ignored: p2m %+v", img.Notes.InitP2M, l.P2M)
		}
	}
	t.Run("dom0 debian", func(t *testing.T) {
		l, err := Plan(Input{Kind: Dom0, Image: debianImage(), NrPages: 131072, InitrdLen: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		checkLayout(t, l)
		// start_info right after the kernel, 2+38 tables... v_end 84c00000.
		if l.StartInfo.PFN != 0x4a00 || l.VEnd != 0xffffffff84c00000 || l.Initrd.PFN != 0x4c00 ||
			l.P2M.PFN != 0x4d00 || l.SI.FirstP2MPFN != 0x4d00 || l.SI.NrP2MFrames != 259 {
			t.Errorf("layout %+v", l)
		}
		if l.SI.Magic != "xen-3.0-x86_64p" {
			t.Errorf("dom0 magic with PAE %q", l.SI.Magic)
		}
	})
}

func TestPlanErrors(t *testing.T) {
	deb := debianImage()
	entryOut := debianImage()
	entryOut.Notes.Entry = 0xffffffff80000000
	baseAbove := debianImage()
	baseAbove.Notes.VirtBase = 0xffffffff82000000
	baseAbove.Notes.PaddrOffset = 0x2000000
	hcOut := xtfImage()
	hcOut.Notes.HypercallPage = 0x500000
	dom0P2MUnaligned := debianImage()
	dom0P2MUnaligned.Notes.InitP2M = 0x8000000008
	dom0P2MOverlap := debianImage()
	dom0P2MOverlap.Notes.InitP2M = 0xffffffff84a00000
	hole := Image{Segments: []Segment{{PAddr: 0, MemSz: 0x1000}},
		Notes: Notes{VirtBase: 0xffff800000000000, Entry: 0xffff800000000000}}
	wrap := Image{Segments: []Segment{{PAddr: 0, MemSz: 0x1000}},
		Notes: Notes{VirtBase: 0xffffffffffc00000, Entry: 0xffffffffffc00000}}
	overflow := Image{Segments: []Segment{{PAddr: 0xfffffffffffff000, MemSz: 0x2000}}}
	dataBig := Image{Segments: []Segment{{PAddr: 0, MemSz: 1, Data: []byte{1, 2}}}}
	unalignedBase := xtfImage()
	unalignedBase.Notes.VirtBase = 0x10
	for _, c := range []struct {
		name string
		in   Input
		want error
	}{
		{"zero pages", Input{Image: deb}, ErrInput},
		{"too many pages", Input{Image: deb, NrPages: MaxNrPages + 1}, ErrInput},
		{"bad kind", Input{Kind: 7, Image: deb, NrPages: 131072}, ErrInput},
		{"flag", Input{Image: deb, NrPages: 131072, ExtraFlags: abi.SIF_MOD_START_PFN}, ErrInput},
		{"initrd too big", Input{Image: deb, NrPages: 131072, InitrdLen: MaxInitrdLen + 1}, ErrInput},
		{"no segments", Input{NrPages: 131072}, ErrImage},
		{"entry outside", Input{Image: entryOut, NrPages: 131072}, ErrImage},
		{"virt_base above kstart", Input{Image: baseAbove, NrPages: 131072}, ErrImage},
		{"unaligned base", Input{Image: unalignedBase, NrPages: 2048}, ErrImage},
		{"segment overflow", Input{Image: overflow, NrPages: 2048}, ErrImage},
		{"file bytes above memsz", Input{Image: dataBig, NrPages: 2048}, ErrImage},
		{"kernel larger than memory", Input{Image: deb, NrPages: 0x4000}, ErrTooBig},
		// 0x4a03 pages end the magic pages; the region needs 0x4c00.
		{"region larger than memory", Input{Image: deb, NrPages: 0x4bff}, ErrTooBig},
		// 0x4c00 region pages, 39 list pages and 3 tables need 19498 pages.
		{"P2M area does not fit", Input{Image: deb, NrPages: 19497}, ErrTooBig},
		{"initrd does not fit", Input{Image: deb, NrPages: 0x4c00 + 300, InitrdLen: 100 << 20}, ErrTooBig},
		{"hypercall page outside", Input{Image: hcOut, NrPages: 2048}, ErrAddress},
		{"dom0 INIT_P2M unaligned", Input{Kind: Dom0, Image: dom0P2MUnaligned, NrPages: 131072}, ErrAddress},
		{"dom0 INIT_P2M overlaps", Input{Kind: Dom0, Image: dom0P2MOverlap, NrPages: 131072}, ErrAddress},
		{"hypervisor hole", Input{Image: hole, NrPages: 2048}, ErrAddress},
		{"wraps", Input{Image: wrap, NrPages: 2048}, ErrTooBig},
	} {
		t.Run(c.name, func(t *testing.T) {
			l, err := Plan(c.in)
			if !errors.Is(err, c.want) {
				t.Fatalf("Plan = %v, %v; want %v", l, err, c.want)
			}
		})
	}
	// Boundary: exactly enough pages for the Debian domU.
	if l, err := Plan(Input{Image: deb, NrPages: 19498}); err != nil {
		t.Errorf("exact fit: %v", err)
	} else {
		checkLayout(t, l)
	}
}

func TestImageFromKernel(t *testing.T) {
	k := &kernel.Image{
		Segments: []kernel.Segment{{Paddr: 0x1000000, Vaddr: 0xffffffff81000000, Filesz: 2, Memsz: 0x1000, Data: []byte{1, 2}}},
		Parms: kernel.DomParms{VirtBase: 0xffffffff80000000, ElfPaddrOffset: 0, VirtEntry: 0xffffffff81000000,
			VirtHypercall: kernel.UnsetAddr, P2MBase: 0x8000000000, UnmappedInitrd: true, PAE: kernel.XEN_PAE_EXTCR3},
	}
	img := ImageFromKernel(k)
	want := Notes{VirtBase: 0xffffffff80000000, Entry: 0xffffffff81000000, HasInitP2M: true, InitP2M: 0x8000000000,
		ModStartPFN: true, PAE: true}
	if img.Notes != want || len(img.Segments) != 1 || img.Segments[0].PAddr != 0x1000000 ||
		img.Segments[0].MemSz != 0x1000 || len(img.Segments[0].Data) != 2 {
		t.Errorf("image %+v", img)
	}
	k.Parms.VirtHypercall, k.Parms.P2MBase, k.Parms.PAE = 0xffffffff81000000, kernel.UnsetAddr, kernel.XEN_PAE_NO
	img = ImageFromKernel(k)
	if !img.Notes.HasHypercallPage || img.Notes.HypercallPage != 0xffffffff81000000 || img.Notes.HasInitP2M ||
		img.Notes.InitP2M != 0 || img.Notes.PAE {
		t.Errorf("notes %+v", img.Notes)
	}
	if DomU.String() != "domU" || Dom0.String() != "dom0" || Kind(9).String() != "Kind(9)" {
		t.Error("Kind.String")
	}
}

func TestLines(t *testing.T) {
	l, err := Plan(Input{Kind: Dom0, Image: debianImage(), NrPages: 131072})
	if err != nil {
		t.Fatal(err)
	}
	got := l.Lines()
	want := []string{
		"VIRTUAL MEMORY ARRANGEMENT:",
		" Loaded kernel: ffffffff81000000->ffffffff84a00000",
		" Init. ramdisk: 0000000000000000->0000000000000000",
		" Phys-Mach map: 0000008000000000->0000008000100000",
		" Start info:    ffffffff84a00000->ffffffff84a004b8",
		" Page tables:   ffffffff84a01000->ffffffff84a2a000",
		" Boot stack:    ffffffff84a2a000->ffffffff84a2b000",
		" TOTAL:         ffffffff80000000->ffffffff84c00000",
		" ENTRY ADDRESS: ffffffff830791c0",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
