//go:build !race

// The real-kernel tests decode a whole Debian kernel: `make test` runs
// them in its plain pass; its race pass (pure packages under -race) leaves
// them out, as they start no goroutines.

package build

import (
	"bytes"
	"testing"

	"github.com/gohv/gohv/internal/testenv"
	"github.com/gohv/gohv/kernel"
	"github.com/gohv/gohv/mm"
	"github.com/gohv/gohv/mm/mmtest"
)

// realImage reads the file the environment variable env names. When env is
// unset the test skips, unless GOHV_REQUIRE=1 or CI=true (make test sets
// GOHV_REQUIRE), where it fails (internal/testenv).
func realImage(t *testing.T, env string) []byte {
	t.Helper()
	return testenv.ReadEnvFile(t, env, "`make test` sets it from scripts/fetch-*.sh")
}

// tablesFor counts the page tables of the levels whose one table maps
// 1<<shift bytes (39: L3s, 30: L2s, 21: L1s) needed for [start, end).
func tablesFor(start, end uint64, shifts ...uint) uint64 {
	n := uint64(0)
	for _, s := range shifts {
		n += (end-1)>>s - start>>s + 1
	}
	return n
}

// TestDebianKernel lays out the Debian Linux bzImage named by GOHV_VMLINUZ
// (kernel's TestParseKernelDebian checks Parse against the image) as a
// 512 MiB domU without an initrd, and compares the layout with the one
// Xen's toolstack (tools/libs/guest/xg_dom_x86.c, alloc_pgtables_pv and the
// INIT_P2M mapping) would make for the image's segments and notes, computed
// here step by step. Then it builds the kernel into a smaller domain and
// checks the segments landed.
func TestDebianKernel(t *testing.T) {
	k, err := kernel.Parse(realImage(t, "GOHV_VMLINUZ"))
	if err != nil {
		t.Fatal(err)
	}
	img := ImageFromKernel(k)
	const nrPages uint64 = 131072
	l, err := Plan(Input{Kind: DomU, Image: img, NrPages: nrPages})
	if err != nil {
		t.Fatal(err)
	}
	checkLayout(t, l)

	p := &k.Parms
	if p.P2MBase == kernel.UnsetAddr || p.P2MBase >= p.VirtBase {
		t.Fatalf("INIT_P2M %#x: this test computes the layout of a kernel with an INIT_P2M below VIRT_BASE %#x", p.P2MBase, p.VirtBase)
	}
	// The region starts at VIRT_BASE; the kernel's pages come first, then
	// start_info, xenstore, console; then the page tables, sized so that
	// they, the boot stack and 512 KiB fit below the end of the 4 MiB block
	// the region ends in.
	vstart := p.VirtBase
	kpfn := (p.VirtKStart - vstart) >> 12
	kend := (p.VirtKEnd - vstart + 0xfff) >> 12
	si := kend
	ptPFN := si + 3
	ptVA := vstart + ptPFN<<12
	const extra = 1 + (512<<10)>>12
	var nrPT, vend uint64
	for pages := uint64(extra); ; {
		try := (ptVA + pages<<12) | (4<<20 - 1) + 1
		nrPT = 1 + tablesFor(vstart, try, 39, 30, 21)
		pages = nrPT + extra
		if ptVA+pages<<12 <= try {
			vend = try
			break
		}
	}
	// The P2M list goes above the region and is mapped at INIT_P2M by
	// tables of its own (an L3, L2s and L1s under a separate L4 slot).
	p2mPages := (nrPages*8 + 0xfff) >> 12
	p2mEnd := p.P2MBase + p2mPages<<12
	if p.P2MBase>>39 == vstart>>39 || (p2mEnd-1)>>39 == vstart>>39 {
		t.Fatalf("INIT_P2M %#x shares an L4 slot with the region: this test's arithmetic does not cover that", p.P2MBase)
	}
	p2mTables := tablesFor(p.P2MBase, p2mEnd, 39, 30, 21)
	p2mPFN := (vend - vstart) >> 12
	t.Logf("from the image: kernel PFNs %#x-%#x, %d page tables at PFN %#x, v_end %#x, P2M of %d pages + %d tables at PFN %#x",
		kpfn, kend, nrPT, ptPFN, vend, p2mPages, p2mTables, p2mPFN)

	for _, c := range []struct {
		name      string
		got, want uint64
	}{
		{"kstart", l.KStart, p.VirtKStart},
		{"kend", l.KEnd, p.VirtKEnd},
		{"entry", l.Entry, p.VirtEntry},
		{"kernel PFN", uint64(l.Kernel.PFN), kpfn},
		{"kernel end PFN", uint64(l.Kernel.End()), kend},
		{"start_info PFN", uint64(l.StartInfo.PFN), si},
		{"xenstore PFN", uint64(l.XenStore.PFN), si + 1},
		{"console PFN", uint64(l.Console.PFN), si + 2},
		{"page tables PFN", uint64(l.PageTables.PFN), ptPFN},
		{"page tables", l.PageTables.Pages, nrPT},
		{"stack PFN", uint64(l.Stack.PFN), ptPFN + nrPT},
		{"v_end", l.VEnd, vend},
		{"p2m PFN", uint64(l.P2M.PFN), p2mPFN},
		{"p2m pages", l.P2M.Pages, p2mPages},
		{"p2m tables", l.P2MTables.Pages, p2mTables},
		{"si.mfn_list", l.SI.MfnList, p.P2MBase},
		{"si.pt_base", l.SI.PtBase, ptVA},
		{"si.nr_pt_frames", l.SI.NrPtFrames, nrPT},
		{"si.first_p2m_pfn", l.SI.FirstP2MPFN, p2mPFN},
		{"si.nr_p2m_frames", l.SI.NrP2MFrames, p2mPages + p2mTables},
	} {
		if c.got != c.want {
			t.Errorf("%s = %#x, the image gives %#x", c.name, c.got, c.want)
		}
	}
	if l.HasHypercallPage != (p.VirtHypercall != kernel.UnsetAddr) {
		t.Errorf("HasHypercallPage %v, HYPERCALL_PAGE %#x", l.HasHypercallPage, p.VirtHypercall)
	}
	if _, err := Plan(Input{Kind: Dom0, Image: img, NrPages: nrPages, InitrdLen: 20 << 20}); err != nil {
		t.Errorf("dom0: %v", err)
	}

	// A domain 8 MiB larger than the kernel's end: room for the page
	// tables, the stack, the padding to 4 MiB and a P2M of a few pages.
	n := int(kend) + 0x800
	l, err = Plan(Input{Kind: DomU, Image: img, NrPages: uint64(n)})
	if err != nil {
		t.Fatal(err)
	}
	mem := mmtest.NewMemory(n + 0x100)
	mfns := shuffled(n, 0x100, 7)
	r, err := Build(l, mem, mfns, Contents{CmdLine: "console=hvc0"})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range k.Segments {
		if len(s.Data) == 0 {
			continue
		}
		for _, off := range []uint64{0, uint64(len(s.Data)) / 2, uint64(len(s.Data)) - 1} {
			va := s.Dest + off
			e, _, ok := walk(t, mem, r.CR3, va)
			if !ok {
				t.Fatalf("VA %#x unmapped", va)
			}
			var b [1]byte
			mem.Read(mm.Maddr(e&pteAddr)+mm.Maddr(va&0xfff), b[:])
			if !bytes.Equal(b[:], s.Data[off:off+1]) {
				t.Errorf("segment %#x byte %#x differs", s.Paddr, off)
			}
		}
	}
}
