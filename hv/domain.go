package hv

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/evtchn"
	"github.com/gohv/gohv/grant"
	"github.com/gohv/gohv/hv/pv"
	"github.com/gohv/gohv/hypercall"
	"github.com/gohv/gohv/internal/klog"
	"github.com/gohv/gohv/ioport"
	"github.com/gohv/gohv/mm"
	"github.com/gohv/gohv/sched"
)

// DomainConfig describes a domain at creation.
type DomainConfig struct {
	ID    abi.DomID
	VCPUs int
	// Hardware makes the domain the hardware and control domain (dom0):
	// privileged, XENFEAT_dom0, raw console, its shutdown stops the machine.
	Hardware bool
	// IO is the domain's I/O-memory policy (nil: none).
	IO mm.IOPolicy
	// VMAssist is the initial vm_assist set the builder chose.
	VMAssist uint64
}

// Domain is one guest. It implements hypercall.Domain.
//
// Ownership: the Domain is the owner of everything the domain holds, for
// its whole lifetime (CreateDomain to DestroyDomain): its vCPUs, its
// shared_info frame, its grant table, its entries in the machine's
// registries, and state, the one record of its hypercall-visible state
// (vm_assist, shutdown, console buffer, event channels, memory model;
// hypercall.DomainState). Nothing is kept twice: Space, Events and
// Stopped read state.
type Domain struct {
	m        *Machine
	id       abi.DomID
	hardware bool
	state    *hypercall.DomainState
	// sharedInfo is the hypervisor-owned frame shared with the domain.
	sharedInfo mm.MFN
	vcpus      []*VCPU // fixed at creation
	pages      uint64  // frames given by the builder

	// mem is the domain's memory_op state (memop.go); enosys the
	// hypercalls it has got -ENOSYS for (enosys.go).
	mem    memState
	enosys enosysSeen

	// ports is the domain's port I/O (its capability and the PCI
	// configuration and RTC latches); nil on a machine without ports.
	ports *ioport.Domain

	// sched is the domain in the machine's scheduler (weight, cap, its
	// vCPUs' credit and affinity); immutable after create.
	sched *sched.Domain

	// vcpuMu is Xen's domain_lock as vcpu_op takes it: it orders
	// VCPUOP_initialise, VCPUOP_up and the start of a vCPU's goroutine.
	vcpuMu sync.Mutex

	// dying is Xen's is_dying: DestroyDomain has started; the vCPUs leave
	// their run loops and never enter the guest again.
	dying atomic.Bool
}

// Errors of CreateDomain and DestroyDomain.
var (
	ErrDomainExists = errors.New("hv: domain id in use")
	ErrNoMemory     = errors.New("hv: out of memory for a domain's hypervisor pages")
	ErrNoDomain     = errors.New("hv: no such domain")
	ErrDomainBusy   = errors.New("hv: another domain still holds the domain's grants or frames")
)

// CreateDomain creates a domain with no memory yet: its PV memory model,
// shared_info page, event channels, grant table and vCPUs (offline). On
// failure everything it had set up is given back: frames to the
// allocator, the frame table's and the registries' entries removed.
func (m *Machine) CreateDomain(c DomainConfig) (*Domain, error) {
	if c.VCPUs < 1 || c.VCPUs > evtchn.LegacyVCPUs {
		return nil, fmt.Errorf("hv: %d vCPUs (1..%d)", c.VCPUs, evtchn.LegacyVCPUs)
	}
	m.mu.Lock()
	if _, ok := m.domains[c.ID]; ok {
		m.mu.Unlock()
		return nil, ErrDomainExists
	}
	m.mu.Unlock()
	space, err := mm.NewSpace(m.cfg.Frames, c.ID, c.IO)
	if err != nil {
		return nil, err
	}
	d := &Domain{m: m, id: c.ID, hardware: c.Hardware}
	d.mem.io = c.IO
	if m.ports != nil {
		d.ports = &ioport.Domain{Host: m.ports, Hardware: c.Hardware}
		if c.Hardware {
			d.ports.Caps = ioport.AllBut(m.cfg.DeniedPorts)
		}
	}
	if err := d.create(c, space); err != nil {
		d.undoCreate(space)
		return nil, err
	}
	m.mu.Lock()
	if _, ok := m.domains[c.ID]; ok {
		m.mu.Unlock()
		d.undoCreate(space)
		return nil, ErrDomainExists
	}
	m.domains[c.ID] = d
	m.mu.Unlock()
	m.registry.Add(d.Events())
	if c.Hardware {
		m.registry.SetHardwareDomain(c.ID)
	}
	return d, nil
}

