package main

import (
	"errors"
	"fmt"
	"math/bits"
	"runtime"
	"runtime/metrics"
	"sort"
	"time"

	"github.com/gohv/gohv/arch"
	"github.com/gohv/gohv/arch/amd64"
	"github.com/gohv/gohv/arch/amd64/hw"
	"github.com/gohv/gohv/arch/amd64/rt"
	"github.com/gohv/gohv/boot"
	"github.com/gohv/gohv/hv"
	"github.com/gohv/gohv/hv/pv"
	"github.com/gohv/gohv/hypercall"
	"github.com/gohv/gohv/internal/klog"
	"github.com/gohv/gohv/ioport"
	"github.com/gohv/gohv/mm"
	"github.com/gohv/gohv/pci"
	"github.com/gohv/gohv/sched"
)

// machineMemory is mm.MachineMemory over the metal's direct map.
type machineMemory struct{ p rt.PhysMemory }

func (m *machineMemory) Read(ma mm.Maddr, b []byte) bool  { return m.p.Read(uint64(ma), b) }
func (m *machineMemory) Write(ma mm.Maddr, b []byte) bool { return m.p.Write(uint64(ma), b) }

// ReadTable makes machineMemory an mm.TableReader: a page table's entries
// copied as words.
func (m *machineMemory) ReadTable(ma mm.Maddr, t *[512]uint64) bool {
	return m.p.ReadTable(uint64(ma), t)
}

// Slice makes machineMemory an hv.SliceMemory: the direct map, no copy.
func (m *machineMemory) Slice(ma mm.Maddr, n uint64) ([]byte, bool) { return m.p.Slice(uint64(ma), n) }
func (m *machineMemory) Copy(dst, src mm.Maddr, n uint64) bool {
	return m.p.Copy(uint64(dst), uint64(src), n)
}
func (m *machineMemory) Load64(ma mm.Maddr) (uint64, bool) {
	return m.p.Load64(uint64(ma))
}
func (m *machineMemory) CompareAndSwap64(ma mm.Maddr, old, new uint64) (bool, bool) {
	return m.p.CompareAndSwap64(uint64(ma), old, new)
}
func (m *machineMemory) Or64(ma mm.Maddr, bits uint64) (uint64, bool) {
	return m.p.Or64(uint64(ma), bits)
}
func (m *machineMemory) And64(ma mm.Maddr, mask uint64) (uint64, bool) {
	return m.p.And64(uint64(ma), mask)
}

// metal is hv's Power, ConsoleSink and TimeSource on arch/amd64/rt.
type metal struct{ noReboot bool }

// context returns the vCPU's context on the metal, made on first use.
// A vCPU's thread takes the device vectors that stop its guest
// (SetTakeDeviceIRQs; backend.Run delivers them), so they wake no other
// thread.
func context(v *hv.VCPU) *rt.GuestContext {
	g, _ := v.BackendState.(*rt.GuestContext)
	if g == nil {
		g = rt.NewGuestContext()
		g.SetTakeDeviceIRQs(true)
		v.BackendState = g
	}
	return g
}

// backend is hv's Backend on arch/amd64/rt. (Pointer receivers: the
// interface calls then need no wrapper, on the path of every exit.)
type backend struct {
	hostDebugTraps uint64         // rt.HostDebugTraps's count last logged
	irqs           *irqController // takes the device interrupts that stop a guest
}

