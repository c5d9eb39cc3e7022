package hv

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/arch"
	"github.com/gohv/gohv/evtchn"
	"github.com/gohv/gohv/grant"
	"github.com/gohv/gohv/hv/pv"
	"github.com/gohv/gohv/hypercall"
	"github.com/gohv/gohv/internal/klog"
	"github.com/gohv/gohv/ioport"
	"github.com/gohv/gohv/mm"
	"github.com/gohv/gohv/pci"
	"github.com/gohv/gohv/pirq"
	"github.com/gohv/gohv/sched"
)

// Backend runs vCPUs on the metal and keeps the CPUs' TLBs honest. If it
// also implements hypercall.DirectAccess, guest copies try it first.
type Backend interface {
	// Run enters the guest with regs on the page tables rooted at cr3 and
	// returns when the guest exits. It is called only from the vCPU's own
	// goroutine; the Backend must keep that goroutine on one OS thread for
	// the vCPU's lifetime.
	Run(v *VCPU, regs *arch.Regs, cr3 mm.MFN) (arch.Exit, error)
	// FlushTLB flushes every CPU's TLB of guest translations: the other
	// CPUs' before it returns (a guest running there sees the change at
	// once, as after Xen's flush_tlb_mask), this one's before a guest
	// runs here again (the loaded page tables stay loaded between exits
	// and entries, so a changed mapping survives until someone flushes).
	// Any goroutine.
	FlushTLB()
	// FlushLocalTLB flushes the TLB vCPU v's own translations are in, as
	// Xen's flush_tlb_local for the CPU a vCPU runs on: the CPU v last
	// entered the guest on, and the one its goroutine is on now, flush
	// before v's next entry or guest copy there. No other CPU is asked:
	// one v entered before flushes before v runs there again (Run's rule
	// of a CPU another vCPU entered last, or that v left for another),
	// and another vCPU's translations of the same tables are the guest's
	// to flush (a mask naming it). Called from v's goroutine.
	FlushLocalTLB(v *VCPU)
	// InvalidatePage drops the translation of va from the TLBs.
	InvalidatePage(va mm.GuestVA)
	// SetGDT gives vCPU v the GDT in frames (validated descriptor pages,
	// at most 14; nil when the vCPU is destroyed): from v's next entry,
	// selectors below 0xe000 are looked up there. The frames v had before
	// may be released once it returns. Called from v's goroutine, by
	// another vCPU's VCPUOP_initialise of v before v has ever run, or by
	// DestroyDomain after v has left Run for good.
	SetGDT(v *VCPU, frames []mm.MFN)
	// Kick tells vCPU v that an upcall became pending for it (Xen's
	// vcpu_kick): if v is in the guest on another CPU, that CPU is made
	// to exit it now, and if v is about to enter the guest, Run returns
	// at once with a zero Exit instead (nothing ran), so the Run loop
	// delivers the event before the guest goes on. A v in gohv needs
	// nothing. It reports whether it sent an IPI. It must not block: it
	// is called from any goroutine with event-channel locks held.
	Kick(v *VCPU) bool
	// FlushCache writes back and invalidates caches (WBINVD): this CPU's,
	// or every CPU's if global. Any goroutine; it may run with mm's
	// FrameTable lock held, so it must not call into mm.
	FlushCache(global bool)
}

// Power is what the machine does when the hardware domain stops.
type Power interface {
	PowerOff()
	Reboot()
	// Halt stops for good (noreboot after a crash).
	Halt()
}

// ConsoleSink is the serial console as domains see it.
type ConsoleSink interface {
	// WriteRaw writes bytes as they are (the hardware domain's output).
	WriteRaw(p []byte)
}

