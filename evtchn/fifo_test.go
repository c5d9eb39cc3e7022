package evtchn

import (
	"bytes"
	"sync"
	"testing"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/mm"
	"github.com/gohv/gohv/mm/mmtest"
)

// fakeFrames is Frames over an ownership map: frame m belongs to
// owner[m]; frames in pt are "page tables" and refuse the writable type.
// It counts the references it hands out.
type fakeFrames struct {
	mu    sync.Mutex
	owner map[mm.MFN]abi.DomID
	pt    map[mm.MFN]bool
	refs  map[mm.MFN]int
}

func newFakeFrames() *fakeFrames {
	return &fakeFrames{owner: map[mm.MFN]abi.DomID{}, pt: map[mm.MFN]bool{}, refs: map[mm.MFN]int{}}
}

func (f *fakeFrames) GetWritable(d abi.DomID, gfn uint64) (mm.MFN, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := mm.MFN(gfn)
	if o, ok := f.owner[m]; !ok || o != d || f.pt[m] {
		return 0, false
	}
	f.refs[m]++
	return m, true
}

func (f *fakeFrames) PutWritable(d abi.DomID, m mm.MFN) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refs[m] == 0 || f.owner[m] != d {
		panic("fakeFrames: put without get")
	}
	f.refs[m]--
}

// held returns the number of references held in all.
func (f *fakeFrames) held() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, r := range f.refs {
		n += r
	}
	return n
}

// fifoWorld is a world whose domains may switch to FIFO: domain i's
// shared_info is MFN i+1 as in newWorld, and each domain owns the 8
// frames 16+8i .. 23+8i for control blocks and event arrays.
type fifoWorld struct {
	*world
	frames *fakeFrames
}

// fifoFrame returns the n-th frame owned by domain d.
func fifoFrame(d, n int) mm.MFN { return mm.MFN(16 + 8*d + n) }

func newFIFOWorld(t testing.TB, opts ...domOpt) *fifoWorld {
	t.Helper()
	w := &world{mem: mmtest.NewMemory(16 + 8*len(opts)), reg: NewRegistry()}
	ff := newFakeFrames()
	for i, o := range opts {
		if o.vcpus == 0 {
			o.vcpus = 2
		}
		r := &recorder{}
		tb := New(Config{
			Dom: abi.DomID(i), VCPUs: o.vcpus, MaxPort: o.maxPort, Privileged: o.priv,
			Memory: w.mem, SharedInfo: mm.MFN(i + 1).Addr(), Notifier: r, Directory: w.reg,
			Frames: ff,
		})
		if !tb.InitSharedInfo() {
			t.Fatalf("InitSharedInfo d%d", i)
		}
		for n := 0; n < 8; n++ {
			ff.owner[fifoFrame(i, n)] = abi.DomID(i)
		}
		w.reg.Add(tb)
		w.doms = append(w.doms, tb)
		w.rec = append(w.rec, r)
	}
	return &fifoWorld{w, ff}
}

// Control blocks sit at offset cbOff of frame 0 (vCPU 0) and frame 1
// (vCPU 1); the event array starts at frame 2.
const cbOff = 0x40

func (w *fifoWorld) cb(d, v int) mm.Maddr { return fifoFrame(d, v).Addr() + cbOff }

// setupFIFO switches domain d to FIFO with control blocks for vCPUs 0 and
// 1 and a one-page event array (ports 0..1023).
func (w *fifoWorld) setupFIFO(t testing.TB, d int) {
	t.Helper()
	tb := w.doms[d]
	for v := 0; v < 2; v++ {
		lb, err := tb.InitControl(uint64(fifoFrame(d, v)), cbOff, uint32(v))
		if err != 0 || lb != abi.EVTCHN_FIFO_LINK_BITS {
			t.Fatalf("init_control v%d: %v, link bits %d", v, err, lb)
		}
	}
	if err := tb.ExpandArray(uint64(fifoFrame(d, 2))); err != 0 {
		t.Fatalf("expand_array: %v", err)
	}
}

