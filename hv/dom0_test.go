package hv

import (
	"bytes"
	"testing"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/boot"
	"github.com/gohv/gohv/mm"
)

// testKernel is shaped like the test guests: linked at 1 MiB, VIRT_BASE 0,
// 36 KiB of image with a hypercall page at 0x101000.
func testKernel() *boot.Kernel {
	code := bytes.Repeat([]byte{0x90}, 0x2000)
	return &boot.Kernel{
		Segments: []boot.Segment{{Paddr: 0x100000, Filesz: uint64(len(code)), Memsz: 0x9000, Dest: 0x100000, Data: code}},
		Parms: boot.DomParms{VirtBase: 0, VirtKStart: 0x100000, VirtKEnd: 0x109000, VirtEntry: 0x100000,
			VirtHypercall: 0x101000, P2MBase: boot.UnsetAddr, PAE: boot.XEN_PAE_EXTCR3},
	}
}

// TestPlanDom0MatchesXen: for the test guests with dom0_mem=64M, Xen 4.17
// printed exactly this layout (tests/guests, "VIRTUAL MEMORY ARRANGEMENT").
func TestPlanDom0MatchesXen(t *testing.T) {
	l, err := PlanDom0(testKernel(), 16384)
	if err != nil {
		t.Fatal(err)
	}
	want := Dom0Layout{VStart: 0, KStart: 0x100000, KEnd: 0x109000, P2M: 0x109000, StartInfo: 0x129000,
		PT: 0x12a000, NrPT: 5, Stack: 0x12f000, VEnd: 0x400000, p2mPages: 32}
	if *l != want {
		t.Errorf("layout %+v\nwant   %+v", *l, want)
	}
	// A region that ends within 512 KiB of a 4 MiB boundary gets 4 MiB more,
	// and a region too big for the domain is refused.
	if l, _ := PlanDom0(testKernel(), (0x400000-0x12f000-0x1000)/8+0x1000); l == nil || l.VEnd != 0x800000 {
		t.Errorf("near the boundary: %+v", l)
	}
	if _, err := PlanDom0(testKernel(), 512); err == nil {
		t.Error("a 2 MiB domain took a 4 MiB region")
	}
}

// TestPlanDom0LinuxDomU: the R0.4 worked example (Debian 6.1, 512 MiB,
// INIT_P2M at 0x8000000000), with the dom0 order (no xenstore/console
// pages): kernel 0x1000-0x49ff, start_info right after, ~41 page-table
// frames, v_end 0xffffffff84c00000, a P2M of 256 pages plus 3 tables.
func TestPlanDom0LinuxDomU(t *testing.T) {
	k := &boot.Kernel{Parms: boot.DomParms{VirtBase: 0xffffffff80000000, VirtKStart: 0xffffffff81000000,
		VirtKEnd: 0xffffffff84a00000, VirtEntry: 0xffffffff830791c0, VirtHypercall: boot.UnsetAddr, P2MBase: 0x8000000000}}
	l, err := PlanDom0(k, 131072)
	if err != nil {
		t.Fatal(err)
	}
	if l.StartInfo != 0xffffffff84a00000 || l.PT != 0xffffffff84a01000 || l.NrPT != 41 || l.VEnd != 0xffffffff84c00000 ||
		!l.InitP2M || l.P2M != 0x8000000000 || l.NrP2MFrames != 259 || l.FirstP2MPFN != (0xffffffff84c00000-0xffffffff80000000)>>12 {
		t.Errorf("layout %+v", *l)
	}
}

// TestBuildDom0: the built domain validates (its L4 pins), and through its
// own page tables the guest sees its kernel, start_info, P2M, the hypercall
// page, and read-only page tables.
func TestBuildDom0(t *testing.T) {
	m, d, _, _, _ := testGuest(t, true)
	d.VCPU(0).tables = mm.VCPUTables{} // testGuest pinned tables of its own; start afresh
	var mfns []mm.MFN
	for i := 0; i < 2048; i++ {
		f, ok := m.cfg.Alloc.Alloc()
		if !ok {
			t.Fatal("out of frames")
		}
		m.cfg.Frames.Assign(f, 0)
		mfns = append(mfns, f)
	}
	// Frames out of order, as Xen's debug builds hand them out.
	for i, j := 1024, len(mfns)-1; i < j; i, j = i+1, j-1 {
		mfns[i], mfns[j] = mfns[j], mfns[i]
	}
	l, err := d.BuildDom0(testKernel(), mfns, "console=hvc0")
	if err != nil {
		t.Fatal(err)
	}
	v := d.VCPU(0)
	if v.Regs.RIP != 0x100000 || v.Regs.RSP != l.Stack+mm.PageSize || v.Regs.RSI != l.StartInfo || v.Regs.CS != 0xe033 || v.Regs.SS != 0xe02b {
		t.Errorf("entry registers %+v", v.Regs)
	}
	g := &v.guest
	var si [1168]byte
	if !g.CopyFromGuest(si[:], mm.GuestVA(l.StartInfo)) {
		t.Fatal("start_info not mapped")
	}
	le := func(b []byte) uint64 {
		var v uint64
		for i := 7; i >= 0; i-- {
			v = v<<8 | uint64(b[i])
		}
		return v
	}
	if string(si[:15]) != "xen-3.0-x86_64p" || le(si[32:]) != 2048 || le(si[88:]) != l.PT || le(si[104:]) != l.P2M ||
		le(si[40:]) != uint64(d.SharedInfo().Addr()) || si[48] != abi.SIF_PRIVILEGED|abi.SIF_INITDOMAIN || string(si[128:140]) != "console=hvc0" {
		t.Errorf("start_info % x", si[:160])
	}
	var p2m [8]byte
	g.CopyFromGuest(p2m[:], mm.GuestVA(l.P2M+8*2000))
	if mm.MFN(le(p2m[:])) != mfns[2000] {
		t.Errorf("p2m[2000] = %#x, want %#x", le(p2m[:]), mfns[2000])
	}
	var hc [3]byte
	g.CopyFromGuest(hc[:], 0x101000+32*17)
	if hc != [3]byte{0x51, 0x41, 0x53} {
		t.Errorf("hypercall stub 17 % x", hc)
	}
	var code [1]byte
	if !g.CopyFromGuest(code[:], 0x100000) || code[0] != 0x90 {
		t.Errorf("kernel text %x", code)
	}
	if g.CopyToGuest(mm.GuestVA(l.PT), []byte{1}) {
		t.Error("a page-table page is writable")
	}
	if !g.CopyToGuest(mm.GuestVA(l.Stack), []byte{1}) {
		t.Error("the stack is not writable")
	}
	if pfn, _ := m.cfg.M2P.Get(mfns[1500]); pfn != 1500 {
		t.Errorf("m2p[%#x] = %d", mfns[1500], pfn)
	}
}
