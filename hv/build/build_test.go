package build

import (
	"bytes"
	"encoding/binary"
	"math/rand"
	"testing"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/mm"
	"github.com/gohv/gohv/mm/mmtest"
)

// recM2P records M2P writes.
type recM2P struct {
	m     map[mm.MFN]uint64
	calls int
	limit mm.MFN
}

func (r *recM2P) Set(m mm.MFN, pfn uint64) bool {
	if m >= r.limit {
		return false
	}
	r.calls++
	r.m[m] = pfn
	return true
}

// shuffled returns n distinct MFNs from [base, base+n) in random order.
func shuffled(n int, base mm.MFN, seed int64) []mm.MFN {
	out := make([]mm.MFN, n)
	for i := range out {
		out[i] = base + mm.MFN(i)
	}
	rand.New(rand.NewSource(seed)).Shuffle(n, func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// reversedTail is Xen debug dom0's assignment: the region's frames in
// order, the rest from the end of the allocation backwards.
func reversedTail(n int, base mm.MFN, region int) []mm.MFN {
	out := make([]mm.MFN, n)
	for i := range out {
		out[i] = base + mm.MFN(i)
		if i > region {
			out[i] = base + mm.MFN(n-1-(i-region-1))
		}
	}
	return out
}

func load(t *testing.T, mem *mmtest.Memory, ma mm.Maddr) uint64 {
	t.Helper()
	v, ok := mem.Load64(ma)
	if !ok {
		t.Fatalf("load %#x", ma)
	}
	return v
}

// walk translates va through the tables at cr3 in mem; it returns the L1
// entry and every upper entry it used.
func walk(t *testing.T, mem *mmtest.Memory, cr3 mm.MFN, va uint64) (l1e uint64, upper [3]uint64, ok bool) {
	t.Helper()
	table := cr3
	for level := 4; level >= 1; level-- {
		slot := (va >> (12 + 9*uint(level-1))) & 511
		e := load(t, mem, table.Addr()+mm.Maddr(slot*8))
		if e&pteP == 0 {
			return 0, upper, false
		}
		if level == 1 {
			return e, upper, true
		}
		upper[4-level] = e
		table = mm.MFN((e & pteAddr) >> 12)
	}
	return 0, upper, false
}

type buildCase struct {
	name   string
	in     Input
	initrd []byte
	mfns   func(n int) []mm.MFN
}

func runBuild(t *testing.T, c buildCase) {
	l, err := Plan(c.in)
	if err != nil {
		t.Fatal(err)
	}
	checkLayout(t, l)
	n := int(c.in.NrPages)
	const base = 0x200
	mem := mmtest.NewMemory(base + n + 1)
	// Dirty the frames: Build must zero what it uses.
	junk := bytes.Repeat([]byte{0xa5}, pageSize)
	for i := 0; i < mem.Frames(); i++ {
		mem.Write(mm.MFN(i).Addr(), junk)
	}
	mfns := c.mfns(n)
	m2p := &recM2P{m: map[mm.MFN]uint64{}, limit: mm.MFN(mem.Frames())}
	const shinfo = mm.Maddr(0x1000)
	hvSlot := func(l4 mm.MFN, tab []uint64) {
		for i := 256; i < 272; i++ {
			tab[i] = uint64(l4.Addr()) | 0x7 // any recognisable value
		}
	}
	vga := &abi.Dom0VgaConsoleInfo{VideoType: abi.XEN_VGATYPE_TEXT_MODE_3}
	r, err := Build(l, mem, mfns, Contents{Initrd: c.initrd, SharedInfo: shinfo, CmdLine: "console=hvc0",
		StoreEvtchn: 1, ConsoleEvtchn: 2, VGA: vga, HypervisorSlots: hvSlot, M2P: m2p})
	if err != nil {
		t.Fatal(err)
	}

	// Registers.
	want := Regs{RIP: l.Entry, RSP: l.Stack.VA + pageSize, RSI: l.StartInfo.VA, RFLAGS: 0x202, CS: 0xe033, SS: 0xe02b}
	if l.Kind == DomU {
		want.KernelSS, want.KernelSP = 0xe02b, want.RSP
	}
	if r.Regs != want {
		t.Errorf("regs %+v, want %+v", r.Regs, want)
	}
	if r.CR3 != mfns[l.PageTables.PFN] || r.L4 != r.CR3 {
		t.Errorf("CR3 %#x, L4 %#x, want %#x", r.CR3, r.L4, mfns[l.PageTables.PFN])
	}
	if len(r.Tables[3]) != 1 || r.Tables[3][0] != r.L4 {
		t.Errorf("L4 list %v", r.Tables[3])
	}
	nt := 0
	for _, ts := range r.Tables {
		nt += len(ts)
	}
	if nt != len(l.Tables) {
		t.Errorf("%d tables returned, %d planned", nt, len(l.Tables))
	}

	// Page tables: every VA of each mapping maps the right frame, RW except
	// the table pages, USER everywhere, guest-kernel on L1 entries.
	ptFrames := map[mm.MFN]bool{}
	for _, tb := range l.Tables {
		ptFrames[mfns[tb.PFN]] = true
	}
	present := 0
	for _, m := range l.Mappings {
		for k := uint64(0); k < m.Pages; k++ {
			va := m.VA + k<<12
			e, up, ok := walk(t, mem, r.CR3, va)
			if !ok {
				t.Fatalf("VA %#x not mapped", va)
			}
			wantMFN := mfns[m.PFN+mm.PFN(k)]
			if mm.MFN((e&pteAddr)>>12) != wantMFN {
				t.Fatalf("VA %#x maps MFN %#x, want %#x", va, (e&pteAddr)>>12, wantMFN)
			}
			wantW := !ptFrames[wantMFN]
			if (e&pteRW != 0) != wantW || e&pteUser == 0 || e&pteGuestKernel == 0 || e&pteAccessed == 0 {
				t.Fatalf("VA %#x L1 entry %#x (table page %v)", va, e, !wantW)
			}
			for _, u := range up {
				if u&upperProt != upperProt || !ptFrames[mm.MFN((u&pteAddr)>>12)] {
					t.Fatalf("VA %#x upper entry %#x", va, u)
				}
			}
			present++
		}
	}
	// Nothing else is mapped: count present L1 entries in the L1 tables.
	l1s := 0
	for _, f := range r.Tables[0] {
		for s := 0; s < 512; s++ {
			if load(t, mem, f.Addr()+mm.Maddr(s*8))&pteP != 0 {
				l1s++
			}
		}
	}
	if l1s != present {
		t.Errorf("%d present L1 entries, %d expected", l1s, present)
	}
	for s := 256; s < 272; s++ {
		if got := load(t, mem, r.L4.Addr()+mm.Maddr(s*8)); got != uint64(r.L4.Addr())|7 {
			t.Errorf("L4 slot %d = %#x", s, got)
		}
	}
	if l.PageTables.Pages != uint64(len(l.Tables))-l.P2MTables.Pages {
		t.Errorf("nr_pt_frames")
	}

	// start_info.
	page := make([]byte, pageSize)
	mem.Read(mfns[l.StartInfo.PFN].Addr(), page)
	var si abi.StartInfo
	if err := binary.Read(bytes.NewReader(page), binary.LittleEndian, &si); err != nil {
		t.Fatal(err)
	}
	if abi.CString(si.Magic[:]) != l.SI.Magic || si.NrPages != uint64(n) || si.SharedInfo != uint64(shinfo) ||
		si.Flags != l.SI.Flags || si.PtBase != l.PageTables.VA || si.NrPtFrames != l.PageTables.Pages ||
		si.MfnList != l.SI.MfnList || si.ModStart != l.SI.ModStart || si.ModLen != l.SI.ModLen ||
		abi.CString(si.CmdLine[:]) != "console=hvc0" || si.FirstP2mPfn != l.SI.FirstP2MPFN || si.NrP2mFrames != l.SI.NrP2MFrames {
		t.Errorf("start_info %+v", si)
	}
	if si != r.StartInfo {
		t.Errorf("Result.StartInfo differs from the page")
	}
	switch l.Kind {
	case DomU:
		mfn, ev := si.ConsoleDomU()
		if si.StoreMfn != uint64(mfns[l.XenStore.PFN]) || si.StoreEvtchn != 1 || mfn != uint64(mfns[l.Console.PFN]) || ev != 2 {
			t.Errorf("domU store/console %+v", si)
		}
	case Dom0:
		off, size := si.ConsoleDom0()
		if off != 1168 || size != 40 || page[1168] != abi.XEN_VGATYPE_TEXT_MODE_3 || si.StoreMfn != 0 {
			t.Errorf("dom0 console %d %d %#x", off, size, page[1168])
		}
	}
	for _, b := range page[1168+40:] {
		if b != 0 {
			t.Fatal("start_info page not zeroed past its contents")
		}
	}

	// P2M contents through the guest's own mapping.
	for i := 0; i < n; i++ {
		va := l.P2M.VA + uint64(i)*8
		e, _, ok := walk(t, mem, r.CR3, va)
		if !ok {
			t.Fatalf("P2M VA %#x not mapped", va)
		}
		if got := load(t, mem, mm.Maddr(e&pteAddr)+mm.Maddr(va&0xfff)); got != uint64(mfns[i]) {
			t.Fatalf("p2m[%d] = %#x, want %#x", i, got, mfns[i])
		}
	}

	// M2P.
	if m2p.calls != n {
		t.Errorf("%d M2P writes for %d pages", m2p.calls, n)
	}
	for i, m := range mfns {
		if m2p.m[m] != uint64(i) {
			t.Fatalf("m2p[%#x] = %#x, want %#x", m, m2p.m[m], i)
		}
	}

	// Kernel bytes and zeroed bss, read through the page tables.
	readVA := func(va uint64, b []byte) {
		for i := range b {
			e, _, ok := walk(t, mem, r.CR3, va+uint64(i))
			if !ok {
				t.Fatalf("VA %#x unmapped", va+uint64(i))
			}
			var one [1]byte
			mem.Read(mm.Maddr(e&pteAddr)+mm.Maddr((va+uint64(i))&0xfff), one[:])
			b[i] = one[0]
		}
	}
	for _, s := range l.Image.Segments {
		got := make([]byte, len(s.Data)+16)
		readVA(s.PAddr+l.VirtOffset, got)
		if !bytes.Equal(got[:len(s.Data)], s.Data) || !bytes.Equal(got[len(s.Data):], make([]byte, 16)) {
			t.Errorf("segment at %#x: % x", s.PAddr, got)
		}
	}
	if l.HasHypercallPage {
		hp := make([]byte, pageSize)
		readVA(l.HypercallPage, hp)
		stub0 := []byte{0x51, 0x41, 0x53, 0xb8, 0, 0, 0, 0, 0x0f, 0x05, 0x41, 0x5b, 0x59, 0xc3, 0xcc}
		stub23 := []byte{0x51, 0x41, 0x53, 0x50, 0xb8, 0x17, 0, 0, 0, 0x0f, 0x05, 0xcc}
		stub127 := []byte{0x51, 0x41, 0x53, 0xb8, 0x7f, 0, 0, 0, 0x0f, 0x05, 0x41, 0x5b, 0x59, 0xc3, 0xcc}
		if !bytes.Equal(hp[:len(stub0)], stub0) || !bytes.Equal(hp[23*32:23*32+len(stub23)], stub23) ||
			!bytes.Equal(hp[127*32:127*32+len(stub127)], stub127) || hp[31] != 0xcc {
			t.Errorf("hypercall page % x ... % x", hp[:32], hp[23*32:24*32])
		}
	}
	// The initrd.
	if len(c.initrd) != 0 {
		got := make([]byte, len(c.initrd))
		if l.Initrd.Mapped {
			readVA(l.Initrd.VA, got)
		} else {
			for i := range got {
				pfn := l.Initrd.PFN + mm.PFN(i/pageSize)
				var one [1]byte
				mem.Read(mfns[pfn].Addr()+mm.Maddr(i%pageSize), one[:])
				got[i] = one[0]
			}
		}
		if !bytes.Equal(got, c.initrd) {
			t.Error("initrd contents differ")
		}
	}
	// The stack page is zero.
	stack := make([]byte, pageSize)
	mem.Read(mfns[l.Stack.PFN].Addr(), stack)
	if !bytes.Equal(stack, make([]byte, pageSize)) {
		t.Error("stack not zeroed")
	}
}

func TestBuild(t *testing.T) {
	initrd := bytes.Repeat([]byte("initrd!"), 3000) // 21000 bytes, 6 pages
	debSmall := debianImage()
	debSmall.Segments[0].Data = []byte("\x0f\x01\xf8kernel text")
	debSmall.Segments[3].Data = []byte("init data")
	mappedInitrd := smallDom0Image()
	mappedInitrd.Notes.ModStartPFN = false
	for _, c := range []buildCase{
		{name: "debian domU shuffled", in: Input{Kind: DomU, Image: debSmall, NrPages: 0x4d20},
			mfns: func(n int) []mm.MFN { return shuffled(n, 0x200, 1) }},
		{name: "debian domU reversed tail, initrd", in: Input{Kind: DomU, Image: debSmall, NrPages: 0x4d20, InitrdLen: uint64(len(initrd))},
			initrd: append(append([]byte{}, initrd...), make([]byte, 6*pageSize-len(initrd))...),
			mfns:   func(n int) []mm.MFN { return reversedTail(n, 0x200, 0x4c00) }},
		{name: "xtf", in: Input{Kind: DomU, Image: xtfImage(), NrPages: 2048},
			mfns: func(n int) []mm.MFN { return shuffled(n, 0x200, 2) }},
		{name: "dom0 initrd at PFN", in: Input{Kind: Dom0, Image: smallDom0Image(), NrPages: 8192, InitrdLen: uint64(len(initrd))},
			initrd: initrd, mfns: func(n int) []mm.MFN { return reversedTail(n, 0x200, 0x1400) }},
		{name: "dom0 mapped initrd", in: Input{Kind: Dom0, Image: mappedInitrd, NrPages: 8192, InitrdLen: uint64(len(initrd))},
			initrd: initrd, mfns: func(n int) []mm.MFN { return shuffled(n, 0x200, 3) }},
		{name: "dom0 debian INIT_P2M", in: Input{Kind: Dom0, Image: debSmall, NrPages: 0x4d20},
			mfns: func(n int) []mm.MFN { return shuffled(n, 0x200, 4) }},
	} {
		t.Run(c.name, func(t *testing.T) { runBuild(t, c) })
	}
}

func TestBuildErrors(t *testing.T) {
	l, err := Plan(Input{Kind: DomU, Image: xtfImage(), NrPages: 2048})
	if err != nil {
		t.Fatal(err)
	}
	mem := mmtest.NewMemory(2048 + 0x200)
	good := shuffled(2048, 0x200, 5)
	outside := append([]mm.MFN{}, good...)
	outside[5] = 1 << 30
	for _, c := range []struct {
		name string
		mfns []mm.MFN
		c    Contents
	}{
		{"short MFN list", good[:100], Contents{}},
		{"MFN outside memory", outside, Contents{}},
		{"unexpected initrd", good, Contents{Initrd: []byte{1}}},
		{"command line too long", good, Contents{CmdLine: string(make([]byte, 1024))}},
		{"shared_info unaligned", good, Contents{SharedInfo: 0x1008}},
		{"M2P too small", good, Contents{M2P: &recM2P{m: map[mm.MFN]uint64{}, limit: 0x300}}},
		{"callback writes a guest slot", good, Contents{HypervisorSlots: func(_ mm.MFN, t []uint64) { t[0] = 1 }}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := Build(l, mem, c.mfns, c.c); err == nil {
				t.Fatal("Build succeeded")
			}
		})
	}
	if _, err := Build(l, mem, good, Contents{InitrdInPlace: true}); err == nil {
		t.Error("in-place initrd without a planned one accepted")
	}
	if _, err := Build(nil, mem, good, Contents{}); err == nil {
		t.Error("nil layout accepted")
	}
}

// TestPin builds a domU into frames a real mm frame table assigned, pins
// the L4 through mm (which validates every table) and checks the types.
func TestPin(t *testing.T) {
	const frames = 19000
	mem := mmtest.NewMemory(frames)
	alloc := mm.NewAllocator([]mm.Range{{Start: 0, End: frames * mm.PageSize}}, []mm.Range{{Start: 0, End: 1 << 20}})
	first, ok := alloc.AllocContig(mm.M2PFrames(frames), ^mm.Maddr(0), 1)
	if !ok {
		t.Fatal("no room for the M2P")
	}
	m2p, err := mm.NewM2P(mem, first, frames)
	if err != nil {
		t.Fatal(err)
	}
	ft, err := mm.NewFrameTable(mm.FrameTableConfig{Mem: mem, Alloc: alloc, M2P: m2p,
		XenL4Slots: func(mm.MFN) (s [mm.XenL4SlotCount]uint64) { return }})
	if err != nil {
		t.Fatal(err)
	}
	initP2M := smallDom0Image()
	initP2M.Notes.HasInitP2M, initP2M.Notes.InitP2M = true, 0x8000000000
	for i, in := range []Input{
		{Kind: DomU, Image: xtfImage(), NrPages: 2048},
		{Kind: Dom0, Image: smallDom0Image(), NrPages: 8192},
		{Kind: Dom0, Image: initP2M, NrPages: 8192},
	} {
		s, err := mm.NewSpace(ft, abi.DomID(i+1), nil)
		if err != nil {
			t.Fatal(err)
		}
		l, err := Plan(in)
		if err != nil {
			t.Fatal(err)
		}
		mfns := make([]mm.MFN, in.NrPages)
		for i := range mfns {
			m, e := s.AllocFrame()
			if e != 0 {
				t.Fatal(e)
			}
			mfns[i] = m
		}
		rand.New(rand.NewSource(int64(i))).Shuffle(len(mfns), func(i, j int) { mfns[i], mfns[j] = mfns[j], mfns[i] })
		r, err := Build(l, mem, mfns, Contents{M2P: m2p})
		if err != nil {
			t.Fatal(err)
		}
		var v mm.VCPUTables
		if err := r.Pin(s, &v); err != nil {
			t.Fatalf("%s: %v", in.Kind, err)
		}
		if v.Kernel != r.L4 {
			t.Errorf("kernel base %#x, want %#x", v.Kernel, r.L4)
		}
		for lv, ts := range r.Tables {
			for _, f := range ts {
				pi, _ := ft.Page(f)
				if pi.Type != mm.PageTypeL1+mm.PageType(lv) || !pi.Validated {
					t.Errorf("L%d frame %#x: %+v", lv+1, f, pi)
				}
			}
		}
		if pi, _ := ft.Page(r.L4); !pi.Pinned {
			t.Error("L4 not pinned")
		}
		if pi, _ := ft.Page(mfns[l.Stack.PFN]); pi.Type != mm.PageTypeWritable {
			t.Errorf("stack frame type %v", pi.Type)
		}
		if got, _ := m2p.Get(mfns[77]); got != 77 {
			t.Errorf("M2P[%#x] = %d", mfns[77], got)
		}
		// Pinning the same L4 again fails: it is pinned.
		if err := r.Pin(s, &v); err == nil {
			t.Error("second pin succeeded")
		}
	}
}

// TestBuildInitrdInPlace: with InitrdInPlace the initrd's frames are left
// as the caller filled them.
func TestBuildInitrdInPlace(t *testing.T) {
	const n = 8192
	l, err := Plan(Input{Kind: Dom0, Image: smallDom0Image(), NrPages: n, InitrdLen: 3 * pageSize})
	if err != nil {
		t.Fatal(err)
	}
	mem := mmtest.NewMemory(n + 0x200)
	mfns := shuffled(n, 0x200, 11)
	data := bytes.Repeat([]byte{0x5a}, pageSize)
	for p := l.Initrd.PFN; p < l.Initrd.End(); p++ {
		mem.Write(mfns[p].Addr(), data)
	}
	if _, err := Build(l, mem, mfns, Contents{InitrdInPlace: true}); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, pageSize)
	for p := l.Initrd.PFN; p < l.Initrd.End(); p++ {
		mem.Read(mfns[p].Addr(), got)
		if !bytes.Equal(got, data) {
			t.Fatalf("initrd PFN %#x changed", p)
		}
	}
	if _, err := Build(l, mem, mfns, Contents{InitrdInPlace: true, Initrd: data}); err == nil {
		t.Error("in-place initrd with bytes accepted")
	}
}