// ev returns port p's event word in domain d (array pages from frame 2).
func (w *fifoWorld) ev(t testing.TB, d int, p Port) uint32 {
	t.Helper()
	a := fifoFrame(d, 2+int(p)/fifoWordsPerPage).Addr() + mm.Maddr(p%fifoWordsPerPage)*4
	v, ok := w.doms[d].load32(a)
	if !ok {
		t.Fatalf("load event word %d", p)
	}
	return v
}

// setEv changes port p's event word as the guest would.
func (w *fifoWorld) setEv(d int, p Port, set, clear uint32) {
	a := fifoFrame(d, 2+int(p)/fifoWordsPerPage).Addr() + mm.Maddr(p%fifoWordsPerPage)*4
	w.doms[d].or32(a, set)
	w.doms[d].and32(a, ^clear)
}

// head returns head[prio] and whether bit prio of ready is set, for vCPU
// v of domain d.
func (w *fifoWorld) head(t testing.TB, d, v int, prio uint8) (Port, bool) {
	t.Helper()
	h, _ := w.doms[d].load32(w.cb(d, v) + fifoOffHead + mm.Maddr(prio)*4)
	r, _ := w.doms[d].load32(w.cb(d, v))
	return Port(h), r&(1<<prio) != 0
}

// consume pops the head event of queue prio of vCPU v of domain d as
// Linux's events_fifo.c does: read head, clear LINKED (and LINK), follow
// the link; the ready bit is cleared when the link was 0. It returns the
// port, or 0 when the queue is empty. Linux keeps the next head in its
// own copy; the test writes it back to the control block instead.
func (w *fifoWorld) consume(t testing.TB, d, v int, prio uint8) Port {
	t.Helper()
	p, _ := w.head(t, d, v, prio)
	if p == 0 || p >= 6*fifoWordsPerPage {
		// Empty, or a head the fuzzer wrote beyond the test's frames.
		w.doms[d].store32(w.cb(d, v)+fifoOffHead+mm.Maddr(prio)*4, 0)
		return 0
	}
	word := w.ev(t, d, p)
	next := Port(word & fifoLinkMask)
	w.setEv(d, p, 0, fifoLinked|fifoLinkMask|fifoPending)
	w.doms[d].store32(w.cb(d, v)+fifoOffHead+mm.Maddr(prio)*4, uint32(next))
	if next == 0 {
		w.doms[d].and32(w.cb(d, v), ^(uint32(1) << prio))
	}
	return p
}

