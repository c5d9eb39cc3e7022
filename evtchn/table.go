package evtchn

// Lock order
//
//   - Table.mu is the only lock of a table (Xen's per-domain event_lock; the
//     per-channel locks of Xen are folded into it).
//   - An operation that touches two domains (bind_interdomain, close and
//     send of an interdomain port) holds both tables' mu, taken in
//     increasing domain-id order; a loopback pair takes the one lock once.
//     A caller that found the peer while holding only its own lock and
//     whose domain id is the higher one drops its lock, takes both in
//     order and checks the port again (Xen's evtchn_close "goto again").
//   - Registry.mu is taken only to look a table up and is never held while
//     a Table.mu is taken.
//   - Notifier.Kick is called with the notified table's mu (and possibly
//     its peer's) held: it must not block and must not call back into this
//     package.
//   - Frames.GetWritable and PutWritable (FIFO frames) are called with the
//     table's mu held; FrameTableFrames takes mm's frame-table lock inside
//     it, and mm never calls into evtchn.

import (
	"sync"
	"sync/atomic"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/mm"
)

// Notifier wakes vCPUs. The owner of a domain (hv) supplies one per table.
type Notifier interface {
	// Kick tells vCPU vcpu that it may have work: an upcall became pending
	// for it, or a port it polls became pending. The vCPU must notice on
	// its next entry to the guest, and a vCPU blocked in SCHEDOP_block or
	// SCHEDOP_poll must wake. Kick is called with table locks held, from
	// any goroutine: it must not block and must not call into evtchn.
	Kick(vcpu int)
}

// Directory finds the event-channel table of a domain by id. hv keeps the
// domain list; Registry is a ready implementation.
type Directory interface {
	// Lookup returns the table of domain dom, or nil when there is no such
	// domain. dom is never DOMID_SELF (callers resolve it first).
	Lookup(dom abi.DomID) *Table
}

// Config describes a domain's event channels. Zero values of the optional
// fields select Xen's defaults.
type Config struct {
	// Dom is the domain's id.
	Dom abi.DomID
	// VCPUs is the number of vCPUs the domain was created with
	// (max_vcpus); vCPU ids 0..VCPUs-1 exist. Must be at least 1.
	VCPUs int
	// MaxPort is the highest port the domain may allocate
	// (max_evtchn_port). 0 selects DefaultMaxPort. Ports at or above
	// NrPorts2L (2-level) or NrPortsFIFO (FIFO) are never allocated
	// whatever MaxPort says.
	MaxPort Port
	// Privileged lets this domain name other domains in alloc_unbound,
	// status and reset (the XSM dummy policy's XSM_TARGET for dom0).
	Privileged bool
	// Memory is machine memory; SharedInfo is the machine address of the
	// domain's shared_info page (page aligned, hypervisor owned).
	Memory     mm.MachineMemory
	SharedInfo mm.Maddr
	// Notifier wakes this domain's vCPUs. Required.
	Notifier Notifier
	// Directory resolves other domains for interdomain operations. nil
	// means the domain can only reach itself.
	Directory Directory
	// Frames lends the hypervisor the guest frames of FIFO control
	// blocks and event arrays. nil means the FIFO ABI is not offered:
	// EVTCHNOP_init_control gives -ENOSYS and the domain stays on 2-level.
	Frames Frames
	// NrPIRQs is the number of physical IRQs the domain may bind
	// (d->nr_pirqs); PIRQPermitted reports whether it may bind one
	// (pirq_access_permitted). nil denies every PIRQ.
	NrPIRQs       uint32
	PIRQPermitted func(pirq uint32) bool
	// PIRQBind routes the machine interrupt of pirq to the domain once
	// port is bound to it (Xen's pirq_guest_bind); an error fails
	// EVTCHNOP_bind_pirq with it. PIRQUnbind undoes it when the port is
	// closed (pirq_guest_unbind). Both are called with the table's lock
	// held and must not call back into this table. nil: nothing to route.
	PIRQBind   func(pirq uint32, port Port, willShare bool) abi.Errno
	PIRQUnbind func(pirq uint32)
	// ControllerPaused reports whether the domain is paused by its
	// controller; EVTCHNOP_reset of another domain needs it. nil = never.
	ControllerPaused func() bool
}