// Run enters the guest with the vCPU's context on the metal, after
// loading what the PV layer changed (its breakpoints, its CR4 bits; TS is
// passed on every entry) and what the fast path may do without an exit
// (the SYSCALL bounce and HYPERVISOR_iret, rt's FastPath); what that did
// goes back to hv before the exit is handled.
func (b *backend) Run(v *hv.VCPU, regs *arch.Regs, cr3 mm.MFN) (arch.Exit, error) {
	if rt.HeapShort() {
		runtime.Gosched() // the heap's grower first (rt.HeapShort)
	}
	g := context(v)
	if ch := v.TakeChanged(); ch != 0 {
		if ch&pv.ChangedXCR0 != 0 {
			// The policy offers no XSAVE (PolicyConfig.XCR0 is 0), so this
			// is a bug: refuse rather than run with the wrong XCR0.
			return arch.Exit{}, errXCR0
		}
		if ch&pv.ChangedDebug != 0 {
			g.SetDebugRegs(v.DebugRegs())
		}
		if ch&pv.ChangedCR4 != 0 {
			g.SetCR4(v.LoadedCR4())
		}
	}
	if f, info, ok := v.FastPath(); ok {
		g.SetFastPath(&rt.FastPath{Kernel: f.Kernel, KernelCR3: uint64(f.KernelTable.Addr()),
			UserCR3: uint64(f.UserTable.Addr()), VCPUInfo: uint64(info), Syscall: f.Syscall,
			SyscallFrame: f.SyscallFrame, SyscallMask: f.SyscallMask, Iret: true,
			PageFault: f.PageFault, PageFaultFrame: f.PageFaultFrame, PageFaultMask: f.PageFaultMask,
			Event: f.Event, EventFrame: f.EventFrame, Singleshot: v.FastSingleshot(), VCPUID: uint32(v.ID()),
			XenVersion: hypercall.XenMajor<<16 | hypercall.XenMinor})
	} else {
		g.SetFastPath(nil)
	}
	g.SetQuietFor(v.QuietFor())
	g.SetDeadlines(v.RunDeadlines())
	if rt.DeviceIRQsPending() {
		// One came while this thread ran Go code: its PIRQ's event is
		// pending before this entry instead of after run's goroutine
		// gets the CPU.
		b.irqs.deliver(rt.TakeDeviceIRQs(rt.TakenAtEntry))
	}
	var exit arch.Exit
	err := g.Run(regs, uint64(cr3.Addr()), v.VirtualTS(), &exit)
	if exit.Kind == arch.ExitInterrupt && hw.IsDeviceVector(exit.Vector) {
		// The vector woke nobody (SetTakeDeviceIRQs, set in context):
		// deliver it here, as Xen's do_IRQ does on the CPU it came to;
		// the upcall follows at the next entry.
		b.irqs.deliver(rt.TakeDeviceIRQs(rt.TakenAtExit))
	}
	bounces, irets, kernel := g.FastPathRan()
	faults, cr2 := g.FastFaults()
	events := g.FastEvents()
	if bounces+irets+faults+events != 0 {
		v.FastPathRan(kernel, bounces, irets)
	}
	if events != 0 {
		v.FastEventsRan(events)
	}
	if faults != 0 {
		v.FastFaultRan(faults, cr2)
	}
	if n, stackSet, ss, sp := g.FastHypercalls(); n != 0 {
		v.FastHypercallsRan(n, stackSet, ss, sp)
		if at, ok := g.FastSingleshot(); ok {
			v.FastSingleshotRan(at)
		}
	}
	if n, dr6, rip := rt.HostDebugTraps(); n != b.hostDebugTraps {
		// As Xen's do_debug for a #DB in hypervisor context.
		b.hostDebugTraps = n
		log.Guestf(int(v.Domain().ID()), v.ID(), klog.Warning, "Hit #DB in Xen context: %04x:%016x, dr6 %x", 0xe008, rip, dr6)
	}
	return exit, err
}

var errXCR0 = errors.New("XCR0 changed, but the metal does not context-switch XSAVE state")

// SetGDT maps the vCPU's GDT frames in the hardware GDT when it runs.
func (*backend) SetGDT(v *hv.VCPU, frames []mm.MFN) {
	addrs := make([]uint64, len(frames))
	for i, f := range frames {
		addrs[i] = uint64(f.Addr())
	}
	context(v).SetGDT(addrs)
}

// CopyFromGuest and CopyToGuest are hypercall.DirectAccess: copies by the
// CPU's walk of the calling vCPU's loaded tables.
func (*backend) CopyFromGuest(dst []byte, va mm.GuestVA, cr3 mm.MFN) bool {
	return rt.CopyFromGuest(dst, uint64(va), uint64(cr3.Addr()))
}
func (*backend) CopyToGuest(va mm.GuestVA, src []byte, cr3 mm.MFN) bool {
	return rt.CopyToGuest(uint64(va), src, uint64(cr3.Addr()))
}