func TestFIFOInitControlErrors(t *testing.T) {
	w := newFIFOWorld(t, domOpt{}, domOpt{})
	d := w.doms[0]
	other := uint64(fifoFrame(1, 0))
	own := uint64(fifoFrame(0, 0))
	w.frames.pt[fifoFrame(0, 7)] = true
	wantErr(t, "expand before init", d.ExpandArray(uint64(fifoFrame(0, 2))), abi.EOPNOTSUPP)
	wantErr(t, "set_priority on 2-level", d.SetPriority(1, 3), abi.ENOSYS)
	wantErr(t, "set_priority invalid port on 2-level", d.SetPriority(64, 3), abi.EINVAL)
	for _, tc := range []struct {
		name   string
		gfn    uint64
		offset uint32
		vcpu   uint32
		want   abi.Errno
	}{
		{"no such vCPU", own, 0, 2, abi.ENOENT},
		{"no such vCPU beats bad offset", own, 3, 9, abi.ENOENT},
		{"offset crosses the page", own, mm.PageSize - fifoControlBlockSize + 8, 0, abi.EINVAL},
		{"offset not 8-aligned", own, 4, 0, abi.EINVAL},
		{"another domain's frame", other, 0, 0, abi.EINVAL},
		{"frame outside memory", 1 << 40, 0, 0, abi.EINVAL},
		{"page-table frame", uint64(fifoFrame(0, 7)), 0, 0, abi.EINVAL},
	} {
		lb, err := d.InitControl(tc.gfn, tc.offset, tc.vcpu)
		wantErr(t, tc.name, err, tc.want)
		if lb != 0 {
			t.Errorf("%s: link bits %d on failure", tc.name, lb)
		}
		if d.FIFO() {
			t.Fatalf("%s: switched to FIFO on failure", tc.name)
		}
	}
	if w.frames.held() != 0 {
		t.Fatalf("failed calls hold %d references", w.frames.held())
	}
	// The last offset that fits.
	if lb, err := d.InitControl(own, mm.PageSize-fifoControlBlockSize, 0); err != 0 || lb != 17 {
		t.Fatalf("init_control: %v, %d", err, lb)
	}
	if !d.FIFO() {
		t.Fatal("not FIFO after init_control")
	}
	_, err := d.InitControl(uint64(fifoFrame(0, 1)), 0, 0)
	wantErr(t, "second block for vCPU 0", err, abi.EINVAL)
	_, err = d.InitControl(own, 0, 1) // same frame, another offset: allowed
	wantErr(t, "vCPU 1 in the same frame", err, 0)
	wantErr(t, "expand with another's frame", d.ExpandArray(other), abi.EINVAL)
	wantErr(t, "expand with a page table", d.ExpandArray(uint64(fifoFrame(0, 7))), abi.EINVAL)
	wantErr(t, "set_priority invalid port", d.SetPriority(64, 3), abi.EINVAL)
	wantErr(t, "set_priority 16", d.SetPriority(1, 16), abi.EINVAL)
	wantErr(t, "set_priority 15", d.SetPriority(1, abi.EVTCHN_FIFO_PRIORITY_MIN), 0)
	if w.frames.held() != 2 {
		t.Fatalf("held %d references, want 2", w.frames.held())
	}
	// The array takes at most 128 pages; the same frame may be given
	// again (Xen does not refuse it either).
	for i := 0; i < fifoMaxArrayPages; i++ {
		wantErr(t, "expand", d.ExpandArray(uint64(fifoFrame(0, 2))), 0)
	}
	wantErr(t, "expand beyond 128 pages", d.ExpandArray(uint64(fifoFrame(0, 2))), abi.ENOSPC)
	d.Destroy()
	if w.frames.held() != 0 {
		t.Fatalf("after Destroy %d references held", w.frames.held())
	}
	if d.FIFO() {
		t.Fatal("still FIFO after Destroy")
	}
}

// TestFIFOLoopback follows Linux's use: init_control for vCPU 0, one
// array page, a loopback interdomain pair, sends, the queue walked as the
// guest walks it.
func TestFIFOLoopback(t *testing.T) {
	w := newFIFOWorld(t, domOpt{})
	d := w.doms[0]
	w.setupFIFO(t, 0)
	w.rec[0].take()
	a, err := d.AllocUnbound(abi.DOMID_SELF, abi.DOMID_SELF)
	wantErr(t, "alloc_unbound", err, 0)
	b, err := d.BindInterdomain(abi.DOMID_SELF, a)
	wantErr(t, "bind_interdomain", err, 0)
	// Binding raises the new local port: linked at the head of queue 7
	// (the default priority), ready bit 7, upcall_pending, one kick.
	if got := w.ev(t, 0, b); got != fifoPending|fifoLinked {
		t.Fatalf("port %d word %#x", b, got)
	}
	if h, r := w.head(t, 0, 0, abi.EVTCHN_FIFO_PRIORITY_DEFAULT); h != b || !r {
		t.Fatalf("head %d ready %v, want %d", h, r, b)
	}
	if p, _ := w.upcall(t, 0, 0); p != 1 {
		t.Fatal("upcall_pending not set")
	}
	if k := w.rec[0].take(); !equalInts(k, []int{0}) {
		t.Fatalf("kicks %v", k)
	}
	if w.sel(t, 0, 0) != 0 {
		t.Fatal("FIFO set evtchn_pending_sel")
	}
	if w.pending(t, 0, b) {
		t.Fatal("FIFO set the 2-level pending bit")
	}
	// Send from b reaches a: linked after b (LINK of b's word = a),
	// head unchanged, no second kick (the queue was already ready).
	wantErr(t, "send", d.Send(b), 0)
	if got := w.ev(t, 0, b); got != fifoPending|fifoLinked|uint32(a) {
		t.Fatalf("port %d word %#x, want link to %d", b, got, a)
	}
	if got := w.ev(t, 0, a); got != fifoPending|fifoLinked {
		t.Fatalf("port %d word %#x", a, got)
	}
	if k := w.rec[0].take(); len(k) != 0 {
		t.Fatalf("kicks %v for a ready queue", k)
	}
	// A second send to a pending port changes nothing.
	wantErr(t, "send again", d.Send(b), 0)
	if got := w.ev(t, 0, a); got != fifoPending|fifoLinked {
		t.Fatalf("port %d word %#x after a repeated send", a, got)
	}
	if got, ok := d.PollPort(uint32(a)); !got || ok != 0 {
		t.Fatal("PollPort does not see the FIFO pending bit")
	}
	// The guest takes b, then a; the queue is empty and not ready.
	if p := w.consume(t, 0, 0, 7); p != b {
		t.Fatalf("first event %d, want %d", p, b)
	}
	if p := w.consume(t, 0, 0, 7); p != a {
		t.Fatalf("second event %d, want %d", p, a)
	}
	if h, r := w.head(t, 0, 0, 7); h != 0 || r {
		t.Fatalf("queue not empty: head %d ready %v", h, r)
	}
	// a was the tail: a new event on a starts the queue again at the
	// head instead of linking a to itself.
	w.clearUpcall(0, 0)
	wantErr(t, "send after consume", d.Send(b), 0)
	if h, r := w.head(t, 0, 0, 7); h != a || !r {
		t.Fatalf("head %d ready %v, want %d", h, r, a)
	}
	if got := w.ev(t, 0, a); got != fifoPending|fifoLinked {
		t.Fatalf("port %d word %#x (linked to itself?)", a, got)
	}
	if k := w.rec[0].take(); !equalInts(k, []int{0}) {
		t.Fatalf("kicks %v", k)
	}
}

