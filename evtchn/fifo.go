package evtchn

// FIFO delivery (the semantics of Xen 4.17's common/event_fifo.c, read for
// facts and written afresh).
//
// A domain starts on the 2-level ABI and switches to FIFO with its first
// EVTCHNOP_init_control. From then on:
//
//   - Each port has a 32-bit event word in the guest's event array, 1024
//     words per page, pages added one at a time by EVTCHNOP_expand_array
//     (at most 128 pages: EVTCHN_FIFO_NR_CHANNELS ports). Bits: PENDING 31,
//     MASKED 30, LINKED 29, BUSY 28, LINK 0-16 (the next port of a queue).
//   - Each vCPU has a control block (72 bytes, in a guest frame at an
//     8-aligned offset): a ready bitmap (one bit per priority) and
//     head[16], the first port of each priority's queue. The hypervisor
//     keeps each queue's tail itself.
//   - A port becomes pending by setting PENDING; if it is not masked and
//     not yet LINKED, it is linked: appended after the queue's tail (a
//     compare-and-swap of the tail's LINK field, which only succeeds while
//     the tail is still LINKED) or, if the queue was empty, written to
//     head[priority]; a queue going from empty to non-empty sets its ready
//     bit, and a ready bit going 0 -> 1 sets evtchn_upcall_pending in the
//     vcpu_info (evtchn_pending_sel is not used) and kicks the vCPU.
//   - The guest may only set or clear MASKED, clear PENDING, and clear
//     LINKED (with LINK) of a linked word. To keep a guest's unmask from
//     racing the link update the hypervisor sets BUSY on the tail word
//     while it retries, and the guest then unmasks through
//     EVTCHNOP_unmask.
//
// The queue locks of Xen are folded into the table's mu: every function
// here runs with t.mu held. Event words are 32 bits; MachineMemory's
// atomics work on aligned 64-bit words, so each operation acts on the
// half of the containing word that holds the event word and leaves the
// other half (the neighbouring port, which the guest may change
// meanwhile) as it finds it.

import (
	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/mm"
)

// Frames gives the hypervisor lasting access to a guest frame, as Xen's
// get_page_from_gfn followed by get_page_type(PGT_writable_page): the
// frame must belong to the domain and must not be in use as a page table
// or descriptor page; while the reference is held it cannot become one.
// FIFO control blocks and event-array pages are held this way until the
// domain resets its event channels or dies. Both methods are called with
// the table's mu held and must not call into evtchn.
type Frames interface {
	// GetWritable takes a general and a writable-type reference on the
	// frame named gfn by domain dom (for a PV domain the gfn is the MFN)
	// and returns its MFN; ok is false if the domain may not use the
	// frame that way.
	GetWritable(dom abi.DomID, gfn uint64) (m mm.MFN, ok bool)
	// PutWritable drops what a successful GetWritable took.
	PutWritable(dom abi.DomID, m mm.MFN)
}

// Event word bits and FIFO sizes (public/event_channel.h).
const (
	fifoPending  = uint32(1) << abi.EVTCHN_FIFO_PENDING
	fifoMasked   = uint32(1) << abi.EVTCHN_FIFO_MASKED
	fifoLinked   = uint32(1) << abi.EVTCHN_FIFO_LINKED
	fifoBusy     = uint32(1) << abi.EVTCHN_FIFO_BUSY
	fifoLinkMask = uint32(abi.EVTCHN_FIFO_LINK_MASK)

	// fifoWordsPerPage is EVTCHN_FIFO_EVENT_WORDS_PER_PAGE: 4-byte words.
	fifoWordsPerPage = mm.PageSize / 4
	// NrPortsFIFO is EVTCHN_FIFO_NR_CHANNELS, the FIFO ABI's port count.
	NrPortsFIFO = Port(abi.EVTCHN_FIFO_NR_CHANNELS)
	// fifoMaxArrayPages is EVTCHN_FIFO_MAX_EVENT_ARRAY_PAGES (128).
	fifoMaxArrayPages = int(NrPortsFIFO) / fifoWordsPerPage
	// fifoControlBlockSize is sizeof(struct evtchn_fifo_control_block).
	fifoControlBlockSize = 72
	// fifoOffHead is the offset of head[0] in the control block; ready
	// is at 0.
	fifoOffHead = 8
	// fifoQueues is the number of priorities (0 highest .. 15 lowest).
	fifoQueues = abi.EVTCHN_FIFO_MAX_QUEUES
	// fifoCASRetries bounds the retries of a 32-bit compare-and-swap
	// whose 64-bit word failed only because the guest changed the other
	// half meanwhile.
	fifoCASRetries = 64
)