func (*backend) FlushTLB() { rt.RequestTLBFlush() }

// Counters reports the metal's CR3 writes and IPIs since boot (hv's
// MetalCounters), for the exit report and debug key 'p'.
func (*backend) Counters() []string {
	entry, fast, shoot, deferred, ipis := rt.TLBCounts()
	return []string{fmt.Sprintf("gohv metal: CR3 writes %d (entry %d, fast path %d, shootdown %d), guest copies walked in software for a due flush %d, IPIs taken %d",
		entry+fast+shoot, entry, fast, shoot, deferred, ipis)}
}

// FlushLocalTLB is rt's local flush of the vCPU's context (no IPI).
// Called from v's goroutine, which made the context (context) if v ever
// ran.
func (*backend) FlushLocalTLB(v *hv.VCPU) { context(v).FlushLocal() }

// Kick is rt's kick of the vCPU's context: an IPI to the CPU it is in the
// guest on, or its next entry refused until its events are looked at.
// The context was made when the domain was (startDom0), before anything
// could kick it.
func (*backend) Kick(v *hv.VCPU) bool {
	g, _ := v.BackendState.(*rt.GuestContext)
	return g != nil && g.Kick()
}

// FlushCache runs WBINVD on this CPU, or on every CPU when global.
func (*backend) FlushCache(global bool) {
	if global {
		rt.FlushCaches()
		return
	}
	amd64.Wbinvd()
}
func (*backend) InvalidatePage(va mm.GuestVA) { rt.InvalidatePage(uint64(va)) }

// PowerOff prints what each CPU took (cpuReport), at loglvl=all where the
// heap's frames are and its peak since it settled (heapUseLines: the
// burst the loan's reserve is for), and powers off.
func (metal) PowerOff() {
	cpuReport()
	if heapUseAll {
		log.Lines(heapUseLines())
	}
	rt.PowerOff(0)
}

// cpuReport prints, for each online CPU, the timer interrupts and IPIs
// it took and its switches to a kernel thread since boot: what the metal
// spent on time-slicing (under an emulator each interrupt also wakes the
// host's timer thread); and where the CPU's time went: halted, and the
// threads that ran there (vcpuReport names them). Then, per vCPU, where
// its time went, and the collector's share of the CPUs; then how late
// the guests' one-shot timers fired. A second line per CPU counts what
// brought the runtime's threads to it or to others: its switches from a
// runnable vCPU thread to another thread, the IPIs it sent to bring a
// busy CPU's tick forward, and its futex wakes, netpoller eventfd writes
// and epoll sleeps.
func cpuReport() {
	names := threadNames()
	for i, s := range rt.CPUStats() {
		if !s.Online {
			continue
		}
		l := fmt.Sprintf("gohv CPU%d: %d timer interrupts, %d IPIs, %d thread switches; wake-up IPIs sent %d (%d holding the shim lock), the lock taken after halts in %s; idle %s",
			i, s.Ticks, s.IPIs, s.Runs, s.WakeIPIs, s.LockedWakeIPIs, ms(s.HaltLock), ms(s.Idle))
		var other time.Duration
		var top []int // the other threads, most time first
		for slot, d := range s.Threads {
			if d == 0 {
				continue
			}
			if n, ok := names[slot]; ok {
				l += fmt.Sprintf(", %s %s", n, ms(d))
			} else {
				other += d
				top = append(top, slot)
			}
		}
		sort.Slice(top, func(a, b int) bool { return s.Threads[top[a]] > s.Threads[top[b]] })
		l += fmt.Sprintf(", other threads %s", ms(other))
		for k, slot := range top[:min(len(top), 3)] {
			sep := ", "
			if k == 0 {
				sep = " ("
			}
			l += fmt.Sprintf("%sslot %d %s", sep, slot, ms(s.Threads[slot]))
		}
		if len(top) > 0 {
			l += ")"
		}
		log.Lines([]string{l, fmt.Sprintf("gohv CPU%d runtime: %d vCPU preemptions; tick IPIs sent %d for threads, %d for signals; %d futex wakes, %d eventfd signals, %d epoll waits",
			i, s.VCPUPreempts, s.ThreadResched, s.SignalResched, s.FutexWakes, s.EventfdSignals, s.EpollWaits)})
	}
	log.Lines(vcpuReport())
	if l := sched.ReadOneshotLateness(); l.Fired > 0 {
		log.Lines([]string{fmt.Sprintf("gohv guest one-shot timers: %d fired, %d more than %d us late, mean lateness %d us, max %d us",
			l.Fired, l.Late, sched.LateBound/1000, l.SumNs/l.Fired/1000, l.MaxNs/1000)})
	}
	log.Lines([]string{deviceIRQLine(rt.DeviceIRQStats())})
}