// Config is the machine hv runs.
type Config struct {
	Mem     mm.MachineMemory
	Alloc   *mm.Allocator
	Frames  *mm.FrameTable
	M2P     *mm.M2P // the domain builder records its frames here
	Log     *klog.Logger
	Console ConsoleSink
	Power   Power
	Clock   sched.Clock
	Timers  sched.TimerSource
	// NewParker makes what a vCPU's goroutine sleeps on: two per vCPU,
	// one for SCHEDOP_block and SCHEDOP_poll (sched.NewWaiter), one for
	// waiting for a physical CPU (sched.Domain.NewVCPU). cmd/gohv's is a
	// futex word, on which the vCPU's thread sleeps in the shim. nil: a
	// sched.ChanParker, a channel.
	NewParker func() sched.Parker
	// Time feeds the guests' vcpu_time_info and wall clock (nil: none).
	Time     TimeSource
	Backend  Backend
	NoReboot bool
	Version  hypercall.VersionInfo
	// Policy is the PV CPUID policy and host CPU facts guests run with.
	Policy *pv.Policy
	// Ports performs physical port accesses (nil: none; every port reads
	// as all ones). DeniedPorts are the ports the hardware domain may not
	// reach (ioport.Dom0Denied); it holds every other port. Other domains
	// hold none.
	Ports       PortIO
	DeniedPorts []ioport.Range
	// PCI is configuration space, which the hardware domain's CONFIG_DATA
	// accesses reach and IRQ's MSI programming shares (nil: one over
	// Ports that reaches no device memory).
	PCI *pci.Bus
	// HostMemoryMap is the host's memory map from the boot information
	// (any order; overlaps are clipped), for XENMEM_machine_memory_map.
	HostMemoryMap []hypercall.E820Entry
	// PhysCPUs are the ids of the physical CPUs by CPU number, for
	// VCPUOP_get_physid (nil: unknown, and get_physid is -EINVAL).
	PhysCPUs []PhysCPU
	// CPUs is how many physical CPUs the vCPU scheduler (sched.Scheduler)
	// shares out; 0: sched.MaxCPUs, a slot for every vCPU (host tests).
	CPUs int
	// Tickle makes the vCPU running on physical CPU cpu leave the guest
	// soon (an IPI): a waker beats it, or its affinity or budget says it
	// must go (sched.Scheduler.SetTickle). nil: it notices at its CPU's
	// next timer tick.
	Tickle func(cpu int)
	// SetCPU moves the calling goroutine's OS thread to physical CPU cpu
	// alone (-1: lets it run on any): hv calls it on a vCPU's goroutine
	// (Run) with -1 before the vCPU may wait for a CPU and with the CPU
	// the scheduler hands it when that is not the one its thread is
	// bound to. nil: the thread runs wherever the OS puts it.
	SetCPU func(cpu int)
	// StartVCPU starts v.Run on a goroutine of its own, which the
	// Backend's Run needs locked to one OS thread (cmd/gohv's startVCPU);
	// hv calls it once per vCPU, when the vCPU first comes up (UpVCPU).
	// nil: a goroutine locked with runtime.LockOSThread.
	StartVCPU func(v *VCPU)
	// IRQ is the interrupt hardware guests' PIRQs are routed through;
	// nil: none (physdev_op gives Xen's answers for a machine without
	// it).
	IRQ pirq.Controller
}

// Machine is the set of domains and the services they share. Safe for
// concurrent use.
type Machine struct {
	cfg      Config
	disp     *hypercall.Dispatcher
	grants   *grant.Tables
	registry *evtchn.Registry
	irqs     *pirq.Machine
	ports    *ioport.Host // nil without cfg.Ports
	// sched shares the physical CPUs among every domain's vCPUs.
	sched *sched.Scheduler

	wcMu   sync.Mutex // guards wcSet, wcSec, wcNsec
	wcSet  bool       // platform_op has set the wall clock
	wcSec  int64      // UTC at system time 0, once wcSet
	wcNsec int32

	mu      sync.Mutex // guards domains
	domains map[abi.DomID]*Domain

	countExits atomic.Bool // the vCPUs count their exits (CountExits)

	inMu sync.Mutex // guards in
	in   []byte     // serial input for the hardware domain's console_io read
}

// maxConsoleInput bounds the serial input kept for console_io read; the
// oldest bytes go first (Xen's serial_rx_ring is 16 KiB).
const maxConsoleInput = 16 << 10

// ConsoleInput queues serial input for the hardware domain and raises
// VIRQ_CONSOLE, as Xen does when input is switched to dom0.
func (m *Machine) ConsoleInput(p []byte) {
	m.inMu.Lock()
	m.in = append(m.in, p...)
	if over := len(m.in) - maxConsoleInput; over > 0 {
		m.in = append(m.in[:0], m.in[over:]...)
	}
	m.inMu.Unlock()
	m.registry.SendGlobalVIRQ(abi.VIRQ_CONSOLE)
}

// newParker makes a vCPU's Parker (Config.NewParker), nil for the
// scheduler's default, a channel.
func (m *Machine) newParker() sched.Parker {
	if m.cfg.NewParker == nil {
		return nil
	}
	return m.cfg.NewParker()
}

