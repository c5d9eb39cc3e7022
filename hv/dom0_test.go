package hv

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/hv/build"
	"github.com/gohv/gohv/kernel"
	"github.com/gohv/gohv/mm"
	"github.com/gohv/gohv/mm/mmtest"
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

// testKernelELF is testKernel as an ELF file: its 8 KiB of code (with
// E8/E9 bytes, varied) at paddr 0x100000, 36 KiB in memory, and the Xen
// notes in a PT_NOTE segment.
func testKernelELF() []byte {
	le := binary.LittleEndian
	code := make([]byte, 0x2000)
	for i := range code {
		code[i] = byte(i*7 + i>>8)
		if i%61 == 0 {
			code[i] = 0xe8
		}
	}
	var notes []byte
	note := func(typ uint32, desc []byte) {
		notes = le.AppendUint32(notes, 4)
		notes = le.AppendUint32(notes, uint32(len(desc)))
		notes = le.AppendUint32(notes, typ)
		notes = append(notes, "Xen\x00"...)
		notes = append(notes, desc...)
		for len(notes)%4 != 0 {
			notes = append(notes, 0)
		}
	}
	note(abi.XEN_ELFNOTE_LOADER, []byte("generic\x00"))
	note(abi.XEN_ELFNOTE_XEN_VERSION, []byte("xen-3.0\x00"))
	note(abi.XEN_ELFNOTE_VIRT_BASE, le.AppendUint64(nil, 0))
	note(abi.XEN_ELFNOTE_ENTRY, le.AppendUint64(nil, 0x100000))
	note(abi.XEN_ELFNOTE_HYPERCALL_PAGE, le.AppendUint64(nil, 0x101000))
	note(abi.XEN_ELFNOTE_PAE_MODE, []byte("yes\x00"))

	const codeOff = 0x1000
	notesOff := codeOff + len(code)
	f := make([]byte, 64, notesOff+len(notes))
	copy(f, "\x7fELF\x02\x01\x01")
	le.PutUint16(f[16:], uint16(elf.ET_EXEC))
	le.PutUint16(f[18:], uint16(elf.EM_X86_64))
	le.PutUint32(f[20:], 1)
	le.PutUint64(f[24:], 0x100000)
	le.PutUint64(f[32:], 64)
	le.PutUint16(f[52:], 64)
	le.PutUint16(f[54:], 56)
	le.PutUint16(f[56:], 2)
	le.PutUint16(f[58:], 64)
	phdr := func(typ elf.ProgType, flags elf.ProgFlag, off, addr, filesz, memsz uint64) {
		f = le.AppendUint32(f, uint32(typ))
		f = le.AppendUint32(f, uint32(flags))
		for _, v := range []uint64{off, addr, addr, filesz, memsz, 0x1000} {
			f = le.AppendUint64(f, v)
		}
	}
	phdr(elf.PT_LOAD, elf.PF_R|elf.PF_X, codeOff, 0x100000, uint64(len(code)), 0x9000)
	phdr(elf.PT_NOTE, elf.PF_R, uint64(notesOff), 0, uint64(len(notes)), uint64(len(notes)))
	f = append(f, make([]byte, codeOff-len(f))...)
	f = append(f, code...)
	return append(f, notes...)
}