// deviceIRQLine renders the device interrupt counters (rt.DeviceIRQStats)
// for the power-off report: the interrupts, the sets Go took by taker
// (and the waiter goroutine's wake-ups that found nothing left),
// the mean and longest time from a vector to its taking, and from the
// oldest vector of a take to the next guest entry (where the upcall for
// the PIRQs it sent is delivered), in µs.
func deviceIRQLine(s rt.DeviceIRQStat, tscHz uint64) string {
	us := func(ticks, n uint64) float64 {
		if n == 0 || tscHz == 0 {
			return 0
		}
		return float64(ticks) / float64(n) / float64(tscHz) * 1e6
	}
	return fmt.Sprintf("gohv device interrupts: %d; taken by the waiter %d (woken for none %d), at a guest exit %d, by a parked vCPU %d, at an entry %d; "+
		"vector to Go %.1f us mean, %.1f max; to the next guest entry %.1f us mean, %.1f max",
		s.Fired, s.Taken[rt.TakenByWaiter], s.Empty, s.Taken[rt.TakenAtExit], s.Taken[rt.TakenParked], s.Taken[rt.TakenAtEntry],
		us(s.WaitTSC, sum(s.Taken[:])), us(s.MaxTSC, 1), us(s.EntryTSC, s.Entries), us(s.MaxEntryTSC, 1))
}

func sum(v []uint64) uint64 {
	t := uint64(0)
	for _, x := range v {
		t += x
	}
	return t
}

// threadNames names the kernel threads a CPU report lists by name: each
// vCPU's (dXvY), and the runtime's sysmon (the one M that naps, nanosleeps
// of 20 µs or more); the others are the runtime's Ms that run any
// goroutine (the collector's workers, timers, the console, the grower).
func threadNames() map[int]string {
	names := map[int]string{}
	for _, t := range rt.ThreadAccounts() {
		if t.Naps != 0 && t.Bound == 0 {
			names[t.Slot] = "sysmon"
		}
	}
	started.Lock()
	defer started.Unlock()
	for _, v := range started.v {
		if g, ok := v.BackendState.(*rt.GuestContext); ok {
			names[g.Account().Slot] = fmt.Sprintf("d%dv%d", v.Domain().ID(), v.ID())
		}
	}
	return names
}

// vcpuReport says where each vCPU's time went on the metal: in the guest,
// in gohv on its thread (exits, hypercalls, the runtime's scheduling of
// its goroutine), and queued (runnable while the CPUs it may run on ran
// other threads), with its moves between CPUs; and the collector's CPU
// time (the runtime's own estimate) and cycles. An ideal run of two busy
// vCPUs on two CPUs shows each nearly all in the guest, nothing queued,
// no move, and the other threads' time small on both CPUs.
func vcpuReport() []string {
	var lines []string
	started.Lock()
	for _, v := range started.v {
		g, ok := v.BackendState.(*rt.GuestContext)
		if !ok {
			continue
		}
		a := g.Account()
		lines = append(lines, fmt.Sprintf("gohv d%dv%d: in guest %s, in gohv %s, queued for a CPU %s, %d moves between CPUs (thread slot %d)",
			v.Domain().ID(), v.ID(), ms(a.InGuest), ms(max(a.Run-a.InGuest, 0)), ms(a.Ready), a.Migrations, a.Slot))
	}
	started.Unlock()
	m := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}, {Name: "/cpu/classes/gc/mark/dedicated:cpu-seconds"},
		{Name: "/cpu/classes/gc/mark/idle:cpu-seconds"}, {Name: "/cpu/classes/gc/mark/assist:cpu-seconds"},
		{Name: "/cpu/classes/gc/pause:cpu-seconds"}}
	metrics.Read(m)
	sec := func(s metrics.Sample) string {
		if s.Value.Kind() != metrics.KindFloat64 {
			return "?"
		}
		return ms(time.Duration(s.Value.Float64() * float64(time.Second)))
	}
	return append(lines, fmt.Sprintf("gohv collector: %d cycles, CPU: dedicated workers %s, idle workers %s, assists %s, pauses %s (GOMAXPROCS %d)",
		m[0].Value.Uint64(), sec(m[1]), sec(m[2]), sec(m[3]), sec(m[4]), runtime.GOMAXPROCS(0)))
}