func TestFIFOMaskPriorityVCPU(t *testing.T) {
	w := newFIFOWorld(t, domOpt{})
	d := w.doms[0]
	w.setupFIFO(t, 0)
	ipi, _ := d.BindIPI(1)
	// Masked: pending, not linked, no upcall.
	w.setEv(0, ipi, fifoMasked, 0)
	wantErr(t, "send masked", d.Send(ipi), 0)
	if got := w.ev(t, 0, ipi); got != fifoPending|fifoMasked {
		t.Fatalf("masked word %#x", got)
	}
	if p, _ := w.upcall(t, 0, 1); p != 0 {
		t.Fatal("upcall for a masked port")
	}
	// Priority 2 for the next link; unmask links it on vCPU 1's queue 2.
	wantErr(t, "set_priority", d.SetPriority(ipi, 2), 0)
	wantErr(t, "unmask", d.Unmask(ipi), 0)
	if got := w.ev(t, 0, ipi); got != fifoPending|fifoLinked {
		t.Fatalf("unmasked word %#x", got)
	}
	if h, r := w.head(t, 0, 1, 2); h != ipi || !r {
		t.Fatalf("vCPU 1 queue 2: head %d ready %v", h, r)
	}
	if h, _ := w.head(t, 0, 0, 2); h != 0 {
		t.Fatal("linked on vCPU 0")
	}
	if p, _ := w.upcall(t, 0, 1); p != 1 {
		t.Fatal("no upcall on vCPU 1")
	}
	if k := w.rec[0].take(); !equalInts(k, []int{1}) {
		t.Fatalf("kicks %v", k)
	}
	// Unmask of a port already linked does not link it twice.
	wantErr(t, "unmask again", d.Unmask(ipi), 0)
	if got := w.ev(t, 0, ipi); got != fifoPending|fifoLinked {
		t.Fatalf("word %#x after a second unmask", got)
	}
	// A closed port still linked is not handed out again until the
	// guest unlinks it.
	wantErr(t, "close", d.Close(ipi), 0)
	if got := w.ev(t, 0, ipi); got != fifoLinked {
		t.Fatalf("closed port word %#x, want LINKED only", got)
	}
	p, _ := d.BindIPI(0)
	if p == ipi {
		t.Fatal("a linked port was reused")
	}
	w.consume(t, 0, 1, 2)
	if q, _ := d.BindIPI(0); q != ipi {
		t.Fatalf("unlinked port %d not reused (got %d)", ipi, q)
	}
}

