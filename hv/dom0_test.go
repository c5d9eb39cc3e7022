package hv

import (
	"bytes"
	"testing"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/kernel"
	"github.com/gohv/gohv/mm"
)

// testKernel is shaped like the test guests: linked at 1 MiB, VIRT_BASE 0,
// 36 KiB of image with a hypercall page at 0x101000.
func testKernel() *kernel.Image {
	code := bytes.Repeat([]byte{0x90}, 0x2000)
	return &kernel.Image{
		Segments: []kernel.Segment{{Paddr: 0x100000, Filesz: uint64(len(code)), Memsz: 0x9000, Dest: 0x100000, Data: code}},
		Parms: kernel.DomParms{VirtBase: 0, VirtKStart: 0x100000, VirtKEnd: 0x109000, VirtEntry: 0x100000,
			VirtHypercall: 0x101000, P2MBase: kernel.UnsetAddr, PAE: kernel.XEN_PAE_EXTCR3},
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
	if v.Regs.RIP != 0x100000 || v.Regs.RSP != l.Stack.VA+mm.PageSize || v.Regs.RSI != l.StartInfo.VA || v.Regs.CS != 0xe033 || v.Regs.SS != 0xe02b {
		t.Errorf("entry registers %+v", v.Regs)
	}
	g := &v.guest
	var si [1168]byte
	if !g.CopyFromGuest(si[:], mm.GuestVA(l.StartInfo.VA)) {
		t.Fatal("start_info not mapped")
	}
	le := func(b []byte) uint64 {
		var v uint64
		for i := 7; i >= 0; i-- {
			v = v<<8 | uint64(b[i])
		}
		return v
	}
	if string(si[:15]) != "xen-3.0-x86_64p" || le(si[32:]) != 2048 || le(si[88:]) != l.PageTables.VA || le(si[104:]) != l.P2M.VA ||
		le(si[40:]) != uint64(d.SharedInfo().Addr()) || si[48] != abi.SIF_PRIVILEGED|abi.SIF_INITDOMAIN || string(si[128:140]) != "console=hvc0" {
		t.Errorf("start_info % x", si[:160])
	}
	var p2m [8]byte
	g.CopyFromGuest(p2m[:], mm.GuestVA(l.P2M.VA+8*2000))
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
	if g.CopyToGuest(mm.GuestVA(l.PageTables.VA), []byte{1}) {
		t.Error("a page-table page is writable")
	}
	if !g.CopyToGuest(mm.GuestVA(l.Stack.VA), []byte{1}) {
		t.Error("the stack is not writable")
	}
	if pfn, _ := m.cfg.M2P.Get(mfns[1500]); pfn != 1500 {
		t.Errorf("m2p[%#x] = %d", mfns[1500], pfn)
	}
}