// ms is d in milliseconds with one decimal, for the reports.
func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/1e6) }

// Reboot waits five seconds first, as Xen's maybe_reboot does.
func (metal) Reboot() {
	time.Sleep(5 * time.Second)
	rt.Reboot()
}

func (metal) Halt() { rt.Halt() }

// Sample, TSCHz and WallClock are hv's TimeSource.
func (metal) Sample() (uint64, int64)   { return rt.ClockSample() }
func (metal) TSCHz() uint64             { return rt.TSCHz() }
func (metal) WallClock() (int64, int32) { return rt.BootWallClock(), 0 }
func (metal) WriteRaw(p []byte)         { rt.ConsoleRaw(p) }

// hostCPU is the physical CPU for the PV CPUID policy: CPUID, and the
// few MSRs the policy reflects, read at boot (only those this CPU has:
// a RDMSR of a missing one would fault in the hypervisor).
type hostCPU struct{ msrs map[uint32]uint64 }

func newHostCPU() hostCPU {
	h := hostCPU{msrs: map[uint32]uint64{}}
	for _, m := range []uint32{0xC0000080 /* EFER */, 0x1B /* APIC_BASE */, 0x8B /* UCODE_REV */} {
		h.msrs[m] = amd64.Rdmsr(m)
	}
	if _, b, c, d := amd64.Cpuid(0, 0); b == 0x756e6547 && d == 0x49656e69 && c == 0x6c65746e { // GenuineIntel
		h.msrs[0x1A0] = amd64.Rdmsr(0x1A0) // MISC_ENABLE
	}
	return h
}

func (h hostCPU) CPUID(leaf, sub uint32) (a, b, c, d uint32) { return amd64.Cpuid(leaf, sub) }
func (h hostCPU) ReadMSR(idx uint32) (uint64, bool) {
	v, ok := h.msrs[idx]
	return v, ok
}

// dom0IO is the hardware domain's mm.IOPolicy, as Xen's
// dom0_setup_permissions: every machine frame below 2^paddr_bits but
// those hv.Dom0IOMemDenied keeps back (the local APIC, the IO-APIC, the
// MSI window, AMD's HyperTransport window, E820-unusable ranges), and
// I/O port capabilities. The IO-APIC is taken at the PC's usual
// 0xFEC00000 until the MADT is read.
func dom0IO(info *boot.Info) *hv.IOMem {
	_, b, c, d := amd64.Cpuid(0, 0)
	amd := b == 0x68747541 && d == 0x69746e65 && c == 0x444d4163 || // AuthenticAMD
		b == 0x6f677948 && d == 0x6e65476e && c == 0x656e6975 // HygonGenuine
	a1, _, _, _ := amd64.Cpuid(1, 0)
	family := uint(a1>>8) & 0xF
	if family == 0xF {
		family += uint(a1>>20) & 0xFF
	}
	paddr := uint(36)
	if top, _, _, _ := amd64.Cpuid(0x80000000, 0); top >= 0x80000008 {
		a, _, _, _ := amd64.Cpuid(0x80000008, 0)
		paddr = uint(a & 0xFF)
	}
	var lapic uint64
	if base := amd64.Rdmsr(0x1B); base&(1<<11) != 0 { // IA32_APIC_BASE, global enable
		lapic = base &^ 0xFFF & (1<<paddr - 1)
	}
	deny := hv.Dom0IOMemDenied(hv.Dom0IOMemHost{
		LocalAPIC: lapic, IOAPICs: []uint64{0xFEC00000}, AMD: amd, Family: family,
		PaddrBits: paddr, E820: hostMemoryMap(info),
	})
	return hv.NewIOMem(1<<(paddr-mm.PageShift), deny, true)
}