// TestFIFOSwitchAndExpand: ports bound and pending on 2-level keep their
// event through the switch, and events for ports without an event word
// are raised when expand_array adds it.
func TestFIFOSwitchAndExpand(t *testing.T) {
	w := newFIFOWorld(t, domOpt{maxPort: 3000})
	d := w.doms[0]
	ipi, _ := d.BindIPI(0)
	wantErr(t, "send on 2-level", d.Send(ipi), 0)
	if !w.pending(t, 0, ipi) {
		t.Fatal("2-level pending bit not set")
	}
	if _, err := d.InitControl(uint64(fifoFrame(0, 0)), cbOff, 0); err != 0 {
		t.Fatal(err)
	}
	// Not linked yet: no event array.
	if h, _ := w.head(t, 0, 0, 7); h != 0 {
		t.Fatal("linked without an event array")
	}
	// Ports beyond the first array page: bind until port 1024 exists.
	var far Port
	for far < fifoWordsPerPage {
		p, err := d.BindIPI(0)
		if err != 0 {
			t.Fatalf("bind: %v", err)
		}
		far = p
	}
	wantErr(t, "send far", d.Send(far), 0)
	wantErr(t, "expand 1", d.ExpandArray(uint64(fifoFrame(0, 2))), 0)
	if h, r := w.head(t, 0, 0, 7); h != ipi || !r {
		t.Fatalf("head %d ready %v, want the carried-over port %d", h, r, ipi)
	}
	if got := w.ev(t, 0, ipi); got != fifoPending|fifoLinked {
		t.Fatalf("carried-over word %#x", got)
	}
	wantErr(t, "expand 2", d.ExpandArray(uint64(fifoFrame(0, 3))), 0)
	if got := w.ev(t, 0, ipi); got&fifoLinkMask != uint32(far) {
		t.Fatalf("port %d not linked after %d: %#x", far, ipi, got)
	}
	if got := w.ev(t, 0, far); got != fifoPending|fifoLinked {
		t.Fatalf("far word %#x", got)
	}
	// FIFO allows ports beyond the 2-level limit, up to MaxPort.
	for {
		p, err := d.BindIPI(0)
		if err == abi.ENOSPC {
			break
		}
		if err != 0 || p > 3000 {
			t.Fatalf("bind %d: %v", p, err)
		}
		far = p
	}
	if far != 3000 {
		t.Fatalf("last port %d, want 3000", far)
	}
	// Reset closes everything, gives the frames back and returns to
	// 2-level; FIFO can be set up again.
	wantErr(t, "reset", d.Reset(abi.DOMID_SELF), 0)
	if d.FIFO() || w.frames.held() != 0 {
		t.Fatalf("after reset: FIFO %v, %d references", d.FIFO(), w.frames.held())
	}
	wantErr(t, "set_priority after reset", d.SetPriority(1, 1), abi.ENOSYS)
	w.setupFIFO(t, 0)
	if w.frames.held() != 3 {
		t.Fatalf("held %d, want 3", w.frames.held())
	}
}

// TestFIFOBusyTail: the guest holds the tail word BUSY-free but changes
// it while the hypervisor links; a tail the guest unlinked meanwhile
// makes the new event the head.
func TestFIFOBusyTail(t *testing.T) {
	w := newFIFOWorld(t, domOpt{})
	d := w.doms[0]
	w.setupFIFO(t, 0)
	p1, _ := d.BindIPI(0)
	p2, _ := d.BindIPI(0)
	d.Send(p1)
	// The guest unlinks p1 by hand (clears LINKED) but leaves head alone:
	// the hypervisor must see the tail unlinked and write head = p2.
	w.setEv(0, p1, 0, fifoLinked)
	d.Send(p2)
	if h, _ := w.head(t, 0, 0, 7); h != p2 {
		t.Fatalf("head %d, want %d", h, p2)
	}
	if got := w.ev(t, 0, p1); got&fifoLinkMask != 0 || got&fifoBusy != 0 {
		t.Fatalf("unlinked tail written: %#x", got)
	}
	// The neighbouring word in the same 64-bit word is untouched by the
	// 32-bit operations on p2.
	if got := w.ev(t, 0, p1); got != fifoPending {
		t.Fatalf("neighbour word %#x", got)
	}
}