// fifoDomain is a domain's FIFO state (Xen's evtchn_fifo_domain plus the
// per-vCPU evtchn_fifo_vcpu). Guarded by the table's mu.
type fifoDomain struct {
	vcpus []fifoVCPU
	// array holds the event-array frames in order: port p's word is word
	// p%1024 of array[p/1024].
	array []mm.MFN
	// ports holds per-port FIFO state, grown on demand (a port beyond its
	// end has the zero state).
	ports []fifoPort
}

// fifoVCPU is one vCPU's control block and queues.
type fifoVCPU struct {
	// mapped reports whether init_control gave this vCPU a control
	// block: frame holds the reference, cb is the block's address.
	mapped bool
	frame  mm.MFN
	cb     mm.Maddr
	// tail is each priority queue's last linked port (0: none known).
	tail [fifoQueues]Port
}

// fifoPort is one port's FIFO state. It survives the port being freed
// (only a new binding resets the priority), because a freed port may
// still be linked on a queue.
type fifoPort struct {
	// priority is the queue future events go to (set_priority).
	priority uint8
	// lastPrio and lastVCPU name the queue the port was last linked on
	// (Xen's fifo_lastq).
	lastPrio uint8
	lastVCPU uint32
	// pending records an event raised while the port had no event word
	// yet; expand_array raises it again once the word exists.
	pending bool
}

// numPorts returns how many ports have an event word.
func (f *fifoDomain) numPorts() Port { return Port(len(f.array) * fifoWordsPerPage) }

// word returns the machine address of port's event word, or ok == false
// when the event array does not cover the port yet.
func (f *fifoDomain) word(port Port) (mm.Maddr, bool) {
	if port >= f.numPorts() {
		return 0, false
	}
	return f.array[port/fifoWordsPerPage].Addr() + mm.Maddr(port%fifoWordsPerPage)*4, true
}

// port returns port's FIFO state, growing the table as needed.
func (f *fifoDomain) port(port Port) *fifoPort {
	if int(port) >= len(f.ports) {
		n := (int(port)/portsPerBucket + 1) * portsPerBucket
		f.ports = append(f.ports, make([]fifoPort, n-len(f.ports))...)
	}
	return &f.ports[port]
}

// half returns the aligned 64-bit word holding the 32-bit word at a and
// the shift of a's half in it.
func half(a mm.Maddr) (mm.Maddr, uint) { return a &^ 7, uint(a&7) * 8 }

// load32 atomically reads the 4-byte-aligned 32-bit word at a.
func (t *Table) load32(a mm.Maddr) (uint32, bool) {
	w, sh := half(a)
	v, ok := t.mem.Load64(w)
	return uint32(v >> sh), ok
}

// or32 atomically ORs bits into the 32-bit word at a, returning the
// previous value.
func (t *Table) or32(a mm.Maddr, bits uint32) (uint32, bool) {
	w, sh := half(a)
	prev, ok := t.mem.Or64(w, uint64(bits)<<sh)
	return uint32(prev >> sh), ok
}

// and32 atomically ANDs mask into the 32-bit word at a, returning the
// previous value.
func (t *Table) and32(a mm.Maddr, mask uint32) (uint32, bool) {
	w, sh := half(a)
	prev, ok := t.mem.And64(w, ^(uint64(^mask) << sh))
	return uint32(prev >> sh), ok
}

// cas32 replaces the 32-bit word at a by new if it holds old. It returns
// the value it found (new's predecessor on success). A change of the
// other half of the 64-bit word is retried, at most fifoCASRetries
// times, after which it reports failure like a change of the word itself.
func (t *Table) cas32(a mm.Maddr, old, new uint32) (cur uint32, swapped bool) {
	w, sh := half(a)
	m := uint64(0xffffffff) << sh
	for i := 0; i < fifoCASRetries; i++ {
		v, ok := t.mem.Load64(w)
		if !ok {
			return 0, false
		}
		if cur = uint32(v >> sh); cur != old {
			return cur, false
		}
		if ok, _ := t.mem.CompareAndSwap64(w, v, v&^m|uint64(new)<<sh); ok {
			return old, true
		}
	}
	return cur, false
}