// ports performs physical port I/O for hv (ioport.Metal).
type ports struct{}

func (ports) In(port uint16, size int) uint32 {
	switch size {
	case 1:
		return uint32(amd64.Inb(port))
	case 2:
		return uint32(amd64.Inw(port))
	}
	return amd64.Inl(port)
}

func (ports) Out(port uint16, size int, v uint32) {
	switch size {
	case 1:
		amd64.Outb(port, uint8(v))
	case 2:
		amd64.Outw(port, uint16(v))
	default:
		amd64.Outl(port, v)
	}
}

// deviceMemory is pci.DeviceMemory for the MSI-X tables gohv writes:
// rt's direct-map accessors, refused for anything the host memory map
// lists but reserved ranges (RAM, ACPI tables and NVS are no device's
// BAR) and for the IO-APIC, local APIC and MSI window [0xFEC00000,
// 0xFEF00000), so a BAR dom0 moves there cannot make gohv write them.
type deviceMemory struct{ e820 []hypercall.E820Entry }

func (m deviceMemory) ok(pa uint64) bool {
	if pa >= 0xFEC00000 && pa < 0xFEF00000 {
		return false
	}
	for _, r := range m.e820 {
		if r.Type != hypercall.E820Reserved && pa+4 > r.Addr && pa < r.Addr+r.Size {
			return false
		}
	}
	return true
}

func (m deviceMemory) Read32(pa uint64) (uint32, bool) {
	if !m.ok(pa) {
		return 0, false
	}
	return rt.DeviceRead32(pa)
}

func (m deviceMemory) Write32(pa uint64, v uint32) bool {
	return m.ok(pa) && rt.DeviceWrite32(pa, v)
}

// frameTableStorage takes machine-contiguous frames in the direct map from
// the domain allocator for good and returns them as the frame table's
// storage: the table is the largest thing gohv keeps (mm.FrameEntrySize,
// 12 bytes, a frame), and in the collected heap the collector would let
// the heap grow by as much again before each collection (GOGC) for a
// table that never changes size. nil (the table goes in the heap) when no such run is
// free. Context: main, at boot.
func frameTableStorage(frames *mm.Allocator) []mm.FrameEntry {
	limit := frames.FrameLimit()
	n := (mm.FrameTableBytes(limit) + mm.PageSize - 1) / mm.PageSize
	first, ok := frames.AllocContig(n, mm.Maddr(hw.DirectMapEnd), 1)
	if !ok {
		log.Printf(klog.Warning, "frame table: no %d contiguous frames below %#x: it goes in gohv's heap", n, uint64(hw.DirectMapEnd))
		return nil
	}
	frameTableFrames = n
	return rt.PhysSlice[mm.FrameEntry](uint64(first.Addr()), int(limit))
}

// frameTableFrames counts the frames the frame table took from the domain
// allocator (frameTableStorage): 0 if it is in the heap.
var frameTableFrames uint64