// TestUnpackDom0: the kernel UnpackDom0 places in the last frames ends up
// at the layout's kernel PFNs, and the guest sees the same kernel (text,
// hypercall page, zero bss) as BuildDom0 builds from Parse's image.
func TestUnpackDom0(t *testing.T) {
	img := testKernelELF()
	want, err := kernel.Parse(img)
	if err != nil {
		t.Fatal(err)
	}
	m, d, _, _, _ := testGuest(t, true)
	d.VCPU(0).tables = mm.VCPUTables{}
	var mfns []mm.MFN
	for i := 0; i < 2048; i++ {
		f, ok := m.cfg.Alloc.Alloc()
		if !ok {
			t.Fatal("out of frames")
		}
		m.cfg.Frames.Assign(f, 0)
		mfns = append(mfns, f)
	}
	// Stale bytes in every frame: the build must clear what it does not write.
	junk := bytes.Repeat([]byte{0xcc}, mm.PageSize)
	for _, f := range mfns {
		m.cfg.Mem.Write(f.Addr(), junk)
	}
	var calls int
	k, err := d.UnpackDom0(img, mfns, func(done, total uint64) { calls++ })
	if err != nil {
		t.Fatal(err)
	}
	if k.Image.PStart != want.PStart || k.Image.PEnd != want.PEnd || k.Image.Parms.VirtEntry != want.Parms.VirtEntry {
		t.Fatalf("unpacked %#x-%#x entry %#x, Parse says %#x-%#x entry %#x", k.Image.PStart, k.Image.PEnd,
			k.Image.Parms.VirtEntry, want.PStart, want.PEnd, want.Parms.VirtEntry)
	}
	l, err := d.BuildDom0Unpacked(k, mfns, "console=hvc0", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !d.state.VMAssist(abi.VMASST_TYPE_pae_extended_cr3) {
		t.Error("PAE_MODE yes: no pae_extended_cr3 assist")
	}
	g := &d.VCPU(0).guest
	got := make([]byte, 0x9000)
	if !g.CopyFromGuest(got, 0x100000) {
		t.Fatal("kernel not mapped")
	}
	seg := want.Segments[0]
	wantMem := make([]byte, 0x9000)
	copy(wantMem, seg.Data)
	copy(wantMem[0x1000:0x2000], build.HypercallPage())
	if !bytes.Equal(got, wantMem) {
		t.Errorf("the guest's kernel image differs from Parse's (text, hypercall page, zero bss)")
	}
	if d.VCPU(0).Regs.RIP != 0x100000 || l.Kernel.Pages != 9 {
		t.Errorf("RIP %#x, kernel %d pages", d.VCPU(0).Regs.RIP, l.Kernel.Pages)
	}
	// The P2M the guest sees maps the kernel's PFNs to the frames
	// UnpackDom0 filled: the last ones given.
	var p2m [8]byte
	g.CopyFromGuest(p2m[:], mm.GuestVA(l.P2M.VA+8*uint64(l.Kernel.PFN)))
	if mm.MFN(binary.LittleEndian.Uint64(p2m[:])) != mfns[len(mfns)-int(l.Kernel.Pages)] {
		t.Errorf("p2m[kernel PFN %#x] = %#x, want %#x", l.Kernel.PFN, binary.LittleEndian.Uint64(p2m[:]), mfns[len(mfns)-int(l.Kernel.Pages)])
	}
	// A page past the kernel is zero, not the stale bytes.
	var after [16]byte
	if g.CopyFromGuest(after[:], mm.GuestVA(l.Stack.VA)); after != [16]byte{} {
		t.Errorf("the boot stack holds % x", after)
	}
}

// slicedMemory is test memory that can be sliced (SliceMemory): each
// slice is fresh memory, and the address it stands for is recorded.
type slicedMemory struct {
	mm.MachineMemory
	at []mm.Maddr
}

func (s *slicedMemory) Slice(ma mm.Maddr, n uint64) ([]byte, bool) {
	s.at = append(s.at, ma)
	return make([]byte, n), true
}

// TestFrameDestDictionary: the dictionary is lent from the first run of
// machine-contiguous frames that holds it; the kernel's frames, the last
// ones, may not overlap it; memory that cannot be sliced lends nothing.
func TestFrameDestDictionary(t *testing.T) {
	// Frames 0x100-0x101, then 0x200-0x207, then 0x300-0x30f.
	var mfns []mm.MFN
	for _, r := range [][2]mm.MFN{{0x100, 2}, {0x200, 8}, {0x300, 16}} {
		for i := mm.MFN(0); i < r[1]; i++ {
			mfns = append(mfns, r[0]+i)
		}
	}
	sm := &slicedMemory{MachineMemory: mmtest.NewMemory(0x400)}
	f := &frameDest{mem: sm, mfns: mfns}
	if b := f.Dictionary(3 * mm.PageSize); len(b) != 3*mm.PageSize || len(sm.at) != 1 || sm.at[0] != mm.MFN(0x200).Addr() {
		t.Fatalf("3 pages: %d bytes at %#x", len(b), sm.at)
	}
	if f.dictEnd != 5 {
		t.Errorf("dictEnd %d, want 5", f.dictEnd)
	}
	if b := f.Dictionary(9 * mm.PageSize); len(b) != 9*mm.PageSize || sm.at[1] != mm.MFN(0x300).Addr() || f.dictEnd != 19 {
		t.Fatalf("9 pages: %d bytes at %#x, dictEnd %d", len(b), sm.at, f.dictEnd)
	}
	if b := f.Dictionary(17 * mm.PageSize); b != nil {
		t.Errorf("17 pages lent from runs of at most 16")
	}
	// 26 frames, the dictionary up to index 19: a kernel of 7 pages fits
	// after it, one of 8 does not.
	if err := f.Reserve(0x1000000, 0x1000000+7*mm.PageSize); err != nil {
		t.Errorf("7-page kernel: %v", err)
	}
	if err := f.Reserve(0x1000000, 0x1000000+8*mm.PageSize); err == nil || !strings.Contains(err.Error(), "dictionary") {
		t.Errorf("8-page kernel over the dictionary: %v", err)
	}
	if b := (&frameDest{mem: mmtest.NewMemory(0x400), mfns: mfns}).Dictionary(mm.PageSize); b != nil {
		t.Errorf("memory that cannot be sliced lent %d bytes", len(b))
	}
}