// store32 atomically writes v to the 32-bit word at a (Xen's
// write_atomic of a queue head). It reports false if a guest kept
// changing the other half for fifoCASRetries attempts.
func (t *Table) store32(a mm.Maddr, v uint32) bool {
	w, sh := half(a)
	m := uint64(0xffffffff) << sh
	for i := 0; i < fifoCASRetries; i++ {
		old, ok := t.mem.Load64(w)
		if !ok {
			return false
		}
		if ok, _ := t.mem.CompareAndSwap64(w, old, old&^m|uint64(v)<<sh); ok {
			return true
		}
	}
	return false
}

// fifoTrySetLink sets the LINK field of the word at a (whose value the
// caller last saw as *w) to link if the word is still LINKED, clearing
// BUSY. It returns 1 when linked, 0 when the word is not LINKED (the
// queue has emptied), -1 when the word changed meanwhile (*w is updated).
func (t *Table) fifoTrySetLink(a mm.Maddr, w *uint32, link Port) int {
	if *w&fifoLinked == 0 {
		return 0
	}
	cur, ok := t.cas32(a, *w, *w&^(fifoBusy|fifoLinkMask)|uint32(link))
	if ok {
		return 1
	}
	*w = cur
	return -1
}

// fifoSetLink links port link after the tail word at a, if that word is
// still LINKED. The guest may change a linked word only in a few ways; it
// cannot unmask while BUSY is set, so after setting BUSY at most four
// more attempts are needed. It reports whether the tail now links to
// link (true also after four failures, as Xen, which then warns).
func (t *Table) fifoSetLink(a mm.Maddr, link Port) bool {
	w, ok := t.load32(a)
	if !ok {
		return false
	}
	if r := t.fifoTrySetLink(a, &w, link); r >= 0 {
		return r == 1
	}
	t.or32(a, fifoBusy)
	w, _ = t.load32(a)
	for try := 0; try < 4; try++ {
		r := t.fifoTrySetLink(a, &w, link)
		if r == 0 {
			t.and32(a, ^fifoBusy)
		}
		if r >= 0 {
			return r == 1
		}
	}
	t.and32(a, ^fifoBusy)
	return true
}

// fifoSetPending marks port pending for vCPU vcpu and links it on the
// vCPU's queue of the port's priority (Xen's evtchn_fifo_set_pending).
// Caller holds t.mu.
func (t *Table) fifoSetPending(vcpu uint32, port Port) {
	f := t.fifo
	fp := f.port(port)
	w, ok := f.word(port)
	if !ok {
		// No event word yet: remember the event for expand_array.
		fp.pending = true
		return
	}
	prio := fp.priority
	v := &f.vcpus[vcpu]
	prev, ok := t.or32(w, fifoPending)
	if !ok {
		return
	}
	wasPending := prev&fifoPending != 0
	// Without a control block the guest must not unmask the port yet, so
	// the event stays only pending, as in Xen.
	linked := true
	if v.mapped {
		cur, _ := t.load32(w)
		if cur&fifoMasked == 0 {
			if prev, ok := t.or32(w, fifoLinked); ok && prev&fifoLinked == 0 {
				// The port may have been the tail of the queue it was last
				// on: that queue is empty now, and linking to the port
				// from it would corrupt this one.
				old := &f.vcpus[fp.lastVCPU].tail[fp.lastPrio]
				if *old == port {
					*old = 0
				}
				fp.lastVCPU, fp.lastPrio = vcpu, prio
				linked = false
				if tail := v.tail[prio]; tail != 0 {
					if tw, ok := f.word(tail); ok {
						linked = t.fifoSetLink(tw, port)
					}
				}
				if !linked {
					t.store32(v.cb+fifoOffHead+mm.Maddr(prio)*4, uint32(port))
				}
				v.tail[prio] = port
			}
		}
		if !linked {
			bit := uint64(1) << prio
			if prev, ok := t.mem.Or64(v.cb, bit); ok && prev&bit == 0 {
				t.markEventsPending(int(vcpu))
			}
		}
	}
	if !wasPending {
		t.checkPollers(port)
	}
}