func TestFIFODecode(t *testing.T) {
	b := make([]byte, 24)
	for i := range b {
		b[i] = byte(0xa0 + i)
	}
	a, ok := DecodeInitControl(b)
	if !ok || a.ControlGfn != 0xa7a6a5a4a3a2a1a0 || a.Offset != 0xabaaa9a8 || a.Vcpu != 0xafaeadac || a.LinkBits != 0xb0 {
		t.Fatalf("decode %+v", a)
	}
	a.LinkBits = 17
	before := append([]byte(nil), b...)
	if !EncodeInitControl(b, a) {
		t.Fatal("encode")
	}
	if b[16] != 17 || !bytes.Equal(b[:16], before[:16]) || !bytes.Equal(b[17:], before[17:]) {
		t.Fatalf("encode wrote % x", b)
	}
	if _, ok := DecodeInitControl(b[:23]); ok {
		t.Fatal("short init_control decoded")
	}
	if EncodeInitControl(b[:23], a) {
		t.Fatal("short init_control encoded")
	}
	e, ok := DecodeExpandArray(b)
	if !ok || e.ArrayGfn != 0xa7a6a5a4a3a2a1a0 {
		t.Fatalf("expand %+v", e)
	}
	if _, ok := DecodeExpandArray(b[:7]); ok {
		t.Fatal("short expand_array decoded")
	}
}

// FuzzFIFO runs random operation sequences on a FIFO domain while a
// "guest" scribbles on its event words and control blocks, and checks:
// no panic, only Xen errnos, the hypervisor writes nothing outside the
// domain's own frames, and every frame reference comes back at Destroy.
func FuzzFIFO(f *testing.F) {
	f.Add([]byte{0, 0, 1, 0, 2, 1, 3, 2, 4, 3, 5, 1, 6, 2})
	f.Add([]byte{1, 0, 1, 1, 1, 2, 7, 9, 2, 1, 8, 1, 3, 1, 9, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		w := newFIFOWorld(t, domOpt{maxPort: 2100}, domOpt{})
		d := w.doms[0]
		w.setupFIFO(t, 0)
		var outside [mm.PageSize]byte // domain 1's frames and shared_info stay zero but for its own setup
		before1 := snapshot(t, w.world, 1)
		for i := 0; len(data) >= 3 && i < 64; i++ {
			op, x, y := data[0], data[1], data[2]
			data = data[3:]
			p := Port(x) | Port(y&7)<<8 // ports 0..2047
			var err abi.Errno
			switch op % 12 {
			case 0:
				_, err = d.BindIPI(uint32(y % 2))
			case 1:
				var a Port
				a, err = d.AllocUnbound(abi.DOMID_SELF, abi.DOMID_SELF)
				if err == 0 {
					_, err = d.BindInterdomain(abi.DOMID_SELF, a)
				}
			case 2:
				err = d.Send(p)
			case 3:
				err = d.Close(p)
			case 4:
				err = d.Unmask(p)
			case 5:
				err = d.SetPriority(p, uint32(y%20))
			case 6:
				err = d.ExpandArray(uint64(fifoFrame(0, 2+int(y%6))))
			case 7:
				_, err = d.InitControl(uint64(fifoFrame(0, int(x%8))), uint32(y)*8, uint32(x%3))
			case 8: // guest: scribble on an event word
				w.setEv(0, p%fifoWordsPerPage, uint32(x)<<24|uint32(y), uint32(y)<<24|uint32(x))
			case 9: // guest: consume a queue
				w.consume(t, 0, int(x%2), y%16)
			case 10: // guest: scribble on a control block
				d.store32(w.cb(0, int(x%2))+mm.Maddr(y%18)*4, uint32(x)<<8|uint32(y))
			case 11:
				err = d.BindVCPU(p, uint32(y%3))
			}
			if !allowedErrno[err] {
				t.Fatalf("op %d: errno %v", op%12, err)
			}
			checkInvariants(t, w.world)
		}
		if snapshot(t, w.world, 1) != before1 {
			t.Fatal("domain 1's shared_info changed")
		}
		for n := 0; n < 8; n++ {
			var b [mm.PageSize]byte
			w.mem.Read(fifoFrame(1, n).Addr(), b[:])
			if b != outside {
				t.Fatalf("domain 1's frame %d written", n)
			}
		}
		d.Destroy()
		if w.frames.held() != 0 {
			t.Fatalf("%d references held after Destroy", w.frames.held())
		}
	})
}