// newMachine builds the frame table, the M2P and its guest mapping, and
// the hv machine over them.
// uart and pmTimer are the console's and the ACPI PM timer's ports (0:
// none), which dom0 is refused as Xen refuses them, with QEMU's
// isa-debug-exit ports gohv powers off through (ioport.Dom0Denied).
// irqs is the interrupt hardware guests' PIRQs go through, bus the
// configuration space it shares with dom0.
func newMachine(frames *mm.Allocator, noReboot bool, cmdline string, uart, pmTimer uint16, hostMap []hypercall.E820Entry, irqs *irqController, bus *pci.Bus) (*hv.Machine, error) {
	mem := &machineMemory{}
	entries := uint64(frames.FrameLimit())
	n := mm.M2PFrames(entries)
	first, ok := frames.AllocContig(n, ^mm.Maddr(0), 1)
	if !ok {
		return nil, fmt.Errorf("no %d contiguous frames for the M2P", n)
	}
	m2p, err := mm.NewM2P(mem, first, entries)
	if err != nil {
		return nil, err
	}
	m2pL4, err := hv.M2PMapping(mem, frames, m2p)
	if err != nil {
		return nil, err
	}
	ft, err := mm.NewFrameTable(mm.FrameTableConfig{
		Mem: mem, Alloc: frames, M2P: m2p, Pages: frameTableStorage(frames),
		CheckSegDescPage: hv.CheckSegDescPage,
		TopLevelReleased: func(l4 mm.MFN) { rt.ReleaseTables(uint64(l4.Addr())) },
		XenL4Slots: func(mm.MFN) (s [mm.XenL4SlotCount]uint64) {
			s = rt.HypervisorL4Slots()
			s[0] = m2pL4
			return s
		},
	})
	if err != nil {
		return nil, err
	}
	// System time is the shim's clock (ns since TSC calibration), the one
	// guests read in vcpu_time_info and give back in set_timer_op, read
	// directly (rt.Uptime: the TSC) rather than through the runtime's
	// vDSO call; the runtime's monotonic clock is the same reading, so
	// the runtime's timers serve it.
	clock := sched.NewFuncClock(func() int64 { return int64(rt.Uptime()) })
	policy := pv.NewPolicy(pv.PolicyConfig{
		// XCR0 0: the metal saves only XMM0-15/MXCSR at an exit and never
		// sets CR4.OSXSAVE, so guests get no XSAVE (XSETBV is #UD).
		Host: newHostCPU(), CR0: amd64.ReadCR0(), CR4: amd64.ReadCR4(), XCR0: 0,
		MachineAddrBits: uint8(bits.Len64(uint64(frames.FrameLimit())) + mm.PageShift),
		TSC:             pv.TSCInfo{KHz: uint32(rt.TSCHz() / 1000), CPUKHz: uint32(rt.TSCHz() / 1000)},
	})
	return hv.NewMachine(hv.Config{
		Policy: policy, Ports: ports{}, PCI: bus, DeniedPorts: ioport.Dom0Denied(pmTimer, uart, true),
		Mem: mem, Alloc: frames, Frames: ft, M2P: m2p, Log: log,
		Console: metal{}, Power: metal{noReboot}, Backend: &backend{irqs: irqs},
		Clock: clock, Timers: clock, Time: metal{}, NoReboot: noReboot,
		// A vCPU's thread that blocks, polls or waits for a CPU sleeps
		// on a futex word in the shim (its CPU halts or runs another),
		// and a wake-up is a futex wake (an IPI), not a hand-off of its
		// locked goroutine between the runtime's threads.
		// The word's sleep also takes device interrupts (vcpuParker).
		NewParker:     func() sched.Parker { return newVCPUParker(irqs) },
		Version:       hypercall.VersionInfo{Commandline: cmdline},
		HostMemoryMap: hostMap,
		IRQ:           irqs,
		StartVCPU:     startVCPU,
		// The vCPU scheduler shares the CPUs online; a vCPU's thread is
		// bound to the CPU its slot names. A vCPU to be preempted is
		// made to leave the guest by an IPI to its CPU (rt.KickCPU).
		CPUs:     rt.OnlineCPUs(),
		Tickle:   rt.KickCPU,
		SetCPU:   setThreadCPU,
		PhysCPUs: physCPUs,
	}), nil
}

// physCPUs are the ids of the CPUs online by number (bringUpCPUs), nil
// without an MADT. Set by main before newMachine.
var physCPUs []hv.PhysCPU

// hostMemoryMap is the boot loader's memory map for
// XENMEM_machine_memory_map (hv sorts it and clips overlaps).
func hostMemoryMap(info *boot.Info) []hypercall.E820Entry {
	m := make([]hypercall.E820Entry, 0, len(info.MemMap))
	for _, r := range info.MemMap {
		m = append(m, hypercall.E820Entry{Addr: r.Base, Size: r.Length, Type: r.Type})
	}
	return m
}