// fifoClearPending clears port's PENDING bit; the guest unlinks a
// non-pending event itself. Caller holds t.mu.
func (t *Table) fifoClearPending(port Port) {
	if w, ok := t.fifo.word(port); ok {
		t.and32(w, ^fifoPending)
	}
}

// fifoIsPending reads port's PENDING bit. Caller holds t.mu.
func (t *Table) fifoIsPending(port Port) bool {
	w, ok := t.fifo.word(port)
	if !ok {
		return false
	}
	v, ok := t.load32(w)
	return ok && v&fifoPending != 0
}

// fifoBusy reports whether port is still LINKED on a queue, so it must
// not be handed out again yet (Xen's evtchn_port_is_busy). Caller holds
// t.mu.
func (t *Table) fifoBusy(port Port) bool {
	w, ok := t.fifo.word(port)
	if !ok {
		return false
	}
	v, ok := t.load32(w)
	return ok && v&fifoLinked != 0
}

// fifoUnmask clears port's MASKED bit and links the port again if it is
// pending. Caller holds t.mu.
func (t *Table) fifoUnmask(port Port, vcpu uint32) {
	w, ok := t.fifo.word(port)
	if !ok {
		return
	}
	t.and32(w, ^fifoMasked)
	if v, ok := t.load32(w); ok && v&fifoPending != 0 {
		t.fifoSetPending(vcpu, port)
	}
}

// portInit gives a newly bound port its FIFO defaults (Xen's
// evtchn_port_init: priority EVTCHN_FIFO_PRIORITY_DEFAULT). The 2-level
// ABI has nothing to set up. Caller holds t.mu.
func (t *Table) portInit(port Port) {
	if t.fifo != nil {
		t.fifo.port(port).priority = abi.EVTCHN_FIFO_PRIORITY_DEFAULT
	}
}

// portFreed forgets an event remembered for a port without an event word,
// so a re-bound port does not start pending. Caller holds t.mu.
func (t *Table) portFreed(port Port) {
	if t.fifo != nil && int(port) < len(t.fifo.ports) {
		t.fifo.ports[port].pending = false
	}
}

// FIFO reports whether the domain has switched to the FIFO ABI.
func (t *Table) FIFO() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.fifo != nil
}