// Table is one domain's event-channel port table and its 2-level or FIFO
// delivery state. All methods are safe for concurrent use. Methods named after an
// EVTCHNOP are called by the hypercall layer on the table of the calling
// domain (Xen's current->domain).
type Table struct {
	// Immutable after New.
	dom        abi.DomID
	nvcpus     int
	cfgMaxPort Port // Config.MaxPort, or DefaultMaxPort
	frames     Frames
	privileged bool
	mem        mm.MachineMemory
	shared     mm.Maddr
	notify     Notifier
	dir        Directory
	nrPIRQs    uint32
	pirqOK     func(uint32) bool
	pirqBind   func(uint32, Port, bool) abi.Errno
	pirqUnbind func(uint32)
	paused     func() bool

	// mu is the domain's event lock; see the lock order above.
	mu sync.Mutex
	// chans holds the valid ports, a whole number of buckets; guarded by mu.
	chans []channel
	// virqPort maps (vCPU, VIRQ) to its bound port, 0 = unbound. Global
	// VIRQs live in vCPU 0's row. Guarded by mu.
	virqPort [][abi.NR_VIRQS]Port
	// pirqPort maps a bound PIRQ to its port. Guarded by mu.
	pirqPort map[uint32]Port
	// dying is set by Destroy; no port is allocated after it. Guarded by mu.
	dying bool
	// maxPort is the highest allocatable port: cfgMaxPort within the
	// limit of the ABI in use (NrPorts2L or NrPortsFIFO ports). Guarded
	// by mu.
	maxPort Port
	// fifo is the FIFO state, nil while the domain uses the 2-level ABI
	// (fifo.go). Guarded by mu.
	fifo *fifoDomain

	// vcpuInfo holds each vCPU's vcpu_info machine address, or noVCPUInfo.
	// Atomic: the scheduler reads it without mu.
	vcpuInfo []atomic.Uint64
	// poll holds each vCPU's poll state (Xen's poll_mask bit and
	// poll_evtchn): 0 not polling, -1 polling any port, p > 0 polling
	// port p only. Atomic: set by the polling vCPU, cleared by whoever
	// wakes it.
	poll []atomic.Int64
	// pollers counts the nonzero entries of poll, so delivery can skip the
	// scan (Xen's bitmap_empty(poll_mask)).
	pollers atomic.Int32
}

// New returns the table of a new domain: port 0 reserved, every other port
// free, vcpu_info of vCPU v at SharedInfo + 64*v for v < LegacyVCPUs.
// It does not touch the shared_info page (see InitSharedInfo).
func New(c Config) *Table {
	if c.VCPUs < 1 || c.Notifier == nil || c.Memory == nil {
		panic("evtchn.New: Config needs VCPUs >= 1, a Notifier and Memory")
	}
	maxPort := c.MaxPort
	if maxPort == 0 {
		maxPort = DefaultMaxPort
	}
	t := &Table{
		dom:        c.Dom,
		nvcpus:     c.VCPUs,
		cfgMaxPort: maxPort,
		maxPort:    min(maxPort, NrPorts2L-1),
		frames:     c.Frames,
		privileged: c.Privileged,
		mem:        c.Memory,
		shared:     c.SharedInfo,
		notify:     c.Notifier,
		dir:        c.Directory,
		nrPIRQs:    c.NrPIRQs,
		pirqOK:     c.PIRQPermitted,
		pirqBind:   c.PIRQBind,
		pirqUnbind: c.PIRQUnbind,
		paused:     c.ControllerPaused,
		chans:      make([]channel, portsPerBucket),
		virqPort:   make([][abi.NR_VIRQS]Port, c.VCPUs),
		pirqPort:   make(map[uint32]Port),
		vcpuInfo:   make([]atomic.Uint64, c.VCPUs),
		poll:       make([]atomic.Int64, c.VCPUs),
	}
	t.chans[0].state = stateReserved
	for v := range t.vcpuInfo {
		if v < LegacyVCPUs {
			t.vcpuInfo[v].Store(uint64(c.SharedInfo) + uint64(v)*vcpuInfoSize)
		} else {
			t.vcpuInfo[v].Store(noVCPUInfo)
		}
	}
	return t
}

// Dom returns the table's domain id.
func (t *Table) Dom() abi.DomID { return t.dom }

// VCPUs returns the number of vCPUs of the table's domain.
func (t *Table) VCPUs() int { return t.nvcpus }

// InitSharedInfo prepares a fresh shared_info page the way Xen hands it to
// a new domain: the page zeroed and evtchn_upcall_mask = 1 in every legacy
// vcpu_info slot. Call it once, at domain creation, before anything else
// writes the page. It reports false if the page is not in machine memory.
func (t *Table) InitSharedInfo() bool {
	var page [mm.PageSize]byte
	for v := 0; v < LegacyVCPUs; v++ {
		page[v*vcpuInfoSize+1] = 1
	}
	return t.mem.Write(t.shared, page[:])
}

// SetVCPUInfo records that vCPU vcpu's vcpu_info now lives at machine
// address ma (VCPUOP_register_vcpu_info). ma must be 8-byte aligned and
// the 64 bytes must lie in one page; copying the old contents and marking
// events pending (Xen sets evtchn_pending_sel = ~0 and upcall_pending) is
// the caller's job, done with MarkAllPending after this call.
func (t *Table) SetVCPUInfo(vcpu int, ma mm.Maddr) abi.Errno {
	if vcpu < 0 || vcpu >= t.nvcpus {
		return abi.ENOENT
	}
	if ma&7 != 0 || ma.Offset() > mm.PageSize-vcpuInfoSize {
		return abi.EINVAL
	}
	t.vcpuInfo[vcpu].Store(uint64(ma))
	return 0
}

