package hv

import (
	"slices"

	"github.com/gohv/gohv/hypercall"
	"github.com/gohv/gohv/internal/klog"
	"github.com/gohv/gohv/mm"
	"github.com/gohv/gohv/pirq"
)

// This file wires physdev_op and platform_op to the machine: the vCPU's
// I/O privileges, the wall clock every domain's shared_info shows, and
// what the machine knows of its physical CPUs.

// IRQs is the machine's guest interrupt state: the metal calls its
// Interrupt for each interrupt of a guest-bound IRQ (see package pirq).
func (m *Machine) IRQs() *pirq.Machine { return m.irqs }

// X86_EFLAGS_IOPL's shift: the virtual IOPL is kept in RFLAGS position.
const ioplShift = 12

// SetIOPL implements hypercall.IOVCPU (PHYSDEVOP_set_iopl). From the
// vCPU's own goroutine.
func (v *VCPU) SetIOPL(iopl uint32) { v.pv.IOPL = uint64(iopl&3) << ioplShift }

// SetIOBitmap implements hypercall.IOVCPU (PHYSDEVOP_set_iobitmap). From
// the vCPU's own goroutine.
func (v *VCPU) SetIOBitmap(bitmap mm.GuestVA, nrPorts uint32) {
	v.pv.IOBitmap, v.pv.IOBitmapPorts = bitmap, nrPorts
}

var _ hypercall.IOVCPU = (*VCPU)(nil)

// platform implements hypercall.Platform for a Machine.
type platform struct{ m *Machine }

const nsPerSec = 1_000_000_000

// SetWallClock is Xen's do_settime: the wall clock at system time 0
// becomes secs.nsecs minus systemTime (unsigned arithmetic, as Xen's),
// for every domain now and every domain created later.
func (p platform) SetWallClock(secs uint64, nsecs uint32, systemTime uint64) {
	x := secs*nsPerSec + uint64(nsecs) - systemTime
	m := p.m
	m.wcMu.Lock()
	m.wcSet, m.wcSec, m.wcNsec = true, int64(x/nsPerSec), int32(x%nsPerSec)
	m.wcMu.Unlock()
	m.mu.Lock()
	doms := make([]*Domain, 0, len(m.domains))
	for _, d := range m.domains {
		doms = append(doms, d)
	}
	m.mu.Unlock()
	for _, d := range doms {
		d.updateWallClock()
	}
}

// wallClock returns the UTC time at system time 0: the one platform_op
// set last, else the TimeSource's; ok false with neither.
func (m *Machine) wallClock() (sec int64, nsec int32, ok bool) {
	m.wcMu.Lock()
	defer m.wcMu.Unlock()
	if m.wcSet {
		return m.wcSec, m.wcNsec, true
	}
	if m.cfg.Time == nil {
		return 0, 0, false
	}
	sec, nsec = m.cfg.Time.WallClock()
	return sec, nsec, true
}

// CPUID leaves and bits read for the physical CPU's description.
const (
	cpuidMonitorECX = 1 << 3 // leaf 1 ECX: MONITOR/MWAIT
	cpuid5ExtECX    = 1 << 0 // leaf 5 ECX: MWAIT extensions enumerated
	cpuid5BreakECX  = 1 << 1 // leaf 5 ECX: interrupts break MWAIT
)

// PCPU describes the one physical CPU gohv runs on (CPU 0): online, its
// initial APIC id from CPUID leaf 1; its ACPI id is unknown (gohv does not
// read the MADT).
func (p platform) PCPU(id uint32) (hypercall.PCPU, bool) {
	if id != 0 {
		return hypercall.PCPU{}, false
	}
	cpu := hypercall.PCPU{Online: true, ACPIID: ^uint32(0)}
	if pol := p.m.cfg.Policy; pol != nil && pol.Host() != nil {
		h := pol.Host()
		maxLeaf, _, _, _ := h.CPUID(0, 0)
		_, b, c, _ := h.CPUID(1, 0)
		cpu.APICID = b >> 24
		if c&cpuidMonitorECX != 0 && maxLeaf >= 5 {
			_, _, c5, _ := h.CPUID(5, 0)
			cpu.MWAITBreak = c5&cpuid5ExtECX != 0 && c5&cpuid5BreakECX != 0
		}
	}
	return cpu, true
}

// MaxPresentPCPU is 0: one CPU.
func (p platform) MaxPresentPCPU() uint32 { return 0 }

// PowerOffS5 is Xen's enter_state for ACPI S5, which Linux's dom0 asks
// for through XENPF_enter_acpi_sleep when it powers off (its two lines at
// the default level, as Xen 4.17 prints them): the machine goes
// off by its ACPI S5 (gohv's own SLP_TYP from \_S5, where Xen writes the
// values dom0 passed). Before them, each domain's fast-path counts.
func (p platform) PowerOffS5() {
	p.m.mu.Lock()
	doms := make([]*Domain, 0, len(p.m.domains))
	for _, d := range p.m.domains {
		doms = append(doms, d)
	}
	p.m.mu.Unlock()
	slices.SortFunc(doms, func(a, b *Domain) int { return int(a.id) - int(b.id) })
	for _, d := range doms {
		d.fastPathReport()
		d.exitReport()
	}
	p.m.cfg.Log.Printf(klog.Warning, "Preparing system for ACPI S5 state.")
	p.m.cfg.Log.Printf(klog.Warning, "Entering ACPI S5 state.")
	p.m.cfg.Power.PowerOff()
}

var _ hypercall.Platform = platform{}