// InitControl registers vCPU vcpu's FIFO control block at offset in the
// guest frame gfn (EVTCHNOP_init_control). The first call switches the
// domain from 2-level to FIFO: every valid port gets the default priority
// and keeps its pending state (raised again once expand_array gives it an
// event word), and ports up to NrPortsFIFO-1 (within Config.MaxPort)
// become allocatable. linkBits is EVTCHN_FIFO_LINK_BITS, for the OUT field.
//
// Errors: -ENOSYS the table has no Frames (FIFO not offered: a guest such
// as Linux stays on 2-level); -ENOENT no such vCPU; -EINVAL offset not
// 8-aligned or the block would cross the page, the vCPU already has a
// control block, or the frame is not the domain's or cannot be writable.
func (t *Table) InitControl(gfn uint64, offset, vcpu uint32) (linkBits uint8, err abi.Errno) {
	if t.frames == nil {
		return 0, abi.ENOSYS
	}
	if uint64(vcpu) >= uint64(t.nvcpus) {
		return 0, abi.ENOENT
	}
	if offset > mm.PageSize-fifoControlBlockSize || offset&7 != 0 {
		return 0, abi.EINVAL
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.fifo
	if f == nil {
		f = &fifoDomain{vcpus: make([]fifoVCPU, t.nvcpus)}
	}
	v := &f.vcpus[vcpu]
	if v.mapped {
		return 0, abi.EINVAL
	}
	m, ok := t.frames.GetWritable(t.dom, gfn)
	if !ok {
		return 0, abi.EINVAL
	}
	v.mapped, v.frame, v.cb = true, m, m.Addr()+mm.Maddr(offset)
	if t.fifo == nil {
		// Switch ABI: carry each port's 2-level pending bit over (the
		// 2-level limit bounds the ports that can have one).
		for p := Port(1); p < Port(len(t.chans)) && p < NrPorts2L; p++ {
			fp := f.port(p)
			fp.priority = abi.EVTCHN_FIFO_PRIORITY_DEFAULT
			if t.isPending2L(p) {
				fp.pending = true
			}
		}
		t.fifo = f
		t.maxPort = min(t.cfgMaxPort, NrPortsFIFO-1)
	}
	return abi.EVTCHN_FIFO_LINK_BITS, 0
}

// ExpandArray adds the guest frame gfn as the next page of the domain's
// event array (EVTCHNOP_expand_array), giving the next 1024 ports event
// words, and raises again every event that arrived for those ports while
// they had none.
//
// Errors: -EOPNOTSUPP the domain is on 2-level; -ENOSPC the array has its
// 128 pages; -EINVAL the frame is not the domain's or cannot be writable.
func (t *Table) ExpandArray(gfn uint64) abi.Errno {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.fifo
	if f == nil {
		return abi.EOPNOTSUPP
	}
	if len(f.array) >= fifoMaxArrayPages {
		return abi.ENOSPC
	}
	m, ok := t.frames.GetWritable(t.dom, gfn)
	if !ok {
		return abi.EINVAL
	}
	first := f.numPorts()
	f.array = append(f.array, m)
	for p := first; p < f.numPorts() && t.valid(p); p++ {
		if int(p) < len(f.ports) && f.ports[p].pending {
			f.ports[p].pending = false
			t.fifoSetPending(t.chans[p].vcpu, p)
		}
	}
	return 0
}

// SetPriority sets the priority of port's future events
// (EVTCHNOP_set_priority); an event already linked stays on its queue.
//
// Errors: -EINVAL port not valid, or priority above
// EVTCHN_FIFO_PRIORITY_MIN (15); -ENOSYS the domain is on 2-level.
func (t *Table) SetPriority(port Port, priority uint32) abi.Errno {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.valid(port) {
		return abi.EINVAL
	}
	if t.fifo == nil {
		return abi.ENOSYS
	}
	if priority > abi.EVTCHN_FIFO_PRIORITY_MIN {
		return abi.EINVAL
	}
	t.fifo.port(port).priority = uint8(priority)
	return 0
}

// fifoDestroy drops the FIFO state and every frame reference it holds,
// and puts the domain back on 2-level (EVTCHNOP_reset after its ports are
// closed, and a dying domain). Caller holds t.mu.
func (t *Table) fifoDestroy() {
	f := t.fifo
	if f == nil {
		return
	}
	for i := range f.vcpus {
		if f.vcpus[i].mapped {
			t.frames.PutWritable(t.dom, f.vcpus[i].frame)
		}
	}
	for _, m := range f.array {
		t.frames.PutWritable(t.dom, m)
	}
	t.fifo = nil
	t.maxPort = min(t.cfgMaxPort, NrPorts2L-1)
}

// FrameTableFrames is Frames over mm's frame table for PV domains, whose
// gfns are MFNs: Xen's get_page (the domain must own the frame) and
// get_page_type(PGT_writable_page), which page tables and descriptor
// pages refuse.
type FrameTableFrames struct {
	FT *mm.FrameTable
	// Flush performs the TLB flush a type change may need (mm's contract).
	Flush mm.Flusher
}

// GetWritable implements Frames.
func (f FrameTableFrames) GetWritable(dom abi.DomID, gfn uint64) (mm.MFN, bool) {
	if gfn >= uint64(f.FT.Len()) {
		return 0, false
	}
	m := mm.MFN(gfn)
	if !f.FT.GetPage(m, dom) {
		return 0, false
	}
	if f.FT.GetPageType(m, mm.PageTypeWritable, f.Flush) != 0 {
		f.FT.PutPage(m)
		return 0, false
	}
	return m, true
}

// PutWritable implements Frames.
func (f FrameTableFrames) PutWritable(_ abi.DomID, m mm.MFN) {
	f.FT.PutPageType(m)
	f.FT.PutPage(m)
}

var _ Frames = FrameTableFrames{}