// VCPUInfo returns vCPU vcpu's vcpu_info machine address; ok is false for
// a vCPU without one. This is the one record of where a vcpu_info is:
// event delivery here, and hv's PV model (upcall mask, pending, CR2) and
// time updates, all read it on each access, so SetVCPUInfo moves them
// together.
func (t *Table) VCPUInfo(vcpu int) (ma mm.Maddr, ok bool) {
	if vcpu < 0 || vcpu >= t.nvcpus {
		return 0, false
	}
	a := t.vcpuInfo[vcpu].Load()
	return mm.Maddr(a), a != noVCPUInfo
}

// lookupAny resolves a domain id as rcu_lock_domain_by_any_id does:
// DOMID_SELF and the caller's own id give t, other ids go through the
// directory. nil means no such domain (-ESRCH).
func (t *Table) lookupAny(dom abi.DomID) *Table {
	if dom == abi.DOMID_SELF || dom == t.dom {
		return t
	}
	if t.dir == nil {
		return nil
	}
	return t.dir.Lookup(dom)
}

// mayControl is the XSM dummy policy's XSM_TARGET check: a domain may act
// on itself, and a privileged domain on any domain.
func (t *Table) mayControl(d *Table) bool { return d == t || t.privileged }

// valid reports whether port names allocated channel state (Xen's
// port_is_valid). Caller holds t.mu.
func (t *Table) valid(port Port) bool { return uint64(port) < uint64(len(t.chans)) }

// getFreePort returns the lowest free port, growing the table a bucket at
// a time (Xen's get_free_port). Caller holds t.mu.
func (t *Table) getFreePort() (Port, abi.Errno) {
	if t.dying {
		return 0, abi.EINVAL
	}
	for p := Port(1); p <= t.maxPort; p++ {
		if !t.valid(p) {
			t.chans = append(t.chans, make([]channel, portsPerBucket)...)
			return p, 0
		}
		// A free port still linked on a FIFO queue is not reused yet.
		if t.chans[p].state == stateFree && (t.fifo == nil || !t.fifoBusy(p)) {
			return p, 0
		}
	}
	return 0, abi.ENOSPC
}

// Registry is a Directory over a map: the domains the hypervisor knows.
type Registry struct {
	// mu guards tables and globalVIRQ; never held while a Table.mu is taken.
	mu     sync.RWMutex
	tables map[abi.DomID]*Table
	// globalVIRQ routes a global VIRQ to a domain other than the hardware
	// domain (XEN_DOMCTL_set_virq_handler).
	globalVIRQ map[uint32]abi.DomID
	// hardware is the hardware domain's id (0 unless changed).
	hardware abi.DomID
}

// NewRegistry returns an empty registry whose hardware domain is 0.
func NewRegistry() *Registry {
	return &Registry{tables: make(map[abi.DomID]*Table), globalVIRQ: make(map[uint32]abi.DomID)}
}

// Add registers t under its domain id, replacing any table with that id.
func (r *Registry) Add(t *Table) {
	r.mu.Lock()
	r.tables[t.dom] = t
	r.mu.Unlock()
}

// Remove forgets domain dom and any global VIRQ routed to it.
func (r *Registry) Remove(dom abi.DomID) {
	r.mu.Lock()
	delete(r.tables, dom)
	for v, d := range r.globalVIRQ {
		if d == dom {
			delete(r.globalVIRQ, v)
		}
	}
	r.mu.Unlock()
}

// Lookup implements Directory.
func (r *Registry) Lookup(dom abi.DomID) *Table {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.tables[dom]
}

// SetHardwareDomain names the domain that receives global VIRQs with no
// handler of their own.
func (r *Registry) SetHardwareDomain(dom abi.DomID) {
	r.mu.Lock()
	r.hardware = dom
	r.mu.Unlock()
}

// SetGlobalVIRQHandler routes global VIRQ virq to domain dom
// (set_global_virq_handler). It returns -EINVAL for a per-vCPU or unknown
// VIRQ and -ESRCH for an unknown domain.
func (r *Registry) SetGlobalVIRQHandler(dom abi.DomID, virq uint32) abi.Errno {
	if virq >= abi.NR_VIRQS || !virqIsGlobal(virq) {
		return abi.EINVAL
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tables[dom] == nil {
		return abi.ESRCH
	}
	r.globalVIRQ[virq] = dom
	return 0
}

// SendGlobalVIRQ raises global VIRQ virq in its handler domain, or in the
// hardware domain when it has none (Xen's send_global_virq). Used for
// VIRQ_CONSOLE and VIRQ_DOM_EXC.
func (r *Registry) SendGlobalVIRQ(virq uint32) {
	r.mu.RLock()
	dom, ok := r.globalVIRQ[virq]
	if !ok {
		dom = r.hardware
	}
	t := r.tables[dom]
	r.mu.RUnlock()
	if t != nil {
		t.SendVIRQGlobal(virq)
	}
}