// create sets up d's hypervisor-owned parts in space; undoCreate takes
// back whatever it got to.
func (d *Domain) create(c DomainConfig, space *mm.Space) error {
	m := d.m
	si, ok := m.cfg.Alloc.Alloc()
	if !ok {
		return ErrNoMemory
	}
	if err := m.cfg.Frames.Share(si, c.ID, true); err != nil {
		m.cfg.Alloc.Free(si)
		return err
	}
	d.sharedInfo = si
	maxPort := evtchn.Port(0)
	if c.Hardware {
		maxPort = evtchn.NrPortsFIFO - 1 // no limit below the ABI's maximum for dom0
	}
	pirqs := m.irqs.NewTable(c.ID, c.Hardware)
	events := evtchn.New(evtchn.Config{
		Dom: c.ID, VCPUs: c.VCPUs, MaxPort: maxPort, Privileged: c.Hardware,
		Memory: m.cfg.Mem, SharedInfo: si.Addr(), Notifier: kicker{d}, Directory: m.registry,
		NrPIRQs: uint32(pirqs.NrPIRQs()), PIRQPermitted: pirqs.Permitted,
		PIRQBind: pirqs.Bind, PIRQUnbind: pirqs.Unbind,
		Frames: evtchn.FrameTableFrames{FT: m.cfg.Frames, Flush: machineFlusher{m}},
	})
	pirqs.SetEvents(events)
	if !events.InitSharedInfo() {
		return fmt.Errorf("hv: shared_info frame %#x is not in machine memory", si)
	}
	d.state = hypercall.NewDomainState(hypercall.DomainConfig{Events: events, Space: space, VMAssist: c.VMAssist, PIRQs: pirqs})
	d.updateWallClock()
	// Grant v1 and v2, as Xen 4.17's default gnttab_max_version.
	if e := m.grants.Create(c.ID, grant.Config{Control: c.Hardware, MaxVersion: 2}, grantFrames{m, c.ID}); e != 0 {
		return fmt.Errorf("hv: grant table: %v", e)
	}
	d.sched = m.sched.NewDomain()
	for i := 0; i < c.VCPUs; i++ {
		v := &VCPU{dom: d, id: i, sched: d.sched.NewVCPU(i, m.newParker()), pcpu: -1}
		v.waiter = sched.NewWaiter(i, events, m.cfg.Clock, m.cfg.Timers, m.newParker())
		v.initVCPUState()
		v.guest = hypercall.SpaceGuest{Space: space, Mem: m.cfg.Mem, Tables: &v.tables}
		if da, ok := m.cfg.Backend.(hypercall.DirectAccess); ok {
			v.guest.Direct = da
		}
		v.caller = hypercall.Caller{Mem: &v.guest, Domain: d, VCPU: v}
		v.pv = pv.NewVCPU(i, pvMemory{v}, vcpuInfo{v}, pvDomain{v}, m.cfg.Policy, &v.tables)
		v.pv.PT = ptWriter{v}
		v.pv.Regs = &v.Regs
		v.pv.Machine = pv.Machine{Frames: m.cfg.Frames, Mem: m.cfg.Mem, Dom: c.ID}
		d.vcpus = append(d.vcpus, v)
	}
	return nil
}

// undoCreate gives back what create set up for a domain that was never
// registered (no vCPU has run, no other domain knows it): the grant
// table, the shared_info frame, the frame table's record of the domain.
func (d *Domain) undoCreate(space *mm.Space) {
	m := d.m
	if d.sched != nil {
		d.sched.Remove()
	}
	if m.grants.Has(d.id) {
		m.grants.Destroy(d.id)
	}
	if d.sharedInfo != 0 {
		m.releaseFrame(d.sharedInfo, d.id)
		d.sharedInfo = 0
	}
	m.cfg.Frames.RemoveSpace(space)
}

// releaseFrame drops domain dom's owner reference on frame f and gives
// every frame that became free to the allocator, after a TLB flush (no
// guest may reach them through a stale translation once they are handed
// out again).
func (m *Machine) releaseFrame(f mm.MFN, dom abi.DomID) {
	m.cfg.Frames.Release(f, dom, machineFlusher{m})
	m.freeReleased()
}

// freeReleased gives the frames whose last reference went back to the
// allocator, flushing the TLBs first.
func (m *Machine) freeReleased() int {
	freed := m.cfg.Frames.TakeFreed()
	if len(freed) > 0 {
		m.cfg.Backend.FlushTLB()
	}
	for _, f := range freed {
		m.cfg.Alloc.Free(f)
	}
	return len(freed)
}