// TestFIFOConcurrentConsumer races senders against a guest consuming its
// queue the way Linux's events_fifo.c does: it takes the ready bits with
// an exchange, reads a queue's head from the control block only when its
// own copy of the head is 0 (the end of the previous run), clears LINKED
// (and LINK) by compare-and-swap, then PENDING when it handles the event,
// and drops its copy of the ready bit at the end of a queue. Events may
// merge, but none may be lost: once the senders stop and the guest has
// drained its queue, no port is left pending, and every port was handled.
func TestFIFOConcurrentConsumer(t *testing.T) {
	w := newFIFOWorld(t, domOpt{})
	d := w.doms[0]
	w.setupFIFO(t, 0)
	const nPorts, sends = 8, 20000
	var ports [nPorts]Port
	for i := range ports {
		ports[i], _ = d.BindIPI(0)
	}
	wordAddr := func(p Port) mm.Maddr { return fifoFrame(0, 2).Addr() + mm.Maddr(p)*4 }
	cb := w.cb(0, 0)
	var localHead Port
	var ready uint32
	handled := map[Port]int{}
	// consumeOne takes the next event of queue 7 (Linux's
	// consume_one_event).
	consumeOne := func() {
		p := localHead
		if p == 0 {
			h, _ := d.load32(cb + fifoOffHead + 7*4)
			p = Port(h)
		}
		if p == 0 || p >= fifoWordsPerPage {
			t.Fatalf("ready queue with head %d", p)
		}
		a := wordAddr(p)
		var next Port
		for {
			v, _ := d.load32(a)
			if _, ok := d.cas32(a, v, v&^(fifoLinked|fifoLinkMask)); ok {
				next = Port(v & fifoLinkMask)
				break
			}
		}
		if next == 0 {
			ready &^= 1 << 7
		}
		if v, _ := d.load32(a); v&fifoPending != 0 && v&fifoMasked == 0 {
			d.and32(a, ^fifoPending)
			handled[p]++
		}
		localHead = next
	}
	// drain runs the upcall handler's loop once (Linux's
	// __xen_evtchn_do_upcall for FIFO), bounded against a broken queue.
	drain := func() {
		prev, _ := d.and32(cb, 0)
		ready |= prev
		for n := 0; ready&(1<<7) != 0; n++ {
			if n > 100*nPorts*sends {
				t.Fatal("queue never ends")
			}
			consumeOne()
			prev, _ := d.and32(cb, 0)
			ready |= prev
		}
	}
	var wg sync.WaitGroup
	for s := 0; s < 2; s++ {
		wg.Add(1)
		go func(s int) {
			defer wg.Done()
			for i := 0; i < sends; i++ {
				if err := d.Send(ports[(i*7+s)%nPorts]); err != 0 {
					t.Errorf("send: %v", err)
					return
				}
			}
		}(s)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		drain()
	}
	drain()
	for i, p := range ports {
		v, _ := d.load32(wordAddr(p))
		if v&fifoPending != 0 {
			t.Errorf("port %d (#%d) left pending, word %#x: an event was lost", p, i, v)
		}
		if handled[p] == 0 {
			t.Errorf("port %d never handled", p)
		}
	}
	if localHead != 0 || ready != 0 {
		t.Errorf("queue not drained: local head %d ready %#x", localHead, ready)
	}
}