// NewMachine wires the hypercall layer to cfg's memory and console.
func NewMachine(cfg Config) *Machine {
	m := &Machine{cfg: cfg, registry: evtchn.NewRegistry(), domains: map[abi.DomID]*Domain{}}
	ncpus := cfg.CPUs
	if ncpus <= 0 {
		ncpus = sched.MaxCPUs
	}
	m.sched = sched.NewScheduler(ncpus, cfg.Clock, cfg.Timers)
	m.sched.SetTickle(cfg.Tickle)
	if cfg.Ports != nil {
		m.ports = &ioport.Host{Metal: cfg.Ports, PCI: cfg.PCI}
	}
	m.grants = grant.NewTables(cfg.Mem, grant.FrameTableFrames{FT: cfg.Frames, Flush: machineFlusher{m}}, grantMapper{m})
	m.irqs = pirq.NewMachine(pirq.Config{Controller: cfg.IRQ, Frames: cfg.Frames, Mem: cfg.Mem, Flush: machineFlusher{m}})
	m.disp = hypercall.New(hypercall.Config{
		Console:  &console{m: m},
		Domains:  directory{m},
		Grants:   m.grants,
		Version:  cfg.Version,
		IRQs:     m.irqs,
		Platform: platform{m},
	})
	if err := pv.Register(m.disp); err != nil {
		panic(err) // boot-time wiring, not guest input
	}
	return m
}

// Scheduler is the machine's vCPU scheduler (weights, caps, affinity).
func (m *Machine) Scheduler() *sched.Scheduler { return m.sched }

// Frames is the machine's frame table.
func (m *Machine) Frames() *mm.FrameTable { return m.cfg.Frames }

// Dispatcher is the machine's hypercall table (hv/pv's handlers included).
func (m *Machine) Dispatcher() *hypercall.Dispatcher { return m.disp }

// Domain returns domain id, or nil.
func (m *Machine) Domain(id abi.DomID) *Domain {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.domains[id]
}

type directory struct{ m *Machine }

func (d directory) Lookup(id abi.DomID) (hypercall.Domain, bool) {
	dom := d.m.Domain(id)
	if dom == nil {
		return nil, false
	}
	return dom, true
}

// machineFlusher is the mm.Flusher of operations no vCPU issues (the
// grant layer's references, a released frame): flushes reach every CPU
// through the Backend; there is no vCPU mask to read.
type machineFlusher struct{ m *Machine }

func (f machineFlusher) ReadVCPUMask(abi.GuestHandle) ([]uint64, bool) { return nil, false }
func (f machineFlusher) FlushTLB(mm.FlushTarget)                       { f.m.cfg.Backend.FlushTLB() }
func (f machineFlusher) InvalidatePage(_ mm.FlushTarget, va mm.GuestVA) {
	f.m.cfg.Backend.InvalidatePage(va)
}
func (f machineFlusher) FlushCache(global bool) { f.m.cfg.Backend.FlushCache(global) }

// grantMapper installs grant host mappings in the mapping domain's page
// tables (the PV MMU owns them).
type grantMapper struct{ m *Machine }

func (g grantMapper) MapGrant(d abi.DomID, hostAddr uint64, mfn mm.MFN, flags uint32) grant.Status {
	dom := g.m.Domain(d)
	if dom == nil {
		return abi.GNTST_bad_domain
	}
	// The grant entry's cache attribute is not passed through grant's
	// Mapper yet: write-back (0).
	if !dom.Space().MapGrant(dom.currentL4(), hostAddr, mfn, flags, 0, machineFlusher{g.m}) {
		return abi.GNTST_general_error
	}
	return abi.GNTST_okay
}

func (g grantMapper) UnmapGrant(d abi.DomID, hostAddr uint64, mfn mm.MFN, flags uint32) grant.Status {
	dom := g.m.Domain(d)
	if dom == nil {
		return abi.GNTST_bad_domain
	}
	if !dom.Space().UnmapGrant(dom.currentL4(), hostAddr, mfn, flags) {
		return abi.GNTST_general_error
	}
	// As Xen's gnttab_flush_tlb: no translation of the frame may outlive
	// the mapping, or the granter could not take the frame back.
	g.m.cfg.Backend.FlushTLB()
	return abi.GNTST_okay
}

// console implements hypercall.Console over the machine's sink.
type console struct{ m *Machine }

func (c *console) WriteRaw(dom abi.DomID, p []byte) { c.m.cfg.Console.WriteRaw(p) }

func (c *console) WriteLine(dom abi.DomID, line []byte) {
	c.m.cfg.Console.WriteRaw([]byte(fmt.Sprintf("(d%d) %s\n", dom, line)))
}

func (c *console) PeekInput(p []byte) int {
	c.m.inMu.Lock()
	defer c.m.inMu.Unlock()
	return copy(p, c.m.in)
}

func (c *console) DiscardInput(n int) {
	c.m.inMu.Lock()
	defer c.m.inMu.Unlock()
	if n > len(c.m.in) {
		n = len(c.m.in)
	}
	c.m.in = append(c.m.in[:0], c.m.in[n:]...)
}