// grantFrames hands out grant-table frames shared with domain dom.
type grantFrames struct {
	m   *Machine
	dom abi.DomID
}

func (g grantFrames) AllocFrame() (mm.MFN, bool) {
	f, ok := g.m.cfg.Alloc.Alloc()
	if !ok {
		return 0, false
	}
	if g.m.cfg.Frames.Share(f, g.dom, true) != nil {
		g.m.cfg.Alloc.Free(f)
		return 0, false
	}
	return f, true
}

// FreeFrame gives a grant frame back: to the allocator once no domain
// maps it any more (the frame table puts it on its freed list then).
func (g grantFrames) FreeFrame(f mm.MFN) { g.m.releaseFrame(f, g.dom) }

// ID, Privileged, HardwareDomain, State and Shutdown implement
// hypercall.Domain.
func (d *Domain) ID() abi.DomID                 { return d.id }
func (d *Domain) Privileged() bool              { return d.hardware }
func (d *Domain) HardwareDomain() bool          { return d.hardware }
func (d *Domain) State() *hypercall.DomainState { return d.state }
func (d *Domain) Space() *mm.Space              { return d.state.Space() }
func (d *Domain) Events() *evtchn.Table         { return d.state.Events() }
func (d *Domain) SharedInfo() mm.MFN            { return d.sharedInfo }
func (d *Domain) VCPU(i int) *VCPU              { return d.vcpus[i] }
func (d *Domain) Sched() *sched.Domain          { return d.sched }
func (d *Domain) currentL4() mm.MFN             { return d.vcpus[0].tables.Kernel }
func (d *Domain) log() *klog.Logger             { return d.m.cfg.Log }

// Pages reports how many frames the domain owns (its P2M's length).
func (d *Domain) Pages() uint64 { return d.pages }

// Stopped reports whether the domain's vCPUs must not run: it has shut
// down (its DomainState says so) or is being destroyed.
func (d *Domain) Stopped() bool { return d.state.ShuttingDown() || d.dying.Load() }

// Shutdown stops the domain's vCPUs (hypercall.Shutdown has recorded the
// shutdown in the DomainState, which Stopped reads); for the hardware
// domain it stops the machine as Xen's hwdom_shutdown does. First each
// vCPU's count of the metal's fast path (hits only) is printed.
func (d *Domain) Shutdown(code uint8) {
	for _, v := range d.vcpus {
		v.waiter.Interrupt()
		v.kickParked()
	}
	d.fastPathReport()
	d.exitReport()
	if !d.hardware {
		d.log().Printf(klog.Info, "Domain %d shut down: reason %d", d.id, code)
		return
	}
	p := d.m.cfg.Power
	switch code {
	case abi.SHUTDOWN_poweroff:
		d.log().Printf(klog.Err, "Hardware Dom%d halted: powering off machine", d.id)
		p.PowerOff()
	case abi.SHUTDOWN_reboot:
		d.log().Printf(klog.Err, "Hardware Dom%d shutdown: rebooting machine", d.id)
		p.Reboot()
	case abi.SHUTDOWN_crash:
		d.maybeReboot(fmt.Sprintf("Hardware Dom%d crashed: ", d.id))
	default:
		d.maybeReboot(fmt.Sprintf("Hardware Dom%d shutdown (unknown reason %d): ", d.id, code))
	}
}

// fastPathReport prints, for each vCPU the metal's fast path served, how
// often it did (gohv's own line: tests assert it ran), and for each vCPU
// kicked by IPI, how often (KickIPIs) and how many upcalls the fast path
// delivered without an exit (FastEvents).
func (d *Domain) fastPathReport() {
	for _, v := range d.vcpus {
		if b, i, f, h := v.FastPathHits(); b+i+f+h != 0 {
			d.log().Lines([]string{fmt.Sprintf("gohv d%dv%d fast path: %d syscall bounces, %d irets, %d page faults, %d hypercalls", d.id, v.id, b, i, f, h)})
		}
		if n := v.KickIPIs(); n != 0 {
			d.log().Lines([]string{fmt.Sprintf("gohv d%dv%d kicks: %d IPIs, %d upcalls delivered by the fast path", d.id, v.id, n, v.FastEvents())})
		}
	}
}

func (d *Domain) maybeReboot(prefix string) {
	if d.m.cfg.NoReboot {
		d.log().Printf(klog.Err, "%s'noreboot' set - not rebooting.", prefix)
		d.m.cfg.Power.Halt()
		return
	}
	d.log().Printf(klog.Err, "%srebooting machine in 5 seconds.", prefix)
	d.m.cfg.Power.Reboot()
}