// TestBuildKernelInPlace: with KernelInPlace the kernel's frames are left
// as the caller filled them (kernel.Load unpacked it there), and the rest
// of the layout is built as usual.
func TestBuildKernelInPlace(t *testing.T) {
	const n = 8192
	l, err := Plan(Input{Kind: Dom0, Image: smallDom0Image(), NrPages: n})
	if err != nil {
		t.Fatal(err)
	}
	mem := mmtest.NewMemory(n + 0x200)
	mfns := shuffled(n, 0x200, 7)
	data := bytes.Repeat([]byte{0xa5}, pageSize)
	for p := l.Kernel.PFN; p < l.Kernel.End(); p++ {
		mem.Write(mfns[p].Addr(), data)
	}
	r, err := Build(l, mem, mfns, Contents{KernelInPlace: true})
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, pageSize)
	for p := l.Kernel.PFN; p < l.Kernel.End(); p++ {
		mem.Read(mfns[p].Addr(), got)
		if !bytes.Equal(got, data) {
			t.Fatalf("kernel PFN %#x changed", p)
		}
	}
	if r.StartInfo.NrPages != n {
		t.Errorf("start_info nr_pages %d", r.StartInfo.NrPages)
	}
	// Without the flag the same frames get the segments' bytes.
	if _, err := Build(l, mem, mfns, Contents{}); err != nil {
		t.Fatal(err)
	}
	mem.Read(mfns[l.Kernel.PFN].Addr(), got)
	if bytes.Equal(got, data) {
		t.Error("Build without KernelInPlace left the kernel's first frame alone")
	}
}
